"""Output analog-to-digital converter: saturate at ``±y_max`` and quantise to ``2**bits - 1`` levels."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._common import SymmetricLevels, as_tensor_input, positive_scale, symmetric_quantize
from .params import param

__all__ = ["ADC", "adc"]


@dataclass(frozen=True)
class ADC(SymmetricLevels):
    """Output ADC.

    Parameters
    ----------
    bits : int
        Resolution, >= 2: ``2**bits - 1`` levels symmetric about 0 (8 bits -> step
        ``2 y_max / 254``, aihwkit's ``out_res = 1/254`` with ``out_bound = y_max``).
    y_max : float
        Saturation level (> 0) in the unit of the output (normalised, or A).
    """

    bits: int = param(units="bit", kind="int", lo=2, hi=31, card=None, long_name="ADC resolution")
    y_max: float = param(
        1.0, units="1", lo=0.0, lo_open=True, card=None, long_name="ADC saturation level (config output units)"
    )

    _full_scale = "y_max"


def adc(y: torch.Tensor, cfg: ADC, *, y_max: float | torch.Tensor | None = None, check: bool = True) -> torch.Tensor:
    """Saturate ``y`` at ``±y_max`` and quantise to ``cfg.levels`` symmetric levels.

    Parameters
    ----------
    y : Tensor
        Analog outputs (any shape), finite.
    cfg : ADC
    y_max : float or Tensor, optional
        Override of ``cfg.y_max`` (> 0), broadcastable to ``y``.

    check : bool
        Validate ``y`` (finite floating tensor). Turn off inside a training loop once the
        caller has checked its input (saves a pass and, on GPU, a synchronisation).

    Returns
    -------
    Tensor
        Digitised output. Gradient: identity inside ``(-y_max, y_max)`` (straight-through),
        zero in saturation.
    """
    if not isinstance(cfg, ADC):
        raise TypeError(f"cfg: expected an ADC, got {type(cfg).__name__}")
    if check:
        y = as_tensor_input(y, "y")
    bound = cfg.y_max if y_max is None else positive_scale(y_max, "y_max")
    return symmetric_quantize(y, cfg.bits, bound)
