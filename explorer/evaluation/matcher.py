"""Matching at one IoU threshold and one confidence threshold, for the app: TP / FP (with reason) / FN.

The ``Matcher`` computes the IoU of every label x prediction pair of the same image (any class) once; every
``match(t, confidence_threshold=c)`` re-runs only the greedy assignment on those cached IoUs, with the outcome
columns, in one compiled pass (``explorer.evaluation.match_kernels``). ``Matcher.from_project`` keeps the
threshold-independent arrays in ``<project>/cache/matcher/<fingerprint>-<iou type>/`` and memory-maps them on
the next open.

Rules (pycocotools' ``evaluateImg`` at area "all", ``maxDets=100``):

- per image and class, predictions in descending score (ties: input order) each take the unmatched label of
  their class with the highest IoU >= t (ties: the later label), preferring non-crowd labels; a crowd label
  (``iscrowd``) can be matched many times (its IoU is intersection over the prediction's area);
- only the 100 highest-scoring predictions of an image-class are matched; the others are ``ignored`` with
  ``fp_reason`` missing (pycocotools never evaluates them);
- a prediction matched to a crowd label is ``ignored`` (neither TP nor FP); a prediction is TP if matched to
  a non-crowd label, else FP; a non-crowd label is FN (``detected`` False) when no kept prediction took it;
- pycocotools' id-0 rule (``inputs.EvalData.label_id_counts``): a prediction matched to a label whose source
  id is 0 is a FP (its ``label_id`` column still names the label it took) and that label stays FN.
- the confidence threshold drops predictions with ``score < c`` *after* matching. Matching is greedy in score
  order, so a prediction's match never depends on lower-scoring ones: this equals matching only the kept
  predictions; labels whose match was dropped become FN.

FP reason, first that applies (IoUs are with labels of the same image; "same class" = prediction's class):

1. ``duplicate``: a same-class label has IoU >= t with it (that label was taken by a higher score);
2. ``wrong_class``: a label of another class has IoU >= t;
3. ``localisation``: a same-class label overlaps it, but with IoU < t (best same-class IoU in (0, t));
4. ``background``: none of the above (no same-class overlap, nothing at IoU >= t).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.evaluation import inputs, kernels, layout as layout_mod, match_kernels

FP_REASONS = ("duplicate", "wrong_class", "localisation", "background")
#: ``fp_reason``'s dtype: the four reasons as categories, missing (NaN) for TP and ignored rows — one int8 code
#: per row instead of 2M object pointers (building those took ~25 ms a match at 100k images)
FP_REASON_DTYPE = pd.CategoricalDtype(FP_REASONS)
ALL_AREA = (0**2, 1e5**2)


@dataclass
class MatchResult:
    """Per-prediction and per-label outcome at ``iou_threshold`` and ``confidence_threshold``.

    ``predictions``: ``pred_id, image_id, category_id, score, is_tp, label_id`` (Int64, ``<NA>`` = none), ``iou`` (with the
    matched label, NaN if none), ``fp_reason`` (categorical ``FP_REASON_DTYPE``: missing for TP and ignored
    rows), ``ignored``, ``rank`` (position
    by score in its image-class), ``max_iou_same_class``, ``max_iou_other_class``; rows with score below the
    confidence threshold are dropped. Sorted by image, class, descending score.
    ``labels``: ``label_id, image_id, category_id, iscrowd, detected, pred_id`` (Int64, ``<NA>`` = none; for a crowd label
    the lowest-scoring prediction matched to it, as pycocotools records), ``iou``, ``ignored`` (crowd).
    """

    predictions: pd.DataFrame
    labels: pd.DataFrame
    iou_threshold: float
    confidence_threshold: float
    category_names: dict[int, str]
    image_ids: np.ndarray
    # rows of ``predictions`` by descending score (stable), overall and within each class (classes ascending):
    # scores do not depend on the thresholds, so the Matcher sorts once and every match only filters
    score_order: np.ndarray | None = None
    class_score_order: np.ndarray | None = None
    # ``fp_reason`` of each ``predictions`` row as int8: 0 = None, else 1 + its index in ``FP_REASONS``
    fp_code: np.ndarray | None = None


def fp_reason_column(code: np.ndarray) -> pd.Categorical:
    """The ``fp_reason`` column of int8 reason codes ``code`` (shape (n,); 0 = none, else 1 + the index in
    ``FP_REASONS``): a categorical of dtype ``FP_REASON_DTYPE``, NaN where 0 (no object column: the values read
    the same — ``"duplicate"`` …, missing — and ``.codes`` is ``code - 1``)."""
    return pd.Categorical.from_codes(np.subtract(code, 1, dtype=np.int8), dtype=FP_REASON_DTYPE, validate=False)


class Matcher:
    """Cached IoUs of one labels/predictions pair; ``match(t)`` assigns predictions at any threshold.

    ``Matcher(labels_df, predictions_df, *, iou_type="bbox", images=None, categories=None)`` takes project
    tables (``explorer.project.schema``); ``images`` gives the image sizes polygon masks need.
    """

    def __init__(self, labels: pd.DataFrame, predictions: pd.DataFrame, *, iou_type: str = "bbox",
                 images: pd.DataFrame | None = None, categories: pd.DataFrame | None = None):
        self._setup(inputs.from_tables(labels, predictions, images=images, categories=categories), iou_type)

    @classmethod
    def from_project(cls, project, *, iou_type: str = "bbox") -> "Matcher":
        """The project's Matcher. Its threshold-independent arrays (layout, IoUs, best overlaps, score orders) are
        kept in the project's cache folder per fingerprint and IoU type (``_saved``) and memory-mapped on the next
        build; absent or unreadable, they are computed (and saved when the folder is writable)."""
        data = inputs.from_tables(project.labels, project.predictions, images=project.images,
                                  categories=project.categories)
        folder = Path(project.root) / "cache" / "matcher" / f"{project.fingerprint}-{iou_type}"
        self = cls.__new__(cls)
        saved = _load_saved(folder)
        try:
            self._setup(data, iou_type, saved=saved)
        except (_Unusable, IndexError):  # a damaged folder: build afresh (and save over it below)
            saved = None
            self._setup(data, iou_type)
        if saved is None:
            shutil.rmtree(folder, ignore_errors=True)  # absent, or unreadable
            _save(folder, self)
        elif self._new_derived:  # a folder written before these arrays were kept: add them
            _add_derived(folder, self._new_derived)
        self._new_derived = {}
        return self

    @classmethod
    def from_data(cls, data: inputs.EvalData, *, iou_type: str = "bbox") -> "Matcher":
        self = cls.__new__(cls)
        self._setup(data, iou_type)
        return self

    @classmethod
    def from_coco(cls, gt, predictions, *, iou_type: str = "bbox") -> "Matcher":
        """From a COCO ground truth and COCO results (paths or loaded), with ``loadRes`` conventions."""
        return cls.from_data(inputs.from_coco(gt, predictions, iou_type=iou_type), iou_type=iou_type)

    def _setup(self, data: inputs.EvalData, iou_type: str, saved: dict | None = None) -> None:
        data = inputs.for_iou_type(data, iou_type)
        self.data = data
        self.iou_type = iou_type
        gt, dt = data.labels, data.predictions
        self.image_list = layout_mod.sorted_unique(data.image_ids, gt.image_id, dt.image_id)
        self.cat_list = layout_mod.sorted_unique(data.category_ids, gt.category_id, dt.category_id)
        n_img, n_cat = len(self.image_list), len(self.cat_list)
        pos = layout_mod.positions
        if saved is not None:  # the arrays below, as a build wrote them (``_save``)
            lay = _saved_layout(saved, len(dt.ids), len(gt.ids))
        else:
            lay = layout_mod.build(
                pos(self.image_list, dt.image_id), pos(self.cat_list, dt.category_id), dt.score,
                pos(self.image_list, gt.image_id), pos(self.cat_list, gt.category_id),
                n_img=n_img, n_cat=n_cat, block="image")
            layout_mod.fill_ious(lay, dt, gt, iou_type=iou_type, sizes=data.image_size())
        self.layout = lay
        n_dt, n_gt = len(lay.dt_rows), len(lay.gt_rows)
        # threshold-independent arrays derived from the tables and the layout: memory-mapped from the saved folder
        # when it holds them (``_DERIVED``), else computed here (and added to the folder by ``from_project``)
        got = (saved or {}).get("derived") or {}
        self._new_derived: dict = {}

        def derived(name: str, n, make):  # n: the array's length (one axis), or its shape
            value = got.get(name)
            if value is None or value.shape != (n if isinstance(n, tuple) else (n,)):
                value = np.ascontiguousarray(make())
                self._new_derived[name] = value
            return value

        # the boxes and areas of the tables (input order; tide, compare and CocoState read them): the saved
        # copies' pages instead of the ones ``inputs`` just made (~54 bytes per prediction freed)
        for side, boxes in (("dt", dt), ("gt", gt)):
            boxes.box = derived(f"input_{side}_box", (len(boxes), 4), lambda: boxes.box.reshape(len(boxes), 4))
            boxes.area = derived(f"input_{side}_area", len(boxes), lambda: boxes.area)

        counts = data.label_id_counts if data.label_id_counts is not None else np.ones(len(gt), bool)
        self.gt_crowd = derived("gt_crowd", n_gt, lambda: gt.iscrowd[lay.gt_rows])
        self.gt_counts = derived("gt_counts", n_gt, lambda: counts[lay.gt_rows])
        self.gt_ignore = derived("gt_ignore", n_gt, lambda: self.gt_crowd | _outside(gt.area[lay.gt_rows]))[None, :]
        self.dt_outside = derived("dt_outside", n_dt, lambda: _outside(dt.area[lay.dt_rows]))[None, :]
        if saved is not None:
            self.best_same, self.best_other = saved["best_same"], saved["best_other"]
        else:
            self.best_same = np.zeros(n_dt)
            self.best_other = np.zeros(n_dt)
            kernels.overlap_stats(lay.grp_d0, lay.grp_d1, lay.grp_g0, lay.grp_g1, lay.grp_blk, lay.blk_d0, lay.blk_g0,
                                  lay.blk_ncols, lay.blk_off, lay.ious, lay.blk_g0[lay.grp_blk],
                                  lay.blk_g1[lay.grp_blk], self.best_same, self.best_other)
        # columns that do not depend on the thresholds, in layout (sorted) order
        self._dt_cols = {"pred_id": derived("dt_pred_id", n_dt, lambda: dt.ids[lay.dt_rows]),
                         "image_id": derived("dt_image_id", n_dt, lambda: dt.image_id[lay.dt_rows]),
                         "category_id": derived("dt_category_id", n_dt, lambda: dt.category_id[lay.dt_rows]),
                         "score": derived("dt_score", n_dt, lambda: dt.score[lay.dt_rows])}
        self._gt_cols = {"label_id": derived("gt_label_id", n_gt, lambda: gt.ids[lay.gt_rows]),
                         "image_id": derived("gt_image_id", n_gt, lambda: gt.image_id[lay.gt_rows]),
                         "category_id": derived("gt_category_id", n_gt, lambda: gt.category_id[lay.gt_rows]),
                         "iscrowd": self.gt_crowd}
        if saved is not None:
            self._score_order, self._class_score_order = saved["score_order"], saved["class_score_order"]
        else:
            score = self._dt_cols["score"]
            self._score_order = np.argsort(-score, kind="stable")
            # = lexsort((-score, dt_cat)): a stable sort of the score order by class (small ints: radix, O(n))
            cat = lay.dt_cat.astype(np.int16 if n_cat < 2**15 else np.int64)
            self._class_score_order = self._score_order[np.argsort(cat[self._score_order], kind="stable")]
        self._prepare_rematch(got)

    def _prepare_rematch(self, saved: dict | None = None) -> None:
        """The threshold-independent inputs of the one-pass re-match (``match_kernels.Rematch``): the saved ones
        (``saved``: ``rematch_<name>`` arrays) when they fit the layout, else built (and kept as new derived)."""
        self._gt_ignore_all = self.gt_ignore[0]
        args = (self.layout, self.layout.dt_rank, self.dt_outside[0], self._gt_ignore_all, layout_mod.MAX_DETS)
        prefix = "rematch_"
        arrays = {k[len(prefix):]: v for k, v in (saved or {}).items() if k.startswith(prefix)}
        rematch = match_kernels.Rematch.from_arrays(arrays, *args) if arrays else None
        if rematch is None:
            rematch = match_kernels.Rematch(*args)
            self._new_derived.update({prefix + k: v for k, v in rematch.arrays().items()})
        self._rematch = rematch
        self._kept_last = None

    def _kept(self, confidence: float) -> tuple:
        """What a match at ``confidence`` takes from the threshold-independent columns (the IoU does not change
        it, so the last one is kept): ``(n_keep, lane_j, static columns, rank, best_same, best_other, orders)``
        with ``lane_j`` the kept rows before each lane and the orders renumbered to kept rows."""
        last = self._kept_last
        if last is not None and last[0] == confidence:
            return last[1]
        dt, lay = self._dt_cols, self.layout
        static = {k: dt[k] for k in ("pred_id", "image_id", "category_id", "score")}
        keep = dt["score"] >= confidence
        n_keep = int(np.count_nonzero(keep))
        if n_keep == len(keep):
            value = (n_keep, self._rematch.lane_r0, static, lay.dt_rank, self.best_same, self.best_other,
                     (self._score_order, self._class_score_order))
        else:
            before = np.zeros(len(keep) + 1, np.int64)  # kept rows before each row
            np.cumsum(keep, out=before[1:])
            pos = before[1:] - 1  # row of each kept prediction in the result
            row = np.flatnonzero(keep)
            value = (n_keep, before[self._rematch.lane_r0], {k: v[row] for k, v in static.items()},
                     lay.dt_rank[row], self.best_same[row], self.best_other[row],
                     tuple(pos[o[keep[o]]] for o in (self._score_order, self._class_score_order)))
        self._kept_last = (confidence, value)
        return value

    def match(self, iou_threshold: float = 0.5, *, confidence_threshold: float = 0.0) -> MatchResult:
        """TP/FP/FN at IoU threshold ``iou_threshold`` keeping predictions with ``score >= confidence_threshold``."""
        _check_threshold(iou_threshold)
        confidence = float(confidence_threshold)
        thr = min(float(iou_threshold), 1 - 1e-10)
        n_keep, lane_j, static, rank, best_same, best_other, orders = self._kept(confidence)
        dt, gt = self._dt_cols, self._gt_cols
        # assignment and outcome in one pass writing the columns below (match_kernels.rematch)
        is_tp, label_of, label_na, kept_iou, ign, code, label_pred, label_none, label_iou, detected = self._rematch(
            thr, confidence, lane_j, dt["score"], dt["pred_id"], self.best_same, self.best_other, self.gt_crowd,
            self.gt_counts, gt["label_id"], n_keep)
        # matched ids are Int64 with <NA> for "none" (ids may be any integer, 0 and negatives included)
        cols = {**static, "is_tp": is_tp, "label_id": pd.arrays.IntegerArray(label_of, label_na), "iou": kept_iou,
                "fp_reason": fp_reason_column(code), "ignored": ign, "rank": rank,
                "max_iou_same_class": best_same, "max_iou_other_class": best_other}
        preds = pd.DataFrame(cols, copy=False)
        # labels: the kept predictions that matched them (last write wins = lowest score, like pycocotools)
        labels = pd.DataFrame({**gt, "detected": detected, "pred_id": pd.arrays.IntegerArray(label_pred, label_none),
                               "iou": label_iou, "ignored": self._gt_ignore_all}, copy=False)
        return MatchResult(predictions=preds, labels=labels, iou_threshold=float(iou_threshold),
                           confidence_threshold=float(confidence_threshold),
                           category_names=dict(self.data.category_names), image_ids=self.image_list,
                           score_order=orders[0], class_score_order=orders[1], fp_code=code)


def _outside(area: np.ndarray) -> np.ndarray:
    """Rows whose area is outside the "all" area range (bounds inclusive)."""
    return (area < ALL_AREA[0]) | (area > ALL_AREA[1])


def _check_threshold(iou_threshold) -> None:
    if not 0.0 <= float(iou_threshold) <= 1.0:
        from explorer.errors import UserError

        raise UserError(f"IoU threshold must be in [0, 1], got {iou_threshold!r}")


# ---- the Matcher's arrays in the project's cache folder -----------------------------------------------------------
_SAVED = tuple(f.name for f in dataclasses.fields(layout_mod.Layout)) + (
    "best_same", "best_other", "score_order", "class_score_order")
#: arrays derived from the tables and the layout that the Matcher reads memory-mapped when saved (computed and
#: added to the folder when absent): the tables' boxes and areas (input order), the layout-order id / score
#: columns, the label flags, the re-match inputs
_DERIVED = ("input_dt_box", "input_dt_area", "input_gt_box", "input_gt_area", "gt_crowd", "gt_counts", "gt_ignore",
            "dt_outside", "dt_pred_id", "dt_image_id", "dt_category_id", "dt_score", "gt_label_id", "gt_image_id",
            "gt_category_id") + tuple("rematch_" + name for name in match_kernels.Rematch.SAVED)
_KEEP_SAVED = 4  # matcher folders kept per project (other fingerprints / IoU types: least recently written out)


class _Unusable(Exception):
    """Saved arrays that do not fit the project's tables (then the Matcher is built)."""


