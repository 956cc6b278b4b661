"""Suspected label errors: a ranked queue of likely annotation problems, read off the model's own evaluation.

At the selection's IoU ``t`` (and confidence threshold), from the TIDE error types (``explorer.analysis.tide``) and
the matches (``explorer.analysis.outcomes.match``), one row per suspect, each with a ``score`` in [0, 1]:

============== ============================================================ ===================================
reason         rule                                                         score
============== ============================================================ ===================================
missing_label  a background false detection (IoU <= 0.1 with every label)   the prediction's score
wrong_class    a false detection of another class with IoU >= t on a label  the prediction's score
loose_box      a localisation error (same-class IoU in [0.1, t])            the prediction's score
               or a true positive matched with IoU < ``LOOSE_MATCH_IOU``   score x (1 - IoU)
               (0.7)
duplicate_label two labels of one class on one image with IoU >= 0.7         the label-label IoU
missed_label   a label no prediction of its class takes even at IoU 0.1 and detected share (at t) of the class's
               no false detection points at, while its class is found      labels at most as large x the
               elsewhere                                                   median score of its true positives
============== ============================================================ ===================================

A classification or localisation error whose label no other prediction took (``fixable`` in the TIDE table: the
label is otherwise missed) keeps its score; one beside a label the model also found is halved (``TAKEN_WEIGHT``):
a detection disagreeing with a label nothing else agrees with is the stronger evidence. Only suspects scoring at
least ``min_score`` (default 0.3) are kept; the queue is sorted by ``score``
(descending; ties by image, label, prediction). ``fix_labels`` applies the obvious fix of each chosen suspect to a
copy of the labels (add the detected box; take the detection's class; take the detection's box; drop the label)
and ``map_if_fixed`` re-evaluates with ``evaluate_coco``.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

REASONS = {
    "missing_label": "confident detection where no label is: possibly a missing label",
    "wrong_class": "confident detection of another class on this label: possibly the wrong class",
    "loose_box": "the detection overlaps this label only loosely: possibly a loose or shifted box",
    "duplicate_label": "two labels of the same class on one object: possibly a duplicate label",
    "missed_label": "missed at every IoU while its class is found elsewhere: possibly a spurious label",
}
LOOSE_MATCH_IOU = 0.7
DUPLICATE_LABEL_IOU = 0.7
MISSED_IOU = 0.1
MIN_SCORE = 0.3
TAKEN_WEIGHT = 0.5
COLUMNS = ["image_id", "file_name", "label_id", "pred_id", "reason", "reason_code", "score", "category_id",
           "pred_category_id", "iou"]


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of boxes ``a`` and ``b`` (shape (n, 4), ``x, y, w, h``); 0 without overlap."""
    iw = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def duplicate_labels(labels: pd.DataFrame, *, iou: float = DUPLICATE_LABEL_IOU) -> pd.DataFrame:
    """Pairs of non-crowd labels of one image and class with box IoU >= ``iou``: ``label_id`` (the later id),
    ``other_label_id``, ``iou``. Pairs are formed per (image, class) by a self-join (labels of one image-class
    are few)."""
    lab = labels.loc[~labels["iscrowd"].astype(bool), ["label_id", "image_id", "category_id", "x", "y", "w", "h"]]
    pairs = lab.merge(lab, on=["image_id", "category_id"], suffixes=("", "_o"))
    pairs = pairs[pairs["label_id"].to_numpy() > pairs["label_id_o"].to_numpy()]
    v = _box_iou(pairs[["x", "y", "w", "h"]].to_numpy(np.float64), pairs[["x_o", "y_o", "w_o", "h_o"]].to_numpy(np.float64))
    keep = v >= iou
    return pd.DataFrame({"label_id": pairs["label_id"].to_numpy()[keep], "other_label_id": pairs["label_id_o"].to_numpy()[keep],
                         "image_id": pairs["image_id"].to_numpy()[keep],
                         "category_id": pairs["category_id"].to_numpy()[keep], "iou": v[keep]})


