"""The one image scanner: which files are images, and the one order every task and the metrics engine use."""
import os
import subprocess
import sys

import pytest

from explorer.io.scan import IMAGE_EXTENSIONS, natural_key, scan_files, scan_images


def _touch(root, *names):
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_recursive_natural_order_case_insensitive_extensions_hidden_skipped(tmp_path):
    _touch(tmp_path, "img10.jpg", "img2.PNG", "img1.jpeg", "b10/x.tif", "b2/x.TIFF", "b2/notes.txt", "a.webp",
           "a/z.bmp", ".hidden.jpg", "._img3.jpg", ".ipynb_checkpoints/img4.jpg", "sub/.cache/img5.png",
           "noext", "img6.jpg.txt")
    assert scan_images(tmp_path) == ["a.webp", "a/z.bmp", "b2/x.TIFF", "b10/x.tif", "img1.jpeg", "img2.PNG",
                                     "img10.jpg"]
    assert scan_images(str(tmp_path / "b2")) == ["x.TIFF"]


def test_ties_in_numbers_are_broken_by_the_text_and_the_order_is_total():
    names = ["img02.jpg", "img2.jpg", "img002.jpg", "Img2.jpg", "img2a.jpg", "img10.jpg"]
    assert sorted(names, key=natural_key) == ["Img2.jpg", "img002.jpg", "img02.jpg", "img2.jpg", "img2a.jpg",
                                              "img10.jpg"]
    assert sorted(reversed(names), key=natural_key) == sorted(names, key=natural_key)


@pytest.mark.skipif(os.name == "nt", reason="symlinks need privileges on Windows")
def test_symlinked_files_are_listed_symlinked_folders_are_not_followed(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    _touch(root, "a.png")
    _touch(outside, "far.png", "deep/b.png")
    (root / "link.png").symlink_to(outside / "far.png")
    (root / "dangling.png").symlink_to(outside / "gone.png")
    (root / "folder").symlink_to(outside / "deep", target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "loop_a.png").symlink_to(root / "loop_b.png")
    (root / "loop_b.png").symlink_to(root / "loop_a.png")
    # a link that cannot be followed is listed: its reader names it (never dropped without a word)
    assert scan_images(root) == ["a.png", "dangling.png", "link.png", "loop_a.png", "loop_b.png"]


def test_missing_root_or_a_file_gives_no_images(tmp_path):
    _touch(tmp_path, "a.png")
    assert scan_images(tmp_path / "nowhere") == []
    assert scan_images(tmp_path / "a.png") == []


def test_extensions():
    assert IMAGE_EXTENSIONS == {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def test_importing_the_scanner_imports_no_pandas():
    code = "import sys, explorer.io.scan; print('pandas' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_scan_files_walks_like_scan_images_without_the_extension_filter(tmp_path):
    _touch(tmp_path, "m10.png", "m2.png", "notes.txt", ".hidden.png", ".git/x.png", "sub/classes.txt")
    assert scan_files(tmp_path) == ["m2.png", "m10.png", "notes.txt", "sub/classes.txt"]
    assert scan_images(tmp_path) == ["m2.png", "m10.png"]
