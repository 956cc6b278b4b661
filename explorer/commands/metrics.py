"""``explorer metrics PROJECT`` / ``explorer metrics IMAGES_DIR --out FILE.parquet``: compute data metrics.

A project folder gets every registered metric (F, O, P) into ``PROJECT/metrics/`` (cached: a second run
recomputes only what changed). A bare image folder gets one row per image: ``file_name`` and one numeric
column per frame metric. Unreadable images are reported by name and skipped; the rest is computed.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from explorer.errors import UserError

# = explorer.project.folder.MANIFEST (test_cli_and_plugins checks it): importing explorer.project.folder would import pandas
# before the workers are set going
MANIFEST = "project.json"


def add_arguments(parser) -> None:
    parser.add_argument("path", help="a project folder (built by 'explorer import') or a folder of images")
    parser.add_argument("--out", help="output Parquet file (required for a bare image folder)")
    parser.add_argument("--metrics-plugin", action="append", default=[], metavar="FILE",
                        help="a Python file registering extra metrics (from metrics import frame_metric, ...); repeatable")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")


def run(args) -> int:
    from explorer.datametrics.pool import EarlyRun, start_early

    path = Path(args.path)
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    started = None
    fast = args.out and not args.metrics_plugin and path.is_dir() and not (path / MANIFEST).is_file()
    # a fresh CLI process on Linux has started no thread pool yet: it may fork its workers itself
    fork = bool(fast) and sys.platform.startswith("linux") and _whole_process()
    if not fork:
        start_early()  # the workers' interpreter starts while this one imports pandas and pyarrow
    if fast:
        # bare folder, built-in metrics: list the images and set the workers going before importing pandas
        started = EarlyRun(path, args.workers, fork=fork)
    try:
        rc = _run(args, path, started)
    finally:
        if started is not None:
            started.close()
    if started is not None and _whole_process():
        # Everything is written and closed. Skip the interpreter's teardown of pandas/pyarrow/OpenCV (0.1-0.4 s,
        # as long as a tenth of the whole run); the fork server and resource tracker exit on their pipes' EOF.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return rc


def _whole_process() -> bool:
    """True when this process runs nothing but this command (``python -m explorer.cli`` / the ``explorer`` script)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name == "explorer.cli":
        return True
    return Path(getattr(main, "__file__", None) or "").stem == "explorer"


def _run(args, path: Path, started) -> int:
    if started is not None and started.active and started.processes > 1 and _whole_process():
        # this process only writes the table: no pandas (its import is a fifth of the CPU of a 1,500-image run)
        stats = started.write_frame_table(args.out, progress=not args.no_progress)
        if len(stats.problems):
            print(stats.problems.format())
        print(f"explorer metrics: {stats.format()} -> {args.out}")
        return 0
    from explorer.datametrics.engine import compute_frame_metrics, compute_metrics

    if (path / MANIFEST).is_file():
        if args.out:
            raise UserError("--out is for a bare image folder; a project's metrics go to PROJECT/metrics/")
        stats = compute_metrics(path, plugins=args.metrics_plugin, progress=not args.no_progress, workers=args.workers)
        where = path / "metrics"
    elif path.is_dir():
        if not args.out:
            raise UserError(f"{path} is an image folder, not a project: give --out FILE.parquet "
                            "(or build a project with 'explorer import')")
        table, stats = compute_frame_metrics(path, args.out, plugins=args.metrics_plugin,
                                             progress=not args.no_progress, workers=args.workers, started=started)
        where = Path(args.out)
    else:
        raise UserError(f"{path} does not exist")
    if len(stats.problems):
        print(stats.problems.format())
    print(f"explorer metrics: {stats.format()} -> {where}")
    return 0