def _load_saved(folder: Path) -> dict | None:
    """The arrays ``_save`` wrote to ``folder``, memory-mapped copy-on-write (writable, never written back),
    or None when the folder is absent or any file is missing or unreadable; ``"derived"``: those of the
    ``_DERIVED`` arrays the folder holds (a folder written before they were kept has none)."""
    try:
        saved = {name: _mapped(folder / f"{name}.npy") for name in _SAVED}
    except (OSError, ValueError, EOFError):
        return None
    saved["derived"] = {}
    for name in _DERIVED:
        try:
            saved["derived"][name] = _mapped(folder / f"{name}.npy")
        except (OSError, ValueError, EOFError):
            pass
    return saved


def _mapped(path: Path) -> np.ndarray:
    """One saved ``.npy`` memory-mapped copy-on-write: pages are read when touched and stay the page cache's
    (evictable, shared by processes), not the process's own memory."""
    return np.asarray(np.load(path, mmap_mode="c", allow_pickle=False))


def _add_derived(folder: Path, arrays: dict) -> None:
    """Write ``arrays`` into an existing saved ``folder``, each ``.npy`` written whole then renamed into place
    (``project.files.atomic_write``: a reader sees a whole file or none; two writers write the same bytes). A
    read-only or vanished folder is left as it is."""
    from explorer.project.files import atomic_write

    for name, values in arrays.items():
        if not folder.is_dir():
            return
        try:
            atomic_write(folder / f"{name}.npy", lambda tmp: _write_npy(tmp, values))
        except OSError:
            return


