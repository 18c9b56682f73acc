"""Shared checks of the in-place optimizers (layers, gradients)."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from .base import finite_fast


def check_layers(layers: Any) -> list:
    from ..layer import AnalogLinear

    if isinstance(layers, AnalogLinear):
        layers = [layers]
    layers = list(layers)
    if not layers:
        raise ValueError("layers: need at least one AnalogLinear")
    for i, l in enumerate(layers):
        if not isinstance(l, AnalogLinear):
            raise TypeError(f"layers[{i}]: expected an AnalogLinear, got {type(l).__name__}")
        if l.config.update is None:
            raise ValueError(f"layers[{i}]: config.update is None (its device has no update model)")
    return layers


def check_grads(layers: list, grads: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Every gradient checked before any layer is touched (a refused step changes nothing)."""
    grads = list(grads)
    if len(grads) != len(layers):
        raise ValueError(f"grads: {len(grads)} gradients for {len(layers)} layers")
    out = []
    for i, (l, g) in enumerate(zip(layers, grads)):
        if not isinstance(g, torch.Tensor) or not g.is_floating_point():
            raise TypeError(f"grads[{i}]: expected a floating-point tensor, got {type(g).__name__}")
        want = (l.out_features, l.in_features)
        if tuple(g.shape[-2:]) != want or g.dim() not in (2, 3):
            raise ValueError(f"grads[{i}]: expected shape {want} (or (E, *{want})), got {tuple(g.shape)}")
        finite_fast(g, f"grads[{i}]")
        out.append(g.detach())
    return out
