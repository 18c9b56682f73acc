"""Constant step device: every pulse moves the state by the same amount (hard bounds).

``w <- clip(w + dw_up)`` per up pulse, ``w <- clip(w - dw_down)`` per down pulse; after ``n``
pulses ``w_n = clip(w_0 + n dw)`` (aihwkit ``ConstantStepDevice``; Gokmen & Vlasov, Front.
Neurosci. 10:333, 2016).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import AbstractUpdateModel, PulseParams

__all__ = ["ConstantStep"]


@dataclass(frozen=True, kw_only=True)
class ConstantStep(AbstractUpdateModel):
    """Constant step of ``dw_up`` / ``dw_down`` per pulse, hard bounds ``w_min``/``w_max``
    (normalised weight units; see :mod:`physnn.crossbar.update.base`)."""

    card_model: ClassVar[str] = "constant_step"

    def up_step(self, w: torch.Tensor, p: PulseParams) -> torch.Tensor:
        return p.dw_up.expand_as(w)

    def down_step(self, w: torch.Tensor, p: PulseParams) -> torch.Tensor:
        return p.dw_down.expand_as(w)

    def closed_form(self, w: torch.Tensor, n: torch.Tensor, p: PulseParams) -> torch.Tensor:
        nf = n.to(w.dtype)
        dw = torch.where(n > 0, nf * p.dw_up, nf * p.dw_down)
        return torch.minimum(torch.maximum(w + dw, p.w_min), p.w_max)
