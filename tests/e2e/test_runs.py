"""Runs, Verify and Adapt in a real browser over a corrupt job store: one error naming the file and what
to do, no exception box, and the rest of each page (Verify's design, Adapt's estimates) still there.

This needs its own server: the session's server (conftest.app_url) shares a healthy store with the
other browser tests."""
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.e2e.conftest import REPO, _free_port, screenshot, wait_for_app

pytestmark = pytest.mark.e2e


def _make_home(home):
    """A state directory with one ladder and a job store that then got corrupted."""
    env_before = os.environ.get("SCALEPLAN_HOME")
    os.environ["SCALEPLAN_HOME"] = str(home)
    try:
        from planner.verify import ladder

        ladder.launch_ladder(ladder.design_ladder(ladder.LadderRequest(preset="tiny")))
    finally:
        if env_before is None:
            os.environ.pop("SCALEPLAN_HOME")
        else:
            os.environ["SCALEPLAN_HOME"] = env_before
    (home / "jobs.sqlite").write_bytes(b"this is not a database" * 200)


@pytest.fixture(scope="module")
def broken_url(tmp_path_factory, browser):
    home = tmp_path_factory.mktemp("broken-home")
    _make_home(home)
    port = _free_port()
    log = open(home.parent / "broken-streamlit.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"],
        cwd=REPO, env={**os.environ, "SCALEPLAN_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2)
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, "streamlit did not start"
                time.sleep(0.5)
        warm = browser.new_page()  # the first visit goes to the root (see conftest.app_url)
        warm.goto(url, wait_until="domcontentloaded")
        wait_for_app(warm)
        warm.close()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.mark.parametrize("path, still_there", [("runs", "Runs"), ("verify", "Estimated time"),
                                               ("adapt", "cheapest method that fits")])
def test_a_corrupt_store_is_one_error_and_the_page_still_works(browser, broken_url, path, still_there):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{broken_url}/{path}", wait_until="domcontentloaded")
        wait_for_app(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        error = page.locator('[data-testid="stAlertContentError"]').first.inner_text()
        assert "jobs.sqlite is corrupt" in error and "move it aside" in error
        assert still_there in page.locator('[data-testid="stMain"]').inner_text()
        screenshot(page, f"broken-store-{path}")
    finally:
        page.close()
