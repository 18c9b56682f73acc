"""Compiled (numba) step loop of the dense ensemble back end, for its common case.

Why hand-written: the numpy loop of :func:`.transient._run_branch` spends ~30 array operations per
step on (branches x members) arrays plus a libm ``sin`` of every junction phase, ~0.7-1 us of CPU
per member and step for ex_dcsfq_jtl_sink (1024 members). Here a whole step is one pass over
blocks of members that stay in the L1/L2 cache, with the member index innermost so that LLVM
vectorises it, and the time loop runs inside the compiled function (no per-step Python).

Scope (the caller checks it): no thermal noise, no capacitor branches, every junction on its
subgap branch (the shared system of all members). The loop returns at the first step where a
junction's predicted voltage reaches the gap region or a predicted phase moves more than the
step limit; that step (and the following ones, until the case applies again) is done by the
general numpy loop, so the results are the same equations in the same order as the numpy loop,
up to the summation order of the matrix product and the ~1 ulp of :func:`_sin`.

numba is optional: without it (or with ``USE_NUMBA = False``) the numpy loop runs everything.
"""

from __future__ import annotations

import numpy as np

try:  # pragma: no cover - exercised when numba is installed
    import numba as _nb
except ImportError:  # pragma: no cover
    _nb = None

#: use the compiled loop when numba is importable (set False to force the numpy loop)
USE_NUMBA = _nb is not None

__all__ = ["USE_NUMBA", "available", "dense_steps", "sin_vec", "merge_members"]


