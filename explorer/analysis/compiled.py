"""Lazy numba for the analysis kernels: ``@njit(parallel=True)`` leaves a plain function until its first call,
which imports numba and compiles it (machine code from numba's on-disk cache after the first time).

Importing an analysis module (the CLI's start-up, ``explorer --help``, a page that never runs the kernel) thus
never pays numba's ~1 s import. A kernel's module names ``prange`` at its top (``prange = range``); compiling sets
it to ``numba.prange`` in that module first, so loops written ``for i in prange(n)`` run in parallel once compiled.

Compiling a kernel also binds, in its module, the names a compiled body needs in place of their Python form:

* another ``@njit`` kernel of the module (a lazy wrapper) → its numba dispatcher, so kernels call kernels;
* ``next_double`` / ``next_uint32`` / ``next_uint64`` imported from here → numba's bindings of a NumPy bit
  generator's own functions (``numba.np.random.generator_core``). A kernel passed ``rng.bit_generator`` thus draws
  the very numbers of that ``numpy.random.Generator``'s stream, advancing its state (the 32-bit buffer too);
* ``prefetch`` imported from here → an LLVM prefetch of an array element's cache line (a no-op in Python).
"""
from __future__ import annotations

import functools
import os
import threading

# as explorer.evaluation.kernels: waiting OpenMP threads must not spin on a shared 2-core machine (read when
# libgomp loads, so set before numba is imported; a value the user set is kept)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def next_double(bitgen) -> float:
    """The next double in [0, 1) of a NumPy bit generator (``rng.bit_generator``), as NumPy's ``next_double``."""
    return bitgen.ctypes.next_double(bitgen.ctypes.state)


def next_uint32(bitgen) -> int:
    """The next 32 random bits of a NumPy bit generator (the buffered upper half of the last 64 when there is one)."""
    return bitgen.ctypes.next_uint32(bitgen.ctypes.state)


def next_uint64(bitgen) -> int:
    """The next 64 random bits of a NumPy bit generator."""
    return bitgen.ctypes.next_uint64(bitgen.ctypes.state)


def prefetch(array, index: int) -> None:
    """A hint that ``array[index]`` (1-D) is read soon: compiled, LLVM's ``llvm.prefetch`` of its cache line (the
    load is issued without waiting for it: random rows of a large table arrive while earlier ones are summed);
    in Python, nothing."""


@functools.cache
def _prefetch_intrinsic():
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def _prefetch(typingctx, array, index):
        def codegen(context, builder, signature, args):
            ary = context.make_array(signature.args[0])(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]])
            i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                                "llvm.prefetch.p0i8")
            # read, high locality, data cache
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return types.void(array, index), codegen

    return _prefetch


_BIT_STREAM = {"next_double": next_double, "next_uint32": next_uint32, "next_uint64": next_uint64}
_LOCK = threading.RLock()  # a module's binding makes the dispatchers of other modules' kernels it names


class _Lazy:
    """A kernel before its module is bound: calling it binds the module (``_bind``), then calls numba's
    dispatcher. ``py_func``: the Python original."""

    def __init__(self, fn, options: dict):
        functools.update_wrapper(self, fn)
        self.py_func, self.options, self.made = fn, options, None

    def dispatcher(self):
        """numba's dispatcher of the kernel (compiled at its first call, from the on-disk cache when there)."""
        if self.made is None:
            with _LOCK:
                if self.made is None:
                    _bind(self.py_func.__globals__)
        return self.made

    def __call__(self, *args):
        return (self.dispatcher() if self.made is None else self.made)(*args)


def _bind(names: dict) -> None:
    """Bind the module dictionary ``names`` for numba (module docstring): ``prange``, the bit-stream functions,
    and every kernel it names (its own first, then any other module's), before any of its kernels is marked made
    — so no thread compiles a kernel of a half-bound module."""
    import numba
    from numba.np.random import generator_core

    kernels = {name: value for name, value in names.items() if isinstance(value, _Lazy)}
    own = {k for k in kernels.values() if k.py_func.__globals__ is names and k.made is None}
    fresh = {k: numba.njit(cache=True, nogil=True, **k.options)(k.py_func) for k in own}
    binding = {"prange": numba.prange}
    binding.update({name: getattr(generator_core, name) for name, stub in _BIT_STREAM.items()
                    if names.get(name) is stub})
    if names.get("prefetch") is prefetch:
        binding["prefetch"] = _prefetch_intrinsic()
    binding.update({name: fresh[k] if k in fresh else k.dispatcher() for name, k in kernels.items()})
    names.update(binding)
    for k, made in fresh.items():
        k.made = made


def njit(**options):
    """Decorator: ``numba.njit(cache=True, nogil=True, **options)`` applied at the first call (module docstring).
    The wrapped function keeps the Python original as ``.py_func``; ``.dispatcher()`` is numba's dispatcher."""
    return lambda fn: _Lazy(fn, options)
