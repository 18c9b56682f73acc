"""Analog SGD: every gradient step written directly onto the weight array as pulses.

``W <- W - lr * grad`` with ``n = round(-lr grad / dw_min)`` pulses per device (or stochastic
pulse trains of the outer product ``x ⊗ delta``, :meth:`AnalogSGD.step_outer`), the way aihwkit's
``AnalogSGD`` drives a single-device tile. Device asymmetry and saturation act on every step, so
updates of random sign drift each weight towards its device's symmetry point (Gokmen & Haensch,
Front. Neurosci. 14:103, 2020).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from ..._checks import check_positive
from ._optim import check_grads, check_layers
from .layer_update import update_layer
from .rules import AbstractUpdateRule, DeterministicPulses

__all__ = ["AnalogSGD"]


class AnalogSGD:
    """Plain SGD on :class:`~physnn.crossbar.AnalogLinear` layers, written as pulses.

    Parameters
    ----------
    layers : AnalogLinear or sequence of them
    lr : float
        Learning rate (weight units per unit gradient).
    rule : AbstractUpdateRule
        Default ``DeterministicPulses(stochastic_rounding=True)``.
    """

    def __init__(self, layers: Any, *, lr: float, rule: AbstractUpdateRule | None = None):
        self.layers = check_layers(layers)
        self.lr = check_positive(lr, "lr")
        self.rule = DeterministicPulses(stochastic_rounding=True) if rule is None else rule
        if not isinstance(self.rule, AbstractUpdateRule):
            raise TypeError(f"rule: expected an update rule, got {type(self.rule).__name__}")

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor]) -> None:
        """One step from weight gradients (one per layer, weight units)."""
        if not isinstance(self.rule, DeterministicPulses):
            raise TypeError("rule: step(grads) needs DeterministicPulses; StochasticPulses use step_outer(xs, deltas)")
        grads = check_grads(self.layers, grads)
        for l, g in zip(self.layers, grads):
            update_layer(l, -self.lr * g, self.rule, checked=True)

    @torch.no_grad()
    def step_outer(self, xs: Sequence[torch.Tensor], deltas: Sequence[torch.Tensor]) -> None:
        """One step from the layer inputs ``x`` (B, in) and output gradients ``delta`` (B, out):
        the gradient is ``delta^T x``."""
        for l, x, d in zip(self.layers, xs, deltas):
            l.update_outer(x, -d, lr=self.lr, rule=self.rule)
