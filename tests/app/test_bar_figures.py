"""``charts.sorted_bar`` and ``importance.importance_figure`` built from trace dicts (validated once by
``go.Figure``) are the very figures their former ``go.Bar`` / ``go.Scatter`` forms gave: the same JSON."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly
import plotly.graph_objects as go

from explorer.ui.charts import sorted_bar
from explorer.ui.importance import importance_figure


def former_sorted_bar(table, *, value, label="display_name", value_range=(0.0, 1.0), title="", hover="n_samples"):
    shown = table[table[value].notna()].copy()
    shown = shown.iloc[np.argsort(np.abs(shown[value].to_numpy(np.float64)), kind="stable")]
    colors = np.where(shown[value].to_numpy() >= 0, "#1f77b4", "#d62728")
    fig = go.Figure(go.Bar(
        x=shown[value], y=shown[label], orientation="h", marker_color=colors,
        text=[f"{v:.3f}" for v in shown[value]], textposition="outside", cliponaxis=False,
        customdata=shown[[hover]].to_numpy() if hover in shown else None,
        hovertemplate="%{y}: %{x:.4f}" + ("<br>n = %{customdata[0]:,}" if hover in shown else "") + "<extra></extra>",
    ))
    fig.update_layout(title=title, height=max(260, 26 * len(shown) + 90), margin=dict(l=10, r=40, t=40, b=30),
                      xaxis=dict(range=list(value_range)), yaxis=dict(automargin=True))
    return fig


def table() -> pd.DataFrame:
    return pd.DataFrame({"display_name": ["Brightness (F)", "Area <b> (O)", "Blur (F)", "Contrast (F)"],
                         "correlation": [0.25, -0.5, np.nan, 0.125], "importance": [0.3, 0.05, np.nan, 0.2],
                         "baseline": [0.01, 0.02, np.nan, np.nan], "n_samples": [1000, 250, 0, 999]})


def test_sorted_bar_equals_its_former_form():
    for kwargs in (dict(value="correlation", value_range=(-1.0, 1.0), title="corr"), dict(value="importance"),
                   dict(value="importance", hover="absent")):
        new, old = sorted_bar(table(), **kwargs), former_sorted_bar(table(), **kwargs)
        assert plotly.io.to_json(new, validate=False) == plotly.io.to_json(old, validate=False)
    fig = sorted_bar(table(), value="correlation")
    assert list(fig.data[0].y) == ["Contrast (F)", "Brightness (F)", "Area <b> (O)"]  # bottom-up by |value|
    assert list(fig.data[0].marker.color) == ["#1f77b4", "#1f77b4", "#d62728"]


def test_importance_figure_equals_its_former_form():
    imp = table()
    old = former_sorted_bar(imp, value="importance", title="Metric importance (0 = none, 1 = predicts Y)")
    shown = imp[imp["importance"].notna() & imp["baseline"].notna()]
    old.add_trace(go.Scatter(
        x=shown["baseline"], y=shown["display_name"], mode="markers", name="shuffled-outcome baseline",
        marker=dict(symbol="line-ns-open", size=18, line=dict(width=2, color="#222")),
        hovertemplate="%{y}: baseline %{x:.4f}<extra></extra>"))
    old.update_layout(showlegend=True, legend=dict(orientation="h", x=0, y=-0.08, yanchor="top"))
    new = importance_figure(imp)
    assert plotly.io.to_json(new, validate=False) == plotly.io.to_json(old, validate=False)
    assert list(new.data[1].x) == [0.01, 0.02]
