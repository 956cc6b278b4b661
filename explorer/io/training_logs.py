"""Import training logs: MMEngine / MMDetection JSON, Ultralytics ``results.csv``, TensorBoard CSV exports,
MLflow run folders, and any CSV / JSON (records, columns or JSON lines) log — one run or several.

The log table (extra table ``training_log``, see ``explorer.analysis.training``) has one row per logged record:
``run`` (the run's name), ``phase`` (``train`` / ``val``, None when a row holds both), the axes ``step``,
``epoch``, ``timestamp`` (seconds since the Unix epoch), every logged series **under its logged name**
(``coco/bbox_mAP``, ``loss_cls``, ``train/box_loss``, ``lr``), and the canonical series the analysis reads —
``train_loss``, ``val_loss``, ``train_accuracy``, ``val_accuracy`` — derived from the logged ones
(``derive_roles``: an alias such as ``loss`` / ``val/loss`` / ``Val Loss``, else the sum of the phase's loss
components, Ultralytics' ``train/box_loss + train/cls_loss + train/dfl_loss``). What each canonical series was
derived from is kept in the manifest (``sources.derived``), with each run's format, file, params and tags
(``sources.runs``).

Formats (detected from the content, not only the name):

- **MMEngine** ``vis_data/scalars.json`` (and ``<timestamp>.json``): JSON lines; training rows carry ``epoch``,
  ``iter``, ``step`` (= the global iteration), ``lr``, ``loss``, ``loss_cls``…; validation rows only ``step`` and
  the metrics (``coco/bbox_mAP``…). The two phases are on separate step axes: in an epoch-based run a
  validation row's ``step`` is the epoch (it gets ``epoch = step`` and, on the iteration axis, the last training
  step of that epoch); otherwise it is the iteration. ``time`` and ``data_time`` are seconds per iteration
  (series), not timestamps.
- **MMDetection 2.x** ``*.log.json``: JSON lines with ``mode: train | val``; ``iter`` counts within the epoch, so
  the training step is the iteration summed over the epochs before; a validation row sits at its epoch's last
  training step. The first line (``env_info``, ``config``) is metadata, not a record.
- **Ultralytics** ``results.csv``: one row per epoch, space-padded headers (``      train/box_loss``), train and
  validation series on the same row (``phase`` None).
- **TensorBoard CSV** (the dashboard's download): ``Wall time,Step,Value`` per tag, the tag from the file name
  (``run-<run>-tag-<tag>.csv``); a folder of them is merged per run. A wide export (``step,<tag>,<tag>``) is an
  ordinary CSV log.
- **MLflow** run folders: ``<run>/metrics/<key>`` lines ``timestamp value step`` (milliseconds; ``<key>`` may
  contain ``/``), ``params/<name>`` and ``tags/<name>`` (one value per file; ``mlflow.runName`` names the run,
  else ``meta.yaml``'s ``run_name``, else the run id). An experiment or ``mlruns`` folder gives all its runs
  (``run=`` picks one by id or name).
- Any other **CSV / JSON** log: axis columns recognised by name (``step``/``global_step``/``iteration``/``iter``,
  ``epoch``, ``timestamp``/``time``/``wall_time``; when two columns name one axis, the first in that order is
  the axis and the other stays a series), every other numeric column a series.
- A **folder** holding several of these files (``work_dirs/*/vis_data/scalars.json``, ``runs/detect/*/results.csv``)
  gives one run per file, named by its folder.

Timestamps: seconds since the Unix epoch; values above 1e11 are taken as milliseconds (MLflow's unit); ISO date
strings are parsed. An empty cell / JSON null / ``nan`` is "not logged here" (NaN). A bad record is a ``Problem``
naming the file and the record (``line N`` of a CSV or JSON-lines file, ``record i`` of a JSON array) and is
skipped — a value that is text, a list, an object or a boolean, a line that is not JSON, a JSON object with a
repeated key — and the valid records around it are kept; within one run and phase a repeated x value (step,
else epoch) keeps its first row.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.errors import ProblemReport, UserError
from explorer.project.folder import Project
from explorer.io.images import files_inside
from explorer.io.scan import scan_files
from explorer.io.table_files import physical_lines, read_csv
from explorer.project.paths import safe_join
from explorer.analysis.training import TABLE

AXES = ("step", "epoch", "timestamp")
ALIASES = {
    "step": ("step", "global_step", "iteration", "iter", "steps"),
    "epoch": ("epoch", "epochs"),
    "timestamp": ("timestamp", "time", "wall_time", "walltime", "datetime"),
    "train_loss": ("train_loss", "loss", "training_loss", "train_epoch_loss", "train_total_loss"),
    "val_loss": ("val_loss", "valid_loss", "validation_loss", "eval_loss", "val_epoch_loss", "val_total_loss"),
    "train_accuracy": ("train_accuracy", "train_acc", "accuracy", "acc", "training_accuracy"),
    "val_accuracy": ("val_accuracy", "val_acc", "valid_accuracy", "validation_accuracy", "eval_accuracy"),
}
ROLES = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")
#: the values an axis can take (beyond 2**53 a float no longer tells consecutive steps apart; a timestamp, in
#: seconds after the milliseconds rule, lies between 1970 and the year 9999)
AXIS_RANGE = {"step": (-2.0**53, 2.0**53, "beyond ±2**53, which no run logs"),
              "epoch": (-2.0**53, 2.0**53, "beyond ±2**53, which no run logs"),
              "timestamp": (0.0, 253402300799.0, "not a time between 1970 and 9999 (seconds or milliseconds "
                            "since 1970)")}
_CANONICAL = {alias: canon for canon, names in ALIASES.items() for alias in names}
#: a loss component of one phase: ``train/box_loss``, ``val/cls_loss``, ``train_loss_bbox``
_COMPONENT = {"train_loss": re.compile(r"^train[/_.](?:\w+_)?loss(?:_\w+)?$|^train[/_.]loss_\w+$"),
              "val_loss": re.compile(r"^val[/_.](?:\w+_)?loss(?:_\w+)?$|^val[/_.]loss_\w+$")}
TENSORBOARD_HEADER = ["Wall time", "Step", "Value"]
_TB_NAME = re.compile(r"^run[-_](?P<run>.*?)[-_]tag[-_](?P<tag>.+)$")
LOG_FILES = ("scalars.json", "results.csv")  # the usual file names when a folder holds several runs


def normalise_name(name: str) -> str:
    """``"Val/Loss"`` → ``"val_loss"``, then the alias map (``"loss"`` → ``"train_loss"``): how a logged name is
    recognised as an axis or a canonical series (the logged name itself is kept)."""
    key = _key(name)
    return _CANONICAL.get(key, key)


@dataclass
class RunLog:
    """One run read from a log: its table (axes + logged series, optional ``phase``) and where it came from."""

    name: str
    table: pd.DataFrame
    meta: dict = field(default_factory=dict)  # format, source, params, tags


# ---- values ---------------------------------------------------------------------------------------------------
def _timestamps(values: pd.Series) -> np.ndarray:
    """Seconds since the epoch; NaN where a value is present but unreadable."""
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(np.float64, copy=True)
    text = values.notna().to_numpy() & np.isnan(numeric)
    if text.any():
        parsed = pd.to_datetime(values[text].astype(str), errors="coerce", utc=True, format="ISO8601")
        numeric[text] = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(np.float64)
    return np.where(numeric > 1e11, numeric / 1000.0, numeric)


def _to_numbers(raw: pd.DataFrame, records: list[str], source, report: ProblemReport, *,
                timestamp_columns=("timestamp",)) -> tuple[pd.DataFrame, list[str]]:
    """Numeric table from text/objects (``phase`` kept as text); a row with an unreadable value is a problem and
    skipped. Returns the table and the kept rows' record names."""
    out, bad_any = {}, np.zeros(len(raw), dtype=bool)
    for column in raw.columns:
        if column == "phase":
            continue
        values = raw[column].replace("", None)
        present = values.notna().to_numpy()
        kinds = values.map(type)
        # JSON values that are not numbers: a boolean would read as 0/1, a list or an object as nothing
        structured = kinds.isin((bool, list, dict)).to_numpy()
        plain = values.where(~structured, None)
        parsed = (_timestamps(plain) if column in timestamp_columns
                  else pd.to_numeric(plain, errors="coerce").to_numpy(np.float64))
        missing_token = values.astype(str).str.strip().str.lower().isin(("nan", "none", "null")).to_numpy()
        bad = present & (np.isnan(parsed) | structured) & ~missing_token
        infinite = present & np.isinf(parsed)  # "inf", or a number too long for a float
        for i in np.flatnonzero(bad & ~bad_any):
            report.add(source, records[i], f"{column} {_shown(raw[column].iloc[i])} is not a number; row skipped",
                       "bad_value")
        if column in AXES:  # an infinite step or epoch places the row nowhere
            for i in np.flatnonzero(infinite & ~bad & ~bad_any):
                report.add(source, records[i], f"{column} {_shown(raw[column].iloc[i])} is not a finite number; "
                           "row skipped", "bad_value")
            bad = bad | infinite
            lo, hi, what = AXIS_RANGE[column]
            with np.errstate(invalid="ignore"):
                beyond = present & ~bad & ~np.isnan(parsed) & ((parsed < lo) | (parsed > hi))
            for i in np.flatnonzero(beyond & ~bad_any):
                report.add(source, records[i], f"{column} {_shown(raw[column].iloc[i])} is {what}; row skipped",
                           "bad_value")
            bad = bad | beyond
        else:  # a diverged loss is a real value: kept, and said
            for i in np.flatnonzero(infinite & ~bad & ~bad_any):
                report.warn(source, records[i], f"{column} {_shown(raw[column].iloc[i])} is infinite; kept",
                            "infinite_value")
        bad_any |= bad
        out[column] = parsed
    table = pd.DataFrame(out, index=raw.index)
    if "phase" in raw:
        table.insert(0, "phase", raw["phase"].to_numpy(dtype=object))
    table = table.loc[~bad_any].reset_index(drop=True)
    return table, [r for r, b in zip(records, bad_any) if not b]


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _dedupe(table: pd.DataFrame, records: list[str], source, report) -> pd.DataFrame:
    """Order by the x column (step, else epoch) within each phase; rows sharing an x are one record.

    A later row at the same x that only adds series (the evaluator's row at a training step) is merged into the
    first; one that logs a different value of a series already there is a ``duplicate`` problem and skipped
    (the first row's values are kept; timestamps do not count). Without step or epoch the row order is the step.
    """
    key = next((c for c in ("step", "epoch") if c in table and table[c].notna().any()), None)
    if key is None:
        table.insert(0, "step", np.arange(len(table), dtype=np.float64))
        return table
    by = (["phase"] if "phase" in table else []) + [key]
    groups = table[by].fillna({"phase": ""}) if "phase" in table else table[by]
    later = groups.duplicated(keep="first").to_numpy() & table[key].notna().to_numpy()
    if not later.any():
        return table.sort_values(key, kind="stable").reset_index(drop=True)
    values = [c for c in table.columns if c not in (*by, "timestamp")]
    ids = groups.groupby(by, sort=False, dropna=False).ngroup().to_numpy()
    firsts = table[values].groupby(ids).transform("first")
    other = (table[values].notna() & firsts.notna() & (table[values] != firsts)).to_numpy()
    clash = later & other.any(axis=1)
    for i in np.flatnonzero(clash):
        cols = ", ".join(np.asarray(values, dtype=object)[other[i]][:3])
        report.add(source, records[i], f"{key} {table[key].iloc[i]:g} logged again with another {cols}; the first "
                   "row is kept", "duplicate")
    kept = table.loc[~clash].reset_index(drop=True)
    key_na = kept[key].isna().to_numpy()
    ids = ids[~clash]
    ids = np.where(key_na, -1 - np.arange(len(kept)), ids)  # rows without x stay rows of their own
    merged = kept.groupby(ids, sort=False).first()
    return merged.sort_values(key, kind="stable").reset_index(drop=True)


