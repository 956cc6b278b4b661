"""Metric importance (bias-corrected binned MI) and correlation: exact against a transcription of the formula
and scikit-learn/scipy, planted dependency, clustered outcomes, stability on the bundled detection sample."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import mutual_info_score

from explorer.analysis import binary_entropy, metric_correlation, metric_importance, stratified_subsample
from explorer.analysis.importance import quantile_bins


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


def reference_importance(x, y, groups=None) -> float:
    """The module docstring's formula written out with loops and scikit-learn's plug-in MI (no shared code)."""
    x, y = np.asarray(x, float), np.asarray(y, bool)
    keys = list(range(len(x))) if groups is None else list(zip(groups, x))
    units: dict = {}
    for key, value, outcome in zip(keys, x, y):
        m, s, _ = units.get(key, (0, 0, value))
        units[key] = (m + 1, s + int(outcome), value)
    values = np.array([v for _, _, v in units.values()])
    n_bins = min(max(len(units) // 25, 2), 10)
    edges = sorted({float(e) for e in np.quantile(values, [k / n_bins for k in range(1, n_bins)]) if e > values.min()})
    if not edges:
        edges = [float(np.unique(values)[1])]
    bin_of_row = np.array([sum(v >= e for e in edges) for v in x])  # bins [e_k, e_k+1)
    mi = mutual_info_score(y, bin_of_row)  # plug-in MI in nats
    n, p = len(x), y.mean()
    deff = sum((s - p * m) ** 2 for m, s, _ in units.values()) / (n * p * (1 - p))
    bias = (len(set(bin_of_row)) - 1) * deff / (2 * n)
    return float(np.clip((mi - bias) / binary_entropy(p), 0, 1))


def test_planted_dependency_ranks_first_and_noise_scores_near_zero():
    X, detected = planted_labels()
    out = metric_importance(X, detected, random_state=0)
    assert out["metric"].iloc[0] == "relative_area"
    scores = dict(zip(out["metric"], out["importance"]))
    assert scores["relative_area"] > 0.2
    assert scores["noise"] < 0.005 and scores["brightness"] < 0.005
    assert (out["n_samples"] == len(X)).all()
    assert (out["n_positive"] == detected.sum()).all()
    baseline = dict(zip(out["metric"], out["baseline"]))
    assert baseline["relative_area"] < 0.005 < scores["relative_area"]  # a shuffled outcome scores ~0


def test_importance_equals_the_formula_exactly():
    X, y = planted_labels(n=800, seed=3)
    out = metric_importance(X, y, random_state=5).set_index("metric")
    for name in X.columns:
        assert out.loc[name, "importance"] == pytest.approx(reference_importance(X[name], y), abs=1e-12)
    # with groups: units are (group, value); a frame-like metric shared by the rows of a group and a per-row one
    rng = np.random.default_rng(4)
    groups = rng.integers(0, 90, 800)
    X["shared"] = rng.random(90)[groups]
    X.loc[::7, "shared"] = 0.5  # some rows of a group differ from the rest of it: a unit of their own
    X["ties"] = np.round(X["noise"])  # heavy ties: few distinct values
    y = y | (X["shared"].to_numpy() > 0.8)
    out = metric_importance(X, y, groups=groups).set_index("metric")
    for name in X.columns:
        assert out.loc[name, "importance"] == pytest.approx(reference_importance(X[name], y, groups), abs=1e-12)
    assert out.loc["shared", "importance"] > 0.05
    assert "design effect" in out.loc["shared", "note"]


def test_miller_madow_by_hand():
    """Two values, 60 rows, 2 bins: table [[20, 10], [10, 20]]; Î = ln 2 − H(1/3), bias = 1/(2·60)."""
    x = np.repeat([0.0, 1.0], 30)
    y = np.concatenate([np.arange(30) < 10, np.arange(30) < 20])
    mi = np.log(2) - binary_entropy(1 / 3)
    expected = (mi - 1 / 120) / np.log(2)
    assert metric_importance(pd.DataFrame({"x": x}), y)["importance"][0] == pytest.approx(expected, abs=1e-15)
    # the same rows as 6 groups of 10 identical rows (each group all-true or all-false would be deff = 10)
    groups = np.repeat(np.arange(6), 10)
    y_grouped = np.repeat([True, False, False, True, True, False], 10)
    s_u, m_u, p = np.array([10, 0, 0, 10, 10, 0]), 10, 0.5
    deff = np.sum((s_u - p * m_u) ** 2) / (60 * p * (1 - p))
    assert deff == 10.0
    bins = np.repeat([0, 1], 30)
    mi = mutual_info_score(y_grouped, bins)
    got = metric_importance(pd.DataFrame({"x": x}), y_grouped, groups=groups)["importance"][0]
    assert got == pytest.approx(max(0.0, (mi - deff / 120) / np.log(2)), abs=1e-15)


def test_quantile_bins_keep_ties_together_and_never_collapse():
    np.testing.assert_array_equal(quantile_bins(np.arange(10.0), 5), np.repeat(np.arange(5), 2))
    mostly_zero = np.array([0.0] * 95 + [1.0, 2.0, 3.0, 4.0, 5.0])
    codes = quantile_bins(mostly_zero, 10)  # every quantile edge is 0 (the minimum)
    np.testing.assert_array_equal(codes, np.r_[np.zeros(95), np.ones(5)])
    mostly_max = np.array([0.0, 1.0, 2.0] + [9.0] * 97)
    codes = quantile_bins(mostly_max, 10)
    assert codes.max() == 1 and (codes[3:] == 1).all() and (codes[:3] == 0).all()
    binary = np.array([0.0] * 30 + [1.0] * 70)
    np.testing.assert_array_equal(quantile_bins(binary, 10), binary)


def test_importance_does_not_depend_on_random_state_and_is_bounded():
    X, y = planted_labels(n=600)
    a = metric_importance(X, y, random_state=1)
    b = metric_importance(X, y, random_state=1)
    pd.testing.assert_frame_equal(a, b)
    c = metric_importance(X, y, random_state=2)
    pd.testing.assert_series_equal(a.set_index("metric")["importance"], c.set_index("metric")["importance"])
    # neither importance nor baseline depends on the order of the rows
    order = np.random.default_rng(0).permutation(len(y))
    d = metric_importance(X.iloc[order].reset_index(drop=True), y[order], random_state=1)
    pd.testing.assert_frame_equal(a, d)
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
    assert out.loc["brightness", "importance"] == pytest.approx(reference_importance(X.loc[keep, "brightness"], y[keep]), abs=1e-12)


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
    expected = reference_importance(X["relative_area"].to_numpy()[keep], y[keep])
    assert out.loc["relative_area", "importance"] == pytest.approx(expected, abs=1e-12)


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


def clustered(seed: int, n_images: int = 300, per_image: int = 6):
    """Outcomes that cluster by image for reasons no metric sees, and a value unique to each image."""
    rng = np.random.default_rng(seed)
    image = np.repeat(np.arange(n_images), rng.integers(1, 2 * per_image, n_images))
    hard = rng.random(n_images) < 0.5
    y = np.where(hard[image], rng.random(image.size) < 0.9, rng.random(image.size) < 0.1)
    return pd.DataFrame({"image_random": rng.random(n_images)[image]}), y, image


def test_image_unique_value_is_not_an_image_id():
    """A value unique to each image, repeated on its rows: uses every row, yet does not look important."""
    X, y, image = clustered(11)
    grouped = metric_importance(X, y, groups=image)
    assert grouped["n_samples"][0] == len(y) and "design effect" in grouped["note"][0]
    assert grouped["importance"][0] < 0.02
    # quantile bins span >= 25 images, so even without the grouping (Miller-Madow only) it is no image id
    assert metric_importance(X, y)["importance"][0] < 0.05


def test_shuffled_bin_tables_deal_units_like_a_permutation():
    """The exact hypergeometric deal keeps each bin's unit count and the totals, and its mean bin table equals
    the permutation expectation (capacity share of the totals)."""
    from explorer.analysis.importance import _shuffled_bin_tables

    rng = np.random.default_rng(3)
    codes = np.repeat(np.arange(4), [30, 20, 25, 25])
    m_u = rng.integers(1, 4, 100).astype(float)
    s_u = np.minimum(m_u, rng.integers(0, 3, 100)).astype(float)
    n_b, k_b = _shuffled_bin_tables(codes, m_u, s_u, 4000, np.random.default_rng(0))
    assert n_b.shape == (4000, 4) and np.all(n_b.sum(axis=1) == m_u.sum()) and np.all(k_b.sum(axis=1) == s_u.sum())
    share = np.bincount(codes) / 100
    assert np.allclose(n_b.mean(axis=0), share * m_u.sum(), rtol=0.02)
    assert np.allclose(k_b.mean(axis=0), share * s_u.sum(), rtol=0.03)


def test_cluster_correction_is_unbiased_under_the_null():
    """Mean over 100 null data sets: the unclipped estimate centres on 0 with the design effect, and Miller-Madow
    alone (rows as units) stays biased upwards when outcomes cluster by image."""
    from explorer.analysis.importance import _corrected_mi, _units

    with_deff, rows_only = [], []
    for seed in range(100):
        X, y, image = clustered(seed)
        x = X["image_random"].to_numpy()
        unit, values = _units(x, image)
        codes = quantile_bins(values, 10)
        m_u = np.bincount(unit).astype(float)
        s_u = np.bincount(unit, weights=y.astype(float))
        p = y.mean()
        deff = np.sum((s_u - p * m_u) ** 2) / (len(y) * p * (1 - p))
        n_b = np.bincount(codes, weights=m_u, minlength=10)[None]
        k_b = np.bincount(codes, weights=s_u, minlength=10)[None]
        with_deff.append(_corrected_mi(n_b, k_b, len(y), p, deff)[0])
        rows_only.append(_corrected_mi(n_b, k_b, len(y), p, 1.0)[0])
    assert abs(np.mean(with_deff)) < 0.002 < np.mean(rows_only)


@pytest.fixture(scope="module")
def sample_tables(detection_project):
    """(X, y, image_id, frame metric names) of the detection sample's labels and predictions at IoU 0.50."""
    from explorer.datametrics.engine import load_metrics, metrics_for
    from explorer.evaluation import Matcher
    from explorer.project.folder import Project

    project = Project.load(detection_project)
    catalog = load_metrics(project).catalog
    match = Matcher.from_project(project).match(0.5)
    out = {}
    for target, id_column, outcome, level in (("labels", "label_id", "detected", "O"),
                                               ("predictions", "pred_id", "is_tp", "P")):
        rows = getattr(match, target)
        rows = rows[~rows["ignored"].to_numpy(bool)].set_index(id_column)
        X = metrics_for(project, target).reindex(rows.index)
        own = set(catalog.loc[catalog["level"] == level, "name"])
        frame = [c for c in X.columns if c in set(catalog.loc[catalog["level"] == "F", "name"]) - own]
        numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
        out[target] = (X[numeric], rows[outcome].to_numpy(bool), rows["image_id"].to_numpy(), frame)
    return out


