"""Image files: checking file names, reading sizes from headers (pixels are not decoded). Scanning a folder for
images is ``explorer.io.scan.scan_images`` (the one scanner).

Every importer funnels its image records through ``attach_image_files``: a ``file_name`` that escapes the
image root is rejected; a missing or unreadable file is reported, and the record is kept when its size is known
(from the label file), so an evaluation-only project still works.

Files outside a folder are never read (docs/importing.md): every file an importer finds in a folder (images,
label files, masks, MLflow metric files) goes through ``files_inside`` / ``scan_images_inside``, which resolve
symlinks with ``explorer.project.paths.safe_join_all`` and report a file that lands outside the folder as an
``unsafe_file_name`` problem instead of reading it.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from explorer.errors import ProblemReport, UserError
from explorer.io.scan import file_name_errors, scan_images, shown_name
from explorer.io.splits import assign_splits
from explorer.project.paths import safe_join, safe_join_all

# Stands in for the image root when a project has no image folder, so that names like "../x" or "/etc/x"
# are still rejected the same way (safe_join never touches the file system for a path that does not exist).
_NO_ROOT = Path("/__explorer_no_image_root__")


def image_folder(path: str | Path) -> Path:
    """The image folder given by the user, checked to exist (``UserError`` otherwise)."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"image folder {path} does not exist or is not a folder")
    return root


def files_inside(folder: Path, names: list[str], report: ProblemReport) -> list[tuple[str, Path]]:
    """``(name, resolved path)`` of each of ``names`` (relative to ``folder``) whose file stays inside ``folder``
    once symlinks are resolved, in order; each other one is an ``unsafe_file_name`` problem and is never read,
    and so is a name that cannot be a ``file_name`` (``file_name_error``) and an entry that is no regular file
    (a FIFO, a broken or looping symlink: ``unreadable_file``)."""
    kept = []
    bad = dict(file_name_errors(names))
    if bad:
        for i, err in bad.items():
            report.add(str(Path(folder) / shown_name(names[i], quoted=False)), shown_name(names[i]),
                       f"{err}; the file is not read", "bad_file_name")
        names = [n for i, n in enumerate(names) if i not in bad]
    for name, path in zip(names, safe_join_all(folder, names)):
        if isinstance(path, UserError):
            report.add(str(Path(folder) / name), name, f"{path}; the file is not read", "unsafe_file_name")
        elif (why := _not_regular(path, Path(folder) / name)) is not None:
            report.add(str(Path(folder) / name), name, f"{why}; the file is not read", "unreadable_file")
        else:
            kept.append((name, path))
    return kept


def _not_regular(path: Path, given: Path) -> str | None:
    """Why ``path`` (``given`` resolved) is not a regular file one may open (a FIFO would block its reader
    forever), or None."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a broken symlink (its target does not exist)" if os.path.islink(given) else "no such file"
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    return None if stat.S_ISREG(mode) else "not a regular file (a FIFO, device, socket or folder)"


def scan_images_inside(root: Path, report: ProblemReport) -> list[str]:
    """``scan_images(root)`` without the images whose file lies outside ``root`` (a symlink out of the folder),
    each reported by ``files_inside``: the images of a per-image task (classification, regression, YOLO)."""
    return [name for name, _ in files_inside(root, scan_images(root), report)]


def read_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the image header (no pixel decoding), read only from a regular file.

    ``OSError`` for a file that is not regular (a FIFO would block forever, a device never ends) or empty;
    ``ValueError`` for no readable header. A header announcing more pixels than Pillow's bomb limit still gives
    its size here (``metrics.headers.stream_size``): whether it may be decoded is the metrics engine's bound.
    """
    import stat

    from metrics.headers import stream_size

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError("not a regular file (a FIFO, device, socket or folder): not read")
        if st.st_size == 0:
            raise OSError("empty file (0 bytes)")
        size = stream_size(f)
    if size is None:
        raise ValueError("no readable image header (not a JPEG/PNG/BMP/TIFF/WebP image, or truncated)")
    return size


