"""The outcome tables: the model's outcome per image, label or prediction of a selection, with every data metric
joined — the one table that metric importance, performance by metric, the galleries and the metric-table export
all read (the tasks' ``outcome_table``, ``explorer.tasks.get(project.task).outcome_table(project, sel, target)``).

``detection_outcomes``, ``classification_outcomes``, ``segmentation_outcomes`` and ``regression_outcomes`` take a
project (a run's view: ``Project.for_run``), a core ``Selection`` and a target (``"images"``, ``"labels"`` or
``"predictions"``) and return a DataFrame by one rule:

* **Rows**: one per row of the target in the selection — images of the split; labels and predictions of the split
  whose class is selected; for detection, predictions scoring at or above the confidence threshold (the others
  are not matched, so not in the selection). Classification images with a class filter: the images whose label
  is of a selected class.
* **Index**: the target id (``image_id`` / ``label_id`` / ``pred_id``). **Columns**: the project's row (without
  the bulky ``segmentation`` JSON), then the outcome columns, then every data-metric column
  (``explorer.datametrics.tables.metrics_for``: the target's own level plus the frame (F) metrics of its image;
  a metric named like a row column is not joined — the row's value wins). No metrics computed: no metric columns.
* **Undefined is missing, never 0 or -1**: boolean outcomes are pandas ``boolean`` with ``<NA>`` where the
  outcome is undefined, matched ids are ``Int64`` with ``<NA>`` for "none", numbers NaN. Detection keeps the rows
  COCO evaluation ignores (crowd labels; predictions matched to a crowd label or beyond the 100 best of their
  image) with ``ignored = True`` and the outcome ``<NA>``; a classification image without a prediction at the
  confidence threshold, a segmentation image without a mask pair and a regression image without a prediction
  have the outcome ``<NA>``. A rate is the share of True among the rows whose outcome is defined: ``rated(table,
  column)`` gives those rows (and ``table[column].mean()`` already skips ``<NA>``).
* A target the task defines no outcome for (detection images carry counts; classification labels…) gets the rows
  and the metrics only, so the export writes every target through the same function.

Caching: every table is kept per (project root, fingerprint — which names the run —, metrics run, IoU type,
selection, target) in a core cache bounded by entries and bytes and shared by the app's sessions, the export and
the CLI; the match, a view's joined metric frame and a selection's rows + metric columns + the match row of each
row (which an IoU move does not change) are kept the same way, as are the id indexes of the project tables and of
the match's rows and a per-image row index (``image_rows`` / ``image_table``: a gallery page's rows). A table is
returned as a shallow copy: writing it never changes the kept one. Tables are built by position (project row →
match row → metric row), never re-indexed by id.

Outcome columns:

* detection — labels: ``detected, matched_pred_id, iou, ignored``; predictions: ``is_tp, matched_label_id, iou,
  fp_reason, ignored``; images: ``n_labels, n_detected, n_predictions, n_tp`` (over the selected classes, ignored
  rows left out; ``n_detected``/``n_tp`` ``<NA>`` when the run has no predictions);
* classification — images: ``true_id, pred_id`` (predicted class), ``score, correct``;
* segmentation — images: ``miou, pixel_accuracy`` (``explorer.evaluation.segmentation.outcomes``) and ``good`` =
  ``miou >= target_iou`` (selection option ``target_iou``, default the task's);
* regression — images: ``target, prediction, error, abs_error`` and ``within_tolerance`` = ``abs_error <=
  tolerance`` (option ``tolerance``; default the median absolute error of the selection's predicted images).
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pandas as pd

from explorer.project.selection import Selection
from explorer.tasks.base import TARGET_ID, TARGETS

__all__ = ["detection_outcomes", "classification_outcomes", "segmentation_outcomes", "regression_outcomes",
           "rated", "selected_rows", "with_metrics", "metric_frame", "matcher", "match", "tolerance_of", "image_rows",
           "image_table", "match_index", "IdIndex"]


# ---- bounded caches ------------------------------------------------------------------------------------------
# Every cache here is keyed by (project root, fingerprint — which names the run —, …) and bounded by entries and,
# for the big ones, by bytes: the app's sessions share them, so ten sessions at ten IoUs keep a few matches and
# tables, not ten of each (at 100k images one predictions outcome table is ~0.4 GB).
_LOCK = threading.Lock()
_MAKING: dict = {}  # (id(cache), key) → Event set when the thread making that entry is done


class _Bounded(OrderedDict):
    """An LRU ``OrderedDict`` that ``_remember`` also bounds by bytes: ``max_bytes`` over the values' ``_nbytes``
    (the newest entry is always kept, however big)."""

    def __init__(self, max_bytes: int):
        super().__init__()
        self.max_bytes = int(max_bytes)
        self.weights: dict = {}


def _nbytes(value) -> int:
    """Bytes a cached value holds (nominal: columns shared with other objects count too, so the bound is safe)."""
    if isinstance(value, pd.DataFrame):
        arrays = getattr(getattr(value, "_mgr", None), "arrays", None)  # the columns' arrays (pandas' manager)
        if arrays is None:
            return int(value.memory_usage(index=True, deep=False).sum())
        # = memory_usage(index=True, deep=False).sum() without a Series per column (~3 ms on a 27-column table,
        # paid on every cache store)
        return int(sum(a.nbytes for a in arrays) + value.index.nbytes)
    if isinstance(value, tuple):
        return sum(_nbytes(v) for v in value if v is not None)
    if hasattr(value, "nbytes"):
        return int(value.nbytes)
    frames = [getattr(value, name, None) for name in ("predictions", "labels", "score_order", "class_score_order")]
    return sum(_nbytes(f) for f in frames if f is not None)


def _remember(cache: OrderedDict, key, make, size: int):
    """``cache[key]``, made by ``make()`` on a miss; keeps at most ``size`` entries (and ``cache.max_bytes`` for
    a ``_Bounded``), least recently used out first. Single flight: threads (app sessions) missing the same key
    while one makes it wait for that value instead of making it again (if the maker fails, the next one tries)."""
    token = (id(cache), key)
    while True:
        with _LOCK:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
            making = _MAKING.get(token)
            if making is None:
                making = _MAKING[token] = threading.Event()
                break
        making.wait()
    try:
        value = make()
        with _LOCK:
            _store(cache, key, value, size)
    finally:
        with _LOCK:
            _MAKING.pop(token, None)
        making.set()
    return value


def _store(cache: OrderedDict, key, value, size: int) -> None:
    """Put ``value`` in ``cache`` as the newest entry and evict the oldest over ``size`` entries or the byte
    budget (the caller holds ``_LOCK``)."""
    cache[key] = value
    cache.move_to_end(key)
    weights = getattr(cache, "weights", None)
    if weights is not None:
        weights[key] = _nbytes(value)
    while len(cache) > size or (weights is not None and len(cache) > 1
                                and sum(weights.values()) > cache.max_bytes):
        old, _ = cache.popitem(last=False)
        if weights is not None:
            weights.pop(old, None)


# One Matcher (every IoU of the project) per project view and IoU type, its last matches, each view's metric
# columns and the last outcome tables: moving a threshold re-matches without recomputing IoUs, changing classes
# filters the cached match, for the pages and the export alike.
_MATCHERS: OrderedDict = OrderedDict()
# Budgets (nominal bytes, shared columns counted in full) at 100k images / 2M predictions per run: a match is
# ~0.25 GB (3 kept), a view's metric frames ~0.3 GB (both runs kept), a selection's outcome tables ~0.55 GB
# (its predictions table alone 0.42 GB, though the rows and metric columns of an all-classes table are the
# project's and the metric frame's own, not copies): the current and the previous selection stay.
_MATCHES = _Bounded(max_bytes=800_000_000)
_METRICS = _Bounded(max_bytes=1_000_000_000)
_TABLES = _Bounded(max_bytes=1_200_000_000)
_BASES = _Bounded(max_bytes=1_000_000_000)  # (rows, metric columns) of a selection, shared by its tables
_INDEXES: OrderedDict = OrderedDict()


class IdIndex:
    """Positions of ids in one id array ``ids`` (shape (n,), unique): ``positions(query)`` → int64 array of the
    same shape, -1 where an id is absent. A dense lookup table over ``[min, max]`` when the ids span at most
    ~4n values (project ids: 1..n), else a sorted copy and ``searchsorted``; O(n) either way after the build."""

    def __init__(self, ids: np.ndarray):
        ids = np.asarray(ids, dtype=np.int64)
        self.n = len(ids)
        self.lo = int(ids.min()) if len(ids) else 0
        span = int(ids.max()) - self.lo + 1 if len(ids) else 0
        if span <= 4 * len(ids) + 1024:
            self.table = np.full(span, -1, np.int64)
            self.table[ids - self.lo] = np.arange(len(ids))
            self.order = None
        else:
            self.table = None
            self.order = np.argsort(ids, kind="stable")
            self.sorted = ids[self.order]

    @property
    def nbytes(self) -> int:
        return self.table.nbytes if self.table is not None else self.order.nbytes + self.sorted.nbytes

    def positions(self, query) -> np.ndarray:
        q = np.asarray(query, dtype=np.int64)
        if self.n == 0:
            return np.full(q.shape, -1, np.int64)
        if self.table is not None:
            at = q - self.lo
            inside = (at >= 0) & (at < len(self.table))
            return np.where(inside, self.table[np.where(inside, at, 0)], -1)
        at = np.minimum(np.searchsorted(self.sorted, q), self.n - 1)
        return np.where(self.sorted[at] == q, self.order[at], -1)


def _table_index(project, target: str) -> IdIndex:
    """``IdIndex`` of the project's ``target`` table ids (cached per project view)."""
    key = (str(project.root), project.fingerprint, target)
    return _remember(_INDEXES, key, lambda: IdIndex(getattr(project, target)[TARGET_ID[target]].to_numpy()), size=24)


