"""Training logs: CSV / JSON / MLflow importers (named problems, valid rows kept), the best epoch and the
over-fitting rule on hand-made curves, and the bundled sample read both ways."""
from __future__ import annotations

import json

import numpy as np
import pytest

from explorer.errors import ProblemReport, UserError
from explorer.resources import sample_data_dir
from explorer.analysis import training
from explorer.io.training_logs import find_mlflow_run, import_project, read_log


def test_overfitting_rule_on_hand_made_curves():
    val = [1.0, 0.8, 0.6, 0.65, 0.62, 0.7, 0.75, 0.8]
    train = [1.0, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    # best = index 2; index 3 rises but 4 falls (run of 1); 5, 6 rise while train falls: onset 5 with patience 2
    assert training.overfitting_onset(val, train, patience=2) == 5
    assert training.overfitting_onset(val, train, patience=1) == 3
    assert training.overfitting_onset(val, train, patience=4) is None
    # validation rising while the training loss rises too is not over-fitting
    assert training.overfitting_onset([1, 0.5, 0.6, 0.7], [1, 0.5, 0.6, 0.7], patience=1) is None
    # no training loss: no signal, but the best point is still reported
    assert training.overfitting_onset([1, 0.5, 0.6, 0.7], [np.nan] * 4, patience=1) is None


def test_summary_groups_steps_into_epochs(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("step,epoch,loss,val_loss\n"
                    "1,1,1.0,\n2,1,0.8,0.9\n"       # epoch 1: train mean 0.9, val 0.9
                    "3,2,0.6,\n4,2,0.4,0.5\n"       # epoch 2: train 0.5, val 0.5 (best)
                    "5,3,0.3,\n6,3,0.1,0.6\n"       # epoch 3: train 0.2, val 0.6
                    "7,4,0.1,\n8,4,0.05,0.7\n")     # epoch 4: train 0.075, val 0.7
    log = read_log(path)
    points = training.evaluation_points(log, axis="epoch")
    assert points["train_loss"].tolist() == pytest.approx([0.9, 0.5, 0.2, 0.075])
    s = training.summarize(log, axis="epoch", patience=2)
    assert (s.best_x, s.best_val_loss, s.onset_x) == (2.0, 0.5, 3.0)
    assert training.available_axes(log) == ["step", "epoch"]


def test_csv_problems_named_and_rows_kept(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("Epoch,Train/Loss,Val/Loss,time\n"
                    "1,1.0,1.1,2024-06-01T00:00:00Z\n"
                    "2,abc,0.9,2024-06-01T00:00:10Z\n"   # non-numeric loss
                    "3,0.5,nan,2024-06-01T00:00:20Z\n"   # 'nan' = not logged
                    "3,0.4,0.7,2024-06-01T00:00:30Z\n"   # repeated epoch
                    "4,0.3\n")                           # wrong field count
    project, report = import_project(tmp_path / "p", log=path)
    problems = {(p.record, p.kind): p.message for p in report.problems}
    assert problems[("line 3", "bad_value")] == "Train/Loss 'abc' is not a number; row skipped"  # the logged name
    assert ("line 5", "duplicate") in problems and ("line 6", "bad_row") in problems
    log = training.training_log(project)
    assert log["epoch"].tolist() == [1.0, 3.0]
    assert log["timestamp"].tolist() == [1717200000.0, 1717200020.0]
    assert np.isnan(log["val_loss"].iloc[1])


def test_json_formats_and_errors(tmp_path):
    records = tmp_path / "records.json"
    records.write_text(json.dumps({"history": [{"epoch": 1, "loss": 1.0, "val_loss": 2.0},
                                               {"epoch": 2, "loss": "x", "val_loss": 1.0},
                                               [1, 2],
                                               {"epoch": 3, "loss": 0.5, "val_loss": None}]}))
    project, report = import_project(tmp_path / "a", log=records)
    assert [(p.record, p.kind) for p in report.problems] == [("record 2", "bad_row"), ("record 1", "bad_value")]
    assert training.training_log(project)["epoch"].tolist() == [1.0, 3.0]
    columns = tmp_path / "keras.json"
    columns.write_text(json.dumps({"loss": [1.0, 0.5], "val_loss": [1.2, 0.9], "accuracy": [0.5, 0.7]}))
    log = read_log(columns)
    assert log["step"].tolist() == [0.0, 1.0] and log["train_accuracy"].tolist() == [0.5, 0.7]
    lines = tmp_path / "log.jsonl"
    lines.write_text('{"step": 1, "train_loss": 1}\n{"step": 2, "train_loss": 0.5}\n')
    assert read_log(lines)["train_loss"].tolist() == [1.0, 0.5]
    nolss = tmp_path / "noloss.csv"
    nolss.write_text("epoch,f1\n1,0.5\n")
    with pytest.raises(UserError, match="no loss series"):
        read_log(nolss)
    both = tmp_path / "both.csv"  # a logged train_loss is the training loss; 'loss' stays a series of its own
    both.write_text("epoch,loss,train_loss\n1,2,1\n")
    assert read_log(both)[["loss", "train_loss"]].to_numpy().tolist() == [[2.0, 1.0]]


def test_mlflow_run_folder(tmp_path):
    run = tmp_path / "mlruns" / "0" / "abc123"
    (run / "metrics" / "val").mkdir(parents=True)
    (run / "metrics" / "loss").write_text("1000 1.0 0\n2000 0.5 1\n3000 0.25 2\n")
    (run / "metrics" / "val" / "loss").write_text("1500 1.5 0\nbad line\n3500 0.75 2\n3600 0.8 2\n")
    report = ProblemReport()
    log = read_log(tmp_path / "mlruns", report=report)
    assert log["step"].tolist() == [0.0, 1.0, 2.0]
    assert log["train_loss"].tolist() == [1.0, 0.5, 0.25]
    assert log["val_loss"].tolist()[0] == 1.5 and np.isnan(log["val_loss"].iloc[1]) and log["val_loss"].iloc[2] == 0.75
    assert log["timestamp"].tolist() == [1.0, 2.0, 3.0]
    assert {(p.record, p.kind) for p in report.problems} == {("line 2", "bad_row"), ("line 4", "duplicate")}
    (tmp_path / "mlruns" / "0" / "def456" / "metrics").mkdir(parents=True)
    (tmp_path / "mlruns" / "0" / "def456" / "metrics" / "loss").write_text("1000 2.0 0\n")
    both = read_log(tmp_path / "mlruns")  # an experiment folder gives every run
    assert both["run"].tolist() == ["abc123"] * 3 + ["def456"]
    assert read_log(tmp_path / "mlruns", run="abc123")["train_loss"].tolist() == [1.0, 0.5, 0.25]
    with pytest.raises(UserError, match="holds 2 MLflow runs; choose one with run=: abc123, def456"):
        find_mlflow_run(tmp_path / "mlruns")


def test_bundled_sample_csv_and_mlflow_agree():
    folder = sample_data_dir() / "training"
    a, b = read_log(folder / "log.csv"), read_log(folder / "mlruns")
    for column in ("epoch", "step", "train_loss", "val_loss", "train_accuracy", "val_accuracy", "timestamp"):
        np.testing.assert_allclose(a[column], b[column], rtol=0, atol=1e-6)
    s = training.summarize(a)
    assert (s.best_x, s.onset_x) == (12.0, 13.0)
    assert s.best_val_loss == a["val_loss"].min()


def _step_level_log(tmp_path):
    """Train loss every step (1..100, alternating ±0.05 noise), validation on rows of its own every 10 steps:
    best at step 40, then rising for six evaluations in a row."""
    steps = np.arange(1, 101)
    train = 1 / np.sqrt(steps) + 0.05 * (-1.0) ** steps
    val = [1.0, 0.8, 0.6, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8]
    lines = ["step,loss,val_loss"] + [f"{s},{float(t)!r}," for s, t in zip(steps, train)]
    lines += [f"{10 * (k + 1)},,{v}" for k, v in enumerate(val)]  # the evaluator logs on its own rows
    path = tmp_path / "steps.csv"
    path.write_text("\n".join(lines) + "\n")
    return read_log(path), steps, train


def test_step_level_log_with_validation_rising_five_times_reports_overfitting(tmp_path):
    log, steps, train = _step_level_log(tmp_path)
    points = training.evaluation_points(log, axis="step")
    # the training loss of an evaluation: the mean over its validation interval (x_{k-1}, x_k]
    expected = [train[(steps > 10 * k) & (steps <= 10 * (k + 1))].mean() for k in range(10)]
    np.testing.assert_allclose(points["train_loss"], expected, rtol=0, atol=1e-15)
    for patience in (2, 5):
        s = training.summarize(log, axis="step", patience=patience)
        assert (s.best_x, s.best_val_loss, s.onset_x) == (40.0, 0.5, 50.0)
    assert training.summarize(log, axis="step", patience=7).onset_x is None  # only six rises
    # compared one step at a time (the old rule) the noisy per-step loss never "falls" on the validation rows
    assert training.overfitting_onset(log["val_loss"].dropna(), [np.nan] * 10, patience=5) is None


def test_ema_is_tensorboards_debiased_average():
    y = np.array([1.0, np.nan, 3.0, 2.0, np.inf, 4.0])
    w = 0.6
    last, n, want = 0.0, 0, []
    for v in y:  # TensorBoard's loop, transcribed
        if not np.isfinite(v):
            want.append(v)
            continue
        last = last * w + (1 - w) * v
        n += 1
        want.append(last / (1 - w ** n))
    got = training.ema(y, w)
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
    np.testing.assert_allclose(got[np.isfinite(got)], np.array(want)[np.isfinite(want)], rtol=0, atol=1e-15)
    assert got[0] == 1.0  # debiased: the first value is itself, not (1 - w) * it
    np.testing.assert_array_equal(training.ema(y, 0.0), y)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        training.ema(y, 1.0)


def test_metric_monitor_is_maximised():
    val = [0.2, 0.4, 0.35, 0.3]
    train = [1.0, 0.8, 0.6, 0.5]
    assert training.overfitting_onset(val, train, patience=2, lower_better=False) == 2
    assert training.lower_is_better("val/box_loss") and not training.lower_is_better("coco/bbox_mAP")
