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
    assert sentence == "tokens (got '-1'): should be greater than or equal to 0"
    assert isinstance(caught.value, INPUT_ERRORS)


def test_another_value_error_keeps_only_its_first_line():
    assert error_sentence(ValueError("could not convert 'x'\n  0   x\n  1   y")) == "could not convert 'x'"
    assert error_sentence(ValueError()) == "ValueError"  # never an empty message box
