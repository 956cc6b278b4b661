"""Runs: several named prediction sets in one project (round trip, views, fingerprints, pred ids, migration,
the import / add-predictions / evaluate / export commands)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explorer.cli import main
from explorer.errors import UserError
from explorer.evaluation import evaluate_coco
from explorer.project import schema
from explorer.project.folder import Project

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data" / "detection"

COCO = {
    "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30},
               {"id": 2, "file_name": "b.png", "width": 50, "height": 20}],
    "categories": [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}],
    "annotations": [
        {"id": 10, "image_id": 1, "category_id": 3, "bbox": [1, 2, 10, 5], "area": 50, "iscrowd": 0},
        {"id": 11, "image_id": 1, "category_id": 7, "bbox": [5, 5, 10, 10], "area": 100, "iscrowd": 0},
        {"id": 12, "image_id": 2, "category_id": 3, "bbox": [10, 4, 6, 3], "area": 18, "iscrowd": 0},
    ],
}
RUN_A = [  # finds everything
    {"image_id": 1, "category_id": 3, "bbox": [1, 2, 10, 5], "score": 0.9},
    {"image_id": 1, "category_id": 7, "bbox": [5, 5, 10, 10], "score": 0.8},
    {"image_id": 2, "category_id": 3, "bbox": [10, 4, 6, 3], "score": 0.7},
]
RUN_B = [  # misses the dog, one background box
    {"image_id": 1, "category_id": 3, "bbox": [1, 2, 10, 5], "score": 0.6},
    {"image_id": 2, "category_id": 7, "bbox": [30, 2, 8, 8], "score": 0.5},
]


def write_inputs(tmp: Path) -> dict[str, Path]:
    paths = {"labels": tmp / "labels.json", "a": tmp / "a.json", "b": tmp / "b.json"}
    for key, data in (("labels", COCO), ("a", RUN_A), ("b", RUN_B)):
        paths[key].write_text(json.dumps(data))
    return paths


@pytest.fixture
def two_runs(tmp_path) -> tuple[Path, dict[str, Path]]:
    """A project folder imported with run 'a' (CLI), then run 'b' added (CLI)."""
    paths = write_inputs(tmp_path)
    out = tmp_path / "proj"
    assert main(["import", "--labels", str(paths["labels"]), "--predictions", str(paths["a"]), "--run", "a",
                 "--out", str(out)]) == 0
    assert main(["add-predictions", str(out), str(paths["b"]), "--run", "b"]) == 0
    return out, paths


# ---- import --run and add-predictions ---------------------------------------------------------------------------
def test_import_run_names_the_predictions(tmp_path, capsys):
    paths = write_inputs(tmp_path)
    out = tmp_path / "proj"
    code = main(["import", "--labels", str(paths["labels"]), "--predictions", str(paths["a"]), "--run", "model-a",
                 "--out", str(out)])
    assert code == 0
    assert (f"imported detection project 'proj' into {out}: 2 images, 2 categories, 3 labels, 3 predictions "
            "(run 'model-a')") in capsys.readouterr().out
    project = Project.load(out)
    assert project.runs == ["model-a"] and project.run == "model-a"
    assert project.predictions["pred_id"].tolist() == [1, 2, 3]
    assert project.predictions["run"].tolist() == ["model-a"] * 3
    manifest = json.loads((out / "project.json").read_text())
    assert manifest["format_version"] == 2 and manifest["runs"] == ["model-a"]
    assert manifest["sources"]["runs"] == {"model-a": {"predictions": str(paths["a"].resolve()), "format": "coco"}}
    # without --run the predictions are run "default"; --run without --predictions is a usage error
    assert main(["import", "--labels", str(paths["labels"]), "--predictions", str(paths["a"]),
                 "--out", str(tmp_path / "p2")]) == 0
    assert Project.load(tmp_path / "p2").runs == ["default"]
    assert main(["import", "--labels", str(paths["labels"]), "--run", "x", "--out", str(tmp_path / "p3")]) == 2
    assert "--run x names a set of predictions: pass --predictions too" in capsys.readouterr().err


def test_add_predictions_cli_on_a_project_folder(two_runs, capsys):
    out, paths = two_runs
    capsys.readouterr()
    project = Project.load(out)
    assert project.runs == ["a", "b"] and project.run == "a"
    # pred_id unique across runs: run b's file positions 1, 2 are shifted past run a's ids
    assert project.all_predictions["pred_id"].tolist() == [1, 2, 3, 4, 5]
    assert project.all_predictions["run"].tolist() == ["a", "a", "a", "b", "b"]
    b = project.for_run("b")
    assert b.predictions["pred_id"].tolist() == [4, 5]
    assert b.predictions["image_id"].tolist() == [1, 2]
    assert b.predictions["score"].tolist() == [0.6, 0.5]
    assert b.predictions.index.tolist() == [0, 1]
    assert json.loads((out / "import_report_b.json").read_text())["problems"] == []
    # an existing name is refused, naming the runs
    assert main(["add-predictions", str(out), str(paths["a"]), "--run", "b"]) == 2
    assert ("project 'proj' already has a run 'b' (its runs: a, b); pass --replace to replace it, or choose "
            "another --run") in capsys.readouterr().err
    # --replace: the run keeps its place, gets fresh ids (a replaced run's ids are not reused), run a is untouched
    assert main(["add-predictions", str(out), str(paths["a"]), "--run", "b", "--replace"]) == 0
    assert "replaced run 'b' of project 'proj': 3 predictions; runs: a, b" in capsys.readouterr().out
    project = Project.load(out)
    assert project.runs == ["a", "b"]
    assert project.all_predictions["pred_id"].tolist() == [1, 2, 3, 6, 7, 8]
    pd.testing.assert_frame_equal(project.predictions.drop(columns="run"),
                                  project.for_run("b").predictions.drop(columns="run").assign(
                                      pred_id=[1, 2, 3]))


def test_add_predictions_reports_bad_records_like_import(two_runs, tmp_path, capsys):
    out, _ = two_runs
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([*RUN_B, {"image_id": 9, "category_id": 3, "bbox": [0, 0, 1, 1], "score": 0.1}]))
    capsys.readouterr()
    assert main(["add-predictions", str(out), str(bad), "--run", "c"]) == 0
    text = capsys.readouterr().out
    assert "added run 'c' of project 'proj': 2 predictions; runs: a, b, c" in text
    assert f"{bad}: results[2]: unknown image_id 9" in text
    # the gap left by the rejected record is kept: positions 1, 2 -> ids 6, 7
    assert Project.load(out, run="c").predictions["pred_id"].tolist() == [6, 7]
    # nothing valid: nothing added
    empty = tmp_path / "none.json"
    empty.write_text(json.dumps([{"image_id": 9, "category_id": 3, "bbox": [0, 0, 1, 1], "score": 0.1}]))
    assert main(["add-predictions", str(out), str(empty), "--run", "d"]) == 2
    assert f"no valid prediction in {empty}; nothing added" in capsys.readouterr().err
    assert Project.load(out).runs == ["a", "b", "c"]
    assert main(["add-predictions", str(out), str(bad), "--run", "no spaces"]) == 2


# ---- views -------------------------------------------------------------------------------------------------------
def test_for_run_views_share_the_project(two_runs):
    out, _ = two_runs
    project = Project.load(out)
    b = project.for_run("b")
    assert b.run == "b" and b.runs == ["a", "b"]
    for attr in ("root", "manifest", "images", "categories", "labels", "all_predictions", "extra"):
        assert getattr(b, attr) is getattr(project, attr)
    assert project.for_run(None) is project and project.for_run("a") is project
    assert b.for_run(None).run == "a"
    pd.testing.assert_frame_equal(Project.load(out, run="b").predictions, b.predictions)
    with pytest.raises(UserError, match=r"^project 'proj' has no run 'c'; its runs: a, b$"):
        project.for_run("c")
    with pytest.raises(UserError, match=r"^project 'proj' has no run 'c'; its runs: a, b$"):
        Project.load(out, run="c")
    # the COCO evaluation of a view is that run's
    assert evaluate_coco(b).summary["coco/bbox_mAP"] == evaluate_coco(COCO, RUN_B).summary["coco/bbox_mAP"]
    assert evaluate_coco(project).summary["coco/bbox_mAP"] == 1.0


def test_project_without_predictions_has_no_run(tmp_path):
    paths = write_inputs(tmp_path)
    assert main(["import", "--labels", str(paths["labels"]), "--out", str(tmp_path / "p")]) == 0
    project = Project.load(tmp_path / "p")
    assert project.runs == [] and project.run is None and not project.has_predictions
    assert len(project.predictions) == 0 and list(project.all_predictions.columns)[-1] == "run"
    with pytest.raises(UserError, match=r"^project 'p' has no predictions, so no run 'x'$"):
        project.for_run("x")
    # the first run added to it keeps the file's ids, as an import would
    view = project.add_predictions(pd.DataFrame(evaluate_inputs_predictions()), run="first")
    assert view.runs == ["first"] and project.run == "first"
    assert Project.load(tmp_path / "p").predictions["pred_id"].tolist() == [1, 2]


def evaluate_inputs_predictions() -> dict:
    """A two-row predictions table (schema columns) for library-level tests."""
    return {"pred_id": [1, 2], "image_id": [1, 2], "category_id": [3, 7], "x": [1.0, 30.0], "y": [2.0, 2.0],
            "w": [10.0, 8.0], "h": [5.0, 8.0], "area": [50.0, 64.0], "score": [0.9, 0.4],
            "segmentation": [None, None]}


def test_round_trip_and_pred_ids(tmp_path):
    images = pd.DataFrame({"image_id": [1, 2], "file_name": ["a.png", "b.png"], "width": [40.0, 50.0],
                           "height": [30.0, 20.0], "split": ["train", "val"]})
    categories = pd.DataFrame({"category_id": [3, 7], "name": ["cat", "dog"], "supercategory": [None, None]})
    preds = pd.DataFrame(evaluate_inputs_predictions())
    two = pd.concat([preds.assign(run="x"), preds.assign(pred_id=[3, 4], run="y")], ignore_index=True)
    project = Project.create(tmp_path / "p", task="detection", images=images, categories=categories,
                             predictions=two)
    assert project.runs == ["x", "y"]
    loaded = Project.load(tmp_path / "p")
    pd.testing.assert_frame_equal(loaded.all_predictions, project.all_predictions)
    assert list(loaded.all_predictions.columns) == [*schema.PREDICTIONS, "run"]
    assert loaded.for_run("y").predictions["pred_id"].tolist() == [3, 4]
    # explicit order; an id used twice is a programming error
    assert Project.create(tmp_path / "q", task="detection", images=images, categories=categories, predictions=two,
                          runs=["y", "x"]).runs == ["y", "x"]
    # rows of a run need not be contiguous (the stored tables keep them grouped; a view is then a slice)
    mixed = Project.create(tmp_path / "m", task="detection", images=images, categories=categories,
                           predictions=two.iloc[[0, 2, 1, 3]])
    assert mixed.runs == ["x", "y"] and mixed.predictions["pred_id"].tolist() == [1, 2]
    assert mixed.for_run("y").predictions["pred_id"].tolist() == [3, 4]
    assert mixed.for_run("y").predictions.index.tolist() == [0, 1]
    with pytest.raises(ValueError, match="duplicate pred_id"):
        Project.create(tmp_path / "r", task="detection", images=images, categories=categories,
                       predictions=pd.concat([preds.assign(run="x"), preds.assign(run="y")]))
    # added rows: ids shifted past the largest id, order and gaps kept (2, 5 -> 5, 8)
    view = loaded.add_predictions(preds.assign(pred_id=[2, 5]), run="z")
    assert view.predictions["pred_id"].tolist() == [5, 8]
    assert Project.load(tmp_path / "p").runs == ["x", "y", "z"]
    with pytest.raises(UserError, match=r"run 'w': 1 image id\(s\) not in project 'p', e.g. 9"):
        loaded.add_predictions(preds.assign(image_id=[1, 9]), run="w")
    with pytest.raises(UserError, match="unknown task 'nope'; expected one of .*detection"):
        Project.create(tmp_path / "s", task="nope", images=images, categories=categories)


def test_fingerprint_includes_the_run(two_runs):
    out, _ = two_runs
    project = Project.load(out)
    b = project.for_run("b")
    assert project.fingerprint != b.fingerprint
    assert Project.load(out).fingerprint == project.fingerprint
    assert Project.load(out, run="b").fingerprint == b.fingerprint


# ---- projects written before runs ----------------------------------------------------------------------------------
def _sha(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(path.read_bytes())
    return h.hexdigest()


def write_old_project(root: Path, *, with_predictions: bool = True) -> pd.DataFrame:
    """A project folder as format 1 wrote it: the four tables without a run column, no manifest ``runs``."""
    root.mkdir(parents=True)
    tables = {
        "images": pd.DataFrame({"image_id": np.array([1, 2], np.int64), "file_name": ["a.png", "b.png"],
                                "width": [40.0, 50.0], "height": [30.0, 20.0], "split": [None, None]}),
        "categories": pd.DataFrame({"category_id": np.array([3, 7], np.int64), "name": ["cat", "dog"],
                                    "supercategory": [None, None]}),
        "labels": pd.DataFrame({"label_id": np.array([10, 11, 12], np.int64), "image_id": np.array([1, 1, 2], np.int64),
                                "category_id": np.array([3, 7, 3], np.int64), "x": [1.0, 5.0, 10.0],
                                "y": [2.0, 5.0, 4.0], "w": [10.0, 10.0, 6.0], "h": [5.0, 10.0, 3.0],
                                "area": [50.0, 100.0, 18.0], "iscrowd": [False] * 3, "segmentation": [None] * 3}),
        "predictions": pd.DataFrame({
            "pred_id": np.array([1, 2], np.int64), "image_id": np.array([1, 2], np.int64),
            "category_id": np.array([3, 7], np.int64), "x": [1.0, 30.0], "y": [2.0, 2.0], "w": [10.0, 8.0],
            "h": [5.0, 8.0], "area": [50.0, 64.0], "score": [0.6, 0.5], "segmentation": [None, None]}),
    }
    if not with_predictions:
        tables["predictions"] = tables["predictions"].iloc[:0]
    hashes = {}
    for name, df in tables.items():
        df.to_parquet(root / f"{name}.parquet", index=False)
        hashes[name] = _sha(root / f"{name}.parquet")
    manifest = {"format_version": 1, "name": "old", "task": "detection", "images_root": None,
                "sources": {"format": "coco"}, "tables": hashes}
    (root / "project.json").write_text(json.dumps(manifest, indent=1))
    return tables["predictions"]


def test_old_project_is_migrated_on_load(tmp_path):
    old_preds = write_old_project(tmp_path / "old")
    before = (tmp_path / "old" / "predictions.parquet").read_bytes()
    project = Project.load(tmp_path / "old")
    assert project.runs == ["default"] and project.run == "default"
    pd.testing.assert_frame_equal(project.predictions, old_preds.assign(run="default"))
    assert evaluate_coco(project).summary["coco/bbox_mAP"] == evaluate_coco(COCO, RUN_B).summary["coco/bbox_mAP"]
    # loading does not write; adding a run upgrades the folder
    assert (tmp_path / "old" / "predictions.parquet").read_bytes() == before
    project.add_predictions(old_preds, run="second")
    manifest = json.loads((tmp_path / "old" / "project.json").read_text())
    assert manifest["format_version"] == 2 and manifest["runs"] == ["default", "second"]
    reloaded = Project.load(tmp_path / "old")
    assert reloaded.all_predictions["pred_id"].tolist() == [1, 2, 3, 4]
    pd.testing.assert_frame_equal(reloaded.predictions, old_preds.assign(run="default"))
    # an old project without predictions has no run
    write_old_project(tmp_path / "empty", with_predictions=False)
    assert Project.load(tmp_path / "empty").runs == []


def test_rows_of_an_unlisted_run_are_refused(two_runs):
    out, _ = two_runs
    manifest = json.loads((out / "project.json").read_text())
    (out / "project.json").write_text(json.dumps({**manifest, "runs": ["a"]}))
    with pytest.raises(UserError, match=r"predictions of run\(s\) \['b'\] that project.json does not list"):
        Project.load(out)


def test_project_from_a_newer_version_is_refused(tmp_path):
    write_old_project(tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / "project.json").read_text())
    (tmp_path / "p" / "project.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(UserError, match="written by a newer cv-explorer"):
        Project.load(tmp_path / "p")


# ---- evaluate / export per run, on the sample's two models --------------------------------------------------------
@pytest.fixture(scope="module")
def sample_two_runs(tmp_path_factory) -> Path:
    """The detection sample's labels with both runs (no images: evaluation only)."""
    out = tmp_path_factory.mktemp("sample") / "proj"
    assert main(["import", "--labels", str(SAMPLE / "labels.json"), "--predictions", str(SAMPLE / "predictions.json"),
                 "--run", "baseline", "--out", str(out)]) == 0
    assert main(["add-predictions", str(out), str(SAMPLE / "predictions-weaker.json"), "--run", "weaker"]) == 0
    return out


