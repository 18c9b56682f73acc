"""Backprop training of SFQ networks through their bias currents (the model-based path; the
model-free trainers of :mod:`physnn.training` use ``physical_bounds()`` instead)."""

from __future__ import annotations

import torch

from ..random import check_generator
from .layers import SFQLayer

__all__ = ["random_layer", "fit_biases"]


def random_layer(n_in: int, n_out: int, curves, generator: torch.Generator | None = None, **kw) -> SFQLayer:
    """An :class:`SFQLayer` whose bias currents are uniform over the middle 80 % of their ranges,
    drawn from ``generator`` (None: torch's global generator)."""
    generator = check_generator(generator)
    slo, shi = curves.synapse.bias_range_A
    fan_in = kw["connections"].shape[1] if "connections" in kw else n_in
    nlo, nhi = curves.neuron(fan_in).bias_range_A

    def u(*sh):
        return 0.1 + 0.8 * torch.rand(sh, generator=generator, dtype=torch.float64)

    return SFQLayer(
        n_in,
        n_out,
        curves=curves,
        synapse_bias_A=slo + (shi - slo) * u(n_out, fan_in),
        neuron_bias_A=nlo + (nhi - nlo) * u(n_out),
        **kw,
    )


def fit_biases(
    net,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int = 300,
    lr_A: float = 3e-6,
    margin: float = 0.15,
    margin_weight: float = 0.5,
):
    """Adam on the bias currents (step ``lr_A`` amperes), projected into the physical ranges after
    every step. Loss: binary cross-entropy of the output pulse probability, plus ``margin_weight``
    times the same at global bias scales ``1 -+ margin`` (trains for bias margin). Returns the
    final loss."""
    opt = torch.optim.Adam(net.parameters(), lr=lr_A)
    loss = None
    for _ in range(steps):
        loss = torch.nn.functional.binary_cross_entropy(net(x).clamp(1e-6, 1 - 1e-6), y)
        if margin:
            for s in (1 - margin, 1 + margin):
                loss = loss + margin_weight * torch.nn.functional.binary_cross_entropy(
                    net(x, bias_scale=s).clamp(1e-6, 1 - 1e-6), y
                )
        opt.zero_grad()
        loss.backward()
        opt.step()
        net.clamp_biases_()
    return float(loss.detach())
