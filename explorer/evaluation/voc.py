"""Pascal VOC average precision, as the VOC devkit's ``VOCevaldet`` (and py-faster-rcnn's ``voc_eval``) computes it.

**One box convention.** Every box here is a project box: COCO ``x, y, w, h`` in continuous pixel coordinates,
the box covering ``[x, x + w] × [y, y + h]``. VOC files give 1-based *inclusive* pixel indices
``xmin..xmax``; they are converted once, on reading (``explorer.io.voc.voc_corners_to_xywh``)::

    x = xmin − 1,   y = ymin − 1,   w = xmax − xmin + 1,   h = ymax − ymin + 1

which is the devkit's "+1 pixel" rule moved into the conversion. The IoU is then the plain continuous IoU and
equals the devkit's on the original corners term by term::

    iw = min(x_a + w_a, x_b + w_b) − max(x_a, x_b)      (devkit: min(xmax) − max(xmin) + 1)
    ih = min(y_a + h_a, y_b + h_b) − max(y_a, y_b)
    IoU = iw·ih / (w_a h_a + w_b h_b − iw·ih)   when iw > 0 and ih > 0, else no overlap

so fractional boxes less than a pixel apart in VOC corners (``xmin_b − xmax_a`` in (0, 1)) overlap, as in the
devkit. Nothing adds a second +1: ``evaluate_voc`` takes project boxes, and the two VOC readers (XML
importer, ``read_voc_txt``) convert with the same function.

**Assignment** (per class): detections in descending confidence (ties: input order, MATLAB's stable sort); each
takes the label of its image with the highest IoU (ties: the first); if that IoU ≥ threshold (``>=`` as in
``VOCevaldet.m``; py-faster-rcnn's ``>`` differs only for an IoU exactly equal to the threshold):

- the label is *difficult* → the detection is ignored (neither TP nor FP; a difficult label is never "taken");
- else the label is free → TP (it is taken); taken → FP (a duplicate does not pass on to the next best);

below the threshold (or no overlapping label) → FP. Difficult labels are not counted in ``npos`` (never FN).
Project labels are difficult when their ``difficult`` column is true or they are crowd regions (``iscrowd``:
COCO's "don't care" regions, which VOC has no other name for).

**AP.** ``rec = TP / npos``, ``prec = TP / max(TP + FP, eps)`` over the cumulative counts (ignored detections
add nothing). ``eps`` is py-faster-rcnn's: the devkit's ``tp./(fp+tp)`` is NaN (0/0) while only ignored
detections have been seen, and MATLAB's ``max`` skips NaN, so AP is the same — except when *every* detection is
ignored, where the devkit's 11-point AP is NaN and this gives 0 (its every-point AP is 0 too).

- ``voc12`` (VOC2010+, every point): ``AP = Σ_i (r_{i+1} − r_i) · max_{r ≥ r_{i+1}} prec`` over the recall steps,
  recall padded by 0 and 1, precision by 0 and 0;
- ``voc07`` (VOC2007, 11 point): ``AP = Σ_{t = k·0.1, k = 0..10} max(prec[rec ≥ t]) / 11`` (0 when no recall
  reaches t), accumulated in that order with ``t = np.arange(0, 1.1, 0.1)`` as py-faster-rcnn does (so
  ``t_3 = 0.30000000000000004``: a recall of exactly 0.3 is below it, as in every Python reference).

A class without non-difficult labels has AP NaN and is left out of the mean (mAP = mean over the other classes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from explorer.errors import ProblemReport, UserError

PROTOCOLS = {"voc07": "11", "voc12": "all"}  # protocol -> interpolation
INTERPOLATIONS = ("all", "11")
ELEVEN_POINTS = np.arange(0.0, 1.1, 0.1)  # py-faster-rcnn's recall levels, bit for bit


@numba.njit(cache=True)
def _voc_match(det_img, det_box, gt_start, gt_stop, gt_box, gt_difficult, threshold, outcome):
    """Devkit assignment of detections (already in confidence order) to their image's labels of one class.

    ``det_box``/``gt_box``: ``(n, 4)`` project ``x, y, w, h``; ``gt_start``/``gt_stop``: label rows of each
    image; writes ``outcome[d]`` = 1 (TP), 0 (FP) or -1 (ignored: best label is difficult).
    """
    taken = np.zeros(gt_box.shape[0], np.bool_)
    for d in range(det_img.shape[0]):
        ax, ay, aw, ah = det_box[d, 0], det_box[d, 1], det_box[d, 2], det_box[d, 3]
        ovmax = -np.inf
        jmax = -1
        i = det_img[d]
        for g in range(gt_start[i], gt_stop[i]):
            bx, by, bw, bh = gt_box[g, 0], gt_box[g, 1], gt_box[g, 2], gt_box[g, 3]
            iw = min(ax + aw, bx + bw) - max(ax, bx)
            ih = min(ay + ah, by + bh) - max(ay, by)
            if iw > 0 and ih > 0:
                ov = iw * ih / (aw * ah + bw * bh - iw * ih)
                if ov > ovmax:
                    ovmax = ov
                    jmax = g
        if jmax >= 0 and ovmax >= threshold:
            if gt_difficult[jmax]:
                outcome[d] = -1
            elif not taken[jmax]:
                taken[jmax] = True
                outcome[d] = 1
            else:
                outcome[d] = 0
        else:
            outcome[d] = 0


def voc_ap(rec: np.ndarray, prec: np.ndarray, *, interpolation: str = "all") -> float:
    """AP from cumulative recall/precision arrays (shape (n,), detections in confidence order); formulas in the
    module docstring. ``interpolation``: ``"all"`` (VOC2010+) or ``"11"`` (VOC2007)."""
    if interpolation == "11":
        ap = 0.0
        for t in ELEVEN_POINTS:
            above = prec[rec >= t]
            ap = ap + (float(np.max(above)) if len(above) else 0.0) / 11.0
        return float(ap)
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision envelope (max is exact: same bits as the loop)
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def _class_outcomes(gt_img, gt_box, gt_difficult, dt_img, dt_box, dt_score, n_images: int,
                    threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(outcome per detection in input order, confidence order) for one class; image indices 0..n_images-1."""
    g_order = np.argsort(gt_img, kind="stable")
    g_img = gt_img[g_order]
    images = np.arange(n_images)
    gt_start = np.searchsorted(g_img, images, "left")
    gt_stop = np.searchsorted(g_img, images, "right")
    d_order = np.argsort(-dt_score, kind="stable")
    outcome = np.zeros(len(dt_img), np.int8)
    _voc_match(dt_img[d_order], np.ascontiguousarray(dt_box[d_order]), gt_start, gt_stop,
               np.ascontiguousarray(gt_box[g_order]), gt_difficult[g_order], float(threshold), outcome)
    return outcome, d_order


