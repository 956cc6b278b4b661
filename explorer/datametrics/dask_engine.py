"""The engine's per-image work on a Dask distributed cluster (``explorer metrics PATH --engine dask``).

Only the pixel-bound part moves: ``explorer.datametrics.worker.process`` (read, hash, decode once, image
metrics), with the same ``Plan``. Everything else stays in the engine, unchanged: listing the images, the
plan (which metrics, what the cache holds), streaming new values to the cache, the table metrics and the
tables. ``DaskExecutor.imap`` is the engine's executor hook (``engine._run_images(..., executor=)``), so the
Parquet files are byte-identical to the local pool's and the cache is the same one (a run on either engine
reuses the other's values).

How the work is spread (``distributed``, no scheduler of our own): the tasks are cut in chunks (the pool's
chunk rule, ``pool.pool_shape``, over the cluster's worker threads), ``Client.map`` runs ``_process_chunk``
on each, ``as_completed`` brings the results back as they finish, and they are handed on in task order (the
engine's problem report and cache journal then see what the pool gives them). The plan can be large (up to
one cache hash per image and metric): it is pickled once and scattered to every worker, and each worker
process installs it on its first chunk (``worker.install``, the pool's initializer). The chunks of a worker
lost mid-run are re-run by Dask on the others (``distributed``'s own rescheduling).

What the workers need (a real cluster): the same cv-explorer installed (with its ``dask`` extra),
and the image files and ``--metrics-plugin`` files readable at the same absolute paths as on the machine that
runs ``explorer metrics`` (a shared filesystem). A plugin file that is missing on a worker, or differs from
the caller's, stops the run with a message naming the worker (its metric would not be the caller's). The
cache and the tables are written by the caller only.
"""
from __future__ import annotations

import contextlib
import pickle
import socket
import threading
import uuid
from typing import Iterator

from explorer.datametrics.pool import main_module_hidden, pool_shape
from explorer.datametrics.worker import ImageResult, Plan, install, process
from explorer.errors import UserError

LOCAL_WORKERS = 2  # a LocalCluster's worker processes (one thread each) when no scheduler is given
WAIT_FOR_WORKERS = 60  # s: how long a run waits for a scheduler that has no workers yet


def _plan_keys(plan: Plan) -> list[str]:
    """The cache keys of the plan's metrics: the caller's and a worker's must agree (same plugin code)."""
    return [m.key for m in plan.frame_metrics] + [m.key for lv in sorted(plan.box_metrics)
                                                   for m in plan.box_metrics[lv]]


# ---- on a worker ----------------------------------------------------------------------------------------------
# Which plan this worker process holds, and how many chunks of it are running. ``worker.process`` reads one
# installed plan per process; a worker with several threads may be shared by two runs (two users of one
# cluster), so a chunk of another plan waits until the running chunks are done before it installs its own.
_state = threading.Condition()
_installed: str | None = None
_running = 0


def _install(blob: bytes, sources: tuple, keys: list[str]) -> None:
    from metrics import load_plugins
    from metrics.registry import MetricError

    host = socket.gethostname()
    try:  # before unpickling: a plugin metric unpickles by loading its file (metrics.registry._plugin_metric)
        load_plugins(sources)
    except MetricError as e:
        raise UserError(f"on Dask worker {host}: {e} (plugin files must be readable at the same path on "
                        "every worker)") from None
    plan = pickle.loads(blob)
    differ = [k for k, mine in zip(keys, _plan_keys(plan)) if k != mine]
    if differ:
        raise UserError(f"on Dask worker {host}: metric code differs from the caller's for {', '.join(differ)} "
                        "(every worker must see the same plugin files and cv-explorer version)")
    install(plan)