def suspects(project, sel, *, min_score: float = MIN_SCORE, iou_type: str | None = None) -> pd.DataFrame:
    """The ranked queue of suspected label errors of a project view (a run) and a core ``Selection``: columns
    ``COLUMNS`` (``label_id``/``pred_id`` Int64 with ``<NA>`` for none; ``category_id`` the label's class, or the
    detection's for ``missing_label``), best first."""
    from explorer.analysis.outcomes import match
    from explorer.analysis.tide import error_cost

    cost = error_cost(project, sel, iou_type=iou_type)
    e = cost.errors
    parts = []
    pred = e[e["kind"].isin(["background", "classification", "localisation"])]
    reason = pred["kind"].map({"background": "missing_label", "classification": "wrong_class",
                               "localisation": "loose_box"}).to_numpy(object)
    # a detection that disagrees with a label nobody else took is stronger evidence (the label is otherwise
    # missed, ``fixable``) than one beside a label the model also found right (halved)
    weight = np.where(pred["fixable"].to_numpy(bool) | (reason == "missing_label"), 1.0, TAKEN_WEIGHT)
    score = pred["score"].to_numpy(np.float64) * weight
    strong = score >= min_score  # most false detections score low: drop them before building rows
    pred, reason, score = pred[strong], reason[strong], score[strong]
    no_label = reason == "missing_label"
    parts.append(pd.DataFrame({
        "image_id": pred["image_id"].to_numpy(np.int64),
        "label_id": pred["label_id"].where(~no_label, pd.NA).astype("Int64").to_numpy(),
        "pred_id": pred["pred_id"].to_numpy(), "reason_code": reason, "score": score,
        "category_id": np.where(no_label, pred["category_id"], pred["label_category_id"].fillna(-1)).astype(np.int64),
        "pred_category_id": pred["category_id"].to_numpy(np.int64), "iou": pred["iou"].to_numpy(np.float64)}))

    m = match(project, sel, iou_type=iou_type)
    image_ids = sel.image_ids(project)
    classes = sel.class_list()
    p = m.predictions
    in_sel = ~p["ignored"].to_numpy(bool) & p["is_tp"].to_numpy(bool)
    if image_ids is not None:
        in_sel &= np.isin(p["image_id"].to_numpy(), image_ids)
    if classes is not None:
        in_sel &= np.isin(p["category_id"].to_numpy(), classes)
    loose_score = p["score"].to_numpy() * (1 - p["iou"].to_numpy())
    loose = p[in_sel & (p["iou"].to_numpy() < LOOSE_MATCH_IOU) & (loose_score >= min_score)]
    parts.append(pd.DataFrame({
        "image_id": loose["image_id"].to_numpy(np.int64), "label_id": loose["label_id"].to_numpy(),
        "pred_id": pd.array(loose["pred_id"].to_numpy(), dtype="Int64"), "reason_code": "loose_box",
        "score": loose["score"].to_numpy() * (1 - loose["iou"].to_numpy()),
        "category_id": loose["category_id"].to_numpy(np.int64), "pred_category_id": loose["category_id"].to_numpy(np.int64),
        "iou": loose["iou"].to_numpy(np.float64)}))

    labels = project.labels
    lab_sel = np.ones(len(labels), bool)
    if image_ids is not None:
        lab_sel &= np.isin(labels["image_id"].to_numpy(), image_ids)
    if classes is not None:
        lab_sel &= np.isin(labels["category_id"].to_numpy(), classes)
    dups = duplicate_labels(labels[lab_sel])
    dups = dups.sort_values("iou", ascending=False, kind="stable").drop_duplicates("label_id")  # once per label
    parts.append(pd.DataFrame({
        "image_id": dups["image_id"].to_numpy(np.int64), "label_id": pd.array(dups["label_id"], dtype="Int64"),
        "pred_id": pd.array([pd.NA] * len(dups), dtype="Int64"), "reason_code": "duplicate_label",
        "score": dups["iou"].to_numpy(), "category_id": dups["category_id"].to_numpy(np.int64),
        "pred_category_id": np.full(len(dups), -1, np.int64), "iou": dups["iou"].to_numpy()}))

    near = e.loc[e["kind"] != "missed", "label_id"].dropna().to_numpy(np.int64)  # labels some detection overlaps
    parts.append(_missed_everywhere(project, sel, m, iou_type, near))
    out = pd.concat([x for x in parts if len(x)], ignore_index=True) if any(len(x) for x in parts) else \
        pd.DataFrame({c: [] for c in COLUMNS})
    out = out[out["score"].to_numpy(np.float64) >= min_score]
    names = project.images.set_index("image_id")["file_name"]
    out = out.assign(file_name=names.reindex(out["image_id"].to_numpy()).to_numpy(object),
                     reason=out["reason_code"].map(REASONS).to_numpy(object))
    out["label_id"] = out["label_id"].astype("Int64")
    out["pred_id"] = out["pred_id"].astype("Int64")
    pc = out["pred_category_id"].to_numpy(np.int64)
    out["pred_category_id"] = pd.arrays.IntegerArray(np.maximum(pc, 0), pc < 0)  # -1 above: no detection
    big = np.iinfo(np.int64).max  # "none" sorts last
    order = np.lexsort((out["pred_id"].to_numpy(np.int64, na_value=big), out["label_id"].to_numpy(np.int64, na_value=big),
                        out["image_id"].to_numpy(np.int64), -out["score"].to_numpy(np.float64)))
    return out.iloc[order][COLUMNS].reset_index(drop=True)


