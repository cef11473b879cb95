"""One way for every page to show input the planner cannot honour: one sentence, never a traceback.

Pages catch PlannerError (the planner's own message, written for the user) and pydantic's ValidationError (a
request model refusing a value) and show `error_sentence(err)` with st.error; this module stays Streamlit-free.
"""
from pydantic import ValidationError

from planner.errors import PlannerError, validation_sentence
from planner.views.paths import file_names_only

# What a page catches around a planner call on its inputs. ArithmeticError: a value past what floats hold (an
# amount of 1e300 overflows a power law) is the input's problem too, and gets a sentence, not a traceback.
INPUT_ERRORS = (PlannerError, ValidationError, ArithmeticError)


def error_sentence(err: Exception) -> str:
    """`_sentence(err)` with the server's absolute paths cut to file names (planner.views.paths): every page's
    errors, not only the Runs page's (a corrupt job store named its full path on the Adapt page)."""
    return file_names_only(_sentence(err))


def _sentence(err: Exception) -> str:
    """The sentence a page shows: a PlannerError's message as is; a ValidationError's first problem as a
    sentence ("flops, row 1 (got 'abc'): should be a valid number"); anything else, its first line (a plain
    ValueError's message can carry a multi-line dump of the value)."""
    if isinstance(err, ValidationError):  # before PlannerError: both are ValueErrors
        return validation_sentence(err)
    if isinstance(err, ArithmeticError):
        return "a value is too large or too small to compute with; use numbers closer to real training runs"
    text = str(err).strip()
    if isinstance(err, PlannerError):
        return text
    return text.splitlines()[0] if text else type(err).__name__
