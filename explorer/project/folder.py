"""A project: a folder with a small manifest and normalised Parquet tables.

Layout of a project folder::

    project.json          manifest: name, task, image root, sources, runs, table fingerprints
    images.parquet        one row per image          (explorer.project.schema.IMAGES)
    categories.parquet    one row per class          (explorer.project.schema.CATEGORIES)
    labels.parquet        one row per label          (explorer.project.schema.LABELS)
    predictions.parquet   one row per prediction of every run (schema.PREDICTIONS + ``run``), optional
    tables/<name>.parquet task-specific extra tables (e.g. a training log)
    import_report.json    every record the importer skipped, with file, record and reason
    metrics/              computed data metrics: frame.parquet, labels.parquet, predictions.parquet
    cache/                per-image metric cache keyed by content fingerprint

Runs: a project holds any number of named prediction sets ("runs", e.g. one per model), listed in order in
the manifest's ``runs``; the ``run`` column of ``predictions.parquet`` says which run a row belongs to, and
``pred_id`` is unique across runs. A loaded ``Project`` is a *view* of one run: ``predictions`` holds that run's
rows only (the first run unless ``Project.load(root, run=...)`` or ``for_run(name)`` says otherwise), so every
consumer of ``project.predictions`` works on one model; ``all_predictions`` holds every run. A view's
``fingerprint`` includes its run, so caches keyed by it are keyed by run. Projects written before runs existed
(no manifest ``runs``, no ``run`` column) load as one run named ``"default"``.

Images are read only from inside ``images_root``: ``image_path`` refuses a ``file_name`` that escapes it.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.project import schema
from explorer.errors import ProblemReport, UserError
from explorer.project.files import atomic_parquet, atomic_text, read_parquet
from explorer.project.paths import safe_join  # noqa: F401  (re-exported: callers import it from here)

MANIFEST = "project.json"
#: 1: one set of predictions; 2: predictions carry a ``run`` column and the manifest lists ``runs``
FORMAT_VERSION = 2
CORE_TABLES = ("images", "categories", "labels", "predictions")
#: how to repair a damaged metric table or cache (the one wording: Project.metric_table, load_metrics, the engine)
METRICS_REPAIR = "delete {root}/metrics and run 'explorer metrics {root}' to compute it again"
#: a run name: 1-64 letters, digits, ``_ . + -``, not starting with ``. + -`` (it is shown, typed on the
#: command line and may name files)
RUN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}")


def _sha(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def project_name(root: Path, manifest: dict | None = None) -> str:
    """A project's display name: the manifest's ``name``, else the folder's. ``manifest`` None: read from
    ``root/project.json`` alone (no table is read; a missing or unreadable manifest gives the folder's name), so a
    list of projects can be named without loading them."""
    root = Path(root)
    if manifest is None:
        try:
            manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            manifest = {}
    return manifest.get("name", root.name) if isinstance(manifest, dict) else root.name


def check_run_name(name) -> str:
    """``name`` if it is a valid run name (``RUN_NAME``), else ``UserError`` saying what a run name may hold."""
    if not isinstance(name, str) or not RUN_NAME.fullmatch(name):
        raise UserError(f"run name {name!r}: use 1-64 letters, digits, '_', '.', '+' or '-' "
                        "(starting with a letter, digit or '_')")
    return name


def _runs_in_order(predictions: pd.DataFrame) -> list[str]:
    """The distinct ``run`` values of a predictions table in order of first appearance."""
    return [str(r) for r in pd.factorize(predictions[schema.RUN])[1]]


def _run_rows(predictions: pd.DataFrame) -> dict[str, slice | np.ndarray]:
    """Row positions of each run: a ``slice`` when its rows are contiguous (the stored table keeps them grouped,
    so a view is a cheap slice, not a string comparison over every row), else the positions.

    The column's segments of equal values (``starts``, ``names``) come from Arrow's run-end encoding (string
    compares in C++; 20M rows ~0.2 s, hashing them with ``factorize`` ~0.7 s)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = predictions[schema.RUN]
    if not len(column):
        return {}
    array = pa.array(column.astype(str))  # an Arrow-backed str column: no copy (chunked: one per row group)
    ends, values, offset = [], [], 0
    for chunk in array.chunks if isinstance(array, pa.ChunkedArray) else [array]:
        if len(chunk):
            encoded = pc.run_end_encode(chunk)
            ends.append(np.asarray(encoded.run_ends, dtype=np.int64) + offset)
            values += encoded.values.to_pylist()
            offset += len(chunk)
    ends, values = np.concatenate(ends), np.asarray(values, dtype=object)
    last = np.r_[values[1:] != values[:-1], True]  # a segment spanning two chunks is one segment
    ends, values = ends[last], values[last]
    starts = np.r_[0, ends[:-1]]
    seg_code, names = pd.factorize(values)  # None (no run): -1
    row_code = None
    out = {}
    for k, name in enumerate(names):
        segs = np.flatnonzero(seg_code == k)
        if len(segs) == 1:
            out[str(name)] = slice(int(starts[segs[0]]), int(ends[segs[0]]))
        else:
            row_code = np.repeat(seg_code, ends - starts) if row_code is None else row_code
            out[str(name)] = np.flatnonzero(row_code == k)
    return out


@dataclass(eq=False)
class Project:
    """An in-memory project (manifest plus tables) viewing one run. Load with ``Project.load(folder)``.

    ``all_predictions``: every run's rows (with ``run``); ``predictions``: the rows of ``run`` only (derived,
    a fresh 0..n-1 index). ``run`` None at construction means the first run (None when there are no runs).
    """

    root: Path
    manifest: dict
    images: pd.DataFrame
    categories: pd.DataFrame
    labels: pd.DataFrame
    all_predictions: pd.DataFrame
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)
    run: str | None = None
    predictions: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self):
        self._index_runs()
        runs = self.runs
        if self.run is None:
            self.run = runs[0] if runs else None
        elif self.run not in runs:
            raise UserError(self._unknown_run(self.run))
        self.predictions = self._rows_of(self.run)

    def _index_runs(self) -> None:
        """Row positions of every run of ``all_predictions`` (shared by the views); every run must be listed."""
        self._rows = _run_rows(self.all_predictions)
        stray = set(self._rows) - set(self.runs)
        if stray:
            raise UserError(f"project {self.name!r}: predictions of run(s) {sorted(stray)} that {MANIFEST} does not "
                            f"list (its runs: {self.runs})")

    def _rows_of(self, run: str | None) -> pd.DataFrame:
        preds = self.all_predictions
        if len(self._rows) == 1 and run in self._rows:  # every row is this run's: no copy
            return preds
        return preds.iloc[self._rows.get(run, slice(0, 0))].reset_index(drop=True)

    def _unknown_run(self, name) -> str:
        if not self.runs:
            return f"project {self.name!r} has no predictions, so no run {name!r}"
        return f"project {self.name!r} has no run {name!r}; its runs: {', '.join(self.runs)}"

    # ---- identity -----------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return project_name(self.root, self.manifest)

    @property
    def task(self) -> str:
        return self.manifest.get("task", "detection")

    @property
    def fingerprint(self) -> str:
        """Content fingerprint of the tables and the viewed run (changes whenever a table is rewritten with new
        content; differs between two runs' views of one project)."""
        key = {"tables": self.manifest.get("tables", {}), "run": self.run}
        return hashlib.blake2b(json.dumps(key, sort_keys=True).encode(), digest_size=12).hexdigest()

    @property
    def images_root(self) -> Path | None:
        root = self.manifest.get("images_root")
        if root is None:
            return None
        p = Path(root)
        return p if p.is_absolute() else (self.root / p).resolve()

    @property
    def has_predictions(self) -> bool:
        """Whether the viewed run has prediction rows."""
        return len(self.predictions) > 0

    @property
    def splits(self) -> list[str]:
        s = self.images["split"].dropna().unique().tolist() if "split" in self.images else []
        order = {"train": 0, "val": 1, "validation": 1, "test": 2}
        return sorted((str(x) for x in s), key=lambda x: (order.get(x, 9), x))

    @property
    def category_names(self) -> dict[int, str]:
        return dict(zip(self.categories["category_id"].astype(int), self.categories["name"].astype(str)))

    def image_path(self, file_name: str) -> Path:
        """Absolute path of an image, guaranteed to be inside the image root (``UserError`` otherwise)."""
        if self.images_root is None:
            raise UserError(f"project {self.name!r} has no image folder")
        return safe_join(self.images_root, file_name)

    # ---- runs ---------------------------------------------------------------------------------------------
    @property
    def runs(self) -> list[str]:
        """The run names in order (the manifest's ``runs``); empty when the project has no predictions."""
        return list(self.manifest.get("runs", []))

    def for_run(self, name: str | None = None) -> "Project":
        """A view of run ``name`` (None: the first run) sharing this project's manifest and tables.

        Unknown name: ``UserError`` naming the runs.
        """
        if name is not None and name not in self.runs:
            raise UserError(self._unknown_run(name))
        resolved = name if name is not None else (self.runs[0] if self.runs else None)
        if resolved == self.run:
            return self
        view = copy.copy(self)  # shares the manifest, the tables and the run index
        view.run, view.predictions = resolved, self._rows_of(resolved)
        return view

    def add_predictions(self, predictions: pd.DataFrame, *, run: str, replace: bool = False,
                        source: dict | None = None) -> "Project":
        """Add ``predictions`` (a predictions table, e.g. from an importer) as run ``run``, write the folder and
        return the view of the new run.

        An existing run name is refused unless ``replace=True`` (its rows are then dropped; it keeps its place
        in the order). The rows get new ``pred_id``\\ s, unique across the project: ``pred_id − min(pred_id) + 1
        + max(existing pred_id)`` (order and gaps kept, so a COCO results file's ``pred_id = position + 1`` is
        shifted, never reordered; ids of a replaced run are not reused). ``source`` (e.g. the file it came from)
        is recorded as the manifest's ``sources.runs[run]``. Image and category ids must be the project's
        (``UserError`` otherwise). This project becomes the new state (views made earlier keep the old one);
        computed data metrics do not cover the new rows until ``compute_metrics`` runs again.
        """
        check_run_name(run)
        if run in self.runs and not replace:
            raise UserError(f"project {self.name!r} already has a run {run!r}; pass replace=True (--replace) "
                            "to replace it, or choose another name")
        if schema.RUN in predictions.columns and (predictions[schema.RUN].astype(str) != run).any():
            raise ValueError(f"predictions given for run {run!r} carry other values in their {schema.RUN!r} column")
        new = schema.with_run(predictions.drop(columns=[schema.RUN], errors="ignore"), run)
        if new["pred_id"].duplicated().any():
            raise ValueError("predictions have duplicate pred_id values")
        for col, table, what in (("image_id", self.images, "image"), ("category_id", self.categories, "category")):
            unknown = np.setdiff1d(new[col].to_numpy(np.int64), table[col].to_numpy(np.int64))
            if len(unknown):
                raise UserError(f"run {run!r}: {len(unknown)} {what} id(s) not in project {self.name!r}, "
                                f"e.g. {int(unknown[0])}")
        old = self.all_predictions
        if len(new):
            top = int(old["pred_id"].max()) if len(old) else 0
            new["pred_id"] = new["pred_id"].to_numpy(np.int64) - int(new["pred_id"].min()) + 1 + top
        runs = self.runs if run in self.runs else [*self.runs, run]
        kept = old[old[schema.RUN].to_numpy() != run]
        # rows stay grouped by run in the manifest's order (a replaced run keeps its place)
        parts = [new if r == run else kept[kept[schema.RUN].to_numpy() == r] for r in runs]
        self.all_predictions = pd.concat(parts, ignore_index=True) if len(parts) > 1 else new
        self.manifest = {**self.manifest, "runs": runs, "format_version": FORMAT_VERSION}
        if source is not None:
            sources = dict(self.manifest.get("sources") or {})
            sources["runs"] = {**sources.get("runs", {}), run: source}
            self.manifest["sources"] = sources
        self.run = self.run if self.run is not None else runs[0]
        self._index_runs()
        self.predictions = self._rows_of(self.run)
        self.save(tables=("predictions",))
        return self.for_run(run)

    # ---- persistence --------------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: str | Path,
        *,
        task: str,
        images: pd.DataFrame,
        categories: pd.DataFrame,
        labels: pd.DataFrame | None = None,
        predictions: pd.DataFrame | None = None,
        run: str | None = None,
        runs: list[str] | None = None,
        images_root: str | Path | None = None,
        name: str | None = None,
        sources: dict | None = None,
        report: ProblemReport | None = None,
        extra: dict[str, pd.DataFrame] | None = None,
    ) -> "Project":
        """Write a new project folder (tables conformed to ``explorer.project.schema``) and return it loaded.

        ``run``: the run name of ``predictions`` rows without a ``run`` column (default ``"default"``).
        ``runs``: the run names in order (default: the distinct ``run`` values of ``predictions`` in order of
        appearance); a task whose predictions live in another table (regression: a column of its table) passes
        ``runs=["default"]`` when it has predictions.
        """
        from explorer import tasks  # the registry imports the task modules, which import this one

        if task not in tasks.names():
            raise UserError(f"unknown task {task!r}; expected one of {', '.join(tasks.names())}")
        preds = schema.with_run(predictions if predictions is not None else schema.empty("predictions"),
                                check_run_name(run) if run is not None else schema.DEFAULT_RUN)
        found = _runs_in_order(preds)
        runs = [check_run_name(r) for r in (runs if runs is not None else found)]
        if len(set(runs)) != len(runs) or not set(found) <= set(runs):
            raise ValueError(f"runs {runs} must be distinct and name every run of the predictions ({found})")
        if preds["pred_id"].duplicated().any():
            raise ValueError("predictions have duplicate pred_id values (pred_id is unique across runs)")
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format_version": FORMAT_VERSION,
            "name": name or root.name,
            "task": task,
            "images_root": None if images_root is None else str(Path(images_root).resolve()),
            "sources": sources or {},
            "runs": runs,
        }
        project = cls(
            root=root,
            manifest=manifest,
            images=schema.conform(images, "images"),
            categories=schema.conform(categories, "categories"),
            labels=schema.conform(labels if labels is not None else schema.empty("labels"), "labels"),
            all_predictions=preds,
            extra=dict(extra or {}),
        )
        if report is not None:
            atomic_text(root / "import_report.json", json.dumps(report.to_dict(), indent=1))
            manifest["import_summary"] = {"kept": dict(report.kept), "skipped": report.summary()}
        project.save()
        return project

    def save(self, tables: tuple[str, ...] | None = None) -> None:
        """Write the tables (all, or only the core ``tables`` named) and the manifest with per-table content
        hashes (hence the fingerprint). ``predictions.parquet`` holds every run, whichever run this view shows."""
        self.root.mkdir(parents=True, exist_ok=True)
        hashes = dict(self.manifest.get("tables", {})) if tables is not None else {}
        for name in CORE_TABLES if tables is None else tables:
            path = self.root / f"{name}.parquet"
            atomic_parquet(self.all_predictions if name == "predictions" else getattr(self, name), path)
            hashes[name] = _sha(path)
        if tables is None:
            if self.extra:
                (self.root / "tables").mkdir(exist_ok=True)
            for name, df in self.extra.items():
                path = self.root / "tables" / f"{name}.parquet"
                atomic_parquet(df, path)
                hashes[f"tables/{name}"] = _sha(path)
        self.manifest["tables"] = hashes
        self.manifest["runs"] = self.runs
        atomic_text(self.root / MANIFEST, json.dumps(self.manifest, indent=1))

    @classmethod
    def load(cls, root: str | Path, run: str | None = None) -> "Project":
        """Load a project folder viewing run ``run`` (None: the first); ``UserError`` if it is not a project or
        has no such run. A project written before runs existed is read as one run ``"default"`` (in memory; the
        folder is rewritten in the new layout only when something saves it)."""
        root = Path(root)
        manifest_path = root / MANIFEST
        if not manifest_path.is_file():
            raise UserError(f"{root} is not a project folder (no {MANIFEST}); build one with 'explorer import'")
        repair = f"the project folder is damaged: rebuild it with 'explorer import ... --out {root} --overwrite'"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
            raise UserError(f"{manifest_path}: not valid JSON ({e}); {repair}") from None
        if not isinstance(manifest, dict):
            raise UserError(f"{manifest_path}: not a project manifest (a JSON object); {repair}")
        try:
            version = int(manifest.get("format_version", 1))
        except (TypeError, ValueError):
            raise UserError(f"{manifest_path}: format_version {manifest.get('format_version')!r} is not a "
                            f"number; {repair}") from None
        if version > FORMAT_VERSION:
            raise UserError(f"{root} was written by a newer cv-explorer (project format "
                            f"{manifest['format_version']}, this version reads up to {FORMAT_VERSION}); upgrade it")
        if not isinstance(manifest.get("tables", {}), dict) or not isinstance(manifest.get("runs", []), list):
            raise UserError(f"{manifest_path}: 'tables' must be an object and 'runs' a list; {repair}")
        tables = {}
        for name in CORE_TABLES:
            path = root / f"{name}.parquet"
            # a table the manifest lists was written (save writes every core table): gone, or a folder / FIFO
            # in its place, the project is damaged — never read as an empty table (an empty project, silently)
            listed = name in manifest.get("tables", {})
            tables[name] = read_parquet(path, repair=repair) if listed or path.is_file() else schema.empty(name)
            # a readable table from elsewhere (a file copied over it) must not fail later as a KeyError
            missing = [c for c in schema.SCHEMAS[name] if c not in tables[name].columns]
            if missing:
                raise UserError(f"{path}: not a {name} table (lacks columns {', '.join(missing)}); {repair}")
        preds = tables.pop("predictions")
        # written before runs existed: every prediction is run "default"
        if schema.RUN not in preds.columns:
            preds = schema.with_run(preds, schema.DEFAULT_RUN)
        if "runs" not in manifest:
            manifest["runs"] = _runs_in_order(preds)
        extra = {}
        for key in manifest.get("tables", {}):
            if key.startswith("tables/"):
                extra[key[len("tables/"):]] = read_parquet(root / f"{key}.parquet", repair=repair)
        return cls(root=root, manifest=manifest, extra=extra, all_predictions=preds, run=run, **tables)

    # ---- computed data metrics ----------------------------------------------------------------------------
    @property
    def metrics_dir(self) -> Path:
        return self.root / "metrics"

    def metric_table(self, level: str) -> pd.DataFrame | None:
        """Computed metrics of one level: ``"F"`` (by image_id), ``"O"`` (by label_id), ``"P"`` (by pred_id, every
        run's predictions)."""
        from explorer.datametrics.catalog import LEVEL_FILE  # the one level -> file map

        path = (self.metrics_dir / LEVEL_FILE[level]).with_suffix(".parquet")
        return read_parquet(path, repair=METRICS_REPAIR.format(root=self.root)) if path.is_file() else None