class _ImageRows:
    """The rows of one project table grouped by image: ``order`` (row positions, stable-sorted by image id) and
    ``sorted`` (the image ids in that order); ``rows(images)`` → ascending positions of the rows on ``images``
    (two ``searchsorted`` per image, so a gallery page never scans millions of rows)."""

    def __init__(self, image_ids: np.ndarray):
        ids = np.asarray(image_ids, np.int64)
        self.order = np.argsort(ids, kind="stable")
        self.sorted = ids[self.order]

    @property
    def nbytes(self) -> int:
        return self.order.nbytes + self.sorted.nbytes

    def rows(self, images) -> np.ndarray:
        q = np.unique(np.asarray(images, np.int64))
        lo, hi = np.searchsorted(self.sorted, q, "left"), np.searchsorted(self.sorted, q, "right")
        n = hi - lo
        # positions lo[i] .. hi[i] - 1 of every image, concatenated: one arange shifted per image
        at = np.arange(int(n.sum())) + np.repeat(lo - (np.cumsum(n) - n), n)
        return np.sort(self.order[at])


def image_rows(project, target: str, image_ids) -> np.ndarray:
    """Positions (ascending, int64) of the project's ``target`` rows (``"images"``, ``"labels"``,
    ``"predictions"``) whose ``image_id`` is in ``image_ids``: ``table.take(image_rows(...))`` equals
    ``table[table["image_id"].isin(image_ids)]`` (same rows, order and index). The per-image index is built once
    per project view (a stable argsort of the image ids)."""
    key = (str(project.root), project.fingerprint, target, "image_id")
    index = _remember(_INDEXES, key, lambda: _ImageRows(getattr(project, target)["image_id"].to_numpy()), size=24)
    return index.rows(image_ids)


