"""Generate one full netlist of a trained :class:`~physnn.sfq.layers.SFQNetwork` and simulate it.

Structure per layer (the slot timing of :data:`physnn.sfq.characterise.TIMING`):

* layer-0 input line i: an ideal current-pulse source (one pulse when the line carries a pulse
  in a slot, at ``i * stagger_s`` into the slot) -> JTL -> splitter tree (fan-out; at least one
  splitter, spare outputs terminated, so every synapse sees the drive it was characterised with);
* layer-l input line i (l > 0): the DFF output of neuron i of layer l-1 -> JTL -> splitter tree;
* each synapse: ``SFQSYN`` with its trained gate bias (a DC current source) -> JTL -> merger;
* each neuron: merger tree of its synapse outputs -> ``SFQNEURON`` (trained bias) whose DFF is
  clocked by an ideal pulse source -> JTL at ``clock_delay_s + j * stagger_s`` after the layer's
  line 0 (neuron j), so that the next layer's lines are staggered as in the characterisation;
* outputs: -> JTL -> JTL -> 2 ohm load; the pulses of the last JTL's B2 are counted per slot.

The clock tree is not modelled (each neuron's clock is its own ideal source). Cell texts are
inlined from the library; a layer description naming an unknown cell raises
:class:`~physnn.sfq.cells.CellLibraryError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from physnn.josephson import simulate
from ..constants import Phi0
from ..random import own_generator
from ..units import label
from .cells import cell, library_text, merger_tree, pulse_pwl
from .characterise import TIMING, SlotTiming, slot_counts

__all__ = ["LayerSpec", "network_spec", "network_netlist", "simulate_network", "energy_latency", "DFF_TO_LINE_S"]

#: nominal delay (s) from a neuron's clock to its output reaching the next layer's lines
DFF_TO_LINE_S = 10e-12


@dataclass(frozen=True, kw_only=True)
class LayerSpec:
    """One layer of a network netlist: biases (A) and the cells that implement it."""

    synapse_bias_A: np.ndarray  # (out, in)
    neuron_bias_A: np.ndarray  # (out,)
    synapse_cell: str = "synapse"
    neuron_cell: str = "neuron"
    merger_cell: str = "merger"
    splitter_cell: str = "splitter"
    buffer_cell: str = "jtl"

    @property
    def shape(self):
        return self.synapse_bias_A.shape


def network_spec(net) -> list[LayerSpec]:
    """Layer descriptions of a trained :class:`SFQNetwork` (fully connected layers only)."""
    specs = []
    for k, layer in enumerate(net.layers):
        conn = layer.connections.cpu().numpy()
        if conn.shape[1] != layer.in_features or np.any(conn != np.arange(layer.in_features)[None, :]):
            raise ValueError(
                f"net.layers[{k}]: only fully connected layers (connections = identity) can be "
                "generated at circuit level (the line stagger follows the input order)"
            )
        specs.append(
            LayerSpec(
                synapse_bias_A=layer.synapse_bias.detach().cpu().numpy().copy(),
                neuron_bias_A=layer.neuron_bias.detach().cpu().numpy().copy(),
            )
        )
    return specs


def _split_tree(src: str, n: int, tag: str, L: list, splitter: str, buffer: str) -> list[str]:
    """Fan ``src`` out to ``n`` nodes with a splitter tree (at least one splitter, so every synapse
    is driven by a splitter as in its characterisation; unused outputs end in JTL + 2 ohm)."""
    leaves = [src]
    k = 0
    while len(leaves) < max(n, 2):
        node = leaves.pop(0)
        a, b = f"{tag}s{k}a", f"{tag}s{k}b"
        L.append(f"X{tag}S{k} {splitter} {node} {a} {b}")
        leaves += [a, b]
        k += 1
    for m, extra in enumerate(leaves[n:]):
        L += [f"X{tag}T{m} {buffer} {extra} {tag}t{m}", f"R{tag}T{m} {tag}t{m} 0 2"]
    return leaves[:n]


def network_netlist(
    specs: list[LayerSpec], input_pulses: np.ndarray, *, timing: SlotTiming = TIMING, temp_K: float = 4.2
) -> tuple[str, dict]:
    """Netlist text of the whole network for ``input_pulses`` (slots, in_features) bool.

    Returns ``(text, info)``; ``info`` holds the output junction labels, the output clock times
    per slot (for counting), the slot starts and the bias sources (for energy estimates).
    """
    x = np.asarray(input_pulses, dtype=bool)
    if x.ndim != 2 or x.shape[1] != specs[0].shape[1]:
        raise ValueError(f"input_pulses: expected (slots, {specs[0].shape[1]}) booleans, got {x.shape}")
    T = timing
    S = x.shape[0]
    starts = T.t0_s + T.slot_s * np.arange(S)
    used = set()
    for sp in specs:
        for c in (sp.synapse_cell, sp.neuron_cell, sp.merger_cell, sp.splitter_cell, sp.buffer_cell):
            cell(c)  # CellLibraryError naming an unknown cell
            used.add(c)
    sub = {c: cell(c).subckt for c in used}
    L: list[str] = []
    bias_sources: list[float] = []
    base = 0.0  # time of the layer's line 0 relative to the slot start
    lines: list[str] = []
    n_in = specs[0].shape[1]
    for i in range(n_in):
        times = [float(starts[s] + i * T.stagger_s) for s in range(S) if x[s, i]]
        L.append(f"IIN{i} 0 in{i} {pulse_pwl(times)}" if times else f"RIN{i} in{i} 0 2")
        L.append(f"XIN{i} {sub[specs[0].buffer_cell]} in{i} l0_{i}")
        lines.append(f"l0_{i}")
    out_clock = None
    for li, sp in enumerate(specs):
        n_out, n_inl = sp.shape
        if n_inl & (n_inl - 1):
            raise ValueError(f"layer {li}: fan-in {n_inl} is not a power of two (merger tree)")
        # fan-out of every input line
        leaves = [
            _split_tree(lines[i], n_out, f"L{li}I{i}", L, sub[sp.splitter_cell], sub[sp.buffer_cell])
            for i in range(n_inl)
        ]
        new_lines = []
        clocks = []
        for j in range(n_out):
            heads = []
            for i in range(n_inl):
                t = f"L{li}N{j}Y{i}"
                L += [
                    f"X{t} {sub[sp.synapse_cell]} {leaves[i][j]} {t}o {t}g",
                    f"I{t} 0 {t}g pwl(0 0 10p {float(sp.synapse_bias_A[j, i]):.8g})",
                    f"X{t}B {sub[sp.buffer_cell]} {t}o {t}b",
                ]
                bias_sources.append(float(sp.synapse_bias_A[j, i]))
                heads.append(f"{t}b")
            tree, root = merger_tree(heads, f"L{li}N{j}M", sub[sp.merger_cell])
            L += tree
            t = f"L{li}N{j}"
            clk = starts + base + T.clock_delay_s + j * T.stagger_s
            clocks.append(clk)
            L += [
                f"I{t}C 0 {t}ca {pulse_pwl(clk)}",
                f"X{t}CB {sub[sp.buffer_cell]} {t}ca {t}c",
                f"X{t} {sub[sp.neuron_cell]} {root} {t}c {t}q {t}g",
                f"I{t}G 0 {t}g pwl(0 0 10p {float(sp.neuron_bias_A[j]):.8g})",
                f"X{t}QB {sub[sp.buffer_cell]} {t}q {t}l",
            ]
            bias_sources.append(float(sp.neuron_bias_A[j]))
            new_lines.append(f"{t}l")
        lines = new_lines
        out_clock = np.stack(clocks)  # (n_out, S)
        base = base + T.clock_delay_s + DFF_TO_LINE_S
    outs = []
    for j, node in enumerate(lines):
        L += [
            f"XOUT{j}A {sub[specs[-1].buffer_cell]} {node} out{j}a",
            f"XOUT{j}B {sub[specs[-1].buffer_cell]} out{j}a out{j}b",
            f"ROUT{j} out{j}b 0 2",
        ]
        outs.append(f"B2|XOUT{j}B")
    stop = float(out_clock.max() + T.slot_s / 2)
    txt = (
        library_text(*sorted(used))
        + "\n".join(L)
        + f"\n.tran {T.tstep_s!r} {stop!r}\n"
        + (f".temp {temp_K!r}\n" if temp_K else "")
    )
    return txt, {
        "outputs": outs,
        "out_clock_s": out_clock,
        "slot_starts_s": starts,
        "stop_s": stop,
        "latency_s": float(out_clock[:, 0].mean() - starts[0]),
        "trained_bias_A": bias_sources,
    }


def simulate_network(
    specs: list[LayerSpec],
    input_pulses: np.ndarray,
    *,
    ensemble: int = 32,
    temp_K: float = 4.2,
    timing: SlotTiming = TIMING,
    generator: torch.Generator | None = None,
    chunk: int | None = None,
) -> tuple[xr.Dataset, dict]:
    """Simulate the network netlist with thermal noise; per-slot output pulses and switching counts.

    Returns ``(ds, info)``: ``ds`` has ``fired`` (ensemble, output, slot) 0/1 and
    ``switches`` (junction) mean switching events per run; ``info`` from :func:`network_netlist`
    plus ``dc_bias_A`` (junction) of the DC current through every junction before the first slot.
    """
    generator = own_generator(generator)  # None: seeded from torch's global generator
    txt, info = network_netlist(specs, input_pulses, timing=timing, temp_K=temp_K)
    chunk = chunk or ensemble
    fired, sw, dc = [], None, None
    for e0 in range(0, ensemble, chunk):
        n = min(chunk, ensemble - e0)
        ds = simulate(txt, ensemble=n, generator=generator)
        per = []
        for j, o in enumerate(info["outputs"]):
            clk = info["out_clock_s"][j]
            edges = np.append(clk - timing.slot_s / 2, clk[-1] + timing.slot_s / 2)
            per.append(slot_counts(ds, o, edges).clip(0, 1))
        fired.append(np.stack(per, axis=1))  # (E, out, S)
        ph = ds["phase"].values  # (E, J, T)
        s = np.abs(np.rint((ph[:, :, -1] - ph[:, :, 0]) / (2 * math.pi))).sum(0)
        sw = s if sw is None else sw + s
        if dc is None:
            it = int(np.searchsorted(ds["time"].values, timing.t0_s - 5e-12))
            dc = ds["ic"].values[0] * np.sin(ph[0, :, it] - ds["phase_offset"].values)
        labels = ds["junction"].values
        del ds, ph
    out = xr.Dataset(
        {
            "fired": (("ensemble", "output", "slot"), np.concatenate(fired)),
            "switches": ("junction", sw / ensemble),
            "dc_bias": ("junction", dc),
        },
        coords={
            "ensemble": np.arange(ensemble),
            "output": np.arange(len(info["outputs"])),
            "slot": np.arange(len(info["slot_starts_s"])),
            "junction": labels,
        },
    )
    label(
        out,
        fired=("1", "output pulse in the slot (0/1)"),
        switches=("1", "switching events per run (mean over ensemble)"),
        dc_bias=("A", "DC current through the junction before the first slot"),
        **{c: ("1", c) for c in ("ensemble", "output", "slot", "junction")},
    )
    out.attrs.update(temperature_K=float(temp_K), slot_s=timing.slot_s)
    return out, info


def energy_latency(
    ds: xr.Dataset, info: dict, *, slots_per_inference: int, n_slots: int, bias_voltage_V: float = 2.6e-3
) -> dict:
    """Energy per inference and latency from a simulated network run.

    Dynamic energy: sum over junctions of (switching events x ``|DC bias current|`` x Phi0).
    Static power if every DC bias were fed through resistors from a ``bias_voltage_V`` rail
    (RSFQ practice): ``V * sum |I_bias|`` of all bias sources (junction DC currents as a proxy).
    Per inference: ``slots_per_inference`` slots of both. Latency: pipeline delay (input slot to
    output clock) plus the counting window.
    """
    dyn_run = float((ds["switches"].values * np.abs(ds["dc_bias"].values)).sum() * Phi0)
    dyn_slot = dyn_run / n_slots
    i_total = float(np.abs(ds["dc_bias"].values).sum())
    p_static = bias_voltage_V * i_total
    slot = float(ds.attrs["slot_s"])
    return {
        "dynamic_J_per_slot": dyn_slot,
        "static_W_resistive": p_static,
        "bias_current_total_A": i_total,
        "energy_per_inference_dynamic_J": dyn_slot * slots_per_inference,
        "energy_per_inference_J": (dyn_slot + p_static * slot) * slots_per_inference,
        "latency_s": info["latency_s"] + slots_per_inference * slot,
    }
