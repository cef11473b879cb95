"""Fit page in a real browser: upload runs, fit, see the table and charts; a broken file gives a message."""
import json

import pytest
from playwright.sync_api import expect

from planner.core.settings import DATA_TABLES
from tests.e2e.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.e2e


def _upload(page, path):
    page.locator('input[type="file"]').first.set_input_files(str(path))
    page.wait_for_timeout(500)
    wait_for_app(page)


def test_upload_fit_and_change_the_budget(page_at):
    page = page_at("fit")
    _upload(page, DATA_TABLES / "sample_runs.csv")
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("sample_runs.csv").count() >= 1
    assert page.get_by_text("RMSE (log loss)").count() == 1
    assert page.locator(".js-plotly-plot").count() >= 1
    target = page.get_by_label("Target budget (FLOPs)", exact=True)
    target.fill("1e23")
    target.press("Enter")
    wait_for_app(page)
    expect(page.get_by_text("At 1e+23 FLOPs")).to_have_count(1, timeout=30_000)
    screenshot(page, "fit-uploaded")

    page.get_by_role("combobox", name="Method").click()
    page.get_by_role("option", name="Approach 2: IsoFLOP parabolas, N_opt ∝ C^a").click()
    wait_for_app(page)
    expect(page.get_by_text("Held-out check: refitted without the largest budget")).to_have_count(1, timeout=30_000)
    expect(page.get_by_label("Law name", exact=True)).to_have_value("my-approach2")  # the name follows the method
    page.get_by_role("tab", name="IsoFLOP parabolas").click()
    page.wait_for_timeout(500)
    expect(page.get_by_text("IsoFLOP parabolas, one per budget")).to_have_count(1)
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "fit-approach2-isoflop")


def test_broken_file_gives_a_message_and_the_page_keeps_working(page_at, tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text("run;size\na;1\n")
    page = page_at("fit")
    _upload(page, broken)
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="lacks column(s)")
    expect(alert).to_have_count(1, timeout=30_000)
    assert "rename them or map them" in alert.inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "fit-broken-file")
    page.get_by_label("Target budget (FLOPs)", exact=True).fill("2e21")
    page.get_by_label("Target budget (FLOPs)", exact=True).press("Enter")
    wait_for_app(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_label("Target budget (FLOPs)", exact=True).input_value() == "2e21"


def test_semicolon_file_with_a_bad_cell(page_at, tmp_path):
    """QA: the delimiter note appeared twice, and one bad cell dropped every row."""
    lines = (DATA_TABLES / "sample_runs.csv").read_text().replace(",", ";").splitlines()
    cells = lines[5].split(";")
    cells[1] = "oops"  # params of data row 5
    lines[5] = ";".join(cells)
    upload = tmp_path / "semicolon_runs.csv"
    upload.write_text("\n".join(lines) + "\n")
    page = page_at("fit")
    _upload(page, upload)
    expect(page.get_by_text("RMSE (log loss)")).to_have_count(1, timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    expect(page.get_by_text("fields separated by ';'")).to_have_count(1, timeout=30_000)
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="dropped 1 row(s) (5)")
    expect(warning).to_have_count(1)
    assert "params is not a number ('oops')" in warning.inner_text()
    screenshot(page, "fit-semicolon-bad-cell")


def test_merged_log_is_split_and_the_trust_panel_explains(page_at, tmp_path):
    """Issue 10: one `model` column holding two learning-rate sweeps per model is split, and the trust panel
    (verdict, reasons, hover explanations) and the method comparison sit with the numbers."""
    rows = ["model,params,lr,tokens,loss"]
    for n in (5e7, 1e8, 2e8, 4e8, 8e8, 1.6e9):
        for lr, multiple, off in ((1e-3, 20, 1.02), (3e-4, 60, 1.0)):
            for f in (0.25, 0.5, 0.75, 1.0):
                d = f * multiple * n
                rows.append(f"m{n:.0e},{n},{lr},{d},{off * (1.69 + 406.4 / n**0.34 + 410.7 / d**0.28):.5f}")
    merged = tmp_path / "merged_sweeps.csv"
    merged.write_text("\n".join(rows) + "\n")
    page = page_at("fit")
    _upload(page, merged)
    expect(page.get_by_text("lr change inside them", exact=False)).to_have_count(1, timeout=30_000)
    expect(page.get_by_text("Trust:", exact=False)).to_have_count(1)
    expect(page.get_by_text("Method comparison", exact=False)).to_have_count(1)
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "fit-merged-split")

    page.get_by_text("all", exact=True).first.click()  # points: every point, intermediate checkpoints included
    wait_for_app(page)
    expect(page.get_by_text("intermediate checkpoints are fitted as if they were final points", exact=False)
           ).to_have_count(1, timeout=30_000)
    panel = page.locator(".st-key-trust")
    assert "caution" in panel.inner_text()
    assert panel.locator('[data-testid="stTooltipIcon"]').count() >= 1  # the explanation on hover
    screenshot(page, "fit-trust-caution")


def test_downloads_are_built_on_click_and_formula_safe(page_at, tmp_path):
    """The chart-data and result downloads, generated when clicked, arrive in a real browser; a run name that a
    spreadsheet would run as a formula arrives quoted."""
    rows = ["run,params,tokens,loss"] + [f"=cmd{i},{n},{20 * n},{1.69 + 406.4 / n**0.34 + 410.7 / (20 * n)**0.28:.5f}"
                                         for i, n in enumerate((5e7, 1e8, 2e8, 4e8, 8e8, 1.6e9))]
    upload = tmp_path / "formula_names.csv"
    upload.write_text("\n".join(rows) + "\n")
    page = page_at("fit")
    _upload(page, upload)
    expect(page.get_by_text("RMSE (log loss)")).to_have_count(1, timeout=30_000)
    with page.expect_download(timeout=30_000) as info:
        page.get_by_role("button", name="Chart data: runs (CSV)").click()
    lines = open(info.value.path(), encoding="utf-8").read().splitlines()
    assert lines[0].startswith("run,") and len(lines) == 7
    assert all(line.startswith("'=cmd") for line in lines[1:])  # OWASP: a leading quote, never a formula
    wait_for_app(page)  # a download must not start a rerun; if one did, let it end before the next click
    with page.expect_download(timeout=30_000) as info:
        page.get_by_role("button", name="Download full result (JSON)").click()
    result = json.loads(open(info.value.path(), encoding="utf-8").read())
    assert result["method"] == "approach3" and result["n_runs"] == 6
    assert page.locator('[data-testid="stException"]').count() == 0
