"""Mixed-precision in-place training (Nandakumar et al., Front. Neurosci. 14:406, 2020).

The gradient steps accumulate in a digital (high-precision) matrix ``chi`` (normalised weight
units); when ``|chi|`` of a device reaches the programming granularity ``epsilon`` (the device's
``dw_min``), ``n = trunc(chi / epsilon)`` pulses are sent and ``chi -= n epsilon``. The analog array
holds the weights and computes forward and backward; only rare, large-enough updates reach it.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from ..._checks import check_int_range, check_positive
from ._optim import check_grads, check_layers
from .layer_update import update_layer
from .rules import DeterministicPulses

__all__ = ["MixedPrecision"]


class MixedPrecision:
    """Digital accumulator ``chi`` + threshold pulses.

    Parameters
    ----------
    layers : AnalogLinear or sequence of them
    lr : float
        Learning rate (weight units per unit gradient).
    max_pulses : int, optional
        Cap of pulses per device and step (the remainder stays in ``chi``).

    Attributes
    ----------
    chi_ : list of Tensor
        The accumulators (normalised weight units), one per layer.
    """

    def __init__(self, layers: Any, *, lr: float, max_pulses: int | None = None):
        self.layers = check_layers(layers)
        self.lr = check_positive(lr, "lr")
        self.max_pulses = None if max_pulses is None else check_int_range(max_pulses, "max_pulses", 1)
        self.chi_: list[torch.Tensor | None] = [None] * len(self.layers)

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor]) -> None:
        grads = check_grads(self.layers, grads)
        for i, (l, g) in enumerate(zip(self.layers, grads)):
            eps = l.config.update.dw_min
            chi = (-self.lr / float(l.w_max)) * g
            prev = self.chi_[i]
            if prev is not None:
                chi = prev + chi
            n = torch.trunc(chi / eps)
            if self.max_pulses is not None:
                n = n.clamp(-self.max_pulses, self.max_pulses)
            if bool((n != 0).any()):
                update_layer(l, n * (eps * float(l.w_max)), DeterministicPulses(), checked=True)
            self.chi_[i] = chi - n * eps
