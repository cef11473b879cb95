"""How fast each page redraws after an input change, measured in a real browser (Debian's Chromium).

For every page: change one number input (or, on a page without one, reload), and time from the change to the
app's script state returning to `notRunning` (that is when the user sees the new page). Median of N tries.
Two ways to change an input, both reported:
- "back and forth": the value alternates between two numbers (after the warm-up both were seen: a page that
  caches on its inputs redraws from its caches, as when a user flips a setting and back);
- "new value": every try is a number not seen before (caches keyed on that input miss: the honest worst case).

    .venv/bin/python benchmarks/bench_pages.py [--repo PATH] [--tries 7] [--pages '' models fit ...]

--repo lets one run measure another checkout (e.g. a worktree of an older commit) for before/after figures.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
# page path -> label of the number input to step (None: time a reload instead)
PAGES = {"": "GPUs", "models": "GPUs", "fit": "Seed", "verify": None, "runs": None, "adapt": "Epochs"}
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# Resolves with performance.now() when the script state goes running -> notRunning after it is armed.
ARM = """() => { window.__done = new Promise(resolve => {
  let seenRunning = false;
  const app = document.querySelector('[data-testid="stApp"]');
  new MutationObserver(records => {
    // a fast rerun can go running -> notRunning before this callback runs: the records' old values show it
    if (records.some(r => r.oldValue === 'running')) seenRunning = true;
    const s = app.getAttribute('data-test-script-state');
    if (s === 'running') seenRunning = true;
    if (seenRunning && s === 'notRunning') resolve(performance.now());
  }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state'], attributeOldValue: true});
}); return performance.now(); }"""
# The end of a rerun, or null after 60 s (no rerun seen: reported as a miss, never a hang).
WAIT = "() => Promise.race([window.__done, new Promise(r => setTimeout(() => r(null), 60000))])"


def _serve(repo: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, SCALEPLAN_HOME=tempfile.mkdtemp(prefix="bench-pages-"))
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
                            cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(180):
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("streamlit did not start")


def _time_change(page, label: str | None, step: int, fresh: bool = False) -> float:
    start = page.evaluate(ARM)
    if label is None:
        t0 = time.perf_counter()
        page.reload(wait_until="domcontentloaded")
        page.wait_for_selector(IDLE, timeout=60_000)
        return (time.perf_counter() - t0) * 1000
    box = page.get_by_label(label, exact=True).first
    value = float(box.input_value().replace(",", ""))
    box.fill(f"{value + (1 if fresh or step % 2 == 0 else -1):g}")
    start = page.evaluate("() => performance.now()")
    box.press("Enter")
    end = page.evaluate(WAIT)
    return float("nan") if end is None else end - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--tries", type=int, default=7)
    ap.add_argument("--pages", nargs="*", default=list(PAGES), help="page paths to time ('' is the Plan page)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    proc, url = _serve(args.repo)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector(IDLE, timeout=90_000)
            print(f"{'page':10s} {'action':36s} {'median ms':>10s} {'min':>7s} {'max':>7s}")
            for path, label in ((p, PAGES[p]) for p in args.pages):
                page.goto(f"{url}/{path}", wait_until="domcontentloaded")
                page.wait_for_selector(IDLE, timeout=90_000)
                page.wait_for_timeout(500)
                _time_change(page, label, 0)  # warm-up: first run fills caches
                modes = [("back and forth", False), ("new value", True)] if label else [("", False)]
                for mode, fresh in modes:
                    tries = [_time_change(page, label, i + 1, fresh) for i in range(args.tries)]
                    times = [t for t in tries if t == t] or [float("nan")]  # NaN: no rerun seen in 60 s
                    action = f"change '{label}', {mode}" if label else "reload"
                    print(f"{path or 'plan':10s} {action:36s} {statistics.median(times):10.0f} "
                          f"{min(times):7.0f} {max(times):7.0f}"
                          + (f"  ({len(tries) - len(times)} tries saw no rerun)" if len(times) < len(tries) else ""),
                          flush=True)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


if __name__ == "__main__":
    main()
