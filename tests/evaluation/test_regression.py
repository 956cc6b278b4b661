"""evaluate_regression against scikit-learn on randomised data (|diff| ≤ 1e-12), the NaN rule, the importer's
named problems with valid rows kept, outcomes and error buckets."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from explorer import evaluate_regression
from explorer.errors import UserError
from explorer.evaluation import regression
from explorer.io.regression import import_project

TOL = 1e-12


@pytest.mark.parametrize("seed", range(10))
def test_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 500))
    y = rng.normal(rng.uniform(-100, 100), rng.uniform(0.01, 50), n)
    p = y + rng.normal(rng.uniform(-3, 3), rng.uniform(0.01, 20), n)
    s = evaluate_regression(y, p).summary
    assert abs(s["mse"] - skm.mean_squared_error(y, p)) <= TOL * max(1, s["mse"])
    assert abs(s["rmse"] - skm.root_mean_squared_error(y, p)) <= TOL * max(1, s["rmse"])
    assert abs(s["mae"] - skm.mean_absolute_error(y, p)) <= TOL
    assert abs(s["r2"] - skm.r2_score(y, p)) <= TOL
    assert abs(s["explained_variance"] - skm.explained_variance_score(y, p)) <= TOL
    assert abs(s["max_error"] - skm.max_error(y, p)) <= TOL
    assert abs(s["mean_error"] - np.mean(p - y)) <= TOL
    assert s["n_samples"] == n


def _sklearn_summary(y, p) -> dict:
    """scikit-learn's numbers (default ``force_finite=True``; R² of one sample is its NaN)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UndefinedMetricWarning for R² of one sample
        return {"mse": skm.mean_squared_error(y, p), "rmse": skm.root_mean_squared_error(y, p),
                "mae": skm.mean_absolute_error(y, p), "r2": skm.r2_score(y, p),
                "explained_variance": skm.explained_variance_score(y, p), "max_error": skm.max_error(y, p),
                "mean_error": float(np.mean(np.asarray(p, float) - np.asarray(y, float)))}


def _assert_same(mine: dict, ref: dict, *, rel=TOL):
    for key, value in ref.items():
        if np.isnan(value):
            assert np.isnan(mine[key]), (key, mine[key])
        else:
            assert abs(mine[key] - value) <= rel * max(1.0, abs(value)), (key, mine[key], value)


# y, p, r2, explained variance — scikit-learn's documented force_finite=True rule (its docstring examples included)
CONSTANT_CASES = [
    ([2.0, 2.0, 2.0], [1.0, 2.0, 3.0], 0.0, 0.0),              # constant target, imperfect: 0.0
    ([-2.0, -2.0, -2.0], [-2.0, -2.0, -2.0], 1.0, 1.0),        # constant target, perfect: 1.0
    ([-2.0, -2.0, -2.0], [-2.0, -2.0, -2.0 + 1e-8], 0.0, 0.0),
    ([2.0] * 5, [3.0] * 5, 0.0, 1.0),                          # a constant offset: residual variance 0
    ([1e15] * 4, [1e15, 1e15, 1e15, 1e15 + 2], 0.0, 0.0),      # large constant target
    ([7.0, 7.0], [7.0, 7.0], 1.0, 1.0),
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 1.0, 1.0),              # perfect, varying target
    ([1.0, 2.0, 3.0], [2.0, 2.0, 2.0], 0.0, 0.0),
    ([1.0, 2.0, 3.0], [3.0, 2.0, 1.0], -3.0, -3.0),
]


@pytest.mark.parametrize("y, p, r2, ev", CONSTANT_CASES)
def test_constant_target_follows_sklearn_force_finite_default(y, p, r2, ev):
    s = evaluate_regression(y, p).summary
    assert s["r2"] == r2 == skm.r2_score(y, p)
    assert s["explained_variance"] == ev == skm.explained_variance_score(y, p)
    _assert_same(s, _sklearn_summary(y, p), rel=0)


