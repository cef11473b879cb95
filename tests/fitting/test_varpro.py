"""Variable projection (planner/fitting/varpro.py) against Hoffmann's procedure and scipy, and the run
identification / point selection of planner/fitting/runs.py."""
import numpy as np
import pandas as pd
import pytest

from planner.core import laws
from planner.fitting import FitOptions, fit_runs, parametric, runs, varpro
from planner.fitting import uploads as io

LAW = laws.PRESETS["hoffmann2022-unrounded"]


def synthetic(n_points=120, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(np.log(5e7), np.log(5e9), n_points))
    d = np.exp(rng.uniform(np.log(1e9), np.log(3e11), n_points))
    loss = LAW.loss(n, d) * np.exp(rng.normal(0, noise, n_points))
    return np.log(n), np.log(d), np.log(loss)


@pytest.mark.parametrize("seed", [0, 1])
def test_varpro_finds_the_optimum_of_the_scipy_reference(seed):
    x, y, z = synthetic(seed=seed)
    starts = parametric.hoffmann_grid()[np.random.default_rng(seed).choice(4500, 60, replace=False)]
    ref_x, ref_f = parametric.reference_fit(starts, x, y, z)
    theta, f, _ = varpro.fit(x, y, z)
    assert f <= ref_f * (1 + 1e-6)
    assert np.abs(theta - ref_x).max() < 2e-3


def test_bounded_linear_is_the_exact_box_constrained_least_squares():
    from scipy.optimize import lsq_linear

    rng = np.random.default_rng(3)
    for _ in range(20):
        m = rng.normal(size=(30, 3))
        m[:, 0] = 1.0
        target = m @ rng.normal(size=3) + rng.normal(0, 0.5, 30)
        e_max = abs(rng.normal())
        g, r = m.T @ m, m.T @ target
        coef, sse = varpro.bounded_linear(g[None], r[None], float(target @ target), e_max)
        ref = lsq_linear(m, target, bounds=([0, 0, 0], [e_max, np.inf, np.inf]), tol=1e-12)
        assert sse[0] == pytest.approx(2 * ref.cost, rel=1e-6, abs=1e-9)
        assert coef[0] == pytest.approx(ref.x, abs=1e-5)


def test_e_stays_below_the_lowest_loss_where_hoffmann_goes_above(shared_dataset):
    table = io.load_runs([shared_dataset("porian_isoflop_points.csv")],
                         filters={"source_file": "summary_df", "dataset": "rw", "hparams": "tuned"})
    low = min(table.loss)
    bounded = fit_runs(table, FitOptions(solver="varpro", compare=False))
    free = fit_runs(table, FitOptions(solver="hoffmann", compare=False))
    assert bounded.E < low < free.E


def test_overestimate_penalty_keeps_the_law_under_the_points():
    x, y, z = synthetic(noise=0.02)
    plain, _, _ = varpro.fit(x, y, z)
    under, _, _ = varpro.fit(x, y, z, overestimate_penalty=50.0)

    def above(theta):
        return (parametric._State(theta[None], x, y, z, None, parametric.HUBER_DELTA).r[0] > 0).mean()

    assert above(under) < 0.2 < above(plain)


# --- runs.py -------------------------------------------------------------------------------------------


def test_lower_envelope_keeps_each_sizes_best_loss_so_far():
    df = pd.DataFrame({"run": ["a"] * 3 + ["b"] * 3, "params": [1e8] * 6,
                       "tokens": [1e9, 2e9, 3e9, 1.5e9, 2.5e9, 3.5e9], "loss": [4.0, 3.6, 3.5, 3.7, 3.4, 3.45]})
    env = runs.lower_envelope(df)
    assert env["tokens"].tolist() == [1e9, 1.5e9, 2e9, 2.5e9] and env["loss"].tolist() == [4.0, 3.7, 3.6, 3.4]


def test_wsd_cooldown_marker_makes_each_marked_point_a_final_point():
    rows = [("r1", 1e8, s, s * 1e6, 4 - s / 1000, 0) for s in (100, 200, 300, 400)]
    rows += [("r1", 1e8, s, s * 1e6, 3.5 - s / 1000, 1) for s in (250, 450)]  # two cooldown ends
    frame = pd.DataFrame(rows, columns=["run", "params", "step", "tokens", "loss", "cooldown"])
    table = io.load_runs([("wsd.csv", frame.to_csv(index=False).encode())])
    final = runs.final_points(table.frame())
    assert sorted(final["tokens"]) == [2.5e8, 4.5e8]
    assert any("2 marked point(s) (WSD cooldown ends)" in n for n in table.notes)
    unsplit = io.load_runs([("wsd.csv", frame.to_csv(index=False).encode())], split_runs=False)
    assert sorted(runs.final_points(unsplit.frame())["tokens"]) == [2.5e8, 4.5e8]  # the note holds without a split


def test_metric_columns_are_not_taken_for_settings(shared_dataset):
    """The OLMo file's other eval losses (pile_ce, ...) change at every row: only xC and rerun split runs."""
    raw = pd.read_csv(shared_dataset("olmo_ladder_loss_curves.csv"))
    cols = runs.config_columns(raw, ["model"], {"model", "c4_en_ce", "total_tokens", "_step"})
    assert cols == ["xC", "rerun"]


def test_reset_segments_split_where_tokens_restart():
    raw = pd.DataFrame({"run": ["a"] * 9, "tokens": [1, 2, 3, 1, 2, 3, 4, 1, 5]})
    assert runs.reset_segments(raw, raw["run"], "tokens").tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2]
    resumed = pd.DataFrame({"run": ["a"] * 5, "tokens": [10, 20, 30, 20, 40]})  # re-logs from a checkpoint
    seeds = pd.DataFrame({"run": ["a"] * 2, "tokens": [4e9, 4e9]})  # the same run twice
    for frame in (resumed, seeds):
        assert runs.reset_segments(frame, frame["run"], "tokens").max() == 0


def test_runs_stopped_before_their_total_steps_are_named():
    rows = [("a", 1e8, s, 400, s * 1e6, 4 - s / 1000) for s in (100, 200, 300, 400)]
    rows += [("b", 2e8, s, 400, s * 1e6, 3.8 - s / 1000) for s in (100, 200)]  # stopped at step 200 of 400
    frame = pd.DataFrame(rows, columns=["run", "params", "step", "total_steps", "tokens", "loss"])
    table = io.load_runs([("short.csv", frame.to_csv(index=False).encode())])
    assert any("1 run(s) stopped before their total_steps (b)" in n for n in table.notes)
