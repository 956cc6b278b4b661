"""Content-addressed cache of per-image metric values under ``<project>/cache/metrics/``.

Values are stored in long Parquet tables keyed by *what was computed from what*:

    base.parquet    item, width, height, phash        item = content hash of the image file
    frame.parquet   key, item, value                  key = metric cache key (name, version, code hash)
    boxes.parquet   key, item, box, value             item = hash(image content, level, box coordinates)

so an edited image (new content hash), edited labels of an image (new box hash) or a new/changed metric
(new key) miss the cache and only they are recomputed. New values are streamed to journal files
(``journal-<kind>-<n>.parquet``, one row group per batch) while the run goes; ``commit`` folds the journals
into the tables, keeping only entries of the current items. Journals left by an interrupted run are folded
in at the next start, so finished work is not lost.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from explorer.datametrics.fingerprints import boxes_hash, content_hash  # noqa: F401 (re-exported)

SCHEMAS = {
    "base": pa.schema([("item", pa.string()), ("width", pa.float64()), ("height", pa.float64()), ("phash", pa.int64())]),
    "frame": pa.schema([("key", pa.string()), ("item", pa.string()), ("value", pa.float64())]),
    "boxes": pa.schema([("key", pa.string()), ("item", pa.string()), ("box", pa.int32()), ("value", pa.float64())]),
}
UNIQUE = {"base": ["item"], "frame": ["key", "item"], "boxes": ["key", "item", "box"]}


def _empty(kind: str) -> pd.DataFrame:
    return SCHEMAS[kind].empty_table().to_pandas()


class MetricCache:
    """The cache under ``root`` (a project's ``<project>/cache/metrics``, or a bare folder run's ``cache_dir``).

    A run without a cache passes none at all (``cache=None`` in the engine), so it needs no pandas.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.tables = {kind: _empty(kind) for kind in SCHEMAS}
        self._new: dict[str, list[pd.DataFrame]] = {kind: [] for kind in SCHEMAS}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._run = uuid.uuid4().hex[:8]
        self.root.mkdir(parents=True, exist_ok=True)
        for kind in SCHEMAS:
            parts = []
            path = self.root / f"{kind}.parquet"
            if path.is_file():
                parts.append(pd.read_parquet(path))
            parts += [self._read_journal(p) for p in sorted(self.root.glob(f"journal-{kind}-*.parquet"))]
            parts = [p for p in parts if p is not None and len(p)]
            if parts:
                self.tables[kind] = pd.concat(parts, ignore_index=True).drop_duplicates(UNIQUE[kind], keep="last")

    @staticmethod
    def _read_journal(path: Path) -> pd.DataFrame | None:
        try:
            return pd.read_parquet(path)
        except Exception:  # a journal cut short by a crash: its finished row groups are lost, not the cache
            return None

    def done(self) -> tuple[set[str], dict[str, set[str]], dict[str, set[str]]]:
        """``(base items, {frame key: items}, {box key: items})`` already computed."""
        base = set(self.tables["base"]["item"])
        frame = {k: set(g) for k, g in self.tables["frame"].groupby("key")["item"]} if len(self.tables["frame"]) else {}
        boxes = {k: set(g) for k, g in self.tables["boxes"].groupby("key")["item"]} if len(self.tables["boxes"]) else {}
        return base, frame, boxes

    def append(self, kind: str, rows: pd.DataFrame) -> None:
        """Add freshly computed rows: kept in memory and streamed to this run's journal."""
        if not len(rows):
            return
        arrow = pa.Table.from_pandas(rows, schema=SCHEMAS[kind], preserve_index=False)
        self._new[kind].append(arrow.to_pandas())
        writer = self._writers.get(kind)
        if writer is None:
            writer = pq.ParquetWriter(self.root / f"journal-{kind}-{self._run}.parquet", SCHEMAS[kind])
            self._writers[kind] = writer
        writer.write_table(arrow)

    def table(self, kind: str) -> pd.DataFrame:
        """All entries of a kind, duplicates resolved to the newest."""
        if self._new[kind]:
            parts = [t for t in [self.tables[kind], *self._new[kind]] if len(t)]
            self.tables[kind] = pd.concat(parts, ignore_index=True).drop_duplicates(UNIQUE[kind], keep="last")
            self._new[kind] = []
        return self.tables[kind]

    def commit(self, *, items: set[str]) -> None:
        """Fold the journals into the tables, keeping only entries whose item is in ``items``; close writers."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        for kind in SCHEMAS:
            table = self.table(kind)
            table = table[table["item"].isin(items)]
            tmp = self.root / f".{kind}.{os.getpid()}.tmp"
            pq.write_table(pa.Table.from_pandas(table, schema=SCHEMAS[kind], preserve_index=False), tmp)
            os.replace(tmp, self.root / f"{kind}.parquet")
            for journal in self.root.glob(f"journal-{kind}-*.parquet"):
                journal.unlink(missing_ok=True)

    def close(self) -> None:
        """Close journal writers without committing (an interrupted run: journals stay for the next one)."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
