"""views.errors: the one sentence every page shows for bad input (PlannerError, ValidationError, other ValueError)."""
import pytest
from pydantic import ValidationError

from planner.errors import PlannerError
from planner.recipe.inference import InferenceDemand
from planner.views.errors import INPUT_ERRORS, error_sentence


def test_a_planner_error_is_shown_as_written():
    assert error_sentence(PlannerError("budget must be positive; got -5")) == "budget must be positive; got -5"


def test_a_validation_error_is_one_sentence_naming_the_field_and_value():
    with pytest.raises(ValidationError) as caught:
        InferenceDemand(tokens=-1)
    sentence = error_sentence(caught.value)
    assert sentence == "tokens (got '-1'): lifetime inference tokens must be between 0 and 1e+20 (got -1)"
    assert isinstance(caught.value, INPUT_ERRORS)


def test_another_value_error_keeps_only_its_first_line():
    assert error_sentence(ValueError("could not convert 'x'\n  0   x\n  1   y")) == "could not convert 'x'"
    assert error_sentence(ValueError()) == "ValueError"  # never an empty message box


def test_an_overflow_is_an_input_problem_with_a_sentence():
    """A fixed size of 1e300 overflowed a power law: OverflowError reached the page as a traceback."""
    with pytest.raises(INPUT_ERRORS) as caught:
        10.0 ** 400
    assert error_sentence(caught.value) == ("a value is too large or too small to compute with; use numbers closer "
                                            "to real training runs")


def test_no_page_error_shows_the_servers_paths():
    sentence = error_sentence(PlannerError("the job store /srv/scaleplan/state/jobs.sqlite is corrupt"))
    assert sentence == "the job store jobs.sqlite is corrupt"
