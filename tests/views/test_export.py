"""planner.views.export: upload content is data. CSV downloads are formula-safe (OWASP CSV injection);
text shown through Markdown or plotly is escaped."""
import io

import pandas as pd

from planner.views.export import csv_download, neutralise, plain, plotly_text


def test_formula_cells_are_neutralised_and_numbers_stay_numbers():
    frame = pd.DataFrame({"run": ["=HYPERLINK(\"http://e.example\")", "+1+2", "-2+3", "@SUM(A1)", "\tx", "ok", "-3.2"],
                          "loss": [-1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]})
    back = pd.read_csv(io.StringIO(csv_download(frame)), keep_default_na=False)
    assert list(back["run"][:5]) == ["'=HYPERLINK(\"http://e.example\")", "'+1+2", "'-2+3", "'@SUM(A1)", "'\tx"]
    assert back["run"][5] == "ok" and back["run"][6] == "-3.2"  # a negative number in text is not a formula
    assert back["loss"].tolist() == frame["loss"].tolist() and back["loss"].dtype == float


def test_column_names_are_neutralised_too():
    assert csv_download(pd.DataFrame({"=cmd": [1]})).splitlines()[0] == "'=cmd"
    assert neutralise(-1) == -1 and neutralise(None) is None and neutralise("\rx") == "'\rx"


def test_plain_leaves_no_live_markdown():
    for text in ["[click](http://e.example)", "![x](http://e.example/t.png)", "<img src=x>", "**b** _i_",
                 ":red[x]", "$x^2$", "`code`", "# heading"]:
        escaped = plain(text)
        # shown literally once Markdown removes the escapes (and the invisible word joiners that stop autolinks)
        assert escaped.replace("\\", "").replace("\u2060", "") == text
        assert all(escaped[i - 1] == "\\" for i, ch in enumerate(escaped) if ch in "[]()<>*_:$`#!" and i)
    assert plain("a\nb") == "a b" and plain("3:2") == "3\\:2"
    for url in ("http://e.example", "www.e.example", "a@e.example"):  # GFM autolink literals are broken up
        assert "\u2060" in plain(url)


def test_plotly_text_is_not_html_or_a_template():
    assert plotly_text("<a href='http://e.example'>x</a> %{y}") == "&lt;a href='http://e.example'&gt;x&lt;/a&gt; &#37;{y}"
