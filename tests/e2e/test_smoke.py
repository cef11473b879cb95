"""The app starts and every page in the navigation loads in a real browser without an exception."""
import pytest

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("path", ["", "models", "fit", "verify", "runs", "adapt"])
def test_page_loads_without_exception(page_at, path):
    page = page_at(path)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator("h1").count() >= 1
    screenshot(page, f"smoke-{path or 'plan'}")
