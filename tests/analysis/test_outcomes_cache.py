"""Outcome tables and importance at scale: the bounded caches, positional joins equal to joins by id, and the
fast paths of importance/correlation giving the very numbers of the plain computation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer.analysis import metric_correlation, metric_importance
from explorer.analysis import outcomes
from explorer.analysis.importance import (
    _few_types,
    correlation_of_columns,
    importance_of_columns,
    outcome_values,
    quantile_bins,
)
from explorer.project.selection import Selection


def test_bounded_cache_evicts_by_bytes_and_keeps_the_newest():
    cache = outcomes._Bounded(max_bytes=2_500)
    made = []

    def make(i):
        made.append(i)
        return np.zeros(1_000, np.uint8)  # 1,000 bytes each

    for i in range(4):
        outcomes._remember(cache, i, lambda i=i: make(i), size=10)
    assert list(cache) == [2, 3] and sum(cache.weights.values()) == 2_000  # 3 entries would be 3,000 bytes
    outcomes._remember(cache, 2, lambda: make(99), size=10)  # a hit: not made again, now the newest
    assert made == [0, 1, 2, 3] and list(cache) == [3, 2]
    big = outcomes._Bounded(max_bytes=10)
    outcomes._remember(big, "a", lambda: np.zeros(100, np.uint8), size=10)
    assert list(big) == ["a"]  # bigger than the budget alone: still kept (the newest always is)


def test_threads_missing_one_key_make_it_once_and_a_failed_make_is_retried():
    import threading

    cache = outcomes._Bounded(max_bytes=10_000)
    started, release, made = threading.Event(), threading.Event(), []

    def slow():
        made.append("slow")
        started.set()
        release.wait(5)
        return np.arange(3)

    results = []
    maker = threading.Thread(target=lambda: results.append(outcomes._remember(cache, "k", slow, size=4)))
    maker.start()
    started.wait(5)
    waiters = [threading.Thread(target=lambda: results.append(
        outcomes._remember(cache, "k", lambda: made.append("again") or np.zeros(3), size=4))) for _ in range(3)]
    for w in waiters:
        w.start()
    release.set()
    for t in [maker, *waiters]:
        t.join(5)
    assert made == ["slow"] and [r.tolist() for r in results] == [[0, 1, 2]] * 4  # one make, four callers

    def failing():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        outcomes._remember(cache, "f", failing, size=4)
    assert outcomes._remember(cache, "f", lambda: np.ones(2), size=4).tolist() == [1.0, 1.0]  # not stuck
    assert not outcomes._MAKING


def test_id_index_dense_and_sparse_give_positions():
    for ids in (np.array([5, 3, 9, 4]), np.array([10**12, -7, 3, 10**15])):  # dense span / sparse span
        index = outcomes.IdIndex(ids)
        assert (index.table is not None) == (ids.max() - ids.min() < 100)
        np.testing.assert_array_equal(index.positions([3, 10**15, 8, 5, -7, 11]),
                                      [list(ids).index(i) if i in ids else -1 for i in [3, 10**15, 8, 5, -7, 11]])
    assert outcomes.IdIndex(np.array([], np.int64)).positions([1, 2]).tolist() == [-1, -1]


def test_image_rows_index_gives_the_rows_of_those_images_in_table_order():
    image_id = np.array([7, 3, 7, 9, 3, 3, -2, 7])  # unsorted, repeated, negative
    index = outcomes._ImageRows(image_id)
    for wanted in ([7], [3, 9], [9, 3, 3], [-2, 100], [], [100]):
        np.testing.assert_array_equal(index.rows(wanted), np.flatnonzero(np.isin(image_id, wanted)))
    assert index.rows(np.array([3, 7])).dtype == np.int64


@pytest.fixture(scope="module")
def project(detection_project):
    from explorer.project.folder import Project

    return Project.load(detection_project)


def test_cached_table_is_a_copy_the_caller_may_change(project):
    sel = Selection(iou_threshold=0.6, confidence_threshold=0.2)
    first = outcomes.detection_outcomes(project, sel, "predictions")
    reference = first.copy(deep=True)
    first["is_tp"] = False  # a caller writing its copy …
    first.loc[first.index[0], "score"] = -1.0
    first["extra"] = 1
    again = outcomes.detection_outcomes(project, sel, "predictions")
    pd.testing.assert_frame_equal(again, reference)  # … leaves the kept table alone
    assert again is not first


def test_positional_join_equals_the_join_by_id(project):
    """The outcome table's metric columns equal ``metrics_for`` joined by id, for a class and split subset."""
    from explorer.datametrics.tables import metrics_for

    cats = sorted(project.categories["category_id"].tolist())
    sel = Selection(split="val", classes=tuple(cats[:2]), iou_threshold=0.5)
    for target in ("labels", "predictions", "images"):
        table = outcomes.detection_outcomes(project, sel, target)
        metrics = metrics_for(project, target)
        own = list(metrics.columns)
        assert len(own) and len(table) and set(own) <= set(table.columns)
        pd.testing.assert_frame_equal(table[own], metrics.reindex(table.index), check_names=False)
        by_id = outcomes.with_metrics(pd.DataFrame(index=table.index[::-1]), project, target)
        pd.testing.assert_frame_equal(by_id, metrics.reindex(table.index[::-1]), check_names=False)


