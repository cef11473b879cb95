"""Fit page in a real browser: content from an upload is data, not markup. Markdown links and images, HTML
tags and bare URLs in run names, cells and the file name render as literal text: nothing becomes a link
or an image the browser fetches (also inside the plotly charts)."""
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import wait_for_app

pytestmark = pytest.mark.e2e
NAMES = ["[click](http://e.example/a)", "![img](http://e.example/b.png)", "<img src=http://e.example/c.png>",
         "www.e.example/d <a href='http://e.example/e'>x</a>"]


def test_markup_in_an_upload_is_shown_as_text(page_at, tmp_path):
    rows = [f'"{n} {k}",{p},{p * k},{1.7 + 400 / p**0.34 + 410 / (p * k)**0.28:.5f}'  # 8 runs: Approach 3 fits
            for n, p in zip(NAMES, [1e8, 2e8, 4e8, 8e8]) for k in (10, 40)]
    upload = tmp_path / "[evil](http:__e.example_f).csv"
    upload.write_text("run,params,tokens,loss\n" + "\n".join(rows) + "\nx,1e8,3e9,[bad](http://e.example/g)\n")
    page = page_at("fit")
    page.locator('input[type="file"]').first.set_input_files(str(upload))
    page.wait_for_timeout(500)
    wait_for_app(page)
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="dropped 1 row")
    expect(warning).to_have_count(1, timeout=60_000)
    assert "[bad](http://e.example/g)" in warning.inner_text().replace("\u2060", "")  # the cell, literally
    page.get_by_text("points / runs").first.wait_for()
    page.mouse.move(400, 600)  # hover text and legends are drawn by now
    links = page.locator('a[href*="e.example"]')
    where = [links.nth(i).evaluate("e => e.outerHTML + ' IN ' + (e.closest('[data-testid]') || {}).outerHTML?.slice(0, 300)")
             for i in range(links.count())]
    assert not where, where
    assert page.locator('img[src*="e.example"]').count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0
