"""Pascal VOC AP equals the VOC devkit (VOCevaldet.m) and py-faster-rcnn's voc_eval, written out below as
references, on random cases with difficult objects and fractional boxes (|diff| <= 1e-12), through every entry
point (frames, an imported VOC project, COCO files, the CLI)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from explorer.errors import UserError
from explorer.evaluation import evaluate_voc
from explorer.evaluation.voc import evaluate_voc_inputs, evaluate_voc_project
from explorer.io import import_project
from explorer.io.voc import voc_corners_to_xywh
from explorer.project.selection import Selection


# ---- references: VOC corners (1-based inclusive pixel indices), no shared code with the product ---------------
def _matlab_max(a: float, b: float) -> float:
    """MATLAB's max(a, b): NaN is skipped."""
    if np.isnan(a):
        return b
    if np.isnan(b):
        return a
    return max(a, b)


def devkit_voc_eval(gt: dict, dets: list, ovthresh: float, use_07: bool) -> float:
    """VOCevaldet.m (VOC devkit) transcribed line by line for one class.

    ``gt``: {image: [(xmin, ymin, xmax, ymax, difficult), ...]}; ``dets``: [(image, confidence, xmin, ymin, xmax,
    ymax), ...] in file order. MATLAB's sort is stable; ``prec = tp ./ (fp + tp)`` is NaN where 0/0 and MATLAB's
    max skips NaN. 11-point levels ``0:0.1:1`` as py-faster-rcnn's ``np.arange(0., 1.1, 0.1)``.
    """
    npos = sum(1 for objs in gt.values() for o in objs if not o[4])
    det_flags = {img: [False] * len(objs) for img, objs in gt.items()}
    confidence = np.array([d[1] for d in dets], dtype=float)
    si = np.argsort(-confidence, kind="stable")  # [sc,si]=sort(-confidence)
    nd = len(dets)
    tp = np.zeros(nd)
    fp = np.zeros(nd)
    for d in range(nd):
        img, _, *bb = dets[si[d]]
        ovmax = -np.inf
        jmax = -1
        for j, (*bbgt, _) in enumerate(gt.get(img, [])):
            bi = [max(bb[0], bbgt[0]), max(bb[1], bbgt[1]), min(bb[2], bbgt[2]), min(bb[3], bbgt[3])]
            iw = bi[2] - bi[0] + 1
            ih = bi[3] - bi[1] + 1
            if iw > 0 and ih > 0:
                ua = ((bb[2] - bb[0] + 1) * (bb[3] - bb[1] + 1)
                      + (bbgt[2] - bbgt[0] + 1) * (bbgt[3] - bbgt[1] + 1) - iw * ih)
                ov = iw * ih / ua
                if ov > ovmax:
                    ovmax = ov
                    jmax = j
        if ovmax >= ovthresh:
            if not gt[img][jmax][4]:
                if not det_flags[img][jmax]:
                    tp[d] = 1
                    det_flags[img][jmax] = True
                else:
                    fp[d] = 1
        else:
            fp[d] = 1
    fp = np.cumsum(fp)
    tp = np.cumsum(tp)
    rec = tp / npos
    with np.errstate(invalid="ignore"):
        prec = tp / (fp + tp)
    if use_07:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            above = [p for p, r in zip(prec, rec) if r >= t and not np.isnan(p)]
            ap = ap + (max(above) if above else 0.0) / 11
        return ap
    mrec = [0.0, *rec, 1.0]
    mpre = [0.0, *prec, 0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = _matlab_max(mpre[i], mpre[i + 1])
    idx = [i for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1]]
    return float(np.sum([(mrec[i] - mrec[i - 1]) * mpre[i] for i in idx]))


