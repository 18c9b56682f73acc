"""Compiled (numba) whole-run loop of noise-free dense ensembles.

Why hand-written: the numpy loop of :func:`.transient.reference_loop` spends ~30 array operations per
step on (branches x members) arrays plus a libm ``sin`` of every junction phase. Members are
independent (they share only the system matrix), so :func:`tiled_run` runs the whole transient in
tiles of at most ``TILE`` members x ``CHUNK`` steps: a tile's state stays in the L2 cache, every
inner loop runs over the members of one row (LLVM vectorises it), the shared-matrix product is one
BLAS call per tile step, and the time loop never returns to Python. Timings and design history:
RESULTS.md ("Josephson transient: performance notes").

Per member it does what the numpy loop does: JoSIM's predictor, the 0.2*2pi step rule (a member
that breaks it is flagged with its step and junction, and dropped at the end of the chunk: the
caller reruns it at h/2), the junctions' rtype=1 quasiparticle branches (a member whose junction
reaches the gap region gets the exact low-rank correction of the shared subgap system, as in the
numpy loop), and the outputs, written straight into the caller's (time, junction, member) arrays
at every ``se``-th step. The results are the numpy loop's equations in the same order, up to the
summation order of the matrix product, the small solve of the gap correction, and the ~1 ulp of
:func:`_sin` (measured on ex_dcsfq_jtl_sink, 1024 members, 1 ns: <= 6e-8 rad after 4000 steps,
the same members halved).

Scope (the caller checks it): no thermal noise, no capacitor branches.
numba is optional: without it the numpy loop runs everything (the back end ``tiled-compiled`` of
:mod:`physnn.josephson.backends` says so in its ``unsupported()``; ``use_backend("dense-numpy")``
chooses the numpy loop with numba installed).
"""

from __future__ import annotations

import numpy as np

from ..buffers import scratch

try:  # pragma: no cover - exercised when numba is installed
    import numba as _nb
except ImportError:  # pragma: no cover
    _nb = None

__all__ = ["available", "tiled_run", "sin_vec", "merge_members", "bdf2_voltage", "TILE", "CHUNK"]


def merge_members(dst: np.ndarray, src: np.ndarray, members: np.ndarray, f: int) -> None:
    """``dst[t, :, members[i]] = src[f t, :, i]`` for every t of ``dst`` (decimated rerun results):
    one compiled pass (numpy's fancy-indexed assignment on the last axis scatters one element at a
    time; timings: RESULTS.md, "Josephson transient: performance notes")."""
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
_S = (
    -1.0 / 6.0,
    1.0 / 120.0,
    -1.0 / 5040.0,
    1.0 / 362880.0,
    -1.0 / 39916800.0,
    1.0 / 6227020800.0,
    -1.0 / 1307674368000.0,
    1.0 / 355687428096000.0,
)
_C = (
    -0.5,
    1.0 / 24.0,
    -1.0 / 720.0,
    1.0 / 40320.0,
    -1.0 / 3628800.0,
    1.0 / 479001600.0,
    -1.0 / 87178291200.0,
    1.0 / 20922789888000.0,
    -1.0 / 6402373705728000.0,
)


def available() -> bool:
    """True when the compiled loops can be used (numba is installed)."""
    return _nb is not None


