"""Uncertainty in the app: the Metrics page's bootstrap intervals equal the core's, the importance chart carries the
permutation baseline ticks, and Performance by Metric draws Wilson error bars and lists the bounds."""
from __future__ import annotations

import base64
import json

import numpy as np
from statsmodels.stats.proportion import proportion_confint

from explorer.project.folder import Project
from explorer.project.selection import Selection

from .apptest import open_page


def _array(value) -> np.ndarray:
    """A Plotly JSON array: a list, or a typed array ``{"dtype", "bdata"}`` (base64)."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value, dtype=np.float64)


def _charts(at):
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_metrics_page_bootstrap_and_baseline(detection_project, monkeypatch):
    from explorer.analysis.intervals import bootstrap_ap
    from explorer.analysis.outcomes import match

    at = open_page(monkeypatch, detection_project, "model_metrics.py")
    b = bootstrap_ap(match(Project.load(detection_project), Selection(iou_threshold=0.5)))
    h = b.headline()
    text = f"mAP [{h['mAP_lo']:.4f}, {h['mAP_hi']:.4f}] · mAR [{h['mAR_lo']:.4f}, {h['mAR_hi']:.4f}]"
    assert any(text in c.value and "200 resamples of the 240 images" in c.value for c in at.caption)
    (table,) = [d.value for d in at.dataframe if "ap_lo" in d.value.columns]
    np.testing.assert_allclose(table["ap_lo"], b.per_class()["ap_lo"])
    ticks = [t for spec in _charts(at) for t in spec["data"] if t.get("name") == "shuffled-outcome baseline"]
    assert len(ticks) == 2  # one importance chart per outcome (labels, predictions)
    assert all(t["marker"]["symbol"] == "line-ns-open" for t in ticks)


def test_performance_by_metric_wilson_bars_and_columns(detection_project, monkeypatch):
    at = open_page(monkeypatch, detection_project, "performance_by_metric.py")
    shown = at.dataframe[0].value
    assert {"true_positive_rate_lo", "true_positive_rate_hi", "false_negative_rate_lo"} <= set(shown.columns)
    lo, hi = proportion_confint(shown["n_detected"].to_numpy(), shown["n_labels"].to_numpy(), method="wilson")
    np.testing.assert_allclose(shown["true_positive_rate_lo"], lo, rtol=0, atol=1e-15)
    np.testing.assert_allclose(shown["true_positive_rate_hi"], hi, rtol=0, atol=1e-15)
    bars = [t for t in _charts(at)[0]["data"] if t.get("type") == "bar"]
    tpr = next(t for t in bars if t["name"].startswith("True positive rate"))
    np.testing.assert_allclose(_array(tpr["error_y"]["array"]),
                               shown["true_positive_rate_hi"] - shown["true_positive_rate"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(_array(tpr["error_y"]["arrayminus"]),
                               shown["true_positive_rate"] - shown["true_positive_rate_lo"], rtol=0, atol=1e-12)


def test_a_point_estimate_outside_its_interval_is_explained():
    """The 10k case of a percentile interval that leaves out its estimate (mAP 0.264, [0.266, 0.282]) gets the
    sentence; an estimate inside (or undefined) gets none."""
    from explorer.ui.intervals import _outside_note

    inside = {"mAP": 0.27, "mAP_lo": 0.266, "mAP_hi": 0.282, "mAR": 0.5, "mAR_lo": 0.4, "mAR_hi": 0.6}
    assert _outside_note(inside) == ""
    assert _outside_note({**inside, "mAP": float("nan")}) == ""
    note = _outside_note({**inside, "mAP": 0.264})
    assert note.startswith(" The mAP shown lies outside its interval") and "percentile bootstraps" in note
    assert " The mAP and mAR shown" in _outside_note({**inside, "mAP": 0.264, "mAR": 0.61})