def _key(name: str) -> str:
    return re.sub(r"[/.\-\s]+", "_", str(name).strip().lower())


def _axis_names(columns: list[str]) -> dict[str, str]:
    """Logged column → axis name for the columns that are axes: per axis the first alias in ``ALIASES`` order
    that a column spells (``step`` before ``iter``); a second column naming the same axis stays a series."""
    keys = {c: _key(c) for c in columns}
    mapping: dict[str, str] = {}
    for axis in AXES:
        hit = next((c for alias in ALIASES[axis] for c in columns if keys[c] == alias and c not in mapping), None)
        if hit is not None:
            mapping[hit] = axis
    return mapping


# ---- canonical series -----------------------------------------------------------------------------------------
def derive_roles(table: pd.DataFrame) -> dict[str, str]:
    """Add the canonical ``train_loss, val_loss, train_accuracy, val_accuracy`` columns the table lacks, from
    its logged series; return ``{canonical: what it was derived from}`` (``"loss"``, ``"train/box_loss +
    train/cls_loss"``). A logged alias wins (the first in column order); else a loss is the row-wise sum of its
    phase's loss components (NaN where one is missing)."""
    derived = {}
    series = [c for c in table.columns if c not in ("run", "phase", *AXES, *ROLES)]
    for role in ROLES:
        if role in table:
            continue
        alias = next((c for c in series if normalise_name(c) == role), None)
        if alias is not None:
            table[role] = table[alias].to_numpy(np.float64)
            derived[role] = alias
            continue
        parts = [c for c in series if role in _COMPONENT and _COMPONENT[role].match(c.strip().lower())]
        if parts:
            table[role] = table[parts].sum(axis=1, min_count=len(parts)).to_numpy(np.float64)
            derived[role] = " + ".join(parts)
    return derived


