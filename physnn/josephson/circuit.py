"""Phase-domain nodal system of a flattened netlist (JoSIM v2.7 phase mode, node phases only).

JoSIM's phase-mode MNA carries, besides the node phases, one voltage/current unknown per device.
Every device relation is linear in its own phase difference ``y`` once the BDF2 (Gear-2) history is
known, so the device unknowns can be eliminated exactly; what is left is one equation per node
(plus one per voltage/phase source) with a matrix that is constant for a fixed step. With
``K = 2e/hbar`` and ``a = 3/(2 h K)`` (so that the BDF2 voltage is ``V_n = a(y_n - 4/3 y_{n-1} +
1/3 y_{n-2})``), each *dynamic* branch carries the current ``I = g y_n - c_n`` with

=========== ====================== ======================================================
branch      ``g``                  history ``c_n``
=========== ====================== ======================================================
R           ``a/R``                ``g (4/3 y1 - 1/3 y2)``
C           ``9C/(4 h^2 K)``       ``g (8/3 y1 - 22/9 y2 + 8/9 y3 - 1/9 y4)``
JJ (RCSJ)   ``a (1/R_q + 3C/2h)``  ``g (4/3 y1 - 1/3 y2) + 2C/h V1 - C/2h V2 - Ic sin(phi0) - I_t``
T port      ``a/Z0``               ``g (4/3 y1 - 1/3 y2) + W_other(n - k)``
=========== ====================== ======================================================

A lossless transmission line (JoSIM's phase-mode delay line, ``V1(t) = Z0 I1(t) + V2(t-TD) +
Z0 I2(t-TD)`` and the same with 1 and 2 swapped) is two port branches; ``W = V/Z0 + I`` of each port
is kept in a ring buffer and read ``k = round(TD/h)`` steps later by the other port.

(``R_q`` = r0, the transition conductance or rn depending on the predicted voltage, rtype=1), and
inductors are algebraic, ``I = y / (K L)`` (mutual couplings through the inverse inductance matrix).
``phi0 = 4/3 y1 - 1/3 y2 + (2hK/3)(5/2 V1 - 2 V2 + 1/2 V3)`` is JoSIM's explicit phase predictor.
These are the same equations JoSIM solves (JoSIM src/Simulation.cpp and src/JJ.cpp, v2.7), written
without its per-device unknowns, so the switching times agree to round-off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..constants import Phi0
from .netlist import Element, Netlist, NetlistError, check_dangling, gc_paused

__all__ = ["Circuit", "compile_circuit", "K_JOSEPHSON", "josim_startup_steps", "STARTUP_MAX_STEPS"]

#: 2e/hbar = 2 pi / Phi0, rad / (V s)
K_JOSEPHSON = 2.0 * math.pi / Phi0

#: JoSIM v2.7's cap on the number of start-up steps before t = 0
STARTUP_MAX_STEPS = 1000


def josim_startup_steps(h: float) -> int:
    """Number of JoSIM v2.7 start-up steps run before t = 0 at step ``h`` (s).

    JoSIM (src/Simulation.cpp, ``Simulation::trans_sim``) integrates
    ``N = int(2 * 10**((|log10 h| - 12) * 2 + 1))`` steps, at most 1000, at the times
    ``t = i h`` for ``i = -N, ..., -1``, unless ``.tran`` ends with ``DST``: 20 steps at
    h = 1 ps, 320 at 0.25 ps, 1000 from 0.1 ps down.

    >>> josim_startup_steps(0.25e-12), josim_startup_steps(1e-12), josim_startup_steps(1e-13)
    (320, 20, 1000)
    """
    if not h > 0:
        raise ValueError(f"h={h!r}: the step must be > 0 s")
    n = int(2.0 * math.pow(10.0, (abs(math.log10(h)) - 12.0) * 2.0 + 1.0))
    return max(0, min(n, STARTUP_MAX_STEPS))


@dataclass
class Circuit:
    """Numerical description of a netlist for one time step ``h`` (numpy arrays, SI)."""

    netlist: Netlist
    h: float
    nodes: list[str]  #: non-ground node names; index = unknown index
    n: int  #: unknowns = nodes + voltage/phase sources
    branches: list[Element]  #: dynamic branches: junctions first, then R, then C
    n_jj: int
    n_r: int
    n_c: int
    D: sp.csr_matrix  #: (nb, n) incidence of the dynamic branches (+1 at n+, -1 at n-)
    A_static: sp.csr_matrix  #: inductor stamps + source constraint rows/cols (n, n)
    g_r: np.ndarray  #: resistor g
    g_c: np.ndarray  #: capacitor g
    # junction data (length n_jj)
    ic: np.ndarray
    cap: np.ndarray
    r0: np.ndarray
    rn: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    glarge: np.ndarray
    phi_off: np.ndarray
    rtype1: np.ndarray  #: bool
    # sources
    inj: sp.csr_matrix  #: (n, n_wave) injection of unique current waveforms
    waves: list  #: unique current-source waveforms (Source objects)
    vsrc: list[Element]  #: voltage/phase sources, row index n_nodes + k
    n_nodes: int
    DL: sp.csr_matrix | None = None  #: (nl, n) inductor incidence
    inductors: list[Element] | None = None
    coupled: bool = False  #: any mutual inductance
    A_src: sp.csr_matrix | None = None  #: source constraint rows/cols only
    n_t: int = 0  #: transmission-line port branches (two per line), after the capacitors
    g_t: np.ndarray | None = None  #: port branch g = a / Z0
    t_delay: np.ndarray | None = None  #: (n_t,) delay of each port's line in steps (k = TD / h)
    t_other: np.ndarray | None = None  #: (n_t,) index (within the ports) of the other port of the line
    #: JoSIM's start-up steps before t = 0 that change the state (0: none, or all of them would
    #: leave the zero state as it is: no source is non-zero before t = 0 and no junction has a
    #: phase offset; see :func:`josim_startup_steps` and :meth:`startup_waves`)
    startup_steps: int = 0

    @property
    def nb(self) -> int:
        return len(self.branches)

    # --------------------------------------------------------------------------------------
    def g_jj(self, state: np.ndarray | None = None) -> np.ndarray:
        """Junction branch conductance ``a G`` for quasiparticle states (0 subgap, 1 transition, 2 normal)."""
        a = 3.0 / (2.0 * self.h * K_JOSEPHSON)
        if state is None:
            state = np.zeros(self.n_jj, dtype=np.int8)
        gq = np.where(state == 0, 1.0 / self.r0, np.where(state == 1, self.glarge, 1.0 / self.rn))
        return a * (gq + 3.0 * self.cap / (2.0 * self.h))

    def g_jj_batch(self, state: np.ndarray) -> np.ndarray:
        """``g_jj`` for a (J, E) state array."""
        a = 3.0 / (2.0 * self.h * K_JOSEPHSON)
        r0, gl, rn, cap = (x[:, None] for x in (self.r0, self.glarge, self.rn, self.cap))
        gq = np.where(state == 0, 1.0 / r0, np.where(state == 1, gl, 1.0 / rn))
        return a * (gq + 3.0 * cap / (2.0 * self.h))

    def g_all(self, state: np.ndarray | None = None) -> np.ndarray:
        parts = [self.g_jj(state), self.g_r, self.g_c]
        if self.n_t:
            parts.append(self.g_t)
        return np.concatenate(parts)

    def matrix(self, state: np.ndarray | None = None) -> sp.csc_matrix:
        """System matrix ``A = D^T diag(g) D + inductors + source rows`` (sparse CSC)."""
        g = self.g_all(state)
        A = (self.D.T @ sp.diags(g) @ self.D + self.A_static).tocsc()
        return A

    def source_waves(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Current waveforms (n_wave, T) in A and source branch phases (n_vsrc, T) in rad at the
        times ``t = i h, i = 0, 1, ...`` of a run.

        Voltage sources are integrated to phase with JoSIM's BDF2 recursion
        ``y_n = (2hK/3) V(t_n) + 4/3 y_{n-1} - 1/3 y_{n-2}``; phase sources give ``y_n`` directly.
        With start-up steps (:attr:`startup_steps`) the recursion starts at the first of them, as
        JoSIM's does (the source rows keep their history across t = 0).
        """
        t = np.asarray(t, dtype=float)
        return self._waves(t, self._startup_times() if self.startup_steps else None, float(t[-1]) if len(t) else 0.0)

    def startup_waves(self) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`source_waves` at the start-up times ``t = i h, i = -N, ..., -1``
        (``N`` = :attr:`startup_steps`): shapes (n_wave, N) and (n_vsrc, N). Before t = 0 JoSIM's
        source functions give: PWL/PWS/CUS 0 (before their first point), DC its value, PULSE its
        first value, SIN its offset, EXP its first value, NOISE 0; physnn's :class:`Source` the same.
        """
        return self._waves(self._startup_times(), None, float(self.netlist.tstop or 1e-9))

    def _startup_times(self) -> np.ndarray:
        return np.arange(-self.startup_steps, 0) * self.h

    def _waves(self, t: np.ndarray, pre: np.ndarray | None, tstop: float):
        """(w, yv) at ``t``; ``pre``: earlier times whose voltage-source recursion runs first
        (their values are not returned); ``tstop``: the run's stop time (source defaults), s."""
        T = len(t)
        tt = t if pre is None else np.concatenate([pre, t])
        P0 = 0 if pre is None else len(pre)

        def at(s, x):
            # a noise source is 0 before its delay TD >= 0: no draw from the generator there
            if s.kind == "noise" and len(x) and float(x[-1]) < max(0.0, s.args[3] if len(s.args) > 3 else 0.0):
                return np.zeros_like(x)
            return s(x, tstep=self.h, tstop=tstop)

        w = np.stack([at(s, t) for s in self.waves]) if self.waves else np.zeros((0, T))
        yv = np.zeros((len(self.vsrc), T))
        kv = 2.0 * self.h * K_JOSEPHSON / 3.0
        for k, e in enumerate(self.vsrc):
            v = at(e.source, tt) if pre is None else np.concatenate([at(e.source, pre), at(e.source, t)])
            if e.kind == "P":
                yv[k] = v[P0:]
                continue
            y1 = y2 = 0.0
            for i in range(len(tt)):  # hand-written: a 2-term linear recursion, tiny
                yi = kv * v[i] + (4.0 / 3.0) * y1 - (1.0 / 3.0) * y2
                if i >= P0:
                    yv[k, i - P0] = yi
                y2, y1 = y1, yi
        return w, yv

    def source_values(self, t: np.ndarray) -> np.ndarray:
        """Right-hand side from all sources at times ``t``: shape (n, len(t))."""
        w, yv = self.source_waves(t)
        rhs = np.asarray(self.inj @ w) if w.size else np.zeros((self.n, len(t)))
        rhs[self.n_nodes :] += yv
        return rhs