if _nb is not None:
    S1, S2, S3, S4, S5, S6, S7, S8 = _S
    C1, C2, C3, C4, C5, C6, C7, C8, C9 = _C

    @_nb.njit(cache=True, fastmath={"contract"})
    def _sin(x):
        # libm's sin is a scalar call (no SVML in numba here): 10-12 ns per value, the largest cost
        # of a step. This branch-free version vectorises; |error| <= ~2 ulp for |x| < 1e5.
        # Fused multiply-adds (fastmath 'contract', this function only: LLVM inlines it into the
        # loops with its flags) halve its cost, 4.6 -> 2.3 ns per value on the test machine, same
        # maximum error against libm on the accuracy test's 300k points.
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
        out = scratch(x.shape, np.float64)
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
    def bdf2_voltage(phi, c, out):
        """``out[n] = ((3 phi[n] - 4 phi[n-1]) + phi[n-2]) / c`` along axis 0 of a 2-D array (any
        strides), with zero history before the first row (JoSIM's BDF2 voltage of a phase trace).
        Runs backwards in time, so ``out`` may be ``phi`` (in place)."""
        T, W = phi.shape
        for n in range(T - 1, -1, -1):
            for e in range(W):
                v = phi[n, e] * 3.0
                if n >= 1:
                    v = v - phi[n - 1, e] * 4.0
                if n >= 2:
                    v = v + phi[n - 2, e]
                out[n, e] = v / c

else:  # pragma: no cover
    sin_vec = None
    bdf2_voltage = None


# ------------------------------------------------------------------------------------------------
# Tiled whole-run loop (member tiles x time chunks)
# ------------------------------------------------------------------------------------------------
#: largest number of members per tile (per-row loop and BLAS call overheads favour wide tiles;
#: timings: RESULTS.md, "Josephson transient: performance notes")
TILE = 512
#: time steps per chunk; members that broke the step rule are compacted away between chunks
CHUNK = 64

