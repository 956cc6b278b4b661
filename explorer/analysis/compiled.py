"""Lazy numba for the analysis kernels: ``@njit(parallel=True)`` leaves a plain function until its first call,
which imports numba and compiles it (machine code from numba's on-disk cache after the first time).

Importing an analysis module (the CLI's start-up, ``explorer --help``, a page that never runs the kernel) thus
never pays numba's ~1 s import. A kernel's module names ``prange`` at its top (``prange = range``); compiling sets
it to ``numba.prange`` in that module first, so loops written ``for i in prange(n)`` run in parallel once compiled.
"""
from __future__ import annotations

import functools
import os
import threading

# as explorer.evaluation.kernels: waiting OpenMP threads must not spin on a shared 2-core machine (read when
# libgomp loads, so set before numba is imported; a value the user set is kept)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_LOCK = threading.Lock()


def njit(**options):
    """Decorator: ``numba.njit(cache=True, nogil=True, **options)`` applied at the first call (module docstring).
    The wrapped function keeps the Python original as ``.py_func``."""

    def wrap(fn):
        compiled = []

        @functools.wraps(fn)
        def call(*args):
            if not compiled:
                with _LOCK:
                    if not compiled:
                        import numba

                        fn.__globals__["prange"] = numba.prange
                        compiled.append(numba.njit(cache=True, nogil=True, **options)(fn))
            return compiled[0](*args)

        call.py_func = fn
        return call

    return wrap
