"""``Matcher.match`` equals pycocotools' per-image matches; FP reasons; confidence threshold; cached IoUs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer.evaluation import Matcher
from explorer.evaluation.coco import IOU_THRESHOLDS
from random_coco import random_coco, run_pycocotools


@pytest.mark.parametrize("seed,iou_type", [(s, "bbox") for s in range(8)] + [(s, "segm") for s in range(3)])
def test_matches_equal_pycocotools_eval_imgs(seed, iou_type):
    gt, dt = random_coco(seed, iou_type=iou_type)
    ev = run_pycocotools(gt, dt, iou_type=iou_type)
    matcher = Matcher.from_coco(gt, dt, iou_type=iou_type)
    n_img = len(ev.params.imgIds)
    all_area = [e for e in ev.evalImgs[: len(ev.params.catIds) * 4 * n_img] if e is not None and e["aRng"] == [0, 1e10]]
    for t_index, t in enumerate(IOU_THRESHOLDS):
        res = matcher.match(t)
        p = res.predictions.set_index("pred_id")
        lab = res.labels.set_index("label_id")
        n_checked = 0
        for e in all_area:
            ids = e["dtIds"]
            got = p.loc[ids, "label_id"].to_numpy(np.int64, na_value=0)  # pycocotools: 0 = unmatched
            np.testing.assert_array_equal(got, e["dtMatches"][t_index])
            np.testing.assert_array_equal(p.loc[ids, "ignored"].to_numpy(), e["dtIgnore"][t_index].astype(bool))
            got_gt = lab.loc[e["gtIds"], "pred_id"].to_numpy(np.int64, na_value=0)
            np.testing.assert_array_equal(got_gt, e["gtMatches"][t_index])
            n_checked += len(ids)
        evaluated = (p["rank"] < 100).sum()
        assert n_checked == evaluated
        # beyond the 100 cut: ignored, no reason, never TP
        cut = p[p["rank"] >= 100]
        assert cut["ignored"].all() and cut["fp_reason"].isna().all() and not cut["is_tp"].any()


def _tables(rows_labels, rows_preds):
    labels = pd.DataFrame(rows_labels, columns=["label_id", "image_id", "category_id", "x", "y", "w", "h", "iscrowd"])
    labels["area"] = labels["w"] * labels["h"]
    labels["segmentation"] = None
    preds = pd.DataFrame(rows_preds, columns=["pred_id", "image_id", "category_id", "x", "y", "w", "h", "score"])
    preds["area"] = preds["w"] * preds["h"]
    preds["segmentation"] = None
    return labels, preds


def test_fp_reasons_by_construction():
    labels, preds = _tables(
        [(1, 1, 1, 0, 0, 10, 10, False), (2, 1, 2, 50, 50, 10, 10, False), (3, 1, 1, 100, 0, 10, 10, False)],
        [(10, 1, 1, 0, 0, 10, 10, 0.9),    # TP on label 1
         (11, 1, 1, 0, 0, 10, 10, 0.8),    # duplicate of label 1
         (12, 1, 1, 50, 50, 10, 10, 0.7),  # wrong class (label 2 is class 2)
         (13, 1, 1, 100, 0, 10, 4, 0.6),   # localisation: IoU 0.4 with label 3
         (14, 1, 1, 200, 200, 5, 5, 0.5)]) # background
    r = Matcher(labels, preds).match(0.5)
    p = r.predictions.set_index("pred_id")
    assert p.loc[10, "is_tp"] and p.loc[10, "label_id"] == 1 and p.loc[10, "iou"] == 1.0
    assert p.loc[[11, 12, 13, 14], "fp_reason"].tolist() == ["duplicate", "wrong_class", "localisation", "background"]
    assert p.loc[13, "max_iou_same_class"] == pytest.approx(0.4)
    lab = r.labels.set_index("label_id")
    assert lab["detected"].tolist() == [True, False, False]
    # at t=0.3 the localisation prediction becomes a TP
    r2 = Matcher(labels, preds).match(0.3)
    assert r2.predictions.set_index("pred_id").loc[13, "is_tp"]


def test_crowd_matches_are_ignored_and_repeatable():
    labels, preds = _tables([(1, 1, 1, 0, 0, 100, 100, True)],
                            [(10, 1, 1, 0, 0, 10, 10, 0.9), (11, 1, 1, 20, 20, 10, 10, 0.8)])
    r = Matcher(labels, preds).match(0.5)
    p = r.predictions
    assert p["ignored"].all() and not p["is_tp"].any() and p["fp_reason"].isna().all()
    assert (p["iou"] == 1.0).all()  # crowd IoU = intersection / prediction area
    lab = r.labels.iloc[0]
    assert lab["ignored"] and lab["pred_id"] == 11  # last (lowest-score) match, as pycocotools records


@pytest.mark.parametrize("seed", range(4))
def test_confidence_threshold_equals_matching_only_kept_predictions(seed):
    gt, dt = random_coco(seed, iou_type="bbox")
    matcher = Matcher.from_coco(gt, dt)
    for c in (0.3, 0.55, 0.8):
        for t in (0.5, 0.75):
            got = matcher.match(t, confidence_threshold=c)
            kept = [dict(r, id=i + 1) for i, r in enumerate(dt)]
            kept = [r for r in kept if r["score"] >= c]
            fresh = Matcher.from_coco(gt, [{k: v for k, v in r.items() if k != "id"} for r in kept]).match(t)
            # fresh numbers its predictions 1..n: map them back to the original ids
            fresh_ids = np.array([r["id"] for r in kept])
            fp = fresh.predictions.copy()
            fp["pred_id"] = fresh_ids[fp["pred_id"] - 1]
            cols = ["pred_id", "is_tp", "label_id", "iou", "fp_reason", "ignored"]
            a = got.predictions[got.predictions["rank"] < 100][cols].sort_values("pred_id").reset_index(drop=True)
            b = fp[fp["rank"] < 100][cols].sort_values("pred_id").reset_index(drop=True)
            pd.testing.assert_frame_equal(a, b)
            fl = fresh.labels.copy()
            fresh_pred = fl["pred_id"].to_numpy(np.int64, na_value=0)
            fl["pred_id"] = pd.arrays.IntegerArray(np.where(fresh_pred > 0, fresh_ids[np.maximum(fresh_pred - 1, 0)], 0),
                                                   fl["pred_id"].isna().to_numpy())
            pd.testing.assert_frame_equal(got.labels.sort_values("label_id").reset_index(drop=True),
                                          fl.sort_values("label_id").reset_index(drop=True))
            assert (got.predictions["score"] >= c).all()


def test_rematch_reuses_cached_ious():
    gt, dt = random_coco(1, iou_type="bbox")
    matcher = Matcher.from_coco(gt, dt)
    before = matcher.layout.ious
    snapshot = before.copy()
    for t in (0.1, 0.5, 0.9):
        matcher.match(t)
    assert matcher.layout.ious is before
    np.testing.assert_array_equal(before, snapshot)


def project_from_coco(root, gt, dt):
    """A real project folder (explorer.project.folder.Project) holding a COCO dataset and its box results."""
    import json

    from explorer.project.folder import Project

    images = pd.DataFrame({"image_id": [im["id"] for im in gt["images"]], "file_name": [f"{im['id']}.jpg" for im in gt["images"]],
                           "width": [float(im["width"]) for im in gt["images"]],
                           "height": [float(im["height"]) for im in gt["images"]], "split": "val"})
    cats = pd.DataFrame({"category_id": [c["id"] for c in gt["categories"]], "name": [c["name"] for c in gt["categories"]],
                         "supercategory": None})
    a = gt["annotations"]
    labels = pd.DataFrame({"label_id": [x["id"] for x in a], "image_id": [x["image_id"] for x in a],
                           "category_id": [x["category_id"] for x in a],
                           **{k: [x["bbox"][i] for x in a] for i, k in enumerate("xywh")},
                           "area": [x["area"] for x in a], "iscrowd": [bool(x["iscrowd"]) for x in a],
                           "segmentation": [json.dumps(x["segmentation"]) if "segmentation" in x else None for x in a]})
    preds = pd.DataFrame({"pred_id": np.arange(1, len(dt) + 1), "image_id": [x["image_id"] for x in dt],
                          "category_id": [x["category_id"] for x in dt],
                          **{k: [x["bbox"][i] for x in dt] for i, k in enumerate("xywh")},
                          "area": [x["bbox"][2] * x["bbox"][3] for x in dt], "score": [x["score"] for x in dt],
                          "segmentation": None})
    Project.create(root, task="detection", images=images, categories=cats, labels=labels, predictions=preds)
    return Project.load(root)


def test_project_path_equals_coco_path(tmp_path):
    from explorer.evaluation import evaluate_coco

    gt, dt = random_coco(2, iou_type="bbox")
    project = project_from_coco(tmp_path / "p", gt, dt)
    assert evaluate_coco(project).summary == evaluate_coco(gt, dt).summary
    assert evaluate_coco(project, dt).summary == evaluate_coco(gt, dt).summary  # project labels + results file
    a = Matcher.from_project(project).match(0.5).predictions
    b = Matcher.from_coco(gt, dt).match(0.5).predictions
    pd.testing.assert_frame_equal(a, b)
    fp = a[~a["is_tp"] & ~a["ignored"]]
    assert len(fp) and fp["fp_reason"].notna().all()


def _same_match(a, b) -> None:
    for x, y in ((a.predictions, b.predictions), (a.labels, b.labels)):
        pd.testing.assert_frame_equal(x, y, check_exact=True)
    np.testing.assert_array_equal(a.score_order, b.score_order)
    np.testing.assert_array_equal(a.class_score_order, b.class_score_order)


def test_project_matcher_arrays_are_saved_and_memory_mapped(tmp_path):
    from explorer.evaluation import matcher as matcher_mod

    gt, dt = random_coco(3, iou_type="bbox")
    project = project_from_coco(tmp_path / "p", gt, dt)
    fresh = Matcher.from_coco(gt, dt)
    built = Matcher.from_project(project)
    folder = tmp_path / "p" / "cache" / "matcher" / f"{project.fingerprint}-bbox"
    assert sorted(p.stem for p in folder.iterdir()) == sorted(matcher_mod._SAVED + matcher_mod._DERIVED)
    loaded = Matcher.from_project(project)  # from the saved files
    assert isinstance(loaded.layout.ious.base, np.memmap) and not isinstance(built.layout.ious.base, np.memmap)
    # the layout-order columns and the re-match inputs are the saved files' pages, not the process's own memory
    for mapped in (loaded._dt_cols["pred_id"], loaded._dt_cols["score"], loaded._gt_cols["label_id"],
                   loaded.gt_counts, loaded.dt_outside, loaded._rematch.ious, loaded._rematch.d0):
        assert _on_file(mapped)
    np.testing.assert_array_equal(loaded.layout.ious, fresh.layout.ious)
    for t, c in ((0.5, 0.0), (0.75, 0.3), (0.1, 0.55)):
        _same_match(loaded.match(t, confidence_threshold=c), fresh.match(t, confidence_threshold=c))
    # a truncated file, a file of the wrong size: built afresh, same numbers, and saved again
    with open(folder / "ious.npy", "r+b") as f:
        f.truncate(100)
    again = Matcher.from_project(project)
    assert not isinstance(again.layout.ious.base, np.memmap)
    _same_match(again.match(0.5), fresh.match(0.5))
    np.save(folder / "dt_rows.npy", np.arange(3))
    _same_match(Matcher.from_project(project).match(0.5), fresh.match(0.5))
    assert isinstance(Matcher.from_project(project).layout.ious.base, np.memmap)


def test_a_folder_saved_before_the_derived_arrays_gains_them(tmp_path):
    """A folder holding only the layout (written before the derived arrays were kept) opens without a rebuild,
    gives the same match, and has the derived arrays added; a derived file of the wrong size is recomputed."""
    from explorer.evaluation import matcher as matcher_mod

    gt, dt = random_coco(4, iou_type="bbox")
    project = project_from_coco(tmp_path / "p", gt, dt)
    fresh = Matcher.from_coco(gt, dt)
    Matcher.from_project(project)
    folder = tmp_path / "p" / "cache" / "matcher" / f"{project.fingerprint}-bbox"
    for name in matcher_mod._DERIVED:
        (folder / f"{name}.npy").unlink()
    np.save(folder / "ious.npy", np.load(folder / "ious.npy"))  # the layout stays (same bytes)
    older = Matcher.from_project(project)
    assert isinstance(older.layout.ious.base, np.memmap)  # the layout was read, not rebuilt
    _same_match(older.match(0.5, confidence_threshold=0.3), fresh.match(0.5, confidence_threshold=0.3))
    assert sorted(p.stem for p in folder.iterdir()) == sorted(matcher_mod._SAVED + matcher_mod._DERIVED)
    np.save(folder / "dt_score.npy", np.zeros(3))
    np.save(folder / "rematch_ious.npy", np.zeros(3))
    for t, c in ((0.5, 0.0), (0.75, 0.3)):
        _same_match(Matcher.from_project(project).match(t, confidence_threshold=c),
                    fresh.match(t, confidence_threshold=c))
    again = Matcher.from_project(project)
    assert len(again._dt_cols["score"]) == len(dt) and _on_file(again._dt_cols["score"])


def _on_file(a) -> bool:
    """Whether array ``a`` is (a view of) a memory-mapped file."""
    while a is not None:
        if isinstance(a, np.memmap):
            return True
        a = a.base
    return False


def test_unwritable_cache_folder_builds_without_saving(tmp_path):
    gt, dt = random_coco(2, iou_type="bbox")
    project = project_from_coco(tmp_path / "p", gt, dt)
    (tmp_path / "p" / "cache").write_text("not a folder")  # neither readable nor writable as a folder
    _same_match(Matcher.from_project(project).match(0.5), Matcher.from_coco(gt, dt).match(0.5))
    assert (tmp_path / "p" / "cache").read_text() == "not a folder"
