"""A bare image folder: one engine run for the library call and ``explorer metrics DIR --out`` (pool, fork, no pandas)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd

import explorer.commands.metrics as command
from explorer.datametrics.engine import compute_frame_metrics, write_frame_metrics
from explorer.io.scan import scan_images
from explorer.project.folder import MANIFEST

from tests.metrics.helpers import write_images


def _cli(folder, out, *extra, importtime: bool = False):
    return subprocess.run([sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "explorer.cli",
                           "metrics", str(folder), "--out", str(out), "--no-progress", "--workers", "2", *extra],
                          capture_output=True, text=True, timeout=120)


def test_manifest_name_matches_the_project_module():
    assert command.MANIFEST == MANIFEST


def test_rows_follow_the_one_scanner_and_pool_equals_in_process(tmp_path):
    folder = tmp_path / "images"
    write_images(folder, 30, ext=".jpg")
    for old, new in (("img_002.jpg", "img2.jpg"), ("img_010.jpg", "img10.jpg"), ("img_011.jpg", "sub/img1.jpg")):
        (folder / new).parent.mkdir(exist_ok=True)
        (folder / old).rename(folder / new)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    ref, ref_stats = compute_frame_metrics(folder, progress=False, workers=1)
    got, stats = compute_frame_metrics(folder, progress=False, workers=2)
    pd.testing.assert_frame_equal(ref, got)
    names = [n for n in scan_images(folder) if n != "broken.jpg"]
    assert list(got["file_name"]) == names and names.index("img2.jpg") < names.index("img10.jpg")
    assert len(got) == 30 and stats.unreadable == ref_stats.unreadable == 1
    assert got.drop(columns="file_name").dtypes.eq(np.float64).all()


def test_library_file_equals_write_frame_metrics_file(tmp_path):
    folder = tmp_path / "images"
    write_images(folder, 26, ext=".jpg")
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    table, _ = compute_frame_metrics(folder, a, progress=False, workers=2)
    stats = write_frame_metrics(folder, b, progress=False, workers=1)
    pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b))
    pd.testing.assert_frame_equal(table, pd.read_parquet(b))
    assert stats.images == 26 and stats.images_decoded == 26 and stats.frame_images_computed == 26


def test_cli_bare_folder_in_process(tmp_path):
    folder = tmp_path / "images"
    write_images(folder, 30, ext=".jpg")
    out = tmp_path / "f.parquet"
    assert command.run(type("Args", (), {"path": str(folder), "out": str(out), "metrics_plugin": [], "workers": 2,
                                         "no_progress": True})()) == 0
    ref, _ = compute_frame_metrics(folder, progress=False, workers=1)
    pd.testing.assert_frame_equal(ref, pd.read_parquet(out))


def test_cli_process_forks_its_workers_imports_no_pandas_and_matches_in_process(tmp_path):
    """``python -m explorer.cli metrics DIR --out``: the whole-process run (fork, os._exit) on a real folder."""
    folder = tmp_path / "images"
    write_images(folder, 30, ext=".jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    write_images(tmp_path / "outside", 1, ext=".jpg")
    (folder / "link.jpg").symlink_to(tmp_path / "outside" / "img_000.jpg")  # leaves the folder: unsafe_path
    out = tmp_path / "f.parquet"
    done = _cli(folder, out, importtime=True)
    assert done.returncode == 0, done.stderr
    assert "32 images" in done.stdout and "unreadable 1" in done.stdout and "link.jpg" in done.stdout
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "pyarrow.parquet" in imported and "metrics.image" in imported
    assert not {m for m in imported if m.split(".")[0] == "pandas"}  # its import was a fifth of the run's CPU
    ref, ref_stats = compute_frame_metrics(folder, progress=False, workers=1)
    pd.testing.assert_frame_equal(ref, pd.read_parquet(out))
    assert ref_stats.problems.format() in done.stdout


def test_cli_process_writes_what_the_library_writes_when_nothing_is_readable(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(30):  # enough for a pool
        (folder / f"b{i:02d}.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out, ref = tmp_path / "f.parquet", tmp_path / "ref.parquet"
    done = _cli(folder, out)
    assert done.returncode == 0, done.stderr
    table, stats = compute_frame_metrics(folder, ref, progress=False, workers=1)
    assert len(table) == 0 and stats.unreadable == 30
    pd.testing.assert_frame_equal(pd.read_parquet(ref), pd.read_parquet(out))
