"""COCO detection / instance-segmentation evaluation, bit-identical to pycocotools 2.0.11.

``evaluate_coco(gt, predictions, *, iou_type="bbox")`` runs, for every image x category group, the matching of
``COCOeval.evaluateImg`` at the 10 IoU thresholds ``0.50:0.05:0.95`` and the 4 area ranges (all, small
``[0, 32²]``, medium ``[32², 96²]``, large ``[96², 1e10]``, bounds inclusive, on the label's COCO ``area``),
then ``accumulate`` (101-point interpolated precision per class) and ``summarize`` (the 12 numbers: the mean
of the defined entries, -1 when none is defined). Arrays and reductions follow pycocotools' shapes and orders,
so the floating-point results are the same bits.

In the app a project's own predictions are matched once per run (``project_evaluation``: a ``CocoState`` on the
shared ``Matcher``'s IoUs, bounded cache; ``evaluate_coco(project, …)`` reads it once it exists) and accumulated
once per image selection for every category (a class selection is a slice): pycocotools matches each image-category group on its own and accumulates
each category on its own, so these are the numbers of a fresh evaluation of the selection, bit for bit.
"""
from __future__ import annotations

import hashlib
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from explorer.errors import ProblemReport, UserError
from explorer.evaluation import inputs, kernels, layout as layout_mod

IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
REC_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETS = np.array([1, 10, 100], dtype=np.int64)
AREA_RANGES = {"all": (0**2, 1e5**2), "small": (0**2, 32**2), "medium": (32**2, 96**2), "large": (96**2, 1e5**2)}
AREA_LABELS = {"all": "all", "small": "small", "medium": "medium", "large": "large"}
IOU_TYPES = ("bbox", "segm")

# (name suffix, ap?, iou threshold, area, maxDets) in pycocotools' summarize order
SUMMARY_SPEC = (
    ("mAP", True, None, "all", 100),
    ("mAP_50", True, 0.5, "all", 100),
    ("mAP_75", True, 0.75, "all", 100),
    ("mAP_s", True, None, "small", 100),
    ("mAP_m", True, None, "medium", 100),
    ("mAP_l", True, None, "large", 100),
    ("mAR_1", False, None, "all", 1),
    ("mAR_10", False, None, "all", 10),
    ("mAR_100", False, None, "all", 100),
    ("mAR_s", False, None, "small", 100),
    ("mAR_m", False, None, "medium", 100),
    ("mAR_l", False, None, "large", 100),
)


# SUMMARY_SPEC's maxDets as pycocotools' summarize picks them: the first AP at a literal 100 (its default
# argument), the other APs and AR_s/m/l at maxDets[2], AR_1/10/100 at maxDets[0]/[1]/[2] (so with
# maxDets=[1, 10, 300] "mAR_100" is the recall at 300 detections and "mAP" is -1, as in pycocotools)
_SUMMARY_MAXDET_INDEX = ("100", 2, 2, 2, 2, 2, 0, 1, 2, 2, 2, 2)


def _summary_max_det(p: "CocoParams", spec) -> int | None:
    if spec == "100":
        return 100
    return p.max_dets[spec] if spec < len(p.max_dets) else None


@dataclass(frozen=True)
class CocoParams:
    """pycocotools' ``COCOeval.params`` that change the numbers (defaults = pycocotools' defaults).

    ``iou_thresholds`` (``iouThrs``), ``max_dets`` (``maxDets``, ascending), ``area_ranges`` (``areaRng`` +
    ``areaRngLbl``: label -> ``(lo, hi)``, inclusive, on the label's COCO area), ``use_cats`` (``useCats``:
    False = class-agnostic, every prediction may match every label of its image; K = 1 category, ``-1``).
    Equal to pycocotools with the same params (tests: |diff| <= 1e-12).
    """

    iou_thresholds: tuple = tuple(IOU_THRESHOLDS.tolist())
    max_dets: tuple = (1, 10, 100)
    area_ranges: tuple = tuple(AREA_RANGES.items())
    use_cats: bool = True

    @classmethod
    def make(cls, params=None, **kwargs) -> "CocoParams":
        """From a ``CocoParams``, a dict of these fields, or keyword arguments; validated (``UserError``)."""
        if isinstance(params, CocoParams):
            base = dict(params.__dict__)
        else:
            base = dict(params or {})
        base.update({k: v for k, v in kwargs.items() if v is not None})
        unknown = set(base) - set(cls.__dataclass_fields__)
        if unknown:
            raise UserError(f"unknown evaluation parameter(s) {sorted(unknown)}; known: {list(cls.__dataclass_fields__)}")
        out = {}
        thr = np.asarray(base.get("iou_thresholds", cls.iou_thresholds), dtype=np.float64).ravel()
        if len(thr) == 0 or not np.all((thr >= 0) & (thr <= 1)):
            raise UserError(f"IoU thresholds must be numbers in [0, 1], got {thr.tolist()}")
        out["iou_thresholds"] = tuple(thr.tolist())
        md = base.get("max_dets", cls.max_dets)
        try:
            md = tuple(int(m) for m in md)
        except (TypeError, ValueError):
            raise UserError(f"max_dets must be positive integers, got {md!r}") from None
        if not md or min(md) < 1:
            raise UserError(f"max_dets must be positive integers, got {list(md)}")
        out["max_dets"] = md
        ar = base.get("area_ranges", cls.area_ranges)
        ar = tuple(ar.items()) if isinstance(ar, dict) else tuple(ar)
        try:
            ar = tuple((str(k), (float(lo), float(hi))) for k, (lo, hi) in ar)
        except (TypeError, ValueError):
            raise UserError(f"area_ranges must map a label to (lo, hi), got {ar!r}") from None
        if not ar:
            raise UserError("area_ranges must hold at least one range")
        out["area_ranges"] = ar
        out["use_cats"] = bool(base.get("use_cats", True))
        return cls(**out)

    @property
    def area_labels(self) -> list[str]:
        return [k for k, _ in self.area_ranges]

    def to_dict(self) -> dict:
        return {"iou_thresholds": list(self.iou_thresholds), "max_dets": list(self.max_dets),
                "area_ranges": {k: list(v) for k, v in self.area_ranges}, "use_cats": self.use_cats}


