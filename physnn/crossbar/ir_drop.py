"""Line resistance (IR drop) of a crossbar: exact nodal solve and a fast iterative approximation.

Geometry (``nn.Linear`` layout): conductances ``g`` of shape ``(..., out, in)``; input ``i`` drives
row line ``i`` from one end through its first wire segment with voltage ``v_in[..., i]``; the row
runs past the columns ``o = 0 … out-1`` with one segment of resistance ``r_row`` between adjacent
cells. Device ``(o, i)`` joins row node ``(i, o)`` to column node ``(o, i)``. Column line ``o``
runs past the rows ``i = 0 … in-1`` (segments ``r_col``) and ends, after row ``in-1``, in a
virtual-ground sense amplifier (0 V) through one more segment. The sensed current of column ``o``
is the current into its virtual ground.

* :func:`solve_ir_drop_exact` assembles the nodal (Kirchhoff) equations of the whole network as a
  sparse matrix (scipy.sparse, float64) and solves them directly (Newton iterations for a
  nonlinear :class:`~physnn.crossbar.iv.SinhIV` device law). For small arrays: the reference.
* :func:`ir_drop_fast` is batched, differentiable torch code: a relaxed fixed-point
  (Richardson) iteration on the device voltages. Each sweep computes the wire currents with
  cumulative sums and the wire voltage drops from them (the first sweep is the classic
  first-order IR-drop correction). ``lam = g_max (r_row a(out) + r_col a(in))``, with
  ``a(n) = 1 / (4 sin^2(pi / (2 (2 n + 1))))`` the largest eigenvalue of the inverse Laplacian of
  a line of ``n`` cells, bounds the spectrum of the (linear) wire operator. Plain sweeps contract
  by ``rho = lam`` (only when ``lam < 1``); the default relaxation ``omega = 2 / (2 + lam)`` makes
  the iteration contract for any wire resistance, by ``rho = lam / (2 + lam)`` per sweep
  (:func:`ir_drop_contraction`). ``iterations=None`` runs enough sweeps for ``rho**k <= tol``.
  Measured (tests/crossbar/test_ir_drop.py, 4x12 to 48x48 arrays, 1 to 100 Ohm per segment,
  g in [1, 25] uS): the relative error of the column currents after ``k`` sweeps stays below
  ``rho**k`` times the error of the ideal-wire result (or 1e-10).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from ._common import as_tensor_input, nonneg_float
from .iv import LinearIV, SinhIV, device_current

__all__ = ["IRDropSolution", "solve_ir_drop_exact", "ir_drop_fast", "ir_drop_contraction"]


class IRDropSolution(NamedTuple):
    """Currents (A) and node voltages (V) of a crossbar read.

    Attributes
    ----------
    i_out : Tensor, shape (..., out)
        Current sensed at each column's virtual ground.
    i_in : Tensor, shape (..., in)
        Current injected by each row driver.
    v_row : Tensor, shape (..., out, in)
        Row-line voltage at the cell ``(o, i)`` (row ``i``, position of column ``o``).
    v_col : Tensor, shape (..., out, in)
        Column-line voltage at the cell ``(o, i)``.
    """

    i_out: torch.Tensor
    i_in: torch.Tensor
    v_row: torch.Tensor
    v_col: torch.Tensor


def _check_args(g, v_in, r_row, r_col, iv):
    g = as_tensor_input(g, "g")
    v_in = as_tensor_input(v_in, "v_in")
    if g.dim() < 2:
        raise ValueError(f"g: need shape (..., out, in), got {tuple(g.shape)}")
    if bool((g < 0).any()):
        raise ValueError("g: conductances must be >= 0 S")
    if v_in.dim() < 1 or v_in.shape[-1] != g.shape[-1]:
        raise ValueError(f"v_in: last dimension must be in={g.shape[-1]}, got shape {tuple(v_in.shape)}")
    r_row = nonneg_float(r_row, "r_wire")
    r_col = r_row if r_col is None else nonneg_float(r_col, "r_col")
    if iv is None:
        iv = LinearIV()
    if not isinstance(iv, (LinearIV, SinhIV)):
        raise TypeError(f"iv: expected LinearIV, SinhIV or None, got {type(iv).__name__}")
    return g, v_in, r_row, r_col, iv


def _batch(g: torch.Tensor, v_in: torch.Tensor):
    batch = torch.broadcast_shapes(g.shape[:-2], v_in.shape[:-1])
    gb = g.expand(*batch, *g.shape[-2:])
    vb = v_in.expand(*batch, v_in.shape[-1])
    return batch, gb, vb


# --------------------------------------------------------------------------------------------
# exact nodal solve
# --------------------------------------------------------------------------------------------


def _solve_one(g: np.ndarray, v: np.ndarray, r_row: float, r_col: float, iv, tol: float, max_newton: int):
    """Nodal solve of one array. ``g`` (out, in), ``v`` (in,). Returns (v_row, v_col) (out, in)."""
    n_out, n_in = g.shape
    # Node numbering: drivers 0..in-1 and ground `in` are known; unknown row/column nodes follow.
    # A zero-resistance wire merges its nodes with the driver / ground (Dirichlet nodes).
    n_known = n_in + 1
    ground = n_in
    oo, ii = np.meshgrid(np.arange(n_out), np.arange(n_in), indexing="ij")  # cell (o, i)
    if r_row > 0:
        row_node = n_known + ii * n_out + oo
        n_row = n_in * n_out
    else:
        row_node = ii.copy()
        n_row = 0
    if r_col > 0:
        col_node = n_known + n_row + oo * n_in + ii
        n_col = n_in * n_out
    else:
        col_node = np.full_like(ii, ground)
        n_col = 0
    n_nodes = n_known + n_row + n_col

    # fixed wire edges (a, b, conductance)
    ea, eb = [], []
    if r_row > 0:
        ea.append(ii[0, :])
        eb.append(row_node[0, :])  # driver -> first cell of each row
        ea.append(row_node[:-1, :].ravel())
        eb.append(row_node[1:, :].ravel())
    if r_col > 0:
        ea.append(col_node[:, :-1].ravel())
        eb.append(col_node[:, 1:].ravel())
        ea.append(col_node[:, -1])
        eb.append(np.full(n_out, ground))  # last cell of each column -> virtual ground
    if ea:
        wa = np.concatenate(ea)
        wb = np.concatenate(eb)
        wc = np.concatenate(
            [
                np.full(len(a), 1.0 / r_row) if k < (2 if r_row > 0 else 0) else np.full(len(a), 1.0 / r_col)
                for k, a in enumerate(ea)
            ]
        )
    else:
        wa = wb = np.zeros(0, dtype=int)
        wc = np.zeros(0)
    da, db = row_node.ravel(), col_node.ravel()
    known = np.zeros(n_known)
    known[:n_in] = v

    def laplacian(a, b, c):
        rows = np.concatenate([a, b, a, b])
        cols = np.concatenate([a, b, b, a])
        vals = np.concatenate([c, c, -c, -c])
        return sp.coo_matrix((vals, (rows, cols)), shape=(n_nodes, n_nodes)).tocsr()

    lap_wire = laplacian(wa, wb, wc)
    g_flat = g.ravel()
    volts = np.zeros(n_nodes)
    volts[:n_known] = known
    if n_row:  # ideal initial guess: rows at the driver voltage
        volts[row_node.ravel()] = v[ii.ravel()]
    for _ in range(max_newton):
        vd = volts[da] - volts[db]
        if isinstance(iv, SinhIV):
            i_dev = g_flat * iv.v_nl * np.sinh(vd / iv.v_nl)
            g_dev = g_flat * np.cosh(vd / iv.v_nl)
        else:
            i_dev = g_flat * vd
            g_dev = g_flat
        # linearised device: i = i_dev + g_dev (vd_new - vd) = g_dev vd_new + (i_dev - g_dev vd)
        lap = (lap_wire + laplacian(da, db, g_dev)).tocsr()
        j_src = i_dev - g_dev * vd  # current source from row node to column node
        rhs = np.zeros(n_nodes)
        np.add.at(rhs, da, -j_src)
        np.add.at(rhs, db, j_src)
        u = slice(n_known, n_nodes)
        if n_nodes > n_known:
            a_uu = lap[u, u].tocsc()
            b = rhs[u] - lap[u, :n_known] @ known
            new = volts.copy()
            new[u] = spla.spsolve(a_uu, b)
        else:
            new = volts.copy()
        step = np.max(np.abs(new - volts)) if n_nodes > n_known else 0.0
        volts = new
        if isinstance(iv, LinearIV) or step <= tol * max(np.max(np.abs(v)), 1e-300):
            break
    else:
        raise RuntimeError(f"solve_ir_drop_exact: Newton did not converge in {max_newton} iterations")
    return volts[row_node], volts[col_node]


def solve_ir_drop_exact(
    g: torch.Tensor,
    v_in: torch.Tensor,
    r_wire: float,
    *,
    r_col: float | None = None,
    iv: LinearIV | SinhIV | None = None,
    tol: float = 1e-13,
    max_newton: int = 100,
) -> IRDropSolution:
    """Exact DC solution of the resistive crossbar network (reference for small arrays).

    Parameters
    ----------
    g : Tensor, shape (..., out, in)
        Device (small-signal) conductances in S, >= 0.
    v_in : Tensor, shape (..., in)
        Row driver voltages in V; batch dimensions broadcast against ``g``'s.
    r_wire : float
        Row-line segment resistance in Ohm (>= 0; 0 = ideal row wires).
    r_col : float, optional
        Column-line segment resistance in Ohm (default ``r_wire``).
    iv : LinearIV or SinhIV, optional
        Device law (default linear); a nonlinear law is solved by Newton iteration to ``tol``
        (relative to ``max |v_in|``).

    Returns
    -------
    IRDropSolution
        float64 tensors (on ``g.device``); no gradient (scipy solve).

    Notes
    -----
    Cost grows like ``(out * in)**1.5`` (sparse direct solve, one per batch entry, in a Python
    loop): meant for arrays up to about 128 x 128 and for validating :func:`ir_drop_fast`.
    """
    g, v_in, r_row, r_col, iv = _check_args(g, v_in, r_wire, r_col, iv)
    batch, gb, vb = _batch(g, v_in)
    n_out, n_in = g.shape[-2:]
    g_np = gb.detach().to("cpu", torch.float64).reshape(-1, n_out, n_in).numpy()
    v_np = vb.detach().to("cpu", torch.float64).reshape(-1, n_in).numpy()
    vr = np.empty_like(g_np)
    vc = np.empty_like(g_np)
    for k in range(g_np.shape[0]):
        vr[k], vc[k] = _solve_one(g_np[k], v_np[k], r_row, r_col, iv, tol, max_newton)
    i_dev = g_np * (iv.v_nl * np.sinh((vr - vc) / iv.v_nl) if isinstance(iv, SinhIV) else (vr - vc))
    # sensed / injected currents from the wire next to the ground / driver (KCL gives the same as
    # the device sums; using the wires makes the conservation test meaningful)
    i_out = vc[:, :, -1] / r_col if r_col > 0 else i_dev.sum(axis=2)
    i_in = (v_np - vr[:, 0, :]) / r_row if r_row > 0 else i_dev.sum(axis=1)

    def t(x, shape):
        return torch.from_numpy(np.ascontiguousarray(x)).reshape(shape).to(g.device)

    return IRDropSolution(
        i_out=t(i_out, (*batch, n_out)),
        i_in=t(i_in, (*batch, n_in)),
        v_row=t(vr, (*batch, n_out, n_in)),
        v_col=t(vc, (*batch, n_out, n_in)),
    )


# --------------------------------------------------------------------------------------------
# fast approximation
# --------------------------------------------------------------------------------------------


def _wire_eig_bound(n: int) -> float:
    """Largest eigenvalue of the inverse Laplacian of a line of ``n`` segments fed at one end."""
    return 1.0 / (4.0 * math.sin(math.pi / (2.0 * (2 * n + 1))) ** 2)


def ir_drop_contraction(
    g_max: float, n_out: int, n_in: int, r_wire: float, r_col: float | None = None
) -> tuple[float, float]:
    """Relaxation ``omega`` and per-sweep contraction bound ``rho`` of :func:`ir_drop_fast`.

    ``lam = g_max (r_row a(out) + r_col a(in))`` bounds the spectrum of the linear wire operator
    ``T`` (device voltages ``x = v - T x``); the relaxed iteration has factor
    ``rho = lam / (2 + lam)`` with ``omega = 2 / (2 + lam)``. ``g_max`` is the largest
    (differential) device conductance in S.
    """
    r_row = nonneg_float(r_wire, "r_wire")
    r_col = r_row if r_col is None else nonneg_float(r_col, "r_col")
    lam = nonneg_float(g_max, "g_max") * (r_row * _wire_eig_bound(n_out) + r_col * _wire_eig_bound(n_in))
    return 2.0 / (2.0 + lam), lam / (2.0 + lam)


def _rev_cumsum(x: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.flip(torch.cumsum(torch.flip(x, (dim,)), dim), (dim,))


def ir_drop_fast(
    g: torch.Tensor,
    v_in: torch.Tensor,
    r_wire: float,
    *,
    r_col: float | None = None,
    iv: LinearIV | SinhIV | None = None,
    iterations: int | None = None,
    omega: float | None = None,
    tol: float = 1e-4,
    max_iterations: int = 500,
) -> IRDropSolution:
    """Batched, differentiable IR-drop approximation (relaxed fixed-point sweeps).

    Parameters
    ----------
    g : Tensor, shape (..., out, in)
        Device conductances in S (>= 0).
    v_in : Tensor, shape (..., in)
        Row driver voltages in V; batch dims broadcast with ``g``'s (e.g. ``g`` (E, out, in) and
        ``v_in`` (E, B, 1, in)... or ``g`` (out, in) and ``v_in`` (B, in)).
    r_wire, r_col : float
        Row / column segment resistance in Ohm (``r_col`` defaults to ``r_wire``).
    iv : LinearIV or SinhIV, optional
        Device law (default linear).
    iterations : int, optional
        Number of sweeps. ``None``: ``ceil(ln tol / ln rho)`` sweeps (at most
        ``max_iterations``), so the error contracts by ``tol`` from the ideal-wire start.
    omega : float, optional
        Relaxation factor in (0, 1]; default ``2 / (2 + lam)`` (converges for any wire
        resistance). ``omega=1, iterations=1`` is the classic first-order IR-drop correction
        (error about ``lam`` times the ideal-wire error; needs ``lam < 1``).

    Returns
    -------
    IRDropSolution
        In ``g``'s dtype; differentiable w.r.t. ``g`` and ``v_in``. ``i_out.sum(-1)`` equals
        ``i_in.sum(-1)`` exactly (both sum the same device currents).
    """
    g, v_in, r_row, r_col, iv = _check_args(g, v_in, r_wire, r_col, iv)
    n_out, n_in = g.shape[-2:]
    v0 = v_in.unsqueeze(-2)  # (..., 1, in): row voltages on ideal wires
    if r_row == 0 and r_col == 0:
        i_dev = device_current(g, v0, iv, check=False)
        vr = v0.expand_as(i_dev)
        return IRDropSolution(i_dev.sum(-1), i_dev.sum(-2), vr, torch.zeros_like(vr))
    with torch.no_grad():
        g_top = float(g.max())
        if isinstance(iv, SinhIV):  # largest differential conductance on the ideal-wire voltages
            g_top *= math.cosh(float(v_in.abs().max()) / iv.v_nl)
    _, rho_relaxed = ir_drop_contraction(g_top, n_out, n_in, r_row, r_col)
    lam = 2.0 * rho_relaxed / (1.0 - rho_relaxed)  # spectral bound of the wire operator
    if omega is None:
        # Richardson relaxation centred on the spectrum [0, lam] of the wire operator: contracts
        # for any wire resistance, by lam / (2 + lam) per sweep (half the plain-sweep factor lam)
        omega = 2.0 / (2.0 + lam)
    elif not 0 < float(omega) <= 1:
        raise ValueError(f"omega={omega!r}: must be in (0, 1]")
    omega = float(omega)
    rho = max(abs(1.0 - omega), abs(1.0 - omega * (1.0 + lam)))
    if iterations is None:
        if not 0 < tol < 1:
            raise ValueError(f"tol={tol!r}: must be in (0, 1)")
        if rho >= 1:
            raise ValueError(f"omega={omega!r}: the iteration does not contract (bound {rho:.3g}); use omega=None")
        iterations = 1 if rho == 0 else min(max_iterations, max(1, math.ceil(math.log(tol) / math.log(rho))))
    elif isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"iterations={iterations!r}: must be an integer >= 0")
    x = v0 - torch.zeros_like(g)  # device voltages (row minus column), (..., out, in)
    for _ in range(iterations):
        i_dev = device_current(g, x, iv, check=False)
        # row i: segment s (from the driver side) carries the current of the cells o >= s
        drop_row = r_row * torch.cumsum(_rev_cumsum(i_dev, -2), -2)
        # column o: segment after cell i carries the current of the cells i' <= i
        v_col = r_col * _rev_cumsum(torch.cumsum(i_dev, -1), -1)
        x_new = v0 - drop_row - v_col
        x = x_new if omega == 1.0 else x + omega * (x_new - x)
    i_dev = device_current(g, x, iv, check=False)
    v_col = r_col * _rev_cumsum(torch.cumsum(i_dev, -1), -1)
    return IRDropSolution(i_out=i_dev.sum(-1), i_in=i_dev.sum(-2), v_row=x + v_col, v_col=v_col)
