"""THE split assigner (train/val/test or any name) of the ``images`` table, for every task's importer.

Sources:

- a CSV with the columns ``file_name`` (or ``image`` / ``filename``) and ``split``, read like every other input
  CSV (``explorer.io.table_files.read_csv``: a row with the wrong number of fields is a ``bad_row`` problem);
  names are matched to the project's images by the one naming rule (``match_names``: exact relative path, else
  a unique base name, else a unique path without extension);
- ``"folders"``: the first folder level of ``file_name`` names the split (``train/a.jpg`` → ``train``);
- an array aligned with ``images`` computed by an importer (YOLO's ``data.yaml``).

Rules, the same for every task: a CSV row with an empty name or split is an ``empty_value`` problem; a row naming
no image of the project is an ``unknown_file`` problem; an image listed again is a ``duplicate`` problem (the
first row wins, whether or not the later one agrees: the CSV is ambiguous either way). Images the source gives
no split (not listed, or at the top of the image folder for ``"folders"``) keep ``split = None``, reported once
as a flagged ``no_split`` summary, not once per image.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from explorer.errors import ProblemReport, UserError
from explorer.io.table_files import drop_duplicates, drop_empty, read_csv, resolve_images

NAME_COLUMNS = ("file_name", "image", "filename")  # first present one names the image


def splits_from_csv(images: pd.DataFrame, path: str | Path, report: ProblemReport) -> np.ndarray:
    """``(n_images,)`` object array of split names (None when the CSV does not give the image one)."""
    table = read_csv(path, required=("split",), report=report, what="splits")
    column = next((c for c in NAME_COLUMNS if c in table.columns), None)
    if column is None:
        raise UserError(f"{path}: missing column file_name; expected file_name,split, got "
                        f"{', '.join(c for c in table.columns if c != 'line')}")
    table = drop_empty(report, path, table, (column, "split"), what="file_name or split")
    names = images["file_name"].astype(str).tolist()
    table = resolve_images(table, names, report, path, column=column,
                           kind="unknown_file", unknown=lambda v: f"file_name {v!r} is not an image of the project")
    table = drop_duplicates(report, path, table)
    row = {name: k for k, name in enumerate(names)}
    split = np.full(len(names), None, dtype=object)
    split[[row[n] for n in table["file_name"]]] = table["split"].to_numpy(dtype=object)
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
