"""Content-addressed cache of per-image metric values under ``<project>/cache/metrics/``.

Values are stored in long Parquet tables keyed by *what was computed from what*:

    base.parquet    item, width, height, phash        item = content hash of the image file
    frame.parquet   key, item, value                  key = metric cache key (name, version, code hash)
    boxes.parquet   key, item, box, value             item = hash(image content, level, box coordinates)

so an edited image (new content hash), edited labels of an image (new box hash) or a new/changed metric
(new key) miss the cache and only they are recomputed.

Crash safety: new values are streamed while the run goes, each batch as one *complete* journal file
(``journal-<kind>-<run>-<n>.parquet``, written to a temp file and moved into place with ``os.replace``), so a
run killed at any instant (SIGKILL included) leaves only whole journal files: the next run folds them in and
decodes none of those images again. ``commit`` writes the tables the same atomic way, then removes the journals.
Every file is checked on read: a table or journal that cannot be read (truncated, garbage, wrong columns) is
treated as missing, so its values are recomputed, and ``notes`` says so (the engine reports it by file name).
"""
from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from explorer.datametrics.fingerprints import boxes_hash, content_hash  # noqa: F401 (re-exported)
from explorer.project.files import atomic_write

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

    A run without a cache passes none at all (``cache=None`` in the engine), so it needs no pandas. One writer
    at a time: the engine holds ``explorer.project.lock.project_lock`` around a run. ``notes``: one message per
    unreadable file met on reading (treated as missing).
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.notes: list[tuple[str, str]] = []  # (file, what happened)
        self.tables = {kind: _empty(kind) for kind in SCHEMAS}
        self._new: dict[str, list[pd.DataFrame]] = {kind: [] for kind in SCHEMAS}
        self._run = uuid.uuid4().hex[:8]
        self._seq = 0
        self.root.mkdir(parents=True, exist_ok=True)
        for tmp in self.root.glob(".*.tmp"):  # a write cut short by a kill (never moved into place)
            tmp.unlink(missing_ok=True)
        for kind in SCHEMAS:
            paths = [self.root / f"{kind}.parquet"] + sorted(self.root.glob(f"journal-{kind}-*.parquet"))
            parts = [self._read(kind, p) for p in paths if p.is_file()]
            parts = [p for p in parts if p is not None and len(p)]
            if parts:
                self.tables[kind] = pd.concat(parts, ignore_index=True).drop_duplicates(UNIQUE[kind], keep="last")

    def _read(self, kind: str, path: Path) -> pd.DataFrame | None:
        """A cache file's rows, or None (noted) when it cannot be read or is not a ``kind`` table."""
        try:
            table = pq.read_table(path)
            if table.schema.names != SCHEMAS[kind].names:
                raise ValueError(f"columns {table.schema.names}, expected {SCHEMAS[kind].names}")
            return table.cast(SCHEMAS[kind]).to_pandas()
        except Exception as e:  # noqa: BLE001 — any failure means a damaged file: recompute, never abort
            reason = " ".join(str(e).split())[:160] or type(e).__name__
            self.notes.append((str(path), f"unreadable metrics cache file ({reason}): treated as missing, "
                                          "its values are computed again"))
            return None

    def done(self) -> tuple[set[str], dict[str, set[str]], dict[str, set[str]]]:
        """``(base items, {frame key: items}, {box key: items})`` already computed."""
        base = set(self.tables["base"]["item"])
        frame = {k: set(g) for k, g in self.tables["frame"].groupby("key")["item"]} if len(self.tables["frame"]) else {}
        boxes = {k: set(g) for k, g in self.tables["boxes"].groupby("key")["item"]} if len(self.tables["boxes"]) else {}
        return base, frame, boxes

    def append(self, kind: str, rows: pd.DataFrame) -> None:
        """Add freshly computed rows: kept in memory and written as one complete journal file (atomically)."""
        if not len(rows):
            return
        arrow = pa.Table.from_pandas(rows, schema=SCHEMAS[kind], preserve_index=False)
        self._new[kind].append(arrow.to_pandas())
        self._seq += 1
        atomic_write(self.root / f"journal-{kind}-{self._run}-{self._seq:06d}.parquet",
                     lambda tmp: pq.write_table(arrow, tmp))

    def table(self, kind: str) -> pd.DataFrame:
        """All entries of a kind, duplicates resolved to the newest."""
        if self._new[kind]:
            parts = [t for t in [self.tables[kind], *self._new[kind]] if len(t)]
            self.tables[kind] = pd.concat(parts, ignore_index=True).drop_duplicates(UNIQUE[kind], keep="last")
            self._new[kind] = []
        return self.tables[kind]

    def commit(self, *, items: set[str]) -> None:
        """Write the tables (journals folded in), keeping only entries whose item is in ``items``; then remove
        the journals. Killed in between, the next run reads both: the journals hold nothing the tables lack."""
        for kind in SCHEMAS:
            table = self.table(kind)
            table = table[table["item"].isin(items)]
            arrow = pa.Table.from_pandas(table, schema=SCHEMAS[kind], preserve_index=False)
            atomic_write(self.root / f"{kind}.parquet", lambda tmp: pq.write_table(arrow, tmp))
            for journal in self.root.glob(f"journal-{kind}-*.parquet"):
                journal.unlink(missing_ok=True)

    def close(self) -> None:
        """An interrupted run: nothing to do, its journal files are complete and stay for the next run."""