def test_constant_target_is_decided_exactly_not_from_a_rounded_mean():
    # mean([0.1] * 3) is 0.10000000000000002: scikit-learn then divides by Σ(y − ȳ)² ≈ 1e-33 and returns a rounding
    # artefact; the documented rule for a constant target is 0.0 (imperfect) / 1.0 (perfect)
    y = [0.1, 0.1, 0.1]
    assert np.mean(y) != 0.1 and skm.r2_score(y, [0.1, 0.2, 0.1]) < -1e30
    s = evaluate_regression(y, [0.1, 0.2, 0.1]).summary
    assert s["r2"] == 0.0 and s["explained_variance"] == 0.0
    assert evaluate_regression(y, y).summary["r2"] == 1.0
    # a constant offset of a constant target: R² 0.0, explained variance 1.0 — as scikit-learn gives for [2]*5, [3]*5
    s = evaluate_regression(y, [0.2, 0.2, 0.2]).summary
    assert (s["r2"], s["explained_variance"]) == (0.0, 1.0)
    assert s["max_error"] == 0.1 and s["mean_error"] == pytest.approx(0.1, abs=1e-16)


def test_one_sample():
    # scikit-learn: R² "not well-defined with less than two samples" -> NaN; explained variance 0/0 -> 1.0
    for y, p in (([2.0], [3.0]), ([5.0], [5.0]), ([-1e12], [1e12])):
        s = evaluate_regression(y, p).summary
        ref = _sklearn_summary(y, p)
        assert np.isnan(s["r2"]) and np.isnan(ref["r2"])
        assert s["explained_variance"] == ref["explained_variance"] == 1.0
        _assert_same(s, ref, rel=0)
        assert s["n_samples"] == 1


@pytest.mark.parametrize("seed", range(20))
def test_edge_cases_match_sklearn(seed):
    """Few samples, constant and near-constant targets with exactly representable means, perfect predictions and
    large offsets: every number equals scikit-learn's and, from two samples on, none is NaN."""
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.choice([1, 2, 3, 5, 40]))
    offset = float(rng.choice([0.0, 1e6, 1e9, -1e12, 1e15]))
    kind = seed % 4
    if kind == 0:    # constant integer target (its mean is exact)
        y = np.full(n, offset + float(rng.integers(-5, 5)))
    elif kind == 1:  # integer targets: some constant by chance at small n
        y = offset + rng.integers(-3, 3, n).astype(float)
    else:
        y = offset + rng.normal(0, float(rng.choice([1e-3, 1.0, 1e3])), n)
    p = y.copy() if kind == 3 else y + rng.normal(0, 1.0, n) * float(rng.choice([0.0, 1e-3, 1.0, 100.0]))
    s = evaluate_regression(y, p).summary
    _assert_same(s, _sklearn_summary(y, p))
    if n >= 2:
        assert not any(np.isnan(v) for v in s.values()), s


def test_huge_values_keep_a_finite_r2():
    # squares overflow: scikit-learn reads inf / inf = NaN; scaling by 2^-1000 (exact) gives the defined value
    y = np.array([1e300, 2e300, 3e300])
    p = np.array([1.1e300, 2e300, 2.9e300])
    s = evaluate_regression(y, p).summary
    scaled = _sklearn_summary(y * 2.0**-1000, p * 2.0**-1000)
    assert s["r2"] == scaled["r2"] and s["explained_variance"] == scaled["explained_variance"]
    assert s["rmse"] == scaled["rmse"] * 2.0**1000 and s["mae"] == scaled["mae"] * 2.0**1000
    assert s["mse"] == np.inf  # the true MSE is beyond the float range
    with np.errstate(all="ignore"):
        assert np.isnan(skm.r2_score(y, p))


def test_bad_input_and_no_sample_are_named():
    with pytest.raises(UserError, match=r"y_pred\[1\] is not a finite number"):
        evaluate_regression([1, 2], [1, np.nan])
    with pytest.raises(UserError, match=r"y_true\[0\] is not a finite number"):
        evaluate_regression([np.inf], [1.0])
    with pytest.raises(UserError, match="cannot evaluate regression on 0 samples"):
        evaluate_regression([], [])


