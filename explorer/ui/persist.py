"""Controls that stay put: the one mechanism every page control and sidebar control uses.

``st.selectbox("Metric", options, **keep("pbm_metric"))`` gives a widget

* its ``key``;
* ``persist_state="session"``: Streamlit keeps the value while the widget is not rendered (another page, a
  hidden section), so switching pages and back shows the same value (without it Streamlit deletes the state of
  every widget that is not drawn in a run);
* ``bind="query-params"`` (unless ``url=False``): the value is mirrored in the URL under the key's name, read on
  the first run of a session, so a reload or a shared link reopens the same view. Streamlit writes only the
  current page's bound widgets (and the sidebar's) into the URL and leaves a value equal to the widget's default
  out of it. Use ``url=False`` for values that mean nothing in a link (a page number, a gallery position, a value
  whose text changes with the data).

Values are kept **per project**: ``follow_project(path)`` (called by ``explorer/app.py`` right after the project
selector) stores the kept values of the project being left and restores those of the project being opened, so
a metric chosen on one project is not forced onto another (whose widgets start from their defaults). A kept value
that is no longer one of the widget's options (the data changed) falls back to the widget's default: Streamlit
checks it when the widget is drawn.

A widget whose options depend on other controls must carry those controls in its key (``keyed("pbm_bucket",
metric, n_buckets)``), so it can never show a value computed for other options.
"""
from __future__ import annotations

import re

import streamlit as st

KEPT = "_persist:keys"  # session key: the set of kept widget keys seen in this session
BY_PROJECT = "_persist:by_project"  # session key: {project path: {widget key: value}}
CURRENT = "_persist:project"  # session key: the project the kept values belong to
SHARED = frozenset({"project"})  # kept keys that are not per project


def keep(key: str, *, url: bool = True) -> dict:
    """Keyword arguments for a Streamlit widget that keep its value (see the module docstring)."""
    st.session_state.setdefault(KEPT, set()).add(key)
    return {"key": key, "persist_state": "session", "bind": "query-params" if url else None}


def keyed(name: str, *depends) -> str:
    """A widget key that names the controls its options depend on: ``keyed("pbm_bucket", "brightness", 10)`` is
    ``"pbm_bucket.brightness.10"`` (URL-safe: other characters become ``-``)."""
    parts = [name, *(re.sub(r"[^A-Za-z0-9_-]+", "-", str(d)) for d in depends)]
    return ".".join(parts)


def bounded(name: str, low, high) -> str:
    """The key of a slider whose bounds come from the data (a metric's range, a number of rows): ``keyed`` with the
    bounds, so a kept value can never fall outside them — new bounds (another class, split or metric) are a new
    widget starting from its default; the same bounds (a page switch and back) keep the value."""
    return keyed(name, *(f"{float(b):.6g}" for b in (low, high)))


def follow_project(project: str) -> bool:
    """Swap the kept values when the current project changes; True when it did (not on a session's first run).

    The values of the project being left are stored under its path and removed from the session (its widgets
    would otherwise show them on the new project); the new project's stored values, if any, are put back."""
    s = st.session_state
    last = s.get(CURRENT)
    s[CURRENT] = project
    if last is None or last == project:
        return False
    keys = [k for k in s.get(KEPT, ()) if k not in SHARED]
    stores = s.setdefault(BY_PROJECT, {})
    stores[last] = {k: s[k] for k in keys if k in s}
    for k in keys:
        if k in s:
            del s[k]
    for k, value in stores.get(project, {}).items():
        s[k] = value
    return True


def switch_page(page) -> None:
    """``st.switch_page(page)`` that works with URL-bound controls: Streamlit's own call clears the query string
    with a method that refuses bound parameters (``StreamlitAPIException`` "Cannot clear query parameters");
    an explicit empty mapping replaces it without that check, and the bound controls of the next page (and the
    sidebar) write themselves back into the URL."""
    st.switch_page(page, query_params={})
