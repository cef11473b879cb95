"""One error type for input the planner cannot honour; pages and CLI show its message as is."""


class PlannerError(ValueError):
    """Bad or impossible input. The message is written for the user: what is wrong and what to do."""