def _ap_row(outcome: np.ndarray, npos: int, interpolation: str) -> dict:
    tp = np.cumsum(outcome == 1).astype(np.float64)
    fp = np.cumsum(outcome == 0).astype(np.float64)
    if npos == 0:
        ap = np.nan
    else:
        rec = tp / float(npos)
        prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        ap = voc_ap(rec, prec, interpolation=interpolation)
    return {"ap": ap, "n_tp": int(tp[-1]) if len(tp) else 0, "n_fp": int(fp[-1]) if len(fp) else 0,
            "n_ignored": int(np.sum(outcome == -1))}


def voc_table(gt_img, gt_cls, gt_box, gt_difficult, dt_img, dt_cls, dt_box, dt_score, *, classes,
              iou_threshold: float = 0.5, interpolation: str = "all") -> pd.DataFrame:
    """Per-class VOC AP from parallel arrays: image indices (int, shape (n,)), classes, ``(n, 4)`` project boxes,
    difficult flags (labels) and scores (detections). Returns one row per entry of ``classes`` with ``class, ap,
    n_labels`` (non-difficult), ``n_difficult, n_predictions, n_tp, n_fp, n_ignored`` (at every confidence)."""
    if interpolation not in INTERPOLATIONS:
        raise UserError(f"interpolation must be 'all' or '11', got {interpolation!r}")
    n_images = int(max(gt_img.max(initial=-1), dt_img.max(initial=-1))) + 1
    rows = []
    for cls in classes:
        g = gt_cls == cls
        d = dt_cls == cls
        outcome, _ = _class_outcomes(gt_img[g], gt_box[g], gt_difficult[g], dt_img[d], dt_box[d], dt_score[d],
                                     n_images, iou_threshold)
        npos = int(np.sum(~gt_difficult[g]))
        rows.append({"class": cls, **_ap_row(outcome, npos, interpolation), "n_labels": npos,
                     "n_difficult": int(np.sum(gt_difficult[g])), "n_predictions": int(d.sum())})
    cols = ["class", "ap", "n_labels", "n_difficult", "n_predictions", "n_tp", "n_fp", "n_ignored"]
    return pd.DataFrame(rows, columns=cols)


