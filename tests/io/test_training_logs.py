"""Training logs in each tool's real layout (fixtures under tests/io/fixtures/training/, written from the tools'
documented formats): MMEngine scalars.json, MMDetection 2.x log.json, TensorBoard CSV downloads, Ultralytics
results.csv, MLflow run folders — logged names kept, canonical losses derived, bad records named, runs kept."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from explorer.analysis import training
from explorer.cli import main
from explorer.errors import ProblemReport, UserError
from explorer.io.training_logs import import_project, read_log, read_log_with_meta

FIXTURES = Path(__file__).parent / "fixtures" / "training"
MLRUNS = FIXTURES / "mlflow" / "mlruns"


def test_mmengine_scalars_train_and_val_on_their_own_step_axes():
    report = ProblemReport()
    log, meta = read_log_with_meta(FIXTURES / "mmengine/20240305_101500/vis_data/scalars.json", report=report)
    assert report.problems == []
    assert meta["runs"]["20240305_101500"]["format"] == "mmengine" and meta["derived"] == {"train_loss": "loss"}
    assert {"coco/bbox_mAP", "loss_cls", "loss_bbox", "lr", "loss", "data_time", "time"} <= set(log.columns)
    assert "iter" not in log.columns and np.isnan(log["timestamp"]).all()  # 'time' is s/iter, not a clock
    train, val = log[log["phase"] == "train"], log[log["phase"] == "val"]
    assert train["step"].tolist() == [50, 100, 150, 200, 250, 300] and train["epoch"].tolist() == [1, 1, 2, 2, 3, 3]
    # a validation row's step is its epoch: it sits at that epoch's last training iteration
    assert val["epoch"].tolist() == [1, 2, 3] and val["step"].tolist() == [100, 200, 300]
    assert val["coco/bbox_mAP"].tolist() == [0.152, 0.241, 0.236]
    assert train["train_loss"].tolist() == train["loss"].tolist()
    s = training.summarize(log, axis="epoch", patience=1)  # no validation loss: judged on coco/bbox_mAP (max)
    assert (s.monitor, s.best_x, s.best_value, s.onset_x) == ("coco/bbox_mAP", 2.0, 0.241, 3.0)
    assert s.train_loss_at_best == pytest.approx((0.8619 + 0.7) / 2)  # epoch 2's two logged iterations
    assert training.summarize(log, axis="step", patience=1).onset_x == 300.0


def test_mmdetection2_log_json_iter_within_epoch():
    report = ProblemReport()
    log, meta = read_log_with_meta(FIXTURES / "mmdet2/20210101_000000.log.json", report=report)
    assert report.problems == []  # the env_info line is metadata; bbox_mAP_copypaste is text for pasting
    assert meta["runs"]["20210101_000000"]["format"] == "mmdetection"
    train, val = log[log["phase"] == "train"], log[log["phase"] == "val"]
    assert train["step"].tolist() == [50, 100, 150, 200]  # iter 50, 100 of epoch 2 follow epoch 1's 100
    assert val["step"].tolist() == [100, 200] and val["epoch"].tolist() == [1, 2]
    assert val["bbox_mAP"].tolist() == [0.2, 0.4] and np.isnan(val["lr"]).all()  # lr is the training rows'
    assert "bbox_mAP_copypaste" not in log.columns and "mode" not in log.columns
    assert training.summarize(log, axis="epoch").best_x == 2.0


def test_tensorboard_csv_downloads_merge_per_run():
    log, meta = read_log_with_meta(FIXTURES / "tensorboard")
    assert list(meta["runs"]) == ["resnet18"] and meta["runs"]["resnet18"]["format"] == "tensorboard-csv"
    assert log["step"].tolist() == [0, 100, 200, 300]
    assert log["train_loss"].tolist() == [1.0, 0.7, 0.5, 0.4] and log["val_loss"].tolist() == [1.1, 0.8, 0.9, 1.0]
    assert log["timestamp"].tolist() == [1717200000.5, 1717200010.5, 1717200020.5, 1717200030.5]
    s = training.summarize(log, axis="step", patience=2)
    assert (s.best_x, s.onset_x) == (100.0, 200.0)
    one = read_log(FIXTURES / "tensorboard" / "run-resnet18-tag-val_loss.csv")  # a single tag file
    assert list(one.columns) == ["run", "step", "epoch", "timestamp", "val_loss"]


def test_ultralytics_results_csv_space_padded_headers():
    log, meta = read_log_with_meta(FIXTURES / "ultralytics/train3/results.csv")
    assert meta["runs"]["train3"]["format"] == "ultralytics"
    assert meta["derived"] == {"train_loss": "train/box_loss + train/cls_loss + train/dfl_loss",
                               "val_loss": "val/box_loss + val/cls_loss + val/dfl_loss"}
    assert {"metrics/mAP50-95(B)", "lr/pg0", "train/box_loss"} <= set(log.columns)
    assert log["epoch"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(log["train_loss"], [1.6 + 2.9 + 1.5, 1.4 + 2.2 + 1.3, 1.3 + 1.8 + 1.2], rtol=0, atol=1e-12)
    np.testing.assert_allclose(log["val_loss"], [1.5 + 2.4 + 1.4, 1.4 + 2.0 + 1.3, 1.45 + 2.1 + 1.35], rtol=0, atol=1e-12)
    s = training.summarize(log, axis="epoch", patience=1)
    assert (s.monitor, s.best_x, s.onset_x) == ("val_loss", 2.0, 3.0)


def test_mlflow_experiment_gives_every_run_with_params_tags_and_name():
    log, meta = read_log_with_meta(MLRUNS)
    assert training.run_names(log) == ["baseline-lr0.01", "wider-lr0.001"]  # mlflow.runName, not the run id
    base = meta["runs"]["baseline-lr0.01"]
    assert base["run_id"] == "3f9a2c1b7d8e4f60a1b2c3d4e5f60718"
    assert base["params"] == {"batch_size": "32", "lr": "0.01"}
    assert base["tags"]["mlflow.source.name"] == "train.py" and base["tags"]["mlflow.runName"] == "baseline-lr0.01"
    assert {"train/loss", "val/loss"} <= set(log.columns) and meta["derived"] == {"train_loss": "train/loss",
                                                                                   "val_loss": "val/loss"}
    base_log = training.of_run(log, "baseline-lr0.01")
    assert base_log["epoch"].tolist() == [1, 2, 3, 4] and base_log["timestamp"].tolist() == [
        1717200000.0, 1717200100.0, 1717200200.0, 1717200300.0]
    assert training.summarize(log, axis="epoch", run="baseline-lr0.01").best_x == 2.0
    assert training.summarize(log, axis="epoch", run="wider-lr0.001").best_x == 4.0
    only = read_log(MLRUNS, run="wider-lr0.001")  # by run name (or id)
    assert training.run_names(only) == ["wider-lr0.001"]
    assert training.run_names(read_log(MLRUNS, run="9b8a7c6d5e4f40312a1b2c3d4e5f6071")) == ["wider-lr0.001"]


def test_folder_of_logs_one_run_each(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "results.csv").write_text(
            (FIXTURES / "ultralytics/train3/results.csv").read_text())
    log = read_log(tmp_path / "runs")
    assert training.run_names(log) == ["a", "b"] and len(log) == 6


def test_cli_import_and_export_state_runs_and_rule(tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["import", "--task", "training", "--labels", str(MLRUNS), "--out", str(out)]) == 0
    assert "8 log rows, 2 run(s)" in capsys.readouterr().out
    from explorer.project.folder import Project

    doc = training.export_summary(Project.load(out))
    assert list(doc["runs"]) == ["baseline-lr0.01", "wider-lr0.001"]
    assert doc["runs"]["baseline-lr0.01"]["params"]["lr"] == "0.01"
    assert doc["rule_parameters"] == {"patience": 2, "monitor": "val_loss", "monitor_direction": "min",
                                      "axis": "epoch", "train_loss": "mean over each validation interval (x_{k-1}, x_k]"}
    assert "averaged over each validation interval" in doc["rule"] and "2 consecutive evaluations" in doc["rule"]
    assert doc["runs"]["wider-lr0.001"]["by_axis"]["epoch"]["best_epoch"] == 4.0


# ---- bad records are named, valid ones kept --------------------------------------------------------------------
def test_json_lines_bad_records_named_and_the_rest_kept(tmp_path):
    path = tmp_path / "scalars.json"
    path.write_text('{"lr": 0.1, "loss": 1.0, "epoch": 1, "iter": 10, "step": 10}\n'
                    '{"lr": 0.1, "loss": "abc", "epoch": 1, "iter": 20, "step": 20}\n'
                    '{"lr": 0.1, "loss": 0.8, "epoch": 1, "iter": 30\n'
                    '{"lr": 0.1, "loss": true, "epoch": 1, "iter": 40, "step": 40}\n'
                    '{"lr": 0.1, "loss": 0.7, "loss": 0.6, "epoch": 1, "iter": 50, "step": 50}\n'
                    '{"lr": 0.1, "loss": [0.5], "epoch": 1, "iter": 60, "step": 60}\n'
                    '{"lr": 0.1, "loss": 0.5, "epoch": 1, "iter": 70, "step": 70}\n'
                    '{"coco/bbox_mAP": 0.3, "step": 1}\n')
    report = ProblemReport()
    log = read_log(path, report=report)
    got = sorted((p.record, p.kind) for p in report.problems)
    assert got == [("line 2", "bad_value"), ("line 3", "bad_row"), ("line 4", "bad_value"), ("line 5", "bad_row"),
                   ("line 6", "bad_value")]
    assert all(p.file == str(path) for p in report.problems)
    assert log.loc[log["phase"] == "train", "step"].tolist() == [10, 70]
    assert log.loc[log["phase"] == "val", "step"].tolist() == [70]


def test_no_loss_anywhere_is_a_user_error(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,f1\n1,0.5\n")
    with pytest.raises(UserError, match="no loss series.*got f1"):
        read_log(path)


def test_mlflow_import_keeps_run_name_in_the_manifest(tmp_path):
    project, report = import_project(tmp_path / "p", log=MLRUNS)
    runs = project.manifest["sources"]["runs"]
    assert list(runs) == ["baseline-lr0.01", "wider-lr0.001"] and runs["wider-lr0.001"]["params"]["lr"] == "0.001"
    assert json.loads((tmp_path / "p" / "project.json").read_text())["sources"]["derived"]["val_loss"] == "val/loss"


def test_json_array_repeated_key_huge_number_and_infinite_loss(tmp_path):
    path = tmp_path / "log.json"
    path.write_text('[{"epoch": 1, "train_loss": 1.0, "val_loss": 1.2},'
                    ' {"epoch": 2, "train_loss": 0.3, "train_loss": 0.9, "val_loss": 1.0},'
                    ' {"epoch": ' + "9" * 5000 + ', "train_loss": 0.3, "val_loss": 0.5},'
                    ' {"epoch": 4, "train_loss": Infinity, "val_loss": 0.8}]')
    report = ProblemReport()
    log = read_log(path, report=report)
    got = [(p.record, p.kind, p.kept) for p in report.problems]
    assert got == [("record 1", "bad_row", False), ("record 2", "bad_value", False),
                   ("record 3", "infinite_value", True)]
    assert "repeats the key 'train_loss'" in report.problems[0].message
    assert log["epoch"].tolist() == [1.0, 4.0] and np.isinf(log["train_loss"].iloc[1])


def test_tensorboard_wide_export_and_iteration_based_mmengine(tmp_path):
    wide = tmp_path / "wide.csv"  # tbparse / a pivoted download: one column per tag
    wide.write_text("step,train/loss,val/loss,lr\n0,1.0,1.2,0.1\n100,0.5,0.9,0.1\n200,0.3,1.0,0.01\n")
    log, meta = read_log_with_meta(wide)
    assert meta["derived"] == {"train_loss": "train/loss", "val_loss": "val/loss"}
    assert log["train_loss"].tolist() == [1.0, 0.5, 0.3] and log["lr"].tolist() == [0.1, 0.1, 0.01]
    iters = tmp_path / "scalars.json"  # IterBasedTrainLoop: no epoch, validation 'step' is the iteration
    iters.write_text('{"lr": 0.01, "loss": 1.0, "iter": 500, "step": 500}\n'
                     '{"lr": 0.01, "loss": 0.8, "iter": 1000, "step": 1000}\n'
                     '{"mIoU": 40.1, "aAcc": 80.0, "step": 1000}\n')
    log = read_log(iters)
    assert log[["phase", "step"]].values.tolist() == [["train", 500.0], ["train", 1000.0], ["val", 1000.0]]
    assert np.isnan(log["epoch"]).all()
