"""Headline numbers, per-class tables and curves from a ``MatchResult`` (one IoU threshold t, confidence c).

Selection: ``classes`` (category ids or names; default every category) and ``image_ids`` (default every
image) restrict both labels and predictions, like pycocotools' ``catIds``/``imgIds``.

- **AP at t** (per class): COCO 101-point interpolated AP of ``COCOeval.accumulate`` at t (area all,
  maxDets 100), computed on the kept predictions (``score >= c``; with c = 0 it equals pycocotools'
  ``precision[t]`` exactly). **mAP** = mean of the defined ``precision[r, k]`` entries (pycocotools' order), over
  classes with at least one non-crowd label; **AR at t** = recall with all kept predictions, **mAR** its mean.
- **precision** = TP / (TP + FP), **recall** = TP / support, **F1** = 2 TP / (2 TP + FP + FN); support = number
  of non-ignored labels. A zero denominator gives NaN (never a silent 0). Ignored predictions count nowhere.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from explorer.errors import UserError
from explorer.evaluation import kernels
from explorer.evaluation.coco import REC_THRESHOLDS
from explorer.evaluation.layout import MAX_DETS
from explorer.evaluation.matcher import MatchResult


def resolve_classes(classes, names: dict[int, str]) -> np.ndarray:
    """Category ids from ids or names (``None``: all). Unknown names raise ``UserError``."""
    if classes is None:
        return np.array(sorted(names), dtype=np.int64)
    by_name = {v: k for k, v in names.items()}
    out = []
    for c in classes:
        if isinstance(c, str):
            if c not in by_name:
                raise UserError(f"unknown class {c!r}; known: {', '.join(sorted(by_name))}")
            out.append(by_name[c])
        else:
            out.append(int(c))
    return np.unique(np.array(out, dtype=np.int64))


def select(match: MatchResult, *, classes=None, image_ids=None) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """(predictions, labels, category ids) of the selection; predictions keep their sorted order."""
    cats = resolve_classes(classes, match.category_names)
    p, lab = match.predictions, match.labels
    pm = p["category_id"].isin(cats).to_numpy()
    lm = lab["category_id"].isin(cats).to_numpy()
    if image_ids is not None:
        ids = np.asarray(list(image_ids), dtype=np.int64)
        pm = pm & p["image_id"].isin(ids).to_numpy()
        lm = lm & lab["image_id"].isin(ids).to_numpy()
    # everything selected (the usual case): the match's own frames, not copies of millions of rows
    return (p if pm.all() else p[pm]), (lab if lm.all() else lab[lm]), cats


def _sorted_rows(match: MatchResult, p: pd.DataFrame, *, by_class: bool) -> np.ndarray:
    """Positions of ``p``'s rows (a row subset of ``match.predictions``, index kept) by descending score, stable,
    within ascending class when ``by_class`` — ``np.lexsort((-score, class))`` / ``argsort(-score, "stable")``,
    taken in O(n) from the Matcher's one sort (filtering keeps the relative order) when the match has it."""
    order = match.class_score_order if by_class else match.score_order
    n = len(match.predictions)
    if order is None or not isinstance(match.predictions.index, pd.RangeIndex) or len(order) != n:
        score = p["score"].to_numpy()
        if by_class:
            return np.lexsort((-score, p["category_id"].to_numpy()))
        return np.argsort(-score, kind="stable")
    if len(p) == n:
        return order
    rows = p.index.to_numpy()
    where = np.full(n, -1, np.int64)
    where[rows] = np.arange(len(rows))
    picked = where[order]
    return picked[picked >= 0]


