"""Models & GPUs page in a real browser: it loads, and choosing another accelerator reprices the runs."""
import re

import pytest

from tests.e2e.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.e2e


def _cost_caption(page) -> str:
    return page.get_by_text(re.compile(r"^Cost columns:")).inner_text()


def _wait_for_tables_and_charts(page) -> None:
    # st.dataframe and plotly load their JavaScript lazily, after the script run has finished.
    page.wait_for_selector('[data-testid="stDataFrame"] canvas', timeout=30_000)
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=30_000)
    page.wait_for_timeout(500)


def test_models_page_loads_and_accelerator_changes_the_cost(page_at):
    page = page_at("")  # arrive through the navigation, as a user does
    page.get_by_role("link", name="Models & GPUs").click()
    wait_for_app(page)
    _wait_for_tables_and_charts(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_role("heading", name="Models & GPUs").is_visible()
    assert page.get_by_role("heading", name="Accelerators").is_visible()
    assert page.locator('[data-testid="stDataFrame"]').count() >= 2
    assert page.locator(".js-plotly-plot").count() == 2
    assert "H100-SXM" in _cost_caption(page) and "$2.99" in _cost_caption(page)
    screenshot(page, "models-h100")

    page.get_by_role("combobox", name="Accelerator").click()
    page.get_by_role("option", name="A100-80GB").click()
    wait_for_app(page)
    _wait_for_tables_and_charts(page)
    assert "A100-80GB" in _cost_caption(page) and "$1.79" in _cost_caption(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "models-a100")


def test_mfu_of_zero_does_not_blank_the_page(page_at):
    page = page_at("models")
    _wait_for_tables_and_charts(page)
    mfu = page.get_by_label("MFU", exact=True)
    mfu.fill("0")
    mfu.press("Enter")
    wait_for_app(page)
    _wait_for_tables_and_charts(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    # the model table, both charts and the accelerator table stay; the costs stay at a valid MFU
    assert page.locator('[data-testid="stDataFrame"]').count() >= 2
    assert page.locator(".js-plotly-plot").count() == 2
    assert page.get_by_role("heading", name="Accelerators").is_visible()
    assert re.search(r"at \d+% MFU", _cost_caption(page))
    screenshot(page, "models-mfu-zero")

