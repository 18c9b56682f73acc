"""Gradient example: tune a JTL's bias current so that one cell delay hits a target.

The delay (switching of ``B1|X3`` minus ``B1|X2`` in a chain of JTL cells from the shipped
library) is differentiated through the BDF2 time loop by autograd (:func:`transient_torch`) and
the differentiable crossing time (:func:`switch_time_torch`); all bias sources of the chain are
scaled by one factor ``s`` (``s = 1`` is the nominal 0.7 Ic bias).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .analysis import switch_time_torch
from .cells import jtl_chain
from .differentiable import transient_torch
from .netlist import parse_netlist

__all__ = ["JTLChain", "jtl_chain_delay", "delay_gradient_check", "tune_jtl_bias", "TuningResult"]


@dataclass(frozen=True, kw_only=True)
class JTLChain:
    """A 4-cell JTL chain driven by one input current pulse (the tuning test bench)."""

    tstep: float = 0.25e-12
    tstop: float = 90e-12

    def netlist(self):
        return parse_netlist(jtl_chain(4, tstep=self.tstep, tstop=self.tstop))


def jtl_chain_delay(scale: torch.Tensor, chain: JTLChain = JTLChain()) -> torch.Tensor:
    """Cell delay (s) of the chain with every bias source scaled by ``scale`` (differentiable)."""
    net = chain.netlist()
    biases = {e.name: scale for e in net.elements if e.kind == "I" and e.name.startswith("IB")}
    out = transient_torch(net, tstep=chain.tstep, tstop=chain.tstop, source_scale=biases)
    j = out["junction"]
    p2 = out["phase"][:, j.index("B1|X2")]
    p3 = out["phase"][:, j.index("B1|X3")]
    return switch_time_torch(out["time"], p3) - switch_time_torch(out["time"], p2)


@dataclass
class TuningResult:
    scale: float
    delay: float
    history: list[tuple[float, float]] = field(default_factory=list)  #: (scale, delay) per step


def delay_gradient_check(chain: JTLChain = JTLChain(), *, scale: float = 1.0, h: float = 1e-3) -> tuple[float, float]:
    """d(delay)/d(bias scale) at ``scale`` (s per unit scale): (autograd, central finite difference
    with step ``h``)."""
    s = torch.tensor(scale, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(jtl_chain_delay(s, chain), s)
    with torch.no_grad():
        fd = (
            jtl_chain_delay(torch.tensor(scale + h, dtype=torch.float64), chain)
            - jtl_chain_delay(torch.tensor(scale - h, dtype=torch.float64), chain)
        ) / (2 * h)
    return float(g), float(fd)


def tune_jtl_bias(
    target_delay: float, *, scale0: float = 1.0, steps: int = 12, tol: float = 0.01e-12, chain: JTLChain = JTLChain()
) -> TuningResult:
    """Gradient descent (Gauss-Newton step on the squared delay error) on the common bias scale."""
    s = torch.tensor(float(scale0), dtype=torch.float64, requires_grad=True)
    hist = []
    for _ in range(steps):
        d = jtl_chain_delay(s, chain)
        hist.append((float(s.detach()), float(d.detach())))
        if abs(float(d.detach()) - target_delay) < tol:
            break
        (g,) = torch.autograd.grad(d, s)
        with torch.no_grad():
            step = (float(d.detach()) - target_delay) / float(g)  # Gauss-Newton for loss (d - target)^2
            step = max(-0.1, min(0.1, step))  # trust region in scale units
            s -= step
        if not (0.3 < float(s.detach()) < 1.3):
            raise ValueError(f"target_delay={target_delay!r}: bias scale left [0.3, 1.3]; target not reachable")
    return TuningResult(scale=hist[-1][0], delay=hist[-1][1], history=hist)