def summary_keys(iou_type: str) -> list[str]:
    """The 12 summary names, e.g. ``coco/bbox_mAP_50``."""
    return [f"coco/{iou_type}_{name}" for name, *_ in SUMMARY_SPEC]


def _mean_defined(s: np.ndarray) -> float:
    """pycocotools' summarize reduction: mean of the entries > -1, or -1 when there is none."""
    defined = s[s > -1]
    return -1.0 if len(defined) == 0 else float(np.mean(defined))


@dataclass
class CocoEvaluation:
    """The result of ``evaluate_coco``.

    ``precision``: ``(T, R=101, K, A, M)`` interpolated precision, ``recall``: ``(T, K, A, M)``, with -1 where
    undefined (pycocotools' ``eval['precision']``/``eval['recall']``, kept bit-identical); axes: ``params``'
    IoU thresholds, recall thresholds, ``category_ids`` (``[-1]`` when class-agnostic), area ranges, maxDets.
    ``summary``: the 12 named numbers, NaN where undefined; ``stats``: the same as pycocotools' ``stats`` array
    (-1 where undefined). ``problems``: input records that were skipped or flagged, with file and reason.
    """

    iou_type: str
    category_ids: np.ndarray
    category_names: dict[int, str]
    image_ids: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    n_labels: np.ndarray
    problems: ProblemReport
    _data: inputs.EvalData = field(repr=False)
    # () -> (dt rows (n,), matched gt rows (T, n) or -1, ignored (T, n)) of the first area range, rows of
    # ``_data``'s tables: computed when ``matches`` is read (the project state re-matches one area on demand)
    _first_area: object = field(repr=False)
    params: CocoParams = field(default_factory=CocoParams)

    @cached_property
    def stats(self) -> np.ndarray:
        """pycocotools' ``COCOeval.stats``: the 12 numbers in summarize order, -1 where no label is in range."""
        p = self.params
        thr = np.asarray(p.iou_thresholds)
        out = np.full(len(SUMMARY_SPEC), -1.0)
        for j, ((name, is_ap, t, area, _), spec) in enumerate(zip(SUMMARY_SPEC, _SUMMARY_MAXDET_INDEX)):
            aind = [i for i, lbl in enumerate(p.area_labels) if lbl == area]
            max_det = _summary_max_det(p, spec)
            mind = [i for i, m in enumerate(p.max_dets) if m == max_det]
            if not mind or not aind:
                continue
            mi = mind
            s = self.precision if is_ap else self.recall
            if t is not None:
                s = s[np.where(t == thr)[0]]
            s = s[:, :, :, aind][..., mi] if is_ap else s[:, :, aind][..., mi]
            out[j] = _mean_defined(s)
        return out

    @cached_property
    def summary(self) -> dict[str, float]:
        """The 12 numbers ``coco/<iou_type>_mAP`` ... ``_mAR_l``; NaN where pycocotools prints -1 (no label in
        range). ``stats`` holds pycocotools' array with its -1s."""
        return {key: (np.nan if v == -1 else float(v)) for key, v in zip(summary_keys(self.iou_type), self.stats)}

    @cached_property
    def per_class(self) -> pd.DataFrame:
        """One row per evaluated category: ``category_id, name, ap, ap_50, ap_75, ar_100, n_labels``.

        ``ap`` is the mean of the class's defined precision entries over all IoU thresholds and the 101 recall
        thresholds (first area range — "all" by default — and the largest maxDets), ``ar_100`` the mean recall
        over the IoU thresholds; NaN when the class has no (non-crowd) label in the selection.
        """
        t = self.per_class_area
        first = t[t["area"] == self.params.area_labels[0]]
        return first.drop(columns=["area"]).reset_index(drop=True)

    @cached_property
    def per_class_area(self) -> pd.DataFrame:
        """One row per (category, area range): ``category_id, name, area, ap, ap_50, ap_75, ar_100, n_labels``
        at the largest maxDets (NaN where undefined; ``ap_50``/``ap_75`` NaN when that IoU is not evaluated)."""
        import pandas as pd  # (on first use: the 12 numbers of a COCO file need no pandas)

        thr = np.asarray(self.params.iou_thresholds)
        i50, i75 = np.where(thr == 0.5)[0], np.where(thr == 0.75)[0]

        def mean(x):
            v = _mean_defined(x)
            return np.nan if v == -1 else v

        rows = []
        for a, label in enumerate(self.params.area_labels):
            p = self.precision[:, :, :, a, -1]
            r = self.recall[:, :, a, -1]
            for k, c in enumerate(self.category_ids):
                rows.append({"category_id": int(c), "name": self.category_names.get(int(c), "all classes" if c == -1 else str(c)),
                             "area": label, "ap": mean(p[:, :, k]), "ap_50": mean(p[i50][:, :, k]),
                             "ap_75": mean(p[i75][:, :, k]), "ar_100": mean(r[:, k]), "n_labels": int(self.n_labels[k, a])})
        return pd.DataFrame(rows, columns=["category_id", "name", "area", "ap", "ap_50", "ap_75", "ar_100", "n_labels"])

    @cached_property
    def matches(self) -> pd.DataFrame:
        """Per-image match records (first area range, largest maxDets), one row per (prediction, IoU threshold).

        Columns: ``pred_id, image_id, category_id, score, iou_threshold, label_id`` (Int64, ``<NA>`` = unmatched),
        ``ignored`` (matched to a crowd label or outside the area range). Predictions beyond the largest
        maxDets of their image-category are not evaluated and not listed.
        """
        import pandas as pd

        dt, gt = self._data.predictions, self._data.labels
        thr = np.asarray(self.params.iou_thresholds)
        rows, m, ignored = self._first_area()  # m: (T, n) gt rows of the tables
        n = len(rows)
        label_id = pd.arrays.IntegerArray(np.where(m >= 0, np.append(gt.ids, 0)[m], 0).astype(np.int64),
                                          m < 0)  # <NA> = unmatched
        return pd.DataFrame({
            "pred_id": np.tile(dt.ids[rows], len(thr)),
            "image_id": np.tile(dt.image_id[rows], len(thr)),
            "category_id": np.tile(dt.category_id[rows], len(thr)),
            "score": np.tile(dt.score[rows], len(thr)),
            "iou_threshold": np.repeat(thr, n),
            "label_id": label_id.ravel(),
            "ignored": ignored.ravel(),
        })

    def format(self) -> str:
        """The 12 summary lines in pycocotools' layout (3 decimals, -1.000 where undefined)."""
        p = self.params
        lines = []
        for (name, is_ap, thr, area, _), spec, value in zip(SUMMARY_SPEC, _SUMMARY_MAXDET_INDEX, self.stats):
            title, kind = ("Average Precision", "(AP)") if is_ap else ("Average Recall", "(AR)")
            iou = f"{p.iou_thresholds[0]:0.2f}:{p.iou_thresholds[-1]:0.2f}" if thr is None else f"{thr:0.2f}"
            max_det = _summary_max_det(p, spec) or -1
            lines.append(f" {title:<18} {kind} @[ IoU={iou:<9} | area={area:>6s} | maxDets={max_det:>3d} ] = "
                         f"{value:0.3f}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready: the 12 named numbers (undefined -> None), pycocotools' ``stats`` (-1 kept), the params,
        the per-class and per-class-per-area tables (NaN -> None), problems."""
        def records(df):
            return df.astype(object).where(df.notna(), None).to_dict(orient="records")

        return {"iou_type": self.iou_type,
                "summary": {k: (None if np.isnan(v) else v) for k, v in self.summary.items()},
                "stats": self.stats.tolist(), "params": self.params.to_dict(),
                "per_class": records(self.per_class), "per_class_area": records(self.per_class_area),
                "problems": self.problems.to_dict()}

    def matcher(self):
        """A ``Matcher`` on the same labels and predictions (for matching at any IoU threshold)."""
        from explorer.evaluation.matcher import Matcher

        return Matcher.from_data(self._data, iou_type=self.iou_type)


def _project_class():
    """``Project``, or ``()`` while its module is not loaded (then nothing is one; ``isinstance(x, ())`` is
    False): a COCO file is evaluated without importing the project layer and pandas."""
    folder = sys.modules.get("explorer.project.folder")
    return () if folder is None else folder.Project


def load_inputs(gt, predictions, *, iou_type: str) -> inputs.EvalData:
    """Any supported ``gt``/``predictions`` pair as ``EvalData`` (see ``evaluate_coco``)."""
    if iou_type not in IOU_TYPES:
        raise UserError(f"iou_type must be one of {', '.join(IOU_TYPES)}, got {iou_type!r}")
    Project = _project_class()

    if isinstance(gt, inputs.EvalData):
        return gt
    if isinstance(gt, Project):
        if predictions is not None and not isinstance(predictions, Project):
            return _project_with_results(gt, predictions, iou_type=iou_type)
        source = predictions if isinstance(predictions, Project) else gt
        return inputs.from_tables(gt.labels, source.predictions, images=gt.images, categories=gt.categories)
    return inputs.from_coco(gt, predictions, iou_type=iou_type)


def _project_with_results(project, predictions, *, iou_type: str) -> inputs.EvalData:
    """A project's labels with predictions from a COCO results file (``loadRes`` conventions)."""
    return inputs.from_project_with_results(project, predictions)


def evaluate_coco(gt, predictions=None, *, iou_type: str = "bbox", cat_ids=None, image_ids=None, params=None,
                  iou_thresholds=None, max_dets=None, area_ranges=None, use_cats=None) -> CocoEvaluation:
    """COCO evaluation with pycocotools' numbers (|diff| <= 1e-12, in practice the same bits).

    ``gt``: COCO JSON path, loaded dict, or ``explorer.project.folder.Project`` (then ``predictions`` may be None:
    the project's own predictions). ``predictions``: COCO results JSON path or list (``loadRes``
    conventions), or a ``Project``. ``cat_ids`` / ``image_ids``: evaluate only these (pycocotools'
    ``params.catIds`` / ``params.imgIds``); default all ground-truth categories and images.
    ``params`` (a ``CocoParams`` or dict) or the keywords ``iou_thresholds``, ``max_dets``, ``area_ranges``
    (``{label: (lo, hi)}``), ``use_cats`` (False: class-agnostic) set pycocotools' other params.

    >>> r = evaluate_coco("gt.json", "dt.json", iou_type="bbox")   # doctest: +SKIP
    >>> r.summary["coco/bbox_mAP_50"]                                # doctest: +SKIP
    """
    p = CocoParams.make(params, iou_thresholds=iou_thresholds, max_dets=max_dets, area_ranges=area_ranges,
                        use_cats=use_cats)
    Project = _project_class()

    if isinstance(gt, Project) and predictions is None and _STATES.get(_state_key(gt, iou_type, p)) is not None:
        # the project's own predictions, already matched in this process (the app): accumulation only
        return project_evaluation(gt, iou_type=iou_type, cat_ids=cat_ids, image_ids=image_ids, params=p)
    data = load_inputs(gt, predictions, iou_type=iou_type)
    return evaluate_data(data, iou_type=iou_type, cat_ids=cat_ids, image_ids=image_ids, params=p)


def _area_masks(p: CocoParams, gt_area, gt_crowd, dt_area) -> tuple[np.ndarray, np.ndarray]:
    """``gt_ignore (A, n_gt)``: crowd or area outside range ``a`` (bounds inclusive); ``dt_outside (A, n_dt)``."""
    lo = np.array([r[0] for _, r in p.area_ranges], dtype=np.float64)[:, None]
    hi = np.array([r[1] for _, r in p.area_ranges], dtype=np.float64)[:, None]
    gt_ignore = gt_crowd[None, :] | (gt_area[None, :] < lo) | (gt_area[None, :] > hi)
    dt_outside = (dt_area[None, :] < lo) | (dt_area[None, :] > hi)
    return gt_ignore, dt_outside


def _id_list(values, default) -> np.ndarray:
    """Sorted unique int64 ids of ``values`` (any iterable; None = ``default``), as pycocotools sorts imgIds
    (by one sort: NumPy 2's hash ``np.unique`` took ~30 ms on 100k ids, several times per page rerun)."""
    v = default if values is None else values
    return layout_mod.sorted_unique(np.asarray(v if isinstance(v, np.ndarray) else list(v), dtype=np.int64))


def _unique_in_order(values) -> np.ndarray:
    v = np.asarray(list(values), dtype=np.int64)
    _, first = np.unique(v, return_index=True)
    return v[np.sort(first)]


def evaluate_data(data: inputs.EvalData, *, iou_type: str, cat_ids=None, image_ids=None,
                  params: CocoParams | None = None) -> CocoEvaluation:
    """``evaluate_coco`` on already-loaded ``EvalData``.

    Class-agnostic (``use_cats=False``) follows pycocotools: an image's labels and predictions of the
    selected categories form one group, concatenated in ``cat_ids`` order (as given) — that order breaks
    score ties and IoU ties exactly as in pycocotools — and the result has one category, ``-1``.
    """
    p = params or CocoParams()
    data = inputs.for_iou_type(data, iou_type)
    img_list = _id_list(image_ids, data.image_ids)
    if p.use_cats:
        cat_list = _id_list(cat_ids, data.category_ids)
        cat_order = cat_list
    else:
        cat_order = _unique_in_order(data.category_ids if cat_ids is None else cat_ids)
        cat_list = np.array([-1], dtype=np.int64)
    gt, dt = data.labels, data.predictions
    # image / category position of every row (-1: not selected), one table look-up each (no isin/searchsorted);
    # class-agnostic: the position in cat_ids' order, by which pycocotools concatenates the categories
    dt_img, gt_img = layout_mod.lookup(img_list, dt.image_id), layout_mod.lookup(img_list, gt.image_id)
    dt_cat, gt_cat = layout_mod.lookup(cat_order, dt.category_id), layout_mod.lookup(cat_order, gt.category_id)
    dt_idx = np.flatnonzero((dt_img >= 0) & (dt_cat >= 0))
    gt_idx = np.flatnonzero((gt_img >= 0) & (gt_cat >= 0))
    dt_img, dt_cat, gt_img, gt_cat = dt_img[dt_idx], dt_cat[dt_idx], gt_img[gt_idx], gt_cat[gt_idx]
    if not p.use_cats:  # pre-order rows by cat_ids order (stable), then one category
        o_d, o_g = np.argsort(dt_cat, kind="stable"), np.argsort(gt_cat, kind="stable")
        dt_idx, dt_img, gt_idx, gt_img = dt_idx[o_d], dt_img[o_d], gt_idx[o_g], gt_img[o_g]
        dt_cat, gt_cat = np.zeros(len(dt_idx), np.int64), np.zeros(len(gt_idx), np.int64)
    n_img, n_cat = len(img_list), len(cat_list)
    max_det = p.max_dets[-1]  # pycocotools cuts at maxDets[-1] (ascending by convention)
    lay = layout_mod.build(dt_img, dt_cat, dt.score[dt_idx], gt_img, gt_cat, n_img=n_img, n_cat=n_cat, block="group",
                           drop_cut=True, max_dets=max_det)
    # layout rows index the selected subset; make them index the full tables
    lay.dt_rows = dt_idx[lay.dt_rows]
    lay.gt_rows = gt_idx[lay.gt_rows]
    layout_mod.fill_ious(lay, dt, gt, iou_type=iou_type, sizes=data.image_size() if iou_type == "segm" else None)

    n_dt, n_gt = len(lay.dt_rows), len(lay.gt_rows)
    gt_crowd = gt.iscrowd[lay.gt_rows]
    gt_ignore, dt_outside = _area_masks(p, gt.area[lay.gt_rows], gt_crowd, dt.area[lay.dt_rows])
    counts = data.label_id_counts[lay.gt_rows] if data.label_id_counts is not None else np.ones(n_gt, bool)
    iou_thr = np.asarray(p.iou_thresholds, dtype=np.float64)
    rec_thr = REC_THRESHOLDS
    max_dets = np.asarray(p.max_dets, dtype=np.int64)
    n_area, n_thr = len(p.area_ranges), len(iou_thr)
    dt_match = np.full((n_area, n_thr, n_dt), -1, np.int32)  # int32: rows < 2^31, half the memory at scale
    gt_match = np.full((n_area, n_thr, n_gt), -1, np.int32)
    dt_ignore = np.zeros((n_area, n_thr, n_dt), bool)
    dt_tp = np.zeros((n_area, n_thr, n_dt), bool)
    kernels.greedy_match(lay.grp_d0, lay.grp_d1, lay.grp_g0, lay.grp_g1, lay.grp_blk, lay.blk_d0, lay.blk_g0,
                         lay.blk_ncols, lay.blk_off, lay.ious, np.ascontiguousarray(gt_crowd), np.ascontiguousarray(gt_ignore),
                         np.ascontiguousarray(dt_outside), np.ascontiguousarray(counts), np.minimum(iou_thr, 1 - 1e-10),
                         dt_match, dt_ignore, dt_tp, gt_match, np.zeros((1, 1, 1)), False)

    # accumulation order per category: stable descending score over (image, rank) order = layout order
    order = np.lexsort((-dt.score[lay.dt_rows], lay.dt_cat))
    cat_start = np.searchsorted(lay.dt_cat[order], np.arange(n_cat + 1), "left")
    npig = np.zeros((n_cat, n_area), np.int64)
    for a in range(n_area):
        npig[:, a] = np.bincount(lay.gt_cat[~gt_ignore[a]], minlength=n_cat)
    has_any = (np.bincount(lay.gt_cat, minlength=n_cat) + np.bincount(lay.dt_cat, minlength=n_cat)) > 0
    precision = -np.ones((n_thr, len(rec_thr), n_cat, n_area, len(max_dets)))
    recall = -np.ones((n_thr, n_cat, n_area, len(max_dets)))
    kernels.accumulate(order, cat_start, lay.dt_rank, dt_tp, dt_ignore, npig, has_any, max_dets, rec_thr,
                       precision, recall)
    names = data.category_names if p.use_cats else {-1: "all classes"}
    return CocoEvaluation(iou_type=iou_type, category_ids=cat_list, category_names=names,
                          image_ids=img_list, precision=precision, recall=recall, n_labels=npig,
                          problems=data.problems, _data=data, params=p,
                          _first_area=lambda: (lay.dt_rows, np.append(lay.gt_rows, -1)[dt_match[0]], dt_ignore[0]))


# ---- match once per run, accumulate per selection ---------------------------------------------------------------
@dataclass(eq=False)
class CocoState:
    """pycocotools' ``evaluateImg`` of every (image, category) group of a labels/predictions pair, done once.

    pycocotools matches each (image, category) group on its own, and a prediction's match depends only on the
    higher-scoring predictions of its group; so ``params.imgIds``/``catIds`` only choose which groups
    ``accumulate`` reads, and a ``maxDets[-1]`` cut ``<= 100`` keeps the same matches for the kept rows. The
    state holds the matching of all groups on the ``Matcher``'s IoUs (the app's one IoU computation);
    ``evaluate(cat_ids=…, image_ids=…)`` runs only ``kernels.accumulate`` over the selected rows — the same
    numbers, to the bit, as a fresh ``evaluate_data`` on the selection (and as pycocotools).

    Every per-prediction array is in *accumulation order* (position ``j``): the predictions inside a group
    (the 100 best of their image-class) by class ascending, then stable descending score over (image, rank)
    order — pycocotools' ``argsort(-dtScores, kind="mergesort")`` — so a selection's accumulation reads its
    rows front to back. ``rows (n,)`` int32: the Matcher layout row at ``j`` (``matcher.layout``); ``rank``
    (n,) int64 (kept as uint8: < 100): position in its image-class; ``cat``/``img (n,)`` int32: Matcher
    category / image positions; ``tp_bits``/``ign_bits (A, n)`` unsigned: bit ``t`` of ``[a, j]`` is
    ``greedy_match``'s ``dt_tp`` / ``dt_ignore`` at area range ``a`` and IoU threshold ``t`` (``dt_tp`` /
    ``dt_ignore`` give them unpacked, ``(T, n)`` bool per area); ``gt_ignore (A, n_gt)`` over the layout's label
    rows. Memory ``2·A·ceil(T/8)`` bytes + 13 per prediction (29 with the defaults: 58 MB at 2M predictions,
    0.6 GB at 20M; it was 104 with a bool per flag and int64 rows and ranks); an accumulation unpacks at most
    ``_CHUNK`` rows at a time.
    """

    matcher: object  # explorer.evaluation.matcher.Matcher (IoUs, layout, data)
    params: CocoParams
    gt_ignore: np.ndarray
    rows: np.ndarray
    rank_u8: np.ndarray
    cat: np.ndarray
    img: np.ndarray
    tp_bits: np.ndarray
    ign_bits: np.ndarray

    @staticmethod
    def applies(p: CocoParams) -> bool:
        """Per-class matching (``use_cats``) with ``maxDets[-1]`` within the Matcher's cut and at most 64 IoU
        thresholds (a flag each in one unsigned word): the state's case."""
        return p.use_cats and p.max_dets[-1] <= layout_mod.MAX_DETS and len(p.iou_thresholds) <= 64

    @classmethod
    def build(cls, matcher, params: CocoParams | None = None) -> "CocoState":
        """Match every group of ``matcher`` at every area range and IoU threshold of ``params``: one area range
        per kernel call into ``(T, n_dt)`` scratch arrays, each gathered into accumulation order and packed
        (peak memory ~``6·T`` bytes per prediction above the outputs)."""
        p = params or CocoParams()
        lay, data = matcher.layout, matcher.data
        gt_ignore, _ = _area_masks(p, data.labels.area[lay.gt_rows], matcher.gt_crowd, np.zeros(0))
        inside = np.flatnonzero(lay.dt_rank < layout_mod.MAX_DETS)
        score = data.predictions.score[lay.dt_rows[inside]]
        rows = inside[np.lexsort((-score, lay.dt_cat[inside]))]  # stable: (image, rank) order within ties
        del inside, score
        n_area, n_thr, n_dt = len(p.area_ranges), len(p.iou_thresholds), len(lay.dt_rows)
        word = _bit_word(n_thr)
        self = cls(matcher=matcher, params=p, gt_ignore=gt_ignore, rows=rows.astype(np.int32),
                   rank_u8=lay.dt_rank[rows].astype(np.uint8), cat=lay.dt_cat[rows].astype(np.int32),
                   img=lay.dt_img[rows].astype(np.int32), tp_bits=np.zeros((n_area, len(rows)), word),
                   ign_bits=np.zeros((n_area, len(rows)), word))
        tp, ign = np.zeros((2, 1, n_thr, n_dt), bool)
        bits = np.empty(n_dt, word)
        for a in range(n_area):
            self._match_area(a, tp, ign)
            for flags, out in ((tp, self.tp_bits), (ign, self.ign_bits)):
                bits[:] = 0
                for t in range(n_thr):  # bit t of each word: contiguous passes, then one gather
                    bits |= flags[0, t].astype(word) << word(t)
                np.take(bits, rows, out=out[a])
        return self

    @property
    def rank(self) -> np.ndarray:
        """``(n,)`` int64: position of each prediction in its image-class (< 100)."""
        return self.rank_u8.astype(np.int64)

    @property
    def dt_tp(self) -> "_Flags":
        """``greedy_match``'s true-positive flags: ``dt_tp[a]`` is ``(T, n)`` bool (unpacked on access)."""
        return _Flags(self.tp_bits, len(self.params.iou_thresholds))

    @property
    def dt_ignore(self) -> "_Flags":
        """``greedy_match``'s ignored flags: ``dt_ignore[a]`` is ``(T, n)`` bool (unpacked on access)."""
        return _Flags(self.ign_bits, len(self.params.iou_thresholds))

    def _match_area(self, a: int, dt_tp: np.ndarray, dt_ignore: np.ndarray) -> np.ndarray:
        """``greedy_match`` of area range ``a`` into ``dt_tp``/``dt_ignore`` ``(1, T, n_dt)`` (layout rows);
        returns the matched gt row (layout rows, -1) ``(1, T, n_dt)`` int32."""
        m, lay = self.matcher, self.matcher.layout
        n_thr = len(self.params.iou_thresholds)
        dt_match = np.full((1, n_thr, len(lay.dt_rows)), -1, np.int32)
        gt_match = np.full((1, n_thr, len(lay.gt_rows)), -1, np.int32)
        thr = np.minimum(np.asarray(self.params.iou_thresholds, dtype=np.float64), 1 - 1e-10)
        lo, hi = self.params.area_ranges[a][1]
        dt_area = m.data.predictions.area[lay.dt_rows]
        dt_outside = ((dt_area < lo) | (dt_area > hi))[None, :]  # (_area_masks' rule, this area only)
        kernels.greedy_match(lay.grp_d0, lay.grp_d1, lay.grp_g0, lay.grp_g1, lay.grp_blk, lay.blk_d0, lay.blk_g0,
                             lay.blk_ncols, lay.blk_off, lay.ious, m.gt_crowd,
                             np.ascontiguousarray(self.gt_ignore[a:a + 1]), dt_outside,
                             m.gt_counts, thr, dt_match, dt_ignore, dt_tp, gt_match, np.zeros((1, 1, 1)), False)
        return dt_match

    def evaluate(self, *, iou_type: str, cat_ids=None, image_ids=None, params: CocoParams | None = None) -> CocoEvaluation:
        """``evaluate_data`` of the selection (``cat_ids``/``image_ids`` as pycocotools' ``catIds``/``imgIds``,
        default every category / image of the data) by accumulation alone. ``params`` may differ from the
        state's only in ``max_dets`` (``maxDets[-1] <= 100``)."""
        p = params or self.params
        if (p.iou_thresholds, p.area_ranges) != (self.params.iou_thresholds, self.params.area_ranges) or not self.applies(p):
            raise ValueError("the state was matched with other IoU thresholds / area ranges")
        m, lay, data = self.matcher, self.matcher.layout, self.matcher.data
        img_list, cat_list = _id_list(image_ids, data.image_ids), _id_list(cat_ids, data.category_ids)
        n_cat, n_area = len(cat_list), len(p.area_ranges)
        img_in = np.isin(m.image_list, img_list)  # per Matcher image position
        cat_k = np.full(len(m.cat_list), -1, np.int64)  # Matcher category position -> cat_list position, -1 = not selected
        if n_cat:
            pos = np.minimum(np.searchsorted(cat_list, m.cat_list), n_cat - 1)
            hit = cat_list[pos] == m.cat_list
            cat_k[hit] = pos[hit]
        if img_in.all() and (cat_k >= 0).all():
            order = np.arange(len(self.rows))
        else:
            order = np.flatnonzero((cat_k >= 0)[self.cat] & img_in[self.img])
        k = cat_k[self.cat[order]]
        cat_start = np.searchsorted(k, np.arange(n_cat + 1), "left")  # k ascends along the accumulation order
        gk = cat_k[lay.gt_cat]
        g = np.flatnonzero((gk >= 0) & img_in[lay.gt_img])
        gk = gk[g]
        npig = np.zeros((n_cat, n_area), np.int64)
        for a in range(n_area):
            npig[:, a] = np.bincount(gk[~self.gt_ignore[a, g]], minlength=n_cat)
        has_any = (np.bincount(gk, minlength=n_cat) + np.bincount(k, minlength=n_cat)) > 0
        max_dets = np.asarray(p.max_dets, dtype=np.int64)
        n_thr = len(p.iou_thresholds)
        precision = -np.ones((n_thr, len(REC_THRESHOLDS), n_cat, n_area, len(max_dets)))
        recall = -np.ones((n_thr, n_cat, n_area, len(max_dets)))
        tp, ign = self.dt_tp, self.dt_ignore
        k0 = 0
        while k0 < n_cat:  # runs of whole categories of at most _CHUNK rows (or one larger category)
            k1 = k0 + 1 + int(np.searchsorted(cat_start[k0 + 2:], cat_start[k0] + _CHUNK, "right"))
            k1 = min(k1, n_cat)
            sel = order[cat_start[k0]:cat_start[k1]]
            # each category accumulates on its own: the others get empty ranges and are skipped
            starts = np.clip(cat_start - cat_start[k0], 0, len(sel))
            todo = has_any.copy()
            todo[:k0] = todo[k1:] = False
            kernels.accumulate(np.arange(len(sel)), starts, self.rank_u8[sel].astype(np.int64), tp.rows(sel),
                               ign.rows(sel), npig, todo, max_dets, REC_THRESHOLDS, precision, recall)
            k0 = k1

        def first_area():
            # the listing of ``matches``: selected rows within the cut, category-major then image then rank
            j = order[self.rank_u8[order] < max_dets[-1]]
            j = j[np.argsort(self.cat[j].astype(np.int64) * len(m.image_list) + self.img[j], kind="stable")]
            rows = self.rows[j]
            tp, ign = np.zeros((2, 1, n_thr, len(lay.dt_rows)), bool)
            match = self._match_area(0, tp, ign)
            return lay.dt_rows[rows], np.append(lay.gt_rows, -1)[match[0][:, rows]], ign[0][:, rows]

        return CocoEvaluation(iou_type=iou_type, category_ids=cat_list, category_names=data.category_names,
                              image_ids=img_list, precision=precision, recall=recall, n_labels=npig,
                              problems=data.problems, _data=data, params=p, _first_area=first_area)


_CHUNK = 1 << 20  # rows of CocoState flags unpacked at once by an accumulation (80 MB with the defaults)
prange = range  # numba.prange once compiled
_kernel = kernels.LazyKernels(globals())  # kernels.py's lazy-compilation rule


@_kernel(parallel=True)
def unpack_rows(sel, bits, out):
    """``out[a, t, j] = bit t of bits[a, sel[j]]`` (``out (A, T, len(sel))`` bool)."""
    for a in range(bits.shape[0]):
        for t in prange(out.shape[1]):
            for j in range(sel.shape[0]):
                out[a, t, j] = (bits[a, sel[j]] >> t) & 1 != 0


def _bit_word(n: int):
    """The unsigned dtype holding ``n <= 64`` flags as bits."""
    return next(w for w in (np.uint8, np.uint16, np.uint32, np.uint64) if np.dtype(w).itemsize * 8 >= n)


@dataclass(frozen=True)
class _Flags:
    """``CocoState`` flags packed as bits: ``bits (A, n)``, bit ``t`` = threshold ``t`` of ``T``."""

    bits: np.ndarray
    n_thr: int

    @property
    def shape(self) -> tuple:
        return (self.bits.shape[0], self.n_thr, self.bits.shape[1])

    def __getitem__(self, a: int) -> np.ndarray:
        """``(T, n)`` bool of area range ``a``."""
        return self._unpack(self.bits[a][None, :])[0]

    def rows(self, sel: np.ndarray) -> np.ndarray:
        """``(A, T, len(sel))`` bool of the positions ``sel`` (gathered and unpacked in one compiled pass)."""
        out = np.empty((self.bits.shape[0], self.n_thr, len(sel)), bool)
        unpack_rows(np.asarray(sel, np.int64), self.bits, out)
        return out

    def _unpack(self, bits: np.ndarray) -> np.ndarray:
        out = np.empty((bits.shape[0], self.n_thr, bits.shape[1]), bool)
        for t in range(self.n_thr):
            np.not_equal(bits & bits.dtype.type(1 << t), 0, out=out[:, t])
        return out


# Bounded caches: the matched state of the last projects (29 bytes per prediction: 58 MB at 2M predictions) and
# the last selections' results (precision arrays, ~8 MB at 80 classes)
_STATES: OrderedDict = OrderedDict()
_RESULTS: OrderedDict = OrderedDict()


def project_state(project, *, iou_type: str = "bbox", params: CocoParams | None = None) -> CocoState:
    """The ``CocoState`` of a project view (its run's predictions) on the shared ``Matcher``
    (``explorer.analysis.outcomes.matcher``), kept per (root, fingerprint, IoU type, IoU thresholds, area ranges)."""
    from explorer.analysis.outcomes import _remember, matcher

    p = params or CocoParams()
    base = CocoParams.make(p, max_dets=(layout_mod.MAX_DETS,))  # the state does not depend on maxDets
    return _remember(_STATES, _state_key(project, iou_type, p),
                     lambda: CocoState.build(matcher(project, iou_type=iou_type), base), size=2)


def _state_key(project, iou_type: str, p: CocoParams):
    """The state's cache key; None when ``p`` is not the state's case (class-agnostic, maxDets[-1] > 100)."""
    if not CocoState.applies(p):
        return None
    return (str(project.root), project.fingerprint, iou_type, p.iou_thresholds, p.area_ranges)


def project_evaluation(project, *, iou_type: str = "bbox", cat_ids=None, image_ids=None,
                       params: CocoParams | None = None) -> CocoEvaluation:
    """``evaluate_coco(project, …)`` on the project's state (``project_state``: matched once per run on the
    shared Matcher — what the app uses; ``evaluate_coco(project)`` uses it once it exists, and a one-shot
    evaluation (the CLI) the fresh same-class layout, which needs no Matcher). pycocotools accumulates each
    category on its own, so the state is accumulated once per (images, params) for every category and a class
    selection is a slice of that (cached: a class change costs no accumulation). Params outside the state's case
    (class-agnostic, ``maxDets[-1] > 100``) evaluate afresh."""
    from explorer.analysis.outcomes import _remember

    p = params or CocoParams()
    if not CocoState.applies(p):
        return evaluate_data(load_inputs(project, None, iou_type=iou_type), iou_type=iou_type, cat_ids=cat_ids,
                             image_ids=image_ids, params=p)
    state = project_state(project, iou_type=iou_type, params=p)
    data, m = state.matcher.data, state.matcher
    cats, imgs = _id_list(cat_ids, data.category_ids), _id_list(image_ids, data.image_ids)
    every = np.union1d(data.category_ids, m.cat_list).astype(np.int64)
    key = (str(project.root), project.fingerprint, iou_type, p, len(imgs),
           hashlib.blake2b(imgs.tobytes(), digest_size=16).digest())
    full = _remember(_RESULTS, key, lambda: state.evaluate(iou_type=iou_type, cat_ids=every, image_ids=imgs, params=p),
                     size=12)
    if np.array_equal(cats, full.category_ids):
        return full
    at = np.minimum(np.searchsorted(every, cats), max(len(every) - 1, 0))
    known = (every[at] == cats) if len(every) else np.zeros(len(cats), bool)
    # a category with no row anywhere: undefined (-1) and no labels, as a fresh evaluation gives it
    def pad(x, axis):
        return np.concatenate([x, -np.ones(x.shape[:axis] + (1,) + x.shape[axis + 1:])], axis=axis)

    idx = np.where(known, at, len(every))
    n_labels = np.concatenate([full.n_labels, np.zeros((1, full.n_labels.shape[1]), np.int64)])[idx]
    return CocoEvaluation(iou_type=iou_type, category_ids=cats, category_names=full.category_names,
                          image_ids=full.image_ids, precision=pad(full.precision, 2)[:, :, idx],
                          recall=pad(full.recall, 1)[:, idx], n_labels=n_labels, problems=full.problems,
                          _data=data, params=p, _first_area=lambda: state.evaluate(
                              iou_type=iou_type, cat_ids=cats, image_ids=imgs, params=p)._first_area())
