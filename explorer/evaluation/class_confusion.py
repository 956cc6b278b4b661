"""A class-by-class confusion matrix with "most confused" / "most common" ordering and top-K folding.

Rows are true classes, columns predicted classes; ``counts[i, j]`` is the number of samples of true class ``i``
predicted as ``j``. Used by classification (and usable by any task whose outcome is one class per sample).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ORDERINGS = ("labels", "most_common", "most_confused")
OTHER = "other"  # name of the folded row/column


def confusion_counts(true_index: np.ndarray, pred_index: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` int64 counts from two int arrays of class positions (one ``bincount``)."""
    true_index = np.asarray(true_index, dtype=np.int64)
    pred_index = np.asarray(pred_index, dtype=np.int64)
    flat = np.bincount(true_index * n_classes + pred_index, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


@dataclass(frozen=True)
class ClassConfusion:
    """Confusion counts with class names; ``counts`` has shape ``(n, n)``, rows true, columns predicted."""

    counts: np.ndarray
    names: tuple[str, ...]

    def __post_init__(self):
        n = len(self.names)
        if self.counts.shape != (n, n):
            raise ValueError(f"counts must have shape ({n}, {n}) for {n} names, but got {self.counts.shape}")

    # ---- views ---------------------------------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        """Raw counts as a DataFrame (index: true class, columns: predicted class)."""
        return pd.DataFrame(self.counts, index=pd.Index(self.names, name="true"),
                            columns=pd.Index(self.names, name="predicted"))

    def normalized(self) -> pd.DataFrame:
        """Row-normalised: ``counts[i, j] / sum_j counts[i, j]``; a row with no samples is NaN (undefined)."""
        totals = self.counts.sum(axis=1, keepdims=True).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(totals > 0, self.counts / totals, np.nan)
        return pd.DataFrame(values, index=pd.Index(self.names, name="true"),
                            columns=pd.Index(self.names, name="predicted"))

    # ---- ordering and folding ------------------------------------------------------------------------------
    def order(self, by: str) -> np.ndarray:
        """Class positions in display order.

        ``labels``: as given. ``most_common``: by support (row sum) descending. ``most_confused``: by errors
        involving the class (off-diagonal row sum + off-diagonal column sum) descending. Ties keep the given
        order (stable sort).
        """
        if by not in ORDERINGS:
            raise ValueError(f"ordering must be one of {ORDERINGS}, but got {by!r}")
        if by == "labels":
            return np.arange(len(self.names))
        if by == "most_common":
            key = self.counts.sum(axis=1)
        else:
            off = self.counts - np.diag(np.diag(self.counts))
            key = off.sum(axis=1) + off.sum(axis=0)
        return np.argsort(-key, kind="stable")

    def arranged(self, *, by: str = "labels", top_k: int | None = None) -> "ClassConfusion":
        """A new matrix in ``by`` order keeping the first ``top_k`` classes; the rest fold into one ``other``
        row and column (their counts summed, so every sample is still counted exactly once)."""
        order = self.order(by)
        if top_k is None or top_k >= len(order):
            return ClassConfusion(self.counts[np.ix_(order, order)], tuple(self.names[i] for i in order))
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, but got {top_k}")
        keep, rest = order[:top_k], order[top_k:]
        # group id per original class: 0..top_k-1 for kept classes, top_k for the folded rest
        group = np.empty(len(order), dtype=np.int64)
        group[keep] = np.arange(top_k)
        group[rest] = top_k
        folded = np.zeros((top_k + 1, top_k + 1), dtype=self.counts.dtype)
        np.add.at(folded, (group[:, None], group[None, :]), self.counts)
        names = tuple(self.names[i] for i in keep) + (OTHER,)
        return ClassConfusion(folded, names)