def _probe(path: Path) -> tuple[float, float, str | None]:
    if not os.path.lexists(path):
        return np.nan, np.nan, f"image file {path} is missing"
    try:
        w, h = read_size(path)
    except Exception as e:  # any failure means "unreadable", named with its reason
        return np.nan, np.nan, f"image file {path} is unreadable ({e.strerror or e if isinstance(e, OSError) else e})"
    return float(w), float(h), None


def probe_sizes(paths: list[Path]) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Header sizes of ``paths``: ``(width, height)`` float arrays (NaN when missing/unreadable) and per-path
    error messages (None when readable). Reads headers on a few threads (the work is file-system bound)."""
    if not paths:
        return np.empty(0), np.empty(0), []
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(_probe, paths, chunksize=64))
    w, h, err = zip(*results)
    return np.array(w, dtype=np.float64), np.array(h, dtype=np.float64), list(err)


def checked_path(root: Path | None, file_name: str) -> Path:
    """``safe_join`` of ``file_name`` under ``root`` (or under a stand-in root when there is no image folder)."""
    return safe_join(root if root is not None else _NO_ROOT, file_name)


def folder_images(root: Path, report: ProblemReport, *, no_size_reason: str) -> pd.DataFrame:
    """Image records of every image under ``root`` (``explorer.io.scan`` order = ``image_id`` 1..n), sizes read
    from the headers by ``attach_image_files`` (an unreadable file is rejected: ``no_size_reason`` says why its
    size was needed). For importers whose images are the folder's files (images only, YOLO)."""
    names = scan_images_inside(root, report)
    images = pd.DataFrame({"image_id": np.arange(1, len(names) + 1, dtype=np.int64), "file_name": names,
                           "width": np.nan, "height": np.nan})
    return attach_image_files(images, root, report, str(root), lambda k: names[k], no_size_reason=no_size_reason)


