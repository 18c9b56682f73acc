"""Fixed-step BDF2 (Gear-2) transient of the phase-domain system, JoSIM v2.7 style.

One linear solve per step; ``sin(phi)`` is taken at JoSIM's explicitly predicted phase, so no
Newton loop is needed and the system matrix only changes when a junction's quasiparticle branch
changes state (rtype=1). :func:`reference_loop` is the step written once in numpy (the
reference); the back ends of :mod:`physnn.josephson.backends` integrate the same steps (dense or
sparse reference loop, a fused single-run loop, compiled sparse, fused and tiled-ensemble loops),
chosen per run by ``backend=`` or :func:`~physnn.josephson.backends.use_backend`, each saying
with ``unsupported()`` which runs it cannot do. They are registered at the end of this module.

If a junction's predicted phase moves more than 0.2*2pi in one step (after the first 1 % of the
run), the run restarts with half the step, as JoSIM does; after ``max_halvings`` a
:class:`SimulationError` names the junction. In an ensemble only the members that broke the rule
are rerun (from t = 0 at h/2, all of them in one batched call, storing only the points of the
caller's grid -- the compiled loop writes them straight into the output arrays); the others keep
their results. Timings and the design notes of the loops: RESULTS.md ("Josephson transient:
performance notes").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse.linalg as spla

from ..threads import blas_threads
from ..constants import k_B
from ..buffers import empty, empty_pages
from .circuit import K_JOSEPHSON, Circuit, compile_circuit
from . import _ensemble_kernel as _kern
from .backends import AbstractTransientBackend, TransientProblem, register_backend, select_backend
from .netlist import Netlist

__all__ = [
    "SimulationError",
    "TransientResult",
    "run_transient",
    "reference_loop",
    "startup_history",
    "PHASE_JUMP_LIMIT",
    "NODE_HISTORY",
    "ReferenceDense",
    "ReferenceSparse",
    "FusedNumpy",
    "FusedCompiled",
    "SparseCompiled",
    "TiledCompiled",
]

#: JoSIM's step-rejection threshold on the predicted phase change per step, rad
PHASE_JUMP_LIMIT = 0.2 * 2.0 * math.pi

#: output points before t = 0 whose node phases a start-up run keeps
#: (:attr:`TransientResult.node_phase_history`): the BDF2 voltage of a printed trace at t = 0 and
#: t = h reads two of them, a capacitor's current (the BDF2 of that voltage) four
NODE_HISTORY = 4


class SimulationError(RuntimeError):
    """The transient failed (singular matrix, blow-up after step halving); names the element."""


class _StepTooLarge(Exception):
    def __init__(self, jj: int, step: int, members: np.ndarray | None = None, partial=None):
        self.jj, self.step, self.members, self.partial = jj, step, members, partial


@dataclass
class TransientResult:
    """Raw arrays of one transient (time-major)."""

    time: np.ndarray  #: (T,) s
    phase: np.ndarray  #: (T, J, E) junction phase, rad
    voltage: np.ndarray | None  #: (T, J, E) junction voltage, V (None: not stored)
    node_phase: np.ndarray  #: (T, n_obs, E) phases of observed unknowns, rad
    obs: list[int]
    h: float
    circuit: Circuit
    halvings: int
    ic: np.ndarray  #: (J, E) critical currents used, A
    member_halvings: np.ndarray | None = None  #: (E,) step halvings applied per ensemble member
    #: (NODE_HISTORY, n_obs, E) phases of the observed unknowns at the output times
    #: ``t = -NODE_HISTORY h, ..., -h`` before the run, rad: the state JoSIM's start-up steps
    #: reached (:func:`startup_history`); None: the run starts from the zero state (all zero)
    node_phase_history: np.ndarray | None = None
    #: the loop that integrated it: 'tiled-compiled' (ensembles), 'sparse-compiled', 'sparse-numpy',
    #: 'fused-compiled', 'fused-numpy', 'dense-numpy' (what the tests and benchmarks check ran)
    loop: str = ""


def _noise_sigma(circ: Circuit, temp: float | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-step Johnson current std for resistors and junction subgap resistors, A.

    White current noise of one-sided PSD ``4 k T / R`` in the bandwidth ``B`` (``.neb`` or an
    element's ``NEB=``; default the Nyquist band ``1/2h`` of the step), drawn every step:
    ``sigma = sqrt(4 k T B / R)``. An element's ``TEMP=`` overrides ``.temp``.
    """
    if not temp:
        return None
    h = circ.h
    neb = circ.netlist.neb or 1.0 / (2.0 * h)

    def opt(e, key, default):
        return dict(e.options).get(key, default)

    J, nr = circ.n_jj, circ.n_r
    rb = circ.branches[J : J + nr]
    jb = circ.branches[:J]
    s_r = np.array([math.sqrt(4.0 * k_B * opt(e, "TEMP", temp) * opt(e, "NEB", neb) / e.value) for e in rb])
    s_j = np.array(
        [math.sqrt(4.0 * k_B * opt(e, "TEMP", temp) * opt(e, "NEB", neb) / r0) for e, r0 in zip(jb, circ.r0)]
    )
    return s_j, s_r


def _draw(generator, shape) -> np.ndarray:
    """Standard normal samples from a ``torch.Generator`` (None: torch's global generator)."""
    import torch

    from ..random import check_generator

    return torch.randn(shape, generator=check_generator(generator), dtype=torch.float64).numpy()


def run_transient(
    net: Netlist,
    *,
    tstep: float,
    tstop: float,
    ic_scale: np.ndarray | None = None,
    generator=None,
    obs_nodes: list[str] | None = None,
    max_halvings: int = 6,
    backend: str | AbstractTransientBackend | None = None,
    store_step: float | None = None,
    store_voltage: bool = True,
    phase_dtype=np.float64,
) -> TransientResult:
    """Simulate ``net`` from 0 to ``tstop`` with step ``tstep`` (s), halving on large phase jumps.

    Parameters
    ----------
    ic_scale : array (J, E), optional
        Multiplier of each junction's critical current per ensemble member.
    generator : torch.Generator, optional
        Random source for Johnson noise (netlists with ``.temp``; None: torch's global generator).
    obs_nodes : list of str
        Node names whose phases are recorded (for ``.print``).
    backend : str or AbstractTransientBackend, optional
        A registered back end (``'sparse-compiled'``, ``'fused-numpy'``, ...), a family
        (``'fused'``, ``'dense'``, ``'sparse'``), ``'auto'``, or a back-end object; None (default):
        the :func:`~physnn.josephson.backends.use_backend` choice, ``'auto'`` outside one. See
        :mod:`physnn.josephson.backends`.
    store_step : float, optional
        Keep only the points ``t = i * store_step`` (a multiple of the step); default: every step.
        Used for the reruns of ensemble members at h/2, which are merged back onto the caller's
        grid: storing only those points halves their output memory (first-touch page faults of
        fresh output arrays cost as much as the arithmetic on the test machine).
    store_voltage : bool
        Keep the junction voltages (``voltage``; default). False: ``voltage`` is None; the
        compiled ensemble loop then never writes them (half the output memory of an ensemble),
        the other loops drop them at the end.
    phase_dtype : numpy dtype
        Storage type of the junction phases ``phase`` (float64 default, or float32). The
        integration always runs in float64; float32 rounds each stored value to nearest (7.2
        significant digits; JoSIM's CSV output has 7) and halves the memory of the largest output.
        Every loop stores the same numbers (the compiled ensemble loop writes them rounded, the
        others round at the end).
    """
    from ..random import check_generator

    generator = check_generator(generator)
    phase_dtype = np.dtype(phase_dtype)
    if phase_dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"phase_dtype={phase_dtype!r}: float64 or float32")
    h = tstep
    circ = compile_circuit(net, h)
    be = select_backend(TransientProblem.of(circ, 1 if ic_scale is None else ic_scale.shape[1]), backend)
    if isinstance(be, TiledCompiled):
        # one BLAS thread for the whole run, set-up products included: OpenBLAS threads woken by
        # one multi-threaded call spin for a while afterwards, on the cores the compiled loop's
        # member groups need (measured: ~1/4 of the CPU of a 1,024-member batch)
        with blas_threads(1):
            return _run_tiled(
                net,
                circ,
                be,
                tstop=tstop,
                ic_scale=ic_scale,
                obs_nodes=obs_nodes or [],
                max_halvings=max_halvings,
                store_step=store_step,
                store_voltage=store_voltage,
                phase_dtype=phase_dtype,
            )
    for halving in range(max_halvings + 1):
        if halving:
            circ = compile_circuit(net, h)
        try:
            res = _run(
                circ,
                tstop,
                ic_scale,
                generator,
                obs_nodes or [],
                be,
                store_every=1 if store_step is None else max(1, int(round(store_step / h))),
            )
            res.halvings = halving
            res.member_halvings = np.full(res.ic.shape[1], halving)
            if not store_voltage:
                res.voltage = None
            res.phase = res.phase.astype(phase_dtype, copy=False)
            return res
        except _StepTooLarge as exc:
            name = circ.branches[exc.jj].name
            last = (name, exc.step * h)
            if exc.members is not None and exc.partial is not None and not exc.members.all():
                # ensemble: only the members that moved too fast are rerun at h/2 (recursively) and
                # decimated back onto this grid (t = i h is every second point of the h/2 grid)
                res = exc.partial
                bad = np.nonzero(exc.members)[0]
                if halving == max_halvings:
                    break
                sub = run_transient(
                    net,
                    tstep=h / 2.0,
                    tstop=tstop,
                    ic_scale=ic_scale[:, bad],
                    generator=generator,
                    obs_nodes=obs_nodes,
                    max_halvings=max_halvings - halving - 1,
                    backend=be,
                    store_step=h if store_step is None else store_step,
                )
                f = int(round(res.h / sub.h))  # 1: the rerun stored only this run's grid points
                # one pass per array (a per-member loop of strided copies cost ~5 s for 685 of 1024
                # members: every element touched its own cache line)
                for dst, src in ((res.phase, sub.phase), (res.voltage, sub.voltage), (res.node_phase, sub.node_phase)):
                    _kern.merge_members(dst, src, bad, f)
                if sub.node_phase_history is not None:
                    # the reruns' own start-up history, on this grid (they stored only its points)
                    if res.node_phase_history is None:
                        res.node_phase_history = np.zeros((NODE_HISTORY,) + res.node_phase.shape[1:])
                    res.node_phase_history[:, :, bad] = sub.node_phase_history
                res.halvings = halving
                res.member_halvings = np.zeros(res.ic.shape[1], dtype=int) + halving
                res.member_halvings[bad] = sub.member_halvings + 1 + halving
                if not store_voltage:
                    res.voltage = None
                res.phase = res.phase.astype(phase_dtype, copy=False)
                return res
            h = h / 2.0
    raise SimulationError(
        f"junction {last[0]}: phase moves more than 0.2*2pi per step at t={last[1]:.4g} s "
        f"even after {max_halvings} step halvings (circuit blows up or is unstable)"
    )


