"""User-supplied strings are shown as text on every page (explorer/ui/text.py).

Three layers: the escaping functions on the payloads; a syntax-tree scan of every Streamlit call of the UI code
(``unsafe_allow_html=True`` only with escaped values, no raw user value interpolated into a Markdown-rendering
call, every figure through ``show_chart``); and AppTests opening every page of projects whose class names, file
names and run name are payloads, asserting no rendered Markdown/HTML element or chart holds a payload unescaped.
"""
from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToDict
from streamlit.testing.v1 import AppTest

import explorer
from explorer import tasks
from explorer.resources import pages_dir
from explorer.ui.state import PROJECTS_ENV
from explorer.ui.text import chart_text, html_text, plain

from .payloads import FILE_PAYLOADS, HTML_PAYLOADS, PAYLOADS, RUN_PAYLOAD, build_payload_projects

REPO = Path(explorer.__file__).resolve().parent.parent
APP = Path(explorer.__file__).resolve().parent / "app.py"
UI_FILES = sorted([*(REPO / "explorer" / "ui").glob("*.py"), APP, *(REPO / "pages").glob("*.py")])


# ---- the functions ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("payload", PAYLOADS + FILE_PAYLOADS)
def test_plain_escapes_every_markdown_and_html_character(payload):
    out = plain(payload)
    assert payload not in out
    # each special character is backslash-escaped (CommonMark shows "\x" as "x" for punctuation x)
    for ch in "<>[]()!*_`$&|":
        assert out.count("\\" + ch) == payload.count(ch)
    assert out.replace("\u2060", "").replace("\\", "") == payload.replace("\\", "")


def test_plain_breaks_autolinks_and_line_starts():
    assert plain("see http://a.b/c") == "see http\\:\u2060//a.b/c"
    assert plain("www.x.org a@b.c") == "www\u2060.x.org a@\u2060b.c"
    assert plain("# h") == "\\# h" and plain("- item") == "\\- item" and plain("1. one") == "1\\. one"
    assert plain("a\n\n# b") == "a  \\# b"  # one line: no new block can start
    assert plain("img_001.jpg") == "img\\_001.jpg" and plain("cat dog") == "cat dog"


def test_html_text_and_chart_text():
    assert html_text("<img src=x onerror=alert(1)>") == (
        "&#60;img src&#61;x onerror&#61;alert&#40;1&#41;&#62;")
    assert html_text("![t](http://x)") == "&#33;&#91;t&#93;&#40;http&#58;\u2060&#47;&#47;x&#41;"
    assert html_text("cat 1") == "cat 1"
    assert chart_text("<b>x</b> & <a href='j'>") == "&lt;b&gt;x&lt;/b&gt; &amp; &lt;a href='j'&gt;"


# ---- the syntax tree of every Streamlit call ------------------------------------------------------------------
# calls whose string arguments Streamlit renders as Markdown (first positional argument and these keywords)
MARKDOWN_CALLS = {"markdown", "caption", "write", "info", "warning", "error", "success", "toast", "title", "header",
                  "subheader", "metric", "expander", "tabs", "popover", "button", "download_button", "checkbox",
                  "toggle", "radio", "selectbox", "multiselect", "slider", "select_slider", "number_input",
                  "text_input", "pills", "segmented_control", "image", "Page", "table", "page_link", "spinner"}
MARKDOWN_KEYWORDS = {"body", "label", "help", "caption", "title", "captions", "placeholder"}
# a value built from these is text we made (numbers, our own constants) or already escaped
SAFE_CALLS = {"plain", "html_text", "len", "int", "float", "fmt", "round", "format_value", "method_title"}
ESCAPERS = {"plain", "html_text"}


