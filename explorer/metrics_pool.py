"""Worker processes of the metrics engine: how they are started (light: no pandas, so it can run first).

``start_early()`` launches the fork server before the caller imports pandas/pyarrow, so its start-up (fresh
interpreter + OpenCV + the metric units) overlaps the caller's own imports; ``worker_context()`` is the
multiprocessing context every pool uses.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import sys
import types

PRELOAD = ["explorer.metrics_worker", "metrics", "cv2", "numpy"]


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
    ``explorer.metrics_worker``. Pool workers all start in ``Pool()``, so hiding it for that call is enough.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def start_early() -> None:
    """Start the fork server now (non-blocking); the first pool then finds it warm."""
    if worker_context().get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()
