"""Weakest-slice search: a planted two-metric weak slice is found first, counts and gaps by hand, the bins are
``bucketize``'s, the masks give the listed rows; the metric × metric heatmap by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer.analysis.buckets import bucketize
from explorer.analysis.intervals import rate_difference_interval, wilson_interval
from explorer.analysis.slices import SLICE_COLUMNS, _codes, heatmap, slice_mask, weakest_slices


def _planted(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=["area", "brightness", "c", "d", "e", "f"])
    X.loc[::9, "c"] = np.nan  # missing values are in no slice of that metric
    y = rng.random(n) < 0.9
    weak = ((X["area"] < X["area"].quantile(0.25)) & (X["brightness"] >= X["brightness"].quantile(0.75))).to_numpy()
    y[weak] = rng.random(int(weak.sum())) < 0.3
    return X, y, weak


def test_planted_weak_slice_is_found_first():
    X, y, weak = _planted()
    out = weakest_slices(X, y, titles={"area": "Object area (O)"})
    assert list(out.columns) == SLICE_COLUMNS
    top = out.iloc[0]
    assert {top["metric_1"], top["metric_2"]} == {"area", "brightness"}
    mask = slice_mask(X, top.to_dict())
    assert int(mask.sum()) == top["n"] and (mask == weak).all()  # exactly the planted rows
    assert top["description"].startswith("Object area (O) in [") and " and brightness in [" in top["description"]
    assert top["description"].endswith("]")  # the top bin of brightness is closed
    # its numbers by hand
    n, k, N, K = int(weak.sum()), int(y[weak].sum()), len(y), int(y.sum())
    assert (top["n"], top["positives"]) == (n, k)
    assert top["rate"] == k / n and top["rest_rate"] == (K - k) / (N - n) and top["gap"] == k / n - (K - k) / (N - n)
    lo, hi = wilson_interval(k, n)
    g_lo, g_hi = rate_difference_interval(k, n, K - k, N - n)
    assert (top["rate_lo"], top["rate_hi"], top["gap_lo"], top["gap_hi"]) == (lo, hi, g_lo, g_hi)
    assert top["gap_hi"] < 0  # weaker beyond its interval
    assert (out["gap"].diff().dropna() >= 0).all()  # ranked by gap
    for row in out.itertuples(index=False):  # every listed slice's mask has its count
        assert int(slice_mask(X, row).sum()) == row.n


def test_one_metric_slices_support_and_parents():
    x = np.repeat([0.0, 1.0, 2.0, 3.0], 25)
    y = np.ones(100, bool)
    y[:20] = False  # the 25 zeros: rate 5/25; the rest 75/75
    X = pd.DataFrame({"m": x, "z": np.tile([0.0, 1.0], 50)})
    out = weakest_slices(X, y, n_bins=4, min_support=10)
    first = out.iloc[0]
    assert first["description"] == "m in [0, 0.75)" and first["metric_2"] is None  # edges: linear quantiles
    assert (first["n"], first["positives"]) == (25, 5) and first["gap"] == pytest.approx(0.2 - 1.0)
    # z adds nothing to m's bin (it splits it evenly): no conjunction of m's first bin with z is weaker than it
    assert not ((out["metric_1"] == "m") & (out["lo_1"] == 0.0) & out["metric_2"].notna() & (out["gap"] < first["gap"])).any()
    assert weakest_slices(X, y, min_support=30).empty or (weakest_slices(X, y, min_support=30)["n"] >= 30).all()
    assert weakest_slices(X, np.ones(100, bool)).empty  # nothing to explain


def test_bins_are_bucketize_quantiles():
    X, _, _ = _planted(n=500)
    names, codes, edges = _codes(X, 4)
    for name, code, e in zip(names, codes, edges):
        b = bucketize(X[name].to_numpy(), n_buckets=4, method="quantile")
        np.testing.assert_array_equal(e, b.edges)
        np.testing.assert_array_equal(code, np.where(b.index >= 0, b.index, b.n_buckets))


def test_heatmap_by_hand():
    x = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0, np.nan])
    z = np.array([0.1, 0.9, 0.2, 0.8, 0.7, 0.6, 0.3])  # median 0.6: bins [0.1, 0.6) and [0.6, 0.9]
    y = np.array([True, False, True, True, True, False, True])
    cells = heatmap(x, z, y, n_bins=2)
    assert cells[["x_bin", "y_bin", "n", "positives"]].values.tolist() == [[0, 0, 1, 1], [0, 1, 2, 1],
                                                                          [1, 0, 1, 1], [1, 1, 2, 1]]
    np.testing.assert_array_equal(cells["rate"], [1.0, 0.5, 1.0, 0.5])
    assert cells["x_range"].tolist() == ["[0, 0.5)", "[0, 0.5)", "[0.5, 1]", "[0.5, 1]"]
    assert cells["y_range"].tolist() == ["[0.1, 0.6)", "[0.6, 0.9]"] * 2


def test_cli_on_the_sample(detection_project, tmp_path, capsys):
    import json

    from explorer.analysis.outcomes import detection_outcomes, rated
    from explorer.cli import main
    from explorer.project.folder import Project
    from explorer.project.selection import Selection

    out = tmp_path / "slices.json"
    assert main(["slices", str(detection_project), "--target", "labels", "--top", "5", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["target"] == "labels" and len(doc["slices"]) == 5 and doc["headline"]["n_resamples"] == 200
    project = Project.load(detection_project)
    table = rated(detection_outcomes(project, Selection(iou_threshold=0.5), "labels"), "detected")
    for row in doc["slices"]:  # each listed slice holds the rows and rate it states
        mask = slice_mask(table, row)
        assert int(mask.sum()) == row["n"] and table["detected"].to_numpy(bool)[mask].mean() == row["rate"]
    assert " 1. " in capsys.readouterr().out


def test_kept_bins_give_the_same_slices_for_a_new_outcome():
    from explorer.analysis.slices import slice_bins

    rng = np.random.default_rng(7)
    X = pd.DataFrame({"a": rng.random(400), "b": rng.random(400), "c": np.where(rng.random(400) < 0.1, np.nan,
                                                                                  rng.random(400))})
    bins = slice_bins(X, n_bins=4)
    assert bins.codes.dtype == np.int8 and bins.n_rows == 400
    assert np.diag(bins.n_pair)[:4].sum() == 400  # metric a: every row in one of its 4 bins
    for seed in (1, 2):  # an IoU move: same rows and metrics, another outcome
        y = np.random.default_rng(seed).random(400) < 0.3 + 0.4 * (X["a"].to_numpy() > 0.5)
        direct = weakest_slices(X, y, n_bins=4, min_support=10)
        kept = weakest_slices(X[[]], y, n_bins=4, min_support=10, bins=bins)
        pd.testing.assert_frame_equal(direct, kept)
        assert direct.iloc[0]["metric_1"] == "a" and direct.iloc[0]["lo_1"] < 0.5  # inside the planted weak half
    with pytest.raises(ValueError):
        weakest_slices(X.iloc[:10], np.zeros(10, bool), bins=bins)


def test_kept_heatmap_bins_give_the_former_heatmap_for_a_new_outcome():
    # the former heatmap (both metrics bucketized on every call), written out here as the reference: the kept bins
    # give the same frame bit for bit, for every outcome over the same rows; a constant or all-missing metric: empty
    from explorer.analysis.intervals import wilson_interval
    from explorer.analysis.slices import HEATMAP_COLUMNS, heatmap_bins

    def former(xv, yv, outcome, n_bins):
        y = np.asarray(outcome).astype(bool)
        bx = bucketize(xv, n_buckets=n_bins, method="quantile")
        by = bucketize(yv, n_buckets=n_bins, method="quantile")
        if not (np.isfinite(bx.edges).all() and np.isfinite(by.edges).all()):
            return pd.DataFrame(columns=HEATMAP_COLUMNS)
        inside = (bx.index >= 0) & (by.index >= 0)
        cell = bx.index[inside] * by.n_buckets + by.index[inside]
        size = bx.n_buckets * by.n_buckets
        n = np.bincount(cell, minlength=size)
        k = np.bincount(cell, weights=y[inside], minlength=size).astype(np.int64)
        lo, hi = wilson_interval(k, n)
        xi, yi = np.divmod(np.arange(size), by.n_buckets)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(n > 0, k / np.maximum(n, 1), np.nan)
        return pd.DataFrame({"x_bin": xi, "y_bin": yi, "x_range": np.asarray(bx.labels())[xi],
                             "y_range": np.asarray(by.labels())[yi], "n": n, "positives": k, "rate": rate,
                             "rate_lo": lo, "rate_hi": hi})

    rng = np.random.default_rng(3)
    x = np.where(rng.random(500) < 0.1, np.nan, rng.random(500).round(2))  # ties and missing values
    z = rng.normal(size=500)
    for xv, zv in ((x, z), (np.ones(500), z), (np.full(500, np.nan), z)):
        for n_bins in (2, 5):
            bins = heatmap_bins(xv, zv, n_bins=n_bins)
            for seed in (1, 2):
                y = np.random.default_rng(seed).random(500) < 0.6
                want = former(xv, zv, y, n_bins)
                pd.testing.assert_frame_equal(heatmap(xv, zv, y, n_bins=n_bins), want)
                pd.testing.assert_frame_equal(heatmap(None, None, y, bins=bins), want)
    with pytest.raises(ValueError):
        heatmap(None, None, np.zeros(10, bool), bins=heatmap_bins(x, z))