def image_table(project, target: str, image_ids) -> pd.DataFrame:
    """The project's ``target`` rows on ``image_ids`` (``image_rows``: the rows, order and index of an ``isin``
    filter) without the ``run`` column — one value in a run's view, and a few rows of its chunked Arrow strings
    cost a pass over all of them (~0.1 s at 2M predictions)."""
    table = getattr(project, target)
    table = table.drop(columns=["run"]) if "run" in table.columns else table
    return table.take(image_rows(project, target, image_ids))


# ---- shared row rule --------------------------------------------------------------------------------------------
def _check_target(target: str) -> None:
    if target not in TARGETS:
        from explorer.errors import UserError

        raise UserError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")


def _selected_mask(project, sel: Selection, target: str) -> np.ndarray:
    """Bool array over the project's ``target`` rows: in the split and (labels/predictions) of a selected class."""
    table = getattr(project, target)
    if sel.split is None:
        keep = np.ones(len(table), bool)
    else:  # the split's rows (kept per view, split and target: a class change does not look at image ids again)
        key = (str(project.root), project.fingerprint, target, "split", sel.split)
        keep = _remember(_INDEXES, key, lambda: np.isin(table["image_id"].to_numpy(), sel.image_ids(project)),
                         size=24).copy()
    if target != "images" and sel.classes is not None:
        keep &= np.isin(table["category_id"].to_numpy(), np.asarray(sel.classes))
    return keep


def _rows_at(project, target: str, keep: np.ndarray) -> pd.DataFrame:
    """The project's ``target`` rows where ``keep`` (bool, one per row), index = target id, no ``segmentation``."""
    table = getattr(project, target)
    id_col = TARGET_ID[target]
    ids = table[id_col].to_numpy()
    # the two columns left out are dropped before the rows are selected (not copied: an object column of 2M
    # predictions cost ~40 ms per class change); all rows: the project's columns, not a copy (copy-on-write)
    rows = table.drop(columns=[c for c in (id_col, "segmentation") if c in table.columns])
    if not keep.all():
        rows, ids = rows[keep], ids[keep]
    # = rows.set_index(id_col), without copying the ids into the index (160 MB at 20M predictions)
    return rows.set_axis(pd.Index(ids, name=id_col, copy=False), axis=0)


