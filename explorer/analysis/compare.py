"""Model A vs model B: two runs of one project compared at one selection (IoU t, confidence c, classes, split).

Both runs are matched to the same labels at the same thresholds (``explorer.analysis.outcomes.match`` of
``project.for_run(A)`` and ``project.for_run(B)``). Every difference reads **B − A** (positive: B is better for
AP, TPR and precision).

* **Headline**: mAP and mAR at t of each run (``explorer.evaluation.detection_summary``, the Metrics page's numbers)
  and their differences, with a *paired* bootstrap interval: replicate b draws the selection's images with
  replacement once and evaluates both runs on that same list (``explorer.analysis.intervals.paired_bootstrap_ap``),
  so the interval is the 2.5–97.5% percentile range of ``mAP_B(b) − mAP_A(b)``.
* **Per class**: AP/AR of both runs, the AP difference and its paired interval.
* **Fixed and broken objects** (the non-ignored labels and the false detections of the selection):

  - label **fixed**: missed by A (``detected`` False), detected by B; label **broken**: detected by A, missed by B;
  - false detection **fixed**: a false detection (FP, any reason) of A such that B has no false detection of the
    same class in the same image overlapping it at box IoU ≥ t ("A's FP is gone in B"); false detection
    **broken**: a false detection of B with no such false detection of A ("new in B"). Boxes are compared (also
    for mask projects); ignored predictions (crowd matches, beyond the 100 best) are neither.

  Each change is a row of a failure-bucket table (``explorer.analysis.failure_buckets``) taken from the run that
  *shows* it, named in ``run``: B for labels (fixed: B's TP, broken: B's miss) and for new false detections, A for
  false detections that are gone — plus ``change`` (``"fixed"``/``"broken"``) and ``kind`` (``"label"``/
  ``"false detection"``). The galleries draw these rows on their run's boxes.
* **Per bucket** (``bucket_deltas``): TPR (labels) or precision (predictions) of both runs in the same buckets of
  any metric (edges from both runs' values together), with Wilson intervals and ``delta = rate_B − rate_A``.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from explorer.analysis.buckets import COUNT_COLUMNS, RATE_COLUMNS, bucketize, performance_by_metric
from explorer.analysis.compiled import njit
from explorer.analysis.buckets import Buckets
from explorer.analysis.failure_buckets import Bucket, BucketSource, _isin, _isin_small
from explorer.analysis.intervals import N_RESAMPLES, SEED, match_source, paired_bootstrap_ap, percentile_interval
from explorer.errors import UserError
from explorer.evaluation.layout import lookup
from explorer.project.selection import Selection

CHANGE_COLUMNS = ["change", "kind", "run"]
KINDS = ("label", "false detection")


@dataclass(frozen=True)
class ChangeRows:
    """One kind of change (``change`` ``"fixed"``/``"broken"``, ``kind`` ``"label"``/``"false detection"``) shown on
    run ``run``'s match: ``rows``, a ``failure_buckets.Bucket`` over a ``BucketSource`` of only these objects, so
    counting, sorting and drawing a gallery page never build the text columns of every row (``frame(at)``)."""

    change: str
    kind: str
    run: str
    rows: Bucket

    def __len__(self) -> int:
        return len(self.rows)

    def frame(self, at=None) -> pd.DataFrame:
        """The rows (or ``rows.take(at)``: positions or a mask) as failure-bucket rows plus ``change, kind, run``."""
        rows = self.rows if at is None else self.rows.take(at)
        return rows.frame().assign(change=self.change, kind=self.kind, run=self.run)


@dataclass(frozen=True)
class Comparison:
    """Run A vs run B at one selection (module docstring).

    ``headline``: ``map_a, map_b, map_delta, map_delta_interval ([lo, hi]), mar_a, mar_b, mar_delta,
    mar_delta_interval, n_resamples, seed, n_images, iou_threshold, confidence_threshold``. ``per_class``: one row
    per selected class: ``category_id, name, support, ap_a, ap_b, ap_delta, ap_delta_lo, ap_delta_hi, ar_a, ar_b,
    ar_delta``. ``changes``: the four ``ChangeRows`` (fixed labels, fixed false detections, broken labels, broken
    false detections); ``fixed`` / ``broken``: their failure-bucket rows plus ``change, kind, run`` as one frame
    each (built when first read: the page draws from ``changes``).

    The paired bootstrap runs in a worker thread (``bootstrap``, a future of both runs' ``ApBootstrap``): the
    changes and the point estimates (``summaries``: both runs' ``detection_summary``, ``facts``: the headline's
    other keys) are there at once, and ``headline`` / ``per_class`` wait for the intervals when first read — so a
    page draws its other sections while the resamples are evaluated.
    """

    run_a: str
    run_b: str
    changes: tuple
    summaries: tuple
    facts: dict
    bootstrap: Future

    @cached_property
    def headline(self) -> dict:
        (sa, sb), (ba, bb) = self.summaries, self.bootstrap.result()
        d_map = percentile_interval(bb.map_reps - ba.map_reps)
        d_mar = percentile_interval(bb.mar_reps - ba.mar_reps)
        f = self.facts
        return {
            "run_a": self.run_a, "run_b": self.run_b, "iou_threshold": f["iou_threshold"],
            "confidence_threshold": f["confidence_threshold"],
            "map_a": sa["mAP"], "map_b": sb["mAP"], "map_delta": sb["mAP"] - sa["mAP"],
            "map_delta_interval": [float(d_map[0]), float(d_map[1])],
            "mar_a": sa["mAR"], "mar_b": sb["mAR"], "mar_delta": sb["mAR"] - sa["mAR"],
            "mar_delta_interval": [float(d_mar[0]), float(d_mar[1])],
            "n_resamples": f["n_resamples"], "seed": f["seed"], "n_images": f["n_images"], "resampled": "images",
        }

    @cached_property
    def per_class(self) -> pd.DataFrame:
        (sa, sb), (ba, bb) = self.summaries, self.bootstrap.result()
        ta, tb = sa["per_class"], sb["per_class"]
        d_lo, d_hi = percentile_interval(bb.ap_reps - ba.ap_reps)
        return pd.DataFrame({
            "category_id": ta["category_id"].to_numpy(), "name": ta["name"].to_numpy(),
            "support": ta["support"].to_numpy(), "ap_a": ta["ap"].to_numpy(), "ap_b": tb["ap"].to_numpy(),
            "ap_delta": tb["ap"].to_numpy() - ta["ap"].to_numpy(), "ap_delta_lo": d_lo, "ap_delta_hi": d_hi,
            "ar_a": ta["ar"].to_numpy(), "ar_b": tb["ar"].to_numpy(),
            "ar_delta": tb["ar"].to_numpy() - ta["ar"].to_numpy()})

    def group(self, change: str, kind: str) -> ChangeRows:
        """The ``ChangeRows`` of ``change`` and ``kind``."""
        return next(g for g in self.changes if (g.change, g.kind) == (change, kind))

    def _frame(self, change: str) -> pd.DataFrame:
        return pd.concat([g.frame() for g in self.changes if g.change == change], ignore_index=True)

    @cached_property
    def fixed(self) -> pd.DataFrame:
        return self._frame("fixed")

    @cached_property
    def broken(self) -> pd.DataFrame:
        return self._frame("broken")

    def counts(self) -> dict[str, int]:
        """``{"fixed_labels", "fixed_false_detections", "broken_labels", "broken_false_detections"}``."""
        return {f"{g.change}_{'labels' if g.kind == 'label' else 'false_detections'}": len(g) for g in self.changes}


def runs_to_compare(project, run_a: str | None, run_b: str | None) -> tuple[str, str]:
    """``(A, B)``: the given names (checked), by default the first two runs; ``UserError`` with fewer than two
    runs, an unknown name or A = B."""
    runs = list(project.runs)
    if len(runs) < 2:
        raise UserError(f"project {project.name!r} has {len(runs)} run(s); comparing needs two: add another "
                        "model's predictions with 'explorer add-predictions PROJECT FILE --run NAME'")
    a = runs[0] if run_a is None else run_a
    b = (runs[1] if a == runs[0] else runs[0]) if run_b is None else run_b
    for r in (a, b):
        if r not in runs:
            raise UserError(f"project {project.name!r} has no run {r!r}; runs: {', '.join(runs)}")
    if a == b:
        raise UserError(f"choose two different runs (both are {a!r})")
    return a, b


def paired_box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box ``a[i]`` with box ``b[i]``: arrays of shape (n, 4) ``x, y, w, h`` → (n,) (0 when the union is
    empty)."""
    ix = np.clip(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = ix * iy
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


prange = range  # numba.prange once compiled (explorer.analysis.compiled)


@njit()
def _overlap_masked(key_a, box_a, use_a, key_b, box_b, use_b, thr, a_hit, b_hit):
    """Merge join of two row sets sorted by ``key`` (one int64 per (image, class)), read in place: every same-key
    pair of rows with ``use_x`` set compared by box IoU (``paired_box_iou``'s operations) ≥ ``thr``; sets
    ``a_hit`` / ``b_hit``. O(rows + same-key pairs), no gathered copies."""
    na, nb = key_a.shape[0], key_b.shape[0]
    i = 0
    j = 0
    while i < na and j < nb:
        if key_a[i] < key_b[j]:
            i += 1
        elif key_a[i] > key_b[j]:
            j += 1
        else:
            key = key_a[i]
            i1 = i
            while i1 < na and key_a[i1] == key:
                i1 += 1
            j1 = j
            while j1 < nb and key_b[j1] == key:
                j1 += 1
            for x in range(i, i1):
                if not use_a[x]:
                    continue
                ax, ay, aw, ah = box_a[x, 0], box_a[x, 1], box_a[x, 2], box_a[x, 3]
                for y in range(j, j1):
                    if not use_b[y]:
                        continue
                    bx, by, bw, bh = box_b[y, 0], box_b[y, 1], box_b[y, 2], box_b[y, 3]
                    ix = max(min(ax + aw, bx + bw) - max(ax, bx), 0.0)
                    iy = max(min(ay + ah, by + bh) - max(ay, by), 0.0)
                    inter = ix * iy
                    union = aw * ah + bw * bh - inter
                    iou = inter / union if union > 0 else 0.0
                    if iou >= thr:
                        a_hit[x] = True
                        b_hit[y] = True
            i = i1
            j = j1


def _group_keys(image_a, cat_a, image_b, cat_b) -> tuple[np.ndarray, np.ndarray]:
    """One int64 per (image, class), comparable across both sets: ``image · (max class + 1) + class`` when it
    fits (it does for any real id range), else codes over the union."""
    img = np.concatenate([image_a, image_b])
    cat = np.concatenate([cat_a, cat_b])
    if len(img) and img.min() >= 0 and cat.min() >= 0 and int(img.max()) < 2**62 // (int(cat.max()) + 1):
        key = img * (int(cat.max()) + 1) + cat
    else:
        cats = np.unique(cat)
        key = np.unique(img, return_inverse=True)[1].reshape(-1).astype(np.int64) * len(cats) + np.searchsorted(cats, cat)
    return key[:len(image_a)], key[len(image_a):]


def _ascending(key: np.ndarray) -> np.ndarray | None:
    """None when ``key`` is already non-decreasing (match tables are sorted by image, class), else a stable sort."""
    return None if len(key) < 2 or (key[1:] >= key[:-1]).all() else np.argsort(key, kind="stable")


def overlapped(boxes_a: pd.DataFrame, boxes_b: pd.DataFrame, iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """``(a_hit (n_a,), b_hit (n_b,))``: whether each row of ``boxes_a`` has a row of ``boxes_b`` of the same
    ``image_id`` and ``category_id`` at box IoU ≥ ``iou_threshold``, and vice versa. Rows need ``image_id,
    category_id, x, y, w, h``; every same-image same-class pair is compared (one compiled merge join over the rows
    sorted by image and class: O(n_a + n_b + Σ n_a·n_b pairs), no pair arrays)."""
    cols = ["x", "y", "w", "h"]
    return overlapped_arrays(boxes_a["image_id"].to_numpy(np.int64), boxes_a["category_id"].to_numpy(np.int64),
                             boxes_a[cols].to_numpy(np.float64), boxes_b["image_id"].to_numpy(np.int64),
                             boxes_b["category_id"].to_numpy(np.int64), boxes_b[cols].to_numpy(np.float64),
                             iou_threshold)


def overlapped_arrays(image_a, cat_a, box_a, image_b, cat_b, box_b, iou_threshold: float):
    """``overlapped`` on arrays: ids (n,) int64 and boxes (n, 4) ``x, y, w, h`` float64 of each set."""
    a_hit = np.zeros(len(image_a), bool)
    b_hit = np.zeros(len(image_b), bool)
    if len(image_a) == 0 or len(image_b) == 0:
        return a_hit, b_hit
    ka, kb = _group_keys(image_a, cat_a, image_b, cat_b)
    oa, ob = _ascending(ka), _ascending(kb)
    sa = a_hit if oa is None else np.zeros(len(ka), bool)
    sb = b_hit if ob is None else np.zeros(len(kb), bool)
    _overlap_masked(ka if oa is None else ka[oa], np.ascontiguousarray(box_a if oa is None else box_a[oa]),
                    np.ones(len(ka), bool), kb if ob is None else kb[ob],
                    np.ascontiguousarray(box_b if ob is None else box_b[ob]), np.ones(len(kb), bool),
                    min(float(iou_threshold), 1 - 1e-10), sa, sb)  # the matcher's reading of t = 1
    if oa is not None:
        a_hit[oa] = sa
    if ob is not None:
        b_hit[ob] = sb
    return a_hit, b_hit


def _match_boxes(match, predictions) -> np.ndarray:
    """Boxes (n, 4) ``x, y, w, h`` float64 of every row of ``match.predictions``, from the run's ``predictions``
    table (looked up by ``pred_id``) or, given the run's ``Matcher`` that made ``match``, from its box array: the
    match's rows are the matcher's layout rows with ``score >= c``, in layout order (one gather of an (n, 4) array
    instead of four 2M-row column conversions and an id lookup)."""
    p = match.predictions
    if not isinstance(predictions, pd.DataFrame):  # the Matcher
        lay, data = predictions.layout, predictions.data
        kept = np.flatnonzero(data.predictions.score[lay.dt_rows] >= match.confidence_threshold)
        return np.ascontiguousarray(data.predictions.box[lay.dt_rows[kept]], np.float64)
    at = lookup(predictions["pred_id"].to_numpy(np.int64), p["pred_id"].to_numpy(np.int64))
    return np.column_stack([predictions[c].to_numpy(np.float64)[at] for c in ("x", "y", "w", "h")])


def _change_rows(match, change: str, kind: str, run: str, *, label_rows=(), pred_rows=(),
                 pred_index=None) -> ChangeRows:
    """``ChangeRows`` of the labels at positions ``label_rows`` or the predictions at ``pred_rows`` of ``match``:
    the rows ``bucket_table(match.predictions, match.labels, label_ids=…, pred_ids=…)`` gives them (ascending
    positions), gathered column by column (``BucketSource.of_rows``); ``pred_index``: ``IdIndex`` of the match's
    prediction ids (a label's score is its matched prediction's)."""
    source = BucketSource.of_rows(match.predictions, match.labels, label_rows=np.sort(np.asarray(label_rows, np.int64)),
                                  pred_rows=np.sort(np.asarray(pred_rows, np.int64)),
                                  fp_code=getattr(match, "fp_code", None), pred_index=pred_index)
    return ChangeRows(change, kind, run, Bucket(source, np.arange(source.n_pred + source.n_label)))


@dataclass(frozen=True)
class _Changes:
    """Every changed object of two matches (all classes, all images), as positions: labels ``fixed_a`` /
    ``broken_a`` in ``match_a.labels`` and the same labels ``fixed_b`` / ``broken_b`` in ``match_b.labels``; false
    detections ``gone`` in ``match_a.predictions`` and ``new`` in ``match_b.predictions`` (each ascending). Whether
    an object changed depends on its own image and class only (a label's two outcomes; false detections compared
    within one image and class), so a selection's changes are these filtered by class and image."""

    fixed_a: np.ndarray
    broken_a: np.ndarray
    fixed_b: np.ndarray
    broken_b: np.ndarray
    gone: np.ndarray
    new: np.ndarray

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, f).nbytes for f in self.__dataclass_fields__)


def _false_rows(match) -> np.ndarray:
    """Positions in ``match.predictions`` of its false detections (not TP, not ignored), ascending."""
    p = match.predictions
    return np.flatnonzero(~p["is_tp"].to_numpy(bool) & ~p["ignored"].to_numpy(bool))


def _row_keys(match_a, match_b) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``_group_keys`` of every prediction row of both matches, or ``(None, None)`` when a set is not sorted by
    them. A match lists the same rows at every IoU threshold, so these are kept per (sources, confidence)."""
    pa, pb = match_a.predictions, match_b.predictions
    ka, kb = _group_keys(pa["image_id"].to_numpy(np.int64), pa["category_id"].to_numpy(np.int64),
                         pb["image_id"].to_numpy(np.int64), pb["category_id"].to_numpy(np.int64))
    return (ka, kb) if _ascending(ka) is None and _ascending(kb) is None else (None, None)


def _all_changes(match_a, match_b, boxes_a: np.ndarray, boxes_b: np.ndarray, keys=None) -> _Changes:
    """``_Changes`` of two matches of the same labels at the same thresholds; ``boxes_x``: every prediction row's
    box (``_match_boxes``); ``keys``: ``_row_keys`` of the two matches (computed when not given). With sorted
    keys the false detections are compared in place (``_overlap_masked``), else gathered (``overlapped_arrays``)."""
    la, lb = match_a.labels, match_b.labels
    ids = la["label_id"].to_numpy(np.int64)
    ids_b = lb["label_id"].to_numpy(np.int64)
    det_b = lb["detected"].to_numpy(bool)
    same = np.array_equal(ids, ids_b)
    if not same:
        at = lookup(ids_b, ids)
        det_b = np.where(at >= 0, det_b[np.maximum(at, 0)], False)
    keep = ~la["ignored"].to_numpy(bool)
    det_a = la["detected"].to_numpy(bool)
    fixed_at, broken_at = np.flatnonzero(keep & ~det_a & det_b), np.flatnonzero(keep & det_a & ~det_b)
    ra, rb = _false_rows(match_a), _false_rows(match_b)
    pa, pb = match_a.predictions, match_b.predictions
    ka, kb = _row_keys(match_a, match_b) if keys is None else keys
    if ka is not None and len(ra) and len(rb):
        use_a, use_b = np.zeros(len(pa), bool), np.zeros(len(pb), bool)
        use_a[ra], use_b[rb] = True, True
        hit_a, hit_b = np.zeros(len(pa), bool), np.zeros(len(pb), bool)
        _overlap_masked(ka, boxes_a, use_a, kb, boxes_b, use_b, min(float(match_a.iou_threshold), 1 - 1e-10),
                        hit_a, hit_b)  # the threshold as overlapped_arrays reads it
        a_hit, b_hit = hit_a[ra], hit_b[rb]
    else:
        a_hit, b_hit = overlapped_arrays(pa["image_id"].to_numpy(np.int64)[ra],
                                         pa["category_id"].to_numpy(np.int64)[ra], boxes_a[ra],
                                         pb["image_id"].to_numpy(np.int64)[rb],
                                         pb["category_id"].to_numpy(np.int64)[rb], boxes_b[rb], match_a.iou_threshold)
    return _Changes(fixed_a=fixed_at, broken_a=broken_at,
                    fixed_b=fixed_at if same else lookup(ids_b, ids[fixed_at]),
                    broken_b=broken_at if same else lookup(ids_b, ids[broken_at]), gone=ra[~a_hit], new=rb[~b_hit])


def _chosen(table: pd.DataFrame, rows: np.ndarray | None, classes, image_ids) -> np.ndarray:
    """Which of ``table``'s rows at positions ``rows`` (None: every row) lie in the selected classes and images
    (None: all)."""
    def at(name):
        values = table[name].to_numpy(np.int64)
        return values if rows is None else values[rows]

    keep = np.ones(len(table) if rows is None else len(rows), bool)
    if classes is not None:
        keep &= _isin_small(at("category_id"), np.asarray(classes, np.int64))
    if image_ids is not None:
        keep &= _isin(at("image_id"), image_ids)
    return keep


# Kept per (the two matches' sources and thresholds): every change of all classes and images (a few MB), so a
# class or split change only filters; and per (source, confidence) each run's boxes in match order (64 MB at 2M
# predictions), so an IoU move gathers its false detections' boxes from contiguous rows
_CHANGES: OrderedDict = OrderedDict()
CHANGES_KEPT = 8
_BOXES: OrderedDict = OrderedDict()
BOXES_KEPT = 2  # the two runs compared
_KEYS: OrderedDict = OrderedDict()
KEYS_KEPT = 1  # both runs' row keys (32 MB at 2 × 2M predictions)


def change_groups(match_a, match_b, predictions_a, predictions_b, run_a: str, run_b: str, *, classes=None,
                  image_ids=None, sources=None, pred_index_b=None) -> tuple[ChangeRows, ...]:
    """The four ``ChangeRows`` (fixed labels, fixed false detections, broken labels, broken false detections) of
    the module docstring from the two runs' matches (same labels, same thresholds) and, for the boxes, each run's
    predictions table (``pred_id, x, y, w, h``) or the ``Matcher`` that made its match (the same boxes,
    ``_match_boxes``). Labels are joined on ``label_id`` (positionally when both matches list them in the same
    order, as they do for one project). ``sources``: the two matches' ``explorer.analysis.intervals
    .match_source`` — every change of all classes and images is then kept per (sources, thresholds) and a
    selection filters it (``_Changes``). ``pred_index_b``: ``IdIndex`` of ``match_b``'s prediction ids (kept by
    ``outcomes.match_index``), else built when a label needs its matched prediction's score."""
    if sources is None:
        ch = _all_changes(match_a, match_b, _match_boxes(match_a, predictions_a), _match_boxes(match_b, predictions_b))
    else:
        from explorer.analysis.outcomes import _remember

        c = float(match_a.confidence_threshold)

        def boxes(match, predictions, source):
            return _remember(_BOXES, (tuple(source), c), lambda: _match_boxes(match, predictions), BOXES_KEPT)

        pair = (tuple(sources[0]), tuple(sources[1]))
        ch = _remember(_CHANGES, pair + (float(match_a.iou_threshold), c),
                       lambda: _all_changes(match_a, match_b, boxes(match_a, predictions_a, sources[0]),
                                            boxes(match_b, predictions_b, sources[1]),
                                            _remember(_KEYS, pair + (c,), lambda: _row_keys(match_a, match_b),
                                                      KEYS_KEPT)), CHANGES_KEPT)
    la, pa, pb = match_a.labels, match_a.predictions, match_b.predictions
    fixed_b = ch.fixed_b[_chosen(la, ch.fixed_a, classes, image_ids)]
    broken_b = ch.broken_b[_chosen(la, ch.broken_a, classes, image_ids)]
    gone = ch.gone[_chosen(pa, ch.gone, classes, image_ids)]
    new = ch.new[_chosen(pb, ch.new, classes, image_ids)]
    return (_change_rows(match_b, "fixed", "label", run_b, label_rows=fixed_b, pred_index=pred_index_b),
            _change_rows(match_a, "fixed", "false detection", run_a, pred_rows=gone),
            _change_rows(match_b, "broken", "label", run_b, label_rows=broken_b, pred_index=pred_index_b),
            _change_rows(match_b, "broken", "false detection", run_b, pred_rows=new))