def _process_chunk(tasks: list, blob: bytes, token: str, sources: tuple, keys: list[str]) -> list[ImageResult]:
    """``[worker.process(t) for t in tasks]`` with the plan ``blob`` (pickled ``Plan``) installed once per process."""
    global _installed, _running
    with _state:
        while _installed != token and _running:
            _state.wait()
        if _installed != token:
            _install(blob, sources, keys)
            _installed = token
        _running += 1
    try:
        return [process(t) for t in tasks]
    finally:
        with _state:
            _running -= 1
            _state.notify_all()


# ---- in the caller ------------------------------------------------------------------------------------------
class DaskExecutor:
    """Runs ``worker.process`` over the engine's tasks on the cluster of a ``distributed.Client``."""

    def __init__(self, client):
        self.client = client

    def threads(self) -> int:
        """Worker threads of the cluster (waits up to ``WAIT_FOR_WORKERS`` s for a first worker)."""
        threads = sum(self.client.nthreads().values())
        if threads:
            return threads
        try:
            self.client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)
        except TimeoutError:
            address = self.client.scheduler.address
            raise UserError(f"the Dask scheduler at {address} has no workers (start some: "
                            f"dask worker {address})") from None
        return sum(self.client.nthreads().values())

    def imap(self, tasks: list, plan: Plan) -> Iterator[ImageResult]:
        """The ``ImageResult`` of every task, in task order (as ``Pool.imap``). Submits at once, yields lazily.

        Closing the iterator early (an error or Ctrl-C in the engine) cancels the chunks not yet run.
        """
        if not tasks:
            return iter(())
        _, chunk = pool_shape(len(tasks), self.threads())
        blob = pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL)
        token = uuid.uuid4().hex
        plan_future = self.client.scatter(blob, broadcast=True, hash=False)
        chunks = [tasks[i:i + chunk] for i in range(0, len(tasks), chunk)]
        futures = self.client.map(_process_chunk, chunks, blob=plan_future, token=token,
                                  sources=tuple(plan.plugin_sources), keys=_plan_keys(plan), pure=False)
        return self._in_order(futures, plan_future)

    def _in_order(self, futures: list, plan_future) -> Iterator[ImageResult]:
        from distributed import as_completed

        order = {f.key: i for i, f in enumerate(futures)}
        finished = as_completed(futures, with_results=True)
        del futures  # as_completed holds the pending ones; a finished chunk's result is then released at once
        ready: dict[int, list] = {}
        next_chunk = 0
        try:
            for future, results in finished:
                ready[order[future.key]] = results
                while next_chunk in ready:
                    yield from ready.pop(next_chunk)
                    next_chunk += 1
        finally:
            pending = list(getattr(finished, "futures", ()))
            finished.clear()
            self.client.cancel([*pending, plan_future])


@contextlib.contextmanager
def dask_executor(scheduler: str | None = None, *, workers: int | None = None) -> Iterator[DaskExecutor]:
    """A ``DaskExecutor`` on the cluster at ``scheduler`` (``tcp://host:8786``), else on a fresh ``LocalCluster``.

    The LocalCluster: ``workers`` (default ``LOCAL_WORKERS``) processes of one thread each (the pool's shape:
    one process per core, OpenCV single-threaded), no dashboard, bound to 127.0.0.1; closed on exit. A
    missing Dask or an unreachable scheduler is a ``UserError``.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UserError('--engine dask needs Dask: pip install ".[dask]" (the dask extra) or '
                        '"dask[distributed]"') from None
    cluster = client = None
    try:
        if scheduler:
            try:
                client = Client(scheduler)
            except (OSError, TimeoutError, ValueError) as e:
                raise UserError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
        else:
            with main_module_hidden():  # the workers must not re-run the caller's script (see pool.py)
                # no dashboard; the scheduler's HTTP server (health, metrics) cannot be turned off: a free port,
                # not 8787, so two runs side by side do not collide
                cluster = LocalCluster(n_workers=workers or LOCAL_WORKERS, threads_per_worker=1, processes=True,
                                       dashboard_address=None, host="127.0.0.1",
                                       scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
            client = Client(cluster)
        yield DaskExecutor(client)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