def selected_rows(project, sel: Selection, target: str) -> pd.DataFrame:
    """The project's ``target`` rows in the split (and, for labels/predictions, the selected classes), index = the
    target id, without the ``segmentation`` column."""
    _check_target(target)
    return _rows_at(project, target, _selected_mask(project, sel, target))


class _MetricColumns:
    """One project view's data metrics of a target (``metrics_for``: ``frame``, index = target id) and the row
    of ``frame`` holding each row of the project's target table (``row_of``, shape (n_rows,), -1 = none)."""

    def __init__(self, project, target: str):
        from explorer.datametrics.tables import metrics_for

        self.frame = metrics_for(project, target)
        self.index = IdIndex(self.frame.index.to_numpy())
        self.row_of = self.index.positions(getattr(project, target)[TARGET_ID[target]].to_numpy())

    @property
    def nbytes(self) -> int:
        return _nbytes(self.frame) + self.index.nbytes + self.row_of.nbytes

    def rows(self, at: np.ndarray | None, index: pd.Index, exclude) -> pd.DataFrame:
        """The metric columns (not in ``exclude``) of frame rows ``at`` (int array; None = every frame row in
        order), as a frame on ``index``; rows without metrics: ``reindex`` semantics (NaN, dtypes widened)."""
        frame = self.frame[[c for c in self.frame.columns if c not in exclude]]
        if at is None:
            out = frame  # the kept frame's columns, not copied (copy-on-write: never written through)
        elif len(at) and at.min() < 0:
            return frame.reindex(index)
        else:
            out = frame.take(at)
        return out.set_axis(index, axis=0)


def _metric_columns(project, target: str) -> _MetricColumns | None:
    """The view's ``_MetricColumns`` of ``target`` (read once per project view and metrics run), None before
    metrics exist."""
    catalog = project.metrics_dir / "catalog.json"
    if not catalog.is_file():
        return None
    key = (str(project.root), project.fingerprint, catalog.stat().st_mtime_ns, target)
    return _remember(_METRICS, key, lambda: _MetricColumns(project, target), size=6)


def metric_frame(project, target: str) -> pd.DataFrame | None:
    """``explorer.datametrics.tables.metrics_for(project, target)`` as the outcome tables join it (read once per
    project view and metrics run, shared: a shallow copy is returned), None before metrics exist."""
    columns = _metric_columns(project, target)
    return None if columns is None else columns.frame.copy(deep=False)


def _metrics_stamp(project) -> int:
    catalog = project.metrics_dir / "catalog.json"
    return catalog.stat().st_mtime_ns if catalog.is_file() else 0


def _metric_part(project, target: str, index: pd.Index, exclude, at: np.ndarray | None = None):
    """The target's metric columns (not in ``exclude``) for the rows ``index`` (ids), taken by position when
    ``at`` (their project rows, shape (len(index),)) is known, else found by id; None before metrics exist."""
    columns = _metric_columns(project, target)
    if columns is None:
        return None
    if at is not None:
        rows = columns.row_of[at]
        if len(rows) == len(columns.frame) and np.array_equal(rows, np.arange(len(rows))):
            rows = None  # every metric row, in order: join the kept columns as they are
    else:
        rows = columns.index.positions(index.to_numpy())
    return columns.rows(rows, index, set(exclude))


def _join_metrics(table: pd.DataFrame, project, target: str, at: np.ndarray | None = None) -> pd.DataFrame:
    """``table`` with the target's metric columns joined: by position when ``at`` (the project rows of
    ``table``'s rows, shape (len(table),)) is known, else by the ids of ``table.index``."""
    metrics = _metric_part(project, target, table.index, table.columns, at)
    return table if metrics is None else pd.concat([table, metrics], axis=1)


def with_metrics(table: pd.DataFrame, project, target: str) -> pd.DataFrame:
    """``table`` (index = target id) with the target's data metrics joined by id (NaN where a row has none)."""
    return _join_metrics(table, project, target)


