"""Real-browser tests: start the app with `streamlit run` on a free port and drive Debian's Chromium
through Playwright. Use the `page_at` fixture: `page = page_at("fit")` opens /fit and waits for the
app to finish rendering."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
SHOTS = REPO / "shots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory, browser):
    port = _free_port()
    env = os.environ.copy()
    home = tmp_path_factory.mktemp("e2e-home")
    env["SCALEPLAN_HOME"] = str(home)
    # The server's output goes to a file: a pipe nobody reads fills up and blocks the server.
    # No file watcher: the tests do not edit the code, and its events only add noise and load.
    log = open(home / "streamlit.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((home / "streamlit.log").read_text())
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("streamlit did not start within 90 s")
    # Streamlit runs the very first script run of a fresh server in its legacy `pages/`-folder mode
    # (app.py's st.navigation is not known yet), so a deep link as first request would skip app.py.
    # Load the root once, as a user's first visit would.
    warm = browser.new_page()
    warm.goto(url, wait_until="domcontentloaded")
    wait_for_app(warm)
    warm.close()
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: `make test` installs Debian's chromium")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def wait_for_app(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has run the script to the end (the app root reports `notRunning`).

    After an input change the rerun may not have started yet when this is called, and the old `notRunning`
    would pass at once: give the rerun a moment to start (a rerun that already ended is fine too)."""
    try:
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="running"]', timeout=700)
    except PlaywrightTimeout:
        pass  # it already finished, or nothing was rerun
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms)
    page.wait_for_timeout(300)


@pytest.fixture
def page_at(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})

    def open_page(path: str = ""):
        page = context.new_page()
        page.goto(f"{app_url}/{path}", wait_until="domcontentloaded")
        wait_for_app(page)
        return page

    yield open_page
    context.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under shots/ (git-ignored) to look at by eye."""
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    # Streamlit scrolls inside its own main container, so a "full page" shot would stop at the
    # viewport: grow the viewport to the content's height for the shot, then restore it.
    size = page.viewport_size
    height = page.evaluate("() => (document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 8000)})
    page.wait_for_timeout(500)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path