def attach_image_files(images: pd.DataFrame, root: Path | None, report: ProblemReport,
                       file: str | Callable[[int], str], record: Callable[[int], str], *,
                       no_size_reason: str = "the label file gives no size",
                       unknown_size_ok: bool = False) -> pd.DataFrame:
    """Check every image record's ``file_name`` and file; return the kept records with sizes filled in.

    ``images`` has ``file_name, width, height`` (NaN = unknown) on a RangeIndex, optionally ``size_error`` (why
    the label file's size was unusable, or None); ``record(i)`` names row ``i`` in ``file`` (a name, or a
    function of the row for one-file-per-image formats) for messages. Rules: a name escaping the root → rejected. With ``root``: a missing/unreadable
    file is reported and the record kept only when the label file gave its size; an unknown size is read from
    the header; a header size that differs from the label file's is flagged (the label file's size is kept,
    since the annotations were made against it). Without ``root`` an unknown size rejects the record, unless
    ``unknown_size_ok`` (COCO: box evaluation needs no size, so the record is kept and flagged).
    """
    n = len(images)
    if not callable(file):
        file = (lambda name: lambda i: name)(file)
    ok = np.ones(n, dtype=bool)
    paths: list[Path | None] = [None] * n
    names = images["file_name"].tolist()
    bad_names = dict(file_name_errors(names))
    # every other name resolved at once (safe_join_all: the folder resolved once, not every name's path)
    good = [i for i in range(n) if i not in bad_names] if bad_names else range(n)
    joined = iter(safe_join_all(root if root is not None else _NO_ROOT, [names[i] for i in good]))
    for i in range(n):
        if i in bad_names:
            report.add(file(i), record(i), f"{bad_names[i]}; the record is skipped", "bad_file_name")
            ok[i] = False
            continue
        path = next(joined)
        if isinstance(path, UserError):
            report.add(file(i), record(i), str(path), "unsafe_file_name")
            ok[i] = False
        else:
            paths[i] = path
    width = images["width"].to_numpy(np.float64).copy()
    height = images["height"].to_numpy(np.float64).copy()
    known = np.isfinite(width) & np.isfinite(height)
    # (pandas' string columns hold a missing message as NaN, which is truthy: only strings are messages)
    size_error = [e if type(e) is str else None for e in images["size_error"].tolist()] if "size_error" in images \
        else [None] * n
    if root is not None:
        idx = np.flatnonzero(ok)
        fw, fh, errors = probe_sizes([paths[i] for i in idx])
        for j, i in enumerate(idx):
            if errors[j] is not None:
                if known[i]:
                    report.warn(file(i), record(i), errors[j] + "; record kept with the size from the label file", "image_file")
                elif unknown_size_ok:
                    why = size_error[i] or no_size_reason
                    report.warn(file(i), record(i), f"{errors[j]} and {why}; record kept with an unknown size", "unknown_size")
                else:
                    why = size_error[i] or no_size_reason
                    report.add(file(i), record(i), f"{errors[j]} and {why}", "image_file")
                    ok[i] = False
            elif not known[i]:
                width[i], height[i] = fw[j], fh[j]
                if size_error[i]:
                    report.warn(file(i), record(i), f"{size_error[i]}; the image file's size {fw[j]:g}x{fh[j]:g} is used", "bad_size")
            elif (fw[j], fh[j]) != (width[i], height[i]):
                report.warn(file(i), record(i), f"image file is {fw[j]:g}x{fh[j]:g} but the label file says "
                            f"{width[i]:g}x{height[i]:g}; the label file's size is kept", "size_mismatch")
    else:
        for i in np.flatnonzero(ok & ~known):
            why = size_error[i] or "no width/height given"
            if unknown_size_ok:
                report.warn(file(i), record(i), f"{why}, and no image folder to read the size from; record kept "
                            "with an unknown size", "unknown_size")
            else:
                report.add(file(i), record(i), f"{why}, and no image folder to read the size from", "unknown_size")
                ok[i] = False
    out = images.assign(width=width, height=height)[ok].drop(columns=["size_error"], errors="ignore")
    return out.reset_index(drop=True)


def header_sizes(root: Path, file_names: list[str], report: ProblemReport) -> tuple[np.ndarray, np.ndarray]:
    """``(n,)`` widths and heights of ``root / name`` from the image headers, NaN for a missing or unreadable file,
    which is flagged (``unreadable_image``) because the per-image tasks keep the image: their labels need no size.
    """
    paths = safe_join_all(root, file_names)  # never a header outside the folder (callers scan with files_inside)
    inside = [i for i, p in enumerate(paths) if not isinstance(p, UserError)]
    width, height = np.full(len(file_names), np.nan), np.full(len(file_names), np.nan)
    errors: list[str | None] = [str(p) if isinstance(p, UserError) else None for p in paths]
    w, h, probed = probe_sizes([paths[i] for i in inside])
    width[inside], height[inside] = w, h
    for j, i in enumerate(inside):
        errors[i] = probed[j]
    for name, error in zip(file_names, errors):
        if error is not None:
            report.warn(Path(root) / name, name, f"{error}; kept without its size", "unreadable_image")
    return width, height


def images_table(file_names: list[str], *, images_root, splits, report: ProblemReport) -> pd.DataFrame:
    """The ``images`` table of a per-image task (classification, regression): ``image_id`` 1..n in the order of
    ``file_names`` (the scan's natural order), header sizes (``header_sizes``; all NaN without ``images_root``)
    and splits (``explorer.io.splits.assign_splits``).
    """
    n = len(file_names)
    width = height = np.full(n, np.nan)
    if images_root is not None:
        width, height = header_sizes(images_root, file_names, report)
    images = pd.DataFrame({"image_id": np.arange(1, n + 1, dtype=np.int64), "file_name": list(file_names),
                           "width": width, "height": height, "split": None})
    return assign_splits(images, splits, report)