def rated(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows whose outcome ``column`` is defined (not ``<NA>``): the rows every rate is computed over; there
    ``table[column].to_numpy(bool)`` is the yes/no outcome."""
    return table[table[column].notna().to_numpy()]


def _boolean(values: np.ndarray, defined: np.ndarray) -> pd.arrays.BooleanArray:
    """``values`` as a pandas ``boolean`` array with ``<NA>`` where not ``defined``."""
    return pd.arrays.BooleanArray(np.asarray(values, bool), ~np.asarray(defined, bool))


def _ids(values) -> pd.arrays.IntegerArray:
    """Matched ids as ``Int64`` with ``<NA>`` for "none" (as the matcher gives them)."""
    return pd.array(values, dtype="Int64")


def _cached_table(kind: str, project, sel: Selection, target: str, build) -> pd.DataFrame:
    """The outcome table ``build()`` of (project view, metrics run, ``kind``, selection, target), kept in the
    bounded ``_TABLES``; a shallow copy is returned, so a caller that adds or writes columns changes only its
    copy (copy-on-write)."""
    _check_target(target)
    key = (str(project.root), project.fingerprint, _metrics_stamp(project), kind, sel, target)
    return _remember(_TABLES, key, build, size=12).copy(deep=False)


# ---- detection ----------------------------------------------------------------------------------------------------
def matcher(project, *, iou_type: str | None = None):
    """The project's ``explorer.evaluation.Matcher`` (IoUs computed once per project fingerprint and IoU type;
    ``iou_type`` None = ``explorer.tasks.detection.iou_type(project)``: masks when all carry one)."""
    from explorer.evaluation import Matcher
    from explorer.tasks.detection import iou_type as iou_type_of

    kind = iou_type or iou_type_of(project)
    return _remember(_MATCHERS, (str(project.root), project.fingerprint, kind),
                     lambda: Matcher.from_project(project, iou_type=kind), size=4)


def match(project, sel: Selection, *, iou_type: str | None = None):
    """``MatchResult`` of the whole project at the selection's IoU and confidence thresholds (kept for reuse)."""
    from explorer.tasks.detection import iou_type as iou_type_of

    kind = iou_type or iou_type_of(project)
    key = (str(project.root), project.fingerprint, kind, sel.iou_threshold, sel.confidence_threshold)
    return _remember(_MATCHES, key, lambda: matcher(project, iou_type=kind).match(
        sel.iou_threshold, confidence_threshold=sel.confidence_threshold), size=16)


def match_index(project, sel: Selection, target: str, *, iou_type: str | None = None) -> IdIndex:
    """``IdIndex`` of the ids of ``match(project, sel)``'s ``target`` table (``"labels"`` / ``"predictions"``):
    its rows by id. Kept per (view, IoU type, confidence — for predictions —, target): the match lists the same
    rows in the same order at every IoU threshold (checked against the match's id column)."""
    from explorer.tasks.detection import iou_type as iou_type_of

    kind = iou_type or iou_type_of(project)
    m = match(project, sel, iou_type=kind)
    ids = (m.labels if target == "labels" else m.predictions)[TARGET_ID[target]].to_numpy()
    key = (str(project.root), project.fingerprint, kind, sel.confidence_threshold if target == "predictions" else None,
           target, "match ids")
    kept, index = _remember(_INDEXES, key, lambda: (ids, IdIndex(ids)), size=24)
    return index if _same_ids(kept, ids) else IdIndex(ids)


def detection_outcomes(project, sel: Selection, target: str, *, iou_type: str | None = None) -> pd.DataFrame:
    """Detection outcome table of ``target`` (module docstring): labels ``detected``, predictions ``is_tp``,
    images the per-image counts, at the selection's IoU and confidence thresholds. Kept per (project view,
    metrics run, IoU type, split, classes, IoU and confidence thresholds, target); options are not read."""
    from explorer.tasks.detection import iou_type as iou_type_of

    kind = iou_type or iou_type_of(project)
    core = Selection(split=sel.split, classes=sel.classes, iou_threshold=sel.iou_threshold,
                     confidence_threshold=sel.confidence_threshold, run=sel.run)
    return _cached_table("detection/" + kind, project, core, target,
                         lambda: _detection_table(project, core, target, kind))


