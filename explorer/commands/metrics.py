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

# = explorer.project.folder.MANIFEST (tests/datametrics checks it): importing explorer.project.folder would import
# pandas, which a bare-folder run never needs
MANIFEST = "project.json"


def add_arguments(parser) -> None:
    parser.add_argument("path", help="a project folder (built by 'explorer import') or a folder of images")
    parser.add_argument("--out", help="output Parquet file (required for a bare image folder)")
    parser.add_argument("--metrics-plugin", action="append", default=[], metavar="FILE",
                        help="a Python file registering extra metrics (from metrics import frame_metric, ...); repeatable")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")


def run(args) -> int:
    from explorer.datametrics.pool import start_early

    path = Path(args.path)
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    bare = path.is_dir() and not (path / MANIFEST).is_file()
    # a fresh CLI process on Linux that measures a bare folder with the built-in metrics has started no thread
    # pool and imports no pandas: it may fork its workers itself, and skip the interpreter's teardown
    whole = bool(args.out) and bare and not args.metrics_plugin and _whole_process()
    fork = whole and sys.platform.startswith("linux")
    if not fork:
        start_early()  # the workers' interpreter starts while this one imports pandas and pyarrow
    rc = _run(args, path, bare, fork)
    if whole:
        # Everything is written and closed. Skip the interpreter's teardown of pyarrow/OpenCV (0.05-0.4 s, as
        # long as a tenth of the whole run); the resource tracker exits on its pipe's EOF.
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


def _run(args, path: Path, bare: bool, fork: bool) -> int:
    if bare:
        from explorer.datametrics.engine import write_frame_metrics

        if not args.out:
            raise UserError(f"{path} is an image folder, not a project: give --out FILE.parquet "
                            "(or build a project with 'explorer import')")
        # no DataFrame: without plugins this run never imports pandas (a fifth of the CPU of 1,500 images)
        stats = write_frame_metrics(path, args.out, plugins=args.metrics_plugin, progress=not args.no_progress,
                                    workers=args.workers, fork=fork)
        where = Path(args.out)
    elif path.is_dir():
        from explorer.datametrics.engine import compute_metrics

        if args.out:
            raise UserError("--out is for a bare image folder; a project's metrics go to PROJECT/metrics/")
        stats = compute_metrics(path, plugins=args.metrics_plugin, progress=not args.no_progress, workers=args.workers)
        where = path / "metrics"
    else:
        raise UserError(f"{path} does not exist")
    if len(stats.problems):
        print(stats.problems.format())
    print(f"explorer metrics: {stats.format()} -> {where}")
    return 0
