"""Process variation (JoSIM's ``.spread`` and per-element ``SPREAD=``).

JoSIM v2.7 draws every spread element value once per run from a normal distribution with mean
the nominal value and standard deviation ``|value| * spread / 3`` (the spread is the relative
3-sigma half width). ``.spread G L=.. C=.. R=.. B=..`` gives a global value and per-type values;
an element's own ``SPREAD=`` overrides them. For junctions the area (so Ic, C and the
resistances together) is spread. physnn draws these values from a ``torch.Generator``.
"""

from __future__ import annotations

import dataclasses

import torch

from ..random import check_generator
from .netlist import Netlist

__all__ = ["apply_spread", "has_spread"]


def _spread_of(net: Netlist, e) -> float:
    own = dict(e.options).get("SPREAD")
    if own is not None:
        return own
    return net.spread.get(e.kind, net.spread.get("G", 0.0))


def has_spread(net: Netlist) -> bool:
    return any(_spread_of(net, e) > 0 for e in net.elements if e.kind in "LCRB")


def apply_spread(net: Netlist, generator: torch.Generator | None = None) -> Netlist:
    """A copy of ``net`` with L, C, R values and junction areas drawn around their nominal values.

    One standard-normal draw per spread element, in netlist order, from ``generator`` (None:
    torch's global generator). Draws that would make a value non-positive are redrawn (JoSIM's
    3-sigma spreads make that rare).
    """
    generator = check_generator(generator)
    out = []
    for e in net.elements:
        sp = _spread_of(net, e) if e.kind in "LCRB" else 0.0
        if sp <= 0:
            out.append(e)
            continue
        nominal = e.area if e.kind == "B" else e.value
        for _ in range(100):
            z = float(torch.randn((), generator=generator, dtype=torch.float64))
            v = nominal + abs(nominal) * sp / 3.0 * z
            if v > 0:
                break
        out.append(dataclasses.replace(e, area=v) if e.kind == "B" else dataclasses.replace(e, value=v))
    return dataclasses.replace(net, elements=out)