if _nb is not None:

    @_nb.njit(cache=True, nogil=True)
    def _solve_small(M, b, k):
        # Gaussian elimination with partial pivoting of the leading k x k block (k <= J, ~1-3):
        # too small for LAPACK's call overhead; hand-written so it stays inside the compiled loop.
        for p in range(k):
            piv = p
            big = abs(M[p, p])
            for i in range(p + 1, k):
                if abs(M[i, p]) > big:
                    big = abs(M[i, p])
                    piv = i
            if piv != p:
                for jj in range(k):
                    tmp = M[p, jj]
                    M[p, jj] = M[piv, jj]
                    M[piv, jj] = tmp
                tmp = b[p]
                b[p] = b[piv]
                b[piv] = tmp
            for i in range(p + 1, k):
                f = M[i, p] / M[p, p]
                for jj in range(p, k):
                    M[i, jj] -= f * M[p, jj]
                b[i] -= f * b[p]
        for p in range(k - 1, -1, -1):
            s = b[p]
            for jj in range(p + 1, k):
                s -= M[p, jj] * b[jj]
            b[p] = s / M[p, p]

    @_nb.njit(cache=True, nogil=True)
    def _add_row_offsets(a, s, n, W):  # pragma: no cover - compiled
        """``a[i, :W] += s[i]`` for the first ``n`` rows (the source terms of one step)."""
        for i in range(n):
            si = s[i]
            ar = a[i]
            for e in range(W):
                ar[e] += si

    @_nb.njit(cache=True, nogil=True)
    def _store_history(buf, dst, e0, W):  # pragma: no cover - compiled
        """Copy a tile's history ``buf[h, k, :W]`` into ``dst[h, k, e0:e0 + W]``; returns the sum of
        ``x * 0`` over the copied values (0 for finite values, NaN when any is NaN or inf)."""
        nf = 0.0
        for h_ in range(buf.shape[0]):
            for k in range(buf.shape[1]):
                src, out = buf[h_, k], dst[h_, k, e0 : e0 + W]
                for e in range(W):
                    out[e] = src[e]
                    nf += src[e] * 0.0
        return nf

    @_nb.njit(cache=True, nogil=True)
    def _tile(
        e0,
        W,
        n0,
        n1,
        se,
        QO,
        SyT,
        SoT,
        g0,
        gs1,
        gs2,
        c1,
        c2,
        ic,
        offs,
        itc,
        lower,
        upper,
        rt1,
        a,
        kp,
        check_from,
        lim,
        store_v,
        Y,
        VV,
        cols,
        phase,
        volt,
        nph,
        flag_step,
        flag_j,
        flag_val,
        status,
    ):
        """Steps ``n0 .. n1-1`` of the ``W`` members in slots ``e0 .. e0+W-1``; returns how many
        of them broke the step rule for the first time. ``status[0]`` is set to 1 if the final state
        is not finite (NaN and inf persist through the recurrence, so a non-finite output at any
        step shows here; the caller then looks for it in the outputs).

        The tile's state is copied into local arrays: every inner loop runs over one contiguous
        row ``x[i][e], e in range(W)``, which LLVM vectorises; ``y = Q c`` is one BLAS call per
        step (``QO = [Q; Ob]``: the shared subgap system, then the observed unknowns' rows, whose
        product is done on stored steps only)."""
        nb = SyT.shape[1]
        nob = SoT.shape[1]
        J = ic.shape[0]
        yb = scratch((3, nb, W), np.float64)
        vb = scratch((4, J, W), np.float64)
        icl = scratch((J, W), np.float64)
        for h_ in range(3):
            for i in range(nb):
                src, dst = Y[h_, i, e0 : e0 + W], yb[h_, i]
                for e in range(W):
                    dst[e] = src[e]
        for h_ in range(4):
            for j in range(J):
                src, dst = VV[h_, j, e0 : e0 + W], vb[h_, j]
                for e in range(W):
                    dst[e] = src[e]
        for j in range(J):
            src, dst = ic[j, e0 : e0 + W], icl[j]
            for e in range(W):
                dst[e] = src[e]
        cb = cols[e0 : e0 + W].copy()
        contig = True
        for e in range(1, W):
            contig = contig and cb[e] == cb[0] + e
        c0 = cb[0]
        Pl = scratch((nb, W), np.float64)
        cl = scratch((nb, W), np.float64)
        obl = scratch((nob, W), np.float64)
        Qm = QO[:nb]
        Obm = QO[nb:]
        phl = scratch((J, W), np.float64)
        dmax = scratch(W, np.float64)
        gl = scratch((J, W), np.float64)
        anyg = scratch(W, np.int64)
        M = scratch((J, J), np.float64)
        rhs = scratch(J, np.float64)
        act = scratch(J, np.int64)
        corr = scratch(J, np.float64)
        nbad = 0
        for n in range(n0, n1):
            y = yb[n % 3]
            y1 = yb[(n + 2) % 3]
            y2 = yb[(n + 1) % 3]
            V = vb[n % 4]
            V1 = vb[(n + 3) % 4]
            V2 = vb[(n + 2) % 4]
            V3 = vb[(n + 1) % 4]
            # predictor (JoSIM): P = 4/3 y1 - 1/3 y2, v0 = 5/2 V1 - 2 V2 + 1/2 V3, phi0 = P + kp v0
            for e in range(W):
                dmax[e] = -1.0
            gap = 0
            for j in range(J):
                lo = lower[j] if rt1[j] else np.inf
                y1r, y2r, v1r, v2r, v3r = y1[j], y2[j], V1[j], V2[j], V3[j]
                pr, hr = Pl[j], phl[j]
                for e in range(W):
                    p = y1r[e] * (4.0 / 3.0) - y2r[e] * (1.0 / 3.0)
                    v0 = v1r[e] * 2.5 - v2r[e] * 2.0 + v3r[e] * 0.5
                    ph = v0 * kp + p
                    pr[e] = p
                    hr[e] = ph
                    d = abs(ph - y1r[e])
                    dmax[e] = d if d > dmax[e] else dmax[e]
                    gap |= abs(v0) >= lo
            # JoSIM's step rule: a member whose predicted phase moves more than lim is flagged
            # (it is rerun at h/2 from t = 0; its lane runs on until the next compaction)
            if n > check_from:
                hit = 0
                for e in range(W):
                    hit |= dmax[e] > lim
                if hit:
                    for e in range(W):
                        col = cb[e]
                        if dmax[e] > lim and flag_step[col] < 0:
                            jm = 0  # junction of the largest move (the first one, as argmax)
                            for j in range(J):
                                if abs(phl[j, e] - y1[j, e]) == dmax[e]:
                                    jm = j
                                    break
                            flag_step[col] = n
                            flag_j[col] = jm
                            flag_val[col] = dmax[e]
                            nbad += 1
            # history currents c = g P (+ capacitive, Josephson, gap-offset terms on junction rows)
            for i in range(J, nb):
                gi = g0[i]
                y1r, y2r, pr, cr = y1[i], y2[i], Pl[i], cl[i]
                for e in range(W):
                    p = y1r[e] * (4.0 / 3.0) - y2r[e] * (1.0 / 3.0)
                    pr[e] = p
                    cr[e] = gi * p
            if not gap:
                for j in range(J):
                    gj, c1j, c2j, oj = g0[j], c1[j], c2[j], offs[j]
                    pr, v1r, v2r, hr, icr, cr = Pl[j], V1[j], V2[j], phl[j], icl[j], cl[j]
                    for e in range(W):
                        cj = gj * pr[e] + v1r[e] * c1j
                        cj = cj - v2r[e] * c2j
                        cr[e] = cj - _sin(hr[e] - oj) * icr[e]
            else:
                # some junction's predicted voltage reaches the gap region (rtype=1): its branch
                # conductance and offset current change for that member (branch-free selects,
                # so that the loop still vectorises; anyg marks the members concerned)
                for e in range(W):
                    anyg[e] = 0
                for j in range(J):
                    gj, c1j, c2j, oj = g0[j], c1[j], c2[j], offs[j]
                    lo = lower[j] if rt1[j] else np.inf
                    up, g1, g2, itj = upper[j], gs1[j], gs2[j], itc[j]
                    pr, v1r, v2r, hr, icr, cr = Pl[j], V1[j], V2[j], phl[j], icl[j], cl[j]
                    v3r, glr = V3[j], gl[j]
                    for e in range(W):
                        v0 = v1r[e] * 2.5 - v2r[e] * 2.0 + v3r[e] * 0.5
                        av = abs(v0)
                        ing = av >= lo
                        trans = ing and av < up
                        gq = (g1 if trans else g2) if ing else gj
                        it = (itj if v0 > 0 else -itj) if trans else 0.0
                        glr[e] = gq
                        anyg[e] |= ing
                        cj = gq * pr[e] + v1r[e] * c1j
                        cj = cj - v2r[e] * c2j
                        cj = cj - _sin(hr[e] - oj) * icr[e]
                        cr[e] = cj - it
            # y = Q c + S_n (one BLAS call), observed unknowns ob = Ob c + So_n on stored steps
            np.dot(Qm, cl, y)
            _add_row_offsets(y, SyT[n], nb, W)
            store = n % se == 0
            if store and nob:
                np.dot(Obm, cl, obl)
                _add_row_offsets(obl, SoT[n], nob, W)
            if gap:
                # members off the subgap branch: exact low-rank correction of the shared system.
                # The extra conductance dg of those junctions acts as a current -dg*y_J, so
                # (I + Q_aa diag(dg_a)) y_a = (Q c + S)_a on the active junctions a, then
                # y -= Q[:, a] dg_a y_a (and the observed unknowns likewise).
                for e in range(W):
                    if not anyg[e]:
                        continue
                    k = 0
                    for j in range(J):
                        if gl[j, e] != g0[j]:
                            act[k] = j
                            k += 1
                    if k == 0:
                        continue
                    for p in range(k):
                        jp = act[p]
                        for q_ in range(k):
                            jq = act[q_]
                            M[p, q_] = QO[jp, jq] * (gl[jq, e] - g0[jq])
                        M[p, p] += 1.0
                        rhs[p] = y[jp, e]
                    _solve_small(M, rhs, k)
                    for p in range(k):
                        corr[p] = (gl[act[p], e] - g0[act[p]]) * rhs[p]
                    for i in range(nb):
                        s_ = 0.0
                        for p in range(k):
                            s_ += QO[i, act[p]] * corr[p]
                        y[i, e] -= s_
                    if store:
                        for o in range(nob):
                            s_ = 0.0
                            for p in range(k):
                                s_ += QO[nb + o, act[p]] * corr[p]
                            obl[o, e] -= s_
            # V_n = a (y_J - P_J), and the outputs of stored steps
            if not store:
                for j in range(J):
                    yr, pr, vr = y[j], Pl[j], V[j]
                    for e in range(W):
                        vr[e] = (yr[e] - pr[e]) * a
            else:
                r = n // se
                if contig:
                    for j in range(J):
                        yr, pr, vr = y[j], Pl[j], V[j]
                        po = phase[r, j, c0 : c0 + W]
                        for e in range(W):
                            vr[e] = (yr[e] - pr[e]) * a
                            po[e] = yr[e]
                        if store_v:
                            vo = volt[r, j, c0 : c0 + W]
                            for e in range(W):
                                vo[e] = vr[e]
                    for o in range(nob):
                        orow, no = obl[o], nph[r, o, c0 : c0 + W]
                        for e in range(W):
                            no[e] = orow[e]
                else:
                    for j in range(J):
                        yr, pr, vr, po = y[j], Pl[j], V[j], phase[r, j]
                        for e in range(W):
                            vr[e] = (yr[e] - pr[e]) * a
                            po[cb[e]] = yr[e]
                        if store_v:
                            vo = volt[r, j]
                            for e in range(W):
                                vo[cb[e]] = vr[e]
                    for o in range(nob):
                        orow, no = obl[o], nph[r, o]
                        for e in range(W):
                            no[cb[e]] = orow[e]
        nf = _store_history(yb, Y, e0, W) + _store_history(vb, VV, e0, W)
        if nf != 0.0:
            status[0] = 1
        return nbad

    @_nb.njit(cache=True, nogil=True)
    def tiled_run(
        T,
        se,
        QO,
        SyT,
        SoT,
        g0,
        gs1,
        gs2,
        c1,
        c2,
        ic,
        offs,
        itc,
        lower,
        upper,
        rt1,
        a,
        kp,
        check_from,
        lim,
        store_v,
        Y,
        VV,
        cols,
        phase,
        volt,
        nph,
        flag_step,
        flag_j,
        flag_val,
        status,
        chunk,
        tile,
    ):
        """Steps 0..T-1 of the members in ``cols`` (output columns; state ``Y`` (3, nb, m), ``VV``
        (4, J, m), ``ic`` (J, m)), in tiles of at most ``tile`` members and chunks of ``chunk``
        steps; the output row of step n is ``n // se`` (steps with ``n % se != 0`` are not
        stored). A member whose predicted phase moves more than ``lim`` after step
        ``check_from`` gets ``flag_step[col]`` (the step), ``flag_j[col]`` (the junction with
        the largest move) and ``flag_val[col]`` (that move) and is dropped at the end of the
        chunk. ``status[0]`` is set to 1 if a state became non-finite. Returns the number of
        members never flagged."""
        nact = cols.shape[0]
        n0 = 0
        while n0 < T and nact > 0:
            n1 = min(n0 + chunk, T)
            ntile = (nact + tile - 1) // tile
            nbad = 0
            for t in range(ntile):
                lo = (nact * t) // ntile
                hi = (nact * (t + 1)) // ntile
                nbad += _tile(
                    lo,
                    hi - lo,
                    n0,
                    n1,
                    se,
                    QO,
                    SyT,
                    SoT,
                    g0,
                    gs1,
                    gs2,
                    c1,
                    c2,
                    ic,
                    offs,
                    itc,
                    lower,
                    upper,
                    rt1,
                    a,
                    kp,
                    check_from,
                    lim,
                    store_v,
                    Y,
                    VV,
                    cols,
                    phase,
                    volt,
                    nph,
                    flag_step,
                    flag_j,
                    flag_val,
                    status,
                )
            n0 = n1
            if nbad:
                # drop the flagged members: move the others' state down (slot order kept)
                k = 0
                for s in range(nact):
                    col = cols[s]
                    if flag_step[col] < 0:
                        if k != s:
                            cols[k] = col
                            for h_ in range(3):
                                for i in range(Y.shape[1]):
                                    Y[h_, i, k] = Y[h_, i, s]
                            for h_ in range(4):
                                for j in range(VV.shape[1]):
                                    VV[h_, j, k] = VV[h_, j, s]
                            for j in range(ic.shape[0]):
                                ic[j, k] = ic[j, s]
                        k += 1
                nact = k
        return nact

    @_nb.njit(cache=True, nogil=True)
    def _run_group(
        g,
        bounds,
        members,
        T,
        se,
        QO,
        SyT,
        SoT,
        g0,
        gs1,
        gs2,
        c1,
        c2,
        ic_all,
        offs,
        itc,
        lower,
        upper,
        rt1,
        a,
        kp,
        check_from,
        lim,
        store_v,
        nb,
        phase,
        volt,
        nph,
        flag_step,
        flag_j,
        flag_val,
        status,
        chunk,
        tile,
    ):
        # group g: its own copy of the member list (the loop compacts it), state arrays and status[g]
        J = ic_all.shape[0]
        cols = members[bounds[g] : bounds[g + 1]].copy()
        m = cols.shape[0]
        ic = scratch((J, m), np.float64)
        for j in range(J):
            for k in range(m):
                ic[j, k] = ic_all[j, cols[k]]
        tiled_run(
            T,
            se,
            QO,
            SyT,
            SoT,
            g0,
            gs1,
            gs2,
            c1,
            c2,
            ic,
            offs,
            itc,
            lower,
            upper,
            rt1,
            a,
            kp,
            check_from,
            lim,
            store_v,
            np.zeros((3, nb, m)),
            np.zeros((4, J, m)),
            cols,
            phase,
            volt,
            nph,
            flag_step,
            flag_j,
            flag_val,
            status[g : g + 1],
            chunk,
            tile,
        )

    @_nb.njit(cache=True, nogil=True, parallel=True)
    def tiled_run_groups(
        bounds,
        members,
        T,
        se,
        QO,
        SyT,
        SoT,
        g0,
        gs1,
        gs2,
        c1,
        c2,
        ic_all,
        offs,
        itc,
        lower,
        upper,
        rt1,
        a,
        kp,
        check_from,
        lim,
        store_v,
        nb,
        phase,
        volt,
        nph,
        flag_step,
        flag_j,
        flag_val,
        status,
        chunk,
        tile,
    ):
        """:func:`tiled_run` of the contiguous member groups ``members[bounds[g]:bounds[g + 1]]``,
        one per ``prange`` iteration: each group owns its state arrays and its ``status[g]``;
        the outputs and flags it writes are its own members' columns, so groups share no
        written memory."""
        for g in _nb.prange(bounds.shape[0] - 1):
            _run_group(
                g,
                bounds,
                members,
                T,
                se,
                QO,
                SyT,
                SoT,
                g0,
                gs1,
                gs2,
                c1,
                c2,
                ic_all,
                offs,
                itc,
                lower,
                upper,
                rt1,
                a,
                kp,
                check_from,
                lim,
                store_v,
                nb,
                phase,
                volt,
                nph,
                flag_step,
                flag_j,
                flag_val,
                status,
                chunk,
                tile,
            )

    @_nb.njit(cache=True, nogil=True)
    def tiled_run_group(
        bounds,
        members,
        T,
        se,
        QO,
        SyT,
        SoT,
        g0,
        gs1,
        gs2,
        c1,
        c2,
        ic_all,
        offs,
        itc,
        lower,
        upper,
        rt1,
        a,
        kp,
        check_from,
        lim,
        store_v,
        nb,
        phase,
        volt,
        nph,
        flag_step,
        flag_j,
        flag_val,
        status,
        chunk,
        tile,
    ):
        """:func:`tiled_run_groups` for one group, serially (numba's thread pool is not started)."""
        _run_group(
            0,
            bounds,
            members,
            T,
            se,
            QO,
            SyT,
            SoT,
            g0,
            gs1,
            gs2,
            c1,
            c2,
            ic_all,
            offs,
            itc,
            lower,
            upper,
            rt1,
            a,
            kp,
            check_from,
            lim,
            store_v,
            nb,
            phase,
            volt,
            nph,
            flag_step,
            flag_j,
            flag_val,
            status,
            chunk,
            tile,
        )
