"""Semantic segmentation evaluation: a pixel confusion matrix and the MMSegmentation metrics derived from it.

Definitions (MMSegmentation ``IoUMetric``), for ``K = num_classes`` and the ``(K, K)`` confusion matrix ``C``
(rows = label class, columns = predicted class, pixels whose label is ``ignore_index`` dropped)::

    TP_c      = C[c, c]
    label_c   = number of pixels labelled c  (row sum, including predictions outside [0, K))
    pred_c    = number of pixels predicted c (column sum)
    IoU_c     = TP_c / (label_c + pred_c - TP_c)       NaN when the class is absent from label and prediction
    Acc_c     = TP_c / label_c                         NaN when the class is absent from the label
    aAcc      = sum_c TP_c / sum_c label_c             all labelled pixels (NaN when there are none)
    mIoU      = nanmean_c IoU_c,  mAcc = nanmean_c Acc_c   (undefined classes are left out of the means)

A predicted value outside ``[0, K)`` (e.g. 255 in a prediction) is counted as wrong: the pixel adds to its label
class's ``label_c`` (a miss) and to no predicted column. Those pixels are reported in ``invalid_predictions``.
A label value outside ``[0, K)`` that is not ``ignore_index`` is a data error (``UserError``).

Per image, ``miou`` is the mean IoU over the classes present in that image's label or prediction (the same
NaN rule applied to one image); it is the segmentation outcome for metric importance and performance by metric.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.errors import UserError
from explorer.evaluation.class_confusion import confusion_counts

IGNORE_INDEX = 255


# ---- the maths ---------------------------------------------------------------------------------------------
def confusion_pixels(label: np.ndarray, pred: np.ndarray, *, num_classes: int, ignore_index: int = IGNORE_INDEX,
                     where: str = "mask") -> tuple[np.ndarray, np.ndarray]:
    """Pixel confusion of one mask pair, vectorised with ``np.bincount`` (the shared ``confusion_counts``).

    label, pred: integer arrays of the same shape ``(H, W)``.
    Returns ``confusion`` of shape ``(K, K)`` (int64, rows = label, columns = prediction) and
    ``invalid`` of shape ``(K,)``: per label class, pixels whose prediction is outside ``[0, K)``.
    Raises ``UserError`` (naming ``where``) on a shape mismatch, a non-integer array or a label value outside
    ``[0, K)`` other than ``ignore_index``.
    """
    label = np.asarray(label)
    pred = np.asarray(pred)
    if label.shape != pred.shape:
        raise UserError(f"{where}: label shape {label.shape} differs from prediction shape {pred.shape}")
    for what, arr in (("label", label), ("prediction", pred)):
        if not np.issubdtype(arr.dtype, np.integer) and not np.issubdtype(arr.dtype, np.bool_):
            raise UserError(f"{where}: {what} mask must hold integer class indices, got dtype {arr.dtype}")
    k = int(num_classes)
    lab = label.ravel().astype(np.int64)
    prd = pred.ravel().astype(np.int64)
    keep = lab != ignore_index
    lab, prd = lab[keep], prd[keep]
    bad = (lab < 0) | (lab >= k)
    if bad.any():
        values = np.unique(lab[bad])
        raise UserError(f"{where}: label values {values[:10].tolist()} are outside [0, {k}) and are not the "
                        f"ignore index {ignore_index} ({int(bad.sum())} pixels)")
    valid_pred = (prd >= 0) & (prd < k)
    confusion = confusion_counts(lab[valid_pred], prd[valid_pred], k)
    invalid = np.bincount(lab[~valid_pred], minlength=k)
    return confusion, invalid


def _as_masks(masks) -> Iterable[np.ndarray]:
    """One 2-D mask, an ``(N, H, W)`` stack, or any iterable of 2-D masks, as an iterable of 2-D masks."""
    if isinstance(masks, np.ndarray):
        if masks.ndim == 2:
            return [masks]
        if masks.ndim == 3:
            return list(masks)
        raise UserError(f"masks must be (H, W) or (N, H, W) arrays, got shape {masks.shape}")
    return masks


@dataclass(frozen=True)
class SegmentationEvaluation:
    """Result of ``evaluate_segmentation``.

    confusion: ``(K, K)`` int64 pixel counts, rows = label class, columns = predicted class.
    invalid_predictions: ``(K,)`` pixels of each label class predicted outside ``[0, K)`` (counted as wrong).
    class_names: ``K`` names (``"0"``, ``"1"``, ... when none were given).
    """

    confusion: np.ndarray
    invalid_predictions: np.ndarray
    class_names: tuple[str, ...]
    n_images: int

    @property
    def num_classes(self) -> int:
        return int(self.confusion.shape[0])

    @property
    def label_pixels(self) -> np.ndarray:
        """``(K,)`` labelled pixels per class (includes pixels with an invalid prediction)."""
        return self.confusion.sum(axis=1) + self.invalid_predictions

    @property
    def pred_pixels(self) -> np.ndarray:
        """``(K,)`` pixels predicted as each class (among labelled, non-ignored pixels)."""
        return self.confusion.sum(axis=0)

    @property
    def iou(self) -> np.ndarray:
        """``(K,)`` IoU per class; NaN for a class absent from both label and prediction."""
        tp = np.diag(self.confusion).astype(np.float64)
        union = self.label_pixels + self.pred_pixels - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, tp / union, np.nan)

    @property
    def acc(self) -> np.ndarray:
        """``(K,)`` accuracy (recall) per class; NaN for a class absent from the label."""
        tp = np.diag(self.confusion).astype(np.float64)
        lab = self.label_pixels
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(lab > 0, tp / lab, np.nan)

    @property
    def summary(self) -> dict[str, float]:
        """``aAcc``, ``mIoU``, ``mAcc`` as fractions in [0, 1] (NaN when undefined: nothing labelled)."""
        total = float(self.label_pixels.sum())
        a_acc = float(np.trace(self.confusion) / total) if total > 0 else float("nan")
        return {"aAcc": a_acc, "mIoU": _nanmean(self.iou), "mAcc": _nanmean(self.acc)}

    @property
    def per_class(self) -> pd.DataFrame:
        """One row per class: ``class_index, name, iou, acc, label_pixels, pred_pixels``."""
        return pd.DataFrame({
            "class_index": np.arange(self.num_classes),
            "name": list(self.class_names),
            "iou": self.iou,
            "acc": self.acc,
            "label_pixels": self.label_pixels,
            "pred_pixels": self.pred_pixels,
        })

    def restricted(self, classes: Iterable[int]) -> dict[str, float]:
        """Summary with the means taken over ``classes`` only (aAcc stays over all labelled pixels)."""
        idx = np.asarray(list(classes), dtype=np.int64)
        out = dict(self.summary)
        out["mIoU"] = _nanmean(self.iou[idx])
        out["mAcc"] = _nanmean(self.acc[idx])
        return out


def _nanmean(values: np.ndarray) -> float:
    """Mean over the defined values; NaN (without a warning) when none is defined."""
    values = np.asarray(values, dtype=np.float64)
    defined = ~np.isnan(values)
    return float(values[defined].mean()) if defined.any() else float("nan")


def evaluate_segmentation(labels, predictions, *, num_classes: int, ignore_index: int = IGNORE_INDEX,
                          class_names: Iterable[str] | None = None) -> SegmentationEvaluation:
    """Evaluate semantic segmentation masks with the MMSegmentation definitions (module docstring).

    labels, predictions: one ``(H, W)`` integer mask, an ``(N, H, W)`` array, or iterables of ``(H, W)`` masks
    paired in order (each pair must have the same shape; pairs may differ in size).

    >>> r = evaluate_segmentation(np.array([[0, 1], [1, 1]]), np.array([[0, 1], [0, 1]]), num_classes=3)
    >>> r.summary["aAcc"], r.iou.tolist()
    (0.75, [0.5, 0.6666666666666666, nan])
    """
    k = int(num_classes)
    if k < 1:
        raise UserError(f"num_classes must be at least 1, got {num_classes}")
    names = tuple(str(n) for n in class_names) if class_names is not None else tuple(str(i) for i in range(k))
    if len(names) != k:
        raise UserError(f"class_names has {len(names)} names for num_classes={k}")
    confusion = np.zeros((k, k), np.int64)
    invalid = np.zeros(k, np.int64)
    n = 0
    pairs = zip(_as_masks(labels), _as_masks(predictions), strict=False)
    for n, (lab, prd) in enumerate(pairs, start=1):
        c, i = confusion_pixels(lab, prd, num_classes=k, ignore_index=ignore_index, where=f"mask pair {n - 1}")
        confusion += c
        invalid += i
    return SegmentationEvaluation(confusion, invalid, names, n)


def per_image_iou(confusions: np.ndarray, invalid: np.ndarray) -> np.ndarray:
    """Mean IoU of each image over the classes present in its label or prediction.

    confusions: ``(N, K, K)``, invalid: ``(N, K)``. Returns ``(N,)`` float64 (NaN for an image with no
    labelled pixel and no prediction, i.e. nothing to score).
    """
    tp = np.diagonal(confusions, axis1=1, axis2=2).astype(np.float64)
    union = confusions.sum(axis=2) + invalid + confusions.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
    defined = ~np.isnan(iou)
    count = defined.sum(axis=1)
    total = np.where(defined, iou, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


# ---- on a project ------------------------------------------------------------------------------------------
def settings(project) -> dict:
    """The project's segmentation settings: ``num_classes``, ``ignore_index``, ``label_root``, ``pred_root``."""
    s = project.manifest.get("segmentation")
    if project.task != "segmentation" or not s:
        raise UserError(f"project {project.name!r} is not a semantic segmentation project (task {project.task!r})")
    return s