def object_changes(match_a, match_b, predictions_a, predictions_b, run_a: str, run_b: str, *, classes=None,
                   image_ids=None, sources=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(fixed, broken)`` tables of the module docstring (``Comparison.fixed`` / ``.broken``): the rows of
    ``change_groups`` with the same arguments, labels first, then false detections."""
    groups = change_groups(match_a, match_b, predictions_a, predictions_b, run_a, run_b, classes=classes,
                           image_ids=image_ids, sources=sources)
    return tuple(pd.concat([g.frame() for g in groups if g.change == change], ignore_index=True)
                 for change in ("fixed", "broken"))


def compare_runs(project, sel: Selection, run_a: str | None = None, run_b: str | None = None, *,
                 n_resamples: int = N_RESAMPLES, seed: int = SEED) -> Comparison:
    """Run ``run_a`` vs ``run_b`` of ``project`` at the selection ``sel`` (module docstring); default runs: the
    first two. ``UserError`` when the project has fewer than two runs or a name is unknown."""
    from explorer.analysis.outcomes import match, match_index, matcher
    from explorer.evaluation import detection_summary

    if project.task != "detection":
        raise UserError(f"comparing runs needs a detection project; {project.name!r} is a {project.task} project")
    run_a, run_b = runs_to_compare(project, run_a, run_b)
    pa, pb = project.for_run(run_a), project.for_run(run_b)
    ma, mb = match(pa, sel), match(pb, sel)
    classes = sel.class_list()
    split_ids = sel.image_ids(project)
    images = project.images["image_id"].to_numpy(np.int64) if split_ids is None else np.asarray(split_ids, np.int64)
    # the bootstrap (compiled, GIL released) runs beside the summaries and the object changes (and the page's
    # other sections, until the headline is read): the same numbers in about half the wall time of an IoU move
    boot = _BOOTSTRAPS.submit(paired_bootstrap_ap, ma, mb, classes=classes, image_ids=images,
                              n_resamples=n_resamples, seed=seed, sources=(match_source(pa), match_source(pb)))
    sa = detection_summary(ma, classes=classes, image_ids=split_ids)
    sb = detection_summary(mb, classes=classes, image_ids=split_ids)
    changes = change_groups(ma, mb, matcher(pa), matcher(pb), run_a, run_b, classes=classes,
                            image_ids=split_ids, sources=(match_source(pa), match_source(pb)),
                            pred_index_b=match_index(pb, sel, "predictions"))
    facts = {"iou_threshold": sel.iou_threshold, "confidence_threshold": sel.confidence_threshold,
             "n_resamples": int(n_resamples), "seed": int(seed), "n_images": int(len(images))}
    return Comparison(run_a, run_b, changes, (sa, sb), facts, boot)


# paired bootstraps of the comparisons being made (each kernel uses both cores; two comparisons at once at most)
_BOOTSTRAPS = ThreadPoolExecutor(2, thread_name_prefix="compare-bootstrap")


DELTA_COLUMNS = ["bucket", "range", "n_a", "rate_a", "rate_a_lo", "rate_a_hi", "n_b", "rate_b", "rate_b_lo",
                 "rate_b_hi", "delta"]


def _shared_index(values_a: np.ndarray, values_b: np.ndarray, n_buckets: int, method: str):
    """``(edges, index_a, index_b)``: ``bucketize`` of both runs' values together and each run's slice of its
    index (what ``bucketize(v, edges=edges)`` gives: the edges span every finite value), int8 when the buckets
    fit; None when the values give no finite edges."""
    shared = bucketize(np.concatenate([values_a, values_b]), n_buckets=n_buckets, method=method)
    if not np.isfinite(shared.edges).all():
        return None
    index = shared.index.astype(np.int8) if len(shared.edges) < 128 else shared.index
    return shared.edges, index[:len(values_a)], index[len(values_a):]


def _deltas_table(shared, outcome_a, outcome_b, *, kind: str, method: str) -> pd.DataFrame:
    """The ``bucket_deltas`` table of ``_shared_index``'s buckets and each run's outcomes (bool, aligned)."""
    if shared is None:
        return pd.DataFrame(columns=DELTA_COLUMNS)
    edges, index_a, index_b = shared
    rate, count = RATE_COLUMNS[kind][0], COUNT_COLUMNS[kind][0]
    a, b = (performance_by_metric(outcome=np.asarray(y, bool), buckets=Buckets(edges=edges, index=index,
                                                                               method=method), kind=kind)
            for index, y in ((index_a, outcome_a), (index_b, outcome_b)))
    return pd.DataFrame({
        "bucket": a["bucket"], "range": a["range"],
        "n_a": a[count], "rate_a": a[rate], "rate_a_lo": a[f"{rate}_lo"], "rate_a_hi": a[f"{rate}_hi"],
        "n_b": b[count], "rate_b": b[rate], "rate_b_lo": b[f"{rate}_lo"], "rate_b_hi": b[f"{rate}_hi"],
        "delta": b[rate].to_numpy() - a[rate].to_numpy()})


def bucket_deltas(values_a, outcome_a, values_b, outcome_b, *, kind: str, n_buckets: int = 10,
                  method: str = "quantile") -> pd.DataFrame:
    """Rates of both runs in the same buckets of one metric: ``values_x`` (n_x,) the metric of run x's rows
    (labels: the same labels twice; predictions: each run's own), ``outcome_x`` (n_x,) bool (detected / TP).

    Edges come from both runs' values together (``bucketize``). Returns one row per bucket: ``bucket, range,
    n_a, rate_a, rate_a_lo, rate_a_hi, n_b, rate_b, rate_b_lo, rate_b_hi, delta`` (``rate_b − rate_a``; NaN where
    a bucket is empty for a run) — the rate is TPR for ``kind="labels"``, precision for ``"predictions"``.
    """
    va, vb = np.asarray(values_a, np.float64), np.asarray(values_b, np.float64)
    return _deltas_table(_shared_index(va, vb, n_buckets, method), outcome_a, outcome_b, kind=kind, method=method)


# Per (project view, metrics run, target, confidence for predictions): the metric-frame row of each match row
# (int32, -1 = none; ~8 MB at 2M predictions) with the match's id column it was made for — a match lists the same
# rows at every IoU threshold, so an IoU move or a class change gathers a metric without an id look-up
_METRIC_ROWS: OrderedDict = OrderedDict()
METRIC_ROWS_KEPT = 4  # both runs, both targets
# Per (both views, metrics run, target, metric, buckets, method, split, classes, confidence, digests of both
# runs' rated rows): the shared edges and each run's bucket of every rated row (int8): an IoU move that keeps the
# rated rows (labels always: only crowds are unrated) recounts outcomes only
_DELTA_BUCKETS: OrderedDict = OrderedDict()
DELTA_BUCKETS_KEPT = 16
# outcome-table columns that are not data metrics (a metric of the same name is not joined there)
_TABLE_COLUMNS = {"detected", "matched_pred_id", "is_tp", "matched_label_id", "iou", "fp_reason", "ignored"}


def _metric_rows(project, target: str, match_table: pd.DataFrame, frame: pd.DataFrame,
                 confidence: float) -> np.ndarray:
    """Row of ``frame`` (a ``metric_frame``, index = target id) holding each row of ``match_table`` (the ``target``
    table of a match at ``confidence``), -1 where none."""
    from explorer.analysis.outcomes import IdIndex, _metrics_stamp, _remember, _same_ids

    id_col = "label_id" if target == "labels" else "pred_id"
    ids = match_table[id_col].to_numpy(np.int64)
    key = (str(project.root), project.fingerprint, _metrics_stamp(project), target,
           None if target == "labels" else float(confidence))

    def make():
        at = IdIndex(frame.index.to_numpy(np.int64)).positions(ids)
        return ids, at.astype(np.int32) if len(frame) < 2**31 else at

    kept, rows = _remember(_METRIC_ROWS, key, make, size=METRIC_ROWS_KEPT)
    return rows if _same_ids(kept, ids) else make()[1]


def _rated_side(project, sel: Selection, target: str, metric: str):
    """``(values, outcome, rated)`` of one run over the selection's ``target``: the rows of its match in the
    selected classes and split whose outcome is defined (not ignored) — the rows of ``rated(detection_outcomes(
    …))``, in match order —, their metric values (float64, NaN where none) and outcomes; ``rated`` is the bool
    mask over the match's rows. None when ``metric`` is not a metric column the outcome table would join."""
    from explorer.analysis.outcomes import match, metric_frame

    frame = metric_frame(project, target)
    if frame is None or metric not in frame.columns or metric in _TABLE_COLUMNS or metric in getattr(project, target).columns:
        return None
    m = match(project, sel)
    table = m.labels if target == "labels" else m.predictions
    rated = _chosen(table, None, sel.class_list(), sel.image_ids(project)) & ~table["ignored"].to_numpy(bool)
    rows = np.flatnonzero(rated)
    at = _metric_rows(project, target, table, frame, sel.confidence_threshold)[rows]
    column = frame[metric].to_numpy(np.float64, na_value=np.nan)
    values = np.where(at >= 0, column[np.maximum(at, 0)], np.nan) if len(column) else np.full(len(rows), np.nan)
    outcome = table["detected" if target == "labels" else "is_tp"].to_numpy(bool)[rows]
    return values, outcome, rated


def run_bucket_deltas(project, sel: Selection, run_a: str, run_b: str, metric: str, *, target: str,
                      n_buckets: int = 10, method: str = "quantile") -> pd.DataFrame:
    """``bucket_deltas`` of data metric column ``metric`` over the selection's ``target`` (``"labels"``: TPR,
    ``"predictions"``: precision) of the two runs, on the rows whose outcome is defined.

    Read from the two matches (the rows of the outcome tables, in match order: the same multiset of values and
    outcomes, so the same edges and counts) with each match row's metric row kept per run; the buckets are kept
    per (metric, rated rows), so an IoU move counts only the outcomes."""
    from explorer.analysis.outcomes import _metrics_stamp, _remember

    views = [project.for_run(r) for r in (run_a, run_b)]
    sides = [_rated_side(v, sel, target, metric) for v in views]
    if any(s is None for s in sides):
        return _bucket_deltas_of_tables(views, sel, metric, target, n_buckets, method)
    (va, ya, ra), (vb, yb, rb) = sides
    key = (str(project.root), views[0].fingerprint, views[1].fingerprint, _metrics_stamp(project), target, metric,
           int(n_buckets), method, sel.split, sel.classes, float(sel.confidence_threshold),
           *(hashlib.blake2b(np.packbits(r).tobytes(), digest_size=16).digest() + len(r).to_bytes(8, "little")
             for r in (ra, rb)))
    shared = _remember(_DELTA_BUCKETS, key, lambda: (_shared_index(va, vb, n_buckets, method),),
                       size=DELTA_BUCKETS_KEPT)[0]
    return _deltas_table(shared, ya, yb, kind=target, method=method)


def _bucket_deltas_of_tables(views, sel: Selection, metric: str, target: str, n_buckets: int,
                             method: str) -> pd.DataFrame:
    """``run_bucket_deltas`` from the outcome tables (``detection_outcomes``): for a column the match path does
    not read as a metric (a table column of the same name, or none)."""
    from explorer.analysis.outcomes import detection_outcomes, rated

    column = {"labels": "detected", "predictions": "is_tp"}[target]
    tables = [rated(detection_outcomes(v, sel, target), column) for v in views]
    for t in tables:
        if metric not in t.columns:
            raise UserError(f"metric {metric!r} has no values over {target}; compute metrics with 'explorer metrics'")
    (ta, tb) = tables
    return bucket_deltas(ta[metric].to_numpy(np.float64), ta[column].to_numpy(bool),
                         tb[metric].to_numpy(np.float64), tb[column].to_numpy(bool), kind=target,
                         n_buckets=n_buckets, method=method)


def comparison_json(c: Comparison) -> dict:
    """The CLI's and the export's JSON of a comparison: the headline keys (``map_a, map_b, map_delta,
    map_delta_interval``…), ``counts``, ``per_class`` records and ``fixed`` / ``broken`` records (``change,
    kind, run, record, id, image_id, category_id, outcome, fp_reason, score, iou, partner_id``)."""
    cols = CHANGE_COLUMNS + ["record", "id", "image_id", "category_id", "outcome", "fp_reason", "score", "iou",
                             "partner_id"]
    return {**c.headline, "counts": c.counts(), "per_class": c.per_class.to_dict(orient="records"),
            "fixed": c.fixed[cols].to_dict(orient="records"), "broken": c.broken[cols].to_dict(orient="records")}
