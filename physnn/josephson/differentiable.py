"""Differentiable transient: the same BDF2 phase-mode equations in torch, autograd through the loop.

Gradients flow to junction critical currents, current-source amplitudes (multipliers of their
waveforms) and inductances. The step loop is the branch-space recurrence of :mod:`.transient`
(``y_n = Q c_n + S_n`` with ``Q = D A^-1 D^T``), so forward values equal the numpy back ends to
round-off. Meant for circuits of up to a few hundred nodes (dense ``Q``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .circuit import K_JOSEPHSON, compile_circuit
from .netlist import Netlist, parse_netlist
from .transient import PHASE_JUMP_LIMIT, SimulationError

__all__ = ["transient_torch"]


def transient_torch(
    netlist,
    *,
    tstep: float | None = None,
    tstop: float | None = None,
    ic: torch.Tensor | None = None,
    source_scale: dict[str, torch.Tensor] | None = None,
    inductance: dict[str, torch.Tensor] | None = None,
    max_halvings: int = 4,
    dtype: torch.dtype = torch.float64,
) -> dict:
    """Simulate with torch tensors so that results can be differentiated.

    Parameters
    ----------
    netlist : str, Path or Netlist
    ic : Tensor (J,) or (E, J), optional
        Junction critical currents, A (default: the netlist's). A leading dimension runs an ensemble.
    source_scale : dict label -> Tensor, optional
        Multiplier of a current source's waveform (e.g. ``{"IB01|X1": s}``), scalar or (E,).
    inductance : dict label -> Tensor, optional
        Inductance override, H (inductors without mutual coupling).

    Returns
    -------
    dict with ``time`` (T,) numpy, ``phase`` and ``voltage`` tensors (T, J) or (T, E, J),
    ``junction`` labels, ``tstep`` used.
    """
    net = netlist if isinstance(netlist, Netlist) else parse_netlist(netlist)
    h = tstep if tstep is not None else (net.tstep or 0.25e-12)
    stop = tstop if tstop is not None else (net.tstop or 1e-9)
    for halving in range(max_halvings + 1):
        try:
            return _run_torch(net, h, stop, ic, source_scale or {}, inductance or {}, dtype)
        except _Jump as exc:
            last = exc.args
            h /= 2.0
    raise SimulationError(
        f"junction {last[0]}: phase moves more than 0.2*2pi per step at t={last[1]:.4g} s "
        f"even after {max_halvings} step halvings"
    )


class _Jump(Exception):
    pass


def _run_torch(net: Netlist, h: float, stop: float, ic, source_scale, inductance, dtype) -> dict:
    circ = compile_circuit(net, h)
    if circ.n_t:
        raise NotImplementedError("transient_torch: transmission lines (T) are not supported; use simulate()")
    if circ.startup_steps:
        raise NotImplementedError(
            "transient_torch: JoSIM's start-up steps before t = 0 (this circuit has a source non-zero before "
            "t = 0 or a junction phase offset) are not supported; use simulate(), or add DST to .tran "
            "to start from the zero state"
        )
    K = K_JOSEPHSON
    a = 3.0 / (2.0 * h * K)
    kp = 2.0 * h * K / 3.0
    J, nb, nr, nc, n = circ.n_jj, circ.nb, circ.n_r, circ.n_c, circ.n
    T = int(math.floor(stop / h + 1e-9)) + 1
    t = np.arange(T) * h
    tt = lambda x: torch.as_tensor(np.asarray(x), dtype=dtype)  # noqa: E731
    if ic is None:
        ic_t = tt(circ.ic)
    else:
        ic_t = ic.to(dtype)
        if ic_t.shape[-1] != J:
            raise ValueError(f"ic: last dimension must be the {J} junctions, got {tuple(ic_t.shape)}")
    batched = ic_t.dim() == 2
    E = ic_t.shape[0] if batched else 1
    icb = ic_t.T if batched else ic_t[:, None]  # (J, E)
    # ---- system matrix (torch, differentiable in inductances)
    D = tt(circ.D.toarray())
    labels_l = [e.name for e in circ.inductors]
    for name in inductance:
        if name not in labels_l:
            raise ValueError(f"inductance: no inductor {name!r} in the netlist")
    if inductance and circ.coupled:
        raise ValueError("inductance: overrides are not supported in circuits with mutual inductance (K)")
    A_fixed = tt((circ.A_src if inductance else circ.A_static).toarray())
    state0 = np.zeros(J, dtype=np.int8)

    def g_all(state) -> torch.Tensor:
        return tt(circ.g_all(state))

    def build_A(state) -> torch.Tensor:
        A = D.T @ (g_all(state)[:, None] * D) + A_fixed
        if inductance:
            lv = torch.stack(
                [
                    inductance[nm].to(dtype) if nm in inductance else tt(e.value)
                    for nm, e in zip(labels_l, circ.inductors)
                ]
            )
            DL = tt(circ.DL.toarray())
            A = A + DL.T @ ((1.0 / (K * lv))[:, None] * DL)
        return A

    # ---- sources: per-element injection so that each source can carry a gradient
    srcs = [e for e in net.elements if e.kind == "I"]
    for name in source_scale:
        if name not in {e.name for e in srcs}:
            raise ValueError(f"source_scale: no current source {name!r} in the netlist")
    node_idx = {nd: i for i, nd in enumerate(circ.nodes)}
    rhs = torch.zeros((n, T), dtype=dtype)
    for e in srcs:
        wv = tt(e.source(t, tstep=h, tstop=t[-1]))
        col = torch.zeros((n, 1), dtype=dtype)
        p, m = e.nodes
        if p != "0":
            col[node_idx[p]] = -1.0
        if m != "0":
            col[node_idx[m]] = 1.0
        sc = source_scale.get(e.name)
        if sc is not None:
            sc = sc.to(dtype)
            if sc.dim() == 0:
                rhs = rhs + col * (sc * wv)[None, :]
            else:
                raise ValueError("source_scale: per-member (E,) scales are not supported; use a scalar")
        else:
            rhs = rhs + col * wv[None, :]
    if circ.vsrc:
        _, yv = circ.source_waves(t)
        rhs = rhs + torch.cat([torch.zeros((circ.n_nodes, T), dtype=dtype), tt(yv)], 0)

    cache: dict[bytes, tuple] = {}

    def system(state):
        key = state.tobytes()
        if key not in cache:
            A = build_A(state)
            X = torch.linalg.solve(A, torch.cat([D.T, rhs], 1))
            Q = D @ X[:, :nb]
            Sy = (D @ X[:, nb:]).T.contiguous()  # (T, nb)
            cache[key] = (Q, Sy, g_all(state))
        return cache[key]

    cap = tt(circ.cap)[:, None]
    c1, c2 = 2.0 * cap / h, cap / (2.0 * h)
    gc = tt(circ.g_c)[:, None]
    offs = tt(circ.phi_off)[:, None]
    zeros = lambda r: torch.zeros((r, E), dtype=dtype)  # noqa: E731
    y1, y2, y3, y4 = zeros(nb), zeros(nb), zeros(nc), zeros(nc)
    V1, V2, V3 = zeros(J), zeros(J), zeros(J)
    state = state0
    Q, Sy, g = system(state)
    g = g[:, None]
    check_from = 0.01 * (T - 1)
    phases, volts = [], []
    has_rt1 = bool(circ.rtype1.any())
    lower = circ.lower
    for k in range(T):
        P = (4.0 / 3.0) * y1 - (1.0 / 3.0) * y2
        v0 = 2.5 * V1 - 2.0 * V2 + 0.5 * V3
        phi0 = P[:J] + kp * v0
        if k > check_from:
            with torch.no_grad():
                dj = (phi0 - y1[:J]).abs().amax(dim=1)
                if float(dj.max()) > PHASE_JUMP_LIMIT:
                    raise _Jump(circ.branches[int(dj.argmax())].name, k * h)
        it = None
        if has_rt1:
            with torch.no_grad():
                av = v0.abs().amax(dim=1).numpy()
            if (av >= lower).any():
                if E > 1:
                    raise SimulationError(
                        "transient_torch: junction reached the gap voltage in an ensemble "
                        "run; use the numpy back end (simulate) for this circuit"
                    )
                vv = v0[:, 0].detach().numpy()
                st = np.where(np.abs(vv) < lower, 0, np.where(np.abs(vv) < circ.upper, 1, 2)).astype(np.int8)
                st[~circ.rtype1] = 0
                it = tt(np.where(st == 1, lower * (1.0 / circ.r0 - circ.glarge) * np.sign(vv), 0.0))[:, None]
            else:
                st = state0
            if not np.array_equal(st, state):
                state = st
                Q, Sy, g = system(state)
                g = g[:, None]
        cJ = g[:J] * P[:J] + c1 * V1 - c2 * V2 - icb * torch.sin(phi0 - offs)
        if it is not None:
            cJ = cJ - it
        parts = [cJ]
        if nr:
            parts.append(g[J : J + nr] * P[J : J + nr])
        if nc:
            parts.append(
                gc * ((8.0 / 3.0) * y1[J + nr :] - (22.0 / 9.0) * y2[J + nr :] + (8.0 / 9.0) * y3 - (1.0 / 9.0) * y4)
            )
        c = torch.cat(parts, 0) if len(parts) > 1 else cJ
        y = Q @ c + Sy[k][:, None]
        V = a * (y[:J] - P[:J])
        phases.append(y[:J])
        volts.append(V)
        if nc:
            y4, y3 = y3, y2[J + nr :]
        y2, y1 = y1, y
        V3, V2, V1 = V2, V1, V
    phase = torch.stack(phases, 0)  # (T, J, E)
    volt = torch.stack(volts, 0)
    if batched:
        phase, volt = phase.permute(0, 2, 1), volt.permute(0, 2, 1)
    else:
        phase, volt = phase[..., 0], volt[..., 0]
    return {"time": t, "phase": phase, "voltage": volt, "junction": [e.name for e in circ.branches[:J]], "tstep": h}