def pyfasterrcnn_voc_eval(gt: dict, dets: list, ovthresh: float, use_07: bool) -> float:
    """py-faster-rcnn's lib/datasets/voc_eval.py (voc_eval + voc_ap), in memory instead of files. It differs
    from the devkit only at an IoU exactly equal to the threshold (``>`` instead of ``>=``) and in the order of
    tied confidences (``np.argsort`` is not stable), neither of which the random cases below produce."""
    class_recs = {}
    npos = 0
    for img, objs in gt.items():
        bbox = np.array([o[:4] for o in objs], dtype=float).reshape(-1, 4)
        difficult = np.array([o[4] for o in objs], dtype=bool)
        npos = npos + sum(~difficult)
        class_recs[img] = {"bbox": bbox, "difficult": difficult, "det": [False] * len(objs)}
    image_ids = [d[0] for d in dets]
    confidence = np.array([d[1] for d in dets], dtype=float)
    BB = np.array([d[2:] for d in dets], dtype=float).reshape(-1, 4)
    sorted_ind = np.argsort(-confidence)
    BB = BB[sorted_ind, :]
    image_ids = [image_ids[x] for x in sorted_ind]
    nd = len(image_ids)
    tp = np.zeros(nd)
    fp = np.zeros(nd)
    for d in range(nd):
        R = class_recs[image_ids[d]]
        bb = BB[d, :].astype(float)
        ovmax = -np.inf
        BBGT = R["bbox"].astype(float)
        if BBGT.size > 0:
            ixmin = np.maximum(BBGT[:, 0], bb[0])
            iymin = np.maximum(BBGT[:, 1], bb[1])
            ixmax = np.minimum(BBGT[:, 2], bb[2])
            iymax = np.minimum(BBGT[:, 3], bb[3])
            iw = np.maximum(ixmax - ixmin + 1.0, 0.0)
            ih = np.maximum(iymax - iymin + 1.0, 0.0)
            inters = iw * ih
            uni = ((bb[2] - bb[0] + 1.0) * (bb[3] - bb[1] + 1.0)
                   + (BBGT[:, 2] - BBGT[:, 0] + 1.0) * (BBGT[:, 3] - BBGT[:, 1] + 1.0) - inters)
            overlaps = inters / uni
            ovmax = np.max(overlaps)
            jmax = np.argmax(overlaps)
        if ovmax > ovthresh:
            if not R["difficult"][jmax]:
                if not R["det"][jmax]:
                    tp[d] = 1.0
                    R["det"][jmax] = 1
                else:
                    fp[d] = 1.0
        else:
            fp[d] = 1.0
    fp = np.cumsum(fp)
    tp = np.cumsum(tp)
    rec = tp / float(npos)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    if use_07:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = 0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
            ap = ap + p / 11.0
        return ap
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


# ---- random cases ---------------------------------------------------------------------------------------------
def random_case(seed: int, *, tied_scores: bool = False):
    """VOC corners with fractional coordinates: labels (some difficult, some sub-pixel), detections that are
    jittered copies, boxes less than 1 px beside a label, duplicates and background."""
    rng = np.random.default_rng(seed)
    classes = ["cat", "dog", "bird"][: int(rng.integers(1, 4))]
    labels, dets = [], []
    for image in [f"im{i}" for i in range(int(rng.integers(1, 9)))]:
        for _ in range(int(rng.integers(0, 7))):
            cls = str(rng.choice(classes))
            x1, y1 = rng.uniform(1, 200, 2)
            w, h = rng.uniform(0.1, 60, 2) if rng.random() < 0.9 else rng.uniform(0.05, 1.5, 2)
            difficult = bool(rng.random() < 0.25)
            labels.append((image, cls, x1, y1, x1 + w, y1 + h, difficult))
            for _ in range(int(rng.integers(0, 3))):  # detections of this object
                j = rng.normal(0, 0.15 * max(w, 1), 4)
                dets.append((image, cls, x1 + j[0], y1 + j[1], x1 + w + j[2], y1 + h + j[3]))
            if rng.random() < 0.3:  # less than a pixel to the right of the label: the devkit's IoU is positive
                gap = rng.uniform(0.01, 0.99)
                dets.append((image, cls, x1 + w + gap, y1, x1 + w + gap + w, y1 + h))
        for _ in range(int(rng.integers(0, 4))):  # background
            x1, y1 = rng.uniform(1, 200, 2)
            dets.append((image, str(rng.choice(classes)), x1, y1, x1 + rng.uniform(1, 50), y1 + rng.uniform(1, 50)))
    scores = rng.integers(1, 6, len(dets)) / 5 if tied_scores else rng.uniform(0, 1, len(dets))
    dets = [(*d[:2], float(s), *d[2:]) for d, s in zip(dets, scores)]
    return classes, labels, dets


