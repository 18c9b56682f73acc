"""The BLAS GEMM that torch itself calls, made callable from numba kernels.

Why hand-written: a CPU crossbar read is DAC -> GEMM -> noise/ADC pass. When the GEMM is a
``torch.mm`` between two numba calls, every piece of a read crosses back into Python twice, and
on a 2-core machine each crossing of a worker thread can wait 50-100 us for the GIL (a futex
wake-up on a virtual machine). Calling the same GEMM from inside the numba kernel makes a whole
piece one GIL-free call. numba has no BLAS binding of its own; ``scipy.linalg.cython_blas`` would
bring OpenBLAS with its own thread pool, which neither honours ``torch.set_num_threads`` nor knows
about torch's OpenMP team. The GEMM here is the Fortran ``sgemm_``/``dgemm_`` exported by torch's
CPU library (MKL on x86 builds), so the products are bit for bit those of ``torch.mm`` (tested)
and the thread count is torch's (the calling thread's ``torch.set_num_threads``).

:data:`SGEMM`/:data:`DGEMM` are the function addresses (0 where the symbol is missing, e.g. a
torch built without a Fortran BLAS interface; callers then keep ``torch.mm``). The address is an
argument of the compiled kernels, not a constant in them, so numba's on-disk cache stays valid
across processes.
"""

from __future__ import annotations

import ctypes
import os

import torch

try:
    import numba
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic
except ImportError:  # pragma: no cover - numba is a dependency
    numba = None
    gemm_xwt = gemm_xw = None

__all__ = ["DGEMM", "SGEMM", "address"]  # and, with numba, gemm_xwt / gemm_xw


def address(symbol: str) -> int:
    """Address of ``symbol`` in torch's loaded CPU library, or 0 when it is not exported."""
    lib_dir = os.path.join(os.path.dirname(torch.__file__), "lib")
    for name in ("libtorch_cpu.so", "libtorch_cpu.dylib", "torch_cpu.dll"):
        path = os.path.join(lib_dir, name)
        if os.path.exists(path):
            try:
                return int(ctypes.cast(getattr(ctypes.CDLL(path), symbol), ctypes.c_void_p).value or 0)
            except (OSError, AttributeError):
                return 0
    return 0


SGEMM = address("sgemm_") if numba is not None else 0
DGEMM = address("dgemm_") if numba is not None else 0

if numba is not None:

    @intrinsic
    def _call13(typingctx, fn, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13):
        """Call the C function at address ``fn`` with 13 pointer arguments (all given as int64)."""
        sig = types.void(*([types.int64] * 14))

        def codegen(context, builder, signature, args):
            i8p = ir.IntType(8).as_pointer()
            fnty = ir.FunctionType(ir.VoidType(), [i8p] * 13)
            f = builder.inttoptr(args[0], fnty.as_pointer())
            builder.call(f, [builder.inttoptr(v, i8p) for v in args[1:]])
            return context.get_dummy_value()

        return sig, codegen

    @numba.njit(cache=True, nogil=True, inline="always")
    def _gemm_nt(fn, trans_w, x, w, y, n, ws_i, ws_f):  # pragma: no cover - compiled
        """``y (rows, n) = x (rows, k) @ op(w)`` through the Fortran GEMM at ``fn``, in the
        column-major view ``y.T = op(w).T @ x.T``: ``gemm(tw, 'N', n, rows, k, 1, w, ldw, x, k, 0,
        y, n)`` with ``tw`` = 'T' and ``ldw = k`` for ``w`` stored (n, k), 'N' and ``ldw = n`` for
        ``w`` stored (k, n)."""
        rows, k = x.shape
        if rows == 0 or n == 0:
            return
        if k == 0:
            y[:] = 0
            return
        ws_i[0] = n
        ws_i[1] = rows
        ws_i[2] = k
        ws_i[3] = 84 if trans_w else 78  # 'T' / 'N'
        ws_i[4] = 78                     # 'N'
        ws_f[0] = 1.0
        ws_f[1] = 0.0
        ip = ws_i.ctypes.data
        fp = ws_f.ctypes.data
        sz = ws_f.itemsize
        _call13(fn, ip + 12, ip + 16, ip, ip + 4, ip + 8, fp, w.ctypes.data, ip + 8 if trans_w else ip,
                x.ctypes.data, ip + 8, fp + sz, y.ctypes.data, ip)

    @numba.njit(cache=True, nogil=True)
    def gemm_xwt(fn, x, w, y, ws_i, ws_f):  # pragma: no cover - compiled
        """``y = x @ w.T`` for C-contiguous ``x`` (rows, k), ``w`` (n, k), ``y`` (rows, n) of one
        dtype, through the Fortran GEMM at ``fn`` (``sgemm_`` for float32, ``dgemm_`` for float64).

        Column-major view: ``y.T (n, rows) = w (k, n).T @ x.T (k, rows)``, i.e.
        ``gemm('T', 'N', n, rows, k, 1, w, k, x, k, 0, y, n)``. ``ws_i``: int32 scratch of 8,
        ``ws_f``: scratch of 2 in the dtype of ``x`` (alpha, beta).
        """
        _gemm_nt(fn, True, x, w, y, w.shape[0], ws_i, ws_f)

    @numba.njit(cache=True, nogil=True)
    def gemm_xw(fn, x, w, y, ws_i, ws_f):  # pragma: no cover - compiled
        """``y = x @ w`` for C-contiguous ``x`` (rows, k), ``w`` (k, n), ``y`` (rows, n); otherwise
        as :func:`gemm_xwt`: ``gemm('N', 'N', n, rows, k, 1, w, n, x, k, 0, y, n)``. Measured here
        (MKL, one thread): as fast as ``gemm_xwt`` on the transposed weights for 64-256 rows of
        128-512 columns, faster for small products (16 x 128 @ 128 x 128: 6.1 vs 8.6 us).
        """
        _gemm_nt(fn, False, x, w, y, w.shape[1], ws_i, ws_f)