def mask_path(project, kind: str, rel: str) -> Path:
    """Absolute path of a label (``kind="label"``) or prediction mask, refusing paths outside its folder (symlinks
    resolved: a mask linked from outside its folder is refused, ``explorer.project.paths.safe_join``)."""
    from explorer.project.paths import safe_join

    root = settings(project).get(f"{kind}_root")
    if root is None:
        raise UserError(f"project {project.name!r} has no {kind} mask folder")
    return safe_join(Path(root), rel)


def read_mask(path: Path) -> np.ndarray:
    """A class-index PNG as an ``(H, W)`` int64 array (palette PNGs give their indices).

    Only a regular file is opened (a FIFO or device would block the reader); ``UserError`` naming the file when
    it is not one, or cannot be decoded."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():  # also false for a FIFO, a socket or a device
        raise UserError(f"mask {path} is missing or not a regular file")
    try:
        with Image.open(path) as im:
            return np.asarray(im).astype(np.int64)
    except (OSError, ValueError, Image.DecompressionBombError) as e:  # PIL's errors for corrupt / huge files
        raise UserError(f"mask {path} cannot be read ({type(e).__name__}: {e})") from None


@dataclass(frozen=True)
class ProjectConfusions:
    """Per-image pixel confusions of a project's evaluated images (those with a label and a prediction mask).

    image_ids: ``(N,)``; confusions: ``(N, K, K)`` int64; invalid: ``(N, K)`` int64.
    """

    image_ids: np.ndarray
    confusions: np.ndarray
    invalid: np.ndarray
    class_names: tuple[str, ...]

    def evaluate(self, image_ids=None) -> SegmentationEvaluation:
        """Evaluation over ``image_ids`` (all evaluated images when None): the sum of their confusions."""
        keep = np.ones(len(self.image_ids), bool) if image_ids is None else np.isin(self.image_ids, image_ids)
        return SegmentationEvaluation(self.confusions[keep].sum(axis=0), self.invalid[keep].sum(axis=0),
                                      self.class_names, int(keep.sum()))


@lru_cache(maxsize=4)
def _project_confusions(root: str, fingerprint: str) -> ProjectConfusions:
    from explorer.project.folder import Project

    return _compute_confusions(Project.load(root))


def _compute_confusions(project) -> ProjectConfusions:
    s = settings(project)
    k, ignore = int(s["num_classes"]), int(s.get("ignore_index", IGNORE_INDEX))
    names = tuple(project.categories.sort_values("category_id")["name"].astype(str))
    images = project.images
    if "label_mask" not in images or "pred_mask" not in images:
        raise UserError(f"project {project.name!r} has no label_mask/pred_mask columns")
    both = images["label_mask"].notna() & images["pred_mask"].notna()
    rows = images.loc[both, ["image_id", "file_name", "label_mask", "pred_mask"]]
    conf = np.zeros((len(rows), k, k), np.int64)
    inv = np.zeros((len(rows), k), np.int64)
    for i, (_, file_name, lab, prd) in enumerate(rows.itertuples(index=False)):  # one bincount per image
        conf[i], inv[i] = confusion_pixels(read_mask(mask_path(project, "label", lab)),
                                           read_mask(mask_path(project, "pred", prd)),
                                           num_classes=k, ignore_index=ignore, where=str(file_name))
    return ProjectConfusions(rows["image_id"].to_numpy(np.int64), conf, inv, names)


def project_confusions(project) -> ProjectConfusions:
    """Per-image confusions of a project, cached by project folder and fingerprint."""
    return _project_confusions(str(Path(project.root).resolve()), project.fingerprint)


def evaluate_project(project, *, image_ids=None) -> SegmentationEvaluation:
    """Evaluate a segmentation project over ``image_ids`` (e.g. one split; all evaluated images when None)."""
    return project_confusions(project).evaluate(image_ids)


def outcomes(project) -> pd.DataFrame:
    """Per-image outcome for importance and performance by metric.

    One row per evaluated image: ``image_id``, ``miou`` (mean IoU over the classes present, in [0, 1]) and
    ``pixel_accuracy`` (correct / labelled pixels; NaN when nothing is labelled).
    """
    pc = project_confusions(project)
    correct = np.trace(pc.confusions, axis1=1, axis2=2).astype(np.float64)
    labelled = pc.confusions.sum(axis=(1, 2)) + pc.invalid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(labelled > 0, correct / labelled, np.nan)
    return pd.DataFrame({"image_id": pc.image_ids, "miou": per_image_iou(pc.confusions, pc.invalid),
                         "pixel_accuracy": acc})
