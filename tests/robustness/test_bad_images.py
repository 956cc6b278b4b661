"""No image file can crash, hang or cost more than its own row: bare folders, projects and the header probe.

Every hostile file (zero bytes, truncated JPEG/PNG, text named .jpg, a FIFO, headers announcing 25000² and
10^10 pixels, a valid 1×65535 PNG) sits beside valid images; each valid image's row must equal the row of a
clean run over the valid images alone, each bad one must be named with what is wrong.
"""
from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explorer.datametrics.engine import compute_frame_metrics, compute_metrics, load_metrics
from explorer.io.images import probe_sizes
from explorer.project.folder import Project
from metrics.headers import MAX_PIXELS

from tests.robustness.badfiles import TOO_LARGE, write_bad, write_tall, write_valid

REPO = Path(__file__).resolve().parents[2]
PIXEL_COLUMNS = ["brightness", "contrast", "sharpness"]


def _messages(stats) -> dict[str, str]:
    return {p.file: p.message for p in stats.problems.problems}


@pytest.mark.parametrize("workers", [1, 2])
def test_bare_folder_each_bad_image_costs_its_own_row(tmp_path, workers):
    valid = write_valid(tmp_path / "clean", 30)
    dirty = tmp_path / "dirty"
    shutil.copytree(tmp_path / "clean", dirty)
    expected = write_bad(dirty, fifo=False)  # the scanner lists regular files only; the FIFO is a project case
    clean, _ = compute_frame_metrics(tmp_path / "clean", progress=False, workers=workers)
    table, stats = compute_frame_metrics(dirty, progress=False, workers=workers)

    messages = _messages(stats)
    for name, what in expected.items():
        assert what in messages[name], (name, messages.get(name))
    assert set(messages) == set(expected)
    # too-large images keep a row: size metrics from the header, pixel metrics NaN
    assert set(table["file_name"]) == set(valid) | set(TOO_LARGE)
    for name, (w, h) in TOO_LARGE.items():
        row = table[table["file_name"] == name].iloc[0]
        assert all(math.isnan(row[c]) for c in PIXEL_COLUMNS)
        assert row["image_width"] == w and row["image_height"] == h
    ok = table[table["file_name"].isin(valid)].reset_index(drop=True)
    pd.testing.assert_frame_equal(ok.drop(columns="uniqueness"), clean.drop(columns="uniqueness"))


def test_valid_1x65535_png_is_decoded_not_crashed(tmp_path):
    folder = tmp_path / "images"
    write_valid(folder, 2)
    name = write_tall(folder)
    table, stats = compute_frame_metrics(folder, progress=False, workers=1)
    assert len(stats.problems) == 0
    row = table[table["file_name"] == name].iloc[0]
    assert row["image_width"] == 1 and row["image_height"] == 65535
    assert np.isfinite(row["brightness"])


def test_project_with_a_fifo_and_bad_images_does_not_hang_and_keeps_every_valid_row(tmp_path):
    images_dir = tmp_path / "images"
    valid = write_valid(images_dir, 6)
    expected = write_bad(images_dir)
    names = valid + sorted(expected)
    images = pd.DataFrame({"image_id": np.arange(1, len(names) + 1), "file_name": names,
                           "width": 64.0, "height": 48.0, "split": "train"})
    categories = pd.DataFrame({"category_id": [1], "name": ["cat"], "supercategory": [None]})
    project = Project.create(tmp_path / "project", task="detection", images=images, categories=categories,
                             images_root=images_dir)
    stats = compute_metrics(project, progress=False, workers=1)
    messages = _messages(stats)
    assert set(messages) == set(expected)
    for name, what in expected.items():
        assert what in messages[name], (name, messages[name])
    frame = load_metrics(project).frame
    by_name = dict(zip(names, range(1, len(names) + 1)))
    for name in valid:
        assert np.isfinite(frame.loc[by_name[name], PIXEL_COLUMNS]).all()
    for name in expected:
        assert frame.loc[by_name[name], PIXEL_COLUMNS].isna().all()
    for name, (w, h) in TOO_LARGE.items():  # the decoded size replaces the table's 64x48
        assert tuple(frame.loc[by_name[name], ["image_width", "image_height"]]) == (w, h)


def test_cli_bare_folder_with_bad_images_exits_0_and_names_them(tmp_path):
    write_valid(tmp_path / "images", 30)
    expected = write_bad(tmp_path / "images", fifo=False)
    out = tmp_path / "m.parquet"
    done = subprocess.run([sys.executable, "-m", "explorer.cli", "metrics", str(tmp_path / "images"), "--out",
                           str(out), "--no-progress"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for name in expected:
        assert name in done.stdout
    assert len(pd.read_parquet(out)) == 30 + len(TOO_LARGE)


def test_header_probe_gives_sizes_of_bombs_and_names_what_cannot_be_read(tmp_path):
    folder = tmp_path / "images"
    write_valid(folder, 2)
    expected = write_bad(folder)
    write_tall(folder)
    names = ["ok_000.png", "ok_001.jpg", "tall.png", *sorted(expected)]
    width, height, errors = probe_sizes([folder / n for n in names])
    got = {n: (w, h, e) for n, w, h, e in zip(names, width, height, errors)}
    assert got["ok_000.png"] == (64.0, 48.0, None) and got["ok_001.jpg"] == (64.0, 48.0, None)
    assert got["tall.png"] == (1.0, 65535.0, None)
    for name, (w, h) in TOO_LARGE.items():  # a size is a size: the bound is applied where pixels are decoded
        assert got[name] == (float(w), float(h), None) and w * h > MAX_PIXELS
    assert "empty file (0 bytes)" in got["zero.jpg"][2]
    assert "not a regular file" in got["pipe.jpg"][2]
    assert "no readable image header" in got["text.jpg"][2]


def test_segmentation_masks_too_large_empty_or_fifo_are_named_and_the_valid_ones_kept(tmp_path):
    import os

    import cv2

    from explorer import import_project
    from tests.robustness.badfiles import png_bytes

    images, masks = tmp_path / "images", tmp_path / "masks"
    valid = write_valid(images, 4)
    masks.mkdir()
    stems = [Path(n).stem for n in valid]
    for stem in stems[:2]:  # valid class-index masks
        cv2.imwrite(str(masks / f"{stem}.png"), np.tile(np.arange(64, dtype=np.uint8) % 3, (48, 1)))
    (masks / f"{stems[2]}.png").write_bytes(png_bytes(25000, 25000))
    (masks / f"{stems[3]}.png").write_bytes(b"")
    project, report = import_project(tmp_path / "project", task="segmentation", images=images, labels=masks,
                                     num_classes=3)
    messages = {Path(p.file).stem: p.message for p in report.problems}
    assert "too large to decode: 25000×25000" in messages[stems[2]]
    assert "empty file (0 bytes)" in messages[stems[3]]
    labelled = set(project.images.loc[project.images["image_id"].isin(project.labels["image_id"]), "file_name"])
    assert labelled == set(valid[:2])