@pytest.mark.parametrize("target", ["labels", "predictions"])
def test_sample_importance_is_stable_across_random_state(sample_tables, target):
    X, y, image, frame = sample_tables[target]
    runs = [metric_importance(X, y, random_state=seed, groups=image, grouped_metrics=frame).set_index("metric")
            for seed in range(10)]
    importance = pd.concat([r["importance"] for r in runs], axis=1)
    spread = (importance.max(axis=1) - importance.min(axis=1)).dropna()
    assert len(spread) >= 25 and spread.max() <= 0.02, spread.sort_values().tail()
    baseline = pd.concat([r["baseline"] for r in runs], axis=1)
    assert (baseline.max(axis=1) - baseline.min(axis=1)).max() <= 0.02
    # every row, frame metrics included; the sample's attribution maps exist only for images with predictions
    pixel_frame = [m for m in frame if not m.startswith("attribution_")]
    assert (runs[0].loc[pixel_frame, "n_samples"] == len(y)).all()


def test_sample_planted_causes_rank_above_pure_noise(sample_tables):
    """sample_data/detection/make_detection.py: misses depend on relative area, exposure gain and blur only;
    image size, colour balance and the number of objects are drawn independently of detection."""
    X, y, image, frame = sample_tables["labels"]
    scores = metric_importance(X, y, groups=image, grouped_metrics=frame).set_index("metric")["importance"]
    planted = ["relative_area", "object_area", "brightness", "sharpness", "blur_score"]
    noise = ["image_width", "image_height", "image_area", "image_aspect_ratio", "red_dominance", "green_dominance",
             "blue_dominance", "object_count"]
    assert scores[planted].min() > scores[noise].max(), (scores[planted], scores[noise])
    # the sample's attribution maps are drawn from its predictions (sample_data/detection/README.md): they describe
    # where the model looked, not the data, so the planted data cause is looked for among the other metrics
    data = scores[[m for m in scores.index if not m.startswith("attribution_")]]
    assert data.idxmax() in ("relative_area", "object_area")