# ---- generic CSV / JSON ---------------------------------------------------------------------------------------
def _generic(raw: pd.DataFrame, records: list[str], source, report) -> pd.DataFrame:
    raw = raw.rename(columns=_axis_names([c for c in raw.columns if c != "phase"]))
    table, kept = _to_numbers(raw, records, source, report)
    return _dedupe(table, kept, source, report)


def _read_csv_log(path: Path, report) -> RunLog:
    raw = read_csv(path, required=(), report=report, what="training log")
    records = [f"line {n}" for n in raw.pop("line")]
    header = list(raw.columns)
    if header == TENSORBOARD_HEADER:
        name, tag = _tensorboard_name(path)
        return RunLog(name, _tensorboard_table(raw, records, tag, path, report), {"format": "tensorboard-csv"})
    if any(c.startswith("train/") for c in header) and any(c.startswith(("metrics/", "val/")) for c in header):
        fmt = "ultralytics"  # results.csv: the same reader, the epoch is the x axis
    else:
        fmt = "csv"
    return RunLog(_run_name(path), _generic(raw, records, path, report), {"format": fmt})


class _Repeated(dict):
    """A JSON object that repeats a key (``json`` would silently keep the last value): a bad record."""

    repeated = ""


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    out = dict(pairs)
    if len(out) != len(keys):
        out = _Repeated(out)
        out.repeated = sorted({k for k in keys if keys.count(k) > 1})[0]
    return out


