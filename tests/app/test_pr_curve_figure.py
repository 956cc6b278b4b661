"""The PR-curve figure (``charts.pr_curve_figure``) built from trace dicts (validated once by ``go.Figure``) is the
very figure its former ``go.Scatter`` form gave — the same JSON — with one thinned float32 line per class, the
legend naming the classes with the longest curves and one entry for the rest."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly
import plotly.graph_objects as go

from explorer.ui.charts import LEGEND_TOP_K, MAX_CURVE_POINTS, pr_curve_figure


def former(curves: pd.DataFrame, names: dict[int, str]) -> go.Figure:
    """``pr_curve_figure`` before trace dicts (go.Scatter per class), for curves grouped by class."""
    cats = curves["category_id"].to_numpy()
    recall, precision = (curves[c].to_numpy(np.float32) for c in ("recall", "precision"))
    starts = np.flatnonzero(np.r_[True, cats[1:] != cats[:-1]])
    uniq, ends = cats[starts], np.r_[starts[1:], len(cats)]
    named = set(uniq[np.argsort(-(ends - starts), kind="stable")[:LEGEND_TOP_K]].tolist())
    traces = []
    for cat, a, b in zip(uniq, starts, ends):
        keep = np.unique(np.linspace(a, b - 1, min(b - a, MAX_CURVE_POINTS)).round().astype(int))
        name = names.get(int(cat), str(cat))
        if cat in named:
            traces.append(go.Scatter(x=recall[keep], y=precision[keep], mode="lines", name=name))
        else:
            traces.append(go.Scatter(x=recall[keep], y=precision[keep], mode="lines", name=name, legendgroup="other",
                                     showlegend=False, line=dict(width=1, color="#bbb")))
    n_other = len(uniq) - len(named)
    if n_other:
        traces.append(go.Scatter(x=[None], y=[None], mode="lines", name=f"{n_other} other classes",
                                 legendgroup="other", line=dict(width=1, color="#bbb"), hoverinfo="skip"))
    fig = go.Figure(data=traces)
    fig.update_layout(title="Precision–recall curves", xaxis_title="Recall", yaxis_title="Precision",
                      xaxis=dict(range=[0, 1.01]), yaxis=dict(range=[0, 1.01]), height=380,
                      margin=dict(l=10, r=10, t=40, b=30))
    return fig


def test_pr_curve_figure_equals_its_former_form():
    rng = np.random.default_rng(3)
    n_classes = LEGEND_TOP_K + 7
    sizes = rng.integers(1, 3 * MAX_CURVE_POINTS, n_classes)
    cats = np.repeat(np.arange(1, n_classes + 1) * 3, sizes)
    curves = pd.DataFrame({"category_id": cats, "recall": np.sort(rng.random(len(cats))),
                           "precision": rng.random(len(cats))})
    names = {int(c): f"class <{c}>" for c in np.unique(cats)[:-2]}  # two classes without a name: their id
    fig = pr_curve_figure(curves, names)
    assert plotly.io.to_json(fig, validate=False) == plotly.io.to_json(former(curves, names), validate=False)
    lines = [t for t in fig.data if t.name != "7 other classes"]
    assert len(fig.data) == n_classes + 1 and len(lines) == n_classes
    assert sum(t.showlegend is not False for t in lines) == LEGEND_TOP_K
    assert all(len(t.x) == min(n, MAX_CURVE_POINTS) for t, n in zip(lines, sizes))
    assert fig.data[-1].name == "7 other classes" and fig.data[-1].legendgroup == "other"


def test_pr_curve_figure_of_curves_not_grouped_by_class_and_of_none():
    """Only the points drawn are gathered (before float32): curves listed out of class order draw the lines of
    the same curves grouped stably by class; no curves, no lines."""
    rng = np.random.default_rng(5)
    sizes = rng.integers(1, 2 * MAX_CURVE_POINTS, 6)
    cats = np.repeat(np.array([9, 2, 7, 2, 9, 4]), sizes)  # classes 2 and 9 come in two runs
    curves = pd.DataFrame({"category_id": cats, "recall": rng.random(len(cats)), "precision": rng.random(len(cats))})
    grouped = curves.iloc[np.argsort(cats, kind="stable")].reset_index(drop=True)
    names = {2: "two", 4: "four", 7: "seven", 9: "nine"}
    assert (plotly.io.to_json(pr_curve_figure(curves, names), validate=False)
            == plotly.io.to_json(former(grouped, names), validate=False))
    empty = pr_curve_figure(curves.iloc[:0], names)
    assert len(empty.data) == 0 and empty.layout.title.text == "Precision–recall curves"