def _dense_system(circ: Circuit, state_col: np.ndarray, src: np.ndarray, obs: list[int]):
    """Branch-space system of one quasiparticle state: ``y = Q c + S_n``, observed unknowns
    ``Ob c + So_n``. Returns (Q (nb, nb), SyT (T, nb), Ob (n_obs, nb), SoT (T, n_obs))."""
    Ainv = _dense_inv(circ, state_col)
    Dd = circ.D.toarray()
    Q = Dd @ Ainv @ Dd.T
    SyT = src.T @ (Dd @ Ainv).T  # (T, nb)
    Ob = Ainv[obs] @ Dd.T if obs else None
    SoT = src.T @ Ainv[obs].T if obs else None
    return Q, SyT, Ob, SoT


def _run_tiled(
    net: Netlist,
    circ0: Circuit,
    backend: "TiledCompiled",
    *,
    tstop,
    ic_scale,
    obs_nodes,
    max_halvings,
    store_step,
    store_voltage=True,
    phase_dtype=np.float64,
):
    """Noise-free ensemble through the compiled tiled loop (:func:`._ensemble_kernel.tiled_run`).

    Same equations and step rule as :func:`reference_loop`; every member is independent, so the
    loop runs tiles of at most ``backend.tile`` members x ``CHUNK`` steps, handles the junctions'
    gap-region states per member, and splits the members over ``backend.threads_for(E)``
    threads. Members that break the 0.2*2pi rule are rerun from t = 0 at h/2 (then h/4, ...)
    writing straight into the output grid (no merge pass). If every member breaks it at the first
    level, the whole run restarts at h/2 on the finer grid, as a single run does. ``circ0`` is
    the circuit compiled at the first step (:class:`TiledCompiled` has checked it).
    """
    h = circ0.h
    E = ic_scale.shape[1]
    hs = store_step  # storage grid, s (None: the step of the first level)
    members = np.arange(E)
    member_halv = np.zeros(E, dtype=int)
    top_halvings = 0
    depth = 0
    split = False
    out = None
    top = None  # (circuit, output step, observed unknowns) of the first level, set with out
    status = np.zeros(1, dtype=np.int64)  # set by the compiled loop when a state is not finite
    while True:
        circ = circ0 if h == circ0.h else compile_circuit(net, h)
        T = int(math.floor(tstop / h + 1e-9)) + 1
        if out is not None:
            se = max(1, int(round(top[1] / h)))  # reruns store the first level's grid points
        else:
            se = 1 if hs is None else max(1, int(round(hs / h)))
        J = circ.n_jj
        node_idx = {nd: i for i, nd in enumerate(circ.nodes)}
        node_idx.update({"__src__" + e.name: circ.n_nodes + k for k, e in enumerate(circ.vsrc)})
        obs = [node_idx[nd] for nd in obs_nodes if nd != "0"]
        if out is None:
            T_out = (T - 1) // se + 1
            ic_all = np.ascontiguousarray(circ.ic[:, None] * ic_scale)
            # without stored voltages the loop gets a (1, 1, 1) array it never writes
            volt_out = empty_pages((T_out, J, E)) if store_voltage else np.zeros((1, 1, 1))
            out = (empty_pages((T_out, J, E), phase_dtype), volt_out, empty_pages((T_out, len(obs), E)))
            top = (circ, h * se, obs)
        t = np.arange(T) * h
        src = circ.source_values(t)
        flag_step, flag_j, flag_val = _tiled_pass(
            circ, T, se, src, obs, ic_all, members, out, status, store_voltage, backend
        )
        hit = flag_step[members] >= 0
        if not hit.any():
            break
        bad = members[hit]
        b0 = bad[np.lexsort((-flag_val[bad], flag_step[bad]))[0]]
        last = (circ.branches[int(flag_j[b0])].name, flag_step[b0] * h)
        if depth == max_halvings:
            raise SimulationError(
                f"junction {last[0]}: phase moves more than 0.2*2pi per step at "
                f"t={last[1]:.4g} s even after {max_halvings} step halvings (circuit "
                "blows up or is unstable)"
            )
        depth += 1
        h = h / 2.0
        if not split and bad.size == E and store_step is None:
            # every member broke the rule at the first level: the whole run restarts at h/2 on
            # the finer grid (as a single run does); nothing of this level is kept
            top_halvings += 1
            member_halv[:] = top_halvings
            out = None
            continue
        split = True
        member_halv[bad] = depth
        members = bad
    phase, volt, nph = out
    circ, h_out, obs = top
    if not store_voltage:
        volt = None
    for arr in (phase,) + ((volt,) if store_voltage else ()) if status[0] else ():
        if not np.all(np.isfinite(arr)):
            badi = np.argwhere(~np.isfinite(arr))[0]
            raise SimulationError(
                f"junction {circ.branches[badi[1]].name}: non-finite value at t={badi[0] * h_out:.4g} s"
            )
    T_out = phase.shape[0]
    return TransientResult(
        time=np.arange(T_out) * h_out,
        phase=phase,
        voltage=volt,
        node_phase=nph,
        obs=obs,
        h=h_out,
        circuit=circ,
        halvings=top_halvings,
        ic=ic_all,
        member_halvings=member_halv,
        loop="tiled-compiled",
    )


