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


def test_constant_target_gives_nan_not_a_made_up_score():
    s = evaluate_regression([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]).summary
    assert np.isnan(s["r2"]) and np.isnan(s["explained_variance"])
    assert s["mean_error"] == 0.0 and s["max_error"] == 1.0
    with pytest.raises(UserError, match=r"y_pred\[1\] is not a finite number"):
        evaluate_regression([1, 2], [1, np.nan])


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
