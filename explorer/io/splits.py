"""Split assignment (train/val/test or any name) for the ``images`` table.

Sources: a CSV with a header ``file_name,split`` (``file_name`` relative to the image folder; a bare file name
also matches when it is unique in the project), ``"folders"`` (the first folder level of ``file_name`` names
the split: ``train/a.jpg`` → ``train``), or a mapping computed by an importer (YOLO's ``data.yaml``).
Images the source does not mention keep ``split = None`` (reported once); CSV rows naming no image are reported.
"""
from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from explorer.errors import ProblemReport, UserError


def _read_csv(path: Path, report: ProblemReport) -> dict[str, tuple[str, int]]:
    """``{file_name: (split, line)}`` from a splits CSV; bad rows are reported with their line number."""
    file = str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"splits file {path} cannot be read: {e}") from None
    if not rows:
        raise UserError(f"splits file {path} is empty; expected a header 'file_name,split' and one row per image")
    header = [h.strip().lower() for h in rows[0]]
    name_col = next((header.index(c) for c in ("file_name", "image", "filename") if c in header), None)
    if name_col is None or "split" not in header:
        raise UserError(f"{path}: line 1: the header must name the columns 'file_name' and 'split', got {rows[0]}")
    split_col = header.index("split")
    out: dict[str, tuple[str, int]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) <= max(name_col, split_col):
            report.add(file, f"line {line}", f"expected {len(header)} fields, got {len(row)}: {row}", "bad_split_row")
            continue
        name, split = row[name_col].strip().replace("\\", "/"), row[split_col].strip()
        if not name or not split:
            report.add(file, f"line {line}", "empty file_name or split", "bad_split_row")
        elif name in out and out[name][0] != split:
            report.add(file, f"line {line}", f"{name!r} is already assigned to split {out[name][0]!r} at line "
                       f"{out[name][1]}; this row ({split!r}) is skipped", "conflicting_split")
        else:
            out.setdefault(name, (split, line))
    return out


def splits_from_csv(images: pd.DataFrame, path: str | Path, report: ProblemReport) -> np.ndarray:
    """``(n_images,)`` object array of split names (None when the CSV does not mention the image)."""
    path = Path(path)
    table = _read_csv(path, report)
    names = images["file_name"].astype(str).tolist()
    by_name = {n: k for k, n in enumerate(names)}
    base = pd.Series([PurePosixPath(n).name for n in names])
    unique_base = {b: k for k, (b, dup) in enumerate(zip(base, base.duplicated(keep=False))) if not dup}
    split = np.full(len(names), None, dtype=object)
    for name, (value, line) in table.items():
        k = by_name.get(name, unique_base.get(name))
        if k is None:
            report.add(str(path), f"line {line}", f"file_name {name!r} is not an image of the project", "unknown_file")
        else:
            split[k] = value
    return split


def splits_from_folders(images: pd.DataFrame) -> np.ndarray:
    """The first folder level of each ``file_name`` (None for files at the top of the image folder)."""
    parts = images["file_name"].astype(str).str.split("/", n=1)
    return np.array([p[0] if len(p) > 1 else None for p in parts], dtype=object)


def assign_splits(images: pd.DataFrame, splits, report: ProblemReport, *, source_name: str = "splits") -> pd.DataFrame:
    """Return ``images`` with its ``split`` column set from ``splits`` (CSV path, ``"folders"``, an array
    aligned with ``images``, or None to leave it as is). Images left without a split are reported once."""
    if splits is None:
        return images
    if isinstance(splits, str) and splits == "folders":
        split, source_name = splits_from_folders(images), "folders"
    elif isinstance(splits, (str, Path)):
        if not Path(splits).is_file():
            raise UserError(f"splits {splits} is neither a CSV file 'file_name,split' nor the word 'folders'")
        split, source_name = splits_from_csv(images, splits, report), str(splits)
    else:
        split = np.asarray(splits, dtype=object)
    images = images.assign(split=split)
    missing = images["split"].isna().to_numpy()
    if missing.any() and len(images):
        examples = ", ".join(images["file_name"][missing].astype(str).head(3))
        report.warn(source_name, f"{int(missing.sum())} image(s)", f"no split given for {int(missing.sum())} of "
                    f"{len(images)} images (e.g. {examples}); their split is empty", "no_split")
    return images
