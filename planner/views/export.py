"""Content from files is data, not markup or formulas: the one place that makes it safe to show or download.

- `csv_download`: a table as CSV text for st.download_button, with every text cell that a spreadsheet would run
  as a formula (starting with =, +, -, @, a tab or a carriage return) prefixed with a single quote, per OWASP's
  CSV-injection guidance (owasp.org/www-community/attacks/CSV_Injection). Numbers stay numbers: a negative
  number is a number column (or a text cell that is exactly a number), not a formula.
- `plain`: text from an upload (run names, cell values, file names) escaped for Streamlit's Markdown
  (st.error, st.warning, st.caption, widget labels), so a cell cannot become a link, an image the browser
  fetches, or HTML; `plotly_text` does the same for plotly labels and hover text (plotly.js renders a subset
  of HTML, <a href> included, and %{...} templates in them).
"""
from __future__ import annotations

import html
import re

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?", re.IGNORECASE)
# Characters that can open Markdown, HTML or a Streamlit directive anywhere in a line (links, images, emphasis,
# code, tags, entities, math, ":red[...]"/":emoji:"), escaped with a backslash (CommonMark allows it for any
# ASCII punctuation); '-', '+', '.', '=' only matter at the start of a line (lists, headings), see `plain`.
_AUTOLINK = re.compile(r"(:(?=//)|www(?=\.)|@(?=\w))", re.IGNORECASE)  # where a word joiner breaks a bare URL
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#!|~$&:])")
_LINE_START = re.compile(r"^(\s*)([-+=>]|\d+[.)])")


def neutralise(value):
    """One cell, safe for a spreadsheet: text starting like a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells and column names cannot run as spreadsheet formulas; number columns untouched."""
    out = frame.copy()
    out.columns = [neutralise(str(c)) for c in out.columns]
    for col in out.columns:
        if not pd.api.types.is_numeric_dtype(out[col].dtype):
            out[col] = out[col].map(neutralise)
    return out


def csv_download(frame: pd.DataFrame) -> str:
    """CSV text for a download button: the one path every page's CSV download goes through."""
    return safe_frame(frame).to_csv(index=False)


def plain(text) -> str:
    """Upload-derived text for a Markdown-rendering element, shown literally (newlines become spaces).

    Backslash escapes stop links, images and HTML; GFM's bare-URL autolinks ("http://...", "www.x",
    "a@b.c") are found in the text after escapes are resolved, so a word joiner (U+2060, invisible)
    is put inside each of those patterns instead."""
    flat = _AUTOLINK.sub("\\1\u2060", " ".join(str(text).splitlines()))
    return _LINE_START.sub(lambda m: m[1] + m[2][:-1] + "\\" + m[2][-1], _MARKDOWN_SPECIAL.sub(r"\\\1", flat))


def plotly_text(text) -> str:
    """Upload-derived text for a plotly trace name, hover template or customdata, shown literally."""
    return html.escape(str(text), quote=False).replace("%", "&#37;")