def _loads(text: str):
    """``json.loads`` that marks objects repeating a key and reads integers as floats (a 5000-digit integer is
    then ``inf``, named as a bad value, instead of Python's int-conversion limit error)."""
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_int=float)


def _json_records(path: Path, report) -> tuple[list, list[str]]:
    """The records of a JSON log and their names: a JSON array (``record i``), a dict of columns, a dict with a
    ``log``/``history``/``records``/``metrics`` list, or JSON lines (``line N``; a line that is not JSON, or an
    object repeating a key, is a problem and skipped)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        data = _loads(text)
    except RecursionError:
        raise UserError(f"{path}: nested too deeply to be a training log") from None
    except json.JSONDecodeError as e:
        if "\n" not in text.strip() or e.lineno == 1 and e.colno == 1:
            raise UserError(f"{path}: not valid JSON or JSON lines (line {e.lineno}, column {e.colno}: {e.msg})") from None
        data = None
    if data is None:  # JSON lines
        items, names = [], []
        for n, line in enumerate(physical_lines(text), start=1):
            if not line.strip():
                continue
            try:
                items.append(_loads(line))
            except (json.JSONDecodeError, RecursionError) as e:
                why = "nested too deeply" if isinstance(e, RecursionError) else f"{e.msg} at column {e.colno}"
                report.add(path, f"line {n}", f"not valid JSON ({why}); line skipped", "bad_row")
                continue
            names.append(f"line {n}")
        return items, names
    if isinstance(data, dict):
        for key in ("log", "history", "records", "metrics"):
            if key in data and isinstance(data[key], (list, dict)):
                data = data[key]
                break
    if isinstance(data, dict):  # columns: {"loss": [...], "val_loss": [...]}
        lengths = {k: len(v) for k, v in data.items() if isinstance(v, list)}
        if not lengths or len(set(lengths.values())) != 1 or len(lengths) != len(data):
            if all(not isinstance(v, (list, dict)) for v in data.values()):  # one JSON line on its own
                return [data], ["line 1"]
            raise UserError(f"{path}: a dict of columns needs lists of equal length, got lengths {lengths}")
        n = next(iter(lengths.values()))
        return [{k: v[i] for k, v in data.items()} for i in range(n)], [f"record {i}" for i in range(n)]
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a list of records or a dict of columns, got {type(data).__name__}")
    return data, [f"record {i}" for i in range(len(data))]


def _storable_text(record: dict) -> bool:
    """True when every key and text value of ``record`` can be stored (UTF-8): a JSON lone surrogate
    (``"\\ud800"``) cannot, and would abort writing the whole table."""
    try:
        "".join(k for k in record if type(k) is str).encode("utf-8")
        "".join(v for v in record.values() if type(v) is str).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _objects(items: list, names: list[str], path, report) -> tuple[list[dict], list[str]]:
    rows, records = [], []
    for item, name in zip(items, names):
        if isinstance(item, _Repeated):
            report.add(path, name, f"repeats the key {item.repeated!r}; record skipped", "bad_row")
        elif isinstance(item, dict) and not _storable_text(item):
            report.add(path, name, "holds a key or text that is not valid Unicode (a lone surrogate such as "
                       "\\ud800); record skipped", "bad_row")
        elif isinstance(item, dict):
            rows.append(item)
            records.append(name)
        else:
            report.add(path, name, f"expected an object, got {type(item).__name__}", "bad_row")
    return rows, records


def _read_json_log(path: Path, report) -> RunLog:
    items, names = _json_records(path, report)
    if any(isinstance(i, dict) and "mode" in i for i in items):
        return _mmdet2(items, names, path, report)
    rows, records = _objects(items, names, path, report)
    if any("iter" in r for r in rows) and any("step" in r for r in rows):
        return _mmengine(rows, records, path, report)
    raw = pd.DataFrame(rows, dtype=object) if rows else pd.DataFrame()
    return RunLog(_run_name(path), _generic(raw, records, path, report), {"format": "json"})


# ---- MMEngine / MMDetection -----------------------------------------------------------------------------------
_MM_SERIES_TIME = ("time", "data_time")  # seconds per iteration, not wall-clock timestamps


def _mmengine(rows: list[dict], records: list[str], path: Path, report) -> RunLog:
    """MMEngine ``scalars.json`` (module docstring): train rows have ``iter``; validation rows only ``step``."""
    phase = ["train" if ("iter" in r or "lr" in r) else "val" for r in rows]
    rows = [{k: v for k, v in r.items() if not k.endswith("_copypaste")} for r in rows]
    raw = pd.DataFrame(rows, dtype=object)
    raw["phase"] = phase
    table, kept = _to_numbers(raw, records, path, report, timestamp_columns=())
    train = table["phase"].to_numpy() == "train"
    step = table["step"].to_numpy(np.float64) if "step" in table else np.full(len(table), np.nan)
    it = table["iter"].to_numpy(np.float64) if "iter" in table else np.full(len(table), np.nan)
    step = np.where(train & np.isnan(step), it, step)
    epoch = table["epoch"].to_numpy(np.float64) if "epoch" in table else np.full(len(table), np.nan)
    by_epoch = bool(np.isfinite(epoch[train]).any())
    val = ~train
    if by_epoch and val.any():
        # a validation row's step is its epoch: place it at that epoch's last training step
        epoch = np.where(val, step, epoch)
        last = pd.Series(step[train]).groupby(epoch[train]).max()
        step = np.where(val, last.reindex(epoch).to_numpy(np.float64), step)
    table = table.drop(columns=[c for c in ("iter",) if c in table])
    table["step"], table["epoch"] = step, epoch
    return RunLog(_run_name(path), _dedupe(table, kept, path, report), {"format": "mmengine"})


def _mmdet2(items: list, names: list[str], path: Path, report) -> RunLog:
    """MMDetection 2.x ``*.log.json`` (module docstring): ``mode`` train/val, ``iter`` within the epoch."""
    rows, records = [], []
    for item, name in zip(items, names):
        if isinstance(item, dict) and "mode" not in item and ("env_info" in item or "config" in item):
            continue  # the run's metadata line
        rows.append(item)
        records.append(name)
    rows, records = _objects(rows, records, path, report)
    phase = [str(r.get("mode")) for r in rows]
    bad = [i for i, p in enumerate(phase) if p not in ("train", "val")]
    for i in bad:
        report.add(path, records[i], f"mode {rows[i].get('mode')!r}: expected 'train' or 'val'", "bad_row")
    keep = [i for i in range(len(rows)) if i not in set(bad)]
    # ``bbox_mAP_copypaste`` repeats the metrics as one text line for pasting: not a series, not an error
    rows = [{k: v for k, v in rows[i].items() if k != "mode" and not k.endswith("_copypaste")} for i in keep]
    records, phase = [records[i] for i in keep], [phase[i] for i in keep]
    for r, p in zip(rows, phase):
        if p == "val":  # the val loop's own counters and the optimiser's lr repeat the training rows'
            for k in ("iter", "lr", "memory", "time", "data_time"):
                r.pop(k, None)
    raw = pd.DataFrame(rows, dtype=object)
    raw["phase"] = phase
    table, kept = _to_numbers(raw, records, path, report, timestamp_columns=())
    train = table["phase"].to_numpy() == "train"
    epoch = table["epoch"].to_numpy(np.float64) if "epoch" in table else np.full(len(table), np.nan)
    it = table["iter"].to_numpy(np.float64) if "iter" in table else np.full(len(table), np.nan)
    per_epoch = pd.Series(it[train]).groupby(epoch[train]).max()
    offset = per_epoch.cumsum().shift(1, fill_value=0.0)  # iterations of the epochs before
    step = np.where(train, offset.reindex(epoch).to_numpy(np.float64) + it, np.nan)
    end = (offset + per_epoch).reindex(epoch).to_numpy(np.float64)
    step = np.where(train, step, end)
    table = table.drop(columns=[c for c in ("iter",) if c in table])
    table["step"], table["epoch"] = step, epoch
    return RunLog(_run_name(path), _dedupe(table, kept, path, report), {"format": "mmdetection"})


# ---- TensorBoard CSV ------------------------------------------------------------------------------------------
def _tensorboard_name(path: Path) -> tuple[str, str]:
    """(run, tag) of a TensorBoard CSV download named ``run-<run>-tag-<tag>.csv`` (else the folder, the stem)."""
    m = _TB_NAME.match(path.stem)
    if m is None:
        return _run_name(path), path.stem
    run = m["run"].strip(".") or _run_name(path)
    return run, m["tag"]


def _tensorboard_table(raw: pd.DataFrame, records: list[str], tag: str, path, report) -> pd.DataFrame:
    raw = raw.rename(columns={"Wall time": "timestamp", "Step": "step", "Value": tag})
    table, kept = _to_numbers(raw, records, path, report)
    return _dedupe(table, kept, path, report)


def _merge_on_step(tables: list[pd.DataFrame]) -> pd.DataFrame:
    out = None
    for t in tables:
        t = t.rename(columns={"timestamp": f"_ts{len(t.columns)}_{id(t)}"})
        out = t if out is None else out.merge(t, on="step", how="outer")
    ts = [c for c in out.columns if c.startswith("_ts")]
    out["timestamp"] = out[ts].min(axis=1)
    return out.drop(columns=ts).sort_values("step").reset_index(drop=True)


# ---- MLflow -------------------------------------------------------------------------------------------------
def mlflow_runs(path: Path) -> list[Path]:
    """The run folders (ones with ``metrics/``) at, or one or two levels under, ``path``."""
    if (path / "metrics").is_dir():
        return [path]
    return sorted({p.parent for p in path.glob("*/metrics/")} | {p.parent for p in path.glob("*/*/metrics/")})


def find_mlflow_run(path: Path, run: str | None = None) -> Path:
    """The one run folder at or under ``path`` (``run``: its id or name, when there are several)."""
    runs = _pick_runs(path, mlflow_runs(path), run)
    if len(runs) > 1:
        raise UserError(f"{path} holds {len(runs)} MLflow runs; choose one with run=: {', '.join(r.name for r in runs)}")
    return runs[0]


def _pick_runs(path: Path, runs: list[Path], run: str | None) -> list[Path]:
    if run is not None:
        runs = [r for r in runs if run in (r.name, _mlflow_run_name(r))]
    if not runs:
        raise UserError(f"{path}: no MLflow run found (expected <run>/metrics/<key> files)"
                        + (f" with run id or name {run!r}" if run else ""))
    return runs


def _small_files(folder: Path, report) -> dict[str, str]:
    """``{name: stripped text}`` of the files in an MLflow ``params/`` or ``tags/`` folder (inside it only)."""
    if not folder.is_dir():
        return {}
    out = {}
    for key, _ in sorted(files_inside(folder, scan_files(folder), report)):
        try:
            out[key] = (folder / key).read_text(encoding="utf-8", errors="replace").strip()[:1000]
        except OSError as e:
            report.add(folder / key, "file", f"cannot be read: {e}", "unreadable_file")
    return out


def _mlflow_run_name(run_dir: Path) -> str:
    tag = run_dir / "tags" / "mlflow.runName"
    if tag.is_file():
        return tag.read_text(encoding="utf-8", errors="replace").strip() or run_dir.name
    meta = run_dir / "meta.yaml"
    if meta.is_file():
        m = re.search(r"^run_name:\s*['\"]?(.+?)['\"]?\s*$", meta.read_text(errors="replace"), re.MULTILINE)
        if m:
            return m.group(1)
    return run_dir.name


def _read_mlflow_run(root: Path, run_dir: Path, report) -> RunLog:
    metrics = run_dir / "metrics"
    # files outside the folder given are never read: the metrics folder must resolve inside it, and each metric
    # file inside the metrics folder (a symlink out of it is a problem, its content never reaches the report)
    safe_join(root, metrics.relative_to(root).as_posix() if metrics != root else ".")
    series = []
    for key, _ in sorted(files_inside(metrics, scan_files(metrics), report), key=lambda kv: Path(kv[0])):
        file = metrics / key
        rows, good = [], []
        for n, line in enumerate(physical_lines(file.read_text(errors="replace")), start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                if len(parts) > 3:
                    raise ValueError
                ts, value, step = float(parts[0]), float(parts[1]), float(parts[2]) if len(parts) > 2 else 0.0
            except (ValueError, IndexError):
                shown = line if len(line) <= 60 else line[:57] + "..."
                report.add(file, f"line {n}", f"expected 'timestamp value step', got {shown!r}", "bad_row")
                continue
            why = next((f"{axis} {x:g} is " + (AXIS_RANGE[axis][2] if math.isfinite(x) else "not a finite number")
                        for axis, x in (("step", step), ("timestamp", ts / 1000.0))
                        if not AXIS_RANGE[axis][0] <= x <= AXIS_RANGE[axis][1]), None)  # (NaN fails too)
            if why:
                report.add(file, f"line {n}", f"{why}; line skipped", "bad_value")
                continue
            if math.isinf(value):  # a diverged loss is a real value (the CSV / JSON rule)
                report.warn(file, f"line {n}", f"{key} {value:g} is infinite; kept", "infinite_value")
            rows.append((ts / 1000.0, value, step))
            good.append(f"line {n}")
        frame = pd.DataFrame(rows, columns=["timestamp", key, "step"])
        dup = frame.duplicated("step", keep="first").to_numpy()
        for i in np.flatnonzero(dup):
            report.add(file, good[i], f"step {frame['step'].iloc[i]:g} logged again; the first value is kept", "duplicate")
        series.append(frame.loc[~dup])
    if not series:
        raise UserError(f"{metrics}: no metric files")
    table = _merge_on_step(series)  # a key named ``epoch`` is the epoch axis as it stands
    meta = {"format": "mlflow", "run_id": run_dir.name, "params": _small_files(run_dir / "params", report),
            "tags": _small_files(run_dir / "tags", report)}
    return RunLog(_mlflow_run_name(run_dir), table, meta)


# ---- files and folders ----------------------------------------------------------------------------------------
def _run_name(path: Path) -> str:
    """A run read from a file is named by its file (``results.csv`` / ``scalars.json`` by the folder the tool
    made: ``runs/detect/train3/results.csv`` → ``train3``, ``work_dir/20240101_120000/vis_data/scalars.json`` →
    ``20240101_120000``)."""
    if path.name in LOG_FILES:
        parent = path.parent.parent if path.parent.name == "vis_data" else path.parent
        return parent.name or path.stem
    return path.stem.removesuffix(".log")


def _read_file(path: Path, report) -> RunLog:
    if path.suffix.lower() in (".json", ".jsonl"):
        return _read_json_log(path, report)
    return _read_csv_log(path, report)


def _log_files(folder: Path, report) -> list[Path]:
    names = [n for n in scan_files(folder)
             if n.lower().endswith((".csv", ".json", ".jsonl")) and "/." not in f"/{n}"]
    return sorted(folder / n for n, _ in files_inside(folder, names, report))


def read_runs(path, *, run: str | None = None, report: ProblemReport | None = None) -> list[RunLog]:
    """Every run at ``path``: a log file, an MLflow run / experiment / ``mlruns`` folder, a folder of TensorBoard
    CSV downloads, or a folder of log files (one run each). ``run`` keeps the run of that name (or MLflow id)."""
    report = report if report is not None else ProblemReport()
    path = Path(path)
    if path.is_file():
        runs = [_read_file(path, report)]
    elif not path.is_dir():
        raise UserError(f"training log {path} not found")
    elif mlflow_runs(path):
        runs = [_read_mlflow_run(path, r, report) for r in _pick_runs(path, mlflow_runs(path), run)]
        run = None
    else:
        files = _log_files(path, report)
        if not files:
            raise UserError(f"{path}: no training log (a CSV/JSON log, an MLflow run, TensorBoard CSV exports)")
        runs = _group_tensorboard([_from_file(f, report) for f in files])
    for r in runs:
        r.meta.setdefault("source", str(path))
    names = [r.name for r in runs]
    for i, r in enumerate(runs):  # two files naming the same run: keep both, told apart by a suffix
        if names.count(r.name) > 1:
            r.name = f"{r.name} ({names[:i].count(r.name) + 1})"
    if run is not None:
        runs = [r for r in runs if r.name == run]
        if not runs:
            raise UserError(f"{path}: no run named {run!r}; its runs: {', '.join(names)}")
    return runs


def _from_file(path: Path, report) -> RunLog:
    log = _read_file(path, report)
    log.meta["source"] = str(path)
    return log


def _group_tensorboard(runs: list[RunLog]) -> list[RunLog]:
    """Merge the per-tag TensorBoard downloads of one run on their step; other logs stay as they are."""
    out, tb = [], {}
    for r in runs:
        if r.meta.get("format") == "tensorboard-csv":
            tb.setdefault(r.name, []).append(r)
        else:
            out.append(r)
    for name, parts in tb.items():
        table = _merge_on_step([p.table for p in parts])
        out.append(RunLog(name, table, {"format": "tensorboard-csv",
                                        "source": ", ".join(p.meta.get("source", "") for p in parts)}))
    return out


def _finish(runs: list[RunLog], path) -> tuple[pd.DataFrame, dict]:
    """One table of every run (``run`` column first), the canonical series derived, and the manifest's account."""
    derived: dict[str, str] = {}
    tables = []
    for r in runs:
        t = r.table
        for axis in AXES:
            if axis not in t:
                t[axis] = np.nan
        d = derive_roles(t)
        for role, what in d.items():
            derived.setdefault(role, what)
        t.insert(0, "run", r.name)
        tables.append(t)
    table = pd.concat(tables, ignore_index=True, sort=False) if len(tables) > 1 else tables[0]
    if "phase" in table:
        table["phase"] = table["phase"].astype(object).where(table["phase"].notna(), None)
    if not {"train_loss", "val_loss"} & set(table.columns) or table[[c for c in ("train_loss", "val_loss")
                                                                     if c in table]].isna().all().all():
        logged = [c for c in table.columns if c not in ("run", "phase", *AXES)]
        raise UserError(f"{path}: no loss series; expected a column such as train_loss (or loss, train/box_loss) "
                        f"or val_loss, got {', '.join(map(str, logged)) or 'no series'}")
    first = ["run", "phase", *AXES, *ROLES]
    first = [c for c in first if c in table]
    table = table[first + [c for c in table.columns if c not in first]]
    if "phase" in table and table["phase"].isna().all():
        table = table.drop(columns="phase")
    meta = {"derived": derived, "runs": {r.name: r.meta for r in runs}}
    return table, meta


