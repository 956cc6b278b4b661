"""COCO detection / instance-segmentation evaluation, bit-identical to pycocotools 2.0.11.

``evaluate_coco(gt, predictions, *, iou_type="bbox")`` runs, for every image x category group, the matching of
``COCOeval.evaluateImg`` at the 10 IoU thresholds ``0.50:0.05:0.95`` and the 4 area ranges (all, small
``[0, 32²]``, medium ``[32², 96²]``, large ``[96², 1e10]``, bounds inclusive, on the label's COCO ``area``),
then ``accumulate`` (101-point interpolated precision per class) and ``summarize`` (the 12 numbers: the mean
of the defined entries, -1 when none is defined). Arrays and reductions follow pycocotools' shapes and orders,
so the floating-point results are the same bits.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

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

    ``precision``: ``(T=10, R=101, K, A=4, M=3)`` interpolated precision, ``recall``: ``(T, K, A, M)``, with
    -1 where undefined (pycocotools' ``eval['precision']``/``eval['recall']``); axes: IoU thresholds,
    recall thresholds, ``category_ids``, areas (all, small, medium, large), maxDets (1, 10, 100).
    ``summary``: the 12 named numbers. ``problems``: input records that were skipped, with file and reason.
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
    _layout: layout_mod.Layout = field(repr=False)
    _dt_match: np.ndarray = field(repr=False)
    _dt_ignore: np.ndarray = field(repr=False)

    @cached_property
    def summary(self) -> dict[str, float]:
        """The 12 numbers ``coco/<iou_type>_mAP`` ... ``_mAR_l`` (-1.0 where no label is in range)."""
        out = {}
        areas = list(AREA_RANGES)
        for (name, is_ap, thr, area, max_det), key in zip(SUMMARY_SPEC, summary_keys(self.iou_type)):
            a = areas.index(area)
            m = int(np.flatnonzero(MAX_DETS == max_det)[0])
            s = self.precision if is_ap else self.recall
            if thr is not None:
                s = s[np.where(thr == IOU_THRESHOLDS)[0]]
            s = s[:, :, :, a, m] if is_ap else s[:, :, a, m]
            out[key] = _mean_defined(s)
        return out

    @cached_property
    def per_class(self) -> pd.DataFrame:
        """One row per evaluated category: ``category_id, name, ap, ap_50, ap_75, ar_100, n_labels``.

        ``ap`` is the mean of the class's defined precision entries over IoU 0.50:0.95 and the 101 recall
        thresholds (area all, maxDets 100), ``ar_100`` the mean recall over the IoU thresholds; NaN when the
        class has no (non-crowd) label in the selection.
        """
        p = self.precision[:, :, :, 0, 2]
        r = self.recall[:, :, 0, 2]
        i50 = np.where(IOU_THRESHOLDS == 0.5)[0]
        i75 = np.where(IOU_THRESHOLDS == 0.75)[0]

        def mean(s):
            v = _mean_defined(s)
            return np.nan if v == -1 else v

        rows = [{"category_id": int(c), "name": self.category_names.get(int(c), str(c)),
                 "ap": mean(p[:, :, k]), "ap_50": mean(p[i50][:, :, k]), "ap_75": mean(p[i75][:, :, k]),
                 "ar_100": mean(r[:, k]), "n_labels": int(self.n_labels[k])}
                for k, c in enumerate(self.category_ids)]
        return pd.DataFrame(rows, columns=["category_id", "name", "ap", "ap_50", "ap_75", "ar_100", "n_labels"])

    @cached_property
    def matches(self) -> pd.DataFrame:
        """Per-image match records (area "all", maxDets 100), one row per (prediction, IoU threshold).

        Columns: ``pred_id, image_id, category_id, score, iou_threshold, label_id`` (-1 = unmatched),
        ``ignored`` (matched to a crowd label or outside the area range). Predictions beyond the 100 highest
        scores of their image-category are not evaluated and not listed.
        """
        lay, dt, gt = self._layout, self._data.predictions, self._data.labels
        n = len(lay.dt_rows)
        rows = lay.dt_rows
        m = self._dt_match[0]  # (T, n)
        label_id = np.where(m >= 0, gt.ids[lay.gt_rows][np.maximum(m, 0)], -1)
        return pd.DataFrame({
            "pred_id": np.tile(dt.ids[rows], len(IOU_THRESHOLDS)),
            "image_id": np.tile(dt.image_id[rows], len(IOU_THRESHOLDS)),
            "category_id": np.tile(dt.category_id[rows], len(IOU_THRESHOLDS)),
            "score": np.tile(dt.score[rows], len(IOU_THRESHOLDS)),
            "iou_threshold": np.repeat(IOU_THRESHOLDS, n),
            "label_id": label_id.ravel(),
            "ignored": self._dt_ignore[0].ravel(),
        })

    def format(self) -> str:
        """The 12 summary lines in pycocotools' layout (3 decimals)."""
        lines = []
        for (name, is_ap, thr, area, max_det), key in zip(SUMMARY_SPEC, summary_keys(self.iou_type)):
            title, kind = ("Average Precision", "(AP)") if is_ap else ("Average Recall", "(AR)")
            iou = f"{IOU_THRESHOLDS[0]:0.2f}:{IOU_THRESHOLDS[-1]:0.2f}" if thr is None else f"{thr:0.2f}"
            lines.append(f" {title:<18} {kind} @[ IoU={iou:<9} | area={area:>6s} | maxDets={max_det:>3d} ] = "
                         f"{self.summary[key]:0.3f}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready: the 12 named numbers, per-class table (NaN -> None), problems."""
        per_class = self.per_class.astype(object).where(self.per_class.notna(), None)
        return {"iou_type": self.iou_type, "summary": dict(self.summary),
                "per_class": per_class.to_dict(orient="records"), "problems": self.problems.to_dict()}

    def matcher(self):
        """A ``Matcher`` on the same labels and predictions (for matching at any IoU threshold)."""
        from explorer.evaluation.matcher import Matcher

        return Matcher.from_data(self._data, iou_type=self.iou_type)


def load_inputs(gt, predictions, *, iou_type: str) -> inputs.EvalData:
    """Any supported ``gt``/``predictions`` pair as ``EvalData`` (see ``evaluate_coco``)."""
    if iou_type not in IOU_TYPES:
        raise UserError(f"iou_type must be one of {', '.join(IOU_TYPES)}, got {iou_type!r}")
    from explorer.project.folder import Project

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


def evaluate_coco(gt, predictions=None, *, iou_type: str = "bbox", cat_ids=None, image_ids=None) -> CocoEvaluation:
    """COCO evaluation with pycocotools' numbers (|diff| <= 1e-12, in practice the same bits).

    ``gt``: COCO JSON path, loaded dict, or ``explorer.project.folder.Project`` (then ``predictions`` may be None:
    the project's own predictions). ``predictions``: COCO results JSON path or list (``loadRes``
    conventions), or a ``Project``. ``cat_ids`` / ``image_ids``: evaluate only these (pycocotools'
    ``params.catIds`` / ``params.imgIds``); default all ground-truth categories and images.

    >>> r = evaluate_coco("gt.json", "dt.json", iou_type="bbox")   # doctest: +SKIP
    >>> r.summary["coco/bbox_mAP_50"]                                # doctest: +SKIP
    """
    data = load_inputs(gt, predictions, iou_type=iou_type)
    return evaluate_data(data, iou_type=iou_type, cat_ids=cat_ids, image_ids=image_ids)


def evaluate_data(data: inputs.EvalData, *, iou_type: str, cat_ids=None, image_ids=None) -> CocoEvaluation:
    """``evaluate_coco`` on already-loaded ``EvalData``."""
    img_list = np.unique(np.asarray(data.image_ids if image_ids is None else list(image_ids), dtype=np.int64))
    cat_list = np.unique(np.asarray(data.category_ids if cat_ids is None else list(cat_ids), dtype=np.int64))
    gt, dt = data.labels, data.predictions
    gt_sel = np.isin(gt.image_id, img_list) & np.isin(gt.category_id, cat_list)
    dt_sel = np.isin(dt.image_id, img_list) & np.isin(dt.category_id, cat_list)
    gt_idx, dt_idx = np.flatnonzero(gt_sel), np.flatnonzero(dt_sel)
    n_img, n_cat = len(img_list), len(cat_list)
    lay = layout_mod.build(
        np.searchsorted(img_list, dt.image_id[dt_idx]), np.searchsorted(cat_list, dt.category_id[dt_idx]),
        dt.score[dt_idx], np.searchsorted(img_list, gt.image_id[gt_idx]),
        np.searchsorted(cat_list, gt.category_id[gt_idx]), n_img=n_img, n_cat=n_cat, block="group", drop_cut=True)
    # layout rows index the selected subset; make them index the full tables
    lay.dt_rows = dt_idx[lay.dt_rows]
    lay.gt_rows = gt_idx[lay.gt_rows]
    layout_mod.fill_ious(lay, dt, gt, iou_type=iou_type, sizes=data.image_size())

    n_dt, n_gt = len(lay.dt_rows), len(lay.gt_rows)
    gt_area = gt.area[lay.gt_rows]
    gt_crowd = gt.iscrowd[lay.gt_rows]
    dt_area = dt.area[lay.dt_rows]
    lo = np.array([r[0] for r in AREA_RANGES.values()], dtype=np.float64)[:, None]
    hi = np.array([r[1] for r in AREA_RANGES.values()], dtype=np.float64)[:, None]
    gt_ignore = gt_crowd[None, :] | (gt_area[None, :] < lo) | (gt_area[None, :] > hi)
    dt_outside = (dt_area[None, :] < lo) | (dt_area[None, :] > hi)
    counts = data.label_id_counts[lay.gt_rows] if data.label_id_counts is not None else np.ones(n_gt, bool)
    n_area, n_thr = len(AREA_RANGES), len(IOU_THRESHOLDS)
    dt_match = np.full((n_area, n_thr, n_dt), -1, np.int64)
    gt_match = np.full((n_area, n_thr, n_gt), -1, np.int64)
    dt_ignore = np.zeros((n_area, n_thr, n_dt), bool)
    dt_tp = np.zeros((n_area, n_thr, n_dt), bool)
    kernels.greedy_match(lay.grp_d0, lay.grp_d1, lay.grp_g0, lay.grp_g1, lay.grp_blk, lay.blk_d0, lay.blk_g0,
                         lay.blk_ncols, lay.blk_off, lay.ious, gt_crowd, np.ascontiguousarray(gt_ignore),
                         np.ascontiguousarray(dt_outside), counts, np.minimum(IOU_THRESHOLDS, 1 - 1e-10),
                         dt_match, dt_ignore, dt_tp, gt_match, np.zeros((1, 1, 1)), False)

    # accumulation order per category: stable descending score over (image, rank) order = layout order
    order = np.lexsort((-dt.score[lay.dt_rows], lay.dt_cat))
    cat_start = np.searchsorted(lay.dt_cat[order], np.arange(n_cat + 1), "left")
    npig = np.zeros((n_cat, n_area), np.int64)
    for a in range(n_area):
        npig[:, a] = np.bincount(lay.gt_cat[~gt_ignore[a]], minlength=n_cat)
    has_any = (np.bincount(lay.gt_cat, minlength=n_cat) + np.bincount(lay.dt_cat, minlength=n_cat)) > 0
    precision = -np.ones((n_thr, len(REC_THRESHOLDS), n_cat, n_area, len(MAX_DETS)))
    recall = -np.ones((n_thr, n_cat, n_area, len(MAX_DETS)))
    kernels.accumulate(order, cat_start, lay.dt_rank, dt_tp, dt_ignore, npig, has_any, MAX_DETS, REC_THRESHOLDS,
                       precision, recall)
    return CocoEvaluation(iou_type=iou_type, category_ids=cat_list, category_names=data.category_names,
                          image_ids=img_list, precision=precision, recall=recall, n_labels=npig[:, 0],
                          problems=data.problems, _data=data, _layout=lay, _dt_match=dt_match, _dt_ignore=dt_ignore)
