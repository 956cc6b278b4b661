"""Model A vs model B: fixed/broken objects by hand, the bundled sample's two runs with exact values (and the same
numbers from independent paths), per-bucket deltas, the CLI's JSON, and the states without two runs."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from explorer.analysis.compare import (
    bucket_deltas,
    compare_runs,
    object_changes,
    overlapped,
    paired_box_iou,
    run_bucket_deltas,
    runs_to_compare,
)
from explorer.errors import UserError
from explorer.evaluation import Matcher, detection_summary
from explorer.project.folder import Project
from explorer.project.selection import Selection


def _labels(rows):
    lab = pd.DataFrame(rows, columns=["image_id", "category_id", "x", "y", "w", "h"])
    lab.insert(0, "label_id", np.arange(1, len(lab) + 1))
    lab["area"], lab["iscrowd"], lab["segmentation"] = lab["w"] * lab["h"], 0, None
    return lab


def _preds(rows, first_id):
    pred = pd.DataFrame(rows, columns=["image_id", "category_id", "x", "y", "w", "h", "score"])
    pred.insert(0, "pred_id", np.arange(first_id, first_id + len(pred)))
    pred["area"], pred["segmentation"] = pred["w"] * pred["h"], None
    return pred


def test_paired_box_iou_and_overlap():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 0, 0]], float)
    b = np.array([[5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 0, 0]], float)
    np.testing.assert_array_equal(paired_box_iou(a, b), [50 / 150, 0.0, 0.0])
    boxes_a = pd.DataFrame({"image_id": [1, 1, 2], "category_id": [1, 2, 1], "x": [0, 0, 0], "y": [0, 0, 0],
                            "w": [10, 10, 10], "h": [10, 10, 10]})
    boxes_b = pd.DataFrame({"image_id": [1, 1, 2], "category_id": [1, 1, 1], "x": [1, 0, 8], "y": [0, 0, 0],
                            "w": [10, 10, 10], "h": [10, 10, 10]})
    a_hit, b_hit = overlapped(boxes_a, boxes_b, 0.5)
    # image 1 class 1 overlaps both B boxes; class 2 has no B box; image 2: IoU 20/180 < 0.5
    np.testing.assert_array_equal(a_hit, [True, False, False])
    np.testing.assert_array_equal(b_hit, [True, True, False])


def test_fixed_and_broken_by_hand():
    labels = _labels([(1, 1, 0, 0, 10, 10), (1, 1, 50, 50, 10, 10)])
    images = pd.DataFrame({"image_id": [1], "width": 100, "height": 100})
    run_a = _preds([(1, 1, 0, 0, 10, 10, 0.9),      # finds label 1
                    (1, 1, 80, 80, 10, 10, 0.8),    # background FP, B has one at IoU 81/119
                    (1, 2, 30, 0, 10, 10, 0.6)], 1)  # class-2 FP that B does not repeat: fixed
    run_b = _preds([(1, 1, 50, 50, 10, 10, 0.9),    # finds label 2
                    (1, 1, 81, 81, 10, 10, 0.7),    # the same FP as A's
                    (1, 1, 20, 20, 10, 10, 0.5)], 10)  # a new FP: broken
    ma = Matcher(labels, run_a, images=images).match(0.5)
    mb = Matcher(labels, run_b, images=images).match(0.5)
    fixed, broken = object_changes(ma, mb, run_a, run_b, "A", "B")
    assert fixed[["change", "kind", "run", "record", "id", "outcome"]].values.tolist() == [
        ["fixed", "label", "B", "label", 2, "TP"], ["fixed", "false detection", "A", "prediction", 3, "FP"]]
    assert broken[["change", "kind", "run", "record", "id", "outcome"]].values.tolist() == [
        ["broken", "label", "B", "label", 1, "FN"], ["broken", "false detection", "B", "prediction", 12, "FP"]]
    assert int(fixed.loc[0, "partner_id"]) == 10  # B's prediction that found label 2
    # at IoU 0.75 the two background FPs (IoU 0.68) no longer count as the same: A's is gone, B's is new
    fixed75, broken75 = object_changes(Matcher(labels, run_a, images=images).match(0.75),
                                       Matcher(labels, run_b, images=images).match(0.75), run_a, run_b, "A", "B")
    assert sorted(fixed75.loc[fixed75["kind"] == "false detection", "id"]) == [2, 3]
    assert sorted(broken75.loc[broken75["kind"] == "false detection", "id"]) == [11, 12]


def test_bucket_deltas_by_hand():
    out = bucket_deltas([0.0, 1.0, 2.0, 3.0], [False, False, True, True], [0.0, 1.0, 2.0, 3.0],
                        [True, False, True, False], kind="labels", n_buckets=2)
    assert out["range"].tolist() == ["[0, 1.5)", "[1.5, 3]"]
    np.testing.assert_array_equal(out["rate_a"], [0.0, 1.0])
    np.testing.assert_array_equal(out["rate_b"], [0.5, 0.5])
    np.testing.assert_array_equal(out["delta"], [0.5, -0.5])
    assert (out["rate_a_lo"] <= out["rate_a"]).all() and (out["rate_b"] <= out["rate_b_hi"]).all()


def test_sample_runs_exact(detection_project):
    project = Project.load(detection_project)
    sel = Selection(iou_threshold=0.5)
    c = compare_runs(project, sel, "baseline", "weaker", n_resamples=100)
    h = c.headline
    assert (round(h["map_a"], 4), round(h["map_b"], 4), round(h["map_delta"], 4)) == (0.6304, 0.4228, -0.2077)
    assert (round(h["mar_a"], 4), round(h["mar_b"], 4)) == (0.6571, 0.4850)
    lo, hi = h["map_delta_interval"]
    assert lo < h["map_delta"] < hi < 0  # the weaker run is worse beyond the noise of 240 images
    # the headline numbers are the Metrics page's (one engine)
    from explorer.analysis.outcomes import match

    for run, key in (("baseline", "map_a"), ("weaker", "map_b")):
        assert h[key] == detection_summary(match(project.for_run(run), sel))["mAP"]
    assert c.counts() == {"fixed_labels": 82, "fixed_false_detections": 472, "broken_labels": 246,
                          "broken_false_detections": 589}
    # fixed / broken labels from the two outcome tables directly
    from explorer.analysis.outcomes import detection_outcomes

    da = detection_outcomes(project.for_run("baseline"), sel, "labels")
    db = detection_outcomes(project.for_run("weaker"), sel, "labels")
    ok = ~da["ignored"].to_numpy(bool)
    a, b = da["detected"].to_numpy(bool, na_value=False), db["detected"].to_numpy(bool, na_value=False)
    assert sorted(c.fixed.loc[c.fixed["kind"] == "label", "id"]) == sorted(da.index[ok & ~a & b])
    assert sorted(c.broken.loc[c.broken["kind"] == "label", "id"]) == sorted(da.index[ok & a & ~b])
    assert c.per_class["ap_delta"].round(4).tolist() == [-0.1944, -0.2063, -0.1656, -0.2643]
    # the same resamples give the same interval
    assert compare_runs(project, sel, "baseline", "weaker", n_resamples=100).headline["map_delta_interval"] == [lo, hi]
    deltas = run_bucket_deltas(project, sel, "baseline", "weaker", "relative_area", target="labels", n_buckets=5)
    assert deltas["n_a"].tolist() == deltas["n_b"].tolist() and int(deltas["n_a"].sum()) == int(ok.sum())
    assert (deltas["delta"] < 0).all()


def test_split_and_class_filter(detection_project):
    project = Project.load(detection_project)
    sel = Selection(split="val", classes=(1,), iou_threshold=0.75)
    c = compare_runs(project, sel, "weaker", "baseline", n_resamples=20)
    assert c.headline["n_images"] == int((project.images["split"] == "val").sum())
    assert c.per_class["category_id"].tolist() == [1]
    assert c.headline["map_delta"] > 0  # B = baseline is the better run now
    for table in (c.fixed, c.broken):
        assert set(table["category_id"]) <= {1}
        assert table["image_id"].isin(project.images.loc[project.images["split"] == "val", "image_id"]).all()


def test_cli_json(detection_project, tmp_path, capsys):
    from explorer.cli import main

    out = tmp_path / "compare.json"
    assert main(["compare", str(detection_project), "--runs", "baseline", "weaker", "--resamples", "50",
                 "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert {"map_a", "map_b", "map_delta", "map_delta_interval", "fixed", "broken"} <= set(doc)
    assert round(doc["map_delta"], 4) == -0.2077 and len(doc["map_delta_interval"]) == 2
    assert len(doc["fixed"]) == 82 + 472 and len(doc["broken"]) == 246 + 589
    assert doc["fixed"][0]["change"] == "fixed" and doc["n_resamples"] == 50
    assert "B − A -0.2077" in capsys.readouterr().out
    assert main(["compare", str(detection_project), "--runs", "baseline", "nope"]) == 2
    assert main(["compare", str(detection_project), "--runs", "weaker", "weaker"]) == 2


def test_fewer_than_two_runs(tmp_path):
    from explorer.io import import_project
    from explorer.resources import sample_data_dir

    src = sample_data_dir() / "detection"
    project, _ = import_project(tmp_path / "one", labels=src / "labels.json", predictions=src / "predictions.json")
    with pytest.raises(UserError, match="comparing needs two"):
        runs_to_compare(project, None, None)
    with pytest.raises(UserError, match="comparing needs two"):
        compare_runs(project, Selection())


def test_false_detections_compared_in_place_as_gathered(detection_project):
    """The in-place comparison of the false detections over the whole sorted match tables (``_overlap_masked``)
    finds exactly the changes the gathered subsets do (``overlapped_arrays``), at two thresholds."""
    from explorer.analysis.compare import _all_changes, _match_boxes, _row_keys
    from explorer.analysis.outcomes import match, matcher

    project = Project.load(detection_project)
    pa, pb = project.for_run("baseline"), project.for_run("weaker")
    for t in (0.5, 0.75):
        ma, mb = match(pa, Selection(iou_threshold=t)), match(pb, Selection(iou_threshold=t))
        boxes = _match_boxes(ma, matcher(pa)), _match_boxes(mb, matcher(pb))
        assert _row_keys(ma, mb)[0] is not None  # match tables are sorted by (image, class): the in-place path
        in_place, gathered = _all_changes(ma, mb, *boxes), _all_changes(ma, mb, *boxes, keys=(None, None))
        assert len(gathered.gone) > 0 and len(gathered.new) > 0
        for f in ("fixed_a", "broken_a", "fixed_b", "broken_b", "gone", "new"):
            np.testing.assert_array_equal(getattr(in_place, f), getattr(gathered, f))
