"""Discrete-time leaky integrate-and-fire (LIF) neurons, norse style.

The update is the one of the resistive-memory LSM paper's public code (Lin et al., arXiv
2307.00771, Nat. Comput. Sci. 2025, doi:10.1038/s43588-024-00751-z) and of most discrete SNN codes::

    v[t] = decay * v[t-1] + i[t]          (leaky integration, decay = exp(-dt / tau_mem))
    s[t] = v[t] >= threshold              (spike)
    v[t] = reset        where s[t]        (reset to a potential; "subtract" mode: v -= threshold)

Examples
--------
>>> import torch
>>> from physnn.reservoir.lif import LIFParams, LIFState, lif_step
>>> p = LIFParams(decay=0.9, threshold=5.0)
>>> s, st = lif_step(torch.tensor([6.0]), LIFState(v=torch.zeros(1)), p)
>>> float(s), float(st.v)
(1.0, 0.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

import torch
from torch import nn

from .._checks import check_positive

__all__ = ["LIFParams", "ResetMode", "LIFState", "lif_step", "lif_run", "LIFCell", "decay_from_tau"]


def decay_from_tau(tau: float, dt: float) -> float:
    """Per-step membrane decay ``exp(-dt / tau)`` for a time constant ``tau`` and step ``dt`` (s)."""
    return math.exp(-check_positive(dt, "dt") / check_positive(tau, "tau"))


#: what a spike does to the membrane (``LIFParams.reset_mode``): back to ``reset``, or minus the threshold
ResetMode = Literal["zero", "subtract"]


@dataclass(frozen=True, kw_only=True)
class LIFParams:
    """LIF parameters (dimensionless: currents and potentials in the same arbitrary unit).

    Parameters
    ----------
    decay : float
        Membrane decay per step, in (0, 1]. 0.9 for N-MNIST, 0.97 for N-TIDIGITS in the paper's code.
    threshold : float
        Firing threshold (> 0). 5.0 (N-MNIST) / 5.3 (N-TIDIGITS) in the paper's code.
    reset : float
        Potential after a spike in ``"zero"`` mode (must be below ``threshold``).
    reset_mode : {"zero", "subtract"}
        ``"zero"`` sets v to ``reset``; ``"subtract"`` removes ``threshold`` from v.
    """

    decay: float = 0.9
    threshold: float = 5.0
    reset: float = 0.0
    reset_mode: ResetMode = "zero"

    def __post_init__(self):
        if not (0.0 < float(self.decay) <= 1.0):
            raise ValueError(f"decay={self.decay!r}: must be in (0, 1]")
        check_positive(self.threshold, "threshold")
        if not (float(self.reset) < float(self.threshold)):
            raise ValueError(f"reset={self.reset!r}: must be below threshold={self.threshold!r}")
        if self.reset_mode not in get_args(ResetMode):
            raise ValueError(f"reset_mode={self.reset_mode!r}: expected one of {get_args(ResetMode)}")


class LIFState(NamedTuple):
    """Membrane potential ``v`` (any shape)."""

    v: torch.Tensor


def lif_step(i: torch.Tensor, state: LIFState, params: LIFParams) -> tuple[torch.Tensor, LIFState]:
    """One LIF step: returns ``(spikes, new_state)``; spikes are 0./1. in ``i``'s dtype."""
    v = params.decay * state.v + i
    s = v >= params.threshold
    if params.reset_mode == "zero":
        v = torch.where(s, torch.full_like(v, params.reset), v)
    else:
        v = v - s.to(v.dtype) * params.threshold
    return s.to(v.dtype), LIFState(v=v)


def lif_run(
    currents: torch.Tensor, params: LIFParams, state: LIFState | None = None, *, time_dim: int = 0
) -> tuple[torch.Tensor, LIFState]:
    """Run :func:`lif_step` over ``time_dim`` of ``currents``; returns (spikes, final state)."""
    x = currents.movedim(time_dim, 0)
    st = state if state is not None else LIFState(v=torch.zeros_like(x[0]))
    out = []
    for t in range(x.shape[0]):
        s, st = lif_step(x[t], st, params)
        out.append(s)
    return torch.stack(out).movedim(0, time_dim), st


class LIFCell(nn.Module):
    """``nn.Module`` wrapper of :func:`lif_step` (no trainable parameters)."""

    def __init__(self, params: LIFParams = LIFParams()):
        super().__init__()
        self.params = params

    def forward(self, i: torch.Tensor, state: LIFState | None = None) -> tuple[torch.Tensor, LIFState]:
        if state is None:
            state = LIFState(v=torch.zeros_like(i))
        return lif_step(i, state, self.params)
