"""Import a classification project: images plus a labels CSV (or a folder per class) and a predictions CSV.

Inputs::

    labels.csv        image,label                      one row per image
    predictions.csv   image,prediction[,score][,<class> or score_<class> ...]
    images/           the images (optional: without them evaluation still works, data metrics are absent)

``labels="folders"`` takes each image's class from the folder that contains it (``images/cat/1.png`` or
``images/train/cat/1.png`` — so ``splits="folders"`` and ``labels="folders"`` combine). ``image`` values are paths
relative to the image folder (a unique base name, or a unique path without extension, is accepted too:
``explorer.io.table_files.match_names``).

Classes (category ids 0..n-1 in this order): the ``classes`` option (a list, a text file with one name a line, or
a ``data.yaml``), else the per-class score columns of the predictions CSV in column order, else the naturally
sorted union of the label and predicted values. A ``score`` (or ``confidence``) column is the prediction's
confidence; otherwise the prediction's score is the score column of the predicted class, or NaN without scores.

Every bad record is a ``Problem`` naming file and line, and the valid rows are kept: unknown image, unknown class,
empty value, duplicate image (first row kept), non-numeric or NaN score (the prediction row is skipped), a score
column naming no class (column ignored), score columns not covering every class (scores ignored, predictions
kept). Missing columns are a ``UserError``.

Tables: ``labels`` (label_id, image_id, category_id; NaN boxes), ``predictions`` (pred_id, image_id,
category_id, score; NaN boxes), extra ``class_scores`` (image_id, category_id, score) when scores are given.
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from explorer.errors import ProblemReport, UserError
from explorer.project.folder import Project
from explorer.evaluation.classification import SCORES_TABLE
from explorer.io.images import image_folder, images_table, scan_images_inside
from explorer.io.scan import natural_key
from explorer.io.table_files import class_list, drop_duplicates, drop_empty, read_csv, report_rows, resolve_images

CONFIDENCE_COLUMNS = ("score", "confidence")


def _score_columns(table: pd.DataFrame) -> dict[str, str]:
    """Per-class score columns of a predictions CSV: ``{column: class name}`` (``score_`` prefix optional)."""
    return {c: (c[len("score_"):] if c.startswith("score_") else c)
            for c in table.columns if c not in ("image", "prediction", "line", *CONFIDENCE_COLUMNS)}


def _labels_from_csv(path, known_images, report) -> pd.DataFrame:
    """Rows ``file_name, label`` of a labels CSV (validated except for class membership)."""
    table = read_csv(path, required=("image", "label"), report=report, what="labels")
    table = drop_empty(report, path, table, ("image", "label"))
    return resolve_images(table, known_images, report, path)


def _labels_from_folders(file_names: list[str], report) -> pd.DataFrame:
    has_folder = np.array(["/" in n for n in file_names], dtype=bool)
    for name in np.asarray(file_names, dtype=object)[~has_folder]:
        report.add("images", name, "image is not inside a class folder; it gets no label", "no_label")
    names = [n for n, ok in zip(file_names, has_folder) if ok]
    return pd.DataFrame({"file_name": names, "label": [n.rsplit("/", 2)[-2] for n in names],
                         "line": np.zeros(len(names), dtype=np.int64)})


def _keep_known_classes(report, path, table, column, index: dict[str, int]) -> pd.DataFrame:
    known = table[column].isin(index).to_numpy()
    report_rows(report, path, table, ~known,
                lambda r: f"unknown class {r[column]!r}; known classes: {', '.join(list(index)[:20])}", "unknown_class")
    table = table.loc[known].reset_index(drop=True)
    table["category_id"] = table[column].map(index).astype(np.int64)
    return table


def _parse_scores(path, table: pd.DataFrame, columns: list[str], report) -> tuple[pd.DataFrame, np.ndarray]:
    """Numeric ``(n, len(columns))`` scores; rows with a non-numeric or NaN score are problems and dropped."""
    if not columns:
        return table, np.zeros((len(table), 0))
    values = table[columns].apply(lambda col: pd.to_numeric(col, errors="coerce")).to_numpy(np.float64)
    bad = ~np.isfinite(values).all(axis=1)
    bad_column = np.asarray(columns, dtype=object)[np.argmax(~np.isfinite(values), axis=1)]
    table = table.assign(_bad_column=bad_column)
    report_rows(report, path, table, bad,
                lambda r: f"score {r['_bad_column']!r} = {r[r['_bad_column']]!r} is not a finite number; "
                          "prediction skipped", "nan_score")
    return table.loc[~bad].drop(columns="_bad_column").reset_index(drop=True), values[~bad]


def import_project(out, *, images=None, labels=None, predictions=None, splits=None, name=None,
                   classes=None, run=None) -> tuple[Project, ProblemReport]:
    """Build a classification project in ``out``; return it with the report of skipped records."""
    if labels is None:
        raise UserError("a classification project needs labels: a CSV 'image,label' or labels='folders'")
    if labels == "folders" and images is None:
        raise UserError("labels='folders' needs the image folder (images=...)")
    report = ProblemReport()
    known_images = scan_images_inside(image_folder(images), report) if images is not None else None

    label_rows = (_labels_from_folders(known_images, report) if labels == "folders"
                  else _labels_from_csv(labels, known_images, report))

    pred_rows, score_map = None, {}
    if predictions is not None:
        pred_rows = read_csv(predictions, required=("image", "prediction"), report=report, what="predictions")
        score_map = _score_columns(pred_rows)

    # the class list, then every class reference checked against it
    names = class_list(classes)
    if names is None and score_map:
        names = list(dict.fromkeys(score_map.values()))
    if names is None:
        values = set(label_rows["label"])
        if pred_rows is not None:
            values |= set(pred_rows["prediction"]) - {""}
        names = sorted(values, key=natural_key)
    index = {n: i for i, n in enumerate(names)}
    label_file = labels if labels != "folders" else "images"
    label_rows = _keep_known_classes(report, label_file, label_rows, "label", index)
    label_rows = drop_duplicates(report, label_file, label_rows)

    if known_images is None:  # no image folder: the labelled images are the images
        known_images = sorted(set(label_rows["file_name"]), key=natural_key)
    image_table = images_table(known_images, images_root=images, splits=splits, report=report)
    image_id = dict(zip(image_table["file_name"], image_table["image_id"]))

    label_table = pd.DataFrame({
        "label_id": np.arange(1, len(label_rows) + 1, dtype=np.int64),
        "image_id": label_rows["file_name"].map(image_id).astype(np.int64),
        "category_id": label_rows["category_id"].to_numpy(np.int64),
    })
    pred_table, scores_table = _predictions(predictions, pred_rows, score_map, known_images, index, image_id, report)

    categories = pd.DataFrame({"category_id": np.arange(len(names), dtype=np.int64), "name": names,
                               "supercategory": None})
    for table in (label_table, pred_table):
        for c in ("x", "y", "w", "h", "area"):
            table[c] = np.nan
    label_table["iscrowd"] = False
    label_table["segmentation"] = None
    pred_table["segmentation"] = None
    report.kept.update({"images": len(image_table), "labels": len(label_table), "predictions": len(pred_table)})
    sources = {k: str(v) for k, v in {"images": images, "labels": labels, "predictions": predictions,
                                      "splits": splits}.items() if v is not None}
    extra = {SCORES_TABLE: scores_table} if scores_table is not None else None
    project = Project.create(out, task="classification", images=image_table, categories=categories,
                             labels=label_table, predictions=pred_table, run=run, images_root=images, name=name,
                             sources=sources, report=report, extra=extra)
    return project, report


def _predictions(path, rows, score_map, known_images, index, image_id, report):
    """``predictions`` table and the long ``class_scores`` table (None without complete score columns)."""
    empty = pd.DataFrame({"pred_id": pd.Series(dtype="int64"), "image_id": pd.Series(dtype="int64"),
                          "category_id": pd.Series(dtype="int64"), "score": pd.Series(dtype="float64")})
    if rows is None:
        return empty, None
    # score columns: every one must name a class, and together they must cover every class
    unknown = [c for c, n in score_map.items() if n not in index]
    for c in unknown:
        report.add(path, "header", f"score column {c!r} names no known class; column ignored", "unknown_class")
    score_cols = [c for c, n in score_map.items() if n in index]
    if len({score_map[c] for c in score_cols}) < len(score_cols):
        report.add(path, "header", "two score columns name the same class; per-class scores ignored", "duplicate")
        score_cols = []
    if score_cols and len({score_map[c] for c in score_cols}) != len(index):
        missing = [n for n in index if n not in {score_map[c] for c in score_cols}]
        report.add(path, "header", f"score columns cover {len(score_cols)} of {len(index)} classes (missing "
                   f"{', '.join(missing[:10])}); per-class scores ignored, predictions kept", "incomplete_scores")
        score_cols = []
    confidence = next((c for c in CONFIDENCE_COLUMNS if c in rows.columns), None)

    rows = resolve_images(drop_empty(report, path, rows, ("image", "prediction")), known_images, report, path)
    rows = _keep_known_classes(report, path, rows, "prediction", index)
    rows, scores = _parse_scores(path, rows, score_cols + ([confidence] if confidence else []), report)
    keep = ~rows.duplicated("file_name", keep="first").to_numpy()
    rows = drop_duplicates(report, path, rows)
    scores = scores[keep]

    category = rows["category_id"].to_numpy(np.int64)
    per_class = None
    if score_cols:  # reorder the score columns into category-id order
        per_class = np.empty((len(rows), len(index)))
        per_class[:, [index[score_map[c]] for c in score_cols]] = scores[:, :len(score_cols)]
    if confidence:
        score = scores[:, -1]
    elif per_class is not None:
        score = per_class[np.arange(len(rows)), category]
    else:
        score = np.full(len(rows), np.nan)
    ids = rows["file_name"].map(image_id).to_numpy(np.int64)
    table = pd.DataFrame({"pred_id": np.arange(1, len(rows) + 1, dtype=np.int64), "image_id": ids,
                          "category_id": category, "score": score})
    if per_class is None:
        return table, None
    scores = per_class
    n_classes = scores.shape[1]
    long = pd.DataFrame({"image_id": np.repeat(ids, n_classes),
                         "category_id": np.tile(np.arange(n_classes, dtype=np.int64), len(ids)),
                         "score": scores.reshape(-1)})
    return table, long
