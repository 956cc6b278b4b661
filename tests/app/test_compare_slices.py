"""The Compare runs and Slices pages with AppTest on the bundled detection sample: the numbers shown equal the core's,
the fixed/broken galleries draw their objects, a slice opens in the Failure Explorer with its rows; a project with
one run says why there is nothing to compare."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer.project.folder import Project
from explorer.project.selection import Selection

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "explorer" / "app.py"


def _open(project: Path, monkeypatch, page: str) -> AppTest:
    monkeypatch.setenv("EXPLORER_PROJECTS", str(project))
    at = AppTest.from_file(str(APP), default_timeout=240)
    at.run()
    at.switch_page(f"../pages/{page}")
    at.run()
    assert not at.exception, at.exception
    return at


def test_compare_page_numbers_and_galleries(detection_project, monkeypatch):
    from explorer.analysis.compare import compare_runs

    at = _open(detection_project, monkeypatch, "compare.py")
    assert at.title[0].value == "Compare runs"
    assert at.selectbox(key="compare_run_a.baseline").value == "baseline" and at.selectbox(key="compare_run_b.baseline").value == "weaker"
    c = compare_runs(Project.load(detection_project), Selection(iou_threshold=0.5), "baseline", "weaker")
    shown = {m.label: m.value for m in at.metric}
    assert shown["mAP @ IoU 0.50 — A (baseline)"] == f"{c.headline['map_a']:.4f}"
    assert shown["mAP @ IoU 0.50 — B (weaker)"] == f"{c.headline['map_b']:.4f}"
    assert shown["B − A"] == f"{c.headline['map_delta']:+.4f}"
    lo, hi = c.headline["map_delta_interval"]
    assert any(f"[{lo:+.4f}, {hi:+.4f}]" in cap.value and "B is worse beyond the noise" in cap.value for cap in at.caption)
    # the default gallery: labels fixed by B, 12 tiles of the 82
    assert at.radio(key="compare_gallery").value == "Fixed: missed by A, detected by B"
    assert any(cap.value.startswith("82 objects") for cap in at.caption)
    assert len(at.get("image")) == 12
    at.radio(key="compare_gallery").set_value("Broken: new false detections in B").run()
    assert not at.exception, at.exception
    assert any(cap.value.startswith("589 objects") for cap in at.caption)
    assert len(at.get("image")) == 12
    # swapping the runs flips the sign
    at.selectbox(key="compare_run_a.baseline").set_value("weaker").run()
    at.selectbox(key="compare_run_b.baseline").set_value("baseline").run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["B − A"] == f"{-c.headline['map_delta']:+.4f}"


def test_compare_gallery_page_is_the_sorted_table_page(detection_project, monkeypatch):
    """The gallery draws only its page's rows, in ``sort_rows``' order of the whole changed-objects table (the
    frame the CLI and export write), for a built-in sort and a data metric, both directions."""
    import re

    from explorer.analysis.compare import compare_runs
    from explorer.analysis.failure_buckets import sort_rows
    from explorer.drawing.failure_tiles import outcome_tiles
    from explorer.ui.buckets import metric_choices, values_of

    at = _open(detection_project, monkeypatch, "compare.py")
    project = Project.load(detection_project)
    c = compare_runs(project, Selection(iou_threshold=0.5), "baseline", "weaker")
    view = project.for_run("weaker")
    rows = c.broken[c.broken["kind"] == "false detection"].reset_index(drop=True)
    at.radio(key="compare_gallery").set_value("Broken: new false detections in B").run()
    for column, order in (("score", "descending"), ("occlusion_iou", "ascending")):
        at.selectbox(key="compare_sort").set_value(column).run()
        at.radio(key="compare_order").set_value(order).run()
        assert not at.exception, at.exception
        values = values_of(view, rows, column)
        page = sort_rows(rows.assign(_value=values), values, descending=order == "descending").iloc[:12]
        title = None if column == "score" else metric_choices(view)[column]
        expected = [t.caption for t in outcome_tiles(view, page, metric_title=title,
                                                       metric_values=page["_value"].to_numpy())]
        expected = [expected[i] for col in range(4) for i in range(col, len(expected), 4)]  # 4 columns, read by column
        shown = [re.sub(r"\\(.)", r"\1", i.caption) for e in at.get("image") for i in e.proto.imgs]
        assert shown == expected and len(set(shown)) > 1


def test_compare_page_with_one_run(tmp_path, monkeypatch):
    from explorer.io import import_project
    from explorer.resources import sample_data_dir

    src = sample_data_dir() / "detection"
    import_project(tmp_path / "one", labels=src / "labels.json", predictions=src / "predictions.json")
    at = _open(tmp_path / "one", monkeypatch, "compare.py")
    assert any("comparing needs two models' predictions" in i.value and "explorer add-predictions" in i.value
               for i in at.info)


def test_slices_page_opens_a_slice_in_the_failure_explorer(detection_project, monkeypatch):
    from explorer.analysis.outcomes import detection_outcomes, rated
    from explorer.analysis.slices import slice_mask, weakest_slices

    at = _open(detection_project, monkeypatch, "slices.py")
    assert at.title[0].value == "Slices"
    assert [s.value for s in at.subheader] == ["Metric × metric", "Weakest slices"]
    project = Project.load(detection_project)
    table = rated(detection_outcomes(project, Selection(iou_threshold=0.5), "labels"), "detected")
    metrics = at.multiselect(key="slices_metrics.labels").value
    expected = weakest_slices(table[metrics], table["detected"].to_numpy(bool))
    options = at.selectbox(key="slices_pick.labels.4.30").options
    assert len(options) == len(expected) and options[0].startswith("1: ")
    at.button(key="slices_open_failures").click().run()
    assert not at.exception, at.exception
    chosen = at.session_state["failure_selection"]
    first = expected.iloc[0].to_dict()
    assert sorted(chosen["label_ids"]) == sorted(table.index[slice_mask(table, first)].tolist())
    assert chosen["pred_ids"] == [] and chosen["title"].startswith("Slice: ")


def test_slices_page_heatmap_and_slices_follow_the_iou_and_the_target(detection_project, monkeypatch):
    # the page keeps the bins per row set and recounts the outcome after a control change: what it shows equals the
    # analysis run afresh on the rated rows, after an IoU move, for predictions, and after a class change
    import base64
    import json

    import numpy as np

    from explorer.analysis.outcomes import detection_outcomes, rated
    from explorer.analysis.slices import heatmap, weakest_slices

    at = _open(detection_project, monkeypatch, "slices.py")
    project = Project.load(detection_project)
    first_class = sorted(project.category_names)[0]

    def check(target, column, iou, classes=None):
        table = rated(detection_outcomes(project, Selection(iou_threshold=iou, classes=classes), target), column)
        x, y = at.selectbox(key=f"slices_x.{target}").value, at.selectbox(key=f"slices_y.{target}").value
        cells = heatmap(table[x].to_numpy(np.float64), table[y].to_numpy(np.float64), table[column].to_numpy(bool),
                        n_bins=5)
        (chart,) = [c for c in at.get("plotly_chart") if "Heatmap" in c.proto.spec or '"heatmap"' in c.proto.spec]
        z = json.loads(chart.proto.spec)["data"][0]["z"]
        if isinstance(z, dict):
            z = np.frombuffer(base64.b64decode(z["bdata"]), z["dtype"]).reshape([int(n) for n in z["shape"].split(",")])
        want = cells["rate"].to_numpy(np.float64).reshape(cells["x_bin"].max() + 1, -1).T
        np.testing.assert_array_equal(np.asarray(z, np.float64), want)
        metrics = at.multiselect(key=f"slices_metrics.{target}").value
        expected = weakest_slices(table[metrics], table[column].to_numpy(bool))
        shown = [d.value for d in at.dataframe if "gap" in d.value.columns]
        assert len(shown) == 1 and len(shown[0]) == len(expected) > 0
        for col in ("n", "rate", "rest_rate", "gap", "gap_lo", "gap_hi"):
            np.testing.assert_array_equal(shown[0][col].to_numpy(), expected[col].to_numpy())

    check("labels", "detected", 0.5)
    at.slider(key="iou_threshold").set_value(0.8).run()
    check("labels", "detected", 0.8)
    at.radio(key="slices_target").set_value("predictions (precision)").run()
    check("predictions", "is_tp", 0.8)
    at.multiselect(key="classes").set_value([project.category_names[first_class]]).run()
    check("predictions", "is_tp", 0.8, classes=(first_class,))
