"""Circuit-level characterisation of the SFQ neuromorphic cells with physnn's Josephson simulator.

Every characterisation runs noisy transients (Johnson noise of all resistors at ``temp_K``, the
netlist's ``.temp``) over an ensemble of identical circuits in batched :func:`physnn.josephson.simulate`
calls, counts SFQ pulses per clock slot, and returns an :class:`xarray.Dataset` with units whose
confidence intervals come from the ensemble (Wilson score intervals over all noisy trials).

Protocol (all cells): one SFQ pulse per input line and clock slot at most; slot ``k`` starts at
``t0_s + k * slot_s``; input line ``i`` fires at ``stagger_s * i`` into the slot; the neuron's
clock at ``clock_delay_s``. The same timing is used by the network netlist generator
(:mod:`physnn.sfq.netgen`), so the transfer curves fitted here describe the generated networks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from .._checks import check_int_range, check_positive
from ..random import check_generator, numpy_rng, own_generator
from ..units import label
from physnn.josephson import simulate
from .cells import library_text, merger_tree, pulse_pwl

__all__ = [
    "SlotTiming",
    "TIMING",
    "wilson_interval",
    "slot_counts",
    "synapse_scurve",
    "neuron_response",
    "synapse_context_response",
    "context_code",
    "combine_neuron_responses",
    "neuron_rate_curve",
    "merger_splitter_check",
    "patterns",
]


@dataclass(frozen=True, kw_only=True)
class SlotTiming:
    """Clock-slot timing of rate-coded SFQ circuits (all in seconds)."""

    slot_s: float = 200e-12  #: clock period (5 GHz clock)
    stagger_s: float = 12e-12  #: delay between consecutive input lines of one neuron
    t0_s: float = 40e-12  #: start of the first slot (bias currents ramp up over 10 ps)
    clock_delay_s: float = 120e-12  #: neuron read-out clock, after line 0 of its input
    tstep_s: float = 0.25e-12  #: simulation step (JoSIM's default 0.25 ps)

    @property
    def clock_hz(self) -> float:
        return 1.0 / self.slot_s


TIMING = SlotTiming()


def wilson_interval(k, n, z: float = 1.959964):
    """Wilson score interval (default 95 %) of a binomial proportion ``k / n`` (arrays)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    p = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):  # n = 0: no trials, NaN interval
        den = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / den
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return centre - half, centre + half


def slot_counts(ds: xr.Dataset, junction: str, edges_s) -> np.ndarray:
    """SFQ pulses of ``junction`` between consecutive ``edges_s`` (s): int array (E, len(edges)-1).

    The count is the net phase advance over the window in units of 2 pi (window edges must fall
    between pulses)."""
    ph = ds["phase"].sel(junction=junction).values
    if ph.ndim == 1:
        ph = ph[None]
    t = ds["time"].values
    idx = np.clip(np.searchsorted(t, np.asarray(edges_s, dtype=float)), 0, len(t) - 1)
    p = ph[:, idx]
    return np.rint(np.diff(p, axis=1) / (2 * math.pi)).astype(int)


def patterns(fan_in: int) -> np.ndarray:
    """All 2**fan_in input patterns as a bool array (P, fan_in); row ``m`` has bit i of m on line i."""
    m = np.arange(2**fan_in)
    return ((m[:, None] >> np.arange(fan_in)[None, :]) & 1).astype(bool)


def _temp_lines(temp_K: float, stop_s: float, timing: SlotTiming) -> str:
    out = f".tran {timing.tstep_s!r} {stop_s!r}\n"
    if temp_K:
        out += f".temp {temp_K!r}\n"
    return out


def _bias_src(name: str, node: str, amps: float) -> str:
    return f"{name} 0 {node} pwl(0 0 10p {amps:.8g})"


