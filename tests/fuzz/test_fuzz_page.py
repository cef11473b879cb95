"""Fuzz: a representative 20 adversarial uploads through the Fit page (AppTest). No exception ever; an error
or a fit; upload content never renders as markup (no live link, image or HTML from a cell or run name)."""
import os
import re

import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from tests.fuzz.cases import CASES, PAGE_CASES

PAGE = str(REPO / "pages" / "fit.py")
RESULTS = []
# Markdown that would be live if it reached an element unescaped: a link or image, an HTML tag, a directive.
LIVE_MARKUP = re.compile(r"(?<!\\)\]\(|(?<!\\)<[a-z/]|(?<!\\):red\[|(?<!\\)\$x")


class Upload:
    """What st.file_uploader returns: a name and the bytes."""

    def __init__(self, name: str, data: bytes):
        self.name, self._data, self.size = name, data, len(data)

    def getvalue(self) -> bytes:
        return self._data


def _markdown_texts(at) -> list[str]:
    texts = [e.value for kind in ("error", "warning", "caption", "info", "success") for e in getattr(at, kind)]
    texts += [e.label for e in at.expander] + [e.label for e in at.selectbox]
    return texts


@pytest.mark.parametrize("case", PAGE_CASES)
def test_fit_page_survives_upload(case, monkeypatch):
    name, build = CASES[case]
    data = build()
    real = streamlit.file_uploader

    def fake_uploader(label, *args, key=None, **kwargs):
        if key == "sizes":
            return None
        real(label, *args, key=key, **kwargs)  # keep the widget on the page
        return [Upload(name, data)]

    monkeypatch.setattr(streamlit, "file_uploader", fake_uploader)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["method"] = "kaplan"  # fast fit; the upload path is the same for every method
    at.run()
    assert not at.exception, at.exception
    fitted = any(m.label == "points / runs" for m in at.metric)
    assert fitted or at.error, "neither a fit nor an error"
    live = [t for t in _markdown_texts(at) if LIVE_MARKUP.search(t)]
    assert not live, live
    RESULTS.append((case, "fit" if fitted else "error", len(at.warning)))


def test_page_figures_are_recorded():
    fits = sum(1 for _, kind, _ in RESULTS if kind == "fit")
    line = (f"{len(RESULTS)} uploads through the Fit page: {len(RESULTS) - fits} clean errors, {fits} fits "
            f"({sum(1 for *_, w in RESULTS if w)} with dropped-row warnings), 0 exceptions")
    print("\nUpload fuzz (page):", line)
    if os.environ.get("FUZZ_FIGURES"):
        with open(os.environ["FUZZ_FIGURES"], "a") as f:
            f.write(f"Page: {line}\n")
    assert RESULTS