def _frame(boxes, *, what: str, need_score: bool) -> pd.DataFrame:
    df = pd.DataFrame(boxes) if not isinstance(boxes, pd.DataFrame) else boxes
    cols = ["image", "class", "x", "y", "w", "h"] + (["score"] if need_score else [])
    if len(df) == 0 and len(df.columns) == 0:  # [] or {}: no labels / no predictions is a normal case
        df = pd.DataFrame(columns=cols)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise UserError(f"{what} need columns {cols}; missing {missing}")
    values = df[cols[2:6]].to_numpy(np.float64)
    bad = ~np.isfinite(values).all(axis=1)
    if need_score:
        bad |= np.isnan(df["score"].to_numpy(np.float64))  # +inf / -inf scores sort first / last, as in numpy
    if bad.any():
        raise UserError(f"{what}: {int(bad.sum())} row(s) with a missing or non-finite box or a NaN score, "
                        f"first at row {int(np.flatnonzero(bad)[0])}")
    return df


def evaluate_voc(gt_boxes, predictions, *, iou_threshold: float = 0.5, interpolation: str = "all") -> dict:
    """VOC AP per class: ``{class: AP}`` (NaN for a class without non-difficult labels).

    ``gt_boxes``: DataFrame (or records) with ``image, class, x, y, w, h`` and optionally ``difficult`` (bool);
    ``predictions``: ``image, class, x, y, w, h, score``. Boxes are project boxes (continuous ``x, y, w, h``; see
    the module docstring: VOC corners convert with ``explorer.io.voc.voc_corners_to_xywh``).
    ``interpolation``: ``"all"`` (VOC2010+ every point) or ``"11"`` (VOC2007).
    """
    table = voc_frame_table(gt_boxes, predictions, iou_threshold=iou_threshold, interpolation=interpolation)
    return dict(zip(table["class"], table["ap"].astype(float)))


def voc_frame_table(gt_boxes, predictions, *, iou_threshold: float = 0.5, interpolation: str = "all") -> pd.DataFrame:
    """``voc_table`` of the frames ``evaluate_voc`` takes; classes sorted by ``str``."""
    gt = _frame(gt_boxes, what="labels", need_score=False)
    dt = _frame(predictions, what="predictions", need_score=True)
    images = pd.Index(pd.unique(pd.concat([gt["image"], dt["image"]], ignore_index=True)))
    difficult = (gt["difficult"].fillna(False).to_numpy(bool) if "difficult" in gt
                 else np.zeros(len(gt), bool))
    classes = sorted(set(gt["class"]) | set(dt["class"]), key=str)
    return voc_table(images.get_indexer(gt["image"]), gt["class"].to_numpy(), gt[["x", "y", "w", "h"]].to_numpy(np.float64),
                     difficult, images.get_indexer(dt["image"]), dt["class"].to_numpy(),
                     dt[["x", "y", "w", "h"]].to_numpy(np.float64), dt["score"].to_numpy(np.float64),
                     classes=classes, iou_threshold=iou_threshold, interpolation=interpolation)


