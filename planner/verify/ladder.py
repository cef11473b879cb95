"""The verification ladder's public names in one import (the Verify page and the tests use it): the design
(grid, wsd, design), analysis and control modules behind it are where each name is defined."""
from planner.verify.analysis import (HoldoutCheck, LadderFit, LadderReport, LadderRunStatus,  # noqa: F401
                                     analyze_ladder, estimate_eta, fit_ladder, ladder_curves, ladder_status,
                                     predict_holdout, published_exponents)
from planner.verify.control import cancel_ladder, keep_workers, launch_ladder, retry_failed, wait_for_ladder  # noqa: F401
from planner.verify.design import (DESIGNS, LadderDesign, design_ladder, list_ladders, load_design,  # noqa: F401
                                   save_design)
from planner.verify.grid import (ASSUMED_MFU, DEFAULT_ACCELERATOR, PRESETS, LadderPreset,  # noqa: F401
                                 LadderRequest, LadderRun, measured_throughput)