def synapse_scurve(
    biases_A,
    *,
    ensemble: int = 64,
    pulses: int = 10,
    period_s: float = 50e-12,
    temp_K: float = 4.2,
    generator: torch.Generator | None = None,
) -> xr.Dataset:
    """Pass probability of the stochastic synapse vs gate bias, in ONE batched noisy simulation.

    The netlist holds one independent test circuit per bias point, the synapse in the environment
    it has in a generated network (:mod:`physnn.sfq.netgen`): source -> JTL -> splitter (other
    output: JTL -> load) -> synapse -> JTL -> merger (other input: an idle JTL) -> JTL -> load. The
    S-curve depends on that environment (a merger load shifts I50 by ~3 uA, a splitter drive by
    ~3 uA more). Each circuit gets ``pulses`` input pulses ``period_s`` apart; the ensemble
    dimension repeats it ``ensemble`` times with independent noise. Noisy runs: ``len(biases_A) *
    ensemble``; Bernoulli trials: that times ``pulses``. A pass is a switching of the gate junction.

    Returns
    -------
    xarray.Dataset
        ``pass_prob``, ``ci_low``, ``ci_high`` (95 % Wilson), ``n_trials``, ``n_passed`` over
        coordinate ``bias`` (A); attrs ``temperature_K``, ``noisy_runs``, ``simulate_calls`` (= 1).
    """
    generator = check_generator(generator)
    b = np.asarray(biases_A, dtype=float).ravel()
    if b.size < 1 or not np.all(np.isfinite(b)):
        raise ValueError("biases_A: expected finite bias currents (A)")
    check_int_range(ensemble, "ensemble", 1)
    check_int_range(pulses, "pulses", 1)
    check_positive(period_s, "period_s")
    t0 = 30e-12
    times = [t0 + k * period_s for k in range(pulses)]
    lines = []
    for i, ib in enumerate(b):
        lines += [
            f"II{i} 0 a{i} {pulse_pwl(times)}",
            f"XA{i} JTL a{i} b{i}",
            f"XP{i} SPLIT b{i} p{i} q{i}",
            f"XQ{i} JTL q{i} r{i}",
            f"RQ{i} r{i} 0 2",
            f"XS{i} SFQSYN p{i} c{i} g{i}",
            _bias_src(f"IG{i}", f"g{i}", ib),
            f"XB{i} JTL c{i} d{i}",
            f"RZ{i} y{i} 0 2",
            f"XZ{i} JTL y{i} z{i}",
            f"XM{i} MERGE d{i} z{i} e{i}",
            f"XC{i} JTL e{i} f{i}",
            f"RL{i} f{i} 0 2",
        ]
    stop = t0 + pulses * period_s + 20e-12
    txt = (
        library_text("jtl", "splitter", "synapse", "merger")
        + "\n".join(lines)
        + "\n"
        + _temp_lines(temp_K, stop, TIMING)
    )
    ds = simulate(txt, ensemble=ensemble, generator=_gen(generator))
    edges = [t0 - period_s / 2 + k * period_s for k in range(pulses + 1)]
    n_pass = np.array([slot_counts(ds, f"B2|XS{i}", edges).clip(0, 1).sum() for i in range(b.size)])
    n_in = np.array([slot_counts(ds, f"B2|XA{i}", edges).clip(0, 1).sum() for i in range(b.size)])
    lo, hi = wilson_interval(n_pass, n_in)
    out = xr.Dataset(
        {
            "pass_prob": ("bias", n_pass / n_in),
            "ci_low": ("bias", lo),
            "ci_high": ("bias", hi),
            "n_trials": ("bias", n_in),
            "n_passed": ("bias", n_pass),
        },
        coords={"bias": ("bias", b)},
    )
    label(
        out,
        bias=("A", "synapse gate bias current"),
        pass_prob=("1", "pulse pass probability"),
        ci_low=("1", "95 % Wilson lower bound of pass_prob"),
        ci_high=("1", "95 % Wilson upper bound"),
        n_trials=("1", "input pulses (noisy trials)"),
        n_passed=("1", "pulses passed"),
    )
    out.attrs.update(
        cell="synapse",
        temperature_K=float(temp_K),
        noisy_runs=int(b.size * ensemble),
        ensemble=int(ensemble),
        simulate_calls=1,
        period_s=float(period_s),
    )
    return out


def _gen(generator):
    # the simulator needs an explicit generator when .temp is set; None -> one seeded from torch's global one
    return own_generator(generator)