def read_log(path, *, run: str | None = None, report: ProblemReport | None = None) -> pd.DataFrame:
    """Read a log (file or folder; see the module docstring) into the log table of every run at ``path``."""
    return read_log_with_meta(path, run=run, report=report)[0]


def read_log_with_meta(path, *, run: str | None = None, report: ProblemReport | None = None) -> tuple[pd.DataFrame, dict]:
    """``read_log`` plus what the manifest records: ``derived`` (canonical series ← logged ones) and ``runs``
    (per run: format, source, params, tags)."""
    report = report if report is not None else ProblemReport()
    return _finish(read_runs(path, run=run, report=report), path)


def import_project(out, *, images=None, labels=None, predictions=None, splits=None, name=None, log=None,
                   run=None) -> tuple[Project, ProblemReport]:
    """Build a training-curves project from ``log`` (or ``labels``): a log file or a folder of runs."""
    if log is not None and labels is not None:
        raise UserError("give the training log once: log=... (labels=... is accepted as a synonym)")
    source = log if log is not None else labels
    if source is None:
        raise UserError("a training project needs a log: a CSV/JSON file or an MLflow run folder (log=...)")
    report = ProblemReport()
    table, meta = read_log_with_meta(source, run=run, report=report)
    report.kept.update({"log rows": len(table), "run(s)": len(meta["runs"])})
    empty = {
        "images": pd.DataFrame({"image_id": pd.Series(dtype="int64"), "file_name": pd.Series(dtype=object),
                                "width": pd.Series(dtype="float64"), "height": pd.Series(dtype="float64"),
                                "split": pd.Series(dtype=object)}),
        "categories": pd.DataFrame({"category_id": pd.Series(dtype="int64"), "name": pd.Series(dtype=object),
                                    "supercategory": pd.Series(dtype=object)}),
    }
    project = Project.create(out, task="training", name=name, sources={"log": str(source), **meta}, report=report,
                             extra={TABLE: table}, **empty)
    return project, report
