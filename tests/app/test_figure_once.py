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


def test_a_kept_figure_is_serialised_once_and_the_same_as_a_fresh_one():
    """``st.plotly_chart`` serialises a Figure through ``to_dict()`` (a deep copy with arrays base64-encoded) in
    every session's rerun; a kept figure hands out the one dict made with it, equal to a fresh figure's."""
    import numpy as np
    import plotly.io

    def build():
        return go.Figure([go.Scatter(x=np.linspace(0, 1, 50), y=np.linspace(1, 0, 50) ** k, name=f"<b>{k}</b>")
                          for k in range(3)])

    kept = charts.figure_once(("test", "serialised"), build)
    fresh = charts.escape_figure(build())
    assert kept.to_dict() is kept.to_dict()
    assert kept.to_dict() == fresh.to_dict()
    assert plotly.io.to_json(kept.to_dict(), validate=False) == plotly.io.to_json(fresh, validate=False)
    assert kept.to_dict()["data"][2]["name"] == "&lt;b&gt;2&lt;/b&gt;"
