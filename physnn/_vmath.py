"""Branch-free elementary functions for numba kernels (LLVM vectorises them; libm's exp/tanh are
scalar calls, and there is no SVML here).

Range reduction of Cody & Waite: ``w = k ln2 + r`` with ``|r| <= ln2 / 2``, ``ln 2`` split into a
high part (exact in ``k * LN2_HI`` for the ``k`` in use) and a low part. :func:`expm1_reduced`
evaluates ``expm1(r)`` on that interval by its Taylor series to ``r^13`` (remainder < 5e-18
relative), so ``exp(w) = 2^k (1 + expm1(r))`` to float64 precision.
"""

from __future__ import annotations

import math

import numpy as np

# float32 split of ln 2 (high part 0x3F317200: k * LN2_HI_F32 is exact for |k| < 2**8)
LN2_HI_F32 = 0.693145751953125
LN2_LO_F32 = 1.428606765330187e-06
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.44269504088896338700e00

#: Taylor coefficients of ``expm1`` from the highest power down, as the Horner schemes below use
#: them: ``1/13!, 1/12!, ..., 1/2!`` (float64) and ``1/8!, ..., 1/2!`` (float32)
EXPM1_COEFS = tuple(1.0 / math.factorial(k) for k in range(13, 1, -1))
EXPM1_COEFS_F32 = tuple(1.0 / math.factorial(k) for k in range(8, 1, -1))


def expm1_reduced_torch(r):
    """:func:`expm1_reduced` (float64 ``r``) or :func:`expm1_reduced_f32` (float32) in torch
    operations, in the same order with the same constants: equal to the compiled routines bit for
    bit (the reference of the compiled LSTM loop, ``physnn.crossbar.backends.lstm_loop``)."""
    import torch

    f32 = r.dtype == torch.float32
    coefs = EXPM1_COEFS_F32 if f32 else EXPM1_COEFS
    c = [torch.tensor(np.float32(k) if f32 else k, dtype=r.dtype) for k in coefs]
    p = r * c[0] + c[1] if f32 else torch.full_like(r, coefs[0]) * r + c[1]
    for k in c[2:]:
        p = p * r + k
    return (p * r + 1.0) * r


try:
    import numba
except ImportError:  # pragma: no cover - numba is optional for this module's users
    numba = None  # type: ignore[assignment]

if numba is not None:

    @numba.njit(inline="always")
    def expm1_reduced(r):  # pragma: no cover - compiled
        """``expm1(r)`` for ``|r| <= ln2 / 2`` (float64 Horner scheme, no branches)."""
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        return (p * r + 1.0) * r

    @numba.njit(inline="always")
    def expm1_reduced_f32(r):  # pragma: no cover - compiled
        """``expm1(r)`` for ``|r| <= ln2 / 2`` in float32 arithmetic (Taylor series to ``r^8``;
        the first term left out, ``r^9 / 9!``, is below 6e-10 relative, under float32's 6e-8)."""
        p = r * np.float32(1.0 / 40320.0) + np.float32(1.0 / 5040.0)
        p = p * r + np.float32(1.0 / 720.0)
        p = p * r + np.float32(1.0 / 120.0)
        p = p * r + np.float32(1.0 / 24.0)
        p = p * r + np.float32(1.0 / 6.0)
        p = p * r + np.float32(0.5)
        return (p * r + np.float32(1.0)) * r

    from numba.core import types as _types
    from numba.extending import intrinsic as _intrinsic

    _BITCAST = {
        _types.float64: _types.int64,
        _types.float32: _types.int32,
        _types.int64: _types.float64,
        _types.int32: _types.float32,
    }

    @_intrinsic
    def bitcast(typingctx, x):  # pragma: no cover - compiled
        """The bits of ``x`` reinterpreted in the other type of its width: float64 <-> int64,
        float32 <-> int32 (one LLVM ``bitcast``, free). Kernels use it instead of writing through
        one array and reading through an integer/float ``view`` of it: two views of one buffer
        are two pointers LLVM may assume do not alias (numba compiles a ``prange`` body with
        ``noalias`` on every array argument), and on AMD Zen 4/5 code generation that reordered
        the store and the load (issue 21)."""
        to = _BITCAST.get(x)
        if to is None:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(to))

        return to(x), codegen