def test_importer_names_bad_rows_and_keeps_valid_ones(tmp_path):
    csv = tmp_path / "reg.csv"
    csv.write_text("image,target,prediction\n"
                   "a,1.0,1.5\n"
                   "b,abc,2\n"        # bad target: row skipped
                   "c,3.0,nan\n"      # bad prediction: target kept
                   "a,9,9\n"          # duplicate
                   ",4,4\n"           # empty image
                   "d,4.0,3.0,7\n"    # wrong field count
                   "e,5.0,6.0\n")
    project, report = import_project(tmp_path / "p", labels=csv)
    problems = {(p.record, p.kind): p.message for p in report.problems}
    assert problems[("line 3", "bad_target")] == "target 'abc' is not a finite number; row skipped"
    assert problems[("line 4", "bad_prediction")] == "prediction 'nan' is not a finite number; kept without a prediction"
    assert problems[("line 5", "duplicate")].startswith("image 'a' already given on line 2")
    assert ("line 6", "empty_value") in problems and ("line 7", "bad_row") in problems
    table = regression.regression_table(project)
    assert table["target"].tolist() == [1.0, 3.0, 5.0]
    assert table["prediction"].tolist()[0] == 1.5 and np.isnan(table["prediction"].tolist()[1])
    out = regression.outcomes(project)
    assert out["abs_error"].tolist() == [0.5, 1.0]
    assert regression.evaluate_project(project).summary["mae"] == 0.75


def test_separate_predictions_file_and_conflicts(tmp_path):
    (tmp_path / "t.csv").write_text("image,target\na,1\nb,2\n")
    (tmp_path / "p.csv").write_text("image,prediction\na,1.25\nz,3\n")
    project, report = import_project(tmp_path / "p", labels=tmp_path / "t.csv", predictions=tmp_path / "p.csv")
    # without an image folder the targets' images are the images: z is unknown
    assert [(p.record, p.kind) for p in report.problems] == [("line 3", "unknown_image")]
    assert regression.outcomes(project)["error"].tolist() == [0.25]
    (tmp_path / "both.csv").write_text("image,target,prediction\na,1,2\n")
    with pytest.raises(UserError, match="give the predictions in one place"):
        import_project(tmp_path / "q", labels=tmp_path / "both.csv", predictions=tmp_path / "p.csv")
    (tmp_path / "bad.csv").write_text("image,value\na,1\n")
    with pytest.raises(UserError, match=r"bad.csv: missing column\(s\) target"):
        import_project(tmp_path / "r", labels=tmp_path / "bad.csv")


def test_error_by_bucket_counts_every_defined_value_once():
    values = np.array([0.0, 1, 2, 3, 4, 5, 6, 7, np.nan])
    err = np.array([1.0, 1, 1, 1, 3, 3, 3, 3, 100])
    b = regression.error_by_bucket(values, err, n_buckets=2)
    assert b["n"].tolist() == [4, 4] and b["mae"].tolist() == [1.0, 3.0]
    assert b.attrs["n_missing"] == 1


def test_empty_selection_is_a_named_empty_state(tmp_path):
    (tmp_path / "t.csv").write_text("image,target,prediction\na,1,1.5\nb,2,\n")
    project, _ = import_project(tmp_path / "p", labels=tmp_path / "t.csv")
    for ids in ([], project.images.loc[project.images["file_name"] == "b", "image_id"]):
        # no image, or only an image without a prediction: no evaluation (None), empty tables, no exception
        assert regression.evaluate_project(project, image_ids=ids) is None
        out = regression.outcomes(project, image_ids=ids)
        assert len(out) == 0 and list(out.columns) == ["image_id", "target", "prediction", "error", "abs_error"]
        buckets = regression.error_by_bucket(np.empty(0), np.empty(0))
        assert len(buckets) == 0 and buckets.attrs["n_missing"] == 0
    one = regression.evaluate_project(project)
    assert one.summary["n_samples"] == 1 and np.isnan(one.summary["r2"]) and one.summary["mae"] == 0.5
