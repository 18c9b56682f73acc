"""Pulse-level timing check: the cells as timed state machines (in the spirit of PyLSE, Christensen
et al., PLDI 2022), checking a network netlist's schedule against setup/hold and clock constraints.

Each cell is abstracted to a delay (input pulse -> output pulse) and the constraints of its state
machine: a merger merges two input pulses closer than ``merger_min_sep_s`` into one; the neuron
needs ``neuron_settle_s`` after its last input before its decision is final (thermal escape can
fire it late while the loop current leaks); the DFF needs its data ``dff_setup_s`` before the
clock, and the next slot's data no earlier than ``dff_hold_s`` after it; a line carries at most one
pulse per clock slot. Delays default to noise-free switching times of the library cells measured
with :mod:`physnn.josephson` (generated network, nominal biases).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..units import label
from .characterise import TIMING, SlotTiming
from .netgen import DFF_TO_LINE_S

__all__ = ["CellDelays", "check_timing", "TimingViolation", "assert_timing"]


class TimingViolation(ValueError):
    """A schedule breaks a setup/hold/separation/clock constraint (the message lists them)."""


@dataclass(frozen=True, kw_only=True)
class CellDelays:
    """Cell delays and constraints, s (measured noise-free at nominal bias with this simulator)."""

    source_jtl_s: float = 4.0e-12  #: current-pulse source -> JTL output
    jtl_s: float = 3.5e-12
    splitter_s: float = 4.7e-12
    synapse_s: float = 2.5e-12
    merger_s: float = 2.7e-12
    neuron_settle_s: float = 40e-12  #: last input -> firing decision final (incl. late thermal escape)
    neuron_to_dff_s: float = 1.6e-12
    clock_to_q_s: float = 2.0e-12
    merger_min_sep_s: float = 8e-12
    dff_setup_s: float = 5e-12
    dff_hold_s: float = 5e-12


def _depth(n: int) -> int:
    return int(np.ceil(np.log2(n))) if n > 1 else 0


def check_timing(specs, *, timing: SlotTiming = TIMING, delays: CellDelays = CellDelays()) -> xr.Dataset:
    """Slack (s) of every constraint per layer and neuron for the schedule of :func:`network_netlist`.

    Returns
    -------
    xarray.Dataset
        ``merger_sep_slack``, ``setup_slack``, ``hold_slack``, ``slot_slack`` over (``layer``,
        ``neuron``) (NaN where a layer has fewer neurons) and ``ok`` (all slacks >= 0).
    """
    T, D = timing, delays
    n_max = max(sp.shape[0] for sp in specs)
    names = ("merger_sep_slack", "setup_slack", "hold_slack", "slot_slack")
    out = {k: np.full((len(specs), n_max), np.nan) for k in names}
    base = 0.0
    line_offsets = None  # arrival offsets of the layer's input lines relative to the slot start
    for li, sp in enumerate(specs):
        n_out, n_in = sp.shape
        if line_offsets is None:
            line_offsets = base + np.arange(n_in) * T.stagger_s + D.source_jtl_s
        arr = (
            line_offsets + max(_depth(n_out), 1) * D.splitter_s + D.synapse_s + D.jtl_s + _depth(n_in) * D.merger_s
        )  # at the neuron input, per line
        sep = np.min(np.diff(np.sort(arr))) if n_in > 1 else np.inf
        new_offsets = []
        for j in range(n_out):
            clk = base + T.clock_delay_s + j * T.stagger_s + D.source_jtl_s
            data = arr.max() + D.neuron_settle_s + D.neuron_to_dff_s
            out["merger_sep_slack"][li, j] = sep - D.merger_min_sep_s
            out["setup_slack"][li, j] = clk - data - D.dff_setup_s
            # the next slot's earliest firing must come after the hold window of this clock
            next_data = T.slot_s + arr.min() + D.neuron_to_dff_s
            out["hold_slack"][li, j] = next_data - (clk + D.dff_hold_s)
            out["slot_slack"][li, j] = T.slot_s - (data - arr.min())
            new_offsets.append(clk + D.clock_to_q_s + D.jtl_s)
        line_offsets = np.array(new_offsets)
        base = base + T.clock_delay_s + DFF_TO_LINE_S
    ds = xr.Dataset(
        {k: (("layer", "neuron"), v) for k, v in out.items()},
        coords={"layer": np.arange(len(specs)), "neuron": np.arange(n_max)},
    )
    label(
        ds,
        **{k: ("s", k.replace("_", " ") + " (>= 0: constraint met)") for k in names},
        layer=("1", "layer"),
        neuron=("1", "neuron in layer"),
    )
    ok = all(bool(np.all(np.nan_to_num(ds[k].values, nan=1.0) >= 0)) for k in names)
    ds.attrs.update(ok=int(ok), slot_s=T.slot_s, stagger_s=T.stagger_s, clock_delay_s=T.clock_delay_s)
    return ds


def assert_timing(specs, **kw) -> xr.Dataset:
    """:func:`check_timing`, raising :class:`TimingViolation` that names every broken constraint."""
    ds = check_timing(specs, **kw)
    if not ds.attrs["ok"]:
        bad = []
        for k in ("merger_sep_slack", "setup_slack", "hold_slack", "slot_slack"):
            v = ds[k].values
            for li, j in zip(*np.nonzero(np.nan_to_num(v, nan=1.0) < 0)):
                bad.append(f"layer {li} neuron {j}: {k} = {v[li, j] * 1e12:.1f} ps")
        raise TimingViolation("timing constraints broken: " + "; ".join(bad))
    return ds