def _missed_everywhere(project, sel, m, iou_type, near: np.ndarray) -> pd.DataFrame:
    """Labels not taken by any prediction of their class even at IoU ``MISSED_IOU`` (so missed at every
    threshold) and that no false detection points at (``near``: those are wrong-class / loose-box stories). Score: how surprising the miss is = the share of the other labels of its class at most as large
    (area) that are detected at t (smaller objects of its class are found), times the median score of the class's
    true positives."""
    from explorer.analysis.outcomes import match

    low = match(project, replace(sel, iou_threshold=MISSED_IOU), iou_type=iou_type).labels
    lab = m.labels
    keep = ~lab["ignored"].to_numpy(bool)
    image_ids, classes = sel.image_ids(project), sel.class_list()
    if image_ids is not None:
        keep &= np.isin(lab["image_id"].to_numpy(), image_ids)
    if classes is not None:
        keep &= np.isin(lab["category_id"].to_numpy(), classes)
    lab, low_detected = lab[keep], low["detected"].to_numpy(bool)[keep]
    area = project.labels.set_index("label_id")["area"].reindex(lab["label_id"].to_numpy()).to_numpy(np.float64)
    cats = lab["category_id"].to_numpy(np.int64)
    hit = lab["detected"].to_numpy(bool)
    # per class, labels by area ascending: detected share among the labels at most as large, itself excluded
    order = np.lexsort((area, cats))
    c_sorted, h_sorted = cats[order], hit[order].astype(np.int64)
    start = np.searchsorted(c_sorted, c_sorted, "left")
    csum = np.cumsum(h_sorted)
    before = np.where(start > 0, csum[np.maximum(start - 1, 0)], 0)
    n_smaller = np.arange(len(order)) - start  # labels before it in its class (<= its area)
    share_sorted = np.where(n_smaller > 0, (csum - h_sorted - before) / np.maximum(n_smaller, 1), 0.0)
    share = np.empty(len(order))
    share[order] = share_sorted
    p = m.predictions
    tp = p[p["is_tp"].to_numpy(bool) & ~p["ignored"].to_numpy(bool)]
    med = tp.groupby("category_id")["score"].median().reindex(cats).fillna(0.0).to_numpy()
    gone = ~low_detected & ~np.isin(lab["label_id"].to_numpy(np.int64), near)
    n = int(gone.sum())
    return pd.DataFrame({
        "image_id": lab["image_id"].to_numpy(np.int64)[gone], "label_id": pd.array(lab["label_id"].to_numpy()[gone], dtype="Int64"),
        "pred_id": pd.array([pd.NA] * n, dtype="Int64"), "reason_code": "missed_label", "score": (share * med)[gone],
        "category_id": cats[gone], "pred_category_id": np.full(n, -1, np.int64), "iou": np.full(n, np.nan)})


def filter_suspects(table: pd.DataFrame, *, classes=None, reasons=None, image_ids=None) -> pd.DataFrame:
    """Rows of ``table`` whose ``category_id`` is in ``classes``, ``reason_code`` in ``reasons`` and image in
    ``image_ids`` (None = any)."""
    keep = np.ones(len(table), bool)
    if classes is not None:
        keep &= table["category_id"].isin(list(classes)).to_numpy()
    if reasons is not None:
        keep &= table["reason_code"].isin(list(reasons)).to_numpy()
    if image_ids is not None:
        keep &= table["image_id"].isin(np.asarray(image_ids)).to_numpy()
    return table[keep]


