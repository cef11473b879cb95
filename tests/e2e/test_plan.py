"""Plan page in a real browser: it loads with a plan, and changing the budget changes the optimum."""
import pytest

from tests.e2e.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.e2e


def metric_value(page, label: str) -> str:
    card = page.locator('[data-testid="stMetric"]', has_text=label).first
    return card.locator('[data-testid="stMetricValue"]').inner_text()


def test_plan_page_updates_when_the_budget_changes(page_at):
    page = page_at("")
    assert page.get_by_text("Compute-optimal run").count() >= 1
    before = metric_value(page, "Parameters N*")
    screenshot(page, "plan")

    page.get_by_text("FLOPs", exact=True).first.click()
    wait_for_app(page)
    box = page.get_by_label("Training compute (FLOPs)", exact=True)
    box.fill("1e20")
    box.press("Enter")
    wait_for_app(page)
    after = metric_value(page, "Parameters N*")
    assert after != before
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 1
    assert page.locator('[data-testid="stException"]').count() == 0

    box.fill("-5")
    box.press("Enter")
    wait_for_app(page)
    assert page.locator('[data-testid="stAlert"]', has_text="positive").count() == 1
    screenshot(page, "plan-error")