def reference(classes, labels, dets, ovthresh, use_07, fn=devkit_voc_eval) -> dict:
    images = sorted({l[0] for l in labels} | {d[0] for d in dets})
    out = {}
    for cls in classes:
        gt = {im: [(*l[2:6], l[6]) for l in labels if l[0] == im and l[1] == cls] for im in images}
        cls_dets = [(d[0], d[2], *d[3:7]) for d in dets if d[1] == cls]
        if not any(not o[4] for objs in gt.values() for o in objs):
            out[cls] = np.nan  # npos = 0: the devkit divides by zero
            continue
        out[cls] = float(fn(gt, cls_dets, ovthresh, use_07))
    return out


def frames(labels, dets) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The product's input: project boxes converted from VOC corners by the one VOC rule."""
    gt = pd.DataFrame([l[:2] for l in labels], columns=["image", "class"])
    gt[["x", "y", "w", "h"]] = voc_corners_to_xywh(np.array([l[2:6] for l in labels]).reshape(-1, 4))
    gt["difficult"] = [l[6] for l in labels]
    dt = pd.DataFrame([(*d[:2], d[2]) for d in dets], columns=["image", "class", "score"])
    dt[["x", "y", "w", "h"]] = voc_corners_to_xywh(np.array([d[3:7] for d in dets]).reshape(-1, 4))
    return gt, dt


def valid(dets: list) -> list:
    """Detections the file readers accept: no negative width or height (they are reported, not evaluated)."""
    return [d for d in dets if d[5] - d[3] + 1 >= 0 and d[6] - d[4] + 1 >= 0]


def assert_same(got: dict, expected: dict) -> None:
    """Same AP per class; a class the product does not list (no label, no detection) is NaN in the reference."""
    for cls, ap in expected.items():
        value = got.get(cls, np.nan)
        assert (np.isnan(ap) and np.isnan(value)) or abs(value - ap) <= 1e-12, (cls, value, ap)


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("use_07", [False, True])
def test_random_cases_equal_the_devkit_and_py_faster_rcnn(seed, use_07):
    classes, labels, dets = random_case(seed)
    gt, dt = frames(labels, dets)
    for threshold in (0.1, 0.5, 0.7):
        got = evaluate_voc(gt, dt, iou_threshold=threshold, interpolation="11" if use_07 else "all")
        assert_same(got, reference(classes, labels, dets, threshold, use_07))
        assert_same(got, reference(classes, labels, dets, threshold, use_07, fn=pyfasterrcnn_voc_eval))


@pytest.mark.parametrize("seed", range(20))
def test_tied_confidences_keep_input_order_as_the_devkit(seed):
    classes, labels, dets = random_case(100 + seed, tied_scores=True)
    gt, dt = frames(labels, dets)
    for use_07 in (False, True):
        got = evaluate_voc(gt, dt, iou_threshold=0.5, interpolation="11" if use_07 else "all")
        assert_same(got, reference(classes, labels, dets, 0.5, use_07))


# ---- the rules one at a time, by hand ------------------------------------------------------------------------
def one_class(labels, dets, **kw) -> float:
    gt, dt = frames([("a", "c", *l) for l in labels], [("a", "c", *d) for d in dets])
    return evaluate_voc(gt, dt, **kw)["c"]


def test_difficult_labels_are_neither_tp_nor_fn_and_their_detections_are_ignored():
    labels = [(1, 1, 10, 10, False), (31, 1, 40, 10, True)]
    dets = [(0.9, 31, 1, 40, 10),   # on the difficult label: ignored
            (0.8, 1, 1, 10, 10),    # TP
            (0.7, 31, 1, 40, 10),   # again on the difficult label: still ignored (never "taken")
            (0.6, 61, 1, 70, 10)]   # background: FP
    # npos = 1; in confidence order TP at recall 1 with precision 1 (ignored ones count nowhere)
    assert one_class(labels, dets) == 1.0
    assert one_class(labels, dets, interpolation="11") == pytest.approx(1.0, abs=1e-15)
    # the first detection is on the difficult label: counted as a FP, the TP after it would have precision 1/2
    assert one_class(labels, dets[:2]) == 1.0
    # a difficult label nobody detects is no FN (counted as a label it would halve the recall)
    as_normal = [(l[0], l[1], l[2], l[3], False) for l in labels]
    assert one_class(labels, dets[1:2]) == 1.0 and one_class(as_normal, dets[1:2]) == 0.5
    # a detection whose *best* overlap is difficult is ignored even if a normal label also passes the threshold
    labels = [(1, 1, 10, 10, True), (2, 1, 11, 10, False)]
    assert one_class(labels, [(0.9, 1, 1, 10, 10)]) == 0.0  # ignored: recall stays 0


