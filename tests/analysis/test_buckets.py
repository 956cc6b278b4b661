"""Buckets and performance by metric on hand-checkable cases."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.analysis import bucketize, overall_performance, performance_by_metric


def test_quantile_buckets_equal_counts_and_merge_duplicate_edges():
    b = bucketize(np.arange(12.0), n_buckets=4)
    np.testing.assert_array_equal(b.counts, [3, 3, 3, 3])
    np.testing.assert_allclose(b.edges, [0, 2.75, 5.5, 8.25, 11])
    tied = bucketize([0, 0, 0, 0, 0, 0, 1, 2], n_buckets=4)  # quantile edges 0,0,0,0.25,2 -> 0,0.25,2
    np.testing.assert_array_equal(tied.edges, [0, 0.25, 2])
    np.testing.assert_array_equal(tied.counts, [6, 2])
    one = bucketize([3.0, 3.0, np.nan])
    np.testing.assert_array_equal(one.index, [0, 0, -1])
    assert one.n_missing == 1 and one.labels() == ["[3, 3]"]


def test_width_buckets_and_explicit_edges():
    b = bucketize([0.0, 0.1, 0.5, 0.99, 1.0, np.inf], n_buckets=2, method="width")
    np.testing.assert_array_equal(b.edges, [0, 0.5, 1])
    np.testing.assert_array_equal(b.index, [0, 0, 1, 1, 1, -1])  # max falls in the last, closed bucket
    assert b.labels() == ["[0, 0.5)", "[0.5, 1]"]
    e = bucketize([1.0, 5.0, 9.0, 20.0], edges=[0, 4, 10])
    np.testing.assert_array_equal(e.index, [0, 1, 1, -1])  # outside the given range: no bucket
    with pytest.raises(ValueError, match="increasing"):
        bucketize([1.0], edges=[2, 1])
    with pytest.raises(ValueError, match="method"):
        bucketize([1.0], method="log")


def test_label_rates_equal_a_direct_count():
    # values 1..8 in 2 width buckets [1, 4.5) and [4.5, 8]; detected: 3 of 4, then 1 of 4
    values = np.arange(1.0, 9.0)
    detected = np.array([1, 1, 0, 1, 0, 0, 1, 0], bool)
    out = performance_by_metric(values, detected, kind="labels", n_buckets=2, method="width")
    assert list(out["n_labels"]) == [4, 4]
    assert list(out["n_detected"]) == [3, 1]
    assert list(out["true_positive_rate"]) == [0.75, 0.25]
    assert list(out["false_negative_rate"]) == [0.25, 0.75]
    assert (out["true_positive_rate"] + out["false_negative_rate"] == 1).all()
    assert out["few_samples"].all()
    overall = overall_performance(detected, kind="labels")
    assert overall["true_positive_rate"][0] == 0.5 and overall["n_labels"][0] == 8


def test_prediction_rates_are_precision_not_tpr():
    values = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9, np.nan])
    is_tp = np.array([1, 0, 0, 1, 1, 0, 1], bool)
    out = performance_by_metric(values, is_tp, kind="predictions", n_buckets=2)
    assert "true_positive_rate" not in out.columns
    assert list(out["n_predictions"]) == [3, 3]
    assert list(out["n_true_positive"]) == [1, 2]
    assert out["precision"].tolist() == [1 / 3, 2 / 3]  # TP / (TP + FP)
    assert out["false_discovery_rate"].tolist() == [1 - 1 / 3, 1 - 2 / 3]


def test_per_group_breakdown_and_empty_bucket_is_nan():
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    detected = np.array([1, 0, 1, 1, 0, 0], bool)
    groups = np.array([7, 7, 9, 9, 9, 7])
    b = bucketize(values, n_buckets=3, method="width")  # [1,2.67) [2.67,4.33) [4.33,6]
    out = performance_by_metric(outcome=detected, buckets=b, groups=groups, kind="labels")
    g7 = out[out["group"] == 7]
    assert list(g7["n_labels"]) == [2, 0, 1]
    assert g7["true_positive_rate"].iloc[0] == 0.5 and np.isnan(g7["true_positive_rate"].iloc[1])
    g9 = out[out["group"] == 9]
    assert list(g9["n_detected"]) == [0, 2, 0] and list(g9["n_labels"]) == [0, 2, 1]
    overall = overall_performance(detected, groups=groups, kind="labels").set_index("group")
    assert overall.loc[7, "true_positive_rate"] == 1 / 3 and overall.loc[9, "true_positive_rate"] == 2 / 3


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="kind"):
        performance_by_metric([1.0, 2.0], np.array([True, False]), kind="images")
    with pytest.raises(ValueError, match="shape"):
        performance_by_metric([1.0, 2.0], np.array([True]))


def test_generic_item_outcome_rates():
    out = performance_by_metric([1.0, 2.0, 3.0, 4.0], np.array([1, 1, 0, 1], bool), kind="items", n_buckets=2)
    assert list(out["n_items"]) == [2, 2] and list(out["n_positive"]) == [2, 1]
    assert list(out["outcome_rate"]) == [1.0, 0.5] and list(out["complement_rate"]) == [0.0, 0.5]


def test_bucket_means_skip_missing_values_and_are_nan_for_an_empty_bucket():
    b = bucketize([1.0, 2.0, np.nan, 9.0], edges=[0.0, 5.0, 6.0, 10.0])
    np.testing.assert_array_equal(b.means([0.2, 0.4, 0.9, 1.0]), [0.30000000000000004, np.nan, 1.0])


def test_shared_buckets_are_each_targets_bucketing_on_the_shared_edges():
    from explorer.analysis.buckets import shared_buckets

    labels = np.array([0.5, 3.0, np.nan, 9.0, 1.5, np.inf])
    preds = np.array([2.0, 2.0, 7.5, -1.0])
    for method in ("quantile", "width"):
        got = shared_buckets({"labels": labels, "predictions": preds}, n_buckets=4, method=method)
        edges = bucketize(np.concatenate([labels, preds]), n_buckets=4, method=method).edges
        for target, v in (("labels", labels), ("predictions", preds)):
            np.testing.assert_array_equal(got[target].edges, edges)
            np.testing.assert_array_equal(got[target].index, bucketize(v, edges=edges).index)
    np.testing.assert_array_equal(got["labels"].index, [0, 1, -1, 3, 1, -1])  # width edges -1, 1.5, 4, 6.5, 9
    # one distinct value over everything: no shared edges, each target on its own ([v, v])
    alone = shared_buckets({"labels": np.array([2.0, 2.0]), "predictions": np.array([np.nan])})
    assert alone["labels"].edges.tolist() == [2.0, 2.0] and alone["labels"].index.tolist() == [0, 0]
    assert alone["predictions"].index.tolist() == [-1]