def _detection_table(project, sel: Selection, target: str, kind: str) -> pd.DataFrame:
    """Rows, outcome columns and metric columns of one detection outcome table; every array is taken by
    position (project row → match row → metric row), none re-indexed by id."""
    if not project.has_predictions or target == "images":
        keep = _selected_mask(project, sel, target)
    if not project.has_predictions:
        return _join_metrics(_detection_without_model(_rows_at(project, target, keep), target), project, target,
                             np.flatnonzero(keep))
    if target == "images":
        labels = detection_outcomes(project, sel, "labels", iou_type=kind)
        preds = detection_outcomes(project, sel, "predictions", iou_type=kind)
        rows = _rows_at(project, target, keep)
        counts = IdIndex(rows.index.to_numpy())
        table = rows.assign(**_per_image(project, sel, counts, labels, "labels", "detected", "n_labels", "n_detected"),
                            **_per_image(project, sel, counts, preds, "predictions", "is_tp", "n_predictions",
                                         "n_tp"))
        return _join_metrics(table, project, target, np.flatnonzero(keep))
    m = match(project, sel, iou_type=kind)
    result = m.labels if target == "labels" else m.predictions
    id_col = TARGET_ID[target]
    match_ids = result[id_col].to_numpy()
    # the rows, their metric columns and which match row holds each row do not depend on the IoU threshold
    # (the match lists the same rows in the same order at every IoU; for labels at every confidence too): an IoU
    # move builds only the outcome columns
    base_key = (str(project.root), project.fingerprint, _metrics_stamp(project), kind, sel.split, sel.classes,
                sel.confidence_threshold if target == "predictions" else None, target)

    def base():
        return _Base(project, target, _selected_mask(project, sel, target), match_ids,
                     _match_rows(project, target, kind, sel.confidence_threshold, match_ids))

    b = _remember(_BASES, base_key, base, size=8)
    if not _same_ids(b.match_ids, match_ids):  # a match listing other rows (never expected): map afresh
        b = base()
    return pd.concat([b.rows, _outcome_frame(m, target, b)] + ([] if b.metrics is None else [b.metrics]), axis=1)


def _match_rows(project, target: str, kind: str, confidence: float, match_ids: np.ndarray) -> np.ndarray:
    """The match row of each row of the project's ``target`` table (shape (n_rows,), int32 when it fits; -1 = not
    in the match), for a match listing ``match_ids`` (its id column). Kept per (view, IoU type, confidence — for
    predictions —, target): the match lists the same rows in the same order at every IoU threshold, so a class or
    split change only selects among these (no pass over every id per selection: ~0.5 s at 20M predictions)."""
    def make():
        row_of = np.full(len(getattr(project, target)), -1, np.int64)
        found = _table_index(project, target).positions(match_ids)
        row_of[found[found >= 0]] = np.flatnonzero(found >= 0)
        return match_ids, _small(row_of)

    key = (str(project.root), project.fingerprint, kind, confidence if target == "predictions" else None, target,
           "match rows")
    kept, row_of = _remember(_INDEXES, key, make, size=24)
    return row_of if _same_ids(kept, match_ids) else make()[1]


def _outcome_frame(m, target: str, b: "_Base") -> pd.DataFrame:
    """The outcome columns (``_OUTCOME_COLUMNS[target]``) of ``b.rows`` from match ``m``: the match's arrays
    taken at rows ``b.r`` in one compiled pass (``match_kernels.outcome_columns``; ``fp_reason`` as int8 codes
    wrapped as a categorical: no object column); rows the match does not hold are ignored with undefined
    outcomes."""
    from explorer.evaluation.match_kernels import outcome_columns
    from explorer.evaluation.matcher import fp_reason_column

    result = m.labels if target == "labels" else m.predictions
    hit_name, id_name, out_name = (("detected", "pred_id", "matched_pred_id") if target == "labels"
                                   else ("is_tp", "label_id", "matched_label_id"))
    ids = result[id_name].array  # Int64 (the matcher's) — anything else is made Int64 first
    ids = ids if isinstance(ids, pd.arrays.IntegerArray) else pd.array(ids, dtype="Int64")
    code = np.zeros(0, np.int8)
    if target == "predictions":
        code = m.fp_code if getattr(m, "fp_code", None) is not None else _reason_codes(result["fp_reason"])
    n = len(b.r)
    ignored, hit, hit_na, out_id, out_id_na, iou, out_code = (
        np.empty(n, bool), np.empty(n, bool), np.empty(n, bool), np.empty(n, np.int64), np.empty(n, bool),
        np.empty(n, np.float64), np.empty(n, np.int8))
    # every column in one compiled pass over the rows (a row the match does not hold: ignored, undefined)
    c = np.ascontiguousarray
    outcome_columns(c(b.r), c(b.present), c(result["ignored"].to_numpy(bool)), c(result[hit_name].to_numpy(bool)),
                    c(ids._mask), c(ids._data), c(result["iou"].to_numpy(np.float64)), c(np.asarray(code, np.int8)),
                    ignored, hit, hit_na, out_id, out_id_na, iou, out_code)
    outcome = {hit_name: pd.arrays.BooleanArray(hit, hit_na),
               out_name: pd.arrays.IntegerArray(out_id, out_id_na), "iou": iou}
    if target == "predictions":
        outcome["fp_reason"] = fp_reason_column(out_code)
    outcome["ignored"] = ignored
    return pd.DataFrame(outcome, index=b.rows.index, copy=False)


