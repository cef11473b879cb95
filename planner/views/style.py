"""One look for every figure: the palette and the common layout. Views import these instead of each
keeping its own copy, so a change of style is one edit."""
from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go

# Colour-blind safe (Paul Tol's "Safe" scheme as shipped with plotly); wide charts cycle through it.
PALETTE = px.colors.qualitative.Safe
WIDE_PALETTE = px.colors.qualitative.Dark24  # for charts with more series than PALETTE has colours
MUTED = "lightgrey"  # points or runs that were not used


def colour(i: int) -> str:
    """The i-th series colour, cycling."""
    return PALETTE[i % len(PALETTE)]


def layout(fig: go.Figure, title: str, x: str | None = None, y: str | None = None, *, height: int = 430,
           log_x: bool = False, log_y: bool = False) -> go.Figure:
    """Title, axis titles, the white template and margins that leave room for the title."""
    fig.update_layout(title=title, template="plotly_white", height=height,
                      legend=dict(font=dict(size=10)), margin=dict(t=50, l=60, r=20, b=50))
    if x is not None:
        fig.update_xaxes(title=x)
    if y is not None:
        fig.update_yaxes(title=y)
    if log_x:
        fig.update_xaxes(type="log")
    if log_y:
        fig.update_yaxes(type="log")
    return fig
