"""Metric importance (normalised MI) and correlation: exact against scikit-learn/scipy, planted dependency."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.feature_selection import mutual_info_classif

from explorer.analysis import binary_entropy, metric_correlation, metric_importance, stratified_subsample


def planted_labels(n: int = 3000, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """Labels whose miss probability depends only on relative area; brightness and noise are independent."""
    rng = np.random.default_rng(seed)
    relative_area = np.exp(rng.uniform(np.log(1e-4), np.log(0.3), n))
    p_detect = 1.0 / (1.0 + np.exp(-3.0 * (np.log10(relative_area) + 2.5)))  # small objects get missed
    detected = rng.random(n) < p_detect
    X = pd.DataFrame({
        "brightness": rng.uniform(0, 255, n),
        "noise": rng.normal(size=n),
        "relative_area": relative_area,
    })
    return X, detected


def test_planted_dependency_ranks_first_and_noise_scores_near_zero():
    X, detected = planted_labels()
    out = metric_importance(X, detected, random_state=0)
    assert out["metric"].iloc[0] == "relative_area"
    scores = dict(zip(out["metric"], out["importance"]))
    assert scores["relative_area"] > 0.2
    assert scores["noise"] < 0.02 and scores["brightness"] < 0.02
    assert (out["n_samples"] == len(X)).all()
    assert (out["n_positive"] == detected.sum()).all()


def test_importance_is_sklearn_mi_over_outcome_entropy_exactly():
    X, y = planted_labels(n=800, seed=3)
    out = metric_importance(X, y, random_state=5).set_index("metric")
    p = y.mean()
    h = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    for name in X.columns:
        mi = mutual_info_classif(X[[name]].to_numpy(), y, discrete_features=False, random_state=5)[0]
        assert out.loc[name, "importance"] == np.clip(mi / h, 0, 1)
    assert binary_entropy(p) == pytest.approx(h, abs=1e-15)


def test_importance_is_deterministic_and_bounded():
    X, y = planted_labels(n=600)
    a = metric_importance(X, y, random_state=1)
    b = metric_importance(X, y, random_state=1)
    pd.testing.assert_frame_equal(a, b)
    assert ((a["importance"] >= 0) & (a["importance"] <= 1)).all()


def test_missing_values_are_dropped_per_metric_and_counted():
    X, y = planted_labels(n=500)
    X.loc[:99, "brightness"] = np.nan
    X.loc[100:101, "noise"] = np.inf
    out = metric_importance(X, y).set_index("metric")
    assert out.loc["brightness", "n_samples"] == 400
    assert out.loc["noise", "n_samples"] == 498
    assert "100 rows without a value" in out.loc["brightness", "note"]
    keep = ~X["brightness"].isna().to_numpy()
    mi = mutual_info_classif(X.loc[keep, ["brightness"]].to_numpy(), y[keep], discrete_features=False, random_state=0)[0]
    p = y[keep].mean()
    assert out.loc["brightness", "importance"] == np.clip(mi / binary_entropy(p), 0, 1)


def test_constant_metric_scores_zero_and_constant_outcome_is_nan():
    X = pd.DataFrame({"flat": np.full(40, 2.0), "x": np.arange(40.0)})
    y = np.arange(40) % 2 == 0
    out = metric_importance(X, y).set_index("metric")
    assert out.loc["flat", "importance"] == 0.0 and "constant" in out.loc["flat", "note"]
    out = metric_importance(X, np.ones(40, bool)).set_index("metric")
    assert out["importance"].isna().all()
    assert out["note"].str.contains("same for every row").all()
    empty = metric_importance(pd.DataFrame({"x": [np.nan] * 5}), np.array([True, False] * 2 + [True]))
    assert np.isnan(empty["importance"][0]) and empty["n_samples"][0] == 0


def test_subsample_is_deterministic_stratified_and_reported():
    X, y = planted_labels(n=3000)
    out = metric_importance(X, y, max_samples=1000, random_state=2).set_index("metric")
    assert (out["n_samples"] <= 1001).all()
    assert out["note"].str.contains("subsample of").all()
    keep = stratified_subsample(y, 1000, random_state=2)
    np.testing.assert_array_equal(keep, stratified_subsample(y, 1000, random_state=2))
    assert abs(y[keep].mean() - y.mean()) < 0.002
    mi = mutual_info_classif(X[["relative_area"]].to_numpy()[keep], y[keep], discrete_features=False, random_state=2)[0]
    assert out.loc["relative_area", "importance"] == np.clip(mi / binary_entropy(y[keep].mean()), 0, 1)


def test_non_binary_outcome_is_refused():
    with pytest.raises(ValueError, match="binary"):
        metric_importance(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), np.array([0.1, 0.5, 2.0]))


def test_correlation_equals_scipy_pearson_and_spearman():
    X, y = planted_labels(n=700)
    X.loc[:9, "noise"] = np.nan
    pearson = metric_correlation(X, y).set_index("metric")
    spearman = metric_correlation(X, y, method="spearman").set_index("metric")
    for name in X.columns:
        keep = X[name].notna().to_numpy()
        assert pearson.loc[name, "correlation"] == pytest.approx(stats.pearsonr(X[name][keep], y[keep])[0], abs=1e-12)
        assert spearman.loc[name, "correlation"] == pytest.approx(stats.spearmanr(X[name][keep], y[keep])[0], abs=1e-12)
        assert pearson.loc[name, "n_samples"] == keep.sum()
    # sorted by |correlation|, strongest first
    assert list(pearson.index)[0] == "relative_area"


def test_correlation_nan_rules():
    X = pd.DataFrame({"flat": [1.0, 1.0, 1.0], "one": [1.0, np.nan, np.nan], "x": [1.0, 2.0, 3.0]})
    out = metric_correlation(X, np.array([True, False, True])).set_index("metric")
    assert np.isnan(out.loc["flat", "correlation"]) and "constant" in out.loc["flat", "note"]
    assert np.isnan(out.loc["one", "correlation"]) and out.loc["one", "n_samples"] == 1
    assert out.loc["x", "correlation"] == 0.0
    out = metric_correlation(X[["x"]], np.array([True, True, True]))
    assert np.isnan(out["correlation"][0])
    with pytest.raises(ValueError, match="method"):
        metric_correlation(X, np.array([True, False, True]), method="kendall")


def test_frame_metric_is_scored_once_per_image():
    """Outcomes cluster by image; an image-unique random value must not look important (it would act as an id)."""
    rng = np.random.default_rng(11)
    n_images, per_image = 300, 6
    image = np.repeat(np.arange(n_images), per_image)
    image_effect = rng.random(n_images) < 0.5  # some images are hard for reasons no metric sees
    y = np.where(image_effect[image], rng.random(image.size) < 0.9, rng.random(image.size) < 0.1)
    X = pd.DataFrame({"image_random": rng.random(n_images)[image]})
    naive = metric_importance(X, y)["importance"][0]
    grouped = metric_importance(X, y, groups=image)
    assert naive > 0.2  # the bias this option removes
    assert grouped["importance"][0] < 0.05
    assert grouped["n_samples"][0] == n_images and "one row per image" in grouped["note"][0]