def _small(positions: np.ndarray) -> np.ndarray:
    """int64 positions (-1 = none) as int32 when they fit (kept ones: half the bytes; 80 MB at 20M rows)."""
    return positions.astype(np.int32) if len(positions) and positions.max() < 2**31 else positions


def _reason_codes(reasons: pd.Series) -> np.ndarray:
    """int8 reason codes (``MatchResult.fp_code``: 0 = none, else 1 + index in ``FP_REASONS``) of an
    ``fp_reason`` column (categorical or object; unknown values count as none)."""
    from explorer.evaluation.matcher import FP_REASON_DTYPE

    return (pd.Categorical(reasons, dtype=FP_REASON_DTYPE).codes + 1).astype(np.int8)


def _same_ids(kept: np.ndarray, ids: np.ndarray) -> bool:
    """``np.array_equal(kept, ids)``, without reading them when both are views of one buffer (the match's id
    column is the Matcher's own array at every IoU threshold)."""
    same_buffer = (kept.shape == ids.shape and kept.dtype == ids.dtype and kept.strides == ids.strides
                   and kept.__array_interface__["data"][0] == ids.__array_interface__["data"][0])
    return same_buffer or np.array_equal(kept, ids)


# the outcome columns of the detection tables (a metric of the same name is not joined: the outcome wins)
_OUTCOME_COLUMNS = {"labels": ("detected", "matched_pred_id", "iou", "ignored"),
                    "predictions": ("is_tp", "matched_label_id", "iou", "fp_reason", "ignored")}


class _Base:
    """What a detection outcome table of (selection, target) shares across IoU thresholds: ``rows`` (the
    project's rows of the table, index = target id), ``metrics`` (their metric columns, None before metrics
    exist), and for each row the match row holding it — ``r`` (int32 when it fits, shape (len(rows),); 0 where
    none) and ``present`` (bool) — valid for a match listing ``match_ids`` (its id column) in that order;
    ``row_of`` (shape (n_project_rows,)): the match row of each project row, -1 = none (``_match_rows``)."""

    def __init__(self, project, target: str, keep: np.ndarray, match_ids: np.ndarray, row_of: np.ndarray):
        if target == "predictions":
            keep = keep & (row_of >= 0)  # below the confidence threshold: not matched, so not in the selection
        at = np.flatnonzero(keep)
        r = row_of[at]
        self.present = r >= 0
        self.r = np.where(self.present, r, 0)
        self.match_ids = match_ids
        self.rows = _rows_at(project, target, keep)
        self.metrics = _metric_part(project, target, self.rows.index,
                                    [*self.rows.columns, *_OUTCOME_COLUMNS[target]], at)

    @property
    def nbytes(self) -> int:
        return (_nbytes(self.rows) + (0 if self.metrics is None else _nbytes(self.metrics)) + self.r.nbytes
                + self.present.nbytes + self.match_ids.nbytes)


def _per_image(project, sel: Selection, images: IdIndex, table: pd.DataFrame, target: str, hit: str, count: str,
               hits: str) -> dict:
    """``{count: rows of table per image, hits: rows with ``hit`` True per image}`` over the images of
    ``images`` (0 for an image without rows); rows with ``ignored`` are left out. The image position of each row
    does not depend on the thresholds: it is kept per (view, split, classes, confidence, target) while the
    table's ``image_id`` column is the same buffer (an IoU move counts in one compiled pass)."""
    from explorer.evaluation.match_kernels import per_image_counts

    image_ids = table["image_id"].to_numpy()
    key = (str(project.root), project.fingerprint, sel.split, sel.classes, sel.confidence_threshold, target,
           "image positions")
    kept_ids, at = _remember(_INDEXES, key, lambda: (image_ids, _small(images.positions(image_ids))), size=24)
    if not _same_ids(kept_ids, image_ids) or len(at) != len(image_ids) or (len(at) and at.max() >= images.n):
        at = images.positions(image_ids)
    flags = table[hit].array  # boolean: the outcome and its <NA> mask
    n, k = np.zeros(images.n, np.int64), np.zeros(images.n, np.int64)
    per_image_counts(at, np.ascontiguousarray(table["ignored"].to_numpy(bool)), flags._data, flags._mask, n, k)
    return {count: n, hits: k}


