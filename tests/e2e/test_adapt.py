"""The Adapt page in a real browser: estimates render with charts, a bad rank shows a clear message."""
import pytest

from tests.e2e.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.e2e


def test_adapt_page_estimates_and_bad_input(page_at):
    page = page_at("adapt")
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Adaptation methods" in page.locator("h1").first.inner_text()
    assert page.get_by_text("cheapest method that fits").count() == 1
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=30_000)  # plotly loads lazily
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 2
    # each estimate's expected error, from the validation against published runs
    assert page.get_by_text("Memory estimates vs published peaks").count() == 1
    # issue 8: base weights are picked among finished runs, never typed as a path
    assert page.get_by_text("Base weights (a finished verification run)").count() == 1
    assert page.get_by_label("Base checkpoint (optional)").count() == 0
    screenshot(page, "adapt-estimate")

    rank = page.get_by_label("LoRA rank", exact=True)
    rank.fill("0")
    rank.press("Enter")
    wait_for_app(page)
    message = page.get_by_text("LoRA, QLoRA (4-bit base): LoRA rank must be at least 1")
    message.first.wait_for(timeout=30_000)
    assert message.count() == 1
    assert page.locator('[data-testid="stException"]').count() == 0
    # the methods without a rank keep their table and charts
    assert page.locator('[data-testid="stDataFrame"]').count() == 1
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 2
    screenshot(page, "adapt-bad-rank")

    rank.fill("16")
    rank.press("Enter")
    wait_for_app(page)
    assert page.get_by_text("cheapest method that fits").count() == 1


def test_when_nothing_fits_the_table_stays(page_at):
    page = page_at("adapt")
    for label, value in (("Micro-batch", "100000"), ("Sequence length", "1000000")):
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Enter")
        wait_for_app(page)
    assert page.get_by_text("no trained method fits on one H100-SXM").count() == 1
    assert page.locator('[data-testid="stAlertContentWarning"]').count() == 1  # the advice, as a warning
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0    # and no error
    assert page.locator('[data-testid="stDataFrame"]').count() == 1
    page.wait_for_selector('[data-testid="stDataFrame"] canvas', timeout=30_000)
    screenshot(page, "adapt-nothing-fits")


@pytest.mark.slow
def test_launch_a_measured_comparison_from_the_page(page_at):
    """The form queues an "adapt" job, a worker process runs it, and the page shows its plots."""
    page = page_at("adapt")
    for label, value in (("Steps per method", "2"), ("Base pretraining steps", "0")):
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Tab")
    page.get_by_role("button", name="Run comparison").click()
    page.get_by_text("Eval loss per method").wait_for(timeout=240_000)
    page.wait_for_timeout(1500)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("QLoRA (4-bit base): skipped: needs CUDA + bitsandbytes").count() == 1
    assert page.get_by_text("Estimator vs measurement").count() == 1
    screenshot(page, "adapt-measured")
