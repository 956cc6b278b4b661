"""Crash safety with real processes: SIGKILL mid-run, concurrent writers, damaged files.

* ``explorer metrics`` killed with SIGKILL (at the first streamed journal, then at random instants) and rerun
  gives tables identical to a clean run, and the rerun decodes only the images whose values were not streamed.
* Two writers of one project (metrics, import) never interleave: the second refuses, naming the lock.
* A truncated Parquet table or ``project.json`` is named with its repair (exit 2), never a traceback; a damaged
  cache file is recomputed with a note.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explorer.datametrics.cache import MetricCache
from explorer.project.folder import Project
from explorer.project.lock import LOCK_NAME, project_lock

from tests.metrics.helpers import make_project, standard_labels, standard_predictions, write_images
from tests.robustness.badfiles import write_valid

REPO = Path(__file__).resolve().parents[2]
METRIC_FILES = ("frame.parquet", "labels.parquet", "predictions.parquet")
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "explorer.cli", *args]


def _run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(_cli(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout)


def _project(root: Path, images: Path, names: list[str]) -> Path:
    frame = pd.DataFrame({"image_id": np.arange(1, len(names) + 1), "file_name": names, "width": 64.0,
                          "height": 48.0, "split": "train"})
    categories = pd.DataFrame({"category_id": [1], "name": ["cat"], "supercategory": [None]})
    labels = pd.DataFrame({"label_id": np.arange(1, len(names) + 1), "image_id": np.arange(1, len(names) + 1),
                           "category_id": 1, "x": 4.0, "y": 4.0, "w": 20.0, "h": 16.0, "area": 320.0,
                           "segmentation": None, "iscrowd": False})
    Project.create(root, task="detection", images=frame, categories=categories, labels=labels, images_root=images)
    return root


def _tables(project: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(project / "metrics" / name) for name in METRIC_FILES}


def _assert_same_tables(a: Path, b: Path) -> None:
    ta, tb = _tables(a), _tables(b)
    for name in METRIC_FILES:
        pd.testing.assert_frame_equal(ta[name], tb[name], check_exact=True)
    ca, cb = (json.loads((p / "metrics" / "catalog.json").read_text())["metrics"] for p in (a, b))
    assert ca == cb


def _decoded(stdout: str) -> int:
    return int(re.search(r"decoded (\d+)", stdout).group(1))


def _cached_images(project: Path) -> int:
    """Images whose values a killed run streamed: those of its base journal (written last for each batch)."""
    return len(MetricCache(project / "cache" / "metrics").tables["base"])


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """400 small images (one label each) and a clean run's metric tables over them."""
    root = tmp_path_factory.mktemp("many")
    names = write_valid(root / "images", 400)
    clean = _project(root / "clean", root / "images", names)
    done = _run("metrics", str(clean), "--no-progress", "--workers", "1")
    assert done.returncode == 0, done.stderr
    return root, names, clean


