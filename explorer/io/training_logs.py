"""Import a training log: CSV, JSON (records, columns or JSON lines) or an offline MLflow run directory.

Column names are normalised (lower case; ``/ . - space`` become ``_``) and known aliases map to the canonical
columns of ``explorer.analysis.training``: ``loss`` → ``train_loss``, ``valid_loss``/``validation_loss``/``eval_loss``
→ ``val_loss``, ``acc``/``accuracy`` → ``train_accuracy``, ``val_acc`` → ``val_accuracy``,
``global_step``/``iteration`` → ``step``, ``time``/``wall_time`` → ``timestamp``. Other numeric columns are kept.

Timestamps: seconds since the Unix epoch; values above 1e11 are taken as milliseconds (MLflow's unit); ISO date
strings are parsed. An empty cell is a missing value (NaN). A non-numeric value is a ``Problem`` naming the file
and line/record and the row is skipped; a repeated x value (step, else epoch) keeps the first row.

MLflow layout: ``<run>/metrics/<key>`` files of ``timestamp value step`` lines (``<key>`` may contain ``/``).
Give the run folder, or an experiment / ``mlruns`` folder holding exactly one run (else ``run=<run id>``). Keys
are merged on ``step``; a key named ``epoch`` gives the epoch column.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.errors import ProblemReport, UserError
from explorer.project.folder import Project
from explorer.io.images import files_inside
from explorer.io.scan import scan_files
from explorer.io.table_files import read_csv
from explorer.project.paths import safe_join
from explorer.analysis.training import TABLE

ALIASES = {
    "step": ("step", "global_step", "iteration", "iter", "steps"),
    "epoch": ("epoch", "epochs"),
    "timestamp": ("timestamp", "time", "wall_time", "walltime", "datetime"),
    "train_loss": ("train_loss", "loss", "training_loss", "train_epoch_loss"),
    "val_loss": ("val_loss", "valid_loss", "validation_loss", "eval_loss", "val_epoch_loss"),
    "train_accuracy": ("train_accuracy", "train_acc", "accuracy", "acc", "training_accuracy"),
    "val_accuracy": ("val_accuracy", "val_acc", "valid_accuracy", "validation_accuracy", "eval_accuracy"),
}
_CANONICAL = {alias: canon for canon, names in ALIASES.items() for alias in names}


def normalise_name(name: str) -> str:
    """``"Val/Loss"`` → ``"val_loss"``, then the alias map (``"loss"`` → ``"train_loss"``)."""
    key = re.sub(r"[/.\-\s]+", "_", str(name).strip().lower())
    return _CANONICAL.get(key, key)


def _rename(columns: list[str], source) -> dict[str, str]:
    mapping = {c: normalise_name(c) for c in columns}
    seen: dict[str, str] = {}
    for raw, canon in mapping.items():
        if canon in seen:
            raise UserError(f"{source}: columns {seen[canon]!r} and {raw!r} both mean {canon!r}; keep one of them")
        seen[canon] = raw
    return mapping


def _timestamps(values: pd.Series) -> np.ndarray:
    """Seconds since the epoch; NaN where a value is present but unreadable."""
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(np.float64, copy=True)
    text = values.notna().to_numpy() & np.isnan(numeric)
    if text.any():
        parsed = pd.to_datetime(values[text].astype(str), errors="coerce", utc=True, format="ISO8601")
        numeric[text] = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(np.float64)
    return np.where(numeric > 1e11, numeric / 1000.0, numeric)


def _to_numbers(raw: pd.DataFrame, records: list[str], source, report: ProblemReport) -> pd.DataFrame:
    """Numeric log table from text/objects; rows with an unreadable value are problems and skipped."""
    out, bad_any = {}, np.zeros(len(raw), dtype=bool)
    for column in raw.columns:
        values = raw[column].replace("", None)
        present = values.notna().to_numpy()
        parsed = (_timestamps(values) if column == "timestamp"
                  else pd.to_numeric(values, errors="coerce").to_numpy(np.float64))
        # a JSON NaN/None or an empty cell is "not logged here"; text that is no number is an error
        missing_token = values.astype(str).str.strip().str.lower().isin(("nan", "none", "null")).to_numpy()
        bad = present & np.isnan(parsed) & ~missing_token
        for i in np.flatnonzero(bad & ~bad_any):
            report.add(source, records[i], f"{column} {raw[column].iloc[i]!r} is not a number; row skipped", "bad_value")
        bad_any |= bad
        out[column] = parsed
    table = pd.DataFrame(out).loc[~bad_any]
    kept_records = [r for r, b in zip(records, bad_any) if not b]
    return _dedupe(table.reset_index(drop=True), kept_records, source, report)


def _dedupe(table: pd.DataFrame, records: list[str], source, report) -> pd.DataFrame:
    """Order by the x column (step, else epoch); a repeated x keeps its first row (the others are problems)."""
    key = next((c for c in ("step", "epoch") if c in table and table[c].notna().any()), None)
    if key is None:  # no step or epoch: the row order is the step
        table.insert(0, "step", np.arange(len(table), dtype=np.float64))
        return table
    dup = table.duplicated(key, keep="first").to_numpy() & table[key].notna().to_numpy()
    for i in np.flatnonzero(dup):
        report.add(source, records[i], f"{key} {table[key].iloc[i]:g} logged again; the first row is kept", "duplicate")
    return table.loc[~dup].sort_values(key, kind="stable").reset_index(drop=True)


def _read_csv_log(path, report) -> pd.DataFrame:
    raw = read_csv(path, required=(), report=report, what="training log")
    records = [f"line {n}" for n in raw.pop("line")]
    raw = raw.rename(columns=_rename(list(raw.columns), path))
    return _to_numbers(raw, records, path, report)


def _json_records(path: Path) -> list:
    text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:  # JSON lines
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: not valid JSON or JSON lines ({e})") from None
    if isinstance(data, dict):
        for key in ("log", "history", "records", "metrics"):
            if key in data:
                data = data[key]
                break
    if isinstance(data, dict):  # columns: {"loss": [...], "val_loss": [...]}
        lengths = {k: len(v) for k, v in data.items() if isinstance(v, list)}
        if not lengths or len(set(lengths.values())) != 1 or len(lengths) != len(data):
            raise UserError(f"{path}: a dict of columns needs lists of equal length, got lengths {lengths}")
        n = next(iter(lengths.values()))
        data = [{k: v[i] for k, v in data.items()} for i in range(n)]
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a list of records or a dict of columns, got {type(data).__name__}")
    return data


def _read_json_log(path: Path, report) -> pd.DataFrame:
    data = _json_records(path)
    rows, records = [], []
    for i, item in enumerate(data):
        if isinstance(item, dict):
            rows.append(item)
            records.append(f"record {i}")
        else:
            report.add(path, f"record {i}", f"expected an object, got {type(item).__name__}", "bad_row")
    raw = pd.DataFrame(rows, dtype=object)
    raw = raw.rename(columns=_rename(list(raw.columns), path))
    return _to_numbers(raw, records, path, report)


def find_mlflow_run(path: Path, run: str | None = None) -> Path:
    """The run folder (one with ``metrics/``) at, or one or two levels under, ``path``."""
    if (path / "metrics").is_dir():
        return path
    runs = sorted({p.parent for p in path.glob("*/metrics/")} | {p.parent for p in path.glob("*/*/metrics/")})
    if run is not None:
        runs = [r for r in runs if r.name == run]
    if len(runs) == 1:
        return runs[0]
    if not runs:
        raise UserError(f"{path}: no MLflow run found (expected <run>/metrics/<key> files)"
                        + (f" with run id {run!r}" if run else ""))
    raise UserError(f"{path} holds {len(runs)} MLflow runs; choose one with run=: {', '.join(r.name for r in runs)}")


def _read_mlflow(path: Path, report, run: str | None) -> pd.DataFrame:
    run_dir = find_mlflow_run(path, run)
    metrics = run_dir / "metrics"
    # files outside the folder given are never read: the metrics folder must resolve inside it, and each metric
    # file inside the metrics folder (a symlink out of it is a problem, its content never reaches the report)
    safe_join(path, metrics.relative_to(path).as_posix())
    series = []
    for key, _ in sorted(files_inside(metrics, scan_files(metrics), report), key=lambda kv: Path(kv[0])):
        file = metrics / key
        rows, good = [], []
        for n, line in enumerate(file.read_text().splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                ts, value, step = float(parts[0]), float(parts[1]), float(parts[2]) if len(parts) > 2 else 0.0
                if len(parts) > 3:
                    raise ValueError
            except (ValueError, IndexError):
                report.add(file, f"line {n}", f"expected 'timestamp value step', got {line!r}", "bad_row")
                continue
            rows.append((ts / 1000.0, value, step))
            good.append(f"line {n}")
        frame = pd.DataFrame(rows, columns=["timestamp", "value", "step"])
        dup = frame.duplicated("step", keep="first").to_numpy()
        for i in np.flatnonzero(dup):
            report.add(file, good[i], f"step {frame['step'].iloc[i]:g} logged again; the first value is kept", "duplicate")
        series.append((normalise_name(key), frame.loc[~dup]))
    if not series:
        raise UserError(f"{run_dir / 'metrics'}: no metric files")
    names = [k for k, _ in series]
    dupes = sorted({k for k in names if names.count(k) > 1})
    if dupes:
        raise UserError(f"{run_dir / 'metrics'}: several metric keys mean {', '.join(dupes)}; keep one of them")
    table = None
    for key, frame in series:
        part = frame.rename(columns={"value": key, "timestamp": f"_ts_{key}"})
        table = part if table is None else table.merge(part, on="step", how="outer")
    ts_cols = [c for c in table.columns if c.startswith("_ts_")]
    table["timestamp"] = table[ts_cols].min(axis=1)
    return table.drop(columns=ts_cols).sort_values("step").reset_index(drop=True)


def read_log(path, *, run: str | None = None, report: ProblemReport | None = None) -> pd.DataFrame:
    """Read a CSV/JSON log or an MLflow run into the canonical log table (see the module docstring)."""
    report = report if report is not None else ProblemReport()
    path = Path(path)
    if path.is_dir():
        table = _read_mlflow(path, report, run)
    elif not path.is_file():
        raise UserError(f"training log {path} not found")
    elif path.suffix.lower() in (".json", ".jsonl"):
        table = _read_json_log(path, report)
    else:
        table = _read_csv_log(path, report)
    if not {"train_loss", "val_loss"} & set(table.columns):
        raise UserError(f"{path}: no loss series; expected a column such as train_loss (or loss) or val_loss, "
                        f"got {', '.join(map(str, table.columns))}")
    first = [c for c in ("step", "epoch", "timestamp", "train_loss", "val_loss", "train_accuracy", "val_accuracy")
             if c in table]
    return table[first + [c for c in table.columns if c not in first]]


def import_project(out, *, images=None, labels=None, predictions=None, splits=None, name=None, log=None,
                   run=None) -> tuple[Project, ProblemReport]:
    """Build a training-curves project from ``log`` (or ``labels``): a CSV/JSON file or an MLflow run folder."""
    if log is not None and labels is not None:
        raise UserError("give the training log once: log=... (labels=... is accepted as a synonym)")
    source = log if log is not None else labels
    if source is None:
        raise UserError("a training project needs a log: a CSV/JSON file or an MLflow run folder (log=...)")
    report = ProblemReport()
    table = read_log(source, run=run, report=report)
    report.kept.update({"log rows": len(table)})
    empty = {
        "images": pd.DataFrame({"image_id": pd.Series(dtype="int64"), "file_name": pd.Series(dtype=object),
                                "width": pd.Series(dtype="float64"), "height": pd.Series(dtype="float64"),
                                "split": pd.Series(dtype=object)}),
        "categories": pd.DataFrame({"category_id": pd.Series(dtype="int64"), "name": pd.Series(dtype=object),
                                    "supercategory": pd.Series(dtype=object)}),
    }
    project = Project.create(out, task="training", name=name, sources={"log": str(source)}, report=report,
                             extra={TABLE: table}, **empty)
    return project, report