def _tiled_pass(
    circ: Circuit,
    T: int,
    se: int,
    src: np.ndarray,
    obs: list[int],
    ic_all: np.ndarray,
    members: np.ndarray,
    out,
    status: np.ndarray,
    store_voltage: bool,
    backend: "TiledCompiled",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One run of ``members`` (columns of the outputs) over steps 0..T-1, storing every ``se``-th.
    Returns per output column the first step that broke the phase rule (-1: none), the junction
    with the largest predicted phase change at that step and that change (rad)."""
    J, nb = circ.n_jj, circ.nb
    h = circ.h
    E = out[0].shape[2]
    sub = np.zeros(J, dtype=np.int8)
    Q, SyT, Ob, SoT = _dense_system(circ, sub, src, obs)
    if Ob is None:
        Ob, SoT = np.zeros((0, nb)), np.zeros((T, 0))
    g0 = np.ascontiguousarray(circ.g_all(sub))
    gs1 = circ.g_jj(np.ones(J, dtype=np.int8))
    gs2 = circ.g_jj(np.full(J, 2, dtype=np.int8))
    cap = circ.cap
    c1, c2 = 2.0 * cap / h, cap / (2.0 * h)
    itc = circ.lower * (1.0 / circ.r0 - circ.glarge)
    K = K_JOSEPHSON
    a = 3.0 / (2.0 * h * K)
    kp = 2.0 * h * K / 3.0
    flag_step = np.full(E, -1, dtype=np.int64)
    flag_j = np.zeros(E, dtype=np.int64)
    flag_val = np.zeros(E)
    c = np.ascontiguousarray
    QO = c(np.concatenate([Q, Ob], axis=0))
    shared = (se, QO, c(SyT), c(SoT), g0, c(gs1), c(gs2), c(c1), c(c2))
    shared2 = (
        c(circ.phi_off, dtype=float),
        c(itc),
        c(circ.lower),
        c(circ.upper),
        c(circ.rtype1.astype(np.bool_)),
        a,
        kp,
        0.01 * (T - 1),
        PHASE_JUMP_LIMIT,
        bool(store_voltage),
    )

    # contiguous member groups, one per thread: numba's prange over the groups; one group runs
    # serially (numba's thread pool is not started for it, see physnn.crossbar.backends)
    groups = backend.threads_for(members.size)
    sizes = [members.size // groups + (1 if g < members.size % groups else 0) for g in range(groups)]
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)  # as np.array_split
    st = np.zeros(groups, dtype=np.int64)
    mem = c(members, dtype=np.int64)
    with blas_threads(1):
        if groups > 1:
            import numba

            numba.set_num_threads(min(groups, numba.config.NUMBA_NUM_THREADS))
        run = _kern.tiled_run_groups if groups > 1 else _kern.tiled_run_group
        run(
            bounds,
            mem,
            T,
            *shared,
            c(ic_all),
            *shared2,
            nb,
            out[0],
            out[1],
            out[2],
            flag_step,
            flag_j,
            flag_val,
            st,
            _kern.CHUNK,
            backend.tile or _kern.TILE,
        )
    status[0] = max(int(status[0]), int(st.max()))
    return flag_step, flag_j, flag_val


def _run(
    circ: Circuit, tstop: float, ic_scale, generator, obs_nodes, backend: AbstractTransientBackend, store_every: int = 1
) -> TransientResult:
    """One run at the circuit's step through ``backend`` (not the tiled one): the common set-up
    and the finiteness check of the outputs."""
    h = circ.h
    T = int(math.floor(tstop / h + 1e-9)) + 1
    t = np.arange(T) * h
    se = store_every
    t_out, h_out = t[::se], h * se
    J = circ.n_jj
    ic = np.ascontiguousarray(circ.ic[:, None] * (np.ones((J, 1)) if ic_scale is None else ic_scale))
    node_idx = {nd: i for i, nd in enumerate(circ.nodes)}
    node_idx.update({"__src__" + e.name: circ.n_nodes + k for k, e in enumerate(circ.vsrc)})
    obs = [node_idx[nd] for nd in obs_nodes if nd != "0"]
    # JoSIM's start-up steps before t = 0, in the reference step (None: none that change anything)
    hist = startup_history(circ, ic, obs=obs, store_every=se)
    nph_hist = None if hist is None else hist[4]
    try:
        # (a back end without start-up support is never asked: its unsupported() declined the run)
        out = backend.integrate(circ, t, ic, obs, generator, se, **({} if hist is None else {"history": hist}))
    except _StepTooLarge as exc:
        if exc.partial is not None:
            ph_, v_, n_ = exc.partial
            exc.partial = TransientResult(
                time=t_out,
                phase=ph_,
                voltage=v_,
                node_phase=n_,
                obs=obs,
                h=h_out,
                circuit=circ,
                halvings=0,
                ic=ic,
                loop=backend.name,
                node_phase_history=nph_hist,
            )
        raise
    phase, volt, nph = out
    for arr in (phase, volt):
        # a sum is finite iff every value is (|values| here are far below overflow); it reads the
        # array once instead of allocating a boolean array of its size
        if not np.isfinite(np.sum(arr)) and not np.all(np.isfinite(arr)):
            bad = np.argwhere(~np.isfinite(arr))[0]
            raise SimulationError(
                f"junction {circ.branches[bad[1]].name}: non-finite value at t={bad[0] * h_out:.4g} s"
            )
    return TransientResult(
        time=t_out,
        phase=phase,
        voltage=volt,
        node_phase=nph,
        obs=obs,
        h=h_out,
        circuit=circ,
        halvings=0,
        ic=ic,
        loop=backend.name,
        node_phase_history=nph_hist,
    )


def _run_sparse_compiled(
    circ: Circuit, t: np.ndarray, ic: np.ndarray, obs: list[int], se: int, history: tuple | None = None
):
    """Single noise-free run of the sparse back end in the compiled loop
    (:func:`._sparse_kernel.sparse_segment`): the equations of :func:`reference_loop`, one compiled
    call per stretch of constant junction states (one SuperLU factorisation per state pattern).
    ``history``: the start-up history of :func:`startup_history` (None: zero)."""
    from . import _sparse_kernel as _sk

    T = len(t)
    T_out = (T - 1) // se + 1
    h = circ.h
    K = K_JOSEPHSON
    a = 3.0 / (2.0 * h * K)
    kp = 2.0 * h * K / 3.0
    J, nb, nr, nc, nt = circ.n_jj, circ.nb, circ.n_r, circ.n_c, circ.n_t
    c_ = np.ascontiguousarray
    w, yv = circ.source_waves(t)
    Dc = circ.D.tocsr()
    DT = circ.D.T.tocsr()  # (n, nb): row i sums the currents of the branches at unknown i
    DT.sort_indices()
    inj = circ.inj.tocsc()
    inj.sort_indices()
    vrow_nodes = circ.n_nodes + np.arange(len(circ.vsrc), dtype=np.int64)
    cache: dict[bytes, tuple] = {}

    def factors(st: np.ndarray):
        key = st.tobytes()
        if key not in cache:
            try:
                f = _sk.SparseFactors(circ.matrix(st))
            except (RuntimeError, ZeroDivisionError) as exc:
                raise SimulationError(
                    f"singular system matrix ({exc}); check for loops of ideal sources or disconnected parts"
                ) from None
            pr, pc = f.perm_r, f.perm_c
            nz = circ.n
            # D^T rows in the factors' row order (row perm_r[i] is unknown i's equation)
            inv_r = empty(nz, dtype=np.int64)
            inv_r[pr] = np.arange(nz)
            Dr = DT[inv_r]
            # branch terminals as solution entries (ground: entry nz, kept at 0)
            zp = np.full(nb, nz, dtype=np.int64)
            zm = np.full(nb, nz, dtype=np.int64)
            rows = np.repeat(np.arange(nb), np.diff(Dc.indptr))
            pos = Dc.data > 0
            zp[rows[pos]] = pc[Dc.indices[pos]]
            zm[rows[~pos]] = pc[Dc.indices[~pos]]
            obs_a = np.asarray(obs, dtype=np.int64)
            # unknowns with a right-hand side (branch terminals, injections, source rows) and
            # the unknowns read back (branch terminals, observed)
            terms = np.unique(Dc.indices).astype(np.int64)
            fwd, bwd = f.rows(
                np.concatenate([terms, inj.indices.astype(np.int64), vrow_nodes]), np.concatenate([terms, obs_a])
            )
            cache[key] = (
                f,
                c_(Dr.indptr, dtype=np.int64),
                c_(Dr.indices, dtype=np.int64),
                c_(Dr.data, dtype=float),
                zp,
                zm,
                c_(pr[inj.indices], dtype=np.int64),
                c_(pr[vrow_nodes], dtype=np.int64),
                c_(pc[obs_a], dtype=np.int64),
                c_(circ.g_all(st), dtype=float),
                fwd,
                bwd,
            )
        return cache[key]

    state = np.zeros(J, dtype=np.int8)
    new_state = np.zeros(J, dtype=np.int8)
    cap = circ.cap
    c1, c2 = c_(2.0 * cap / h), c_(cap / (2.0 * h))
    itc = c_(circ.lower * (1.0 / circ.r0 - circ.glarge))
    rt1 = c_(circ.rtype1.astype(np.bool_))
    offs = c_(circ.phi_off, dtype=float)
    icc = c_(ic, dtype=float)
    g_c = c_(circ.g_c, dtype=float)
    t_delay = c_(circ.t_delay if nt else np.zeros(0), dtype=np.int64)
    t_other = c_(circ.t_other if nt else np.zeros(0), dtype=np.int64)
    wbuf = np.zeros((int(t_delay.max()) + 1 if nt else 1, max(nt, 1)))
    yb = np.zeros((5, nb))
    if history is not None:
        # ring slots of steps -1, -2 (branch phases) and -3, -4 (capacitor branches) at n = 0
        yb[4] = history[0][:, 0]
        yb[3] = history[1][:, 0]
        yb[2, J + nr : J + nr + nc] = history[2][:, 0]
        yb[1, J + nr : J + nr + nc] = history[3][:, 0]
    vb = np.zeros((4, J))
    phase = empty((T_out, J))
    volt = empty((T_out, J))
    nph = empty((T_out, len(obs)))
    info = np.zeros(2, dtype=np.int64)
    w = c_(w, dtype=float)
    yv = c_(yv, dtype=float)
    ip = c_(inj.indptr, dtype=np.int64)
    iv = c_(inj.data, dtype=float)
    check_from = 0.01 * (T - 1)
    n = 0
    while n < T:
        f, rp, rb, rs, zp, zm, irow, vrow, obs_z, g, fwd, bwd = factors(state)
        n = _sk.sparse_segment(
            n,
            T,
            se,
            check_from,
            PHASE_JUMP_LIMIT,
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
            icc,
            offs,
            itc,
            c_(circ.lower, dtype=float),
            c_(circ.upper, dtype=float),
            rt1,
            state,
            new_state,
            t_delay,
            t_other,
            wbuf,
            ip,
            irow,
            iv,
            w,
            vrow,
            yv,
            *f.L,
            *f.U,
            f.Udi,
            fwd,
            bwd,
            yb,
            vb,
            obs_z,
            phase,
            volt,
            nph,
            info,
        )
        if info[0] == 2:
            raise _StepTooLarge(int(info[1]), int(n))
        if info[0] == 1:
            state = new_state.copy()
    return phase[:, :, None], volt[:, :, None], nph[:, :, None]


def _lu(A):
    try:
        return spla.splu(A.tocsc(), permc_spec="COLAMD")
    except RuntimeError as exc:
        raise SimulationError(
            f"singular system matrix ({exc}); check for loops of ideal sources or disconnected parts"
        ) from None


def _dense_inv(circ: Circuit, state) -> np.ndarray:
    import warnings

    A = circ.matrix(state).toarray()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sla.LinAlgWarning)
        lu = sla.lu_factor(A, check_finite=True)
    d = np.abs(np.diag(lu[0]))
    if not np.all(d > 1e-13 * d.max()):
        raise SimulationError("singular system matrix: a node or source loop is not determined")
    return sla.lu_solve(lu, np.eye(A.shape[0]))


def _state_of(circ: Circuit, v0: np.ndarray) -> np.ndarray:
    """Quasiparticle branch state per junction from the predicted voltage (0 subgap, 1 gap, 2 normal)."""
    av = np.abs(v0)
    st = np.where(av < circ.lower[:, None], 0, np.where(av < circ.upper[:, None], 1, 2)).astype(np.int8)
    st[~circ.rtype1] = 0
    return st


def _it_of(circ: Circuit, st: np.ndarray, v0: np.ndarray) -> np.ndarray:
    """JoSIM's offset current of the gap-transition branch (zero outside it), A."""
    it = circ.lower[:, None] * (1.0 / circ.r0[:, None] - circ.glarge[:, None]) * np.sign(v0)
    return np.where(st == 1, it, 0.0)


class _BandedSolver:
    """Factorise once, solve per step: banded LAPACK (Cholesky if symmetric) after reverse
    Cuthill-McKee ordering, SuperLU when the band is wide. Unknowns stay in the permuted order."""

    def __init__(self, A, perm: np.ndarray):
        from scipy.linalg import lapack
        from scipy.sparse.csgraph import reverse_cuthill_mckee  # noqa: F401

        self.lapack = lapack
        Ap = A.tocsr()[perm][:, perm].tocoo()
        n = A.shape[0]
        kl = int(max(0, (Ap.row - Ap.col).max(initial=0)))
        ku = int(max(0, (Ap.col - Ap.row).max(initial=0)))
        self.mode = "splu"
        if kl + ku <= 64:
            sym = abs(A - A.T).max() == 0 if A.nnz else True
            if sym:
                m = Ap.row <= Ap.col
                ab = np.zeros((ku + 1, n))
                ab[ku + Ap.row[m] - Ap.col[m], Ap.col[m]] = Ap.data[m]
                cb, info = lapack.dpbtrf(ab, lower=0)
                if info == 0:
                    self.mode, self.cb = "pb", cb
            if self.mode == "splu":
                ab = np.zeros((2 * kl + ku + 1, n))
                ab[kl + ku + Ap.row - Ap.col, Ap.col] = Ap.data
                lu, piv, info = lapack.dgbtrf(ab, kl, ku)
                if info == 0:
                    self.mode, self.lu, self.piv, self.kl, self.ku = "gb", lu, piv, kl, ku
                elif info > 0:
                    raise SimulationError(
                        "singular system matrix (zero pivot): a node or source loop is not determined"
                    )
        if self.mode == "splu":
            self.splu = _lu(Ap.tocsc())

    def solve(self, b: np.ndarray) -> np.ndarray:
        if self.mode == "pb":
            return self.lapack.dpbtrs(self.cb, b, lower=0)[0]
        if self.mode == "gb":
            return self.lapack.dgbtrs(self.lu, self.kl, self.ku, b, self.piv)[0]
        return self.splu.solve(b)


def reference_loop(
    circ: Circuit,
    t: np.ndarray,
    ic: np.ndarray,
    obs: list[int],
    generator,
    sparse: bool,
    store_every: int = 1,
    *,
    history: tuple | None = None,
    startup: bool = False,
):
    """The reference step, in numpy: JoSIM v2.7's BDF2 step of the branch-space system, every
    member of an ensemble at once (shared matrix, multi-column right-hand side), with thermal
    noise, capacitors, transmission lines and any size. ``sparse``: one sparse (banded or
    SuperLU) factorisation per junction state pattern; else the dense branch-space matrix
    ``Q = D A^-1 D^T`` shared by all members, with an exact low-rank correction per member whose
    junctions left the subgap branch. Every other loop is tested against it.

    Returns ``(phase (T_out, J, E), voltage (T_out, J, E), node_phase (T_out, n_obs, E))``;
    raises ``_StepTooLarge`` (with the results so far and the members that broke the rule) when a
    junction's predicted phase moves more than :data:`PHASE_JUMP_LIMIT` in one step. Outputs are
    stored for every ``store_every``-th step only (row ``n // store_every``); the other steps write
    to one spare row past the end, so the loop body stays the same.

    ``history``: the branch phases ``(y_{-1}, y_{-2})`` (nb, E) and capacitor phases
    ``(y_{-3}, y_{-4})`` (nc, E) the run starts from (None: zero), as :func:`startup_history`
    returns them (its first four items; the fifth, the observed node phases, is not read).
    ``startup=True`` runs JoSIM's start-up steps instead (``t``: their times, before t = 0) with
    JoSIM's rules for them (:func:`startup_history`) and returns that history, with the phases
    of the observed unknowns ``obs`` at the last :data:`NODE_HISTORY` output points before t = 0
    (every ``store_every``-th step counted back from t = 0; zero before the first start-up step)."""
    T = len(t)
    se = store_every
    T_out = (T - 1) // se + 1
    h = circ.h
    K = K_JOSEPHSON
    a = 3.0 / (2.0 * h * K)
    kp = 2.0 * h * K / 3.0
    J, nb, nr, nc = circ.n_jj, circ.nb, circ.n_r, circ.n_c
    cs_ = slice(J + nr, J + nr + nc)  # capacitor branches
    nt = circ.n_t
    ts_ = slice(J + nr + nc, nb)  # transmission-line port branches
    E = ic.shape[1]
    cap = circ.cap[:, None]
    c1, c2 = 2.0 * cap / h, cap / (2.0 * h)
    check_from = 0.01 * (T - 1)
    noise = _noise_sigma(circ, circ.netlist.temp)
    w, yv = circ.startup_waves() if startup else circ.source_waves(t)
    nn = circ.n_nodes
    if sparse:
        import scipy.sparse as sp
        from scipy.sparse.csgraph import reverse_cuthill_mckee

        A0 = circ.matrix(np.zeros(J, dtype=np.int8)).tocsr()
        pat = sp.csr_matrix((np.ones(A0.nnz), A0.indices, A0.indptr), shape=A0.shape)
        perm = np.asarray(reverse_cuthill_mckee((pat + pat.T).tocsr(), symmetric_mode=True))
        iperm = empty(perm.shape, perm.dtype)
        iperm[perm] = np.arange(len(perm))
        D = circ.D.tocsc()[:, perm].tocsr()
        DT = D.T.tocsr()
        inj = circ.inj.tocsr()[perm]
        vrows = iperm[nn + np.arange(len(circ.vsrc))]
        obs_p = iperm[np.asarray(obs, dtype=int)] if obs else np.zeros(0, dtype=int)
    else:
        src = np.asarray(circ.inj @ w) if w.size else np.zeros((circ.n, T))
        src[nn:] += yv
    cache: dict[bytes, object] = {}

    def system(state_col: np.ndarray):
        key = state_col.tobytes()
        if key not in cache:
            if sparse:
                cache[key] = _BandedSolver(circ.matrix(state_col), perm)
            else:
                cache[key] = _dense_system(circ, state_col, src, obs)
        return cache[key]

    state = np.zeros((J, E), dtype=np.int8)
    g = np.repeat(circ.g_all(state[:, 0])[:, None], E, axis=1)
    y3 = np.zeros((nc, E))
    y4 = np.zeros((nc, E))
    if history is not None:
        y3, y4 = (np.array(np.broadcast_to(x, (nc, E))) for x in history[2:4])
    if startup:
        noise = None  # JoSIM's noise functions are 0 before t = 0
        check_from = np.inf  # and its step rule starts after 1 % of the run proper
    V1 = np.zeros((J, E))
    V2 = np.zeros((J, E))
    V3 = np.zeros((J, E))
    it = np.zeros((J, E))
    has_rt1 = bool(circ.rtype1.any())
    lower_min = float(circ.lower[circ.rtype1].min()) if has_rt1 else np.inf
    if startup:
        # only the last NODE_HISTORY output points before t = 0 are kept (zero where the start-up
        # has no step: the state before it is zero), the other steps write to the spare row
        T_out = NODE_HISTORY
        phase = np.zeros((T_out + 1, J, E))
        volt = np.zeros((T_out + 1, J, E))
        nph = np.zeros((T_out + 1, len(obs), E))
    else:
        phase = empty_pages((T_out + (se > 1), J, E))
        volt = empty_pages((T_out + (se > 1), J, E))
        nph = empty_pages((T_out + (se > 1), len(obs), E))
    P = empty((nb, E))
    c = empty((nb, E))
    if nt:
        t_delay, t_other = circ.t_delay, circ.t_other
        t_len = int(t_delay.max()) + 1
        wbuf = np.zeros((t_len, nt, E))  # history of the port waves, ring buffer over steps
    in_gap = False
    uniform = True
    poff = bool(np.any(circ.phi_off != 0))
    offs = circ.phi_off[:, None]
    block = 256
    bad_members = np.zeros(E, dtype=bool)
    first_bad = None
    cols = np.arange(E)  # members still simulated (flagged ones are dropped, see below)
    compacted = False
    groups = None
    sys0 = system(state[:, 0])
    sys_sub = sys0
    g_sub = circ.g_jj(state[:, 0])[:, None]
    eyeJ = None if sparse else np.eye(J)
    # preallocated rotating buffers: no temporaries in the step loop (large ensembles are
    # memory-bound; fresh 100-200 kB arrays per operation would dominate)
    ybuf = [np.zeros((nb, E)) for _ in range(3)]
    vbuf = [np.zeros((J, E)) for _ in range(4)]
    y, y1, y2 = ybuf
    if history is not None:
        y1[...] = history[0]
        y2[...] = history[1]
    V, V1, V2, V3 = vbuf
    v0 = empty((J, E))
    phi0 = empty((J, E))
    tmpJ = empty((J, E))
    sn = empty((J, E))
    tmpb = empty((nb, E))
    kp_ = kp
    c1b = np.broadcast_to(c1, (J, E)).copy()
    c2b = np.broadcast_to(c2, (J, E)).copy()
    n = 0
    while n < T:
        r = n if se == 1 else (n // se if n % se == 0 else T_out)  # output row (T_out: spare)
        if startup:  # step n is t = -k h; row NODE_HISTORY - k/se holds t = -(k/se) (se h)
            k = T - n
            r = T_out - k // se if k % se == 0 and k // se <= T_out else T_out
        if noise is not None and n % block == 0:
            nz = _draw(generator, (min(block, T - n), J + nr, E))
        # P = 4/3 y1 - 1/3 y2 (BDF2 phase history of every branch)
        np.multiply(y1, 4.0 / 3.0, out=P)
        np.multiply(y2, 1.0 / 3.0, out=tmpb)
        P -= tmpb
        # predicted voltage and phase (JoSIM): v0 = 5/2 V1 - 2 V2 + 1/2 V3, phi0 = P + (2hK/3) v0
        np.multiply(V1, 2.5, out=v0)
        np.multiply(V2, 2.0, out=tmpJ)
        v0 -= tmpJ
        np.multiply(V3, 0.5, out=tmpJ)
        v0 += tmpJ
        np.multiply(v0, kp_, out=phi0)
        phi0 += P[:J]
        if n > check_from and J:
            np.subtract(phi0, y1[:J], out=tmpJ)
            if max(tmpJ.max(), -tmpJ.min()) > PHASE_JUMP_LIMIT:
                dj = np.abs(tmpJ)
                if E == 1:
                    raise _StepTooLarge(int(np.unravel_index(dj.argmax(), dj.shape)[0]), n)
                # ensemble: flag the members, finish the run, rerun only them at h/2
                if first_bad is None:
                    first_bad = (int(np.unravel_index(dj.argmax(), dj.shape)[0]), n)
                hit = dj.max(axis=0) > PHASE_JUMP_LIMIT
                bad_members[cols[hit]] = True
                # flagged members are rerun from t = 0 at h/2: stop computing them here
                if hit.sum() >= max(4, 0.1 * len(cols)) and not hit.all():
                    keep = ~hit
                    cols = cols[keep]
                    compacted = True
                    # (C order: x[:, mask] may come back Fortran-ordered; the compiled loop needs C)
                    y, y1, y2, P, c, tmpb, g = (np.ascontiguousarray(x[:, keep]) for x in (y, y1, y2, P, c, tmpb, g))
                    V, V1, V2, V3, v0, phi0, tmpJ, sn = (
                        np.ascontiguousarray(x[:, keep]) for x in (V, V1, V2, V3, v0, phi0, tmpJ, sn)
                    )
                    ic, c1b, c2b, state, it = (np.ascontiguousarray(x[:, keep]) for x in (ic, c1b, c2b, state, it))
                    if nc:
                        y3, y4 = y3[:, keep], y4[:, keep]
                    if nt:
                        wbuf = np.ascontiguousarray(wbuf[:, :, keep])
                    uniform = bool((state == state[:, :1]).all())
                    groups = None
                    if sparse or uniform:
                        sys0 = system(state[:, 0])
        if has_rt1:
            np.abs(v0, out=tmpJ)
            if in_gap or tmpJ.max() >= lower_min:
                st = _state_of(circ, v0)
                in_gap = bool(st.any())
                if not np.array_equal(st, state):
                    state = st
                    g[:J] = circ.g_jj_batch(st)
                    uniform = bool((st == st[:, :1]).all())
                    groups = None
                    if sparse or uniform:
                        sys0 = system(state[:, 0])
                it = _it_of(circ, st, v0)
        np.multiply(g, P, out=c)
        cJ = c[:J]
        np.multiply(V1, c1b, out=tmpJ)
        cJ += tmpJ
        np.multiply(V2, c2b, out=tmpJ)
        cJ -= tmpJ
        if poff:
            np.subtract(phi0, offs, out=sn)
            np.sin(sn, out=sn)
        else:
            np.sin(phi0, out=sn)
        sn *= ic
        cJ -= sn
        if in_gap:
            cJ -= it
        if nt and not startup:
            # lossless line (JoSIM's delay-line formulation): each port is a Z0 branch whose history
            # is the other port's wave W = V/Z0 + I, k = TD/h steps back (zero before t = 0)
            c[ts_] += wbuf[(n - t_delay) % t_len, t_other]
        if nc:
            c[cs_] = circ.g_c[:, None] * (
                (8.0 / 3.0) * y1[cs_] - (22.0 / 9.0) * y2[cs_] + (8.0 / 9.0) * y3 - (1.0 / 9.0) * y4
            )
        if noise is not None:
            s_j, s_r = noise
            nzn = nz[n % block][:, cols] if compacted else nz[n % block]
            cJ -= s_j[:, None] * nzn[:J]
            if nr:
                c[J : J + nr] -= s_r[:, None] * nzn[J:]
        if sparse:
            rhs = DT @ c
            if w.size:
                rhs += (inj @ w[:, n])[:, None]
            if len(vrows):
                rhs[vrows] += yv[:, n : n + 1]
            if uniform:
                phi = sys0.solve(rhs)
            else:
                if groups is None:
                    pats, inv = np.unique(state, axis=1, return_inverse=True)
                    groups = [(pats[:, k], np.nonzero(inv.ravel() == k)[0]) for k in range(pats.shape[1])]
                phi = empty(rhs.shape, rhs.dtype)
                for pat, gcols in groups:
                    phi[:, gcols] = system(pat).solve(np.ascontiguousarray(rhs[:, gcols]))
            y[...] = D @ phi
            if obs:
                if compacted:
                    nph[r][:, cols] = phi[obs_p]
                else:
                    nph[r] = phi[obs_p]
        else:
            Q, SyT, Ob, SoT = sys0 if uniform else sys_sub
            np.matmul(Q, c, out=y)
            y += SyT[n][:, None]
            if obs:
                if compacted:
                    nph[r][:, cols] = Ob @ c + SoT[n][:, None]
                else:
                    nph[r] = Ob @ c + SoT[n][:, None]
            if not uniform:
                # Members whose junctions left the subgap branch: exact low-rank correction of the
                # shared subgap system. The extra conductance dg of those junctions acts as a
                # current -dg*y_J, so (I + Q0_JJ diag(dg)) y_J = (Q0 c + S)_J, solved per member
                # (batched J x J solves), then the other branches follow.
                dg = g[:J] - g_sub
                act = np.nonzero(dg.any(axis=0))[0]
                if act.size:
                    dga = dg[:, act]
                    Mb = eyeJ[None] + Q[None, :J, :J] * dga.T[:, None, :]
                    yJ = np.linalg.solve(Mb, y[:J, act].T[..., None])[..., 0].T
                    corr = dga * yJ
                    y[:, act] -= Q[:, :J] @ corr
                    if obs:
                        nph[r][:, cols[act]] -= Ob[:, :J] @ corr
        if startup:
            # JoSIM's start-up steps: the junction voltages it keeps as history stay 0 (it reads
            # them back from the solution from step 1 on), and so do the line ports' phases
            V[...] = 0.0
            if nt:
                y[ts_] = 0.0
        else:
            np.subtract(y[:J], P[:J], out=V)
            V *= a
        if compacted:
            phase[r][:, cols] = y[:J]
            volt[r][:, cols] = V
        else:
            phase[r] = y[:J]
            volt[r] = V
        if nt and not startup:
            # W_n = V_n/Z0 + I_n = g (y_n - P_n) + (g y_n - c_n)
            gt = g[ts_]
            wbuf[n % t_len] = gt * (2.0 * y[ts_] - P[ts_]) - c[ts_]
        if nc:
            y4 = y3
            y3 = y2[cs_].copy()
        y, y1, y2 = y2, y, y1
        V, V1, V2, V3 = V3, V, V1, V2
        n += 1
    if startup:
        return y1.copy(), y2.copy(), np.array(y3), np.array(y4), nph[:T_out].copy()
    if first_bad is not None:
        if bad_members.all():
            raise _StepTooLarge(*first_bad)
        raise _StepTooLarge(*first_bad, members=bad_members, partial=(phase[:T_out], volt[:T_out], nph[:T_out]))
    return phase[:T_out], volt[:T_out], nph[:T_out]


def startup_history(
    circ: Circuit, ic: np.ndarray, *, obs: list[int] | tuple = (), store_every: int = 1, sparse: bool | None = None
) -> tuple | None:
    """JoSIM v2.7's start-up steps before t = 0, in the reference step: the history a run starts from.

    Unless ``.tran`` ends with ``DST``, JoSIM (src/Simulation.cpp, ``Simulation::trans_sim``;
    the flag: src/Transient.cpp) first integrates ``N`` steps of the run's own step ``h`` at the
    times ``t = i h, i = -N, ..., -1`` (:func:`~physnn.josephson.circuit.josim_startup_steps`:
    20 at 1 ps, 320 at 0.25 ps, at most 1000) and then starts the run at t = 0 from the state they
    reached, printing nothing of them. They are ordinary steps of the same equations, with:

    - every source evaluated at its (negative) time, not held at its t = 0 value: DC sources at
      their value, PULSE/SIN/EXP at their value before their delay, PWL (and PWS, CUS) at 0 (JoSIM
      returns 0 before a PWL's first point), noise 0; voltage sources keep their BDF2 phase
      recursion across t = 0;
    - the junction voltages of the predictor and of the capacitor history held at 0 (JoSIM reads
      them back from the solution only from step 1 on), so a junction's capacitance acts as a
      damping conductance ``3C/2h`` and the circuit relaxes towards its static state (a pi
      junction's phase towards pi, a DC-biased junction towards ``asin(Ib/Ic)``);
    - the transmission-line ports' history held at 0 and no wave sent down a line (JoSIM reads
      line histories from the stored results of t >= 0);
    - no thermal noise, no step-size rule.

    Resistor and capacitor phase histories and the voltage-source recursion carry over into the
    run; step 0 then uses junction voltage history 0 as a run without start-up does. After a step
    halving JoSIM reruns the whole simulation, start-up included, at h/2 (``N`` recomputed).

    Returns ``(y_{-1}, y_{-2}, y_{-3}, y_{-4}, node_phases)``: branch phases (nb, E) and
    capacitor phases (nc, E) for :func:`reference_loop` and the back ends, and the phases of the
    observed unknowns ``obs`` at the output times ``t = -k * store_every * h``,
    ``k = NODE_HISTORY, ..., 1`` (:data:`NODE_HISTORY`, n_obs, E), from which the printed BDF2
    voltages at t = 0 and t = h take their history (:attr:`TransientResult.node_phase_history`);
    or None when the circuit has no start-up steps that change anything
    (:attr:`~physnn.josephson.Circuit.startup_steps` is 0). ``sparse``: the factorisation of
    :func:`reference_loop` (None: sparse above 400 unknowns).
    """
    N = circ.startup_steps
    if not N:
        return None
    ic = np.asarray(ic, dtype=float)
    if ic.ndim == 1:
        ic = ic[:, None]
    t = np.arange(-N, 0) * circ.h
    with blas_threads(1):
        return reference_loop(
            circ,
            t,
            np.ascontiguousarray(ic),
            list(obs),
            None,
            circ.n > 400 if sparse is None else sparse,
            max(1, int(store_every)),
            startup=True,
        )


# --------------------------------------------------------------------------------------------
# fused single-run loop
# --------------------------------------------------------------------------------------------
def _fused_matrices(circ: Circuit, state: np.ndarray, ic: np.ndarray, src: np.ndarray, obs: list[int]):
    """Fold history, solve and voltage update into ``z' = F z + H u + G_n`` (G returned as (T, dz)).

    State ``z = [y1 (nb), y2 (nb), y3 (nc), y4 (nc), V1 (J), V2 (J), V3 (J)]``, junction drive
    ``u = -Ic sin(phi0) - I_t`` (J). Returns (F, H, G (dz, T), Rp (3J, dz), Oz, Ou, Os).
    """
    h = circ.h
    K = K_JOSEPHSON
    a = 3.0 / (2.0 * h * K)
    kp = 2.0 * h * K / 3.0
    J, nb, nr, nc = circ.n_jj, circ.nb, circ.n_r, circ.n_c
    Ainv = _dense_inv(circ, state)
    Dd = circ.D.toarray()
    Q = Dd @ Ainv @ Dd.T
    SyT = src.T @ (Dd @ Ainv).T  # (T, nb)
    o_y1, o_y2 = 0, nb
    o_y3, o_y4 = 2 * nb, 2 * nb + nc
    o_v1 = 2 * nb + 2 * nc
    o_v2, o_v3 = o_v1 + J, o_v1 + 2 * J
    dz = o_v1 + 3 * J
    g = circ.g_all(state)
    cap = circ.cap
    # c = Cz z + Pj u
    Cz = np.zeros((nb, dz))
    ar = np.arange(nb)
    w1 = np.where(ar < J + nr, (4.0 / 3.0) * g, (8.0 / 3.0) * g)
    w2 = np.where(ar < J + nr, -(1.0 / 3.0) * g, -(22.0 / 9.0) * g)
    Cz[ar, o_y1 + ar] = w1
    Cz[ar, o_y2 + ar] = w2
    if nc:
        ci = np.arange(nc)
        Cz[J + nr + ci, o_y3 + ci] = (8.0 / 9.0) * g[J + nr :]
        Cz[J + nr + ci, o_y4 + ci] = -(1.0 / 9.0) * g[J + nr :]
    jj = np.arange(J)
    Cz[jj, o_v1 + jj] = 2.0 * cap / h
    Cz[jj, o_v2 + jj] = -cap / (2.0 * h)
    Pj = np.zeros((nb, J))
    Pj[jj, jj] = 1.0
    # y = Q c + Sy
    Yz = Q @ Cz
    Yu = Q @ Pj
    # V = a (y_J - 4/3 y1_J + 1/3 y2_J)
    Vz = a * Yz[:J].copy()
    Vz[jj, o_y1 + jj] -= a * 4.0 / 3.0
    Vz[jj, o_y2 + jj] += a / 3.0
    Vu = a * Yu[:J]
    F = np.zeros((dz, dz))
    H = np.zeros((dz, J))
    F[o_y1 : o_y1 + nb] = Yz
    H[o_y1 : o_y1 + nb] = Yu
    F[o_y2 + ar, o_y1 + ar] = 1.0
    if nc:
        ci = np.arange(nc)
        F[o_y3 + ci, o_y2 + J + nr + ci] = 1.0
        F[o_y4 + ci, o_y3 + ci] = 1.0
    F[o_v1 : o_v1 + J] = Vz
    H[o_v1 : o_v1 + J] = Vu
    F[o_v2 + jj, o_v1 + jj] = 1.0
    F[o_v3 + jj, o_v2 + jj] = 1.0
    G = np.zeros((src.shape[1], dz))  # transposed: one contiguous row per step
    G[:, o_y1 : o_y1 + nb] = SyT
    G[:, o_v1 : o_v1 + J] = a * SyT[:, :J]
    # predictor rows: phi0, phi0 - y1, v0
    Rp = np.zeros((3 * J, dz))
    for blk, base in ((0, True), (1, False)):
        rows = blk * J + jj
        Rp[rows, o_y1 + jj] = 4.0 / 3.0 if base else 1.0 / 3.0
        Rp[rows, o_y2 + jj] = -1.0 / 3.0
        Rp[rows, o_v1 + jj] = 2.5 * kp
        Rp[rows, o_v2 + jj] = -2.0 * kp
        Rp[rows, o_v3 + jj] = 0.5 * kp
    Rp[2 * J + jj, o_v1 + jj] = 2.5
    Rp[2 * J + jj, o_v2 + jj] = -2.0
    Rp[2 * J + jj, o_v3 + jj] = 0.5
    if obs:
        Ob = Ainv[obs] @ Dd.T
        Oz, Ou, Os = Ob @ Cz, Ob @ Pj, Ainv[obs] @ src
    else:
        Oz = Ou = Os = None
    return F, H, G, Rp, Oz, Ou, Os


def _run_fused(circ: Circuit, T: int, ic: np.ndarray, src: np.ndarray, obs: list[int], compiled: bool):
    """Single run of a small circuit. Fast loop of 5 numpy calls per step while every junction is
    subgap; a general per-step loop takes over from the first step where a junction's predicted
    voltage reaches the gap region (rtype=1 state change). The 0.2*2pi phase-jump test does not
    change the trajectory, so it is evaluated on the stored states after the loop."""
    J = circ.n_jj
    cache: dict[bytes, tuple] = {}
    keys: list[bytes] = []

    def mats(st):
        key = st.tobytes()
        if key not in cache:
            F, H, G, Rp, Oz, Ou, Os = _fused_matrices(circ, st, ic, src, obs)
            dz = F.shape[0]
            FH = np.concatenate([F, H * (-ic)[None, :]], axis=1)
            Rfull = np.zeros((3 * J, dz + J))
            Rfull[:, :dz] = Rp
            # rows: phi0, v0/lower, -v0/lower (state test is one max() against 1)
            Rst = Rfull.copy()
            Rst[J : 2 * J] = Rfull[2 * J : 3 * J] / circ.lower[:, None]
            Rst[2 * J : 3 * J] = -Rst[J : 2 * J]
            cache[key] = (FH, G, Rst, H, Oz, Ou, Os, Rfull[J : 2 * J], len(keys))
            keys.append(key)
        return cache[key]

    state = np.zeros(J, dtype=np.int8)
    FH, Gt, Rst, H, Oz, Ou, Os, Rd, k0 = mats(state)
    dz = FH.shape[0]
    o_v1 = dz - 3 * J
    W = np.zeros((T + 1, dz + J))
    U = empty((T, J))
    slog = np.zeros(T, dtype=np.int64)
    has_rt1 = bool(circ.rtype1.any())
    poff = bool(np.any(circ.phi_off != 0))
    dot, sin = np.dot, np.sin
    n = 0
    if compiled:
        # the general loop below, compiled: one call per stretch of constant junction states
        c_ = np.ascontiguousarray
        itc = c_(circ.lower * (1.0 / circ.r0 - circ.glarge))
        rt1 = c_(circ.rtype1.astype(np.bool_))
        offs = c_(circ.phi_off, dtype=float)
        icc = c_(ic, dtype=float)
        new_state = np.zeros(J, dtype=np.int8)
        split: dict[int, tuple] = {}

        def split_rows(k0_, FH_, Gt_, H_, Rst_):
            # rows of z' that only copy one entry of z (history shifts) are done as copies
            if k0_ not in split:
                nz = FH_ != 0.0
                shift = (nz.sum(axis=1) == 1) & (FH_.max(axis=1) == 1.0) & ~Gt_.any(axis=0) & ~H_.any(axis=1)
                d = np.nonzero(~shift)[0]
                sr = np.nonzero(shift)[0]
                split[k0_] = (
                    c_(FH_[d]),
                    c_(Gt_[:, d]),
                    d.astype(np.int64),
                    sr.astype(np.int64),
                    FH_[sr].argmax(axis=1).astype(np.int64),
                    c_(Rst_[: 2 * J, :dz]),
                    c_(H_[d]),
                )
            return split[k0_]

        while n < T:
            FHd, Gd, drows, srows, ssrc, Rp2, Hd = split_rows(k0, FH, Gt, H, Rst)
            n = _kern.fused_segment(
                W,
                U,
                slog,
                FHd,
                Gd,
                drows,
                srows,
                ssrc,
                Rp2,
                Hd,
                circ.lower,
                circ.upper,
                rt1,
                itc,
                offs,
                icc,
                state,
                k0,
                n,
                T,
                dz,
                new_state,
            )
            if n < T:
                state = new_state.copy()
                FH, Gt, Rst, H, Oz, Ou, Os, Rd, k0 = mats(state)
    elif not poff:
        # Fast path (hand-written loop: the recurrence is sequential). Row n of W holds the state
        # z_n and sin(phi0_n); one product with M = [FH; Rph FH] gives z_{n+1} and the next
        # predicted phase, so a step is 3 numpy calls. The quasiparticle-state test is done on the
        # stored states afterwards: the trajectory is exact up to the first step whose predicted
        # voltage reaches the gap region, and the general loop continues from there.
        Rph = Rst[:J]
        M = np.concatenate([FH, Rph[:, :dz] @ FH], axis=0)
        GG = np.concatenate([Gt, Gt @ Rph[:, :dz].T], axis=1)
        sin_, dot_ = np.sin, np.dot
        for n in range(T):
            nxt = W[n + 1]
            dot_(M, W[n], out=nxt)
            nxt += GG[n]
            s_ = nxt[dz:]
            sin_(s_, out=s_)
        n = T
        if has_rt1:
            v0 = W[:T, :dz] @ Rst[J : 2 * J, :dz].T  # (T, J): v0 / lower
            hit = np.nonzero((np.abs(v0) >= 1.0).any(axis=1))[0]
            if hit.size:
                n = int(hit[0])
        U[:n] = W[:n, dz:] * (-ic)[None, :]
        W[n + 1 :] = 0.0
    # general loop (junction quasiparticle state changes, phase offsets)
    lower, upper = circ.lower, circ.upper
    for n in range(n, T):
        w = W[n]
        p = dot(Rst, w)
        phi0 = p[:J]
        v0 = p[J : 2 * J] * lower
        st = state
        if has_rt1:
            av = np.abs(v0)
            st = np.where(av < lower, 0, np.where(av < upper, 1, 2)).astype(np.int8)
            st[~circ.rtype1] = 0
        if not np.array_equal(st, state):
            state = st
            FH, Gt, Rst, H, Oz, Ou, Os, Rd, k0 = mats(state)
            p = dot(Rst, w)
            phi0 = p[:J]
        it = np.where(state == 1, lower * (1.0 / circ.r0 - circ.glarge) * np.sign(v0), 0.0)
        s = sin(phi0 - circ.phi_off)
        w[dz:] = s
        U[n] = -ic * s - it
        nxt = dot(FH, w) + Gt[n]
        if state.any():
            nxt -= dot(H, it)
        W[n + 1, :dz] = nxt
        slog[n] = k0
    # JoSIM's step test on the stored run: |phi0 - phi_{n-1}| > 0.2*2pi after 1 % of the run
    check_from = int(math.floor(0.01 * (T - 1))) + 1
    for key, entry in cache.items():
        Rd_k, idx = entry[7], entry[8]
        if len(cache) == 1:  # one state all along: a slice, not a gathered copy
            steps = np.arange(check_from, T)
            dj = np.abs(W[check_from:T] @ Rd_k.T)
        else:
            steps = np.nonzero(slog[check_from:] == idx)[0] + check_from
            dj = np.abs(W[steps] @ Rd_k.T) if steps.size else None
        if steps.size:
            if dj.max() > PHASE_JUMP_LIMIT:
                r, j = np.unravel_index(dj.argmax(), dj.shape)
                raise _StepTooLarge(int(j), int(steps[r]))
    phase = W[1:, :J][:, :, None].copy()
    volt = W[1:, o_v1 : o_v1 + J][:, :, None].copy()
    if obs:
        Z = W[:-1, :dz]
        nph = empty((T, len(obs)))
        for key, entry in cache.items():
            Oz_k, Ou_k, Os_k, idx = entry[4], entry[5], entry[6], entry[8]
            if len(cache) == 1:
                np.matmul(Z, Oz_k.T, out=nph)
                nph += U @ Ou_k.T
                nph += Os_k.T
                continue
            steps = np.nonzero(slog == idx)[0]
            nph[steps] = Z[steps] @ Oz_k.T + U[steps] @ Ou_k.T + Os_k.T[steps]
        nph = nph[:, :, None]
    else:
        nph = empty((T, 0, 1))
    return phase, volt, nph


# --------------------------------------------------------------------------------------------
# back ends (see physnn.josephson.backends), registered in the order "auto" tries them last to first
# --------------------------------------------------------------------------------------------
def _no_numba() -> str | None:
    return None if _kern.available() else "numba is not installed"


#: why the fused and tiled loops decline a run with start-up steps (their state is built from zero)
_NO_STARTUP = (
    "JoSIM's start-up steps before t = 0 (a source non-zero before t = 0 or a junction phase "
    "offset; add DST to .tran to run without them): this loop starts from the zero state"
)


class ReferenceSparse(AbstractTransientBackend):
    """``sparse-numpy``: :func:`reference_loop` with a sparse factorisation (every problem)."""

    name, family = "sparse-numpy", "sparse"

    def unsupported(self, problem: TransientProblem) -> str | None:
        return None

    def integrate(self, circ, t, ic, obs, generator, se, history=None):
        with blas_threads(1):
            return reference_loop(circ, t, ic, obs, generator, True, se, history=history)


class ReferenceDense(AbstractTransientBackend):
    """``dense-numpy``: :func:`reference_loop` on the dense branch-space system (every problem).

    Parameters
    ----------
    blas_threads : int, optional
        BLAS threads for the per-step products of ensembles of 64 members or more (None: the
        library's default); smaller ones use one thread.
    """

    name, family = "dense-numpy", "dense"

    def __init__(self, *, blas_threads: int | None = None) -> None:
        self.blas_threads = blas_threads

    def unsupported(self, problem: TransientProblem) -> str | None:
        return None

    def auto_declines(self, problem: TransientProblem) -> str | None:
        if problem.n > 400:
            return f"{problem.n} unknowns: the sparse factorisation is faster above 400"
        return None

    def integrate(self, circ, t, ic, obs, generator, se, history=None):
        with blas_threads(1 if ic.shape[1] < 64 else self.blas_threads):
            return reference_loop(circ, t, ic, obs, generator, False, se, history=history)


class FusedNumpy(AbstractTransientBackend):
    """``fused-numpy``: single noise-free run of a small circuit; history, solve and voltage
    update folded into one dense matrix acting on the stacked state (~10 numpy calls a step)."""

    name, family = "fused-numpy", "fused"
    compiled = False

    def unsupported(self, problem: TransientProblem) -> str | None:
        if problem.members != 1:
            return f"{problem.members} ensemble members: single runs only"
        if problem.noise:
            return "thermal noise (.temp)"
        if problem.n_t:
            return "transmission lines"
        if not problem.n_jj:
            return "no junctions"
        if problem.startup:
            return _NO_STARTUP
        return None

    def auto_declines(self, problem: TransientProblem) -> str | None:
        if problem.n > 400:
            return f"{problem.n} unknowns: the folded dense matrices grow as n^2"
        return None

    def integrate(self, circ, t, ic, obs, generator, se):
        with blas_threads(1):
            out = _run_fused(circ, len(t), ic[:, 0], circ.source_values(t), obs, self.compiled)
        if se > 1:
            out = tuple(np.ascontiguousarray(x[::se]) for x in out)
        return out


class FusedCompiled(FusedNumpy):
    """``fused-compiled``: :class:`FusedNumpy` with its loop compiled (numba,
    :func:`._ensemble_kernel.fused_segment`)."""

    name = "fused-compiled"
    compiled = True

    def unsupported(self, problem: TransientProblem) -> str | None:
        return _no_numba() or super().unsupported(problem)


class SparseCompiled(AbstractTransientBackend):
    """``sparse-compiled``: single noise-free run of any circuit, the sparse reference loop
    compiled (numba, :func:`._sparse_kernel.sparse_segment`): one SuperLU factorisation per
    junction state pattern, a few hundred compiled operations a step."""

    name, family = "sparse-compiled", "sparse"

    def unsupported(self, problem: TransientProblem) -> str | None:
        if problem.members != 1:
            return f"{problem.members} ensemble members: single runs only"
        if problem.noise:
            return "thermal noise (.temp)"
        return _no_numba()

    def integrate(self, circ, t, ic, obs, generator, se, history=None):
        return _run_sparse_compiled(circ, t, ic[:, 0], obs, se, history)


class TiledCompiled(AbstractTransientBackend):
    """``tiled-compiled``: noise-free ensembles of circuits without capacitor branches or
    transmission lines, the whole run compiled (numba, :mod:`._ensemble_kernel`): tiles of
    members x chunks of steps, per-member gap-region states and step-rule flags, members split
    over threads (:func:`_run_tiled`).

    Parameters
    ----------
    threads : int, optional
        Threads (contiguous member groups, one per iteration of numba's ``prange``; the groups
        share no written memory). None: torch's thread count, at most 2.
    min_members_per_thread : int
        Smallest group of members per thread.
    tile : int, optional
        Largest number of members per tile (None: :data:`._ensemble_kernel.TILE`).
    """

    name, family = "tiled-compiled", "dense"

    def __init__(
        self, *, threads: int | None = None, min_members_per_thread: int = 64, tile: int | None = None
    ) -> None:
        for key, v in (("threads", threads), ("tile", tile)):
            if v is not None and int(v) < 1:
                raise ValueError(f"{key}={v!r}: must be >= 1")
        if int(min_members_per_thread) < 1:
            raise ValueError(f"min_members_per_thread={min_members_per_thread!r}: must be >= 1")
        self.threads = threads
        self.min_members_per_thread = int(min_members_per_thread)
        self.tile = tile

    def unsupported(self, problem: TransientProblem) -> str | None:
        if problem.members < 2:
            return "a single run (ensembles of 2 members or more)"
        if problem.noise:
            return "thermal noise (.temp)"
        if problem.n_c:
            return "capacitor branches"
        if problem.n_t:
            return "transmission lines"
        if problem.startup:
            return _NO_STARTUP
        return _no_numba()

    def auto_declines(self, problem: TransientProblem) -> str | None:
        if problem.n > 400:
            return f"{problem.n} unknowns: the sparse factorisation is faster above 400"
        return None

    def threads_for(self, members: int) -> int:
        """Member groups (threads) for ``members`` members."""
        threads = self.threads
        if threads is None:
            import torch

            threads = min(2, torch.get_num_threads())
        return max(1, min(int(threads), members // self.min_members_per_thread))


for _backend in (ReferenceSparse(), ReferenceDense(), FusedNumpy(), FusedCompiled(), SparseCompiled(), TiledCompiled()):
    register_backend(_backend)
del _backend
