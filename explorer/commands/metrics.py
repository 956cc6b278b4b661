"""``explorer metrics PROJECT`` / ``explorer metrics IMAGES_DIR --out FILE.parquet``: compute data metrics.

A project folder gets every registered metric (F, O, P) into ``PROJECT/metrics/`` (cached: a second run
recomputes only what changed). A bare image folder gets one row per image: ``file_name`` and one numeric
column per frame metric. Unreadable images are reported by name and skipped; the rest is computed.
A project remembers its ``--metrics-plugin`` files (``explorer.datametrics.plugins``): a later run without the
flag computes them again, and a remembered file that is gone is said to be dropped, with the metrics it gave.
``--engine dask [--scheduler ADDRESS]`` runs the per-image work on a Dask cluster instead of this machine's pool
(``explorer.datametrics.dask_engine``): same files, same cache.
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
                        help="a Python file registering extra metrics (from metrics import frame_metric, ...); repeatable. "
                             "A project remembers it: later runs compute it without the flag")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    parser.add_argument("--engine", choices=("local", "dask"), default="local",
                        help="where the per-image work runs: this machine's process pool (default) or a Dask "
                             "cluster (pip install 'cv-explorer[dask]'); same tables, same cache")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="with --engine dask: the cluster's scheduler (tcp://host:8786); default: a local "
                             "cluster of --workers processes (2). Images and plugin files must be readable at "
                             "the same paths on every worker")


def run(args) -> int:
    from explorer.datametrics.pool import start_early

    path = Path(args.path)
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    engine, scheduler = getattr(args, "engine", "local"), getattr(args, "scheduler", None)
    if scheduler and engine != "dask":
        raise UserError("--scheduler is for --engine dask")
    if engine == "dask":
        if scheduler and args.workers is not None:
            raise UserError("--workers sizes the local Dask cluster; a cluster at --scheduler has the workers "
                            "started with 'dask worker'")
        return _run_dask(args, path, scheduler)
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


def _run_dask(args, path: Path, scheduler: str | None) -> int:
    """The same run with ``worker.process`` on a Dask cluster (``explorer.datametrics.dask_engine``)."""
    from explorer.datametrics.dask_engine import dask_executor

    bare = path.is_dir() and not (path / MANIFEST).is_file()
    _check_usage(args, path, bare)  # before starting a cluster
    with dask_executor(scheduler, workers=args.workers) as executor:
        return _run(args, path, bare, fork=False, executor=executor)


def _whole_process() -> bool:
    """True when this process runs nothing but this command (``python -m explorer.cli`` / the ``explorer`` script)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name == "explorer.cli":
        return True
    return Path(getattr(main, "__file__", None) or "").stem == "explorer"


def _check_usage(args, path: Path, bare: bool) -> None:
    if not path.is_dir():
        raise UserError(f"{path} does not exist")
    if bare and not args.out:
        raise UserError(f"{path} is an image folder, not a project: give --out FILE.parquet "
                        "(or build a project with 'explorer import')")
    if not bare and args.out:
        raise UserError("--out is for a bare image folder; a project's metrics go to PROJECT/metrics/")


def _run(args, path: Path, bare: bool, fork: bool, executor=None) -> int:
    _check_usage(args, path, bare)
    if bare:
        from explorer.datametrics.engine import write_frame_metrics

        # no DataFrame: without plugins this run never imports pandas (a fifth of the CPU of 1,500 images)
        stats = write_frame_metrics(path, args.out, plugins=args.metrics_plugin, progress=not args.no_progress,
                                    workers=args.workers, fork=fork, executor=executor)
        where = Path(args.out)
    else:
        from explorer.datametrics.engine import compute_metrics

        stats = compute_metrics(path, plugins=args.metrics_plugin, progress=not args.no_progress, workers=args.workers,
                                executor=executor)
        where = path / "metrics"
    if len(stats.problems):
        print(stats.problems.format())
    if not bare:
        import json

        from explorer.datametrics.plugins import MANIFEST_KEY

        kept = json.loads((path / MANIFEST).read_text()).get(MANIFEST_KEY) or []
        if kept:
            print(f"metrics plugins remembered by the project: {', '.join(kept)}")
    print(f"explorer metrics: {stats.format()} -> {where}")
    return 0
