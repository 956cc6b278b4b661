"""Attribution maps: each format read exactly, each malformation named with its reason, matching, storage, CLI."""
from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from explorer.cli import main
from explorer.errors import ProblemReport, UserError
from explorer.io.attributions import (AttributionError, add_attributions, attribution_index, load_map, match_maps,
                                      read_map)
from explorer.project.folder import Project


def npy_bytes(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


# ---- each format --------------------------------------------------------------------------------------------
def test_png_8_and_16_bit_grey(tmp_path):
    a8 = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    a16 = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000
    cv2.imwrite(str(tmp_path / "a.png"), a8)
    cv2.imwrite(str(tmp_path / "b.png"), a16)
    np.testing.assert_array_equal(read_map(tmp_path / "a.png"), a8.astype(np.float32))
    np.testing.assert_array_equal(read_map(tmp_path / "b.png"), a16.astype(np.float32))
    assert read_map(tmp_path / "b.png").dtype == np.float32


def test_png_rgb_with_equal_channels_is_reduced_and_a_colour_map_refused(tmp_path):
    grey = np.arange(6, dtype=np.uint8).reshape(2, 3) * 40
    cv2.imwrite(str(tmp_path / "g.png"), np.dstack([grey] * 3))
    np.testing.assert_array_equal(read_map(tmp_path / "g.png"), grey)
    cv2.imwrite(str(tmp_path / "jet.png"), cv2.applyColorMap(grey, cv2.COLORMAP_JET))
    with pytest.raises(AttributionError, match="3 different channels"):
        read_map(tmp_path / "jet.png")


def test_npy_float_int_and_one_channel_layouts(tmp_path):
    a = np.array([[0.5, -1.0, 2.0], [3.0, 0.0, 1.25]])
    for name, arr in {"f64": a, "f32": a.astype(np.float32), "chw": a[None], "hwc": a[..., None],
                      "int": (a * 4).astype(np.int16), "fortran": np.asfortranarray(a),
                      "equal3": np.dstack([a] * 3), "big_endian": a.astype(">f8")}.items():
        np.save(tmp_path / f"{name}.npy", arr)
        expected = (a * 4).astype(np.int16) if name == "int" else a
        np.testing.assert_array_equal(read_map(tmp_path / f"{name}.npy"), expected.astype(np.float32), err_msg=name)


def test_npz_first_array_or_named_key(tmp_path):
    a, b = np.ones((2, 2)), np.arange(4.0).reshape(2, 2)
    np.savez(tmp_path / "m.npz", a, b)  # arr_0 first
    np.savez_compressed(tmp_path / "k.npz", logits=np.zeros(3), cam=b)
    np.testing.assert_array_equal(read_map(tmp_path / "m.npz"), a)
    np.testing.assert_array_equal(read_map(tmp_path / "m.npz", key="arr_1"), b)
    np.testing.assert_array_equal(read_map(tmp_path / "k.npz", key="cam"), b)
    with pytest.raises(AttributionError, match=r"no array 'gradcam' in the NPZ archive \(it holds: logits, cam\)"):
        read_map(tmp_path / "k.npz", key="gradcam")
    with pytest.raises(AttributionError, match=r"shape \(3,\) is not a 2-D map"):  # its first array is 1-D
        read_map(tmp_path / "k.npz")


# ---- each malformation ---------------------------------------------------------------------------------------
def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name, data, reason", [
    ("empty.npy", b"", "empty file"),
    ("empty.png", b"", "empty file"),
    ("trunc.npy", npy_bytes(np.ones((40, 40)))[:-100], "truncated: the header announces 12,800 bytes of data, the file holds 12,700"),
    ("trunc_header.npy", npy_bytes(np.ones((4, 4)))[:20], "bad NPY header"),
    ("object.npy", b"", "dtype object is not a numeric map"),
    ("complex.npy", npy_bytes(np.ones((2, 2), complex)), "dtype complex128 is not a numeric map"),
    ("text.npy", npy_bytes(np.array([["a", "b"]])), "is not a numeric map"),
    ("structured.npy", npy_bytes(np.zeros((2, 2), dtype=[("a", "f4"), ("b", "f4")])), "is not a numeric map"),
    ("nan.npy", npy_bytes(np.array([[1.0, np.nan], [np.inf, 0.0]])), "2 of 4 values are NaN or infinite"),
    ("zero_size.npy", npy_bytes(np.zeros((0, 5))), r"empty array \(shape \(0, 5\)\)"),
    ("one_d.npy", npy_bytes(np.ones(5)), r"shape \(5,\) is not a 2-D map"),
    ("four_d.npy", npy_bytes(np.ones((1, 1, 2, 2))), r"shape \(1, 1, 2, 2\) is not a 2-D map"),
    ("rgb.npy", npy_bytes(np.stack([np.zeros((4, 4)), np.ones((4, 4)), np.ones((4, 4))], axis=2)),
     "3 different channels"),
    ("chw.npy", npy_bytes(np.stack([np.zeros((8, 8)), np.ones((8, 8))])), "2 different channels"),
    ("wide3d.npy", npy_bytes(np.ones((6, 6, 6))), "3-D with 6\\+ channels on both ends"),
    ("not.npy", b"hello world, not numpy", "bad NPY header"),
    ("not.png", b"GIF89a....", "not a PNG file"),
    ("not.npz", b"PK\x03\x04garbage", "damaged NPZ archive"),
    ("zip_without_arrays.npz", b"", "NPZ archive without arrays"),
])
def test_malformed_files_are_named_with_their_reason(tmp_path, name, data, reason):
    path = tmp_path / name
    if name == "object.npy":
        np.save(path, np.array([[None, 1]], dtype=object), allow_pickle=True)
    elif name == "zip_without_arrays.npz":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "no arrays")
    else:
        _write(path, data)
    with pytest.raises(AttributionError, match=reason):
        read_map(path)


