"""One way for every page to show input the planner cannot honour: one sentence, never a traceback.

Pages catch PlannerError (the planner's own message, written for the user) and pydantic's ValidationError (a
request model refusing a value) and show `error_sentence(err)` with st.error; this module stays Streamlit-free.
"""
from pydantic import ValidationError

from planner.errors import PlannerError, validation_sentence

INPUT_ERRORS = (PlannerError, ValidationError)  # what a page catches around a planner call on its inputs


def error_sentence(err: Exception) -> str:
    """The sentence a page shows: a PlannerError's message as is; a ValidationError's first problem as a
    sentence ("flops, row 1 (got 'abc'): should be a valid number"); anything else, its first line (a plain
    ValueError's message can carry a multi-line dump of the value)."""
    if isinstance(err, ValidationError):  # before PlannerError: both are ValueErrors
        return validation_sentence(err)
    text = str(err).strip()
    if isinstance(err, PlannerError):
        return text
    return text.splitlines()[0] if text else type(err).__name__