def fix_labels(project, chosen: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``project.labels`` with each chosen suspect fixed (module docstring): ``missing_label`` adds the
    prediction as a label (new ids after the largest), ``wrong_class`` gives the label the prediction's class,
    ``loose_box`` the prediction's box (and mask), ``duplicate_label``/``missed_label`` drop the label. A label
    with several fixes: drop wins, then the first row of ``chosen``."""
    labels = project.labels.copy()
    preds = project.all_predictions.set_index("pred_id")
    chosen = chosen.drop_duplicates(["label_id", "pred_id", "reason_code"])
    drop = chosen.loc[chosen["reason_code"].isin(["duplicate_label", "missed_label"]), "label_id"].dropna().astype(np.int64)
    edit = chosen[chosen["reason_code"].isin(["wrong_class", "loose_box"]) & chosen["label_id"].notna()]
    edit = edit[~edit["label_id"].isin(drop)].drop_duplicates("label_id")
    pos = pd.Index(labels["label_id"]).get_indexer(edit["label_id"].astype(np.int64))
    src = preds.loc[edit["pred_id"].astype(np.int64).to_numpy()]
    cls = (edit["reason_code"] == "wrong_class").to_numpy()
    box = ~cls
    col = labels.columns.get_loc
    labels.iloc[pos[cls], col("category_id")] = src["category_id"].to_numpy()[cls]
    for c in ("x", "y", "w", "h", "segmentation"):
        labels.iloc[pos[box], col(c)] = src[c].to_numpy()[box]
    labels.iloc[pos[box], col("area")] = src["area"].to_numpy()[box]
    labels = labels[~labels["label_id"].isin(drop)]
    add = chosen[chosen["reason_code"] == "missing_label"]
    if len(add):
        src = preds.loc[add["pred_id"].astype(np.int64).to_numpy()]
        start = int(project.labels["label_id"].max()) + 1 if len(project.labels) else 1
        new = pd.DataFrame({"label_id": np.arange(start, start + len(add)), "image_id": src["image_id"].to_numpy(),
                            "category_id": src["category_id"].to_numpy(), "x": src["x"].to_numpy(), "y": src["y"].to_numpy(),
                            "w": src["w"].to_numpy(), "h": src["h"].to_numpy(), "area": src["area"].to_numpy(),
                            "iscrowd": False, "segmentation": src["segmentation"].to_numpy(object)})
        labels = pd.concat([labels, new.astype({c: labels[c].dtype for c in new.columns if c in labels})], ignore_index=True)
    return labels.reset_index(drop=True)


def map_if_fixed(project, sel, chosen: pd.DataFrame, *, iou_type: str | None = None) -> dict:
    """COCO mAP (IoU 0.50:0.95) and AP at the selection's IoU, now and with ``chosen`` suspects fixed
    (``fix_labels``, re-evaluated by ``evaluate_coco`` on the selection's images and classes):
    ``{"map", "map_fixed", "ap_t", "ap_t_fixed", "n_fixed"}`` (fractions; NaN when undefined)."""
    from explorer.evaluation import evaluate_coco
    from explorer.evaluation.inputs import from_tables
    from explorer.tasks.detection import iou_type as iou_type_of

    kind = iou_type or iou_type_of(project)
    ids = sel.image_ids(project)
    options = {"iou_type": kind, "cat_ids": sel.class_list(), "image_ids": None if ids is None else [int(i) for i in ids]}
    preds = project.predictions
    preds = preds[preds["score"].to_numpy() >= sel.confidence_threshold]

    def numbers(labels):
        data = from_tables(labels, preds, images=project.images, categories=project.categories)
        full = evaluate_coco(data, **options).summary
        at_t = evaluate_coco(data, iou_thresholds=[sel.iou_threshold], **options).summary
        return _undefined(full[f"coco/{kind}_mAP"]), _undefined(at_t[f"coco/{kind}_mAP"])

    before, before_t = numbers(project.labels)
    after, after_t = numbers(fix_labels(project, chosen)) if len(chosen) else (before, before_t)
    return {"map": before, "map_fixed": after, "ap_t": before_t, "ap_t_fixed": after_t, "n_fixed": int(len(chosen))}


def _undefined(v: float) -> float:
    return float("nan") if v is None or v < 0 else float(v)


def export_section(project, sel) -> list[dict]:
    """The export's ``suspects``: the queue as records, best first (``None`` for no label / prediction)."""
    table = suspects(project, sel)
    return table.astype(object).where(table.notna(), None).to_dict(orient="records")