def test_only_difficult_labels_give_nan_and_are_left_out_of_the_mean(tmp_path):
    gt, dt = frames([("a", "c", 1, 1, 10, 10, True), ("a", "d", 1, 1, 10, 10, False)],
                    [("a", "c", 0.5, 1, 1, 10, 10), ("a", "d", 0.5, 1, 1, 10, 10)])
    got = evaluate_voc(gt, dt)
    assert np.isnan(got["c"]) and got["d"] == 1.0


def test_fractional_boxes_less_than_a_pixel_apart_overlap_as_in_the_devkit():
    # devkit: iw = 10.2 - 10.7 + 1 = 0.5, ih = 10; IoU = 5 / (10.2*10 + 10.3*10 - 5) = 0.025
    labels = [(1, 1, 10.2, 10, False)]
    dets = [(0.9, 10.7, 1, 20, 10)]
    assert one_class(labels, dets, iou_threshold=0.025) == 1.0
    assert one_class(labels, dets, iou_threshold=0.0251) == 0.0
    assert devkit_voc_eval({"a": [(*labels[0][:4], False)]}, [("a", *dets[0])], 0.025, False) == 1.0


def test_iou_equal_to_the_threshold_is_a_match_as_in_the_devkit():
    # pixels 1..10 x 1..10 (area 100) and 1..10 x 1..5 (area 50): IoU = 50 / 100 = 0.5 exactly
    labels, dets = [(1, 1, 10, 10, False)], [(0.9, 1, 1, 10, 5)]
    assert one_class(labels, dets, iou_threshold=0.5) == 1.0
    gt = {"a": [(1, 1, 10, 10, False)]}
    assert devkit_voc_eval(gt, [("a", 0.9, 1, 1, 10, 5)], 0.5, False) == 1.0  # ovmax >= minoverlap
    assert pyfasterrcnn_voc_eval(gt, [("a", 0.9, 1, 1, 10, 5)], 0.5, False) == 0.0  # its '>' (documented)


def test_empty_inputs_are_normal_cases():
    gt, dt = frames([("a", "c", 1, 1, 10, 10, False)], [("a", "c", 0.5, 1, 1, 10, 10)])
    assert evaluate_voc(gt, []) == {"c": 0.0}  # the devkit: no detection, AP 0
    assert np.isnan(evaluate_voc([], dt)["c"])  # no label: undefined
    assert evaluate_voc([], []) == {}
    # NumPy scalars and an infinite score (it sorts first, as in the references)
    dt2 = pd.concat([dt, dt.assign(score=np.inf, x=50.0)], ignore_index=True)
    assert evaluate_voc(gt, dt2)["c"] == 0.5
    typed = gt.assign(image=np.int64(3), **{"class": np.int64(1)}).astype({"x": np.float32})
    assert evaluate_voc(typed, dt.assign(image=np.int64(3), **{"class": np.int64(1)}))[1] == 1.0


def test_bad_frames_are_named():
    gt, dt = frames([("a", "c", 1, 1, 10, 10, False)], [("a", "c", 0.5, 1, 1, 10, 10)])
    dt.loc[0, "x"] = np.nan
    with pytest.raises(UserError, match="non-finite box"):
        evaluate_voc(gt, dt)
    with pytest.raises(UserError, match="missing"):
        evaluate_voc(gt.drop(columns="w"), dt)
    with pytest.raises(UserError, match="interpolation"):
        evaluate_voc(gt, dt.assign(x=1.0), interpolation="101")


