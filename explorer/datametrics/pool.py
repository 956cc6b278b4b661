"""Worker processes of the metrics engine: how they are started (light: no pandas, so it can run first).

``worker_context()`` is the multiprocessing context every library/app pool uses (a fork server);
``start_early()`` launches that fork server before the caller imports pandas/pyarrow, so its start-up (fresh
interpreter + OpenCV + the metric units) overlaps the caller's own imports. ``start_pool`` starts the workers,
with a plain fork only for a fresh command-line process (see its docstring). ``pool_shape`` decides how many.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
import sys
import types

from explorer.datametrics.worker import Plan, install

SWITCH_INTERVAL = 0.0002  # s: GIL switch interval while this process imports beside a running pool
IN_PROCESS_BELOW = 24  # fewer images than this: no pool (start-up would cost more than it saves)

PRELOAD = ["explorer.datametrics.worker", "metrics", "cv2", "numpy"]


def worker_context():
    """Process start method for the pool: a fork server, never a plain fork.

    Forking a process that has already used OpenCV's (or pyarrow's, or numba's) thread pools can deadlock the
    child on an inherited lock — it did, in a pytest run and in the app. The fork server is a fresh process that
    only imports the worker's modules, and forks the workers from there (cheap: the imports are done once).
    """
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:  # Windows / macOS default: spawn
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


@contextlib.contextmanager
def main_module_hidden():
    """Start workers without re-running the caller's ``__main__`` in them.

    Fork-server and spawn workers import the parent's main module unless it is hidden: a user script without a
    ``__main__`` guard would run again in every worker, and under Streamlit (AppTest, the app server) the main
    module is the app script itself. The workers need nothing from it: the task function lives in
    ``explorer.datametrics.worker``. Pool workers all start in ``Pool()``, so hiding it for that call is enough.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


@contextlib.contextmanager
def short_switch_interval():
    """A short GIL switch interval while this process imports (pyarrow) beside a running pool.

    The pool's feeder and result threads live in this process and need the GIL, which an import holds for up
    to the switch interval (5 ms) at a time: the workers then starve for tasks or block on a full result pipe.
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def start_early() -> None:
    """Start the fork server now (non-blocking); the first pool then finds it warm."""
    if worker_context().get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()


def pool_shape(n_tasks: int, workers: int | None) -> tuple[int, int]:
    """``(processes, imap chunk size)`` for ``n_tasks`` images; 1 process means: run in-process, no pool."""
    workers = max(1, int(workers or os.cpu_count() or 1))
    workers = min(workers, max(1, n_tasks))
    if n_tasks < IN_PROCESS_BELOW:
        workers = 1
    return workers, max(1, min(32, n_tasks // (workers * 8)))


def start_pool(processes: int, plan: Plan, *, fork: bool = False):
    """A ``multiprocessing.Pool`` of ``processes`` workers with ``plan`` installed in each.

    ``fork=True`` (Linux; only for a fresh process that is nothing but the command line and has started no
    thread pool yet — OpenCV's, pyarrow's, tqdm's monitor; see ``worker_context`` for why): the workers are
    forked from this process and inherit its imports, which saves the fork server's second interpreter and its
    imports (~0.35 s of CPU, which counts on a loaded two-core machine).
    """
    if fork:
        import metrics.image  # noqa: F401 — imported once here, inherited by every worker

        return multiprocessing.get_context("fork").Pool(processes, initializer=install, initargs=(plan,))
    with main_module_hidden():
        return worker_context().Pool(processes, initializer=install, initargs=(plan,))
