"""One error type for input the planner cannot honour; pages and CLI show its message as is."""
from pydantic import ValidationError


class PlannerError(ValueError):
    """Bad or impossible input. The message is written for the user: what is wrong and what to do."""


def validation_sentence(err: ValidationError) -> str:
    """A pydantic error as a sentence: "flops, row 1 (got 'abc'): should be a valid number, ..." rather than
    "flops.0: Input should be a valid number, ..." (pages and CLI show the first problem)."""
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"]]
    row = next((int(p) + 1 for p in loc[1:] if p.isdigit()), None)
    where = (loc[0] if loc else "input") + (f", row {row}" if row else "")
    got = first.get("input")
    shown = f" (got {str(got)[:40]!r})" if got is not None and not isinstance(got, (dict, list)) else ""
    msg = first["msg"].replace("Input should be", "should be").replace("Value error, ", "")
    keep = msg[1:2].isupper()  # "GPT-2 blocks ..." keeps its capital; "Should be ..." loses it
    return f"{where}{shown}: {msg if keep else msg[:1].lower() + msg[1:]}"