# ---- protocol evaluations of projects and COCO files -----------------------------------------------------------
@dataclass
class VocEvaluation:
    """Result of ``evaluate_voc_project`` / ``evaluate_voc_inputs``.

    ``per_class``: one row per evaluated category — ``category_id, name, ap, n_labels, n_difficult,
    n_predictions, n_tp, n_fp, n_ignored``; ``mAP``: mean AP over the classes with non-difficult labels (NaN
    when none has); ``summary``: ``{"voc07/mAP_50": mAP}`` (protocol / threshold in percent).
    """

    protocol: str
    iou_threshold: float
    per_class: pd.DataFrame
    problems: ProblemReport = field(default_factory=ProblemReport)

    @property
    def mAP(self) -> float:
        ap = self.per_class.loc[self.per_class["n_labels"] > 0, "ap"].to_numpy(np.float64)
        return float(np.mean(ap)) if len(ap) else float("nan")

    @property
    def key(self) -> str:
        return f"{self.protocol}/mAP_{round(self.iou_threshold * 100):d}"

    @property
    def summary(self) -> dict[str, float]:
        return {self.key: self.mAP}

    def format(self) -> str:
        """Per-class AP lines and the mean, for the command line."""
        title = {"voc07": "VOC2007 11-point", "voc12": "VOC2010+ every-point"}[self.protocol]
        lines = [f" {title} AP @ IoU >= {self.iou_threshold:0.2f} (difficult labels ignored)"]
        width = max([len(str(n)) for n in self.per_class["name"]] + [5])
        for row in self.per_class.itertuples():
            ap = "  n/a" if np.isnan(row.ap) else f"{row.ap:0.4f}"
            lines.append(f"  {str(row.name):<{width}}  AP = {ap}   labels {row.n_labels} (+{row.n_difficult} "
                         f"difficult), predictions {row.n_predictions}")
        mean = "n/a (no class has non-difficult labels)" if np.isnan(self.mAP) else f"{self.mAP:0.4f}"
        lines.append(f" {self.key} = {mean}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready: protocol, threshold, the summary number, per-class table (NaN -> None), problems."""
        per_class = self.per_class.astype(object).where(self.per_class.notna(), None)
        mAP = None if np.isnan(self.mAP) else self.mAP
        return {"protocol": self.protocol, "iou_threshold": self.iou_threshold, "summary": {self.key: mAP},
                "per_class": per_class.to_dict(orient="records"), "problems": self.problems.to_dict()}


def _check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise UserError(f"VOC protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    return protocol


def evaluate_voc_data(data, *, protocol: str = "voc12", iou_threshold: float = 0.5, difficult=None,
                      cat_ids=None, image_ids=None) -> VocEvaluation:
    """VOC AP of an ``explorer.evaluation.inputs.EvalData`` (the one record model of COCO files and projects).

    ``difficult``: bool array over ``data.labels`` (None: none); crowd labels count as difficult too.
    ``cat_ids`` / ``image_ids``: evaluate only these (default: every category / image of the ground truth).
    """
    interpolation = PROTOCOLS[_check_protocol(protocol)]
    if not 0.0 <= float(iou_threshold) <= 1.0:
        raise UserError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
    img_list = np.unique(np.asarray(data.image_ids if image_ids is None else list(image_ids), dtype=np.int64))
    cat_list = np.unique(np.asarray(data.category_ids if cat_ids is None else list(cat_ids), dtype=np.int64))
    gt, dt = data.labels, data.predictions
    hard = gt.iscrowd.astype(bool) | (np.zeros(len(gt), bool) if difficult is None else np.asarray(difficult, bool))
    g = np.isin(gt.image_id, img_list) & np.isin(gt.category_id, cat_list)
    d = np.isin(dt.image_id, img_list) & np.isin(dt.category_id, cat_list)
    table = voc_table(np.searchsorted(img_list, gt.image_id[g]), gt.category_id[g], gt.box[g], hard[g],
                      np.searchsorted(img_list, dt.image_id[d]), dt.category_id[d], dt.box[d], dt.score[d],
                      classes=cat_list.tolist(), iou_threshold=float(iou_threshold), interpolation=interpolation)
    table.insert(1, "name", [data.category_names.get(int(c), str(c)) for c in table["class"]])
    table = table.rename(columns={"class": "category_id"})
    return VocEvaluation(protocol, float(iou_threshold), table, data.problems)


def evaluate_voc_project(project, sel=None, protocol: str = "voc12", *, iou_threshold: float = 0.5) -> VocEvaluation:
    """VOC AP of a project's labels and its current run's predictions, for the Metrics page and the CLI.

    ``sel``: an ``explorer.project.selection.Selection`` (or the app's, or None: everything); its split and class
    filter apply, not its sliders — the protocol fixes the IoU threshold (``iou_threshold``, VOC: 0.5) and AP uses
    every confidence. Labels with ``difficult`` (VOC importer) or ``iscrowd`` set are difficult.
    """
    from explorer.evaluation import inputs

    _check_protocol(protocol)
    data = inputs.from_project(project)
    labels = project.labels
    difficult = None
    if labels is not None and "difficult" in labels.columns and len(data.labels):
        flags = pd.Series(labels["difficult"].fillna(False).to_numpy(bool), index=labels["label_id"].to_numpy())
        difficult = flags.reindex(data.labels.ids).fillna(False).to_numpy(bool)
    sel = getattr(sel, "core", sel)  # the app's selection carries the core one
    image_ids = sel.image_ids(project) if sel is not None else None
    cat_ids = sel.class_list() if sel is not None else None
    return evaluate_voc_data(data, protocol=protocol, iou_threshold=iou_threshold, difficult=difficult,
                             cat_ids=cat_ids, image_ids=image_ids)


def evaluate_voc_inputs(gt, predictions=None, *, protocol: str = "voc12", iou_threshold: float = 0.5) -> VocEvaluation:
    """VOC AP of what ``evaluate_coco`` accepts: a COCO ground truth (path or dict) with COCO box results, or a
    ``Project`` (then ``predictions`` may be None: its own). COCO has no difficult flag; crowd labels are."""
    from explorer.evaluation.coco import load_inputs
    from explorer.project.folder import Project

    _check_protocol(protocol)
    if isinstance(gt, Project) and predictions is None:
        return evaluate_voc_project(gt, None, protocol, iou_threshold=iou_threshold)
    return evaluate_voc_data(load_inputs(gt, predictions, iou_type="bbox"), protocol=protocol,
                             iou_threshold=iou_threshold)


def read_voc_txt(folder: str | Path, *, with_scores: bool) -> pd.DataFrame:
    """Read a folder of per-image text files (``class x y w h`` or ``class score x y w h`` per line, the format of
    rafaelpadilla's Object-Detection-Metrics) into the frame ``evaluate_voc`` takes; ``image`` is the file stem.

    That toolkit reads ``x y w h`` as the corners ``x .. x + w`` and applies the VOC "+1" to them, i.e. inclusive
    pixel indices ``xmin = x, xmax = x + w``; they are converted to project boxes with the one VOC rule
    (``voc_corners_to_xywh``: ``x − 1, y − 1, w + 1, h + 1``). A malformed line raises ``UserError`` naming it.
    """
    from explorer.io.voc import voc_corners_to_xywh

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder")
    rows = []
    n = 6 if with_scores else 5
    for path in sorted(folder.glob("*.txt")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != n:
                raise UserError(f"{path}: line {lineno}: expected {n} fields, got {len(parts)}: {line!r}")
            try:
                nums = [float(v) for v in parts[1:]]
            except ValueError:
                raise UserError(f"{path}: line {lineno}: not numbers: {line!r}") from None
            row = {"image": path.stem, "class": parts[0]}
            if with_scores:
                row["score"] = nums.pop(0)
            x, y, w, h = nums
            row["corners"] = (x, y, x + w, y + h)
            rows.append(row)
    corners = np.array([r.pop("corners") for r in rows], dtype=np.float64).reshape(-1, 4)
    xywh = voc_corners_to_xywh(corners)
    out = pd.DataFrame(rows, columns=["image", "class"] + (["score"] if with_scores else []))
    out[["x", "y", "w", "h"]] = xywh
    return out
