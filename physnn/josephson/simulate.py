"""Public entry point: :func:`simulate` a JoSIM-style netlist into an :class:`xarray.Dataset`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..buffers import empty
from .._checks import check_int_range, check_positive
from ..random import legacy_generator
from .circuit import K_JOSEPHSON
from .netlist import Netlist, parse_netlist
from .transient import TransientResult, run_transient

__all__ = ["Ensemble", "simulate", "ic_multipliers"]


@dataclass(frozen=True, kw_only=True)
class Ensemble:
    """Monte-Carlo spread of junction critical currents.

    Each member gets independent multipliers ``1 + spread * x`` of every junction's critical
    current, with ``x`` uniform on [-1, 1] (``distribution='uniform'``: a +-spread window) or standard
    normal (``'normal'``: spread = relative sigma). Only Ic varies (a critical-current-density
    spread at fixed junction geometry): capacitance and the external shunts keep their values, so all
    members share one factorised system matrix.
    """

    n: int
    ic_spread: float = 0.05
    distribution: str = "uniform"

    def __post_init__(self):
        check_int_range(self.n, "Ensemble.n", 1)
        check_positive(self.ic_spread, "Ensemble.ic_spread", allow_zero=True)
        if self.distribution not in ("uniform", "normal"):
            raise ValueError(f"Ensemble.distribution={self.distribution!r}: expected 'uniform' or 'normal'")


def ic_multipliers(ensemble, n_jj: int, generator=None) -> np.ndarray | None:
    """(J, E) Ic multipliers from ``ensemble`` (None, int, :class:`Ensemble` or array (E, J)).

    ``generator`` (``torch.Generator``; None: torch's global generator) draws the spreads."""
    import torch

    if ensemble is None:
        return None
    if isinstance(ensemble, bool):
        raise TypeError("ensemble: expected None, int, Ensemble or an (E, J) array")
    if isinstance(ensemble, (int, np.integer)):
        check_int_range(int(ensemble), "ensemble", 1)
        return np.ones((n_jj, int(ensemble)))
    if isinstance(ensemble, Ensemble):
        shape = (ensemble.n, n_jj)
        generator = legacy_generator(generator)
        if ensemble.ic_spread == 0:
            x = np.zeros(shape)
        elif ensemble.distribution == "uniform":
            x = (2 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1).numpy()
        else:
            x = torch.randn(shape, generator=generator, dtype=torch.float64).numpy()
        m = 1.0 + ensemble.ic_spread * x
        if np.any(m <= 0):
            raise ValueError("ensemble: a critical-current multiplier is <= 0; reduce ic_spread")
        return m.T.copy()
    arr = np.asarray(ensemble, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != n_jj:
        raise ValueError(f"ensemble: array must have shape (E, {n_jj}) (Ic multipliers), got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError("ensemble: Ic multipliers must be finite and > 0")
    return arr.T.copy()


def _bdf2_voltage(phi: np.ndarray, h: float, out: np.ndarray | None = None) -> np.ndarray:
    """JoSIM's BDF2 voltage from a phase series along axis 0 (zero history before t=0).

    ``out`` may be ``phi`` itself (the trace is turned into its voltage in place)."""
    # ((3 phi - 4 phi[n-1]) + phi[n-2]) / (2 h K), the same operations in the same order for every
    # element. Compiled when numba is installed: one pass (backwards in time, so that out may be
    # phi) that reads the often strided phase trace once and writes the result once; the numpy
    # version makes three passes.
    from . import _ensemble_kernel as _kern

    phi = np.asarray(phi, dtype=float)
    c = 2.0 * h * K_JOSEPHSON
    if out is None:
        out = empty(phi.shape)
    if _kern.available() and phi.ndim in (1, 2) and phi.shape[0]:
        _kern.bdf2_voltage(phi if phi.ndim == 2 else phi[:, None], c, out if phi.ndim == 2 else out[:, None])
        return out
    if out is phi or np.shares_memory(out, phi):
        out[...] = _bdf2_voltage_numpy(phi, c, empty(phi.shape))
        return out
    return _bdf2_voltage_numpy(phi, c, out)


def _bdf2_voltage_numpy(phi: np.ndarray, c: float, out: np.ndarray) -> np.ndarray:
    # the same, in blocks of rows: large ensembles' traces are ~30 MB each, and whole-array
    # temporaries cost fresh pages (page faults) and memory bandwidth; block temporaries stay in
    # the cache and only the result is a new array
    T = phi.shape[0]
    width = int(np.prod(phi.shape[1:], dtype=np.int64)) or 1
    blk = max(8, 65536 // width)
    tmp = empty((blk,) + phi.shape[1:])
    for s in range(0, T, blk):
        e = min(T, s + blk)
        o = out[s:e]
        np.multiply(phi[s:e], 3.0, out=o)
        a = max(s, 1)
        t4 = tmp[: e - a]
        np.multiply(phi[a - 1 : e - 1], 4.0, out=t4)
        o[a - s :] -= t4
        b = max(s, 2)
        o[b - s :] += phi[b - 2 : e - 2]
        o /= c
    return out


#: time step and stop time used when neither the call nor the netlist's ``.tran`` gives them, s
DEFAULT_TSTEP = 0.25e-12
DEFAULT_TSTOP = 1e-9


def simulate(
    netlist,
    *,
    tstep: float | None = None,
    tstop: float | None = None,
    ensemble=None,
    generator=None,
    params: dict | None = None,
    backend=None,
    strict: bool = False,
    junction_voltage: bool = True,
    phase_dtype=np.float64,
) -> xr.Dataset:
    """Simulate a JoSIM-style netlist (path, text or parsed :class:`Netlist`).

    Parameters
    ----------
    netlist : str, Path or Netlist
    tstep, tstop : float, optional
        Time step and stop time, s (default: the ``.tran`` line; without one, 0.25 ps and 1 ns,
        with a :class:`~physnn.josephson.NetlistWarning` saying so).
    ensemble : None, int, Ensemble or array (E, J)
        Ensemble members: an int gives identical copies (useful with ``.temp`` noise), an
        :class:`Ensemble` draws Ic spreads with ``generator``, an array gives Ic multipliers.
    generator : torch.Generator, optional
        Randomness, consumed in this order: ``.spread`` process variation, ``noise()`` sources,
        Ensemble Ic spreads, Johnson noise (``.temp``). None: ``.option seed=N`` if the netlist
        has it, else torch's global generator. A ``numpy.random.Generator`` is still accepted
        for this release, with a ``DeprecationWarning`` (:func:`physnn.random.legacy_generator`).
    params : dict, optional
        ``.param`` overrides (name -> SI value).
    backend : str or AbstractTransientBackend, optional
        A back end of :mod:`physnn.josephson.backends` (``'sparse-compiled'``, ``'dense-numpy'``,
        ...), a family (``'fused'``, ``'dense'``, ``'sparse'``) or ``'auto'``; None (default): the
        :func:`~physnn.josephson.use_backend` choice, ``'auto'`` outside one. ``'auto'``: a single
        noise-free run takes the compiled sparse loop (numba installed), noise-free ensembles the
        compiled tiled loop, the rest the numpy reference loop; every back end solves the same
        equations (results agree to round-off). The one that ran is ``attrs["loop"]``.
    strict : bool
        Turn every :class:`~physnn.josephson.NetlistWarning` into a NetlistError.
    junction_voltage : bool
        Keep every junction's voltage trace (the ``voltage`` variable; default). False: the
        Dataset has no ``voltage`` (as JoSIM writes only what ``.print`` asks for): a large
        ensemble then needs half the memory, and the compiled ensemble loop skips writing them.
        ``.print`` lines still get the voltages and currents they name.
    phase_dtype : numpy dtype
        Storage type of ``phase``: float64 (default) or float32. The simulation itself always runs
        in float64; float32 stores each junction phase rounded to nearest (7.2 significant
        digits, finer than JoSIM's 7-digit CSV output) and halves the largest output of a large
        ensemble. ``.print`` traces of nodes and elements stay float64 (voltages are derivatives
        of phases and need the full precision); a ``.print phase`` of a junction is its ``phase``. Switching times from float32 phases differ by < 1e-6 ps.

    Returns
    -------
    xarray.Dataset
        ``phase`` and ``voltage`` (junction x time, plus ensemble; ``voltage`` only with
        ``junction_voltage=True``), ``ic``, one variable per
        ``.print`` (JoSIM column names such as ``V(1)``, ``P(B01|X1)``, ``I(ROUT)``), coordinates
        ``time`` (s), ``junction`` (JoSIM labels), ``ensemble``.
    """
    from .netlist.errors import warn as warn_netlist

    generator = legacy_generator(generator)
    net = netlist if isinstance(netlist, Netlist) else parse_netlist(netlist, params=params, strict=strict)
    if isinstance(netlist, Netlist) and params:
        raise ValueError("params: only supported when netlist is a path or text")
    if (tstep is None and net.tstep is None) or (tstop is None and net.tstop is None):
        warn_netlist(
            f"no .tran line: using the default tstep={DEFAULT_TSTEP:g} s, tstop={DEFAULT_TSTOP:g} s "
            "(give .tran or simulate(tstep=, tstop=))",
            strict=strict,
            src=net.source_name,
        )
    h = tstep if tstep is not None else (net.tstep or DEFAULT_TSTEP)
    stop = tstop if tstop is not None else (net.tstop or DEFAULT_TSTOP)
    check_positive(h, "tstep")
    check_positive(stop, "tstop")
    if stop < 2 * h:
        raise ValueError(f"tstop={stop!r}: must cover at least two steps of {h!r} s")
    if generator is None and "seed" in net.options:
        from ..random import generator_from_seed

        generator = generator_from_seed(int(net.options["seed"]))
    net = _prepare(net, h, stop, generator)
    J = len(net.junctions)
    ic_scale = ic_multipliers(ensemble, J, generator)
    obs_nodes, obs_src = _observed(net)
    # a .print of a junction's voltage or current reads the stored junction voltages
    jj = {e.name for e in net.junctions}
    needs_v = any(p.kind in ("devv", "devi") and p.target[0] in jj for p in net.prints)
    res = run_transient(
        net,
        tstep=h,
        tstop=stop,
        ic_scale=ic_scale,
        generator=generator,
        obs_nodes=obs_nodes + obs_src,
        backend=backend,
        store_voltage=bool(junction_voltage) or needs_v,
        phase_dtype=phase_dtype,
    )
    ds = _to_dataset(net, res, ensemble is not None, obs_nodes + obs_src, junction_voltage=bool(junction_voltage))
    # JoSIM's print grid (.tran TSTEP TSTOP PRSTART PRSTEP): from PRSTART, the first sample at or
    # after each multiple of PRSTEP -- also after a step halving (the run at h/2 prints on the grid)
    pr = net.prstep if (tstep is None and net.prstep) else h
    start = net.tstart if tstop is None else 0.0
    if pr > res.h * (1 + 1e-9) or start > 0:
        ds = ds.isel(time=print_indices(ds["time"].values, start, pr))
    return ds


def print_indices(time: np.ndarray, start: float, prstep: float) -> np.ndarray:
    """Indices of the samples JoSIM v2.7 prints (src/Output.cpp): the first sample at or after
    ``start``, then the first at or after each ``start + k * prstep`` (s; a relative 1e-9 of the
    step absorbs round-off of the time axis)."""
    if time.size == 0:
        return np.zeros(0, dtype=int)
    tol = 1e-9 * prstep
    grid = start + np.arange(int(np.floor((time[-1] - start) / prstep + 1e-9)) + 1) * prstep
    idx = np.searchsorted(time, grid - tol, side="left")
    return np.unique(idx[idx < time.size])


def _prepare(net: Netlist, h: float, stop: float, generator) -> Netlist:
    """Resolve the netlist's random and per-element settings into a plain netlist: ``.spread``
    values drawn, ``noise()`` sources sampled on the step grid (one waveform shared by every
    ensemble member), per-element ``TEMP=`` turned into the noise temperature."""
    import dataclasses

    from .netlist import Source
    from .spread import apply_spread, has_spread

    if has_spread(net):
        net = apply_spread(net, generator)
    if any(e.source is not None and e.source.stochastic for e in net.elements):
        T = int(np.floor(stop / h + 1e-9)) + 1
        t = np.arange(T) * h
        els = []
        for e in net.elements:
            if e.source is not None and e.source.stochastic:
                v = e.source(t, tstep=h, tstop=stop, generator=generator)
                args = tuple(np.column_stack([t, v]).ravel().tolist())
                e = dataclasses.replace(e, source=Source(kind="pwl", args=args))
            els.append(e)
        net = dataclasses.replace(net, elements=els)
    temps = [dict(e.options)["TEMP"] for e in net.elements if "TEMP" in dict(e.options)]
    if temps and not net.temp:
        # only the elements that name a temperature are noisy
        els = [
            e
            if "TEMP" in dict(e.options) or e.kind not in "RB"
            else dataclasses.replace(e, options=(*e.options, ("TEMP", 0.0)))
            for e in net.elements
        ]
        net = dataclasses.replace(net, elements=els, temp=max(temps) or None)
    return net


def _observed(net: Netlist) -> tuple[list[str], list[str]]:
    jj = {e.name for e in net.junctions}
    nodes: list[str] = []
    srcs: list[str] = []
    for p in net.prints:
        if p.kind in ("nodev", "nodep"):
            nodes += [n for n in p.target if n != "0"]
        else:
            e = net.element(p.target[0])
            if e.name in jj and p.kind != "devi":
                continue
            if e.kind in "VP" and p.kind == "devi":
                srcs.append("__src__" + e.name)
            nodes += [n for n in e.nodes if n != "0"]
    return list(dict.fromkeys(nodes)), list(dict.fromkeys(srcs))


def _to_dataset(
    net: Netlist, res: TransientResult, has_ens: bool, obs_names: list[str], *, junction_voltage: bool = True
) -> xr.Dataset:
    circ = res.circuit
    J = circ.n_jj
    labels = [e.name for e in circ.branches[:J]]
    t = res.time

    # (T, J, E) -> (E, J, T) or (J, T)
    def arr(x):
        x = np.moveaxis(x, 0, -1)  # (J, E, T)
        x = np.moveaxis(x, 1, 0)  # (E, J, T)
        return x if has_ens else x[0]

    jdims = ("ensemble", "junction", "time") if has_ens else ("junction", "time")
    # every variable is collected first and the Dataset built once (one merge/alignment instead
    # of one per variable: ~2 ms each, a large part of a small circuit's run)
    coords = {
        "time": ("time", t, {"units": "s", "long_name": "simulation time"}),
        "junction": (
            "junction",
            np.array(labels, dtype=str),
            {"units": "1", "long_name": "junction label (JoSIM convention B|X inner-to-outer)"},
        ),
    }
    if has_ens:
        coords["ensemble"] = ("ensemble", np.arange(res.ic.shape[1]), {"units": "1", "long_name": "ensemble member"})
    dv: dict = {}
    dv["phase"] = (jdims, arr(res.phase), {"units": "rad", "long_name": "junction phase difference"})
    if junction_voltage:
        dv["voltage"] = (jdims, arr(res.voltage), {"units": "V", "long_name": "junction voltage (BDF2)"})
    icd = ("ensemble", "junction") if has_ens else ("junction",)
    dv["ic"] = (icd, res.ic.T if has_ens else res.ic[:, 0], {"units": "A", "long_name": "junction critical current"})
    if has_ens:
        mh = res.member_halvings if res.member_halvings is not None else np.full(res.ic.shape[1], res.halvings)
        dv["step_halvings"] = (
            "ensemble",
            np.asarray(mh, dtype=int),
            {
                "units": "1",
                "long_name": "time-step halvings applied to the member "
                "(JoSIM 0.2*2pi rule; results decimated to the common grid)",
            },
        )
    dv["phase_offset"] = (
        "junction",
        circ.phi_off.copy(),
        {"units": "rad", "long_name": "junction phase offset (pi junctions)"},
    )

    # .print traces
    col = {name: i for i, name in enumerate(obs_names)}

    def node_phase(nd: str) -> np.ndarray:  # (T, E)
        if nd == "0":
            return np.zeros((len(t), res.node_phase.shape[2]))
        return res.node_phase[:, col[nd], :]

    # A run that starts from JoSIM's start-up steps has a non-zero phase history before t = 0:
    # the printed BDF2 voltages (and what is derived from them) read it at t = 0 and t = h, as the
    # step itself does, instead of the zero history of a run from the zero state.
    hist = res.node_phase_history
    H = 0 if hist is None else hist.shape[0]

    def node_hist(nd: str) -> np.ndarray:  # (H, E): the output times -H h, ..., -h
        if nd == "0" or hist is None:
            return np.zeros((H, res.node_phase.shape[2]))
        return hist[:, col[nd], :]

    def voltage(ph, ph_hist, out=None) -> tuple[np.ndarray, np.ndarray | None]:
        """BDF2 voltage of a phase trace and, with a history, the voltage's own history from the
        phases before t = 0 (its first two rows only read zero phases before them; None without)."""
        if not H:
            return _bdf2_voltage(ph, res.h, out=out), None
        ext = _bdf2_voltage(np.concatenate([ph_hist, ph]), res.h)
        return ext[H:], ext[:H]

    jidx = {lab: i for i, lab in enumerate(labels)}
    # A node's phase column that only one `.print nodev N 0` reads becomes that voltage trace in
    # place (the column is not part of the Dataset otherwise): no fresh trace-sized array, whose
    # first touch cost more than the arithmetic (~0.09 s per (4001, 1024) ensemble trace).
    uses: dict[str, int] = {}
    for p in net.prints:
        if p.kind in ("nodev", "nodep"):
            nds = p.target
        elif p.target[0] in jidx:
            nds = ()
        else:
            nds = net.element(p.target[0]).nodes
        for nd in nds:
            uses[nd] = uses.get(nd, 0) + 1
    for p in net.prints:
        if p.kind in ("nodev", "nodep"):
            ph = node_phase(p.target[0])
            if p.target[1] != "0":  # (x - 0 is x: no zero array and subtraction for ground)
                ph = ph - node_phase(p.target[1])
            if p.kind == "nodev":
                own = p.target[1] == "0" and p.target[0] != "0" and uses[p.target[0]] == 1
                val = voltage(ph, node_hist(p.target[0]) - node_hist(p.target[1]), out=ph if own else None)[0]
            else:
                val = ph
            units, ln = ("V", "node voltage") if p.kind == "nodev" else ("rad", "node phase")
        else:
            e = net.element(p.target[0])
            if e.name in jidx:
                j = jidx[e.name]
                ph = res.phase[:, j, :]
                v = res.voltage[:, j, :] if p.kind != "phase" else None
            else:
                ph = node_phase(e.nodes[0]) - node_phase(e.nodes[1])
                v, v_hist = voltage(ph, node_hist(e.nodes[0]) - node_hist(e.nodes[1]))
            if p.kind == "phase":
                val, units, ln = ph, "rad", "device phase"
            elif p.kind == "devv":
                val, units, ln = v, "V", "device voltage"
            else:
                units, ln = "A", "device current"
                if e.kind == "R":
                    val = v / e.value
                elif e.kind == "L":
                    val = ph / (K_JOSEPHSON * e.value)
                elif e.kind == "C":
                    val = e.value * voltage(v * K_JOSEPHSON, None if v_hist is None else v_hist * K_JOSEPHSON)[0]
                elif e.kind == "I":
                    val = np.repeat(e.source(t, tstep=res.h, tstop=t[-1])[:, None], ph.shape[1], axis=1)
                elif e.kind in "VP":
                    val = -res.node_phase[:, col["__src__" + e.name], :]
                else:  # junction: supercurrent + subgap quasiparticle + displacement current
                    j = jidx[e.name]
                    ic = res.ic[j][None, :]
                    val = (
                        ic * np.sin(ph - circ.phi_off[j])
                        + v / circ.r0[j]
                        + circ.cap[j] * _bdf2_voltage(v * K_JOSEPHSON, res.h)
                    )
        attrs = {"units": units, "long_name": f"{ln} {p.label} (.print line {p.line})"}
        dv[p.label] = (("ensemble", "time"), val.T, attrs) if has_ens else (("time",), val[:, 0], attrs)
    ds = xr.Dataset(dv, coords=coords)
    ds.attrs.update(
        source=str(net.source_name),
        tstep_s=float(res.h),
        step_halvings=int(res.halvings),
        simulator="physnn.josephson (phase-mode BDF2, JoSIM v2.7 equations)",
        loop=res.loop,
    )
    if net.temp:
        ds.attrs["temperature_K"] = float(net.temp)
    return ds