def test_tables_and_match_index_across_iou_moves_equal_a_fresh_build(project):
    """An IoU move reuses the rows, metric columns and row map of the selection (``_Base``) and the match's id
    index: the tables equal those built with every cache emptied."""
    sels = [Selection(iou_threshold=t, confidence_threshold=c) for c in (0.0, 0.3) for t in (0.5, 0.75, 0.5)]
    kept = {(s, t): outcomes.detection_outcomes(project, s, t) for s in sels for t in ("labels", "predictions")}
    for s in sels:
        for target in ("labels", "predictions"):
            ids = getattr(outcomes.match(project, s), target)[("label_id" if target == "labels" else "pred_id")]
            index = outcomes.match_index(project, s, target)
            np.testing.assert_array_equal(index.positions(ids.to_numpy()), np.arange(len(ids)))
    for cache in (outcomes._TABLES, outcomes._BASES, outcomes._INDEXES):
        cache.clear()
        getattr(cache, "weights", {}).clear()
    for (s, target), table in kept.items():
        pd.testing.assert_frame_equal(outcomes.detection_outcomes(project, s, target), table)


def test_class_and_split_changes_share_one_row_map_and_equal_a_fresh_build(project):
    """The project row -> match row map (``_match_rows``) is kept per confidence, not per selection: a class or
    split change selects among its rows; the tables equal those built with every cache emptied, and the rows'
    index is the project's id column itself (no copy) when every row is selected."""
    cats = sorted(project.categories["category_id"].tolist())
    sels = [Selection(iou_threshold=0.5, confidence_threshold=c, classes=k, split=sp)
            for c in (0.0, 0.3) for k in (None, tuple(cats[:2]), tuple(cats[1:3])) for sp in (None, "val")]
    kept = {(s, t): outcomes.detection_outcomes(project, s, t) for s in sels for t in ("labels", "predictions", "images")}
    for target in ("labels", "predictions"):
        maps = {}
        for s in sels:
            m = getattr(outcomes.match(project, s), target)
            ids = m["label_id" if target == "labels" else "pred_id"].to_numpy()
            row_of = outcomes._match_rows(project, target, "bbox", s.confidence_threshold, ids)
            assert maps.setdefault(s.confidence_threshold if target == "predictions" else None, row_of) is row_of
            found = row_of >= 0  # the map: project row -> the match row holding that id
            np.testing.assert_array_equal(ids[row_of[found]], getattr(project, target)[m.columns[0]].to_numpy()[found])
    every = kept[(sels[0], "predictions")]
    assert np.shares_memory(every.index.to_numpy(), project.predictions["pred_id"].to_numpy())
    for cache in (outcomes._TABLES, outcomes._BASES, outcomes._INDEXES):
        cache.clear()
        getattr(cache, "weights", {}).clear()
    for (s, target), table in kept.items():
        pd.testing.assert_frame_equal(outcomes.detection_outcomes(project, s, target), table)


def test_few_types_deals_exactly_like_numpy():
    """The scalar deal makes NumPy's multivariate draws from the same stream (and leaves it in the same state)."""
    g = np.random.default_rng(5)
    for case in range(400):
        colors = g.integers(0, [3, 50, 200_000][case % 3], g.integers(1, 4)).astype(np.int64)
        n = int(g.integers(0, colors.sum() + 1)) if colors.sum() else 0
        a, b = np.random.default_rng(case), np.random.default_rng(case)
        np.testing.assert_array_equal(a.multivariate_hypergeometric(colors, n), _few_types(b, colors, n))
        assert a.random() == b.random()


def test_quantile_bins_equal_a_search_of_the_quantile_edges():
    rng = np.random.default_rng(2)
    for values, n_bins in ((rng.random(5_000).round(2), 10), (rng.integers(0, 4, 999).astype(float), 7),
                           (np.r_[np.zeros(90), rng.random(10)], 10)):
        edges = np.unique(np.quantile(values, np.arange(1, n_bins) / n_bins))
        edges = edges[edges > values.min()]
        if len(edges) == 0:
            edges = values[values > values.min()].min(keepdims=True)
        _, expected = np.unique(np.searchsorted(edges, values, side="right"), return_inverse=True)
        np.testing.assert_array_equal(quantile_bins(values, n_bins), expected.reshape(-1))


def test_importance_over_a_rows_mask_equals_the_filtered_frame():
    """``importance_of_columns``/``correlation_of_columns`` over a table's columns and its defined rows give the
    numbers ``metric_importance``/``metric_correlation`` give on the rated rows (subsampled, missing values,
    frame-like shared values, constants) — exactly."""
    rng = np.random.default_rng(8)
    n = 30_000
    image = np.sort(rng.integers(0, 1_500, n))
    frame = rng.random(1_500)
    table = pd.DataFrame({"image_id": image, "a": rng.random(n).round(3), "f": frame[image],
                          "gap": np.where(rng.random(n) < 0.2, np.nan, rng.random(n)), "one": np.ones(n),
                          "flag": rng.random(n) < 0.1})
    y = rng.random(n) < 0.3 + 0.5 * table["f"].to_numpy()
    defined = rng.random(n) > 0.05
    table["y"] = pd.arrays.BooleanArray(y, ~defined)
    names = ["a", "f", "gap", "one", "flag"]
    values = outcome_values(table, "y", names, groups=True)
    assert values.n == defined.sum() and values.n_positive == (y & defined).sum()
    rated = table[defined]
    for max_samples in (8_000, 200_000):
        got = importance_of_columns(values.columns, values.y, rows=values.rows, groups=values.groups,
                                    grouped_metrics=["f"], max_samples=max_samples, random_state=3)
        expected = metric_importance(rated[names], rated["y"].to_numpy(bool), groups=rated["image_id"].to_numpy(),
                                     grouped_metrics=["f"], max_samples=max_samples, random_state=3)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got.set_index("metric").loc["f", "importance"] > 0.01
    for method in ("pearson", "spearman"):
        got = correlation_of_columns(values.columns, values.y.astype(float), rows=values.rows, method=method)
        expected = metric_correlation(rated[names], rated["y"].to_numpy(bool), method=method)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
