"""THE image scanner: which files under a folder are images, and in which order (pandas-free, cheap to import).

Every importer of every task and the data-metrics engine list an image folder with ``scan_images``, so an image
gets the same ``image_id`` (its 1-based position in this order, where a task numbers images by the scan) whatever
task or command reads the folder. Imports only the standard library: the bare-folder metrics CLI calls it before
pandas is imported.

Rules:

- recursive; ``file_name`` = path relative to the root, ``/``-separated on every OS;
- an image is a regular file (or a symlink to one) whose extension, in any case, is in ``IMAGE_EXTENSIONS``;
  an entry with such a name that is no regular file (a dangling or looping symlink, a FIFO, a socket, a device)
  is listed too, so that whoever reads it names it as a problem (readers check for a regular file before they
  open anything: a FIFO would block) instead of the scan dropping it without a word;
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
#: characters no file name of a project may hold (a NUL ends a path for the OS; the others are never typed):
#: the C0 and C1 controls and the Unicode line / paragraph separators (an editor shows them as line breaks)
CONTROL_CHARS = frozenset(map(chr, [*range(32), *range(127, 160), 0x2028, 0x2029]))


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
            elif accept(entry.name) and _listed(entry):
                found.append(prefix + entry.name)
    found.sort(key=natural_key)
    return found


def file_name_error(name: str) -> str | None:
    """Why ``name`` cannot be a project's ``file_name``, or None: it must be text a table can store (UTF-8:
    a name the file system gave as undecodable bytes, or a JSON lone surrogate, is not), without control
    characters (``CONTROL_CHARS``), each part at most 255 bytes and the whole at most 4,096 (the file system's
    limits: no file can have a longer name)."""
    try:
        size = [len(part.encode("utf-8")) for part in name.split("/")]
    except UnicodeEncodeError:
        return f"file name {shown_name(name)} is not valid UTF-8 text (rename the file)"
    if not CONTROL_CHARS.isdisjoint(name):
        return f"file name {shown_name(name)} contains a control character"
    if max(size) > 255 or sum(size) > 4096:
        return f"file name {shown_name(name)} is longer than a file system allows (255 bytes a part, 4,096 in all)"
    return None


def file_name_errors(names: list[str]) -> list[tuple[int, str]]:
    """``[(index, file_name_error)]`` of the bad ones among ``names``; one pass over the joined text when all are
    short, valid and free of control characters (the usual case)."""
    joined = "".join(names)
    try:
        joined.encode("utf-8")
        if CONTROL_CHARS.isdisjoint(joined) and max(map(len, names), default=0) <= 63:  # 63 chars <= 252 bytes
            return []
    except UnicodeEncodeError:
        pass
    return [(i, e) for i, n in enumerate(names) if (e := file_name_error(n))]


def shown_name(name: str, *, quoted: bool = True) -> str:
    """``name`` as printable ASCII for a message (escapes for undecodable bytes and control characters; a long
    name shortened in the middle)."""
    text = ascii(name) if quoted else ascii(name)[1:-1]
    return text if len(text) <= 80 else text[:60] + "…" + text[-15:]


def _listed(entry: os.DirEntry) -> bool:
    """Every entry that is not a folder: a regular file, a symlink to one, a symlink that cannot be followed
    (dangling, a loop), a FIFO, socket or device — listed so that its reader names it (every reader checks for a
    regular file before opening: ``explorer.io.images.files_inside`` / ``read_size``, the metrics worker), never
    dropped without a word. A symlink to a folder is not listed (nor followed)."""
    try:
        return not entry.is_dir()  # follows a symlink
    except OSError:  # a link loop: it cannot be followed
        return True


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