# ---- entry points: imported VOC project (XML + COCO results), COCO files, CLI --------------------------------
def voc_project(tmp_path, labels, dets, classes):
    """Write VOC XML (the labels' corners as given) and COCO results converted by the one rule; import."""
    ann = tmp_path / "Annotations"
    ann.mkdir()
    images = sorted({l[0] for l in labels} | {d[0] for d in dets})
    for im in images:
        objs = "".join(
            f"<object><name>{l[1]}</name><difficult>{int(l[6])}</difficult><bndbox><xmin>{float(l[2])!r}</xmin>"
            f"<ymin>{float(l[3])!r}</ymin><xmax>{float(l[4])!r}</xmax><ymax>{float(l[5])!r}</ymax></bndbox></object>"
            for l in labels if l[0] == im)
        (ann / f"{im}.xml").write_text(f"<annotation><filename>{im}.jpg</filename><size><width>1000</width>"
                                       f"<height>1000</height></size>{objs}</annotation>")
    xywh = voc_corners_to_xywh(np.array([d[3:7] for d in dets]).reshape(-1, 4))
    results = [{"image_id": f"{d[0]}.jpg", "category_id": d[1], "bbox": [float(v) for v in b], "score": d[2]}
               for d, b in zip(dets, xywh)]
    (tmp_path / "dets.json").write_text(json.dumps(results))
    project, report = import_project(tmp_path / "p", labels=ann, predictions=tmp_path / "dets.json",
                                     classes=list(classes))
    return project, report


@pytest.mark.parametrize("seed", [1, 2, 3, 5, 8])
def test_imported_voc_project_equals_the_devkit_on_the_xml_corners(tmp_path, seed):
    """One box convention: the importer's +1 and the evaluation's plain IoU give the devkit's numbers."""
    classes, labels, dets = random_case(seed)
    images = sorted({l[0] for l in labels})  # every image needs an XML file
    dets = valid([d for d in dets if d[0] in images])
    if not labels:
        pytest.skip("empty case")
    project, report = voc_project(tmp_path, labels, dets, classes)
    assert not report.skipped, report.format()
    for protocol, use_07 in (("voc12", False), ("voc07", True)):
        result = evaluate_voc_project(project, None, protocol)
        got = dict(zip(result.per_class["name"], result.per_class["ap"]))
        expected = reference(classes, labels, dets, 0.5, use_07)
        assert_same(got, expected)
        defined = [v for v in expected.values() if not np.isnan(v)]
        assert (np.isnan(result.mAP) and not defined) or abs(result.mAP - np.mean(defined)) <= 1e-12
        assert result.per_class["n_difficult"].sum() == sum(l[6] for l in labels)


def test_importer_and_evaluation_do_not_both_add_the_pixel(tmp_path):
    """Label pixels 1..10 x 1..10 (COCO w = h = 10) and a result box [0, 0, 10, 5]: IoU 0.5, as the devkit gives
    for corners (1, 1, 10, 5); adding +1 twice would make it (11*6)/(11*11) = 0.545 and match at 0.52."""
    project, _ = voc_project(tmp_path, [("a", "c", 1, 1, 10, 10, False)], [("a", "c", 0.9, 1, 1, 10, 5)], ["c"])
    assert project.labels[["x", "y", "w", "h"]].to_numpy().tolist() == [[0, 0, 10, 10]]
    assert project.predictions[["x", "y", "w", "h"]].to_numpy().tolist() == [[0, 0, 10, 5]]
    assert evaluate_voc_project(project, iou_threshold=0.5).mAP == 1.0
    assert evaluate_voc_project(project, iou_threshold=0.52).mAP == 0.0


