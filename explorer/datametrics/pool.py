"""Worker processes of the metrics engine: how they are started (light: no pandas, so it can run first).

``start_early()`` launches the fork server before the caller imports pandas/pyarrow, so its start-up (fresh
interpreter + OpenCV + the metric units) overlaps the caller's own imports; ``worker_context()`` is the
multiprocessing context every pool uses. ``EarlyRun`` goes one step further for a bare image folder: it lists
the images and starts the pool on them from a background thread, so the workers compute while the caller is
still importing pandas/pyarrow; ``explorer.datametrics.engine`` adopts it when its own task list is the same.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
import sys
import threading
import time
import types
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
SWITCH_INTERVAL = 0.0002  # s: GIL switch interval while an early pool runs beside the caller's imports
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


def start_early() -> None:
    """Start the fork server now (non-blocking); the first pool then finds it warm."""
    if worker_context().get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()


def list_images(folder: Path) -> list[str]:
    """Image files under ``folder`` (recursive, by suffix), as sorted '/'-separated relative names."""
    return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*")
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def pool_shape(n_tasks: int, workers: int | None) -> tuple[int, int]:
    """``(processes, imap chunk size)`` for ``n_tasks`` images; 1 process means: run in-process, no pool."""
    workers = max(1, int(workers or os.cpu_count() or 1))
    workers = min(workers, max(1, n_tasks))
    if n_tasks < IN_PROCESS_BELOW:
        workers = 1
    return workers, max(1, min(32, n_tasks // (workers * 8)))


class EarlyRun:
    """Frame metrics of a bare folder, started before the caller's heavy imports (CLI fast path).

    A background thread lists the images (same order and path checks as the engine) and starts the pool on
    them — ``Pool()`` blocks until the fork server has its modules loaded — while the caller goes on importing
    pandas/pyarrow. The plan is resolved in the workers (all image-kind F metrics, no plugins, no cache), so
    nothing heavy is needed to set the workers going. ``compute_frame_metrics(..., started=run)`` adopts the
    running pool when its task list equals the engine's; otherwise it closes it and computes as usual (also
    when anything here failed: the engine then meets the same error itself and reports it).

    ``fork=True`` (Linux; only for a fresh process that is nothing but the command line, see ``worker_context``
    for why): no fork server — this process imports the worker modules, lists the images and forks the workers
    itself, right away, before anything has started a thread pool (OpenCV's, pyarrow's). That saves the second
    interpreter and its imports (~0.35 s of CPU), which counts on a loaded two-core machine.
    """

    def __init__(self, folder, workers: int | None = None, *, fork: bool = False):
        self.folder = Path(folder)
        self._fork = fork
        self._t0 = time.perf_counter()
        self._workers = workers
        self.names = self.tasks = self.plan = None
        self.processes = 1
        self._pool = self._results = self._error = None
        self._ready = threading.Event()
        # The pool's feeder and result threads live in this process and need the GIL, which the caller's imports
        # hold for up to the switch interval (5 ms) at a time: workers then starve for tasks or block on a full
        # result pipe. A short interval until the engine adopts the pool keeps them fed.
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch, SWITCH_INTERVAL))
        if fork:
            self._start()  # no other thread may run while forking
        else:
            threading.Thread(target=self._start, name="metrics-early-pool", daemon=True).start()

    def _start(self) -> None:
        try:
            names = list_images(self.folder)
            root = self.folder.resolve()
            tasks = []
            parents: dict[str, Path] = {}
            for pos, name in enumerate(names):  # = explorer.project.folder.safe_join (pandas-free); the engine compares
                head, _, leaf = name.rpartition("/")
                parent = parents.get(head)
                if parent is None:
                    parent = parents[head] = (root / head).resolve()
                path = parent / leaf
                if path.is_symlink():  # resolve() per file only where it can change the path
                    path = path.resolve()
                if path.is_relative_to(root):
                    tasks.append((pos, str(path), {}))
            from explorer.datametrics.worker import Plan, install, process

            if self._fork:
                import metrics  # noqa: F401 — the workers inherit OpenCV and the metric units instead of importing them
                import metrics.image  # noqa: F401
            self.plan = Plan(frame_metrics=None, box_metrics={}, use_cache=False)
            self.names, self.tasks = names, tasks
            self.processes, chunk = pool_shape(len(tasks), self._workers)
            if self.processes > 1:
                if self._fork:
                    pool = multiprocessing.get_context("fork").Pool(self.processes, initializer=install,
                                                                    initargs=(self.plan,))
                else:
                    with main_module_hidden():
                        pool = worker_context().Pool(self.processes, initializer=install, initargs=(self.plan,))
                self._pool = pool
                self._results = pool.imap(process, tasks, chunksize=chunk)
        except BaseException as e:  # noqa: BLE001 — the engine falls back to its own run
            self._error = e
        finally:
            self._ready.set()

    def wait(self) -> "EarlyRun":
        self._ready.wait()
        return self

    @property
    def active(self) -> bool:
        """True when the pool is running on ``tasks`` (waits for the start)."""
        self._ready.wait()
        return self._error is None and self._pool is not None

    def adopt(self):
        """``(pool, results iterator in task order)``; the caller terminates the pool."""
        if not self.active:
            raise RuntimeError(f"the early metrics pool is not running: {self._error!r}")
        sys.setswitchinterval(self._switch)
        return self._pool, self._results

    def close(self) -> None:
        """Stop the workers (a no-op when already stopped)."""
        self._ready.wait()
        sys.setswitchinterval(self._switch)
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def write_frame_table(self, out, *, progress: bool = False):
        """Finish the command-line run without pandas: collect the results, compute the table F metrics, write
        ``out`` with pyarrow; returns ``MetricsStats``. Same rows, columns, values and problems as
        ``compute_frame_metrics(folder, out)`` (tests compare the two); importing pandas would cost more CPU
        than the whole run saves on a loaded two-core machine. Call only when ``active``."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        from explorer.datametrics.worker import MetricsStats
        from metrics import REGISTRY
        from metrics.tables import FrameTable

        names, n, source = self.names, len(self.names), str(self.folder)
        metrics = [m for m in REGISTRY.selected() if m.is_frame]
        stats = MetricsStats(images=n)
        report = stats.problems
        queued = {t[0] for t in self.tasks}
        for pos, name in enumerate(names):  # explorer.project.folder.safe_join's message
            if pos not in queued:
                report.add(source, f"image {name}", f"image file name {name!r} points outside the image folder "
                           f"{self.folder}", "unsafe_path")
        values = {m.key: np.full(n, np.nan) for m in metrics if m.kind == "image"}
        width, height = np.full(n, np.nan), np.full(n, np.nan)
        phash, readable = np.zeros(n, np.int64), np.zeros(n, bool)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(self.tasks), desc="metrics", unit="img", dynamic_ncols=True, smoothing=0.1)
        try:
            _, results = self.adopt()
            for r in results:
                if bar is not None:
                    bar.update(1)
                name = names[r.pos]
                if r.error:
                    stats.unreadable += 1
                    report.add(name, "image", r.error, "unreadable_image")
                    continue
                readable[r.pos] = True
                for metric_name, message in r.metric_errors:
                    report.add(name, f"metric {metric_name}", message, "metric_failed")
                stats.images_decoded += r.decoded
                if r.base is not None:
                    width[r.pos], height[r.pos], phash[r.pos] = r.base
                if r.frame:
                    if r.frame.keys() != values.keys():
                        raise RuntimeError("early metrics pool computed other metrics than the registry selects")
                    stats.frame_images_computed += 1
                    stats.frame_values_computed += len(r.frame)
                    for k, v in r.frame.items():
                        values[k][r.pos] = v
        finally:
            if bar is not None:
                bar.close()
            self.close()
        info = _Columns(n, image_id=np.arange(n, dtype=np.int64), width=width, height=height, phash=phash,
                        has_pixels=readable)
        has_size = bool(np.isfinite(width).any())
        columns = {"file_name": _string_array([names[i] for i in np.flatnonzero(readable)])}
        for m in metrics:  # = metrics_engine._availability / _table_metric for a bare folder
            if "labels" in m.needs or ("size" in m.needs and not has_size):
                continue
            if m.kind == "image":
                col = values[m.key]
            else:
                try:
                    col = np.asarray(m.fn(FrameTable(images=info, labels=None)), dtype=np.float64).reshape(-1)
                    if len(col) != n:
                        raise ValueError(f"returned {len(col)} values for {n} rows")
                except Exception as e:
                    report.add(source, f"metric {m.name}", f"{type(e).__name__}: {e}", "metric_failed")
                    col = np.full(n, np.nan)
            kept = np.ascontiguousarray(col[readable], dtype=np.float64)
            columns[m.name] = pa.Array.from_buffers(pa.float64(), len(kept), [None, pa.py_buffer(kept)])
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_arrays(list(columns.values()), names=list(columns)), out)
        stats.seconds = time.perf_counter() - self._t0
        return stats


def _string_array(values: list[str]):
    """A pyarrow string array built from its buffers (``pa.array`` would import pandas to sniff its input)."""
    import numpy as np
    import pyarrow as pa

    if not values:  # what pandas writes for an empty text column
        return pa.nulls(0)
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, np.int64)  # large_string, as pandas writes its str columns
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return pa.Array.from_buffers(pa.large_string(), len(encoded),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])


class _Columns(dict):
    """The little of a DataFrame that the built-in table F metrics read: ``images[col].to_numpy(dtype)``, ``len``."""

    def __init__(self, n: int, **columns):
        super().__init__({k: _Column(v) for k, v in columns.items()})
        self._n = n

    def __len__(self) -> int:
        return self._n


class _Column:
    def __init__(self, values):
        self.values = values

    def to_numpy(self, dtype=None, copy: bool = False):
        import numpy as np

        return np.array(self.values, dtype=dtype, copy=True) if copy else np.asarray(self.values, dtype=dtype)
