"""The CLI fast path: a pool started on a bare folder before pandas is imported (``EarlyRun``), adopted by the engine."""
from __future__ import annotations

import pandas as pd

import explorer.commands.metrics as command
from explorer.datametrics.engine import compute_frame_metrics
from explorer.datametrics.pool import EarlyRun
from explorer.project.folder import MANIFEST

from tests.metrics.helpers import write_images


def test_manifest_name_matches_the_project_module():
    assert command.MANIFEST == MANIFEST


def test_adopted_early_pool_gives_the_same_table_as_in_process(tmp_path):
    folder = tmp_path / "images"
    write_images(folder, 40, size=(48, 64), ext=".jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    ref, ref_stats = compute_frame_metrics(folder, progress=False, workers=1)
    run = EarlyRun(folder, 2)
    adopted = []
    adopt = run.adopt
    run.adopt = lambda: adopted.append(1) or adopt()
    try:
        assert run.active and len(run.tasks) == 41
        got, stats = compute_frame_metrics(folder, progress=False, workers=2, started=run)
        assert adopted == [1]
    finally:
        run.close()
    pd.testing.assert_frame_equal(ref, got)
    assert len(got) == 40 and stats.unreadable == ref_stats.unreadable == 1


def test_early_pool_for_another_job_is_closed_and_the_engine_computes_itself(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_images(a, 30, ext=".jpg")
    write_images(b, 26, seed=1, ext=".jpg")
    ref, _ = compute_frame_metrics(b, progress=False, workers=1)
    run = EarlyRun(a, 2)
    run.adopt = None  # must not be called
    got, _ = compute_frame_metrics(b, progress=False, workers=2, started=run)  # other folder: closed
    assert run._pool is None
    pd.testing.assert_frame_equal(ref, got)


def test_cli_bare_folder_with_pool(tmp_path):
    folder = tmp_path / "images"
    write_images(folder, 30, ext=".jpg")
    out = tmp_path / "f.parquet"
    assert command.run(type("Args", (), {"path": str(folder), "out": str(out), "metrics_plugin": [], "workers": 2,
                                         "no_progress": True})()) == 0
    ref, _ = compute_frame_metrics(folder, progress=False, workers=1)
    pd.testing.assert_frame_equal(ref, pd.read_parquet(out))


def test_cli_process_forks_its_workers_and_matches_in_process(tmp_path):
    """``python -m explorer.cli metrics DIR --out``: the whole-process fast path (fork, os._exit) on a real run."""
    import subprocess
    import sys

    folder = tmp_path / "images"
    write_images(folder, 30, ext=".jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    write_images(tmp_path / "outside", 1, ext=".jpg")
    (folder / "link.jpg").symlink_to(tmp_path / "outside" / "img_000.jpg")  # leaves the folder: unsafe_path
    out = tmp_path / "f.parquet"
    done = subprocess.run([sys.executable, "-m", "explorer.cli", "metrics", str(folder), "--out", str(out),
                           "--no-progress", "--workers", "2"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "32 images" in done.stdout and "unreadable 1" in done.stdout and "link.jpg" in done.stdout
    ref, ref_stats = compute_frame_metrics(folder, progress=False, workers=1)
    pd.testing.assert_frame_equal(ref, pd.read_parquet(out))  # written by the pandas-free finish
    assert ref_stats.problems.format() in done.stdout


def test_cli_process_writes_what_the_engine_writes_when_nothing_is_readable(tmp_path):
    import subprocess
    import sys

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(30):  # enough for a pool
        (folder / f"b{i:02d}.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out, ref = tmp_path / "f.parquet", tmp_path / "ref.parquet"
    done = subprocess.run([sys.executable, "-m", "explorer.cli", "metrics", str(folder), "--out", str(out),
                           "--no-progress", "--workers", "2"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    compute_frame_metrics(folder, ref, progress=False, workers=1)
    pd.testing.assert_frame_equal(pd.read_parquet(ref), pd.read_parquet(out))
