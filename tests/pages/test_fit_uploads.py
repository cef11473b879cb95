"""Fit page (AppTest): uploaded content renders as text, dropped rows and notes stay readable, and a file the
reader refuses gives one error while the page keeps working."""
import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO

PAGE = str(REPO / "pages" / "fit.py")
HEADER = "run,params,tokens,loss\n"
LINK = "[click](http://e.example)"


class Upload:
    def __init__(self, name: str, data: bytes):
        self.name, self._data, self.size = name, data, len(data)

    def getvalue(self) -> bytes:
        return self._data


@pytest.fixture
def upload(monkeypatch):
    """Make the page's run-file uploader return the given file (AppTest cannot drive a file uploader)."""
    real = streamlit.file_uploader

    def use(name: str, data: bytes):
        def fake(label, *args, key=None, **kwargs):
            real(label, *args, key=key, **kwargs)
            return None if key == "sizes" else [Upload(name, data)]
        monkeypatch.setattr(streamlit, "file_uploader", fake)
        at = AppTest.from_file(PAGE, default_timeout=60)
        at.session_state["method"] = "kaplan"
        return at.run()
    return use


def test_markdown_in_cells_and_names_is_shown_as_text(upload):
    rows = [(f"![img](http://e.example/{i}.png)", n, n * 20, 1.7 + 400 / n**0.34) for i, n in
            enumerate([1e8, 2e8, 4e8, 8e8])]
    body = "".join(",".join(map(str, r)) + "\n" for r in rows) + f"x,1e8,3e9,{LINK}\n"
    at = upload("[evil](http://e.example).csv", (HEADER + body).encode())
    assert not at.exception
    warning = at.warning[0].value
    assert "\\[click\\]\\(http" in warning and "](" not in warning.replace("\\](", "")
    preview = next(e.label for e in at.expander if e.label.startswith("Preview of"))
    assert "\\[evil\\]\\(http" in preview
    assert any(m.label == "points / runs" for m in at.metric)


def test_refused_file_gives_one_error_and_the_page_still_works(upload):
    at = upload("runs.csv", b"PK\x03\x04" + bytes(range(256)))
    assert not at.exception and len(at.error) == 1 and "binary" in at.error[0].value
    assert at.get("file_uploader")  # the uploader is still there to try another file


def test_sample_message_states_the_upload_limit():
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["method"] = "kaplan"
    at.run()
    assert "files over 100 MB are refused" in at.info[0].value