def _neuron_block(
    tag: str, fan_in: int, line_times: list[list[float]], clock_times, bias_A: float, synapse_bias_A
) -> tuple[list[str], str]:
    """Test circuit of one neuron cell in the environment the generated networks give it
    (:mod:`physnn.sfq.netgen`): per line source -> JTL -> splitter (spare output: JTL -> load) ->
    synapse (gate bias ``synapse_bias_A``, one value or one per line) -> JTL -> merger tree ->
    neuron (+ clock through a JTL) -> JTL -> splitter (the next layer's fan-out: JTL -> load on
    each output). Returns the lines and the label of the counted output junction; the synapse of
    line i is instance ``XS{tag}_{i}`` (its gate junction ``B2|XS{tag}_{i}``)."""
    sb = np.broadcast_to(np.asarray(synapse_bias_A, dtype=float), (fan_in,))
    L = []
    heads = []
    for i in range(fan_in):
        L += [
            f"II{tag}_{i} 0 a{tag}_{i} {pulse_pwl(line_times[i])}" if line_times[i] else f"RZ{tag}_{i} a{tag}_{i} 0 2",
            f"XA{tag}_{i} JTL a{tag}_{i} b{tag}_{i}",
            f"XP{tag}_{i} SPLIT b{tag}_{i} u{tag}_{i} v{tag}_{i}",
            f"XV{tag}_{i} JTL v{tag}_{i} w{tag}_{i}",
            f"RV{tag}_{i} w{tag}_{i} 0 2",
            f"XS{tag}_{i} SFQSYN u{tag}_{i} c{tag}_{i} g{tag}_{i}",
            _bias_src(f"IG{tag}_{i}", f"g{tag}_{i}", float(sb[i])),
            f"XJ{tag}_{i} JTL c{tag}_{i} j{tag}_{i}",
        ]
        heads.append(f"j{tag}_{i}")
    tree, root = merger_tree(heads, f"M{tag}_", "MERGE")
    L += tree
    L += [
        f"IC{tag} 0 k{tag}a {pulse_pwl(clock_times)}",
        f"XK{tag} JTL k{tag}a k{tag}",
        f"XN{tag} SFQNEURON {root} k{tag} o{tag} n{tag}",
        _bias_src(f"IN{tag}", f"n{tag}", bias_A),
        f"XQ{tag} JTL o{tag} q{tag}",
        f"XF{tag} SPLIT q{tag} f{tag} h{tag}",
        f"XO{tag} JTL f{tag} p{tag}",
        f"RL{tag} p{tag} 0 2",
        f"XH{tag} JTL h{tag} r{tag}",
        f"RH{tag} r{tag} 0 2",
    ]
    return L, f"B2|XO{tag}"


_UNIT_CELLS = ("jtl", "splitter", "synapse", "merger", "neuron")


def _check_fan_in(fan_in):
    check_int_range(fan_in, "fan_in", 1)
    if fan_in & (fan_in - 1):
        raise ValueError(f"fan_in={fan_in}: the merger tree needs a power of two (1, 2, 4, 8)")


