"""Figures kept per key (``explorer.ui.charts.figure_once``): built and escaped once, shared, never escaped twice."""
from __future__ import annotations

import plotly.graph_objects as go

from explorer.ui import charts


def _figure(name: str) -> go.Figure:
    fig = go.Figure(go.Bar(x=[1.0], y=[name], name=name))
    fig.update_layout(title=name)
    return fig


def test_a_kept_figure_is_built_once_escaped_once_and_shown_as_is():
    payload = '<img src=x onerror="alert(1)">'
    built = []

    def build():
        built.append(1)
        return _figure(payload)

    key = ("test", "payload")
    first = charts.figure_once(key, build)
    again = charts.figure_once(key, build)
    assert again is first and built == [1]
    escaped = charts.escape_figure(_figure(payload))  # what show_chart makes of a fresh figure
    assert first.data[0].y == escaped.data[0].y and first.layout.title.text == escaped.layout.title.text
    assert "<img" not in first.layout.title.text

    shown = []

    class Page:
        def plotly_chart(self, fig, **kwargs):
            shown.append(fig)

    for _ in range(2):  # two reruns (or sessions) show the one kept figure without escaping it again
        charts.show_chart(first, where=Page())
    assert shown == [first, first] and first.layout.title.text == escaped.layout.title.text
    fresh = _figure(payload)
    charts.show_chart(fresh, where=Page())
    assert shown[-1].layout.title.text == escaped.layout.title.text  # a fresh figure is still escaped
    charts.figure_once(("test", "other"), lambda: _figure("b"))
    assert charts.figure_once(("test", "other"), build).data[0].name == "b" and built == [1]
