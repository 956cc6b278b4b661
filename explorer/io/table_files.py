"""Shared input handling of the table-based task importers (classification, regression): CSV files read with
line numbers, the image folder scan, image sizes and the split assignment.

Every bad record becomes a ``Problem`` naming the file and the line (``line 7``, counting the header as line 1);
a file that cannot be used at all (missing, no header, missing columns) is a ``UserError``.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.errors import ProblemReport, UserError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def natural_key(text: str) -> tuple:
    """Sort key that orders ``"2"`` before ``"10"`` and ``"img2"`` before ``"img10"``."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", str(text)) if part)


def read_csv(path, *, required: tuple[str, ...], report: ProblemReport, what: str) -> pd.DataFrame:
    """Read a CSV as text: DataFrame with the file's columns (stripped strings) plus ``line`` (1 = header).

    Rows with a different number of fields than the header are problems (``bad_row``) and skipped; blank lines
    are ignored. ``UserError`` when the file is missing, empty, or lacks a ``required`` column.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} file {path} not found")
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    numbered = [(i + 1, row) for i, row in enumerate(rows) if any(cell.strip() for cell in row)]
    if not numbered:
        raise UserError(f"{path}: empty file; expected a header with columns {', '.join(required)}")
    header = [c.strip() for c in numbered[0][1]]
    missing = [c for c in required if c not in header]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(required)}, "
                        f"got {', '.join(header) or 'nothing'}")
    if len(set(header)) != len(header):
        dupes = sorted({c for c in header if header.count(c) > 1})
        raise UserError(f"{path}: duplicate column(s) {', '.join(dupes)} in the header")
    good, lines = [], []
    for line, row in numbered[1:]:
        if len(row) != len(header):
            report.add(path, f"line {line}", f"has {len(row)} field(s), the header has {len(header)}", "bad_row")
            continue
        good.append([cell.strip() for cell in row])
        lines.append(line)
    table = pd.DataFrame(good, columns=header, dtype=object) if good else pd.DataFrame(columns=header, dtype=object)
    table["line"] = np.asarray(lines, dtype=np.int64)
    return table


def report_rows(report: ProblemReport, path, table: pd.DataFrame, mask, message, kind: str) -> None:
    """Add one problem per row of ``table`` where ``mask`` holds; ``message`` is a string or a row -> str callable."""
    for _, row in table.loc[np.asarray(mask, dtype=bool)].iterrows():
        text = message(row) if callable(message) else message
        report.add(path, f"line {row['line']}", text, kind)


def drop_duplicates(report: ProblemReport, path, table: pd.DataFrame, column: str = "file_name") -> pd.DataFrame:
    """Keep the first row per image (``column``); every later row is a ``duplicate`` problem naming the first line.

    Run it after the other row checks, so a valid row is not dropped as a duplicate of a rejected one."""
    dup = table.duplicated(column, keep="first").to_numpy()
    if dup.any():
        first_line = table.drop_duplicates(column).set_index(column)["line"]
        report_rows(report, path, table, dup,
                    lambda r: f"image {r[column]!r} already given on line {first_line[r[column]]}; this row is ignored",
                    "duplicate")
    return table.loc[~dup].reset_index(drop=True)


def scan_images(folder) -> list[str]:
    """Image files under ``folder`` (recursive), as sorted '/'-separated relative paths."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"image folder {folder} not found")
    return sorted((p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")), key=natural_key)


def image_sizes(folder, file_names: list[str], report: ProblemReport) -> tuple[np.ndarray, np.ndarray]:
    """``(n,)`` widths and heights read from the image headers (PIL reads no pixels); NaN and an
    ``unreadable_image`` problem for a file that cannot be opened (the image is kept: evaluation needs no pixels)."""
    from PIL import Image, UnidentifiedImageError

    width = np.full(len(file_names), np.nan)
    height = np.full(len(file_names), np.nan)
    for i, name in enumerate(file_names):
        path = Path(folder) / name
        try:
            with Image.open(path) as im:
                width[i], height[i] = im.size
        except (OSError, UnidentifiedImageError) as e:
            report.add(path, name, f"unreadable image ({e.__class__.__name__}); kept without pixels", "unreadable_image")
    return width, height


def resolve_images(table: pd.DataFrame, known: list[str], report: ProblemReport, path, *, column: str = "image") -> pd.DataFrame:
    """Map ``table[column]`` to known image file names; an exact relative path wins, else a unique base name.

    Rows naming no known image (or an ambiguous base name) are ``unknown_image`` problems and dropped.
    Adds ``file_name``.
    """
    known_set = set(known)
    by_base: dict[str, list[str]] = {}
    for name in known:
        by_base.setdefault(name.rsplit("/", 1)[-1], []).append(name)
    names = table[column].astype(str).str.replace("\\", "/", regex=False)
    exact = names.isin(known_set).to_numpy()
    resolved = np.where(exact, names.to_numpy(), None)
    for i in np.flatnonzero(~exact):
        candidates = by_base.get(names.iloc[i], [])
        if len(candidates) == 1:
            resolved[i] = candidates[0]
    unknown = np.equal(resolved, None)
    report_rows(report, path, table, unknown,
                lambda r: f"unknown image {r[column]!r} (not in the image folder)", "unknown_image")
    out = table.loc[~unknown].copy()
    out["file_name"] = resolved[~unknown]
    return out.reset_index(drop=True)


def assign_splits(file_names: list[str], splits, report: ProblemReport) -> np.ndarray:
    """Split per image: ``None`` (no splits), ``"folders"`` (first folder level names the split), or a CSV
    ``file_name,split``. Images the CSV does not list get no split (None)."""
    out = np.full(len(file_names), None, dtype=object)
    if splits is None:
        return out
    if splits == "folders":
        for i, name in enumerate(file_names):
            if "/" in name:
                out[i] = name.split("/", 1)[0]
            else:
                report.add("splits", name, "image is not inside a split folder; it gets no split", "no_split")
        return out
    table = read_csv(splits, required=("file_name", "split"), report=report, what="splits")
    table = table.rename(columns={"file_name": "image"})
    empty = table["split"].eq("").to_numpy()
    report_rows(report, splits, table, empty, "empty split name", "empty_value")
    table = resolve_images(table.loc[~empty].reset_index(drop=True), file_names, report, splits)
    table = drop_duplicates(report, splits, table)
    index = {name: i for i, name in enumerate(file_names)}
    out[[index[n] for n in table["file_name"]]] = table["split"].to_numpy()
    return out


def images_table(file_names: list[str], *, images_root, splits, report: ProblemReport) -> pd.DataFrame:
    """The ``images`` table (``image_id`` 1..n in natural file-name order) with sizes and splits."""
    if images_root is not None:
        width, height = image_sizes(images_root, file_names, report)
    else:
        width = height = np.full(len(file_names), np.nan)
    return pd.DataFrame({
        "image_id": np.arange(1, len(file_names) + 1, dtype=np.int64),
        "file_name": file_names,
        "width": width,
        "height": height,
        "split": assign_splits(file_names, splits, report),
    })


def class_list(classes) -> list[str] | None:
    """Class names from a list or a text file with one name per line (blank lines skipped); None passes.

    ``UserError`` for a missing file, an empty list or repeated names.
    """
    if classes is None:
        return None
    if isinstance(classes, (str, Path)):
        path = Path(classes)
        if not path.is_file():
            raise UserError(f"classes file {path} not found")
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    else:
        names = [str(c) for c in classes]
    if not names:
        raise UserError("the class list is empty")
    if len(set(names)) != len(names):
        raise UserError(f"class names must be unique, but got {names}")
    return names