def neuron_response(
    biases_A,
    *,
    fan_in: int = 2,
    ensemble: int = 32,
    repeats: int = 2,
    synapse_bias_A: float = 200e-6,
    temp_K: float = 4.2,
    copies_per_call: int = 4,
    timing: SlotTiming = TIMING,
    generator: torch.Generator | None = None,
) -> xr.Dataset:
    """Firing probability per clock slot of the neuron (with its merger tree) for every input pattern.

    The neuron cell of fan-in K is K open synapses (gate bias ``synapse_bias_A``) feeding a merger
    tree into the integrate-and-fire loop, read out by the clock, in the environment of the
    generated networks (splitter drive, fan-out load). The slots run through all 2**K patterns
    ``repeats`` times, each round in a random order (so the slot before a pattern varies as in a
    random pulse train); several bias points share one netlist (``copies_per_call``).

    Returns
    -------
    xarray.Dataset
        ``fire_prob``, ``ci_low``, ``ci_high``, ``n_trials`` over (``pattern``, ``bias``); the
        ``lines`` variable (pattern, line) says which lines carry a pulse.
    """
    generator = check_generator(generator)
    _check_fan_in(fan_in)
    check_int_range(ensemble, "ensemble", 1)
    check_int_range(repeats, "repeats", 1)
    b = np.asarray(biases_A, dtype=float).ravel()
    pats = patterns(fan_in)
    rng = numpy_rng(generator)
    seq = np.concatenate([rng.permutation(len(pats)) for _ in range(repeats)])
    n_slots = len(seq)
    T = timing
    starts = T.t0_s + T.slot_s * np.arange(n_slots)
    line_times = [
        [float(starts[s] + i * T.stagger_s) for s in range(n_slots) if pats[seq[s], i]] for i in range(fan_in)
    ]
    clock = starts + T.clock_delay_s
    edges = np.append(clock - T.slot_s / 2, clock[-1] + T.slot_s / 2)
    stop = float(edges[-1] + 5e-12)
    fires = np.zeros((len(pats), b.size))
    trials = np.zeros((len(pats), b.size))
    calls = 0
    for c0 in range(0, b.size, copies_per_call):
        lines, outs = [], []
        for k, ib in enumerate(b[c0 : c0 + copies_per_call]):
            L, o = _neuron_block(str(k), fan_in, line_times, clock, ib, synapse_bias_A)
            lines += L
            outs.append(o)
        txt = library_text(*_UNIT_CELLS) + "\n".join(lines) + "\n" + _temp_lines(temp_K, stop, T)
        ds = simulate(txt, ensemble=ensemble, generator=_gen(generator))
        calls += 1
        for k, o in enumerate(outs):
            cnt = slot_counts(ds, o, edges).clip(0, 1)  # (E, slots)
            for p in range(len(pats)):
                sel = seq == p
                fires[p, c0 + k] = cnt[:, sel].sum()
                trials[p, c0 + k] = cnt[:, sel].size
    lo, hi = wilson_interval(fires, trials)
    out = xr.Dataset(
        {
            "fire_prob": (("pattern", "bias"), fires / trials),
            "ci_low": (("pattern", "bias"), lo),
            "ci_high": (("pattern", "bias"), hi),
            "n_trials": (("pattern", "bias"), trials),
            "lines": (("pattern", "line"), pats),
        },
        coords={"pattern": ("pattern", np.arange(len(pats))), "bias": ("bias", b), "line": ("line", np.arange(fan_in))},
    )
    label(
        out,
        bias=("A", "neuron bias current"),
        pattern=("1", "input pattern (bit i: line i pulses)"),
        line=("1", "input line"),
        fire_prob=("1", "firing probability per clock slot"),
        ci_low=("1", "95 % Wilson lower bound"),
        ci_high=("1", "95 % Wilson upper bound"),
        n_trials=("1", "noisy trials (slots x ensemble)"),
        lines=("1", "line carries a pulse"),
    )
    out.attrs.update(
        cell="neuron",
        fan_in=int(fan_in),
        temperature_K=float(temp_K),
        ensemble=int(ensemble),
        simulate_calls=calls,
        synapse_bias_A=float(synapse_bias_A),
        slot_s=T.slot_s,
        stagger_s=T.stagger_s,
        clock_delay_s=T.clock_delay_s,
    )
    return out


