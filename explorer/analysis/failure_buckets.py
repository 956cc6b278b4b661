"""Failure buckets: the true positives, false detections and misses of a selection, ready for a gallery.

``bucket_table(match_predictions, match_labels, ...)`` turns a ``MatchResult``'s two tables into one row per
bucket item:

* a prediction is ``"TP"`` when ``is_tp`` and ``"FP"`` otherwise (with its ``fp_reason``);
* a label is ``"FN"`` when not ``detected``; when labels are chosen explicitly (a label bucket of Performance by
  Metric) a detected label is a ``"TP"`` too;
* rows the COCO protocol ignores (crowd labels, predictions matched to a crowd label) get outcome ``"ignored"``:
  they are kept and counted, never silently dropped, and left out of TP/FP/FN.

Without explicit ids the bucket is the whole selection: every prediction (TP or FP) plus every missed label
(FN); a detected label is then represented by its true-positive prediction, so nothing is counted twice.

Columns of the table: ``record`` (``"prediction"``/``"label"``), ``id`` (pred_id/label_id), ``image_id``,
``category_id``, ``outcome``, ``fp_reason`` (None unless FP), ``score`` (the prediction's score; for a label, the
score of the prediction that matched it, NaN if none), ``iou`` (IoU of the matched pair; for a false detection
its best IoU with a label of its own class, ``max_iou_same_class``; NaN if unknown), ``iou_other`` (a
prediction's best IoU with a label of another class, ``max_iou_other_class``; NaN for labels),
``partner_id`` (matched label of a prediction / matched prediction of a label; Int64, ``<NA>`` = none).
``table.attrs["confidence_threshold"]`` records the threshold the match used (when the caller gave it).

Galleries show failures first (``sort_rows``: missed labels, then false detections, then true positives, then
ignored rows, each group ordered by the chosen value), and ``nearest_other`` says what was near a failure (the
label of another class a false detection overlapped, the best prediction of any class near a missed label).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

OUTCOMES = ("TP", "FP", "FN", "ignored")
FP_REASONS = ("wrong_class", "localisation", "duplicate", "background")
FP_REASON_WORDS = {"wrong_class": "wrong class", "localisation": "localisation", "duplicate": "duplicate",
                   "background": "background"}
# gallery order of the outcomes: failures first (missed labels have no score, so sorting by score alone put
# them on the last pages)
FAILURE_ORDER = {"FN": 0, "FP": 1, "TP": 2, "ignored": 3}
COLUMNS = ["record", "id", "image_id", "category_id", "outcome", "fp_reason", "score", "iou", "iou_other",
           "partner_id"]


# ---- the array form: one match's rows once, buckets as row positions --------------------------------------------
_TP, _FP, _FN, _IGNORED = (OUTCOMES.index(o) for o in ("TP", "FP", "FN", "ignored"))
_OUTCOME_NAMES = np.array(OUTCOMES)
_REASON_NAMES = np.array([*FP_REASONS, None], dtype=object)  # code -1 (no reason) reads the last: None
_RANK = np.array([FAILURE_ORDER[o] for o in OUTCOMES], np.int64)  # gallery rank of each outcome code
# a row's outcome and FP reason as one small code: ``outcome * CODE_WIDTH + reason + 1`` (reason -1 = none)
CODE_WIDTH = len(FP_REASONS) + 1
_RANK_OF_CODE = np.repeat(_RANK, CODE_WIDTH)


def _isin(values: np.ndarray, wanted) -> np.ndarray:
    """``values`` in ``wanted`` (a hash look-up: no sort of millions of rows)."""
    return pd.Series(values, copy=False).isin(_id_array(wanted)).to_numpy()


def _partner(column) -> tuple[np.ndarray, np.ndarray]:
    """An Int64 matched-id column (a Series or its array) as ``(ids with 0 for none, has)``."""
    values = getattr(column, "array", column)
    ids = values if isinstance(values, pd.arrays.IntegerArray) else pd.array(values, dtype="Int64")
    has = ~ids._mask if isinstance(ids, pd.arrays.IntegerArray) else ~np.asarray(ids.isna(), bool)
    return np.where(has, ids._data, 0).astype(np.int64, copy=False), has


def _isin_small(values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``np.isin(values, wanted)`` for small non-negative ids (category ids): one look-up per row in a table over
    ``[0, max]`` (NumPy's table method makes several passes); other ids go to ``np.isin``."""
    if not len(values):
        return np.zeros(0, bool)
    hi = int(values.max())
    if values.min() < 0 or hi > 10_000_000:
        return np.isin(values, wanted)
    table = np.zeros(hi + 1, bool)
    table[wanted[(wanted >= 0) & (wanted <= hi)]] = True
    return table[values]