def _call_name(node: ast.AST) -> str | None:
    func = node.func if isinstance(node, ast.Call) else None
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _unsafe_parts(node: ast.AST) -> list[str]:
    """The interpolated parts of a Markdown argument that may carry raw user text (empty = safe).

    Safe: constants, names (local values built by our code, reviewed), numbers formatted with a format spec,
    calls of ``SAFE_CALLS``; unsafe: any other call (``str(e)``), attribute or subscript (``project.name``,
    ``names[c]``) interpolated without ``plain``."""
    if isinstance(node, ast.Constant) or isinstance(node, ast.Name):
        return []
    if isinstance(node, ast.JoinedStr):
        out = []
        for part in node.values:
            if isinstance(part, ast.FormattedValue):
                if part.format_spec is not None and part.conversion == -1:
                    continue  # a numeric format spec: a number (a str would raise)
                out += _unsafe_parts(part.value)
        return out
    if isinstance(node, ast.BinOp):
        return _unsafe_parts(node.left) + _unsafe_parts(node.right)
    if isinstance(node, ast.IfExp):
        return _unsafe_parts(node.body) + _unsafe_parts(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [p for v in node.values for p in _unsafe_parts(v)]
    if isinstance(node, ast.Call) and _call_name(node) in SAFE_CALLS:
        return []
    if isinstance(node, ast.Call) and _call_name(node) == "join" and node.args:
        arg = node.args[0]  # ", ".join(plain(x) for x in ...) / ", ".join(map(plain, ...))
        if isinstance(arg, (ast.GeneratorExp, ast.ListComp)):
            return _unsafe_parts(arg.elt)
        if isinstance(arg, ast.Call) and _call_name(arg) == "map" and arg.args and \
                isinstance(arg.args[0], ast.Name) and arg.args[0].id in ESCAPERS:
            return []
        return [ast.unparse(node)]
    return [ast.unparse(node)]


def _streamlit_calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            yield node


# every non-escaped interpolation of these calls is reviewed: our constants or numbers (the reason is the key)
REVIEWED = {
    "_options_note(task, sel.core)": "task option names and numeric values set by our widgets",
    "FP_REASON_WORDS[r]": "our words for the false-detection reasons",
    "WORDS[result.target]": "our words for the targets (images, labels, predictions)",
    "training.RULE.format(patience=patience)": "our over-fitting rule with a number",
    "_bounds(h['mAP_lo'], h['mAP_hi'])": "explorer.ui.intervals: two of our floats as '[lo, hi]'",
    "_bounds(h['mAR_lo'], h['mAR_hi'])": "explorer.ui.intervals: two of our floats as '[lo, hi]'",
    "next((s for s in small if s))": "explorer.analysis small-sample notes: our text with numbers",
    "_outside_note(h)": "explorer.ui.intervals: our sentence naming mAP/mAR when outside their interval",
}
# calls whose first positional argument is not text (image data, a page's file)
NOT_TEXT_FIRST = {"image", "Page"}


def test_no_markdown_call_interpolates_an_unescaped_value():
    offenders = []
    for path in UI_FILES:
        tree = ast.parse(path.read_text(), filename=str(path))
        for call in _streamlit_calls(tree):
            if call.func.attr not in MARKDOWN_CALLS:
                continue
            args = (call.args[:1] if call.func.attr not in NOT_TEXT_FIRST else []) + [k.value for k in call.keywords if k.arg in MARKDOWN_KEYWORDS]
            for arg in args:
                for part in _unsafe_parts(arg):
                    if part not in REVIEWED:
                        offenders.append(f"{path.relative_to(REPO)}:{call.lineno}: {part}")
    assert not offenders, "interpolate user values through explorer.ui.text.plain:\n" + "\n".join(offenders)


def test_unsafe_allow_html_renders_only_escaped_values():
    """``unsafe_allow_html=True`` only on an expression whose every interpolation is ``html_text`` or a number."""
    found = 0
    for path in UI_FILES:
        tree = ast.parse(path.read_text(), filename=str(path))
        for call in _streamlit_calls(tree):
            if not any(k.arg == "unsafe_allow_html" and not (isinstance(k.value, ast.Constant) and not k.value.value)
                       for k in call.keywords):
                continue
            found += 1
            assert isinstance(call.args[0], (ast.BinOp, ast.JoinedStr, ast.Name)), ast.unparse(call)
            # follow a local name to its assignment in the same function
            func = next(f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                        and f.lineno <= call.lineno <= f.end_lineno)
            strings = [n for n in ast.walk(func) if isinstance(n, ast.JoinedStr)]
            for s in strings:
                for part in s.values:
                    if isinstance(part, ast.FormattedValue) and part.format_spec is None:
                        assert _call_name(part.value) in {"html_text", "_css", "int"}, \
                            f"{path.name}:{s.lineno}: {ast.unparse(part.value)} enters HTML unescaped"
    assert found == 1  # the segmentation legend


def test_every_figure_goes_through_show_chart():
    direct = [f"{p.relative_to(REPO)}:{c.lineno}" for p in UI_FILES for c in _streamlit_calls(ast.parse(p.read_text()))
              if c.func.attr == "plotly_chart" and p.name != "charts.py"]
    assert not direct, f"use explorer.ui.charts.show_chart (escapes the figure's text): {direct}"


# ---- every page of projects whose names are payloads ------------------------------------------------------------
@pytest.fixture(scope="module")
def payload_projects(tmp_path_factory, explorer_home):
    return build_payload_projects(tmp_path_factory.mktemp("payloads"))


def _open(monkeypatch, project: Path, page: str) -> AppTest:
    monkeypatch.setenv(PROJECTS_ENV, str(project))
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.run()
    at.switch_page(os.path.relpath(pages_dir() / page, APP.parent))
    at.run()
    return at


def _nodes(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _nodes(child)


def _strings(value, key=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key)
    elif isinstance(value, str):
        yield key, value


PLAIN_TEXT_TYPES = {"arrow_data_frame", "selectbox", "multiselect", "json", "code", "text", "exception"}


def _rendered(at: AppTest):
    """``(element type, field, text)`` of every string Streamlit renders as Markdown/HTML, and the chart specs."""
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None or not hasattr(proto, "DESCRIPTOR"):
            continue
        kind = getattr(node, "type", "")
        data = MessageToDict(proto)
        if kind == "plotly_chart":
            yield kind, "spec", data.get("spec", "")
            continue
        for key, text in _strings(data):
            if kind in PLAIN_TEXT_TYPES and key not in ("label", "help"):
                continue  # options, cells and values are shown as plain text
            if key in ("id", "formId", "key", "url", "mimetype", "markup", "type"):
                continue
            yield kind, key, text


@pytest.mark.parametrize("task", ["detection", "segmentation", "classification"])
def test_every_page_shows_payload_names_only_escaped(task, payload_projects, monkeypatch):
    pages = [p.file for p in tasks.get(task).pages]
    shown_escaped = set()
    for page in pages:
        at = _open(monkeypatch, payload_projects[task], page)
        assert not at.exception, (page, [e.value for e in at.exception])
        for kind, key, text in _rendered(at):
            if kind == "plotly_chart":
                strings = [s for _, s in _strings(json.loads(text))] if text else []
                for payload in HTML_PAYLOADS + [p for p in FILE_PAYLOADS if "<" in p]:
                    assert not any(payload in s for s in strings), (page, "chart", payload)
                continue
            for payload in PAYLOADS + FILE_PAYLOADS + [RUN_PAYLOAD, "<img src=x onerror=alert(9)>"]:
                assert payload not in text, (page, kind, key, text)
                if plain(payload) in text or html_text(payload) in text:
                    shown_escaped.add(payload)
    assert shown_escaped & set(PAYLOADS), "the class names are shown (escaped) somewhere"


def test_class_filter_note_and_galleries_escape_names(payload_projects, monkeypatch):
    """With some classes deselected, the classification page names the chosen classes (st.info) escaped."""
    at = _open(monkeypatch, payload_projects["classification"], "classification.py")
    at.sidebar.multiselect[0].set_value(PAYLOADS[:2]).run()
    assert not at.exception, [e.value for e in at.exception]
    (note,) = [i.value for i in at.info if i.value.startswith("Class filter:")]
    assert note.startswith(f"Class filter: {plain(PAYLOADS[0])}, {plain(PAYLOADS[1])} — ")
    for kind, key, text in _rendered(at):
        if kind != "plotly_chart":
            assert not any(p in text for p in PAYLOADS + FILE_PAYLOADS), (kind, key, text)