def combine_neuron_responses(*datasets: xr.Dataset) -> xr.Dataset:
    """Pool :func:`neuron_response` datasets of one fan-in (e.g. a sweep of the whole range and a
    long run near the top where rare firings set the floor): trials and firings add up at equal
    biases; the result spans the union of the biases (sorted)."""
    if not datasets:
        raise ValueError("combine_neuron_responses: no datasets")
    ks = {int(d.attrs["fan_in"]) for d in datasets}
    if len(ks) != 1:
        raise ValueError(f"combine_neuron_responses: datasets of different fan-ins {sorted(ks)}")
    b = np.unique(np.concatenate([d["bias"].values for d in datasets]))
    P = datasets[0].sizes["pattern"]
    fires = np.zeros((P, b.size))
    trials = np.zeros((P, b.size))
    for d in datasets:
        j = np.searchsorted(b, d["bias"].values)
        fires[:, j] += np.rint(d["fire_prob"].values * d["n_trials"].values)
        trials[:, j] += d["n_trials"].values
    lo, hi = wilson_interval(fires, trials)
    out = xr.Dataset(
        {
            "fire_prob": (("pattern", "bias"), fires / trials),
            "ci_low": (("pattern", "bias"), lo),
            "ci_high": (("pattern", "bias"), hi),
            "n_trials": (("pattern", "bias"), trials),
            "lines": datasets[0]["lines"],
        },
        coords={"pattern": datasets[0]["pattern"].values, "bias": ("bias", b), "line": datasets[0]["line"].values},
    )
    for v in ("fire_prob", "ci_low", "ci_high", "n_trials", "lines", "pattern", "line"):
        out[v].attrs.update(datasets[0][v].attrs)
    out["bias"].attrs.update(datasets[0]["bias"].attrs)
    out.attrs.update(datasets[0].attrs)
    out.attrs.update(
        simulate_calls=int(sum(d.attrs.get("simulate_calls", 0) for d in datasets)), combined_runs=len(datasets)
    )
    return out


def context_code(line: int, context: int) -> int:
    """Index of (line, context) in the flat table of :func:`synapse_context_response`: line ``i``
    has ``2**i`` contexts (bit j of ``context``: line j < i passed a pulse earlier in the slot),
    entries of line i start at ``2**i - 1``."""
    return (1 << line) - 1 + context


