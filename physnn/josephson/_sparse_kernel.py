"""Compiled (numba) step loop of single runs of large circuits (the ``sparse`` back end).

Why hand-written: the numpy loop of :func:`.transient.reference_loop` spends ~30 array operations,
three scipy sparse products and a banded LAPACK solve per step; on a 2,000-3,000-junction circuit
that is 0.3-0.9 ms of CPU per step, most of it call overhead and passes over (branches,) arrays.
Here one compiled call runs the whole transient (or the stretch up to a junction's quasiparticle
state change): per step the predictor, JoSIM's 0.2*2pi step rule, the branch history currents,
the transmission-line waves, the right-hand side as a scatter over the branch incidences, the two
sparse triangular solves with SuperLU's factors of the system matrix (scipy computes the
factorisation; only its triangular solves are done here, because scipy has no solve callable
from compiled code), and the branch phases as a gather.

The equations and their order are those of the numpy loop; results differ from it by round-off
only (the factorisation is SuperLU's LU instead of banded Cholesky, and the sparse sums run in
another order): measured <= 1e-11 rad on ex_jtl_string after 8,000 steps.

Scope (the caller checks it): one ensemble member, no thermal noise.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla

from ..buffers import empty, scratch

from ._ensemble_kernel import _nb, available

__all__ = ["available", "SparseFactors", "sparse_segment"]


class SparseFactors:
    """SuperLU factors ``Pr A Pc = L U`` of a system matrix, as CSR arrays for the compiled solve.

    Unknown ``i`` of the matrix is row ``perm_r[i]`` of the permuted right-hand side and entry
    ``perm_c[i]`` of the permuted solution, so the loop scatters and gathers in the permuted
    order and never permutes a vector. ``L`` and ``U``: (indptr, indices, data) of the strict
    triangles (L's diagonal is 1), ``Udi``: the reciprocal of U's diagonal."""

    def __init__(self, A):
        A = A.tocsc()
        n = A.shape[0]
        if n == 0:
            raise ZeroDivisionError("empty system")
        # fill-reducing ordering of A + A^T (the matrix is symmetric up to the source rows) with
        # diagonal pivots preferred: the factors of these circuits have ~2.2 n entries each
        lu = spla.splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.1, options={"SymmetricMode": True})
        self.perm_r = np.ascontiguousarray(lu.perm_r, dtype=np.int64)
        self.perm_c = np.ascontiguousarray(lu.perm_c, dtype=np.int64)
        L = lu.L.tocsr()
        U = lu.U.tocsr()
        ud = U.diagonal()
        if not np.all(np.abs(ud) > 1e-13 * np.abs(ud).max(initial=0.0)):
            raise ZeroDivisionError("zero pivot")
        if not np.all(L.diagonal() == 1.0):  # pragma: no cover - SuperLU's L has a unit diagonal
            raise RuntimeError("SuperLU's L factor has no unit diagonal")
        self.L = _strict(L, lower=True)
        self.U = _strict(U, lower=False)
        self.Udi = np.ascontiguousarray(1.0 / ud)
        self.n = n
        self.nnz = int(L.nnz + U.nnz)

    def rows(self, rhs: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the forward and back substitutions that matter when only the unknowns
        ``rhs`` can have a nonzero right-hand side and only the unknowns ``wanted`` are read.

        A row whose right-hand side and L-predecessors are all structurally zero stays zero in
        the forward pass; a row that no wanted row reads (through U) is not needed in the back
        pass. Unknowns that only inductors touch (the inner node of an L-L chain) are both:
        skipping them leaves the wanted entries bitwise the same and cuts ex_jtl_string's solve
        by ~40 % (3,000 of its 9,026 unknowns). Returns (forward rows, back rows), ascending."""
        n = self.n
        nz = np.zeros(n, dtype=bool)
        nz[self.perm_r[np.asarray(rhs, dtype=np.int64)]] = True
        Lp, Li, _ = self.L
        Up, Ui, _ = self.U
        _mark_rows(nz, Lp, Li, np.zeros(n, dtype=bool), Up, Ui, forward=True)
        need = np.zeros(n, dtype=bool)
        need[self.perm_c[np.asarray(wanted, dtype=np.int64)]] = True
        _mark_rows(need, Lp, Li, need, Up, Ui, forward=False)
        return np.nonzero(nz)[0].astype(np.int64), np.nonzero(need)[0].astype(np.int64)

    def solve(self, b: np.ndarray) -> np.ndarray:
        """``A^-1 b`` with these factors (numpy; for tests)."""
        from scipy.sparse import csr_matrix, identity
        from scipy.sparse.linalg import spsolve_triangular

        n = self.n
        b2 = empty(n)
        b2[self.perm_r] = b
        Ls = csr_matrix((self.L[2], self.L[1], self.L[0]), shape=(n, n)) + identity(n)
        Us = csr_matrix((self.U[2], self.U[1], self.U[0]), shape=(n, n)) + csr_matrix(
            (1.0 / self.Udi, np.arange(n), np.arange(n + 1)), shape=(n, n)
        )
        z = spsolve_triangular(Us.tocsr(), spsolve_triangular(Ls.tocsr(), b2, lower=True), lower=False)
        return z[self.perm_c]


def _mark_rows(mark, Lp, Li, need, Up, Ui, *, forward: bool) -> None:
    """In place. forward: ``mark[i] |= any(mark[L-predecessors of i])`` in row order (a forward
    value is nonzero if its right-hand side or one it reads is); back: ``mark[k] = True`` for every
    entry k of U's row i with ``mark[i]`` (a needed row needs the later rows it reads), in row
    order, so that every row's mark is final before it is used."""
    n = mark.shape[0]
    if forward:
        for i in range(n):
            if not mark[i]:
                for k in range(Lp[i], Lp[i + 1]):
                    if mark[Li[k]]:
                        mark[i] = True
                        break
    else:
        for i in range(n):
            if mark[i]:
                for k in range(Up[i], Up[i + 1]):
                    mark[Ui[k]] = True


if _nb is not None:  # a Python loop over ~10^4 rows otherwise (~20 ms)
    _mark_rows = _nb.njit(cache=True)(_mark_rows)


def _strict(M, lower: bool):
    """CSR arrays (indptr, indices, data) of the strictly lower (upper) part of ``M``."""
    import scipy.sparse as sp

    M = sp.tril(M, k=-1, format="csr") if lower else sp.triu(M, k=1, format="csr")
    M.sort_indices()
    return (
        np.ascontiguousarray(M.indptr, dtype=np.int64),
        np.ascontiguousarray(M.indices, dtype=np.int64),
        np.ascontiguousarray(M.data, dtype=np.float64),
    )


if _nb is not None:
    from ._ensemble_kernel import _sin

    @_nb.njit(cache=True, nogil=True)
    def _tri_solve(z, Lp, Li, Lx, Up, Ui, Ux, Udi, fwd, bwd):
        """In place: ``z <- U^-1 L^-1 z`` on the rows ``fwd`` (forward) and ``bwd`` (back) of
        :meth:`SparseFactors.rows` (CSR strict parts; L has a unit diagonal, ``Udi`` is the
        reciprocal of U's: a division per row would sit on the solve's dependency chain)."""
        for q in range(fwd.shape[0]):
            i = fwd[q]
            s = z[i]
            for k in range(Lp[i], Lp[i + 1]):
                s -= Lx[k] * z[Li[k]]
            z[i] = s
        for q in range(bwd.shape[0] - 1, -1, -1):
            i = bwd[q]
            s = z[i]
            for k in range(Up[i], Up[i + 1]):
                s -= Ux[k] * z[Ui[k]]
            z[i] = s * Udi[i]

    @_nb.njit(cache=True, nogil=True)
    def sparse_segment(
        n0,
        T,
        se,
        check_from,
        lim,
        a,
        kp,
        J,
        nr,
        nc,
        rp,
        rb,
        rs,
        zp,
        zm,
        g,
        g_c,
        c1,
        c2,
        ic,
        offs,
        itc,
        lower,
        upper,
        rt1,
        state,
        new_state,
        t_delay,
        t_other,
        wbuf,
        inj_ptr,
        inj_row,
        inj_val,
        w,
        vrow,
        yv,
        Lp,
        Li,
        Lx,
        Up,
        Ui,
        Ux,
        Udi,
        fwd,
        bwd,
        yb,
        vb,
        obs_z,
        phase,
        volt,
        nph,
        info,
    ):
        """Steps ``n0 <= n < T`` of one run with the junction states ``state`` (one factorisation).

        The right-hand side is ``D^T c`` as a gather: row ``i`` (in the factors' row order) sums
        ``rs[k] c[rb[k]]`` for ``rp[i] <= k < rp[i + 1]``; branch ``b``'s phase is
        ``z[zp[b]] - z[zm[b]]`` (ground: the extra entry ``z[nz] = 0``). ``yb`` (5, nb): branch
        phases of steps n, n-1, ..., n-4 as a ring (slot ``n % 5``); ``vb`` (4, J): junction
        voltages (slot ``n % 4``); ``wbuf`` (t_len, n_t): transmission-line port waves (slot
        ``n % t_len``). ``inj_*``: current-source injection, CSC by waveform (rows in the factors'
        order); ``vrow``/``yv``: source rows and phases; ``fwd``/``bwd``: the rows of the two
        substitutions (:meth:`SparseFactors.rows`). Outputs of step n go to row ``n // se`` when
        ``n % se == 0``.

        Returns the step where it stopped and sets ``info``: (0, -) done; (1, -) a junction's
        predicted voltage puts it in another quasiparticle state (``new_state``; nothing of that
        step is written: the caller refactorises and calls again from it); (2, j) junction j's
        predicted phase moved more than ``lim`` (JoSIM's step rule)."""
        nb = g.shape[0]
        nz = Udi.shape[0]
        nt = t_delay.shape[0]
        t_len = wbuf.shape[0]
        nw = w.shape[0]
        nv = vrow.shape[0]
        nob = obs_z.shape[0]
        P = scratch(nb, np.float64)
        c = scratch(nb, np.float64)
        z = np.zeros(nz + 1)  # z[nz]: ground, stays 0
        v0a = scratch(J, np.float64)
        phi = scratch(J, np.float64)
        sn = scratch(J, np.float64)
        cs0 = J + nr
        ts0 = J + nr + nc
        for n in range(n0, T):
            y = yb[n % 5]
            y1 = yb[(n + 4) % 5]
            y2 = yb[(n + 3) % 5]
            V = vb[n % 4]
            V1 = vb[(n + 3) % 4]
            V2 = vb[(n + 2) % 4]
            V3 = vb[(n + 1) % 4]
            # P = 4/3 y1 - 1/3 y2 (BDF2 phase history of every branch), c = g P
            for b in range(nb):
                p = y1[b] * (4.0 / 3.0) - y2[b] * (1.0 / 3.0)
                P[b] = p
                c[b] = g[b] * p
            # junctions: JoSIM's predictor v0 = 5/2 V1 - 2 V2 + 1/2 V3, phi0 = P + (2hK/3) v0
            for j in range(J):
                v0 = (V1[j] * 2.5 - V2[j] * 2.0) + V3[j] * 0.5
                v0a[j] = v0
                phi[j] = v0 * kp + P[j]
                sn[j] = phi[j] - offs[j]
            # step rule: the largest predicted phase move (the first junction attaining it)
            if n > check_from:
                dmax = 0.0
                for j in range(J):
                    d = abs(phi[j] - y1[j])
                    dmax = d if d > dmax else dmax
                if dmax > lim:
                    jm = 0
                    for j in range(J):
                        if abs(phi[j] - y1[j]) == dmax:
                            jm = j
                            break
                    info[0] = 2
                    info[1] = jm
                    return n
            # quasiparticle state from the predicted voltage (rtype=1): 0 subgap, 1 transition, 2 normal
            changed = False
            for j in range(J):
                av = abs(v0a[j])
                st = 0 if (not rt1[j] or av < lower[j]) else (1 if av < upper[j] else 2)
                new_state[j] = st
                changed |= st != state[j]
            if changed:
                info[0] = 1
                return n
            for j in range(J):
                sn[j] = _sin(sn[j])
            for j in range(J):
                it = itc[j] * np.sign(v0a[j]) if state[j] == 1 else 0.0
                cj = c[j] + V1[j] * c1[j]
                cj -= V2[j] * c2[j]
                cj -= sn[j] * ic[j]
                c[j] = cj - it
            for k in range(nc):
                b = cs0 + k
                c[b] = g_c[k] * (
                    (8.0 / 3.0) * y1[b]
                    - (22.0 / 9.0) * y2[b]
                    + (8.0 / 9.0) * yb[(n + 2) % 5][b]
                    - (1.0 / 9.0) * yb[(n + 1) % 5][b]
                )
            for k in range(nt):
                c[ts0 + k] += wbuf[(n - t_delay[k]) % t_len, t_other[k]]
            # right-hand side D^T c + injections + source phases, in the factors' row order
            for i in range(nz):
                s_ = 0.0
                for k in range(rp[i], rp[i + 1]):
                    s_ += rs[k] * c[rb[k]]
                z[i] = s_
            for k in range(nw):
                wk = w[k, n]
                for q in range(inj_ptr[k], inj_ptr[k + 1]):
                    z[inj_row[q]] += inj_val[q] * wk
            for k in range(nv):
                z[vrow[k]] += yv[k, n]
            _tri_solve(z, Lp, Li, Lx, Up, Ui, Ux, Udi, fwd, bwd)
            # branch phases y = D phi, junction voltages V = a (y - P)
            for b in range(nb):
                y[b] = z[zp[b]] - z[zm[b]]
            for j in range(J):
                V[j] = (y[j] - P[j]) * a
            if n % se == 0:
                r = n // se
                for j in range(J):
                    phase[r, j] = y[j]
                    volt[r, j] = V[j]
                for o in range(nob):
                    nph[r, o] = z[obs_z[o]]
            if nt:
                # W_n = V_n/Z0 + I_n = g (y_n - P_n) + (g y_n - c_n)
                slot = n % t_len
                for k in range(nt):
                    b = ts0 + k
                    wbuf[slot, k] = g[b] * (2.0 * y[b] - P[b]) - c[b]
        info[0] = 0
        return T
else:  # pragma: no cover
    sparse_segment = None
