"""Which labels and predictions make up each cell of the detection confusion matrix (for drill-down).

Rows are the true class, columns the predicted class, both with a ``"background"`` entry. At the match's IoU
threshold every non-ignored record falls in exactly one cell:

* a true-positive prediction of class c → ``(c, c)``;
* a false detection of class b whose reason is ``wrong_class`` → ``(a, b)`` with a the class of the label it
  overlaps (``label_id`` in the match);
* any other false detection of class b (localisation, duplicate, background) → ``("background", b)``;
* a missed label of class a → ``(a, "background")``.

Ignored records (crowd labels, predictions matched to crowd) are in no cell. Counting the members of each cell
gives the raw matrix; ``cell_counts`` does that with one ``groupby``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

BACKGROUND = "background"


def cell_members(predictions: pd.DataFrame, labels: pd.DataFrame, *, names: dict[int, str]) -> pd.DataFrame:
    """One row per record in a cell: ``record`` ("prediction"/"label"), ``id``, ``true``, ``predicted``.

    ``predictions``/``labels`` are ``MatchResult.predictions`` / ``.labels`` (already restricted to the selection);
    ``names`` maps category ids to the names used for rows and columns.
    """
    preds = predictions[~predictions["ignored"].to_numpy(bool)]
    label_class = pd.Series(labels["category_id"].to_numpy(np.int64), index=labels["label_id"].to_numpy(np.int64))
    pred_name = preds["category_id"].map(names).to_numpy(object)
    is_tp = preds["is_tp"].to_numpy(bool)
    wrong = (preds["fp_reason"] == "wrong_class").to_numpy() & ~is_tp
    overlapped = label_class.reindex(preds["label_id"].to_numpy(np.int64)).map(names).to_numpy(object)
    true = np.where(is_tp, pred_name, np.where(wrong, overlapped, BACKGROUND))
    pred_rows = pd.DataFrame({"record": "prediction", "id": preds["pred_id"].to_numpy(np.int64),
                              "true": true, "predicted": pred_name})
    missed = labels[~labels["detected"].to_numpy(bool) & ~labels["ignored"].to_numpy(bool)]
    label_rows = pd.DataFrame({"record": "label", "id": missed["label_id"].to_numpy(np.int64),
                               "true": missed["category_id"].map(names).to_numpy(object), "predicted": BACKGROUND})
    return pd.concat([pred_rows, label_rows], ignore_index=True)


def fold(members: pd.DataFrame, keep: list[str], *, other: str = "other") -> pd.DataFrame:
    """Members with every class outside ``keep`` (and not background) renamed ``other`` (top-K folding)."""
    allowed = set(keep) | {BACKGROUND}
    out = members.copy()
    for col in ("true", "predicted"):
        out[col] = out[col].where(out[col].isin(allowed), other)
    return out


def cell_counts(members: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Raw counts, index ``true`` and columns ``predicted`` in ``order`` (background included by the caller)."""
    counts = members.groupby(["true", "predicted"]).size()
    table = counts.unstack(fill_value=0) if len(counts) else pd.DataFrame()
    return table.reindex(index=order, columns=order, fill_value=0).astype(np.int64).rename_axis(
        index="true", columns="predicted")