def synapse_context_response(
    biases_A,
    *,
    fan_in: int = 2,
    slots: int = 24,
    ensemble: int = 16,
    line_prob: float = 0.8,
    neuron_bias_A=(60e-6, 180e-6),
    copies_per_call: int = 8,
    temp_K: float = 4.2,
    timing: SlotTiming = TIMING,
    generator: torch.Generator | None = None,
) -> xr.Dataset:
    """Pass probability of each synapse of a neuron cell, given which earlier lines passed a pulse.

    Inside a neuron cell the lines fire ``stagger_s`` apart and their synapses share the merger
    tree: a pulse that passed line j kicks the gate junctions of the later synapses through the
    tree, so a synapse passes more often right after a neighbour passed. This bench measures that:
    copies of the neuron cell (:func:`neuron_response`'s circuit) with the synapse gate biases
    drawn from ``biases_A`` (an independent random permutation per line, so the lines'
    biases are uncorrelated) and the neuron bias uniform in ``neuron_bias_A`` (A, low, high);
    every line pulses with probability ``line_prob`` per slot (one random train shared by the
    copies). The pass of each synapse (its gate junction switching) is recorded per slot, and the
    trials of line i are grouped by its *context*: the set of lines j < i that passed a pulse in
    the same slot.

    Returns
    -------
    xarray.Dataset
        ``pass_prob``, ``ci_low``, ``ci_high`` (95 % Wilson), ``n_trials``, ``n_passed`` over
        (``entry``, ``bias``); ``entry`` enumerates (``line``, ``context``) as in
        :func:`context_code`.
    """
    generator = check_generator(generator)
    _check_fan_in(fan_in)
    check_int_range(slots, "slots", 1)
    check_int_range(ensemble, "ensemble", 1)
    check_int_range(copies_per_call, "copies_per_call", 1)
    if not 0 < line_prob <= 1:
        raise ValueError(f"line_prob={line_prob!r}: a pulse probability per slot in (0, 1]")
    b = np.asarray(biases_A, dtype=float).ravel()
    if b.size < 2 or not np.all(np.isfinite(b)):
        raise ValueError("biases_A: expected at least two finite gate bias currents (A)")
    rng = numpy_rng(generator)
    T = timing
    n_copies = b.size
    perm = np.stack([rng.permutation(n_copies) for _ in range(fan_in)], 1)  # (copy, line) -> bias index
    nb = rng.uniform(neuron_bias_A[0], neuron_bias_A[1], n_copies)
    pulses = rng.random((fan_in, slots)) < line_prob
    starts = T.t0_s + T.slot_s * np.arange(slots)
    line_times = [[float(starts[s] + i * T.stagger_s) for s in range(slots) if pulses[i, s]] for i in range(fan_in)]
    clock = starts + T.clock_delay_s
    edges = np.append(starts - T.stagger_s, starts[-1] + T.slot_s - T.stagger_s)
    stop = float(clock[-1] + T.slot_s / 2)
    n_entries = 2**fan_in - 1
    passed = np.zeros((n_entries, b.size))
    trials = np.zeros((n_entries, b.size))
    raw = np.zeros((n_copies, ensemble, fan_in, slots), dtype=np.int8)
    calls = 0
    for c0 in range(0, n_copies, copies_per_call):
        lines, tags = [], []
        for k in range(c0, min(c0 + copies_per_call, n_copies)):
            L, _ = _neuron_block(str(k), fan_in, line_times, clock, float(nb[k]), b[perm[k]])
            lines += L
            tags.append(k)
        txt = library_text(*_UNIT_CELLS) + "\n".join(lines) + "\n" + _temp_lines(temp_K, stop, T)
        ds = simulate(txt, ensemble=ensemble, generator=_gen(generator))
        calls += 1
        for k in tags:
            pas = np.stack(
                [slot_counts(ds, f"B2|XS{k}_{i}", edges).clip(0, 1) for i in range(fan_in)], 1
            )  # (E, line, slot)
            raw[k] = pas
            ctx = np.zeros(pas.shape[::2], dtype=int)  # (E, slot): bits of the lines passed so far
            for i in range(fan_in):
                on = np.broadcast_to(pulses[i][None, :], ctx.shape)
                e = context_code(i, 0) + ctx
                np.add.at(trials[:, perm[k, i]], e[on], 1)
                np.add.at(passed[:, perm[k, i]], e[on], pas[:, i][on])
                ctx = ctx | (pas[:, i] << i)
    with np.errstate(invalid="ignore", divide="ignore"):
        prob = passed / trials
    lo, hi = wilson_interval(passed, trials)
    line = np.concatenate([[i] * 2**i for i in range(fan_in)])
    context = np.concatenate([np.arange(2**i) for i in range(fan_in)])
    out = xr.Dataset(
        {
            "pass_prob": (("entry", "bias"), prob),
            "ci_low": (("entry", "bias"), lo),
            "ci_high": (("entry", "bias"), hi),
            "n_trials": (("entry", "bias"), trials),
            "n_passed": (("entry", "bias"), passed),
            "passes": (("copy", "member", "line_no", "slot"), raw),
            "pulses": (("line_no", "slot"), pulses),
            "copy_synapse_bias": (("copy", "line_no"), b[perm]),
            "copy_neuron_bias": ("copy", nb),
        },
        coords={
            "entry": ("entry", np.arange(n_entries)),
            "line": ("entry", line),
            "context": ("entry", context),
            "bias": ("bias", b),
            "copy": ("copy", np.arange(n_copies)),
            "member": ("member", np.arange(ensemble)),
            "line_no": ("line_no", np.arange(fan_in)),
            "slot": ("slot", np.arange(slots)),
        },
    )
    label(
        out,
        entry=("1", "(line, context) entry, see context_code"),
        line=("1", "input line (stagger order)"),
        context=("1", "bit j: line j < line passed a pulse earlier in the slot"),
        bias=("A", "synapse gate bias"),
        pass_prob=("1", "pulse pass probability"),
        ci_low=("1", "95 % Wilson lower bound"),
        ci_high=("1", "95 % Wilson upper bound"),
        n_trials=("1", "input pulses (noisy trials)"),
        n_passed=("1", "pulses passed"),
        passes=("1", "synapse passed a pulse in the slot (0/1)"),
        pulses=("1", "input line carries a pulse in the slot"),
        copy=("1", "test circuit copy"),
        member=("1", "ensemble member"),
        line_no=("1", "input line"),
        slot=("1", "clock slot"),
        copy_synapse_bias=("A", "synapse gate bias of the copy's line"),
        copy_neuron_bias=("A", "neuron bias of the copy"),
    )
    out.attrs.update(
        cell="synapse",
        fan_in=int(fan_in),
        temperature_K=float(temp_K),
        ensemble=int(ensemble),
        slots=int(slots),
        line_prob=float(line_prob),
        simulate_calls=calls,
        stagger_s=T.stagger_s,
        neuron_bias_low_A=float(neuron_bias_A[0]),
        neuron_bias_high_A=float(neuron_bias_A[1]),
    )
    return out