@pytest.mark.parametrize("run, file", [("baseline", "predictions.json"), ("weaker", "predictions-weaker.json")])
def test_evaluate_run_equals_evaluate_coco_of_its_file(sample_two_runs, tmp_path, capsys, run, file):
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(sample_two_runs), "--run", run, "--json", str(out)]) == 0
    assert f"run {run!r} of project 'proj'" in capsys.readouterr().out
    data = json.loads(out.read_text())
    reference = evaluate_coco(SAMPLE / "labels.json", SAMPLE / file).to_dict()
    assert data["run"] == run
    assert data["summary"] == reference["summary"]  # the same bits
    assert data["per_class"] == reference["per_class"]


def test_evaluate_defaults_to_the_first_run_and_checks_arguments(sample_two_runs, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(sample_two_runs), "--json", str(out)]) == 0
    reference = evaluate_coco(SAMPLE / "labels.json", SAMPLE / "predictions.json")
    assert json.loads(out.read_text())["summary"] == reference.summary
    assert json.loads(out.read_text())["summary"]["coco/bbox_mAP"] > evaluate_coco(
        SAMPLE / "labels.json", SAMPLE / "predictions-weaker.json").summary["coco/bbox_mAP"]
    assert main(["evaluate", str(sample_two_runs), "--run", "nope"]) == 2
    assert "has no run 'nope'; its runs: baseline, weaker" in capsys.readouterr().err
    assert main(["evaluate", str(SAMPLE / "labels.json"), str(SAMPLE / "predictions.json"), "--run", "weaker"]) == 2
    assert "--run needs a project folder as GT" in capsys.readouterr().err


