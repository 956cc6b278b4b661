"""THE confusion matrix: counting, ordering, row-normalising and top-K folding, for every task.

Rows are true classes, columns predicted classes; ``counts[i, j]`` is the number of samples (images, pixels,
labels/predictions) of true class ``i`` predicted as ``j``. Classification and segmentation use it as is;
detection (``explorer.evaluation.confusion``) adds a last ``background`` row (predictions that matched no label)
and column (labels no prediction matched) with ``background=True`` — background is never reordered or folded.

Orderings (``order``), one rule for every task:

- ``labels``: the classes in the given order (category / class-index order);
- ``most_common``: support descending — the row total of the class (for detection including its missed labels,
  the background column);
- ``most_confused``: confusions with *other classes* descending (off-diagonal row + column totals among the
  classes), then — still tied — errors including background descending (row + column totals without the
  diagonal; the same numbers when there is no background, so this only separates detection classes);
- every remaining tie keeps the given class order (a stable sort), never the names.

Folding (``arranged(top_k=K)``): the first K classes of the ordering are kept, every other class is summed into
one ``other`` row and column, so every sample is still counted exactly once; then ``background`` (if any).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ORDERINGS = ("labels", "most_common", "most_confused")
OTHER = "other"  # name of the folded row/column
BACKGROUND = "background"  # name of detection's extra row/column


def confusion_counts(true_index: np.ndarray, pred_index: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` int64 counts from two int arrays of class positions (one ``bincount``):
    ``counts[i, j] = #{s: true_index[s] == i and pred_index[s] == j}``."""
    true_index = np.asarray(true_index, dtype=np.int64)
    pred_index = np.asarray(pred_index, dtype=np.int64)
    flat = np.bincount(true_index * n_classes + pred_index, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


@dataclass(frozen=True)
class ClassConfusion:
    """Confusion counts with row/column names; ``counts`` has shape ``(n, n)``, rows true, columns predicted.

    ``background=True``: the last row and column are detection's background (named ``names[-1]``), not a class.
    """

    counts: np.ndarray
    names: tuple[str, ...]
    background: bool = False

    def __post_init__(self):
        n = len(self.names)
        if self.counts.shape != (n, n):
            raise ValueError(f"counts must have shape ({n}, {n}) for {n} names, but got {self.counts.shape}")
        if self.background and n == 0:
            raise ValueError("a matrix with a background row/column needs at least that row")

    @property
    def n_classes(self) -> int:
        """Number of class rows (background excluded)."""
        return len(self.names) - int(self.background)

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names (background excluded)."""
        return self.names[:self.n_classes]

    # ---- views ---------------------------------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        """Raw counts as a DataFrame (index: true class, columns: predicted class)."""
        return pd.DataFrame(self.counts, index=pd.Index(self.names, name="true"),
                            columns=pd.Index(self.names, name="predicted"))

    def normalized(self) -> pd.DataFrame:
        """Row-normalised: ``counts[i, j] / sum_j counts[i, j]``; a row with no samples is NaN (undefined)."""
        totals = self.counts.sum(axis=1, keepdims=True).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(totals > 0, self.counts / np.where(totals > 0, totals, 1), np.nan)
        return pd.DataFrame(values, index=pd.Index(self.names, name="true"),
                            columns=pd.Index(self.names, name="predicted"))

    # ---- ordering and folding ------------------------------------------------------------------------------
    def order(self, by: str) -> np.ndarray:
        """``(n_classes,)`` class positions in ``by`` display order (the module docstring's rule)."""
        if by not in ORDERINGS:
            raise ValueError(f"ordering must be one of {ORDERINGS}, but got {by!r}")
        n = self.n_classes
        if by == "labels":
            return np.arange(n)
        counts = self.counts.astype(np.int64)
        diagonal = np.diag(counts)[:n]
        if by == "most_common":
            keys = (-counts[:n].sum(axis=1),)
        else:
            block = counts[:n, :n]
            among = block.sum(axis=1) + block.sum(axis=0) - 2 * np.diag(block)
            every = counts[:n].sum(axis=1) + counts[:, :n].sum(axis=0) - 2 * diagonal
            keys = (-every, -among)  # lexsort: the last key is the primary one
        return np.lexsort((np.arange(n), *keys))

    def arranged(self, *, by: str = "labels", top_k: int | None = None) -> "ClassConfusion":
        """A new matrix in ``by`` order keeping the first ``top_k`` classes; the rest fold into one ``other``
        row and column (their counts summed, so every sample is still counted exactly once); background last."""
        order = self.order(by)
        n = self.n_classes
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be at least 1, but got {top_k}")
        keep = order if top_k is None or top_k >= n else order[:top_k]
        folded = len(keep) < n
        # group id per row: 0..len(keep)-1 for kept classes, then "other" for the folded rest, then background
        group = np.empty(len(self.names), dtype=np.int64)
        group[order] = len(keep)
        group[keep] = np.arange(len(keep))
        names = [self.names[i] for i in keep] + ([OTHER] if folded else [])
        if self.background:
            group[n] = len(names)
            names.append(self.names[n])
        m = len(names)
        out = np.zeros((m, m), dtype=self.counts.dtype)
        np.add.at(out, (group[:, None], group[None, :]), self.counts)
        return ClassConfusion(out, tuple(names), self.background)