def neuron_rate_curve(
    input_probs,
    biases_A,
    *,
    fan_in: int = 2,
    slots: int = 40,
    ensemble: int = 16,
    synapse_bias_A: float = 200e-6,
    temp_K: float = 4.2,
    timing: SlotTiming = TIMING,
    generator: torch.Generator | None = None,
) -> xr.Dataset:
    """Output rate vs input rate (and bias) of the neuron cell at circuit level.

    All ``fan_in`` lines carry independent Bernoulli pulse trains with pulse probability ``p`` per
    slot (input rate ``p * clock_hz``), drawn once from ``generator`` and shared by the ensemble
    members (which differ by their thermal noise). One netlist copy per (rate, bias), one call per bias.

    Returns
    -------
    xarray.Dataset
        ``output_rate`` (Hz) with ``ci_low``/``ci_high`` and the realised ``input_rate`` (Hz) over
        (``input_prob``, ``bias``).
    """
    generator = check_generator(generator)
    _check_fan_in(fan_in)
    P = np.asarray(input_probs, dtype=float).ravel()
    if np.any((P < 0) | (P > 1)):
        raise ValueError(
            "input_probs: pulse probabilities per clock slot must lie in [0, 1] "
            "(an input rate above the clock rate is not representable)"
        )
    b = np.asarray(biases_A, dtype=float).ravel()
    rng = numpy_rng(generator)
    T = timing
    starts = T.t0_s + T.slot_s * np.arange(slots)
    clock = starts + T.clock_delay_s
    edges = np.append(clock - T.slot_s / 2, clock[-1] + T.slot_s / 2)
    stop = float(edges[-1] + 5e-12)
    draws = rng.random((P.size, fan_in, slots)) < P[:, None, None]
    rate = np.zeros((P.size, b.size))
    lo = np.zeros_like(rate)
    hi = np.zeros_like(rate)
    rin = draws.mean(axis=(1, 2)) * T.clock_hz
    for j, ib in enumerate(b):
        lines, outs = [], []
        for k in range(P.size):
            lt = [[float(starts[s] + i * T.stagger_s) for s in range(slots) if draws[k, i, s]] for i in range(fan_in)]
            L, o = _neuron_block(str(k), fan_in, lt, clock, ib, synapse_bias_A)
            lines += L
            outs.append(o)
        txt = library_text(*_UNIT_CELLS) + "\n".join(lines) + "\n" + _temp_lines(temp_K, stop, T)
        ds = simulate(txt, ensemble=ensemble, generator=_gen(generator))
        for k, o in enumerate(outs):
            cnt = slot_counts(ds, o, edges).clip(0, 1)
            l_, h_ = wilson_interval(cnt.sum(), cnt.size)
            rate[k, j] = cnt.mean() * T.clock_hz
            lo[k, j], hi[k, j] = l_ * T.clock_hz, h_ * T.clock_hz
    out = xr.Dataset(
        {
            "output_rate": (("input_prob", "bias"), rate),
            "ci_low": (("input_prob", "bias"), lo),
            "ci_high": (("input_prob", "bias"), hi),
            "input_rate": ("input_prob", rin),
            "input_patterns": (("input_prob", "line", "slot"), draws),
        },
        coords={
            "input_prob": ("input_prob", P),
            "bias": ("bias", b),
            "line": ("line", np.arange(fan_in)),
            "slot": ("slot", np.arange(slots)),
        },
    )
    label(
        out,
        input_prob=("1", "input pulse probability per slot and line"),
        bias=("A", "neuron bias current"),
        line=("1", "input line"),
        slot=("1", "clock slot"),
        output_rate=("Hz", "neuron output rate"),
        ci_low=("Hz", "95 % Wilson lower bound"),
        ci_high=("Hz", "95 % Wilson upper bound"),
        input_rate=("Hz", "realised input rate per line"),
        input_patterns=("1", "drawn input pulses"),
    )
    out.attrs.update(
        cell="neuron",
        fan_in=int(fan_in),
        temperature_K=float(temp_K),
        clock_hz=T.clock_hz,
        ensemble=int(ensemble),
        synapse_bias_A=float(synapse_bias_A),
    )
    return out