def test_huge_headers_are_refused_before_allocating(tmp_path):
    # NPY v2 header claiming 4 GiB of header text: refused from the 4-byte length, nothing read
    forged = b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + b"{'descr'"
    with pytest.raises(AttributionError, match="NPY header of 4,294,967,280 bytes"):
        read_map(_write(tmp_path / "h.npy", forged))
    # a valid header announcing 2^40 cells: refused from the shape, the data never allocated
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576), }".ljust(117) + "\n"
    with pytest.raises(AttributionError, match="more than any map"):
        read_map(_write(tmp_path / "big.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()))
    # a PNG whose IHDR claims 100000 x 100000: refused from the header
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0\0\0\0"
    with pytest.raises(AttributionError, match="map of 100000×100000 cells is larger than the bound"):
        read_map(_write(tmp_path / "big.png", png))
    # an NPZ member announcing more than any map, from the zip directory
    big = np.zeros((2100, 2100), np.float64)  # 35 MB < MAX_FILE_BYTES: fine; a forged size is checked below
    with zipfile.ZipFile(tmp_path / "ok.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("arr_0.npy", npy_bytes(big))
    assert read_map(tmp_path / "ok.npz").shape == (2100, 2100)


def test_truncated_png_and_palette_png(tmp_path):
    a = (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)
    ok, png = cv2.imencode(".png", a)
    with pytest.raises(AttributionError, match="truncated or undecodable PNG"):
        read_map(_write(tmp_path / "t.png", png.tobytes()[: len(png) // 2]))
    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 3, 0, 0, 0)
    pal = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0\0\0\0"
    with pytest.raises(AttributionError, match="palette PNG"):
        read_map(_write(tmp_path / "p.png", pal))


def test_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "fifo.npy")
    with pytest.raises(AttributionError, match="not a regular file"):
        read_map(tmp_path / "fifo.npy")


# ---- matching ------------------------------------------------------------------------------------------------
def test_matching_by_relative_path_then_unique_stem():
    images = ["cats/001.jpg", "dogs/001.jpg", "dogs/002.png", "bird.jpg", "x/y/z.jpg"]
    maps = ["cats/001.png", "dogs/001.jpg.npy", "002.npz", "bird.png", "bird.npy", "001.png", "other.png", "z.png"]
    matched, why = match_maps(maps, images)
    assert matched == {0: "cats/001.png", 1: "dogs/001.jpg.npy", 2: "002.npz", 4: "z.png"}
    assert why["bird.png"].startswith("several maps for image 'bird.jpg' (bird.png, bird.npy)")
    assert why["001.png"].startswith("its stem '001' names 2 images")
    assert why["other.png"] == "no image of the project has this name"


# ---- storing in a project ------------------------------------------------------------------------------------
def _project(tmp_path, names=("a.jpg", "sub/b.jpg", "c.jpg")) -> Project:
    images = pd.DataFrame({"image_id": [7, 8, 9][: len(names)], "file_name": list(names), "width": 40.0,
                           "height": 20.0, "split": "val"})
    cats = pd.DataFrame({"category_id": [1], "name": ["cat"], "supercategory": [None]})
    return Project.create(tmp_path / "proj", task="detection", images=images, categories=cats)


def test_add_attributions_keeps_valid_maps_and_names_the_bad_ones(tmp_path):
    project = _project(tmp_path)
    maps = tmp_path / "maps"
    (maps / "sub").mkdir(parents=True)
    np.save(maps / "a.npy", np.array([[1.0, 2.0], [3.0, 4.0]]))
    cv2.imwrite(str(maps / "sub" / "b.png"), np.full((5, 10), 200, np.uint8))
    _write(maps / "c.npy", npy_bytes(np.ones((3, 3)))[:-5])
    np.save(maps / "stray.npy", np.ones((2, 2)))
    (maps / "notes.txt").write_text("ignored")
    outside = tmp_path / "secret.npy"
    np.save(outside, np.ones((2, 2)))
    os.symlink(outside, maps / "evil.npy")
    report = add_attributions(project, maps)
    assert report.kept["attributions"] == 2
    problems = {(Path(p.file).name, p.kind): p.message for p in report.problems}
    assert problems[("c.npy", "bad_map")].startswith("truncated: the header announces 72 bytes")
    assert problems[("stray.npy", "unmatched_map")] == "no image of the project has this name"
    assert "points outside the attribution folder" in problems[("evil.npy", "unsafe_path")]
    loaded = Project.load(project.root)
    index = attribution_index(loaded)
    assert sorted(index) == [7, 8] and index[8]["source"] == "sub/b.png" and index[7]["shape"] == [2, 2]
    np.testing.assert_array_equal(load_map(loaded, 7), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(load_map(loaded, 8), np.full((5, 10), 200.0))
    assert load_map(loaded, 9) is None
    assert loaded.manifest["attributions"]["count"] == 2
    with pytest.raises(UserError, match="already has attribution maps; pass --replace"):
        add_attributions(loaded, maps)
    # replacing drops the maps the new set does not cover
    only = tmp_path / "only"
    only.mkdir()
    np.save(only / "c.npy", np.ones((2, 2)))
    add_attributions(loaded, only, replace=True)
    assert sorted(attribution_index(Project.load(project.root))) == [9]
    assert sorted(p.name for p in (project.root / "attributions").glob("*.npy")) == ["9.npy"]


def test_no_usable_map_is_a_user_error(tmp_path):
    project = _project(tmp_path)
    maps = tmp_path / "maps"
    maps.mkdir()
    _write(maps / "a.npy", b"junk")
    with pytest.raises(UserError, match=r"no usable attribution map under .*\(\.png, \.npy, \.npz\) found, "
                                        r"1 problem\(s\)\): .*a.npy: attribution map: bad NPY header"):
        add_attributions(project, maps)
    with pytest.raises(UserError, match="is not a folder of maps"):
        add_attributions(project, tmp_path / "missing")


def test_cli_import_and_add_attributions(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(images / name), np.full((20, 40, 3), 90, np.uint8))
    labels = tmp_path / "labels.csv"
    labels.write_text("image,label\na.png,cat\nb.png,dog\n")
    maps = tmp_path / "maps"
    maps.mkdir()
    np.save(maps / "a.npy", np.eye(4))
    np.save(maps / "b.npy", np.full((2, 2), np.nan))
    out = tmp_path / "proj"
    assert main(["import", "--task", "classification", "--images", str(images), "--labels", str(labels),
                 "--attributions", str(maps), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "attribution maps: 1 images" in text and "b.npy: attribution map: 4 of 4 values are NaN" in text
    report = json.loads((out / "import_report.json").read_text())
    assert report["kept"]["attributions"] == 1 and report["skipped"]["bad_map"] == 1
    np.testing.assert_array_equal(load_map(Project.load(out), 1), np.eye(4))
    # add-attributions: refused without --replace, then replaces
    np.save(maps / "b.npy", np.ones((3, 3)))
    assert main(["add-attributions", str(out), str(maps)]) == 2
    assert "already has attribution maps; pass --replace" in capsys.readouterr().err
    assert main(["add-attributions", str(out), str(maps), "--replace"]) == 0
    assert "stored 2 attribution maps of 2 images" in capsys.readouterr().out
    assert sorted(attribution_index(Project.load(out))) == [1, 2]


def test_import_refuses_attributions_for_a_task_without_images(tmp_path):
    from explorer.io import import_project

    log = tmp_path / "log.csv"
    log.write_text("epoch,train_loss\n1,0.5\n")
    with pytest.raises(UserError, match="attribution maps apply to image-based tasks, not to task 'training'"):
        import_project(tmp_path / "p", task="training", attributions=tmp_path, log=str(log))
    with pytest.raises(UserError, match="must be a folder of attribution maps"):
        import_project(tmp_path / "p", task="classification", attributions=tmp_path / "nope")


def test_add_attributions_updates_computed_metrics(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.full((20, 40, 3), 90, np.uint8))
    labels = tmp_path / "labels.csv"
    labels.write_text("image,label\na.png,cat\n")
    out = tmp_path / "proj"
    assert main(["import", "--task", "classification", "--images", str(images), "--labels", str(labels),
                 "--out", str(out)]) == 0
    assert main(["metrics", str(out)]) == 0
    maps = tmp_path / "maps"
    maps.mkdir()
    np.save(maps / "a.npy", np.array([[1.0, 1.0], [0.0, 0.0]]))
    assert main(["add-attributions", str(out), str(maps)]) == 0
    assert "data metrics updated" in capsys.readouterr().out
    from explorer.datametrics.engine import load_metrics

    frame = load_metrics(out).frame
    assert frame.loc[1, "attribution_entropy"] == 0.5 and frame.loc[1, "attribution_spread"] == 0.25
