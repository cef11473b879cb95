"""Plan page's parallel-layout section in a real browser: layout, predicted MFU, the time chart, MFU auto."""
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.e2e


def metric_value(page, label: str) -> str:
    card = page.locator('[data-testid="stMetric"]', has_text=label).first
    return card.locator('[data-testid="stMetricValue"]').inner_text()


def test_layout_section_and_predicted_mfu(page_at):
    page = page_at("")
    section = page.get_by_text("Parallel layout and throughput", exact=True)
    section.scroll_into_view_if_needed()
    assert section.count() == 1
    assert metric_value(page, "Predicted MFU").endswith("%")
    chart = page.locator('[data-testid="stPlotlyChart"]', has_text="Where a training step")
    expect(chart.first).to_be_attached(timeout=30_000)  # plotly draws after the page settles
    screenshot(page, "plan-layout")

    budget = page.locator('[data-testid="stAlert"]', has_text="Budget:").first
    assert "at 40% MFU" in budget.inner_text()
    box = page.locator('[data-testid="stCheckbox"]', has_text="Use predicted MFU").first
    box.scroll_into_view_if_needed()
    box.locator("label").click()
    wait_for_app(page)
    expect(page.locator('[data-testid="stAlert"]', has_text="Budget:").first).not_to_contain_text(
        "at 40% MFU", timeout=60_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "plan-auto-mfu")
