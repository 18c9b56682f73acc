"""Where fast paths get uninitialised memory, and the test mode that poisons it.

Every buffer a fast path (the crossbar read's numba back end, the compiled LSTM loop, the ESN
kernel, the Josephson kernels) allocates without initialising comes from here: :func:`empty` and
:func:`empty_torch` on the Python side, :func:`scratch` inside compiled kernels.

**Poison mode.** With the environment variable ``PHYSNN_POISON_BUFFERS=1`` set before physnn is
imported, each such buffer is filled before the kernel sees it: floating point with NaN (or with
the number given, ``PHYSNN_POISON_BUFFERS=-1e30``), integers with their largest value (an index
past any table), booleans with True. A kernel that reads memory
it did not write then returns NaN, or a value its equality test rejects, on every machine;
without the mode it would read whatever the allocator handed out, which on one machine is zeros
and on another garbage (issue 21: a float64 read that was right where it was written and wrong on
a fresh machine). The test suite runs the back-end equality tests in this mode
(``tests/test_poisoned_buffers.py``); off, it costs nothing (a compile-time constant).

numba's on-disk cache keys a kernel by its own bytecode and closure, not by the globals or
callees it was compiled with, so a kernel cached without poison would be reused with it: in
poison mode physnn therefore points numba's cache at a folder of its own
(``$NUMBA_CACHE_DIR/physnn-poison-<value>``, or ``physnn-numba-poison-<value>-<uid>`` in the
temporary folder).

Why two poisons: the kernel of issue 21 was NaN-aware (``max(s, tiny) if s == s else s``), and
with NaN in the stale buffer it took the branch that reloaded the right value, so NaN alone did
not show it; a finite poison (``-1e30``) did.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from typing import Any

import numpy as np

__all__ = [
    "POISON",
    "POISON_FLOAT",
    "empty",
    "empty_pages",
    "empty_torch",
    "numba_cache_dir",
    "poison_value",
    "scratch",
]


def _float_poison(raw: str) -> float:
    if raw in ("1", "nan", "true", "yes", "on"):
        return float("nan")
    try:
        return float(raw)
    except ValueError:
        raise ValueError(
            f"PHYSNN_POISON_BUFFERS={raw!r}: expected 1/nan (NaN), a number to fill "
            "floating-point buffers with, or 0/empty (off)"
        ) from None


_RAW = os.environ.get("PHYSNN_POISON_BUFFERS", "").strip().lower()
#: whether the poison mode is on (``PHYSNN_POISON_BUFFERS`` set and not 0)
POISON: bool = _RAW not in ("", "0", "false", "no", "off")
#: what floating-point buffers are filled with in poison mode: NaN (``=1``), or the number given
#: (``PHYSNN_POISON_BUFFERS=-1e30``): a NaN-aware kernel can take another branch for NaN, and a
#: large finite value then still shows a read of unwritten memory
POISON_FLOAT: float = _float_poison(_RAW) if POISON else float("nan")


def poison_value(dtype: Any) -> Any:
    """The value a poisoned buffer of ``dtype`` (numpy or torch dtype) is filled with."""
    dt = np.dtype(str(dtype).replace("torch.", "")) if not isinstance(dtype, np.dtype) else dtype
    if dt.kind in "fc":
        return POISON_FLOAT
    if dt.kind in "iu":
        return int(np.iinfo(dt).max)
    if dt.kind == "b":
        return True
    raise TypeError(f"dtype: no poison value for {dtype!r}")


def empty(shape: Any, dtype: Any = np.float64) -> np.ndarray:
    """``numpy.empty(shape, dtype)``; poisoned in poison mode."""
    a = np.empty(shape, dtype)
    if POISON:
        a.fill(poison_value(a.dtype))
    return a


def empty_pages(shape: Any, dtype: Any = np.float64) -> np.ndarray:
    """Like :func:`empty`, in fresh anonymous pages of its own (``mmap``), for large write-once
    outputs such as an ensemble's traces.

    numpy asks the kernel for transparent huge pages on arrays of 4 MiB or more. Where THP is in
    ``madvise`` mode with ``madvise`` defrag (a common default), each first touch of such pages
    then waits for the kernel to compact memory, and after another program has fragmented it
    that wait dominates: a 1,024-member Josephson batch (0.8 GB of traces) spent 2.2 s of kernel
    time right after a JoSIM round, against 0.5 s in plain 4 KiB pages, wall 1.6 s against 0.7 s
    (measured here). The memory goes back to the system when the array is freed. Same numbers;
    only where the memory comes from.

    The mapping is private (``MAP_PRIVATE``): Python's default for ``mmap.mmap(-1, n)`` is a
    shared one, backed by shmem, whose first touches and unmapping cost about twice as much
    kernel time (measured here, 400 MB touched once: 0.28 s shared, 0.15 s private)."""
    dt = np.dtype(dtype)
    shape = tuple(int(n) for n in (shape if isinstance(shape, tuple) else (shape,)))
    n = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    buf = mmap.mmap(-1, max(n, 1), flags=mmap.MAP_PRIVATE)
    a = np.frombuffer(buf, dtype=dt, count=n // dt.itemsize).reshape(shape)
    if POISON:
        a.fill(poison_value(dt))
    return a


def empty_torch(shape: Any, dtype: Any, device: Any = None) -> Any:
    """``torch.empty(shape, dtype=dtype, device=device)``; poisoned in poison mode."""
    import torch

    t = torch.empty(shape, dtype=dtype, device=device)
    if POISON:
        t.fill_(poison_value(t.dtype))
    return t


def numba_cache_dir(current: str) -> str:
    """The numba cache folder for this process, given the inherited ``NUMBA_CACHE_DIR``
    (``current``, "" for numba's default): in poison mode a folder of its own per poison value
    (``<current>/physnn-poison-<value>``, or ``physnn-numba-poison-<value>-<uid>`` in the
    temporary folder), else the user's folder. Stateless: a poison folder inherited from a
    parent process is first mapped back to the folder it was made from, so a child with another
    poison value, or none, never shares the parent's compiled kernels."""
    base = current.rstrip(os.sep)
    name = os.path.basename(base)
    if name.startswith("physnn-numba-poison-"):
        base = ""
    elif name.startswith("physnn-poison-"):
        base = os.path.dirname(base)
    if not POISON:
        return base
    tag = "nan" if POISON_FLOAT != POISON_FLOAT else repr(POISON_FLOAT).replace("+", "")
    if base:
        return os.path.join(base, f"physnn-poison-{tag}")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return os.path.join(tempfile.gettempdir(), f"physnn-numba-poison-{tag}-{uid}")


try:
    import numba
    from numba.core import types as _types
    from numba.extending import overload as _overload
except ImportError:  # pragma: no cover - numba is a dependency
    numba = None  # type: ignore[assignment]
    scratch = None
else:
    _inherited = os.environ.get("NUMBA_CACHE_DIR", "")
    _dir = numba_cache_dir(_inherited)
    if _dir != _inherited:
        if _dir:
            os.environ["NUMBA_CACHE_DIR"] = _dir  # also for subprocesses and a config reload
        else:
            os.environ.pop("NUMBA_CACHE_DIR", None)
        numba.config.CACHE_DIR = _dir  # type: ignore[attr-defined]

    def _fill(a):  # pragma: no cover - replaced by the overload in compiled code
        if POISON:
            a.fill(poison_value(a.dtype))

    @_overload(_fill, inline="always")
    def _fill_overload(a):
        if not POISON:
            return lambda a: None
        if isinstance(a.dtype, _types.Float):
            fv = POISON_FLOAT
            return lambda a: a.fill(fv)
        if isinstance(a.dtype, _types.Integer):
            v = poison_value(np.dtype(str(a.dtype)))
            return lambda a: a.fill(v)
        if isinstance(a.dtype, _types.Boolean):
            return lambda a: a.fill(True)
        return None

    @numba.njit(inline="always")
    def scratch(shape, dtype):  # pragma: no cover - compiled
        """``np.empty(shape, dtype)`` inside a compiled kernel; poisoned in poison mode."""
        a = np.empty(shape, dtype)
        _fill(a)
        return a
