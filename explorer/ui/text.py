"""Showing user-supplied strings as text: the one escaping rule of the app (UI code, no Streamlit import needed).

Class names, file names, run and project names, split names, log columns, metric titles from plugins and error
messages that quote them all come from files a user (or a shared dataset) wrote. Streamlit renders almost every
string it is given as GitHub-flavoured Markdown — ``st.markdown``/``caption``/``write``/``info``/``warning``/
``error``/``success``/``title``/``header``/``subheader``/``toast``, ``st.table`` cells, every widget *label*
and ``help`` tooltip, ``st.metric`` label/value, ``st.image`` captions, tab and expander labels, and the options
of ``st.radio``/``pills``/``segmented_control``/``select_slider``. A class name ``![t](http://host/x.png)``
would make the browser fetch a URL (a tracking pixel) and ``[x](javascript:…)`` would be a link; under
``unsafe_allow_html=True`` an ``<iframe srcdoc=…>`` would run script. So:

* ``plain(s)``: every user-supplied value that reaches one of those Markdown places goes through it (the whole
  string, or each interpolated value of an f-string). It backslash-escapes the characters that start Markdown
  (and Streamlit's ``:colour[…]``/``$math$`` extensions), so the text is shown as typed.
* ``html_text(s)``: the *only* way a value enters HTML we render with ``unsafe_allow_html=True``; that HTML is
  our own constant markup. It writes every ASCII punctuation character as a numeric character reference, which
  both HTML and the Markdown pass that Streamlit runs over the HTML decode back to text (a reference never
  counts as Markdown syntax).
* ``chart_text(s)``: values in Plotly figures (axis categories, trace names, hover text): Plotly interprets a
  subset of HTML in text (``<b>``, ``<br>``, ``<a href>``), so the value is ``html.escape``-d; Plotly shows the
  entities as the characters.

Plain-text places need nothing: ``st.selectbox``/``st.multiselect`` options, ``st.dataframe`` cells and
headers, ``st.text``/``st.code``/``st.json`` (``tests/security/test_browser_payloads.py`` checks the select
widgets in Chromium). ``tests/security/test_escaping.py`` checks every Streamlit call of the UI code by its
syntax tree and opens every page of projects whose names are payloads.
"""
from __future__ import annotations

import html
import re

# Markdown (CommonMark + GFM) and Streamlit's extensions: emphasis * _ ~, code `, links/images [ ] !, HTML and
# autolinks < >, entities &, escapes \, math $, directives :x[..]{..}, tables |, headings/quotes # > (at a line
# start, but a value can begin a line). "-", "+", "=" and "." only start a block at a line start: see _LINE_START.
_MARKDOWN = re.compile(r"([\\`*_~\[\]{}()<>!&$|#:])")
# a line starting with a list marker or setext underline ("-", "+", "="), or an ordered-list number ("1.")
_LINE_START = re.compile(r"^(\s*)([-+=])")
_ORDERED = re.compile(r"^(\s*\d+)\.")
# GFM turns bare URLs, "www." and e-mail addresses into links even when escaped (it rewrites the parsed text):
# a WORD JOINER (U+2060, invisible, zero width) after the ":" of "://", the "www" and the "@" breaks the pattern
_AUTOLINK = re.compile(r"(?i)(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)")
_WJ = "\u2060"


def plain(value) -> str:
    """``str(value)`` escaped so that Streamlit's Markdown shows it as typed: no link, image, HTML, emphasis,
    heading, list, table, math or colour directive can come from it. Newlines become spaces (a value is one
    line of text), so only the value's own start can be a line start.

    ``plain("![t](http://x/y.png) **b**")`` is ``\\!\\[t\\]\\(http\\:<U+2060>//x/y.png\\) \\*\\*b\\*\\*``.
    """
    text = " ".join(str(value).splitlines())
    text = _MARKDOWN.sub(r"\\\1", text)
    text = _ORDERED.sub(r"\1\\.", _LINE_START.sub(r"\1\\\2", text))
    return _AUTOLINK.sub(_WJ, text)


def html_text(value) -> str:
    """``str(value)`` for the text content of our own HTML under ``unsafe_allow_html=True``: every ASCII
    punctuation character (``< > & " '`` and all Markdown syntax) as a numeric character reference ``&#N;``."""
    text = _AUTOLINK.sub(_WJ, " ".join(str(value).splitlines()))  # the references are decoded before GFM links
    return "".join(f"&#{ord(c)};" if c in _PUNCTUATION else c for c in text)


_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


UNDEFINED = "—"  # the one rendering of an undefined number (NaN, ±inf, None) in the app


def number(value, spec: str = ".4f") -> str:
    """A number for display: ``format(value, spec)``, or ``UNDEFINED`` ("—") when the value is None, NaN or
    infinite (never "None", "nan" or "n/a"). Pair it with a tooltip or caption saying why it is undefined."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return UNDEFINED
    return UNDEFINED if x != x or x in (float("inf"), float("-inf")) else format(x, spec)


def chart_text(value) -> str:
    """``str(value)`` for Plotly text (categories, names, hover text): HTML-escaped, shown as typed."""
    return html.escape(str(value), quote=False)
