"""Failure Explorer and Confusion Matrix pages driven with AppTest on the bundled detection sample.

Counts shown are checked against a direct count on the engine's ``MatchResult``; the gallery against the size of
the chosen bucket; the confusion matrix against the engine's ``detection_confusion_matrix``.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.project.folder import Project

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "explorer" / "app.py"


@pytest.fixture
def open_page(detection_project, monkeypatch):
    monkeypatch.setenv("EXPLORER_PROJECTS", str(detection_project))

    def run(page: str, *, iou: float = 0.5, state: dict | None = None) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=180)
        at.run()
        for k, v in (state or {}).items():
            at.session_state[k] = v
        if iou != 0.5:
            at.slider(key="iou_threshold").set_value(iou)
        at.switch_page(f"../pages/{page}")
        at.run()
        assert not at.exception, at.exception
        return at

    return run


@pytest.fixture(scope="module")
def matcher(detection_project):
    from explorer.evaluation import Matcher

    return Matcher.from_project(Project.load(detection_project))


def shown_counts(at: AppTest) -> dict[str, int]:
    words = {"TP (true positives)": "TP", "FP (false detections)": "FP", "FN (missed)": "FN", "ignored (crowd)": "ignored"}
    return {words[m.label]: int(m.value.replace(",", "")) for m in at.metric if m.label in words}


def n_tiles(at: AppTest) -> int:
    """Thumbnails drawn plus placeholders for images that could not be read."""
    return len(at.get("image")) + sum("missing or unreadable" in w.value for w in at.warning)


@pytest.mark.parametrize("iou", [0.5, 0.75])
def test_failure_counts_equal_the_engine(open_page, matcher, iou):
    at = open_page("failures.py", iou=iou)
    m = matcher.match(iou)
    p, lab = m.predictions, m.labels
    expected = {
        "TP": int((p["is_tp"] & ~p["ignored"]).sum()),
        "FP": int((~p["is_tp"] & ~p["ignored"]).sum()),
        "FN": int((~lab["detected"] & ~lab["ignored"]).sum()),
        "ignored": int(p["ignored"].sum() + lab["ignored"].sum()),
    }
    assert shown_counts(at) == expected
    # default outcomes are the failures: FP of every reason + FN, one tile each, 12 per page
    assert n_tiles(at) == min(12, expected["FP"] + expected["FN"])
    reasons = p.loc[~p["is_tp"] & ~p["ignored"], "fp_reason"].value_counts()
    caption = next(c.value for c in at.caption if c.value.startswith("False detections by reason"))
    for reason, n in reasons.items():
        assert f"{reason.replace('_', ' ')} {n:,}" in caption


def test_chosen_bucket_shows_its_items(open_page, matcher):
    m = matcher.match(0.5)
    p, lab = m.predictions, m.labels
    pred_ids = p.loc[~p["ignored"], "pred_id"].to_numpy()[:4].tolist()
    label_ids = lab.loc[~lab["ignored"], "label_id"].to_numpy()[:3].tolist()
    at = open_page("failures.py", state={"failure_selection": {"pred_ids": pred_ids, "label_ids": label_ids,
                                                               "title": "hand-picked bucket"}})
    assert any(h.value == "hand-picked bucket" for h in at.subheader)
    counts = shown_counts(at)
    chosen_p = p[p["pred_id"].isin(pred_ids)]
    chosen_l = lab[lab["label_id"].isin(label_ids)]
    assert counts["TP"] == int(chosen_p["is_tp"].sum() + chosen_l["detected"].sum())
    assert counts["FP"] == int((~chosen_p["is_tp"]).sum())
    assert counts["FN"] == int((~chosen_l["detected"]).sum())
    assert n_tiles(at) == 7
    assert any("Only 7 item(s)" in w.value for w in at.warning)  # small-bucket honesty note

    # only the false detections
    at.multiselect(key="failures:outcomes").set_value([c for c in at.multiselect(key="failures:outcomes").options
                                                       if c.startswith("FP")]).run()
    assert not at.exception and n_tiles(at) == counts["FP"]


def _heatmap(at: AppTest) -> tuple[list[str], np.ndarray]:
    """Row/column names and values of the page's heatmap (plotly may ship ``z`` as base64 binary)."""
    (chart,) = at.get("plotly_chart")
    data = json.loads(chart.proto.spec)["data"][0]
    z = data["z"]
    if isinstance(z, dict):
        z = np.frombuffer(base64.b64decode(z["bdata"]), z["dtype"]).reshape([int(n) for n in z["shape"].split(",")])
    return data["y"], np.asarray(z)


@pytest.mark.parametrize("iou", [0.5, 0.75])
def test_confusion_matrix_equals_the_engine(open_page, matcher, iou):
    from explorer.evaluation.confusion_cells import cell_members
    from explorer.evaluation import detection_confusion_matrix

    at = open_page("confusion_matrix.py", iou=iou)
    engine = detection_confusion_matrix(matcher, iou)
    expected = engine.order("most_confused").matrix  # the page's default ordering, all classes shown
    order, values = _heatmap(at)
    # the background row is named for what it holds (predictions without a label), distinct from the FP reason
    assert order == [{"background": "unmatched predictions"}.get(c, c) for c in expected.index]
    np.testing.assert_array_equal(values, expected.to_numpy())
    (chart,) = at.get("plotly_chart")
    trace = json.loads(chart.proto.spec)["data"][0]
    assert trace["x"][-1] == "missed labels" if expected.columns[-1] == "background" else True
    # the colour scale spans the class × class cells, not the (larger) background row and column
    inner = [c for c in expected.index if c != "background"]
    assert trace["zmax"] == float(expected.loc[inner, inner].to_numpy().max())

    # the chosen cell's gallery shows that cell's examples (12 per page)
    members = cell_members(matcher, iou)
    true, predicted = at.selectbox(key="cm:cell").value
    in_cell = members[(members["true"] == true) & (members["predicted"] == predicted)]
    assert int(in_cell["counted"].sum()) == int(expected.loc[true, predicted])
    assert n_tiles(at) == min(12, len(in_cell))
    at.selectbox(key="cm:cell").set_value(("circle", "circle")).run()
    assert not at.exception
    assert shown_counts(at)["TP"] == int(expected.loc["circle", "circle"])
    assert n_tiles(at) == min(12, int(expected.loc["circle", "circle"]))
