"""Lanes: run the independent pieces of a CPU read on single-threaded worker threads.

Why hand-written: a noisy crossbar read is a GEMM followed by element-wise passes (DAC before,
noise + ADC + scaling after). torch parallelises the GEMM over its OpenMP team, but the fused
element-wise kernels (numba, see :mod:`physnn.crossbar._fused`) would run on one thread, and a
parallel numba region after the GEMM fights the OpenMP threads still spinning from it. Cutting the
read into pieces (blocks of rows, or ensemble members) and running *each piece end to end* —
DAC, single-threaded GEMM, fused post-pass — on its own thread keeps every core busy for the
whole read with nothing spinning. The pieces write disjoint slices of one output tensor and draw
their noise from counters, so the result does not depend on the number of lanes.

The calling thread is lane 0 (its torch thread count is set to 1 for the duration); the other
lanes are daemon threads whose torch intra-op thread count is 1 (``torch.set_num_threads`` is
thread-local for OpenMP and MKL; the global default is restored for the caller). The pool is
rebuilt after ``fork`` (threads do not survive it) and when the caller's thread count grows.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Any, Callable, Sequence

import numpy as np
import torch

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency
    numba = None

__all__ = ["count", "run", "scratch"]

_POOL: "_Pool | None" = None
_LOCK = threading.Lock()
_LOCAL = threading.local()
# Waking a sleeping thread costs 50-100 us on the virtual machines this was measured on (up to a
# tenth of a 512x512 read): a lane that has just finished polls for new work this many times
# (0.1-0.2 ms, GIL released) before it goes to sleep on the queue, and the caller does the same
# while it waits for the lanes. (A worker that sees new work may still wait for the GIL.)
_SPIN = 100_000

if numba is not None:

    @numba.njit(cache=True, nogil=True)
    def _poll(flags, lo, hi, want, tick, iters):  # pragma: no cover - compiled
        """Spin until ``flags[lo:hi]`` all reach ``want`` (True) or ``iters`` polls pass (False).

        ``tick`` is written each poll so that the loads of ``flags`` cannot be hoisted out of
        the loop (the two arrays may alias as far as the compiler knows).
        """
        for _ in range(iters):
            ok = True
            for k in range(lo, hi):
                if flags[k] < want:
                    ok = False
            if ok:
                return True
            tick[0] += 1
        return False
else:  # pragma: no cover
    def _poll(flags, lo, hi, want, tick, iters):
        return False


class _Pool:
    def __init__(self, n: int):
        self.n = n
        self.pid = os.getpid()
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.posted = np.zeros(1, dtype=np.int64)     # number of tasks put on the queue so far
        ready = threading.Barrier(n + 1)
        caller_threads = torch.get_num_threads()
        for i in range(n):
            threading.Thread(target=self._loop, args=(ready,), name=f"physnn-lane-{i}", daemon=True).start()
        ready.wait()
        torch.set_num_threads(caller_threads)   # the workers' set_num_threads(1) also set the default

    def _loop(self, ready: threading.Barrier) -> None:
        torch.set_num_threads(1)
        ready.wait()
        tick = np.zeros(1, dtype=np.int64)
        taken = 0
        while True:
            _poll(self.posted, 0, 1, taken + 1, tick, _SPIN)     # then get() rarely has to sleep
            fn, i, item, done, fin = self.tasks.get()
            taken += 1
            try:
                res = (i, True, fn(item))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, re-raised there
                res = (i, False, exc)
            done.put(res)
            fin[i] = 1


def count() -> int:
    """Number of lanes a read uses now: torch's intra-op thread count of the calling thread."""
    return max(1, torch.get_num_threads())


def _pool(n: int) -> _Pool:
    global _POOL
    with _LOCK:
        if _POOL is None or _POOL.pid != os.getpid() or _POOL.n < n:
            _POOL = _Pool(n)
        return _POOL


def run(fn: Callable[[Any], Any], items: Sequence[Any]) -> list:
    """``[fn(item) for item in items]`` with the items dealt round-robin to the lanes: at most
    :func:`count` pieces run at once, the calling thread doing the first share itself (with
    one torch thread meanwhile) while the workers do the others.

    With one item, or one lane, runs in the calling thread as it is. The first exception raised
    by a piece is re-raised here after all lanes have finished.
    """
    n = min(count(), len(items))
    if n <= 1:
        return [fn(it) for it in items]
    pool = _pool(n - 1)
    done: queue.SimpleQueue = queue.SimpleQueue()
    fin = np.zeros(n, dtype=np.int64)
    for k in range(1, n):
        pool.tasks.put((_serial, k, (fn, items[k::n]), done, fin))
        pool.posted[0] += 1
    out: list = [None] * len(items)
    err: BaseException | None = None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out[0::n] = _serial((fn, items[0::n]))
    except BaseException as exc:  # noqa: BLE001 - re-raised once the workers are done
        err = exc
    finally:
        torch.set_num_threads(threads)
    _poll(fin, 1, n, 1, np.zeros(1, dtype=np.int64), _SPIN)
    for _ in range(1, n):
        k, ok, val = done.get()
        if ok:
            out[k::n] = val
        elif err is None:
            err = val
    if err is not None:
        raise err
    return out


def _serial(job: tuple) -> list:
    fn, items = job
    return [fn(it) for it in items]


def scratch(slot: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A scratch tensor of the calling thread, reused across calls (slot, shape, dtype).

    Fresh large tensors cost page faults on first touch (a lane's memory arena gives its pages
    back to the system between reads); a piece's temporaries live only until it returns, so one
    buffer per thread and slot suffices.
    """
    bufs = getattr(_LOCAL, "bufs", None)
    if bufs is None:
        bufs = _LOCAL.bufs = {}
    n = 1
    for d in shape:
        n *= d
    buf = bufs.get((slot, dtype))
    if buf is None or buf.numel() < n:
        buf = bufs[(slot, dtype)] = torch.empty(max(n, 1), dtype=dtype)
    return buf[:n].view(shape)
