"""Exponential step device: the step decays exponentially with the distance travelled.

Up: ``dw = dw_up exp(gamma_up (1/2 - u))``, ``u = (w - w_min) / (w_max - w_min)``; down:
``dw = dw_down exp(gamma_down (1/2 - v))``, ``v = (w_max - w) / (w_max - w_min)``; so the step at
mid-range is ``dw_up`` / ``dw_down`` (a re-parametrisation of the saturating PCM/RRAM responses
that aihwkit fits with ``ExpStepDevice``). In the continuum limit (``dw << w_max - w_min``) ``n`` up
pulses give ``exp(gamma u_n) = exp(gamma u_0) + gamma n (dw_up / span) exp(gamma / 2)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..params import param
from .base import AbstractUpdateModel, PulseParams

__all__ = ["ExpStep"]


@dataclass(frozen=True, kw_only=True)
class ExpStep(AbstractUpdateModel):
    """Exponentially decaying step (rates ``gamma_up``, ``gamma_down`` >= 0; normalised weight units)."""

    gamma_up: float = param(
        2.0, units="1", long_name="decay rate of the up step", doc="decay rate of the up step", lo=0.0
    )
    gamma_down: float = param(
        2.0, units="1", long_name="decay rate of the down step", doc="decay rate of the down step", lo=0.0
    )
    card_model: ClassVar[str] = "exp_step"

    def up_step(self, w: torch.Tensor, p: PulseParams) -> torch.Tensor:
        u = (w - p.w_min) / (p.w_max - p.w_min)
        return p.dw_up * torch.exp(p.gamma_up * (0.5 - u))

    def down_step(self, w: torch.Tensor, p: PulseParams) -> torch.Tensor:
        v = (p.w_max - w) / (p.w_max - p.w_min)
        return p.dw_down * torch.exp(p.gamma_down * (0.5 - v))