else:  # pragma: no cover
    tiled_run = None
    tiled_run_groups = None
    tiled_run_group = None


# ------------------------------------------------------------------------------------------------
# Single-run fused loop (see transient._run_fused)
# ------------------------------------------------------------------------------------------------
if _nb is not None:

    @_nb.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
    def _rowdot(A, r, w, m):
        # one row of a matrix-vector product; 'reassoc' lets LLVM vectorise the sum (the summation
        # order differs from BLAS's by round-off only)
        acc = 0.0
        for j in range(m):
            acc += A[r, j] * w[j]
        return acc

    @_nb.njit(cache=True, nogil=True)
    def fused_segment(
        W,
        U,
        slog,
        FHd,
        Gd,
        drows,
        srows,
        ssrc,
        Rp,
        Hd,
        lower,
        upper,
        rtype1,
        itc,
        phi_off,
        ic,
        state,
        k0,
        n0,
        T,
        dz,
        new_state,
    ):
        """Steps ``n0 <= n < T`` of the general fused loop of ``transient._run_fused`` for one
        quasiparticle state of the junctions.

        ``FHd, Gd, Hd``: the rows ``drows`` of that state's ``FH``, ``G`` (T, rows) and ``H`` that
        are not plain copies; the other rows ``srows`` of the state vector copy entry ``ssrc`` of
        the previous state (history shifts). ``Rp``: predictor rows (phi0, v0/lower), (2J, dz).
        Per step: predictor, state test, ``s = sin(phi0 - phi_off)``, drive ``U = -Ic s - I_t``,
        ``z' = FH w + G_n - H I_t`` -- the numpy loop's equations (libm sin).

        Returns the first step at which a junction's predicted voltage puts it in another state
        (nothing of that step is written; that state is left in ``new_state``: the caller switches
        matrices and calls again from that step), or T.
        """
        J = lower.shape[0]
        m = FHd.shape[1]
        nd = drows.shape[0]
        itv = np.zeros(J)
        p = scratch(2 * J, np.float64)
        anyst = False
        for j in range(J):
            if state[j] != 0:
                anyst = True
        for n in range(n0, T):
            w = W[n]
            for r in range(2 * J):
                p[r] = _rowdot(Rp, r, w, dz)
            changed = False
            for j in range(J):
                st = 0
                if rtype1[j]:
                    av = abs(p[J + j] * lower[j])
                    st = 0 if av < lower[j] else (1 if av < upper[j] else 2)
                new_state[j] = st
                if st != state[j]:
                    changed = True
            if changed:
                return n
            for j in range(J):
                v0 = p[J + j] * lower[j]
                it = itc[j] * np.sign(v0) if state[j] == 1 else 0.0
                s = np.sin(p[j] - phi_off[j])
                w[dz + j] = s
                U[n, j] = -ic[j] * s - it
                itv[j] = it
            nxt = W[n + 1]
            for k in range(nd):
                v = _rowdot(FHd, k, w, m) + Gd[n, k]
                if anyst:
                    v -= _rowdot(Hd, k, itv, J)
                nxt[drows[k]] = v
            for k in range(srows.shape[0]):
                nxt[srows[k]] = w[ssrc[k]]
            slog[n] = k0
        return T
else:  # pragma: no cover
    fused_segment = None
