"""A project: a folder with a small manifest and normalised Parquet tables.

Layout of a project folder::

    project.json          manifest: name, task, image root, sources, table fingerprints
    images.parquet        one row per image          (explorer.project.schema.IMAGES)
    categories.parquet    one row per class          (explorer.project.schema.CATEGORIES)
    labels.parquet        one row per label          (explorer.project.schema.LABELS)
    predictions.parquet   one row per prediction     (explorer.project.schema.PREDICTIONS), optional
    tables/<name>.parquet task-specific extra tables (e.g. a training log)
    import_report.json    every record the importer skipped, with file, record and reason
    metrics/              computed data metrics: frame.parquet, labels.parquet, predictions.parquet
    cache/                per-image metric cache keyed by content fingerprint

Images are read only from inside ``images_root``: ``image_path`` refuses a ``file_name`` that escapes it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from explorer.project import schema
from explorer.errors import ProblemReport, UserError
from explorer.project.paths import safe_join  # noqa: F401  (re-exported: callers import it from here)

MANIFEST = "project.json"
FORMAT_VERSION = 1
TASKS = ("detection", "classification", "segmentation", "regression", "training")
CORE_TABLES = ("images", "categories", "labels", "predictions")


def _sha(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Project:
    """An in-memory project: manifest plus tables. Load with ``Project.load(folder)``."""

    root: Path
    manifest: dict
    images: pd.DataFrame
    categories: pd.DataFrame
    labels: pd.DataFrame
    predictions: pd.DataFrame
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)

    # ---- identity -----------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.manifest.get("name", self.root.name)

    @property
    def task(self) -> str:
        return self.manifest.get("task", "detection")

    @property
    def fingerprint(self) -> str:
        """Content fingerprint of the tables (changes whenever a table is rewritten with new content)."""
        tables = self.manifest.get("tables", {})
        return hashlib.blake2b(json.dumps(tables, sort_keys=True).encode(), digest_size=12).hexdigest()

    @property
    def images_root(self) -> Path | None:
        root = self.manifest.get("images_root")
        if root is None:
            return None
        p = Path(root)
        return p if p.is_absolute() else (self.root / p).resolve()

    @property
    def has_predictions(self) -> bool:
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
        images_root: str | Path | None = None,
        name: str | None = None,
        sources: dict | None = None,
        report: ProblemReport | None = None,
        extra: dict[str, pd.DataFrame] | None = None,
    ) -> "Project":
        """Write a new project folder (tables conformed to ``explorer.project.schema``) and return it loaded."""
        if task not in TASKS:
            raise UserError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format_version": FORMAT_VERSION,
            "name": name or root.name,
            "task": task,
            "images_root": None if images_root is None else str(Path(images_root).resolve()),
            "sources": sources or {},
        }
        project = cls(
            root=root,
            manifest=manifest,
            images=schema.conform(images, "images"),
            categories=schema.conform(categories, "categories"),
            labels=schema.conform(labels if labels is not None else schema.empty("labels"), "labels"),
            predictions=schema.conform(
                predictions if predictions is not None else schema.empty("predictions"), "predictions"
            ),
            extra=dict(extra or {}),
        )
        if report is not None:
            (root / "import_report.json").write_text(json.dumps(report.to_dict(), indent=1))
            manifest["import_summary"] = {"kept": dict(report.kept), "skipped": report.summary()}
        project.save()
        return project

    def save(self) -> None:
        """Write every table and the manifest (with per-table content hashes, hence the fingerprint)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tables = {}
        for name in CORE_TABLES:
            path = self.root / f"{name}.parquet"
            getattr(self, name).to_parquet(path, index=False)
            tables[name] = _sha(path)
        if self.extra:
            (self.root / "tables").mkdir(exist_ok=True)
        for name, df in self.extra.items():
            path = self.root / "tables" / f"{name}.parquet"
            df.to_parquet(path, index=False)
            tables[f"tables/{name}"] = _sha(path)
        self.manifest["tables"] = tables
        (self.root / MANIFEST).write_text(json.dumps(self.manifest, indent=1))

    @classmethod
    def load(cls, root: str | Path) -> "Project":
        """Load a project folder; ``UserError`` if it is not one."""
        root = Path(root)
        manifest_path = root / MANIFEST
        if not manifest_path.is_file():
            raise UserError(f"{root} is not a project folder (no {MANIFEST}); build one with 'explorer import'")
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as e:
            raise UserError(f"{manifest_path}: not valid JSON ({e})") from None
        tables = {}
        for name in CORE_TABLES:
            path = root / f"{name}.parquet"
            tables[name] = pd.read_parquet(path) if path.is_file() else schema.empty(name)
        extra = {}
        for key in manifest.get("tables", {}):
            if key.startswith("tables/"):
                extra[key[len("tables/"):]] = pd.read_parquet(root / f"{key}.parquet")
        return cls(root=root, manifest=manifest, extra=extra, **tables)

    # ---- computed data metrics ----------------------------------------------------------------------------
    @property
    def metrics_dir(self) -> Path:
        return self.root / "metrics"

    def metric_table(self, level: str) -> pd.DataFrame | None:
        """Computed metrics of one level: ``"F"`` (by image_id), ``"O"`` (by label_id), ``"P"`` (by pred_id)."""
        path = self.metrics_dir / {"F": "frame", "O": "labels", "P": "predictions"}[level]
        path = path.with_suffix(".parquet")
        return pd.read_parquet(path) if path.is_file() else None
