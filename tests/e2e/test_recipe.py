"""The run recipe in a real browser: the Plan page's serving / over-training / hyperparameter section and
the Models page's check-a-figure box."""
import pytest

from tests.e2e.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.e2e


def metric_value(page, label: str) -> str:
    card = page.locator('[data-testid="stMetric"]', has_text=label).first
    return card.locator('[data-testid="stMetricValue"]').inner_text()


def test_plan_page_serving_demand_and_overtraining(page_at):
    page = page_at("")
    page.get_by_role("heading", name="Beyond the compute-optimal run").scroll_into_view_if_needed()
    assert page.get_by_text("deepseek2024: peak LR", exact=False).count() >= 1
    low = float(metric_value(page, "Serving-aware tokens/param"))
    box = page.get_by_label("Lifetime inference tokens", exact=True)
    box.fill("1e15")
    box.press("Enter")
    page.wait_for_timeout(1500)  # let the rerun start before waiting for it to end
    wait_for_app(page)
    assert float(metric_value(page, "Serving-aware tokens/param")) > low
    page.get_by_text("Cost of reaching loss", exact=False).first.wait_for(timeout=30_000)  # the serving chart
    screenshot(page, "plan-serving")

    page.get_by_role("tab", name="Over-training").click()
    page.wait_for_timeout(500)
    assert page.get_by_text("loss penalty", exact=False).first.is_visible()
    page.get_by_role("tab", name="Learning rate & batch").click()
    page.wait_for_timeout(500)
    assert page.get_by_text("steplaw2025", exact=True).first.is_visible()

    page.get_by_role("tab", name="Serving demand").click()
    box.fill("lots")
    box.press("Enter")
    page.wait_for_timeout(1500)  # let the rerun start before waiting for it to end
    wait_for_app(page)
    assert page.locator('[data-testid="stAlert"]', has_text="not a positive number").count() == 1
    assert page.locator('[data-testid="stException"]').count() == 0


def test_models_page_checks_a_quoted_figure(page_at):
    page = page_at("")
    page.get_by_role("link", name="Models & GPUs").click()
    wait_for_app(page)
    page.get_by_role("heading", name="Check a quoted figure").scroll_into_view_if_needed()
    assert page.locator('[data-testid="stAlert"]', has_text="computed figure").count() == 1
    box = page.get_by_label("Quoted compute", exact=True)
    box.fill("9722 PF-days")
    box.press("Enter")
    page.wait_for_timeout(1500)
    wait_for_app(page)
    assert page.locator('[data-testid="stAlert"]', has_text="agrees with 6ND").count() == 1
    assert page.get_by_text("427,616,513").count() >= 1
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "models-claims")