def _detection_without_model(rows: pd.DataFrame, target: str) -> pd.DataFrame:
    """The outcome columns of a run without predictions: nothing was matched, so every outcome is undefined."""
    from explorer.evaluation.matcher import fp_reason_column

    n = len(rows)
    missing = np.zeros(n, bool)
    if target == "labels":
        ignored = rows["iscrowd"].to_numpy(bool)
        return rows.assign(detected=_boolean(missing, missing), matched_pred_id=_ids([pd.NA] * n),
                           iou=np.full(n, np.nan), ignored=ignored)
    if target == "predictions":
        return rows.assign(is_tp=_boolean(missing, missing), matched_label_id=_ids([pd.NA] * n),
                           iou=np.full(n, np.nan), fp_reason=fp_reason_column(np.zeros(n, np.int8)), ignored=missing)
    return rows  # images: the counts need a model (n_labels alone would look like a complete table)


# ---- per-image tasks ------------------------------------------------------------------------------------------------
def _join_images(rows: pd.DataFrame, outcome: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (images, index image_id) with ``outcome`` (column image_id) joined: NaN/<NA> where absent."""
    extra = outcome.set_index("image_id").reindex(rows.index)
    return pd.concat([rows, extra[[c for c in extra.columns if c not in rows.columns]]], axis=1)


def classification_outcomes(project, sel: Selection, target: str = "images") -> pd.DataFrame:
    """Classification outcome table: images ``true_id, pred_id, score, correct`` (``<NA>`` without a prediction
    at the confidence threshold); labels/predictions: rows and metrics."""
    return _cached_table("classification", project, sel, target, lambda: _classification_outcomes(project, sel, target))


def _classification_outcomes(project, sel: Selection, target: str) -> pd.DataFrame:
    rows = selected_rows(project, sel, target)
    if target != "images":
        return with_metrics(rows, project, target)
    if sel.classes is not None:
        labelled = project.labels.loc[project.labels["category_id"].isin(sel.classes), "image_id"]
        rows = rows[rows.index.isin(labelled)]
    from explorer.evaluation import classification as cls

    out = cls.outcomes(project, image_ids=sel.image_ids(project), classes=sel.class_list(),
                       confidence_threshold=sel.confidence_threshold)
    out = out.astype({"true_id": "Int64", "pred_id": "Int64", "correct": "boolean"})
    return with_metrics(_join_images(rows, out), project, target)


def segmentation_outcomes(project, sel: Selection, target: str = "images") -> pd.DataFrame:
    """Segmentation outcome table: images ``miou, pixel_accuracy`` and ``good`` = ``miou >= target_iou``
    (``<NA>`` for an image that was not evaluated); labels/predictions: rows and metrics."""
    return _cached_table("segmentation", project, sel, target, lambda: _segmentation_outcomes(project, sel, target))


def _segmentation_outcomes(project, sel: Selection, target: str) -> pd.DataFrame:
    rows = selected_rows(project, sel, target)
    if target != "images":
        return with_metrics(rows, project, target)
    from explorer.evaluation import segmentation as seg

    target_iou = float(sel.option("target_iou", _default(project, "target_iou")))
    table = _join_images(rows, seg.outcomes(project))
    miou = table["miou"].to_numpy(np.float64)
    table["good"] = _boolean(miou >= target_iou, np.isfinite(miou))
    return with_metrics(table, project, target)


def tolerance_of(sel: Selection, abs_error: np.ndarray) -> float:
    """The selection's ``tolerance`` option, or the median absolute error of ``abs_error`` (the predicted images of
    the selection: about half of them are then within tolerance); NaN when nothing is predicted."""
    value = sel.option("tolerance")
    if value is not None:
        return float(value)
    return float(np.median(abs_error)) if len(abs_error) else float("nan")


def regression_outcomes(project, sel: Selection, target: str = "images") -> pd.DataFrame:
    """Regression outcome table: images ``target, prediction, error, abs_error`` and ``within_tolerance`` =
    ``abs_error <= tolerance`` (``<NA>`` without a prediction); labels/predictions: rows and metrics."""
    return _cached_table("regression", project, sel, target, lambda: _regression_outcomes(project, sel, target))


def _regression_outcomes(project, sel: Selection, target: str) -> pd.DataFrame:
    rows = selected_rows(project, sel, target)
    if target != "images":
        return with_metrics(rows, project, target)
    from explorer.evaluation import regression as reg

    out = reg.outcomes(project, image_ids=sel.image_ids(project))
    table = _join_images(rows, out)
    abs_error = table["abs_error"].to_numpy(np.float64)
    tol = tolerance_of(sel, out["abs_error"].to_numpy(np.float64))
    table["within_tolerance"] = _boolean(abs_error <= tol, np.isfinite(abs_error))
    return with_metrics(table, project, target)


def _default(project, option: str):
    """The task's default for a selection option (``Task.option_defaults``): one place for it."""
    from explorer import tasks

    return tasks.get(project.task).option_defaults.get(option)