def test_export_run(sample_two_runs, tmp_path):
    for run in ("baseline", "weaker"):
        assert main(["export", str(sample_two_runs), "--out", str(tmp_path / run), "--what", "json",
                     "--run", run]) == 0
    exported = {run: json.loads((tmp_path / run / "all_metrics.json").read_text()) for run in ("baseline", "weaker")}
    assert exported["baseline"] != exported["weaker"]
    text = json.dumps(exported["weaker"])
    weaker_map = evaluate_coco(SAMPLE / "labels.json", SAMPLE / "predictions-weaker.json").summary["coco/bbox_mAP"]
    assert json.dumps(weaker_map) in text


# ---- the bundled samples -------------------------------------------------------------------------------------------
def test_detection_sample_has_two_runs_and_metrics_for_both(tmp_path):
    from explorer.samples import build_sample, list_samples

    (spec,) = [s for s in list_samples() if s["name"] == "detection"]
    project = Project.load(build_sample(spec, out=tmp_path / "detection", progress=False))
    assert project.runs == ["baseline", "weaker"]
    counts = project.all_predictions.groupby("run", sort=False).size()
    assert counts.to_dict() == {"baseline": 1108, "weaker": 1061}
    assert project.all_predictions["pred_id"].is_unique
    # data metrics cover every run's predictions (the P table is keyed by pred_id)
    p_metrics = project.metric_table("P")
    assert sorted(p_metrics["pred_id"]) == sorted(project.all_predictions["pred_id"])
    weaker = project.for_run("weaker")
    assert round(evaluate_coco(project).summary["coco/bbox_mAP"], 3) == 0.461
    assert round(evaluate_coco(weaker).summary["coco/bbox_mAP"], 3) == 0.285


@pytest.mark.parametrize("name, runs", [("classification", ["default"]), ("regression", ["default"]),
                                        ("segmentation", ["default"]), ("training", [])])
def test_single_run_tasks_name_their_predictions_default(tmp_path, name, runs):
    from explorer.io import import_project
    from explorer.samples import _resolve_paths, list_samples

    (spec,) = [s for s in list_samples() if s["name"] == name]
    project, _ = import_project(tmp_path / name, task=spec["task"], **_resolve_paths(spec["import"], spec["dir"]))
    assert Project.load(tmp_path / name).runs == runs
    assert project.run == (runs[0] if runs else None)


@pytest.mark.parametrize("name", ["classification", "regression", "segmentation"])
def test_single_run_tasks_take_a_run_name(tmp_path, name):
    from explorer.io import import_project
    from explorer.samples import _resolve_paths, list_samples

    (spec,) = [s for s in list_samples() if s["name"] == name]
    import_project(tmp_path / name, task=spec["task"], run="model-1", **_resolve_paths(spec["import"], spec["dir"]))
    assert Project.load(tmp_path / name).runs == ["model-1"]
