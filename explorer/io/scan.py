"""THE image scanner: which files under a folder are images, and in which order (pandas-free, cheap to import).

Every importer of every task and the data-metrics engine list an image folder with ``scan_images``, so an image
gets the same ``image_id`` (its 1-based position in this order, where a task numbers images by the scan) whatever
task or command reads the folder. Imports only the standard library: the bare-folder metrics CLI calls it before
pandas is imported.

Rules:

- recursive; ``file_name`` = path relative to the root, ``/``-separated on every OS;
- an image is a regular file (or a symlink to one) whose extension, in any case, is in ``IMAGE_EXTENSIONS``;
- hidden entries are skipped: a file or folder whose name starts with ``.`` (``.ipynb_checkpoints/``,
  macOS ``._a.jpg`` resource forks, ``.thumbnails/``) is never an image of the project;
- symlinked *folders* are not followed (a link loop or a link to ``/`` would scan without end); symlinked files
  are listed, and the caller's ``safe_join`` decides whether their target may be read;
- order: natural sort of the whole relative path (``natural_key``: ``img2.jpg`` < ``img10.jpg``, ``b2/x.jpg`` <
  ``b10/x.jpg``; text between the numbers compares as plain, case-sensitive strings), ties between spellings of
  the same numbers (``img02`` / ``img2``) broken by plain string order, so the order never depends on the file
  system's listing order.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple:
    """Sort key that orders ``"2"`` before ``"10"`` and ``"img2"`` before ``"img10"``.

    The text is split into digit runs (compared as integers) and the text between them (compared as strings);
    ``(parts, text)``: the text itself breaks ties, so two names that differ only in leading zeros always sort
    the same way.
    """
    text = str(text)
    parts = tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in _DIGITS.split(text) if part)
    return parts, text


def is_image_name(name: str) -> bool:
    """True for a visible file name with an image extension (``a.JPG`` yes, ``.a.jpg`` / ``a.txt`` no)."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _walk(root: str | Path, accept) -> list[str]:
    """Visible regular files under ``root`` whose name ``accept`` takes, relative, natural order (the rules above).

    ``os.scandir`` entries know their type from the directory listing, so regular files cost no ``stat`` call.
    """
    found: list[str] = []
    stack = [("", os.fspath(root))]
    while stack:
        prefix, folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                entries = list(entries)
        except (FileNotFoundError, NotADirectoryError):  # a missing root, or a folder removed while scanning
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append((prefix + entry.name + "/", entry.path))
            elif accept(entry.name) and entry.is_file():  # follows a symlink: a dangling link is no file
                found.append(prefix + entry.name)
    found.sort(key=natural_key)
    return found


def scan_images(root: str | Path) -> list[str]:
    """Relative ``/``-separated paths of every image under ``root``, in natural order (see the module rules).

    A ``root`` that does not exist or is not a folder gives ``[]``; the caller says what that means (nothing
    to import, nothing to measure).
    """
    return _walk(root, is_image_name)


def scan_files(root: str | Path) -> list[str]:
    """Every visible file under ``root`` (any extension), walked and ordered like ``scan_images``: for importers
    that must also report the files that are not what they expect (a ``.jpg`` among PNG masks)."""
    return _walk(root, bool)