def _reason_codes(reasons, fp: np.ndarray, fp_code: np.ndarray | None = None) -> np.ndarray:
    """int8 index into ``FP_REASONS`` of each row's ``fp_reason`` where ``fp`` (-1 elsewhere). From the match's
    ``fp_code`` (``MatchResult.fp_code``: 0 = none, else 1 + index in the Matcher's reasons) by one look-up;
    without it the object column is factorised over the false detections (a few distinct values)."""
    if fp_code is not None:
        from explorer.evaluation.matcher import FP_REASONS as MATCHER_REASONS

        lookup = np.array([-1, *(FP_REASONS.index(r) for r in MATCHER_REASONS)], np.int8)
        return np.where(fp, lookup[fp_code], np.int8(-1)).astype(np.int8, copy=False)
    out = np.full(len(fp), -1, np.int8)
    if fp.any():
        codes, uniques = pd.factorize(np.asarray(reasons, object)[fp])
        lookup = np.array([FP_REASONS.index(u) if u in FP_REASONS else -1 for u in uniques] + [-1], np.int8)
        out[fp] = lookup[codes]
    return out


class BucketSource:
    """Every prediction and label of one ``MatchResult`` in the bucket-row form, as arrays built once per match;
    a ``Bucket`` is then only row positions into it.

    Row ``r < n_pred`` is prediction ``r`` of ``predictions`` (in its order), row ``n_pred + j`` is label ``j``.
    Per row: ``id, image_id, category_id``, ``outcome`` (int8 index into ``OUTCOMES``), ``reason`` (int8 index
    into ``FP_REASONS``, -1 unless FP), ``code`` (both in one int8: ``outcome * CODE_WIDTH + reason + 1``),
    ``score`` (a label's: its matched prediction's, NaN if none), ``iou``, ``iou_other``, ``partner`` /
    ``has_partner`` (the matched id; ``partner_id`` of ``bucket_table``). The outcome rules are the module
    docstring's; ``bucket(...)`` chooses rows as ``bucket_table`` does. The two columns read over whole buckets on
    every rerun (``code``, ``score``) are kept over every row once asked: a bucket of millions of rows takes one
    gather of each. ``fp_code``: the match's ``MatchResult.fp_code`` when at hand (the reasons without reading
    the object ``fp_reason`` column); ``pred_index`` / ``label_index``: ``IdIndex`` of the two id columns when
    kept elsewhere (``outcomes.match_index``), else built here when first needed.
    """

    def __init__(self, predictions: pd.DataFrame, labels: pd.DataFrame, *, confidence_threshold: float | None = None,
                 fp_code: np.ndarray | None = None, pred_index=None, label_index=None, pred_rows=None,
                 label_rows=None):
        # ``pred_rows`` / ``label_rows``: only these positions of the two tables (``of_rows``); None = every row
        def col(table, name, rows, dtype=None):  # the rows taken before any conversion (int32 ids of 2M rows)
            values = table[name].array if rows is None else table[name].array[rows]
            return values if dtype is None else values.to_numpy(dtype)

        p, l = predictions, labels
        pr = None if pred_rows is None else np.asarray(pred_rows, np.int64)
        lr = None if label_rows is None else np.asarray(label_rows, np.int64)
        self.n_pred = len(p) if pr is None else len(pr)
        self.n_label = len(l) if lr is None else len(lr)
        self.confidence_threshold = None if confidence_threshold is None else float(confidence_threshold)
        # int8 codes straight away (not int64 temporaries over millions of rows)
        outcome = np.where(col(p, "ignored", pr, bool), np.int8(_IGNORED),
                           np.where(col(p, "is_tp", pr, bool), np.int8(_TP), np.int8(_FP)))
        fp = outcome == _FP
        nan = (np.full(self.n_pred, np.nan) if not {"max_iou_same_class", "max_iou_other_class"} <= set(p.columns)
               else None)
        best_same = col(p, "max_iou_same_class", pr, np.float64) if "max_iou_same_class" in p else nan
        p_partner, p_has = _partner(col(p, "label_id", pr))
        l_partner, l_has = _partner(col(l, "pred_id", lr))
        l_outcome = np.where(col(l, "ignored", lr, bool), np.int8(_IGNORED),
                             np.where(col(l, "detected", lr, bool), np.int8(_TP), np.int8(_FN)))
        self._pred = {
            "id": col(p, "pred_id", pr, np.int64), "image_id": col(p, "image_id", pr, np.int64),
            "category_id": col(p, "category_id", pr, np.int64), "outcome": outcome.astype(np.int8, copy=False),
            "reason": _reason_codes(col(p, "fp_reason", pr) if fp_code is None else None, fp,
                                    None if fp_code is None else fp_code if pr is None else fp_code[pr]),
            "score": col(p, "score", pr, np.float64),
            "iou": np.where(fp, best_same, col(p, "iou", pr, np.float64)),
            "iou_other": col(p, "max_iou_other_class", pr, np.float64) if "max_iou_other_class" in p else nan,
            "partner": p_partner, "has_partner": p_has}
        self._label = {
            "id": col(l, "label_id", lr, np.int64), "image_id": col(l, "image_id", lr, np.int64),
            "category_id": col(l, "category_id", lr, np.int64), "outcome": l_outcome.astype(np.int8, copy=False),
            "reason": np.full(self.n_label, -1, np.int8),
            "iou": np.where(l_has, col(l, "iou", lr, np.float64), np.nan),
            "iou_other": np.full(self.n_label, np.nan), "partner": l_partner, "has_partner": l_has}
        for part in (self._pred, self._label):
            part["code"] = (part["outcome"] * CODE_WIDTH + part["reason"] + 1).astype(np.int8)
        self._indexes = {}
        if pr is None and lr is None:  # indexes of the whole tables are this source's own
            self._indexes = {k: v for k, v in (("pred", pred_index), ("label", label_index)) if v is not None}
            self._label["score"] = self._label_scores(lambda: self._index("pred"), self._pred["score"])
        else:  # a label's score is its partner's, found among all of ``predictions``
            from explorer.analysis.outcomes import IdIndex

            self._label["score"] = self._label_scores(
                lambda: pred_index if pred_index is not None else IdIndex(p["pred_id"].to_numpy(np.int64)),
                col(p, "score", None, np.float64))
        self._whole: dict = {}
        self._memo: dict = {}

    @classmethod
    def of_rows(cls, predictions: pd.DataFrame, labels: pd.DataFrame, *, pred_rows=(), label_rows=(),
                confidence_threshold: float | None = None, fp_code: np.ndarray | None = None,
                pred_index=None) -> "BucketSource":
        """The source of the rows at positions ``pred_rows`` / ``label_rows`` (int, ascending: the bucket order)
        of a match's two tables: what ``BucketSource(predictions.iloc[pred_rows], labels.iloc[label_rows])``
        holds, gathered column by column (no frame copies of a match's millions of rows), except that a label's
        ``score`` is its partner's looked up among **all** of ``predictions`` (``pred_index``: the ``IdIndex`` of
        their ids when kept elsewhere). ``fp_code``: the whole match's ``MatchResult.fp_code``."""
        return cls(predictions, labels, confidence_threshold=confidence_threshold, fp_code=fp_code,
                   pred_index=pred_index, pred_rows=pred_rows, label_rows=label_rows)

    def _label_scores(self, index, scores: np.ndarray) -> np.ndarray:
        """Per label the score of the prediction matched to it (NaN where none): its row found by ``index()``
        (an ``IdIndex``, made only when a label has a partner) among the predictions whose ``scores`` those rows
        are."""
        partner, has = self._label["partner"], self._label["has_partner"]
        out = np.full(self.n_label, np.nan)
        if has.any() and len(scores):
            at = index().positions(partner[has])
            rows = np.flatnonzero(has)
            out[rows[at >= 0]] = scores[at[at >= 0]]
        return out

    def whole(self, name: str) -> np.ndarray:
        """Column ``name`` over every source row (predictions then labels), concatenated once and kept."""
        if name not in self._whole:
            self._whole[name] = np.concatenate([self._pred[name], self._label[name]])
        return self._whole[name]

    def column(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Column ``name`` (a key of the class docstring, or ``"is_pred"``) at source rows ``rows``."""
        rows = np.asarray(rows, np.int64)
        if name == "is_pred":
            return rows < self.n_pred
        if name in ("code", "score"):  # read over whole buckets on every rerun: one gather from the kept column
            return self.whole(name)[rows]
        is_label = rows >= self.n_pred
        pred = self._pred[name]
        if not is_label.any():
            return pred[rows]
        label = self._label[name][rows[is_label] - self.n_pred]
        if is_label.all():
            return label
        out = np.empty(len(rows), np.result_type(pred, label))
        out[~is_label] = pred[rows[~is_label]]
        out[is_label] = label
        return out

    def aligned(self, key, predictions: pd.Series | None, labels: pd.Series | None) -> np.ndarray:
        """A per-id value (``predictions`` by pred_id, ``labels`` by label_id; None = NaN) on every source row,
        remembered under ``key`` (the last few: a metric chosen again costs nothing). Rows are found by the one
        id look-up (``layout.lookup``); an id absent from the series reads NaN."""
        if key in self._memo:
            return self._memo[key]
        from explorer.evaluation.layout import lookup

        parts = []
        for series, ids in ((predictions, self._pred["id"]), (labels, self._label["id"])):
            if series is None or not len(series):
                parts.append(np.full(len(ids), np.nan))
                continue
            values = pd.to_numeric(series, errors="coerce").to_numpy(np.float64, na_value=np.nan)
            at = lookup(series.index.to_numpy(np.int64), ids)
            parts.append(np.where(at >= 0, values[np.maximum(at, 0)], np.nan))
        value = np.concatenate(parts)
        self._memo[key] = value
        for old in list(self._memo)[:-3]:  # keep three metrics
            del self._memo[old]
        return value

    def _has_id(self, part: str, ids) -> np.ndarray:
        """Bool mask over the ``part`` ("pred"/"label") rows: the row's id is in ``ids``. The rows of the wanted
        ids are looked up in an id index kept per source (ids are unique), so a bucket of a million ids costs a
        gather of those ids, not a hash probe of every row."""
        at = self._index(part).positions(_id_array(ids))
        keep = np.zeros(self.n_pred if part == "pred" else self.n_label, bool)
        keep[at[at >= 0]] = True
        return keep

    def _index(self, part: str):
        """The ``IdIndex`` of the ``part`` ("pred"/"label") ids: the one given (``match_index``, kept across
        matches) or built once here."""
        if part not in self._indexes:
            from explorer.analysis.outcomes import IdIndex

            self._indexes[part] = IdIndex((self._pred if part == "pred" else self._label)["id"])
        return self._indexes[part]

    def bucket(self, *, pred_ids: Iterable[int] | None = None, label_ids: Iterable[int] | None = None,
               classes: Iterable[int] | None = None, image_ids: Iterable[int] | None = None) -> "Bucket":
        """The rows of ``bucket_table`` with the same arguments (predictions first, then labels, each in order)."""
        p, l = self._pred, self._label
        if pred_ids is None and label_ids is None:
            keep_p = np.ones(self.n_pred, bool)
            keep_l = l["outcome"] != _TP  # a detected label is represented by its TP prediction
        else:
            keep_p, keep_l = self._has_id("pred", pred_ids), self._has_id("label", label_ids)
        for part, keep in ((p, keep_p), (l, keep_l)):
            if classes is not None:
                keep &= _isin_small(part["category_id"], _id_array(classes))
            if image_ids is not None:
                keep &= _isin(part["image_id"], image_ids)
        rows = np.concatenate([np.arange(self.n_pred) if keep_p.all() else np.flatnonzero(keep_p),
                               np.flatnonzero(keep_l) + self.n_pred])
        return Bucket(self, rows)


class Bucket:
    """Some rows of a ``BucketSource`` (``rows``: int64 source positions, in bucket order)."""

    def __init__(self, source: BucketSource, rows: np.ndarray, codes: np.ndarray | None = None):
        self.source, self.rows = source, np.asarray(rows, np.int64)
        self._codes = codes

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> np.ndarray:
        return self.source.column(name, self.rows)

    def codes(self) -> np.ndarray:
        """The rows' ``code`` (outcome and FP reason, ``BucketSource``), gathered once per bucket."""
        if self._codes is None:
            self._codes = self.column("code")
        return self._codes

    def take(self, index) -> "Bucket":
        """The bucket of ``rows[index]`` (a boolean mask or positions)."""
        return Bucket(self.source, self.rows[index], None if self._codes is None else self._codes[index])

    def counts(self) -> dict[str, int]:
        """``outcome_counts`` of the bucket, by one bincount of the codes."""
        n = np.bincount(self.codes(), minlength=len(OUTCOMES) * CODE_WIDTH).reshape(len(OUTCOMES), CODE_WIDTH)
        counts = {o: int(n[i].sum()) for i, o in enumerate(OUTCOMES)}
        counts.update({f"FP:{r}": int(n[_FP, i + 1]) for i, r in enumerate(FP_REASONS)})
        return counts

    def rank(self) -> np.ndarray:
        """Gallery rank of each row's outcome (``FAILURE_ORDER``)."""
        return _RANK_OF_CODE[self.codes()]

    def frame(self) -> pd.DataFrame:
        """The rows as a ``bucket_table`` frame (``COLUMNS``; call it for a page of rows, or a small bucket)."""
        col = self.column
        table = pd.DataFrame({
            "record": np.where(col("is_pred"), "prediction", "label"), "id": col("id"), "image_id": col("image_id"),
            "category_id": col("category_id"), "outcome": _OUTCOME_NAMES[col("outcome").astype(np.int64)],
            "fp_reason": _REASON_NAMES[col("reason").astype(np.int64)], "score": col("score"), "iou": col("iou"),
            "iou_other": col("iou_other"),
            "partner_id": pd.arrays.IntegerArray(col("partner"), ~col("has_partner"))})
        if self.source.confidence_threshold is not None:
            table.attrs["confidence_threshold"] = self.source.confidence_threshold
        return table


def _id_array(ids: Iterable[int] | None) -> np.ndarray:
    if ids is None:
        return np.empty(0, np.int64)
    return np.asarray(ids if isinstance(ids, (np.ndarray, pd.Series, pd.Index)) else list(ids), np.int64)


def restrict(table: pd.DataFrame, *, classes: Iterable[int] | None = None,
             image_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Rows of a match table (or bucket table) in the given classes and images (None = no restriction)."""
    keep = np.ones(len(table), bool)
    if classes is not None:
        keep &= table["category_id"].isin(_id_array(classes)).to_numpy()
    if image_ids is not None:
        keep &= table["image_id"].isin(_id_array(image_ids)).to_numpy()
    return table[keep]


def bucket_table(predictions: pd.DataFrame, labels: pd.DataFrame, *, pred_ids: Iterable[int] | None = None,
                 label_ids: Iterable[int] | None = None, classes: Iterable[int] | None = None,
                 image_ids: Iterable[int] | None = None, confidence_threshold: float | None = None) -> pd.DataFrame:
    """One row per bucket item (see the module docstring); predictions first, then labels, each by id.

    ``predictions``/``labels`` are ``MatchResult.predictions`` / ``.labels``. ``pred_ids``/``label_ids`` choose an
    explicit bucket (ids absent from the match, e.g. below the confidence threshold, are simply not there);
    when both are None the bucket is the whole selection. ``classes``/``image_ids`` restrict by category / image.
    The pages keep the ``BucketSource`` of a match and draw only a page of rows (``Bucket``); this is its frame.
    """
    source = BucketSource(predictions, labels, confidence_threshold=confidence_threshold)
    return source.bucket(pred_ids=pred_ids, label_ids=label_ids, classes=classes, image_ids=image_ids).frame()


def outcome_counts(table: pd.DataFrame) -> dict[str, int]:
    """Items per outcome (every key of ``OUTCOMES`` present) plus FP per reason as ``"FP:<reason>"``."""
    counts = {o: int((table["outcome"] == o).sum()) for o in OUTCOMES}
    fp = table.loc[table["outcome"] == "FP", "fp_reason"]
    for reason in FP_REASONS:
        counts[f"FP:{reason}"] = int((fp == reason).sum())
    return counts


def metric_values(table: pd.DataFrame, *, predictions: pd.Series | None, labels: pd.Series | None) -> np.ndarray:
    """Per-row value of one metric: ``predictions`` (index pred_id) for prediction rows, ``labels`` (index
    label_id) for label rows; NaN where the metric has no value for that row's level (e.g. confidence of a label)."""
    out = np.full(len(table), np.nan)
    is_pred = (table["record"] == "prediction").to_numpy()
    ids = table["id"].to_numpy(np.int64)
    for mask, series in ((is_pred, predictions), (~is_pred, labels)):
        if series is not None and mask.any():
            out[mask] = pd.to_numeric(series, errors="coerce").reindex(ids[mask]).to_numpy(np.float64)
    return out


def sort_key(values: np.ndarray, *, descending: bool) -> np.ndarray:
    """The ascending sort key of ``values`` ``(n,)``: ``-values`` when descending, NaN as +inf (always last)."""
    values = np.asarray(values, np.float64)
    return np.where(np.isnan(values), np.inf, -values if descending else values)


def sort_rows(table: pd.DataFrame, values: np.ndarray, *, descending: bool, failures_first: bool = True) -> pd.DataFrame:
    """``table`` ordered by ``values`` (stable; NaN always last, whatever the direction). With ``failures_first``
    (default) the outcome groups come first in ``FAILURE_ORDER`` (FN, FP, TP, ignored), each ordered by ``values``."""
    key = sort_key(values, descending=descending)
    if not failures_first or "outcome" not in table:
        return table.iloc[np.argsort(key, kind="stable")]
    rank = table["outcome"].map(FAILURE_ORDER).fillna(len(FAILURE_ORDER)).to_numpy(np.int64)
    return table.iloc[np.lexsort((key, rank))]  # last key is the primary one


def _stable_window(key: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``np.argsort(key, kind="stable")[start:stop]`` in O(n): partition at the window's two ends, then sort only
    the rows between them (ties keep their position order, as a stable sort does)."""
    n = len(key)
    if stop - start >= n // 8:  # a large window (or a small array): the plain sort is as cheap
        return np.argsort(key, kind="stable")[start:stop]
    lo, hi = np.partition(key, (start, stop - 1))[[start, stop - 1]]
    n_below = int(np.count_nonzero(key < lo))
    between = np.flatnonzero((key >= lo) & (key <= hi))  # position order
    if lo != hi:
        between = between[np.argsort(key[between], kind="stable")]
    return between[start - n_below:stop - n_below]


def sorted_window(rank: np.ndarray, key: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Positions ``np.lexsort((key, rank))[start:stop]`` (``rank`` primary, then ``key``, then position) without
    sorting every row: the few rank groups are walked in order and only the window is selected in each.

    ``rank``: int ``(n,)`` small values (``FAILURE_ORDER`` ranks); ``key``: float ``(n,)`` without NaN
    (``sort_key``). Returns int64 positions, shape ``(max(0, min(stop, n) - start),)``.
    """
    rank = np.asarray(rank, np.int64)
    stop = min(stop, len(rank))
    out, offset = [], 0
    for g, size in enumerate(np.bincount(rank) if len(rank) else []):
        a, b = max(start - offset, 0), min(stop - offset, size)
        if size and a < b:
            members = np.flatnonzero(rank == g)
            out.append(members[_stable_window(key[members], a, b)])
        offset += size
        if offset >= stop:
            break
    return np.concatenate(out).astype(np.int64) if out else np.empty(0, np.int64)


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two ``(n, 4)`` arrays of COCO ``x, y, w, h`` boxes: ``|A∩B| / |A∪B|`` (0 for empty boxes)."""
    iw = np.clip(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _find(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each ``values[i]`` in ``keys`` (unique, any order), -1 where absent, by binary search: for a
    page's few rows (``layout.lookup``'s table would span the ids' whole range)."""
    if not len(keys):
        return np.full(len(values), -1, np.int64)
    order = np.argsort(keys, kind="stable")
    at = np.minimum(np.searchsorted(keys[order], values), len(keys) - 1)
    return np.where(keys[order][at] == values, order[at], -1).astype(np.int64)


def nearest_other(rows: pd.DataFrame, labels: pd.DataFrame, predictions: pd.DataFrame, *,
                  min_score: float = 0.0) -> pd.DataFrame:
    """What overlapped each bucket row most: for a label, the prediction of **any** class (score ≥ ``min_score``)
    with the highest box IoU; for a prediction, the label of **another** class with the highest box IoU (the "true
    class" of a wrong-class false detection). Ties: the candidate first in its table.

    ``rows``: ``bucket_table`` rows (``record, id, image_id, category_id``); ``labels``/``predictions``: the
    project tables (``label_id``/``pred_id``, ``image_id``, ``category_id``, ``x, y, w, h``; ids unique). Returns
    a frame aligned with ``rows`` (same index): ``near_id`` (Int64, ``<NA>`` = nothing overlaps), ``near_class``
    (category id, Int64) and ``near_iou`` (box IoU, 0.0 when nothing overlaps); a row whose id is not in its table
    gets nothing. The same on plain columns: ``nearest_other_columns``.
    """
    def columns(table, names):
        return {c: table[c].to_numpy() for c in names if c in table}

    box = ["image_id", "category_id", "x", "y", "w", "h"]
    return nearest_other_columns(columns(rows, ["record", "id", "image_id", "category_id"]),
                                 columns(labels, ["label_id", *box]), columns(predictions, ["pred_id", *box, "score"]),
                                 min_score=min_score, index=rows.index)


def nearest_other_columns(rows: dict, labels: dict, predictions: dict, *, min_score: float = 0.0,
                          index=None) -> pd.DataFrame:
    """``nearest_other`` on columns: dicts of ``(n,)`` arrays with the same names (``predictions["score"]``
    optional). Vectorised: every (row, candidate of its image) pair at once (a per-image index of the
    candidates), then the best pair per row by one stable sort."""
    n = len(rows["id"])
    near_id, near_class, near_iou = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n)
    found = np.zeros(n, bool)
    if "score" in predictions:
        keep = np.asarray(predictions["score"], np.float64) >= min_score
        preds = {k: np.asarray(v)[keep] for k, v in predictions.items()}
    else:
        preds = predictions
    record = np.asarray(rows["record"])
    row_image = np.asarray(rows["image_id"], np.int64)
    for kind, own, cand, own_id, cand_id, other_class in (
            ("label", labels, preds, "label_id", "pred_id", False),
            ("prediction", predictions, labels, "pred_id", "label_id", True)):
        at_rows = np.flatnonzero(record == kind)
        if not len(at_rows) or not len(cand[cand_id]) or not len(own[own_id]):
            continue
        at_own = _find(np.asarray(own[own_id], np.int64), np.asarray(rows["id"], np.int64)[at_rows])
        at_rows, at_own = at_rows[at_own >= 0], at_own[at_own >= 0]  # rows whose record the table holds
        cand_image = np.asarray(cand["image_id"], np.int64)
        order = np.argsort(cand_image, kind="stable")  # each image's candidates in table order
        image = row_image[at_rows]
        lo = np.searchsorted(cand_image[order], image, "left")
        size = np.searchsorted(cand_image[order], image, "right") - lo
        pair_row = np.repeat(np.arange(len(at_rows)), size)  # every (row, candidate of its image), row-major
        pair_cand = order[np.arange(int(size.sum())) + np.repeat(lo - (np.cumsum(size) - size), size)]
        cand_class = np.asarray(cand["category_id"], np.int64)
        if other_class:
            other = np.asarray(rows["category_id"], np.int64)[at_rows][pair_row] != cand_class[pair_cand]
            pair_row, pair_cand = pair_row[other], pair_cand[other]
        iou = _box_iou(_xywh(own)[at_own][pair_row], _xywh(cand)[pair_cand])
        keep = iou > 0
        pair_row, pair_cand, iou = pair_row[keep], pair_cand[keep], iou[keep]
        if not len(iou):
            continue
        best = np.lexsort((-iou, pair_row))  # stable: among equal IoUs the first candidate
        first = best[np.concatenate(([True], pair_row[best][1:] != pair_row[best][:-1]))]
        at = at_rows[pair_row[first]]
        found[at] = True
        near_id[at] = np.asarray(cand[cand_id], np.int64)[pair_cand[first]]
        near_class[at] = cand_class[pair_cand[first]]
        near_iou[at] = iou[first]
    return pd.DataFrame({"near_id": pd.arrays.IntegerArray(near_id, ~found),
                         "near_class": pd.arrays.IntegerArray(near_class, ~found), "near_iou": near_iou},
                        index=index)


def _xywh(columns: dict) -> np.ndarray:
    """``(n, 4)`` float64 boxes ``x, y, w, h`` of a column dict."""
    return np.stack([np.asarray(columns[c], np.float64) for c in ("x", "y", "w", "h")], axis=1)
