"""Run the fuzz campaign (``tests.fuzz.generate``) through the real CLI and score every case.

In-process (``explorer.cli.main`` with captured stdout/stderr, a SIGALRM watchdog) for speed; the cases marked
``subprocess`` also run in a child process (``python -m explorer.cli``), so a segfault, an abort or a hang is
seen as such. Scores per family:

- **tracebacks**: an exception escaping ``main`` or a ``Traceback`` printed (counted per case, i.e. per file);
- **crashes/hangs**: a child killed by a signal, or a run past the time limit (per case);
- **valid records lost**: a valid record (or a legal one, e.g. id 0) missing from the project tables;
- **silently accepted garbage**: a malformed record present in the tables with no problem naming it, or a file
  with nothing usable accepted with exit status 0;
- **unclear messages**: a malformed record skipped but not named (file and record locator), a fatal error
  that is not one line naming the file, or a Python warning printed (``x.py:12: RuntimeWarning: overflow ...``).

The large randomised run (any seed, any size)::

    python -m tests.fuzz.run --cases 20000 --seed 12345     # ~20,000 files, ~90,000 malformed inputs (hours)
    python -m tests.fuzz.run --cases 2000 --seed $RANDOM    # ~2,000 files, ~9,000 inputs (~10 minutes)
    python -m tests.fuzz.run --children 8                   # what CI runs (tests/fuzz/test_fuzz_campaign.py)

Exit status 1 when any count other than ``inputs`` is non-zero; the first failures per family are printed.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from tests.fuzz.generate import FAMILIES, Case, generate, voc_key, yolo_key

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ("inputs", "tracebacks", "crashes/hangs", "valid records lost", "silently accepted garbage",
           "unclear messages")
TIME_LIMIT = 60  # seconds per case: far above any case's need (they take milliseconds)


class _Hang(BaseException):
    """Raised by the watchdog (a BaseException: product code catching Exception must not swallow it)."""


def _alarm(signum, frame):
    raise _Hang()


# ---- running ---------------------------------------------------------------------------------------------------
def _argv_list(case: Case, out_suffix: str = "") -> list[list[str]]:
    argvs = case.argv if isinstance(case.argv[0], list) else [case.argv]
    if not out_suffix:
        return argvs
    old, new = str(case.out), str(case.out) + out_suffix
    return [[a.replace(old, new) for a in argv] for argv in argvs]


def run_inprocess(case: Case) -> dict:
    from explorer.cli import main

    out, err = io.StringIO(), io.StringIO()
    rc, exc, hang = 0, None, False
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIME_LIMIT)
    try:
        # every warning shown each time (a filter would show one only once per process, hiding later cases')
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("always")
            for argv in _argv_list(case):
                try:
                    rc = main(argv)
                except SystemExit as e:
                    rc = e.code if isinstance(e.code, int) else 2
                if rc:
                    break
    except _Hang:
        hang = True
        rc = -1
    except Exception:  # noqa: BLE001 - a traceback the user would see: scored, not raised
        import traceback

        exc = traceback.format_exc()
        rc = -1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return {"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue(), "traceback": exc, "hang": hang,
            "crash": None}


def run_subprocess(case: Case, out_suffix: str = "") -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    stdout, stderr, rc, crash, hang = "", "", 0, None, False
    for argv in _argv_list(case, out_suffix):
        try:
            p = subprocess.run([sys.executable, "-m", "explorer.cli", *argv], capture_output=True, env=env,
                               timeout=TIME_LIMIT, cwd=str(case.root))
        except subprocess.TimeoutExpired as e:
            hang, rc = True, -1
            stdout += (e.stdout or b"").decode("utf-8", "replace")
            stderr += (e.stderr or b"").decode("utf-8", "replace")
            break
        stdout += p.stdout.decode("utf-8", "replace")
        stderr += p.stderr.decode("utf-8", "replace")
        rc = p.returncode
        if rc < 0:
            crash = f"killed by signal {-rc}"
        if rc:
            break
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "traceback": None, "hang": hang, "crash": crash}


# ---- reading the result ----------------------------------------------------------------------------------------
def _problem_lines(case: Case, result: dict, out: Path | None) -> list[str]:
    lines = result["stdout"].splitlines() + result["stderr"].splitlines()
    report = None
    if case.command in ("import", "metrics_project") and out is not None:
        report = out / "import_report.json"
    try:  # (a "damaged projects" case may have damaged the report itself: then it names nothing)
        problems = json.loads(report.read_text(encoding="utf-8"))["problems"] if report and report.is_file() else []
    except (ValueError, KeyError, TypeError):
        problems = []
    if problems:
        for p in problems:
            lines.append(f"{p['file']}: {p['record']}: {p['message']}" + (" (kept)" if p["kept"] else ""))
    if case.command == "evaluate" and out is not None and out.is_file():
        for p in json.loads(out.read_text(encoding="utf-8"))["problems"]["problems"]:
            lines.append(f"{p['file']}: {p['record']}: {p['message']}")
    return lines


def _names(images: pd.DataFrame, ids) -> set:
    by_id = dict(zip(images["image_id"].tolist(), images["file_name"].tolist()))
    return {by_id.get(i) for i in pd.Series(ids).dropna().tolist()}


def _frame_names(table: pd.DataFrame, name_col: str = "file_name") -> set:
    """File names of rows with at least one finite metric value."""
    numeric = table.drop(columns=[c for c in ("image_id", "width", "height") if c in table]).select_dtypes("number")
    has = np.isfinite(numeric.to_numpy(np.float64)).any(axis=1) if numeric.shape[1] else np.zeros(len(table), bool)
    return set(table.loc[has, name_col].tolist())


def table_keys(case: Case, out: Path) -> dict:
    """The keys of every table the case checks, read back from what the command wrote."""
    wanted = set(case.valid) | {b.table for b in case.bad if b.table}
    if not wanted:
        return {}
    if case.command == "metrics":
        if not out.is_file():
            return {t: set() for t in wanted}
        return {"frame": _frame_names(pd.read_parquet(out))}
    from explorer.project.folder import Project

    if not (out / "project.json").is_file():
        return {t: set() for t in wanted}
    p = Project.load(out)
    keys = {}
    for t in wanted:
        if t == "images":
            keys[t] = set(p.images["image_id"].tolist())
        elif t == "labels":
            keys[t] = set(p.labels["label_id"].tolist())
        elif t == "predictions":
            keys[t] = set(p.all_predictions["pred_id"].tolist())
        elif t == "categories":
            keys[t] = set(p.categories["category_id"].tolist())
        elif t == "yolo_labels":
            keys[t] = {yolo_key(x, w) for x, w in zip(p.labels["x"], p.labels["w"]) if np.isfinite(x + w)}
        elif t == "voc_labels":
            keys[t] = {voc_key(x) for x in p.labels["x"] if np.isfinite(x)}
        elif t == "split":
            im = p.images
            keys[t] = {(f, s) for f, s in zip(im["file_name"], im["split"]) if isinstance(s, str)}
        elif t == "cls_labels":
            keys[t] = _names(p.images, p.labels["image_id"])
        elif t == "cls_preds":
            keys[t] = _names(p.images, p.all_predictions["image_id"])
        elif t in ("reg_targets", "reg_preds"):
            reg = p.extra.get("regression")
            col = "target" if t == "reg_targets" else "prediction"
            keys[t] = set() if reg is None else _names(p.images, reg.loc[np.isfinite(reg[col].astype(float)), "image_id"])
        elif t in ("seg_labels", "seg_preds"):
            col = "label_mask" if t == "seg_labels" else "pred_mask"
            im = p.images
            keys[t] = set(im.loc[im[col].notna(), "file_name"].tolist()) if col in im else set()
        elif t == "log":
            log = p.extra.get("training_log")
            keys[t] = set() if log is None else set(log["epoch"].dropna().astype(float).tolist())
        elif t == "frame_project":
            frame = out / "metrics" / "frame.parquet"
            if frame.is_file():
                table = pd.read_parquet(frame)
                table = table.merge(p.images[["image_id", "file_name"]], on="image_id", how="left",
                                    suffixes=("_m", "")) if "file_name" not in table else table
                keys[t] = _frame_names(table)
            else:
                keys[t] = set()
    return keys


_WARNING = re.compile(r"^\S+\.py:\d+: \w*Warning: .*$", re.M)


def _named(lines: list[str], file: str, token: str) -> bool:
    if not token:
        return any(file in line for line in lines)
    pattern = re.compile(re.escape(token) + r"(?![\w\]])")
    return any(file in line and pattern.search(line) for line in lines)


def _one_line_naming(stderr: str, file: str) -> bool:
    text = [line for line in stderr.splitlines() if line.strip()]
    return len(text) == 1 and file in text[0]


def _reference_check(case: Case, out: Path) -> list[str]:
    """``explorer evaluate`` on the files = ``evaluate_coco`` on the valid records alone (the 12 numbers)."""
    from explorer.evaluation import evaluate_coco

    clean_gt, clean_pred, iou_type = case.reference
    got = json.loads(out.read_text())["summary"]
    ref = evaluate_coco(clean_gt, clean_pred, iou_type=iou_type).summary
    diffs = [k for k, v in ref.items()
             if not ((v is None or np.isnan(v)) and got.get(k) is None)
             and not (got.get(k) is not None and abs(got[k] - v) < 1e-12)]
    return diffs


def score(case: Case, result: dict, out: Path | None = None) -> tuple[dict, list[str]]:
    """``({column: count}, [what went wrong, ...])`` for one case."""
    out = case.out if out is None else out
    counts = dict.fromkeys(COLUMNS, 0)
    counts["inputs"] = max(1, len(case.bad))
    notes = []
    if result["traceback"] or "Traceback (most recent call last)" in result["stderr"] + result["stdout"]:
        counts["tracebacks"] += 1
        tb = result["traceback"] or result["stderr"]
        where = [line.strip() for line in tb.splitlines() if line.strip().startswith("File ")]
        notes.append("traceback: " + tb.strip().splitlines()[-1][:300] + (f" at {where[-1][:200]}" if where else ""))
    warned = _WARNING.search(result["stderr"])
    if warned:  # a Python warning (file:line: RuntimeWarning: overflow ...) is noise the user cannot act on
        counts["unclear messages"] += 1
        notes.append(f"Python warning shown: {warned.group(0)[:300]}")
    if result["crash"] or result["hang"]:
        counts["crashes/hangs"] += 1
        notes.append(result["crash"] or "hang")
    rc = result["rc"]
    lines = _problem_lines(case, result, out)
    if case.fatal:
        if rc == 0:
            counts["silently accepted garbage"] += 1
            notes.append(f"fatal input {case.fatal} accepted with exit 0")
        elif not counts["tracebacks"] and not _one_line_naming(result["stderr"], case.fatal):
            counts["unclear messages"] += 1
            notes.append(f"fatal error not one line naming {case.fatal}: {result['stderr'].strip()[:300]!r}")
        return counts, notes
    if case.fatal_ok and rc not in (0, -1) and _one_line_naming(result["stderr"], case.fatal_ok):
        return counts, notes  # refused as a whole, clearly
    if rc != 0 and not counts["tracebacks"] and not counts["crashes/hangs"]:
        notes.append(f"exit {rc} with valid records: {result['stderr'].strip()[:300]!r}")
    try:
        keys = table_keys(case, out) if rc == 0 else {t: set() for t in set(case.valid) | {b.table for b in case.bad if b.table}}
    except Exception as e:  # noqa: BLE001 - what the command wrote cannot be read back: every valid record lost
        notes.append(f"tables unreadable: {type(e).__name__}: {e}")
        keys = {t: set() for t in case.valid}
    for table, want in case.valid.items():
        lost = want - keys.get(table, set())
        if lost:
            counts["valid records lost"] += len(lost)
            notes.append(f"lost from {table}: {sorted(map(str, lost))[:5]}")
    if case.reference is not None and rc == 0 and out.is_file():
        diffs = _reference_check(case, out)
        if diffs:
            counts["valid records lost"] += 1
            notes.append(f"numbers differ from the valid records' evaluation: {diffs[:3]}")
    for b in case.bad:
        present = b.table is not None and b.key is not None and b.key in keys.get(b.table, set())
        if b.mode == "accept":
            if b.table is not None and b.key is not None and not present and rc == 0:
                counts["valid records lost"] += 1
                notes.append(f"legal record {b.kind} ({b.file} {b.token}) not kept")
            continue
        named = _named(lines, b.file, b.token)
        if present and not named:
            counts["silently accepted garbage"] += 1
            notes.append(f"{b.kind} ({b.file} {b.token}) kept without a problem naming it")
        elif not named and rc == 0:
            counts["unclear messages"] += 1
            file_only = any(b.file in line for line in lines)
            notes.append(f"{b.kind} ({b.file} {b.token}) not named" + (" (file named, record not)" if file_only else ""))
    return counts, notes


def run_case(case: Case) -> tuple[dict, list[str], float]:
    t0 = time.perf_counter()
    if case.inprocess:
        counts, notes = score(case, run_inprocess(case))
        if case.subprocess:  # the same input in a child: a native crash or a hang shows as such
            sub = run_subprocess(case, "_sub")
            sub_counts, sub_notes = score(case, sub, Path(str(case.out) + "_sub"))
            for col in ("tracebacks", "crashes/hangs"):
                if sub_counts[col] and not counts[col]:
                    counts[col] = sub_counts[col]
                    notes += [f"child process: {n}" for n in sub_notes]
    else:
        counts, notes = score(case, run_subprocess(case))
    return counts, notes, time.perf_counter() - t0


def campaign(base: Path, *, seed: int = 0, scale: float = 1.0, families=None, children: int | None = 8,
             verbose: bool = False):
    """Generate and run the campaign; ``(rows {family: counts}, failures {family: [notes]}, n_cases, seconds)``.

    ``children``: how many of the cases the generator marks as native-crash-prone or possibly blocking (FIFOs,
    polygons near 1e9, forged huge headers, nesting past the parser) also run in a child process, spread evenly
    over the families (None: all of them; a child costs seconds, an in-process case milliseconds)."""
    t0 = time.perf_counter()
    cases = generate(base, seed=seed, scale=scale, families=families)
    flagged = [c for c in cases if c.subprocess]
    if children is not None and len(flagged) > children:
        chosen = {id(flagged[int(k)]) for k in np.linspace(0, len(flagged) - 1, children)}
        for c in flagged:
            c.subprocess = id(c) in chosen
    rows = {c.family: dict.fromkeys(COLUMNS, 0) for c in cases}
    failures = defaultdict(list)
    for case in cases:
        counts, notes, dt = run_case(case)
        for k, v in counts.items():
            rows[case.family][k] += v
        if notes:
            failures[case.family].append(f"{case.name}: " + "; ".join(notes))
        if verbose:
            print(f"{dt:6.2f}s {case.name} {'; '.join(notes)[:200]}", file=sys.stderr)
    return rows, dict(failures), len(cases), time.perf_counter() - t0


def format_table(rows: dict) -> str:
    """The summary as a Markdown table (family | inputs | ...), with a total row."""
    head = "| family | " + " | ".join(COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    total = dict.fromkeys(COLUMNS, 0)
    for fam, counts in rows.items():
        lines.append(f"| {fam} | " + " | ".join(f"{counts[c]:,}" for c in COLUMNS) + " |")
        for c in COLUMNS:
            total[c] += counts[c]
    lines.append("| **total** | " + " | ".join(f"**{total[c]:,}**" for c in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=None, help="multiply the CI campaign's case counts")
    parser.add_argument("--cases", type=int, default=None, help="about this many cases in all (overrides --scale)")
    parser.add_argument("--family", action="append", help="only these families (repeatable)")
    parser.add_argument("--keep", metavar="DIR", help="write the cases here and keep them (default: a temp folder)")
    parser.add_argument("--verbose", action="store_true", help="one line per case on stderr")
    parser.add_argument("--failures", type=int, default=10, help="print the first N failures per family")
    parser.add_argument("--children", type=int, default=None,
                        help="crash-prone cases also run in a child process (default: all of them; CI: 8)")
    args = parser.parse_args(argv)
    base_cases = sum(n for fam, (_, n) in FAMILIES.items() if not args.family or fam in args.family)
    scale = args.cases / base_cases if args.cases else (args.scale or 1.0)
    with tempfile.TemporaryDirectory(prefix="fuzz_") as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        rows, failures, n, seconds = campaign(base / f"seed{args.seed}", seed=args.seed, scale=scale,
                                              families=args.family, children=args.children, verbose=args.verbose)
    print(format_table(rows))
    print(f"\n{n:,} cases (files), seed {args.seed}, {seconds:.0f} s")
    for fam, notes in failures.items():
        print(f"\n{fam}: {len(notes)} case(s) with findings")
        for note in notes[: args.failures]:
            print("  " + note[:600])
    bad = sum(r[c] for r in rows.values() for c in COLUMNS[1:])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