def _ap_arrays(p: pd.DataFrame, lab: pd.DataFrame, cats: np.ndarray, order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``precision (R, K)`` and ``recall (K,)`` at the match's threshold (-1 = undefined), ``npig (K,)``."""
    k_of_p = np.searchsorted(cats, p["category_id"].to_numpy())
    k_of_l = np.searchsorted(cats, lab["category_id"].to_numpy())
    n_cat = len(cats)
    score = p["score"].to_numpy()
    if order is None:  # rows are in (image, class, rank) order: stable = pycocotools order
        order = np.lexsort((-score, k_of_p))
    cat_start = np.searchsorted(k_of_p[order], np.arange(n_cat + 1), "left")
    npig = np.bincount(k_of_l[~lab["ignored"].to_numpy()], minlength=n_cat).astype(np.int64)[:, None]
    has_any = (np.bincount(k_of_l, minlength=n_cat) + np.bincount(k_of_p, minlength=n_cat)) > 0
    precision = -np.ones((1, len(REC_THRESHOLDS), n_cat, 1, 1))
    recall = -np.ones((1, n_cat, 1, 1))
    kernels.accumulate(order, cat_start, p["rank"].to_numpy(np.int64), p["is_tp"].to_numpy()[None, None, :],
                       p["ignored"].to_numpy()[None, None, :], npig, has_any, np.array([MAX_DETS], np.int64),
                       REC_THRESHOLDS, precision, recall)
    return precision[0, :, :, 0, 0], recall[0, :, 0, 0], npig[:, 0]


def _mean_defined(s: np.ndarray) -> float:
    d = s[s > -1]
    return float(np.mean(d)) if len(d) else np.nan


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def per_class_table(match: MatchResult, *, classes=None, image_ids=None) -> pd.DataFrame:
    """One row per class: ``category_id, name, ap, ar, precision, recall, f1, support, n_predictions, tp, fp, fn``.

    ``ap``/``ar``: COCO AP and recall at the match's IoU threshold (NaN without labels); the rest at (t, c).
    """
    p, lab, cats = select(match, classes=classes, image_ids=image_ids)
    return _per_class(match, p, cats, *_ap_arrays(p, lab, cats, _sorted_rows(match, p, by_class=True)))


def _per_class(match: MatchResult, p: pd.DataFrame, cats: np.ndarray, prec, rec, npig) -> pd.DataFrame:
    live = ~p["ignored"].to_numpy()
    k_of_p = np.searchsorted(cats, p["category_id"].to_numpy()[live])
    tp = np.bincount(k_of_p, weights=p["is_tp"].to_numpy()[live], minlength=len(cats)).astype(np.int64)
    n_pred = np.bincount(k_of_p, minlength=len(cats))
    fp = n_pred - tp
    fn = npig - tp
    ap = np.array([_mean_defined(prec[:, k]) for k in range(len(cats))])
    return pd.DataFrame({
        "category_id": cats, "name": [match.category_names.get(int(c), str(c)) for c in cats],
        "ap": ap, "ar": np.where(rec > -1, rec, np.nan),
        "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, npig), "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "support": npig, "n_predictions": n_pred, "tp": tp, "fp": fp, "fn": fn})


def detection_summary(match: MatchResult, *, classes=None, image_ids=None) -> dict:
    """``{"mAP", "mAR", "precision", "recall", "f1", "n_classes", "per_class"}`` at the match's (t, c).

    ``mAP``/``mAR`` average over classes with labels in the selection (NaN if none); precision/recall/F1
    here are pooled over the selection (micro average).
    """
    p, lab, cats = select(match, classes=classes, image_ids=image_ids)
    prec, rec, npig = _ap_arrays(p, lab, cats, _sorted_rows(match, p, by_class=True))
    table = _per_class(match, p, cats, prec, rec, npig)
    tp, fp, fn = table["tp"].sum(), table["fp"].sum(), table["fn"].sum()
    return {"mAP": _mean_defined(prec), "mAR": _mean_defined(rec), "precision": float(_ratio(tp, tp + fp)),
            "recall": float(_ratio(tp, tp + fn)), "f1": float(_ratio(2 * tp, 2 * tp + fp + fn)),
            "n_classes": int((npig > 0).sum()), "iou_threshold": match.iou_threshold,
            "confidence_threshold": match.confidence_threshold, "per_class": table}


def pr_curves(match: MatchResult, *, classes=None, image_ids=None) -> pd.DataFrame:
    """PR points per class: ``category_id, score, recall, precision`` after each kept, non-ignored prediction
    in descending score order (raw, not interpolated; recall NaN for a class without labels)."""
    p, lab, cats = select(match, classes=classes, image_ids=image_ids)
    p = p[~p["ignored"].to_numpy()]
    k = np.searchsorted(cats, p["category_id"].to_numpy())
    score = p["score"].to_numpy()
    order = _sorted_rows(match, p, by_class=True)
    k, score, tp = k[order], score[order], p["is_tp"].to_numpy()[order].astype(np.int64)
    npig = np.bincount(np.searchsorted(cats, lab["category_id"].to_numpy()[~lab["ignored"].to_numpy()]), minlength=len(cats))
    csum = np.cumsum(tp)
    start = np.searchsorted(k, k, "left")  # first row of each row's class
    before = np.where(start > 0, csum[start - 1], 0)
    tp_cum = csum - before
    n_seen = np.arange(len(k)) - start + 1
    return pd.DataFrame({"category_id": cats[k], "score": score, "recall": _ratio(tp_cum, npig[k]),
                         "precision": tp_cum / n_seen})


def f1_by_confidence(match: MatchResult, *, classes=None, image_ids=None) -> pd.DataFrame:
    """Precision, recall and F1 of the selection (pooled over classes) if only predictions with
    ``score >= threshold`` were kept, for every distinct score: ``threshold, precision, recall, f1, tp, fp``.
    Rows go from the highest threshold down; use ``best_f1`` for the best row."""
    p, lab, _ = select(match, classes=classes, image_ids=image_ids)
    p = p[~p["ignored"].to_numpy()]
    n_pos = int((~lab["ignored"]).sum())
    score = p["score"].to_numpy()
    order = _sorted_rows(match, p, by_class=False)
    score, tp = score[order], p["is_tp"].to_numpy()[order].astype(np.int64)
    tp_cum, n_cum = np.cumsum(tp), np.arange(1, len(tp) + 1)
    last = np.r_[score[1:] != score[:-1], True] if len(score) else np.zeros(0, bool)  # last row of each tie
    tp_c, n_c = tp_cum[last], n_cum[last]
    fp_c = n_c - tp_c
    return pd.DataFrame({"threshold": score[last], "precision": tp_c / n_c, "recall": _ratio(tp_c, np.full(len(tp_c), n_pos)),
                         "f1": _ratio(2 * tp_c, 2 * tp_c + fp_c + (n_pos - tp_c)), "tp": tp_c, "fp": fp_c})


def best_f1(curve: pd.DataFrame) -> dict:
    """The row of ``f1_by_confidence`` with the highest F1 (ties: the highest threshold), as a dict;
    all NaN when the curve is empty or F1 is undefined everywhere."""
    f1 = curve["f1"].to_numpy() if len(curve) else np.zeros(0)
    if len(f1) == 0 or np.isnan(f1).all():
        if len(curve) == 0:
            warnings.warn("no predictions in the selection: best F1 is undefined (NaN)", stacklevel=2)
        return {"threshold": np.nan, "precision": np.nan, "recall": np.nan, "f1": np.nan}
    i = int(np.nanargmax(f1))
    row = curve.iloc[i]
    return {"threshold": float(row["threshold"]), "precision": float(row["precision"]),
            "recall": float(row["recall"]), "f1": float(row["f1"])}
