"""Fitting scaling laws to uploaded runs: Hoffmann's Approaches 1-3, Kaplan's power laws and the
data-constrained law, with bootstrap intervals and goodness of fit. Entry point: `fit_runs`."""
from planner.fitting.core import fit_runs, select_points, to_law
from planner.fitting.results import (METHODS, AllocationFit, BudgetOptimum, DataConstrainedFit, Diagnostics,
                                     FitOptions, FitResult, Interval, KaplanFit, Optimum, ParametricFit, StartGrid,
                                     parse_target_flops)

__all__ = ["fit_runs", "select_points", "to_law", "METHODS", "AllocationFit", "BudgetOptimum", "DataConstrainedFit",
           "Diagnostics", "FitOptions", "FitResult", "Interval", "KaplanFit", "Optimum", "ParametricFit", "StartGrid",
           "parse_target_flops"]