def _incidence(elements, node_idx: dict, n: int) -> sp.csr_matrix:
    """Branch-node incidence matrix (+1 at the element's first node, -1 at its second; ground
    "0" has no column), shape (len(elements), n)."""
    rows, cols, vals = [], [], []
    for b, e in enumerate(elements):
        p, m = e.nodes
        if p != "0":
            rows.append(b), cols.append(node_idx[p]), vals.append(1.0)
        if m != "0":
            rows.append(b), cols.append(node_idx[m]), vals.append(-1.0)
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(elements), n))


def compile_circuit(net: Netlist, h: float) -> Circuit:
    """Build the node-phase system of ``net`` for time step ``h`` (s)."""
    with gc_paused():  # ~10^5 small Python objects, no cycles: see netlist.gc_paused
        return _compile_circuit(net, h)


def _compile_circuit(net: Netlist, h: float) -> Circuit:
    K = K_JOSEPHSON
    els = net.elements
    if not any(e.kind in "BLRCVPT" for e in els):
        raise NetlistError("netlist has no elements", token=net.source_name)
    # ---- nodes and connectivity checks
    check_dangling(els)
    node_idx: dict[str, int] = {}
    for e in els:
        for nd in e.nodes:
            if nd != "0" and nd not in node_idx:
                node_idx[nd] = len(node_idx)
    nodes = list(node_idx)
    n_nodes = len(nodes)
    # connected components through non-current-source elements must reach ground
    from scipy.sparse.csgraph import connected_components

    def idx(nd: str) -> int:
        return n_nodes if nd == "0" else node_idx[nd]

    first_line: dict[str, tuple[int, str]] = {}
    er, ec = [], []
    for e in els:
        for nd in e.nodes:
            if nd not in first_line:
                first_line[nd] = (e.line, e.name)
        if e.kind in "BLRCVP" and len(e.nodes) == 2:
            er.append(idx(e.nodes[0]))
            ec.append(idx(e.nodes[1]))
        elif e.kind == "T":  # each port is a Z0 branch in the phase-domain system
            er += [idx(e.nodes[0]), idx(e.nodes[2])]
            ec += [idx(e.nodes[1]), idx(e.nodes[3])]
    graph = sp.csr_matrix((np.ones(len(er)), (er, ec)), shape=(n_nodes + 1, n_nodes + 1))
    _, comp = connected_components(graph, directed=False)
    floating = np.nonzero(comp[:n_nodes] != comp[n_nodes])[0]
    if floating.size:
        nd = nodes[int(floating[0])]
        ln, nm = first_line[nd]
        raise NetlistError(
            f"floating node {nd!r}: no path to ground except through current sources (element {nm})", line=ln, token=nd
        )
    for e in els:
        if e.kind in "BLRCIVP" and e.nodes[0] == e.nodes[1]:
            raise NetlistError(f"element {e.name} has both terminals on node {e.nodes[0]}", line=e.line, token=e.name)
        if e.kind == "T" and (e.nodes[0] == e.nodes[1] or e.nodes[2] == e.nodes[3]):
            raise NetlistError(
                f"transmission line {e.name} has a port with both terminals on one node", line=e.line, token=e.name
            )

    vsrc = [e for e in els if e.kind in "VP"]
    n = n_nodes + len(vsrc)
    jjs = [e for e in els if e.kind == "B"]
    rs = [e for e in els if e.kind == "R"]
    cs = [e for e in els if e.kind == "C"]
    # transmission lines (JoSIM's lossless delay line): each port is a branch of conductance
    # a/Z0 with the delayed wave of the other port as history, see :mod:`.transient`
    tls = [e for e in els if e.kind == "T"]
    tports = []
    t_delay, t_other = [], []
    for i, e in enumerate(tls):
        k = int(round(e.delay / h))
        if k < 1:
            raise NetlistError(
                f"transmission line {e.name}: TD={e.delay:.4g} s is shorter than the time step {h:.4g} s",
                line=e.line,
                token=e.name,
            )
        for port in (0, 1):
            tports.append(
                Element(kind="T", name=e.name, nodes=e.nodes[2 * port : 2 * port + 2], value=e.value, line=e.line)
            )
            t_delay.append(k)
            t_other.append(2 * i + 1 - port)
    branches = [*jjs, *rs, *cs, *tports]
    D = _incidence(branches, node_idx, n)

    # ---- inductors (with mutual coupling): I = (K Lmat)^-1 y over each coupled group
    inds = [e for e in els if e.kind == "L"]
    lpos = {e.name: i for i, e in enumerate(inds)}
    ks = [e for e in els if e.kind == "K"]
    nl = len(inds)
    lr, lc, lv = list(range(nl)), list(range(nl)), [e.value for e in inds]
    for k in ks:
        i, j = lpos[k.coupled[0]], lpos[k.coupled[1]]
        m = k.value * math.sqrt(inds[i].value * inds[j].value)
        lr += [i, j]
        lc += [j, i]
        lv += [m, m]
    Lmat = sp.csr_matrix((lv, (lr, lc)), shape=(nl, nl))
    DL = _incidence(inds, node_idx, n)
    if ks:
        # coupled inductors: invert each connected group of the inductance matrix (small, dense)
        from scipy.sparse.csgraph import connected_components

        ncomp, lab = connected_components(Lmat, directed=False)
        Linv = sp.lil_matrix((nl, nl))
        for comp in range(ncomp):
            ids = np.nonzero(lab == comp)[0]
            blk = Lmat[ids][:, ids].toarray()
            if len(ids) > 1 and not np.all(np.linalg.eigvalsh(blk) > 0):
                kk = next(k for k in ks if lpos[k.coupled[0]] in ids)
                raise NetlistError(
                    "inductance matrix with mutual couplings is not positive definite", line=kk.line, token=kk.name
                )
            inv = np.linalg.inv(blk)
            for a_i, ii in enumerate(ids):
                for b_i, jj in enumerate(ids):
                    Linv[ii, jj] = inv[a_i, b_i]
        Linv = Linv.tocsr()
    else:
        Linv = sp.diags(1.0 / np.array([e.value for e in inds])) if nl else sp.csr_matrix((0, 0))
    A_static = (DL.T @ (Linv / K) @ DL) if nl else sp.csr_matrix((n, n))
    sr, sc_, sv = [], [], []
    for k, e in enumerate(vsrc):
        p, m = e.nodes
        row = n_nodes + k
        for nd, sgn in ((p, 1.0), (m, -1.0)):
            if nd != "0":
                sr += [node_idx[nd], row]
                sc_ += [row, node_idx[nd]]
                sv += [sgn, sgn]
    A_src = sp.csr_matrix((sv, (sr, sc_)), shape=(n, n))
    A_static = (sp.csr_matrix(A_static) + A_src).tocsr()

    a = 3.0 / (2.0 * h * K)
    g_r = np.array([a / e.value for e in rs])
    g_c = np.array([9.0 * e.value / (4.0 * h * h * K) for e in cs])
    g_t = np.array([a / e.value for e in tports])
    ic = np.array([e.model.icrit * e.area for e in jjs])
    cap = np.array([e.model.cap * e.area for e in jjs])
    rn = np.array([e.model.rn / e.area for e in jjs])
    r0 = np.array([(e.model.r0 if e.model.rtype == 1 else e.model.rn) / e.area for e in jjs])
    vg = np.array([e.model.vg for e in jjs])
    dv = np.array([e.model.delv for e in jjs])
    icf = np.array([e.model.icfct for e in jjs])
    glarge = ic / (icf * dv) if jjs else np.zeros(0)
    rtype1 = np.array([e.model.rtype == 1 for e in jjs], dtype=bool)

    # ---- current sources grouped by identical waveform
    waves: list = []
    wave_idx: dict = {}
    r3, c3, v3 = [], [], []
    for e in els:
        if e.kind != "I":
            continue
        key = (e.source.kind, e.source.args)
        if key not in wave_idx:
            wave_idx[key] = len(waves)
            waves.append(e.source)
        w = wave_idx[key]
        p, m = e.nodes
        if p != "0":
            r3.append(node_idx[p]), c3.append(w), v3.append(-1.0)
        if m != "0":
            r3.append(node_idx[m]), c3.append(w), v3.append(1.0)
    inj = sp.csr_matrix((v3, (r3, c3)), shape=(n, len(waves)))
    circ = Circuit(
        netlist=net,
        h=h,
        nodes=nodes,
        n=n,
        branches=branches,
        n_jj=len(jjs),
        n_r=len(rs),
        n_c=len(cs),
        D=D,
        A_static=A_static,
        g_r=g_r,
        g_c=g_c,
        ic=ic,
        cap=cap,
        r0=r0,
        rn=rn,
        lower=vg - 0.5 * dv,
        upper=vg + 0.5 * dv,
        glarge=glarge,
        phi_off=np.array([e.model.phi for e in jjs]),
        rtype1=rtype1,
        inj=inj,
        waves=waves,
        vsrc=vsrc,
        n_nodes=n_nodes,
        DL=DL,
        inductors=inds,
        coupled=bool(ks),
        A_src=A_src.tocsr(),
        n_t=len(tports),
        g_t=g_t,
        t_delay=np.array(t_delay, dtype=np.int64),
        t_other=np.array(t_other, dtype=np.int64),
    )
    if net.startup:
        n_st = josim_startup_steps(h)
        circ.startup_steps = n_st
        w_, yv_ = circ.startup_waves()
        if not (np.any(circ.phi_off != 0.0) or np.any(w_ != 0.0) or np.any(yv_ != 0.0)):
            circ.startup_steps = 0  # every start-up step would leave the zero state exactly as it is
    return circ
