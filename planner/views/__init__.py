"""plotly figure builders, one module per page: pure functions of result models (testable without a browser)."""
