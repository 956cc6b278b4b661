"""Suspected label errors: each reason on a hand-made image, the fixes, "mAP if fixed", and the planted-error
validation on the bundled sample (precision@50 of the queue)."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest

from explorer.analysis.suspects import REASONS, duplicate_labels, filter_suspects, fix_labels, map_if_fixed, suspects
from explorer.commands.suspects import suspects_coco
from explorer.io.detection import import_detection
from explorer.project.selection import Selection
from explorer.resources import sample_data_dir


def project_from(tmp_path, labels, preds, n_classes=2, name="p"):
    """A detection project of one 200x200 image: ``labels`` (class, box), ``preds`` (class, score, box)."""
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 200, "height": 200}],
          "categories": [{"id": c, "name": f"c{c}"} for c in range(1, n_classes + 1)],
          "annotations": [{"id": i + 1, "image_id": 1, "category_id": c, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
                          for i, (c, b) in enumerate(labels)]}
    dt = [{"image_id": 1, "category_id": c, "score": s, "bbox": b} for c, s, b in preds]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    project, _ = import_detection(tmp_path / name, labels=tmp_path / "gt.json", predictions=tmp_path / "dt.json")
    return project


@pytest.fixture
def five_reasons(tmp_path):
    labels = [(1, [0, 0, 20, 20]),       # 1: found (TP, IoU 1)
              (1, [50, 0, 20, 20]),      # 2: a class-2 detection sits on it: wrong class?
              (1, [100, 0, 20, 20]),     # 3: a detection overlaps it at IoU 0.43: loose box?
              (2, [0, 100, 20, 20]),     # 4: found
              (2, [0, 100, 20, 19]),     # 5: same class, IoU 0.95 with 4: duplicate label?
              (1, [150, 150, 40, 40]),   # 6: large, never found while smaller class-1 labels are: spurious?
              (1, [0, 50, 10, 10])]      # 7: found
    preds = [(1, 0.9, [0, 0, 20, 20]), (2, 0.8, [50, 0, 20, 20]), (1, 0.7, [108, 0, 20, 20]),
             (2, 0.6, [0, 100, 20, 20]), (2, 0.97, [100, 150, 20, 20]),  # the 5th: on nothing: missing label?
             (1, 0.9, [0, 50, 10, 10])]
    return project_from(tmp_path, labels, preds)


def test_every_reason_on_one_image(five_reasons):
    q = suspects(five_reasons, Selection())
    got = [(r.reason_code, None if pd.isna(r.label_id) else int(r.label_id),
            None if pd.isna(r.pred_id) else int(r.pred_id), round(float(r.score), 4)) for r in q.itertuples()]
    # pred ids are the results' 1-based positions. The missed label 6: of the 4 smaller class-1 labels 2 are
    # detected at 0.5 (1 and 7), times the class's median true-positive score 0.9 -> 0.45. Label 5 is also
    # never taken, but no smaller class-2 label exists: score 0.
    assert got == [("missing_label", None, 5, 0.97),
                   ("duplicate_label", 5, None, 0.95),
                   ("wrong_class", 2, 2, 0.8),
                   ("loose_box", 3, 3, 0.7),
                   ("missed_label", 6, None, 0.45)]
    assert set(q["reason"]) <= set(REASONS.values())
    assert q["file_name"].tolist() == ["a.jpg"] * 5
    assert q.loc[q["reason_code"] == "loose_box", "iou"].tolist() == [pytest.approx(240 / 560)]
    assert filter_suspects(q, reasons=["wrong_class", "loose_box"])["label_id"].tolist() == [2, 3]
    assert filter_suspects(q, classes=[2])["reason_code"].tolist() == ["missing_label", "duplicate_label"]


def test_duplicate_labels_pairs():
    labels = pd.DataFrame({"label_id": [1, 2, 3, 4], "image_id": [1, 1, 1, 2], "category_id": [1, 1, 2, 1],
                           "x": [0.0, 0, 0, 0], "y": [0.0, 0, 0, 0], "w": [10.0, 10, 10, 10], "h": [10.0, 8, 10, 10],
                           "iscrowd": [False] * 4})
    d = duplicate_labels(labels)
    assert d[["label_id", "other_label_id"]].values.tolist() == [[2, 1]]
    assert d["iou"].tolist() == [pytest.approx(0.8)]


def test_fixes_and_map_if_fixed(five_reasons):
    q = suspects(five_reasons, Selection())
    fixed = fix_labels(five_reasons, q)
    by_id = fixed.set_index("label_id")
    assert 5 not in by_id.index and 6 not in by_id.index          # duplicate and spurious labels dropped
    assert by_id.loc[2, "category_id"] == 2                       # takes the detection's class
    assert by_id.loc[3, ["x", "y", "w", "h"]].tolist() == [108, 0, 20, 20]  # takes the detection's box
    new = by_id.loc[8]                                            # the missing label, after the largest id
    assert (new["category_id"], new["x"], new["y"], new["w"]) == (2, 100, 150, 20)
    assert len(five_reasons.labels) == 7                          # the project's labels are untouched
    numbers = map_if_fixed(five_reasons, Selection(), q)
    # fixed, every detection is the exact box of a label of its class: AP 1 at every IoU
    assert (numbers["ap_t_fixed"], numbers["map_fixed"], numbers["n_fixed"]) == (pytest.approx(1.0), pytest.approx(1.0), 5)
    assert numbers["ap_t"] < 1
    none = map_if_fixed(five_reasons, Selection(), q.iloc[:0])
    assert none["ap_t_fixed"] == none["ap_t"]


def test_suspects_coco_lists_the_queue(five_reasons):
    q = suspects(five_reasons, Selection())
    doc = suspects_coco(five_reasons, q)
    assert [a["id"] for a in doc["annotations"]] == [1, 2, 3, 4, 5, 6, 7]
    assert [(s["reason_code"], s["label_id"], s["pred_id"]) for s in doc["suspects"]] == \
        [("missing_label", None, 5), ("duplicate_label", 5, None), ("wrong_class", 2, 2), ("loose_box", 3, 3),
         ("missed_label", 6, None)]
    assert doc["suspects"][0]["proposed_bbox"] == [100, 150, 20, 20] and doc["suspects"][0]["proposed_category_id"] == 2


def _generator():
    """The sample's generator script as a module (registered while it runs: its dataclasses need that)."""
    import sys

    name = "_make_detection_for_test"
    spec = importlib.util.spec_from_file_location(name, sample_data_dir() / "detection" / "make_detection.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def test_planting_leaves_the_sample_alone(tmp_path):
    gen = _generator()
    sample = sample_data_dir() / "detection"
    before = (sample / "labels.json").read_bytes()
    assert gen.write_planted(tmp_path / "planted") == 75
    assert (sample / "labels.json").read_bytes() == before
    planted = json.loads((tmp_path / "planted" / "planted.json").read_text())
    assert [sum(p["kind"] == k for p in planted) for k in gen.PLANT_KINDS] == [25, 25, 25]
    labels = json.loads((tmp_path / "planted" / "labels.json").read_text())
    assert len(labels["annotations"]) == len(json.loads(before)["annotations"]) - 25


# Measured on the bundled sample (baseline run, IoU 0.50): 31 of the queue's 50 best are planted errors. The
# misses are mostly the simulated model's own planted class confusions (7 %), which look exactly like relabels.
PRECISION_AT_50 = 0.62


def test_planted_label_errors_are_found(tmp_path):
    from explorer.analysis.suspects import _box_iou

    gen = _generator()
    sample = sample_data_dir() / "detection"
    gen.write_planted(tmp_path / "planted")
    project, _ = import_detection(tmp_path / "project", images=sample / "images",
                                  labels=tmp_path / "planted" / "labels.json",
                                  predictions=sample / "predictions.json", splits=sample / "splits.csv", run="baseline")
    planted = json.loads((tmp_path / "planted" / "planted.json").read_text())
    q = suspects(project, Selection()).head(50)
    changed = {p["label_id"] for p in planted if p["kind"] != "dropped"}
    hit = q["label_id"].isin(changed).to_numpy(bool)
    # a dropped label is found when a "missing label" suspect's detection covers its true box (IoU >= 0.5)
    dropped = pd.DataFrame([p for p in planted if p["kind"] == "dropped"])
    preds = project.predictions.set_index("pred_id")
    miss = q[q["reason_code"] == "missing_label"]
    pairs = miss.merge(dropped[["image_id", "bbox"]], on="image_id")
    boxes = preds.loc[pairs["pred_id"].astype(np.int64), ["x", "y", "w", "h"]].to_numpy(np.float64)
    covered = pairs.loc[_box_iou(boxes, np.array(pairs["bbox"].tolist(), np.float64)) >= 0.5, "pred_id"]
    hit |= q["pred_id"].isin(covered.astype(np.int64)).to_numpy(bool) & (q["reason_code"] == "missing_label").to_numpy()
    assert len(q) == 50
    assert hit.mean() == pytest.approx(PRECISION_AT_50)
    found = q[hit]["reason_code"].value_counts().to_dict()
    assert found == {"wrong_class": 11, "missing_label": 11, "loose_box": 9}


def _fresh_map_if_fixed(project, sel, chosen) -> dict:
    """The definition of ``map_if_fixed``: ``evaluate_coco`` of the fixed labels (and of the labels as they are)
    on the selection's images, classes and kept predictions, at 0.50:0.95 and at t alone."""
    from explorer.evaluation import evaluate_coco
    from explorer.evaluation.inputs import from_tables

    ids = sel.image_ids(project)
    options = {"iou_type": "bbox", "cat_ids": sel.class_list(), "image_ids": None if ids is None else list(ids)}
    preds = project.predictions[project.predictions["score"].to_numpy() >= sel.confidence_threshold]

    def numbers(labels):
        data = from_tables(labels, preds, images=project.images, categories=project.categories)
        return (evaluate_coco(data, **options).summary["coco/bbox_mAP"],
                evaluate_coco(data, iou_thresholds=[sel.iou_threshold], **options).summary["coco/bbox_mAP"])

    (m, t), (mf, tf) = numbers(project.labels), numbers(fix_labels(project, chosen))
    return {"map": m, "map_fixed": mf, "ap_t": t, "ap_t_fixed": tf, "n_fixed": len(chosen)}


def test_map_if_fixed_is_a_fresh_evaluation_of_the_fixed_labels(detection_project):
    """One accumulation on the matched state (only the touched images re-matched) gives the numbers of two fresh
    evaluations, bit for bit: IoUs on and off the COCO grid (0.9 is not 0.8999999999999999), classes, a split, a
    confidence threshold, each reason alone and mixed."""
    from explorer.project.folder import Project

    project = Project.load(detection_project)
    cats = sorted(int(c) for c in project.categories["category_id"])
    split = sorted(project.images["split"].dropna().unique())[0]
    same = lambda a, b: a == b or (np.isnan(a) and np.isnan(b))  # noqa: E731
    for sel in (Selection(), Selection(iou_threshold=0.9), Selection(iou_threshold=0.3, classes=tuple(cats[:2])),
                Selection(iou_threshold=0.55, split=split), Selection(confidence_threshold=0.4)):
        q = suspects(project, sel)
        choices = [q.head(40), q.iloc[:0]] + [q[q["reason_code"] == r].head(15) for r in REASONS]
        for chosen in choices:
            got, want = map_if_fixed(project, sel, chosen), _fresh_map_if_fixed(project, sel, chosen)
            assert got.keys() == want.keys() and all(same(got[k], want[k]) for k in got), (sel, got, want)
        assert len(q) and any(len(c) for c in choices[2:])