def merger_splitter_check(
    *,
    ensemble: int = 64,
    slots: int = 8,
    temp_K: float = 4.2,
    timing: SlotTiming = TIMING,
    generator: torch.Generator | None = None,
) -> xr.Dataset:
    """Noisy pulse statistics of the merger and splitter cells in one batched call.

    Merger cases: a pulse on in1 only, in2 only, both ``stagger_s`` apart (two output pulses
    expected), both simultaneous (one expected). Splitter: one input pulse (one on each output).

    Returns
    -------
    xarray.Dataset
        ``mean_out`` (pulses per slot), ``expected``, ``p_correct`` with 95 % CI over ``case``.
    """
    generator = check_generator(generator)
    T = timing
    starts = T.t0_s + T.slot_s * np.arange(slots)
    d = T.stagger_s
    cases = {
        "merger_in1": ([0.0], None),
        "merger_in2": (None, [0.0]),
        "merger_staggered": ([0.0], [d]),
        "merger_simultaneous": ([0.0], [0.0]),
    }
    expected = {
        "merger_in1": 1,
        "merger_in2": 1,
        "merger_staggered": 2,
        "merger_simultaneous": 1,
        "splitter_out1": 1,
        "splitter_out2": 1,
    }
    L = []
    for k, (c, (a1, a2)) in enumerate(cases.items()):
        for port, off in (("1", a1), ("2", a2)):
            if off is None:
                L.append(f"RZ{k}_{port} a{k}_{port} 0 2")
            else:
                L.append(f"II{k}_{port} 0 a{k}_{port} {pulse_pwl([s + o for s in starts for o in off])}")
            L.append(f"XA{k}_{port} JTL a{k}_{port} b{k}_{port}")
        L += [f"XM{k} MERGE b{k}_1 b{k}_2 c{k}", f"XO{k} JTL c{k} d{k}", f"RL{k} d{k} 0 2"]
    L += [
        f"IIS 0 as {pulse_pwl(starts)}",
        "XAS JTL as bs",
        "XSP SPLIT bs s1 s2",
        "XP1 JTL s1 t1",
        "RLP1 t1 0 2",
        "XP2 JTL s2 t2",
        "RLP2 t2 0 2",
    ]
    edges = np.append(starts - T.slot_s / 4, starts[-1] + 3 * T.slot_s / 4)
    stop = float(edges[-1])
    txt = library_text("jtl", "merger", "splitter") + "\n".join(L) + "\n" + _temp_lines(temp_K, stop, T)
    ds = simulate(txt, ensemble=ensemble, generator=_gen(generator))
    names, mean, pc, lo, hi, exp = [], [], [], [], [], []
    juncs = {c: f"B2|XO{k}" for k, c in enumerate(cases)}
    juncs.update(splitter_out1="B2|XP1", splitter_out2="B2|XP2")
    for c, j in juncs.items():
        cnt = slot_counts(ds, j, edges)
        ok = (cnt == expected[c]).sum()
        l_, h_ = wilson_interval(ok, cnt.size)
        names.append(c)
        mean.append(cnt.mean())
        pc.append(ok / cnt.size)
        lo.append(float(l_))
        hi.append(float(h_))
        exp.append(expected[c])
    out = xr.Dataset(
        {
            "mean_out": ("case", mean),
            "expected": ("case", exp),
            "p_correct": ("case", pc),
            "ci_low": ("case", lo),
            "ci_high": ("case", hi),
        },
        coords={"case": ("case", np.array(names))},
    )
    label(
        out,
        case=("1", "test case"),
        mean_out=("1", "output pulses per slot"),
        expected=("1", "expected output pulses per slot"),
        p_correct=("1", "fraction of slots with the expected count"),
        ci_low=("1", "95 % Wilson lower bound"),
        ci_high=("1", "95 % Wilson upper bound"),
    )
    out.attrs.update(temperature_K=float(temp_K), ensemble=int(ensemble), simulate_calls=1, stagger_s=T.stagger_s)
    return out
