"""Lanes: native worker threads that run the pieces of a CPU read without the GIL.

Why hand-written: a noisy crossbar read is DAC -> GEMM -> noise/ADC pass, each piece (a block
of rows, or ensemble members) one compiled call (:mod:`physnn.crossbar._fused`, GEMM through
torch's BLAS, :mod:`._blas`). torch parallelises only its own ops, numba's ``parallel=True``
brings a second OpenMP/TBB team that spins against torch's, and a Python thread pool makes each
worker take the GIL to start and to finish its piece: on the 2-core virtual machines this was
measured on, each such hand-over is a futex wake-up of 50-150 us, 10-15 % of a 512x512 read.

Here a worker thread spends its working life inside one compiled, GIL-free loop
(:func:`serve` of the job runner) that polls its job slot — an int64 row of the pool's table
``J`` plus a float64 row of ``F`` — runs the job, and publishes completion with atomic
release/acquire stores and loads. The caller is lane 0: it posts jobs to the other lanes, runs
its own share with the same runner, and spins (GIL released) until the others are done. A worker
that has had no job for ``SPIN_S`` (0.5 ms, in calibrated polls) sleeps on a semaphore; the poster
wakes it (a Dekker handshake on ``AWAKE``/``POSTED`` with sequentially consistent fences, so no
wake-up is lost). Workers set their torch (OpenMP, MKL) thread count to 1; the caller's is set
to 1 while it runs its share. The pool is rebuilt after ``fork`` (threads do not survive it)
and grown when the caller's thread count grows; a second thread reading while the pool is busy
runs its read alone instead of waiting.

Jobs are plain numbers — addresses of contiguous buffers the caller keeps alive until the read
returns, sizes, keys, scalars — laid out by the job runner's module.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

import numpy as np
import torch

try:
    import numba
    from numba import types
    from numba.extending import intrinsic
except ImportError:  # pragma: no cover - numba is a dependency
    numba = None

__all__ = ["Pool", "count", "fetch_add", "load", "pool", "ptr", "store"]

# slots of a lane's int64 job row used by the pool itself; the runner owns the others
POSTED, DONE, AWAKE, FAILED = 0, 1, 2, 3
NJ, NF = 48, 16
# how long an idle worker polls for a new job before it sleeps (s): longer than the caller's
# Python between two reads, so that back-to-back reads find their workers awake
SPIN_S = 5e-4

_POOL: "Pool | None" = None
_LOCK = threading.Lock()

if numba is not None:

    def _int64_array(arr) -> bool:
        return isinstance(arr, types.Array) and arr.dtype == types.int64

    @intrinsic
    def fetch_add(typingctx, arr, index, value):
        """Atomically ``old = arr[index]; arr[index] += value; return old`` (int64 array,
        sequentially consistent): lanes claim work items from one shared counter."""
        if not _int64_array(arr):
            return None
        sig = types.int64(arr, types.intp, types.int64)

        def codegen(context, builder, signature, args):
            ary = context.make_array(signature.args[0])(context, builder, args[0])
            return builder.atomic_rmw("add", builder.gep(ary.data, [args[1]]), args[2], "seq_cst")

        return sig, codegen

    @intrinsic
    def load(typingctx, arr, index):
        """``arr[index]`` as an atomic acquire load (int64 array): never hoisted out of a loop,
        and later loads are not moved before it."""
        if not _int64_array(arr):
            return None
        sig = types.int64(arr, types.intp)

        def codegen(context, builder, signature, args):
            ary = context.make_array(signature.args[0])(context, builder, args[0])
            return builder.load_atomic(builder.gep(ary.data, [args[1]]), "acquire", 8)

        return sig, codegen

    @intrinsic
    def store(typingctx, arr, index, value):
        """``arr[index] = value`` as a sequentially consistent atomic store (int64 array):
        earlier stores are visible to whoever sees this one."""
        if not _int64_array(arr):
            return None
        sig = types.void(arr, types.intp, types.int64)

        def codegen(context, builder, signature, args):
            ary = context.make_array(signature.args[0])(context, builder, args[0])
            builder.store_atomic(args[2], builder.gep(ary.data, [args[1]]), "seq_cst", 8)
            return context.get_dummy_value()

        return sig, codegen

    @intrinsic
    def ptr(typingctx, address, like):
        """A typed pointer (for ``numba.carray``) to the buffer at integer ``address``, of the
        dtype of the array ``like``."""
        if not isinstance(like, types.Array):
            return None
        sig = types.CPointer(like.dtype)(types.int64, like)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

        return sig, codegen

    @numba.njit(cache=True, nogil=True)
    def _may_sleep(J):  # pragma: no cover - compiled
        """A worker about to sleep: clear ``AWAKE``, then look again for a job posted meanwhile
        (the poster stores ``POSTED`` before it reads ``AWAKE``: one of the two sees the other)."""
        store(J, AWAKE, 0)
        if load(J, POSTED) > load(J, DONE):
            store(J, AWAKE, 1)
            return False
        return True

    @numba.njit(cache=True, nogil=True)
    def _finish(J):  # pragma: no cover - compiled
        store(J, DONE, load(J, POSTED))
else:  # pragma: no cover
    fetch_add = load = store = ptr = None


def _forget_pool() -> None:
    """In a forked child: the workers did not survive the fork; the next read builds a pool."""
    global _POOL, _LOCK
    _POOL = None
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


class Pool:
    """``n`` native lanes: the caller (lane 0) and ``n - 1`` worker threads.

    ``J`` (n, NJ) int64 and ``F`` (n, NF) float64 hold one job per lane; ``serve(J_row, F_row,
    spin)`` is the compiled job loop of the runner (it returns after ``spin`` idle polls). The
    caller posts rows ``1..n-1``, runs row 0 itself and waits (the runner's module does this, in
    one compiled call: :func:`physnn.crossbar._fused.go`), then :meth:`raise_failures`.
    """

    def __init__(self, n: int, serve: Callable):
        self.n = n
        self.pid = os.getpid()
        self.J = np.zeros((n, NJ), dtype=np.int64)
        self.F = np.zeros((n, NF), dtype=np.float64)
        self.rows = [(self.J[k], self.F[k]) for k in range(n)]
        self.busy = threading.Lock()
        self.errors: list[BaseException | None] = [None] * n
        self.owner: Any = None          # whose job rows are in J/F (a prepared read may reuse them)
        self._sems = [threading.Semaphore(0) for _ in range(n)]
        ready = threading.Barrier(n)
        caller_threads = torch.get_num_threads()
        # idle polls per SPIN_S: the poll of a job row costs ~0.4 ns on the machine this was
        # written on; measure it here rather than assume it
        idle = np.zeros(NJ, dtype=np.int64)
        serve(idle, np.zeros(NF), 1000)
        t = time.perf_counter()
        serve(idle, np.zeros(NF), 100_000)
        self.spin = int(min(1e9, max(1e4, 1e5 * SPIN_S / max(time.perf_counter() - t, 1e-9))))
        for k in range(1, n):
            threading.Thread(target=self._loop, args=(k, serve, ready), name=f"physnn-lane-{k}",
                             daemon=True).start()
        ready.wait()
        torch.set_num_threads(caller_threads)   # the workers' set_num_threads(1) also set the default

    def _loop(self, k: int, serve: Callable, ready: threading.Barrier) -> None:
        torch.set_num_threads(1)
        J, F = self.rows[k]
        J[AWAKE] = 1
        ready.wait()
        while True:
            try:
                serve(J, F, self.spin)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, re-raised there
                self.errors[k] = exc
                J[FAILED] = 1
                _finish(J)
                continue
            if _may_sleep(J):
                self._sems[k].acquire()
                store_py(J, AWAKE, 1)

    def wake(self, mask: int) -> None:
        """Wake the sleeping workers whose bits are set in ``mask`` (their jobs are posted)."""
        for k in range(1, self.n):
            if mask >> k & 1:
                self._sems[k].release()

    def raise_failures(self, n: int, err: BaseException | None) -> None:
        """Re-raise ``err`` or else the first failure of lanes ``1..n-1`` (all must be done)."""
        for k in range(1, n):
            if self.J[k, FAILED] and err is None:
                err, self.errors[k] = self.errors[k], None
        if err is not None:
            raise err


def store_py(J: np.ndarray, slot: int, value: int) -> None:
    """An atomic store from Python (see :func:`store`)."""
    _store(J, slot, value)


if numba is not None:

    @numba.njit(cache=True, nogil=True)
    def _store(J, slot, value):  # pragma: no cover - compiled
        store(J, slot, value)


def count() -> int:
    """Number of lanes a read uses now: torch's intra-op thread count of the calling thread."""
    return max(1, torch.get_num_threads())


def pool(n: int, serve: Callable) -> Pool:
    """The process's pool, with at least ``n`` lanes (rebuilt after ``fork``)."""
    global _POOL
    with _LOCK:
        p = _POOL
        if p is None or p.pid != os.getpid() or p.n < n:
            p = _POOL = Pool(n, serve)
        return p