def _kill_when(project: Path, ready, *, workers: str = "1", timeout: float = 60) -> int:
    """Start ``explorer metrics project``, SIGKILL it as soon as ``ready(cache_dir)``; its return code."""
    cache_dir = project / "cache" / "metrics"
    proc = subprocess.Popen(_cli("metrics", str(project), "--no-progress", "--workers", workers), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if ready(cache_dir):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigkill_mid_run_keeps_finished_work_and_the_rerun_equals_a_clean_run(many, tmp_path):
    root, names, clean = many
    project = _project(tmp_path / "p", root / "images", names)
    rc = _kill_when(project, lambda d: any(d.glob("journal-base-*.parquet")))
    assert rc == -signal.SIGKILL  # killed mid-run, not finished
    cached = _cached_images(project)
    assert 0 < cached < len(names)
    done = _run("metrics", str(project), "--no-progress", "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert _decoded(done.stdout) == len(names) - cached  # finished images are not decoded again
    _assert_same_tables(clean, project)
    assert not list((project / "cache" / "metrics").glob("journal-*")) and not list(project.rglob(".*.tmp"))


def test_sigkill_at_random_instants_then_rerun_equals_a_clean_run(many, tmp_path):
    root, names, clean = many
    project = _project(tmp_path / "p", root / "images", names)
    rng = np.random.default_rng(7)
    for workers in ("1", "2", "1"):
        start, delay = time.monotonic(), rng.uniform(0.3, 2.0)  # start-up included: kills land anywhere
        _kill_when(project, lambda d: time.monotonic() - start >= delay, workers=workers)
    done = _run("metrics", str(project), "--no-progress", "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    _assert_same_tables(clean, project)


def test_second_metrics_run_refuses_while_the_project_is_locked(tmp_path):
    names = write_images(tmp_path / "images", 3)
    project = make_project(tmp_path / "project", names, images_root=tmp_path / "images", labels=standard_labels())
    with project_lock(project.root, "import"):  # a real holder: this process
        done = _run("metrics", str(project.root), "--no-progress")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert str(project.root / LOCK_NAME) in done.stderr and f"pid {os.getpid()}, explorer import" in done.stderr
    assert not (project.root / "metrics").exists()  # nothing written
    assert _run("metrics", str(project.root), "--no-progress").returncode == 0  # the lock died with its holder


def test_two_concurrent_metrics_runs_never_corrupt_the_project(many, tmp_path):
    root, names, clean = many
    project = _project(tmp_path / "p", root / "images", names)
    procs = [subprocess.Popen(_cli("metrics", str(project), "--no-progress", "--workers", "1"), cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    codes = [p.returncode for p in procs]
    assert 0 in codes and set(codes) <= {0, 2}, outs
    for code, (_, err) in zip(codes, outs):
        assert "Traceback" not in err
        if code == 2:
            assert LOCK_NAME in err
    _assert_same_tables(clean, project)


def test_two_concurrent_imports_into_one_out_cannot_both_succeed(tmp_path):
    write_valid(tmp_path / "images", 40)
    out = tmp_path / "out"
    procs = [subprocess.Popen(_cli("import", "--images", str(tmp_path / "images"), "--out", str(out)), cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], outs
    refused = next(err for p, (_, err) in zip(procs, outs) if p.returncode == 2)
    assert "Traceback" not in refused
    assert LOCK_NAME in refused or "already a project" in refused
    assert len(Project.load(out).images) == 40


# ---- damaged files -----------------------------------------------------------------------------------------
@pytest.fixture()
def evaluated(tmp_path):
    names = write_images(tmp_path / "images", 5)
    project = make_project(tmp_path / "project", names, images_root=tmp_path / "images", labels=standard_labels(),
                           predictions=standard_predictions())
    assert _run("metrics", str(project.root), "--no-progress", "--workers", "1").returncode == 0
    return project.root


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


COMMANDS = {
    "metrics": lambda p, tmp: ["metrics", str(p), "--no-progress", "--workers", "1"],
    "evaluate": lambda p, tmp: ["evaluate", str(p)],
    "export": lambda p, tmp: ["export", str(p), "--out", str(tmp / "export")],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("damaged", ["images.parquet", "labels.parquet", "predictions.parquet", "project.json"])
def test_a_truncated_project_file_is_named_with_its_repair(evaluated, tmp_path, command, damaged):
    _truncate(evaluated / damaged)
    done = _run(*COMMANDS[command](evaluated, tmp_path))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert str(evaluated / damaged) in done.stderr
    assert "explorer import" in done.stderr  # how to repair it


@pytest.mark.parametrize("damaged", METRIC_FILES)
def test_a_truncated_metric_table_is_named_by_export_and_recomputed_by_metrics(evaluated, tmp_path, damaged):
    reference = _tables(evaluated)[damaged]
    _truncate(evaluated / "metrics" / damaged)
    done = _run(*COMMANDS["export"](evaluated, tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert str(evaluated / "metrics" / damaged) in done.stderr and f"explorer metrics {evaluated}" in done.stderr
    assert _run(*COMMANDS["metrics"](evaluated, tmp_path)).returncode == 0
    pd.testing.assert_frame_equal(_tables(evaluated)[damaged], reference)


@pytest.mark.parametrize("damaged, decoded", [("base.parquet", 5), ("frame.parquet", 5), ("boxes.parquet", 4)])
def test_a_damaged_cache_file_is_recomputed_with_a_note(evaluated, damaged, decoded):
    reference = _tables(evaluated)
    cache = evaluated / "cache" / "metrics" / damaged
    _truncate(cache)
    done = _run("metrics", str(evaluated), "--no-progress", "--workers", "1")
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert str(cache) in done.stdout and "unreadable metrics cache file" in done.stdout
    assert _decoded(done.stdout) == decoded  # every image with values in the damaged table (4 have boxes)
    for name, table in _tables(evaluated).items():
        pd.testing.assert_frame_equal(table, reference[name])
    assert MetricCache(cache.parent).notes == []  # the rerun rewrote it whole


def test_bare_folder_out_is_replaced_atomically(tmp_path):
    write_valid(tmp_path / "images", 30)
    out = tmp_path / "m.parquet"
    assert _run("metrics", str(tmp_path / "images"), "--out", str(out), "--no-progress").returncode == 0
    before = pd.read_parquet(out)
    shutil.rmtree(tmp_path / "images")
    write_valid(tmp_path / "images", 30, seed=1)
    proc = subprocess.Popen(_cli("metrics", str(tmp_path / "images"), "--out", str(out), "--no-progress"), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = pd.read_parquet(out)  # the old file or the new one, whole
    assert len(after) == 30 and list(after.columns) == list(before.columns)
    assert not list(tmp_path.glob(".*.tmp")) or proc.returncode == -signal.SIGKILL


def test_an_out_path_the_file_system_refuses_is_a_one_line_error(tmp_path):
    write_valid(tmp_path / "images", 3)
    (tmp_path / "file").write_text("x")
    done = _run("metrics", str(tmp_path / "images"), "--out", str(tmp_path / "file" / "m.parquet"), "--no-progress")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert str(tmp_path / "file") in done.stderr


def test_a_foreign_parquet_file_in_place_of_a_project_table_is_named(evaluated, tmp_path):
    pd.DataFrame({"a": [1, 2]}).to_parquet(evaluated / "labels.parquet")
    done = _run("evaluate", str(evaluated))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{evaluated / 'labels.parquet'}: not a labels table (lacks columns label_id" in done.stderr