def test_cli_on_a_project_folder(tmp_path, capsys):
    from explorer.cli import main

    classes, labels, dets = random_case(5)
    dets = valid([d for d in dets if d[0] in {l[0] for l in labels}])
    project, _ = voc_project(tmp_path, labels, dets, classes)
    out = tmp_path / "voc07.json"
    assert main(["evaluate", str(project.root), "--protocol", "voc07", "--json", str(out)]) == 0
    expected = evaluate_voc_project(project, None, "voc07")
    written = json.loads(out.read_text())
    assert written["summary"] == {"voc07/mAP_50": expected.mAP} and written["protocol"] == "voc07"
    assert [r["ap"] for r in written["per_class"]] == [None if np.isnan(v) else v for v in expected.per_class["ap"]]
    assert "VOC2007 11-point AP" in capsys.readouterr().out
    assert main(["evaluate", str(project.root), "--protocol", "voc12", "--iou-type", "segm"]) != 0
    assert "boxes only" in capsys.readouterr().err
    # one IoU threshold may be given; the COCO-only options are refused by name
    assert main(["evaluate", str(project.root), "--protocol", "voc12", "--iou-thresholds", "0.3", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["summary"] == {"voc12/mAP_30": evaluate_voc_project(project, iou_threshold=0.3).mAP}
    capsys.readouterr()
    assert main(["evaluate", str(project.root), "--protocol", "voc07", "--max-dets", "10"]) != 0
    assert "--max-dets" in capsys.readouterr().err
    assert main(["evaluate", str(project.root), "--protocol", "voc07", "--iou-thresholds", "0.5,0.7"]) != 0
    assert "2 thresholds" in capsys.readouterr().err


def test_project_without_predictions_or_images_in_the_split(tmp_path):
    ann = tmp_path / "Annotations"
    ann.mkdir()
    (ann / "a.xml").write_text("<annotation><filename>a.jpg</filename><size><width>100</width><height>100</height>"
                               "</size><object><name>c</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax>"
                               "<ymax>10</ymax></bndbox></object></annotation>")
    project, _ = import_project(tmp_path / "p", labels=ann)
    result = evaluate_voc_project(project, None, "voc07")
    assert result.per_class["ap"].tolist() == [0.0] and result.mAP == 0.0
    empty = evaluate_voc_project(project, Selection(split="no such split"), "voc12")
    assert empty.per_class["n_labels"].tolist() == [0] and np.isnan(empty.mAP)
    assert empty.to_dict()["summary"] == {"voc12/mAP_50": None}


def test_project_selection_filters_split_and_classes(tmp_path):
    classes, labels, dets = random_case(4)
    dets = valid([d for d in dets if d[0] in {l[0] for l in labels}])
    project, _ = voc_project(tmp_path, labels, dets, classes)
    first = project.categories["category_id"].iloc[0]
    result = evaluate_voc_project(project, Selection(classes=(int(first),)), "voc12")
    assert result.per_class["category_id"].tolist() == [first]
    full = evaluate_voc_project(project, None, "voc12").per_class.set_index("category_id")
    assert result.per_class["ap"].iloc[0] == full.loc[first, "ap"] or np.isnan(full.loc[first, "ap"])
    assert result.key == "voc12/mAP_50" and set(result.to_dict()["summary"]) == {"voc12/mAP_50"}
    with pytest.raises(UserError, match="protocol"):
        evaluate_voc_project(project, None, "voc2007")


def coco_files(tmp_path, labels, dets, classes):
    """COCO ground truth (crowd = difficult) and results with boxes converted by the one VOC rule."""
    images = sorted({l[0] for l in labels} | {d[0] for d in dets})
    img_id = {im: i + 1 for i, im in enumerate(images)}
    cat_id = {c: i + 1 for i, c in enumerate(classes)}
    gxywh = voc_corners_to_xywh(np.array([l[2:6] for l in labels]).reshape(-1, 4))
    anns = [{"id": k + 1, "image_id": img_id[l[0]], "category_id": cat_id[l[1]], "bbox": [float(v) for v in b],
             "area": float(b[2] * b[3]), "iscrowd": int(l[6])} for k, (l, b) in enumerate(zip(labels, gxywh))]
    gt = {"images": [{"id": i, "file_name": f"{im}.jpg", "width": 1000, "height": 1000} for im, i in img_id.items()],
          "categories": [{"id": i, "name": c} for c, i in cat_id.items()], "annotations": anns}
    dxywh = voc_corners_to_xywh(np.array([d[3:7] for d in dets]).reshape(-1, 4))
    res = [{"image_id": img_id[d[0]], "category_id": cat_id[d[1]], "bbox": [float(v) for v in b], "score": d[2]}
           for d, b in zip(dets, dxywh)]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(res))
    return tmp_path / "gt.json", tmp_path / "dt.json"


def test_coco_files_and_cli_give_the_devkit_numbers(tmp_path, capsys):
    from explorer.cli import main

    classes, labels, dets = random_case(7)
    dets = valid(dets)
    gt_path, dt_path = coco_files(tmp_path, labels, dets, classes)
    for protocol, use_07 in (("voc12", False), ("voc07", True)):
        result = evaluate_voc_inputs(gt_path, dt_path, protocol=protocol)
        assert_same(dict(zip(result.per_class["name"], result.per_class["ap"])),
                    reference(classes, labels, dets, 0.5, use_07))
        out = tmp_path / f"{protocol}.json"
        assert main(["evaluate", str(gt_path), str(dt_path), "--protocol", protocol, "--json", str(out)]) == 0
        written = json.loads(out.read_text())
        assert written["summary"] == {f"{protocol}/mAP_50": result.mAP}
        assert f"{protocol}/mAP_50 = {result.mAP:0.4f}" in capsys.readouterr().out