def merge_members(dst: np.ndarray, src: np.ndarray, members: np.ndarray, f: int) -> None:
    """``dst[t, :, members[i]] = src[f t, :, i]`` for every t of ``dst`` (decimated rerun results).

    numpy's fancy-indexed assignment on the last axis cost ~1 s per (4001, 12, 685) array on the
    test machine (one scattered element at a time); the compiled loop is memory-bound."""
    T = min(dst.shape[0], (src.shape[0] + f - 1) // f)
    if available() and dst.flags.c_contiguous and src.flags.c_contiguous and dst.dtype == src.dtype == np.float64:
        _merge(dst, src, np.ascontiguousarray(members, dtype=np.int64), f, T)
    else:
        dst[:T, :, members] = src[::f][:T]

# Cody-Waite split of pi/2 (33 leading bits, exact products k*_PIO2_HI for |k| < 2**20) and the
# rounded remainder; the values are those of fdlibm's e_rem_pio2.c (0x3FF921FB54400000,
# 0x3DD0B4611A626331), recomputed with mpmath.
_PIO2_HI = 1.5707963267341256
_PIO2_LO = 6.077100506506192e-11
_TWO_OVER_PI = 0.6366197723675814
# Taylor coefficients on |r| <= pi/4: the first omitted terms (r^19/19!, r^20/20!) are < 1e-18
_S = (-1.0 / 6.0, 1.0 / 120.0, -1.0 / 5040.0, 1.0 / 362880.0, -1.0 / 39916800.0, 1.0 / 6227020800.0,
      -1.0 / 1307674368000.0, 1.0 / 355687428096000.0)
_C = (-0.5, 1.0 / 24.0, -1.0 / 720.0, 1.0 / 40320.0, -1.0 / 3628800.0, 1.0 / 479001600.0,
      -1.0 / 87178291200.0, 1.0 / 20922789888000.0, -1.0 / 6402373705728000.0)


def available() -> bool:
    """True when the compiled loop can be used."""
    return USE_NUMBA and _nb is not None


if _nb is not None:
    S1, S2, S3, S4, S5, S6, S7, S8 = _S
    C1, C2, C3, C4, C5, C6, C7, C8, C9 = _C

    @_nb.njit(inline="always", cache=True)
    def _sin(x):
        # libm's sin is a scalar call (no SVML in numba here): 10-12 ns per value, the largest cost
        # of a step. This branch-free version vectorises (~2 ns); |error| <= ~2 ulp for |x| < 1e5.
        k = np.floor(x * _TWO_OVER_PI + 0.5)
        r = (x - k * _PIO2_HI) - k * _PIO2_LO
        z = r * r
        s = r + r * z * (S1 + z * (S2 + z * (S3 + z * (S4 + z * (S5 + z * (S6 + z * (S7 + z * S8)))))))
        c = 1.0 + z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * (C6 + z * (C7 + z * (C8 + z * C9))))))))
        q = np.int64(k) & 3
        v = c if (q & 1) else s
        return -v if (q & 2) else v

    @_nb.njit(cache=True, nogil=True)
    def sin_vec(x):
        """Elementwise :func:`_sin` of a 1-D array (for tests)."""
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = _sin(x[i])
        return out

    @_nb.njit(cache=True, nogil=True)
    def _merge(dst, src, members, f, T):
        for t in range(T):
            for j in range(dst.shape[1]):
                d = dst[t, j]
                s = src[f * t, j]
                for i in range(members.shape[0]):
                    d[members[i]] = s[i]

    @_nb.njit(cache=True, nogil=True)
    def dense_steps(n0, T, ys, vs, Q, SyT, Ob, SoT, g, c1, c2, ic, offs, a, kp, check_from, lim,
                    lower_min, cols, phase, volt, nph, P, c, phi0, se, T_out, ob):
        """Steps ``n0 .. T-1`` of the subgap, noise-free dense ensemble loop.

        ``ys = (y, y1, y2)`` (branch phases, (nb, E)) and ``vs = (V, V1, V2, V3)`` (junction
        voltages, (J, E)) rotate as in the numpy loop: after ``m`` steps role ``r`` is held by
        ``ys[(r - m) % 3]`` / ``vs[(r - m) % 4]``. Returns ``m``, the number of steps done; the run
        stopped early (``n0 + m < T``) at a step that needs the general loop (its state untouched).
        Outputs go to row ``n // se`` when ``n % se == 0``, else to the spare row ``T_out``.
        Loops run over 1-D member rows (``x[i]``, contiguous, non-negative indices) so that they
        vectorise; the two matrix products go to BLAS (``np.dot`` with ``out``).
        """
        nb, E = ys[0].shape
        J = ic.shape[0]
        nob = Ob.shape[0]
        m = 0
        for n in range(n0, T):
            y = ys[(3 - m % 3) % 3]
            y1 = ys[(4 - m % 3) % 3]
            y2 = ys[(5 - m % 3) % 3]
            V = vs[(4 - m % 4) % 4]
            V1 = vs[(5 - m % 4) % 4]
            V2 = vs[(6 - m % 4) % 4]
            V3 = vs[(7 - m % 4) % 4]
            # predictor and JoSIM's step tests (nothing is modified before they pass)
            # (integer or-reductions vectorise; float max() reductions do not without fastmath:
            # 3x faster on this loop, same decisions as the numpy loop's max() tests)
            jump = 0
            gap = 0
            for j in range(J):
                y1r, y2r, v1r, v2r, v3r, pr = y1[j], y2[j], V1[j], V2[j], V3[j], phi0[j]
                for e in range(E):
                    p = y1r[e] * (4.0 / 3.0) - y2r[e] * (1.0 / 3.0)
                    v0 = v1r[e] * 2.5 - v2r[e] * 2.0 + v3r[e] * 0.5
                    ph = v0 * kp + p
                    pr[e] = ph
                    jump |= abs(ph - y1r[e]) > lim
                    gap |= abs(v0) >= lower_min
            if (n > check_from and jump) or gap:
                return m
            r = n // se if n % se == 0 else T_out
            # history currents c = g P (+ capacitive and Josephson terms on the junction rows)
            for i in range(nb):
                gi = g[i]
                y1r, y2r, Pr, cr = y1[i], y2[i], P[i], c[i]
                for e in range(E):
                    pi = y1r[e] * (4.0 / 3.0) - y2r[e] * (1.0 / 3.0)
                    Pr[e] = pi
                    cr[e] = gi * pi
            for j in range(J):
                c1j, c2j, oj = c1[j], c2[j], offs[j]
                cr, v1r, v2r, pr, icr = c[j], V1[j], V2[j], phi0[j], ic[j]
                for e in range(E):
                    cj = cr[e] + v1r[e] * c1j
                    cj = cj - v2r[e] * c2j
                    cr[e] = cj - _sin(pr[e] - oj) * icr[e]
            # y = Q c + S_n (one BLAS product for all members)
            np.dot(Q, c, y)
            for i in range(nb):
                s = SyT[n, i]
                yr = y[i]
                for e in range(E):
                    yr[e] += s
            if nob:
                np.dot(Ob, c, ob)
                for o in range(nob):
                    s = SoT[n, o]
                    obr = ob[o]
                    for e in range(E):
                        nph[r, o, cols[e]] = obr[e] + s
            for j in range(J):
                yr, Pr, Vr = y[j], P[j], V[j]
                for e in range(E):
                    vj = (yr[e] - Pr[e]) * a
                    Vr[e] = vj
                    phase[r, j, cols[e]] = yr[e]
                    volt[r, j, cols[e]] = vj
            m += 1
        return m
else:  # pragma: no cover
    dense_steps = sin_vec = None