def _write_npy(path: Path, values: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save given a path would append ".npy" to the temporary name
        np.save(f, np.ascontiguousarray(values), allow_pickle=False)


def _saved_layout(saved: dict, n_dt: int, n_gt: int) -> layout_mod.Layout:
    """The saved ``Layout``, checked against the tables' sizes (a fingerprint names the tables' content, so a
    mismatch means a damaged or foreign folder: ``_Unusable``)."""
    lay = layout_mod.Layout(**{f.name: saved[f.name] for f in dataclasses.fields(layout_mod.Layout)})
    sizes = (lay.blk_d1 - lay.blk_d0) * (lay.blk_g1 - lay.blk_g0)
    if (len(lay.dt_rows) != n_dt or len(lay.gt_rows) != n_gt or len(lay.ious) != int(sizes.sum())
            or any(len(saved[k]) != n_dt for k in ("best_same", "best_other", "score_order", "class_score_order"))):
        raise _Unusable
    return lay


def _save(folder: Path, matcher: "Matcher") -> None:
    """Write the matcher's threshold-independent arrays as ``folder/<name>.npy``: into a temporary folder renamed
    into place in one step (a reader sees all files or none). A read-only project is left as it is; only the
    ``_KEEP_SAVED`` most recently written matcher folders stay."""
    lay = matcher.layout
    arrays = {f.name: getattr(lay, f.name) for f in dataclasses.fields(layout_mod.Layout)}
    arrays.update(best_same=matcher.best_same, best_other=matcher.best_other, score_order=matcher._score_order,
                  class_score_order=matcher._class_score_order, **matcher._new_derived)
    from explorer.project.files import temp_path  # the project's one temporary-name rule (.NAME.PID.RANDOM.tmp)

    tmp = temp_path(folder)
    try:
        tmp.mkdir(parents=True)
        for name, values in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(values), allow_pickle=False)
        os.rename(tmp, folder)  # fails if another process saved it first: theirs is the same
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return
    try:
        others = sorted((p for p in folder.parent.iterdir() if p.is_dir() and not p.name.startswith(".")),
                        key=lambda p: p.stat().st_mtime, reverse=True)
        for old in others[_KEEP_SAVED:]:
            shutil.rmtree(old, ignore_errors=True)
    except OSError:
        pass
