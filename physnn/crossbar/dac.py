"""Input digital-to-analog converter: clip to ``±x_max`` and quantise to ``2**bits - 1`` levels."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._common import SymmetricLevels, as_tensor_input, positive_scale, symmetric_quantize
from .params import param

__all__ = ["DAC", "dac"]


@dataclass(frozen=True)
class DAC(SymmetricLevels):
    """Input DAC.

    Parameters
    ----------
    bits : int
        Resolution, >= 2: ``2**bits - 1`` levels symmetric about 0 (step ``x_max / (2**(bits-1) - 1)``;
        8 bits -> step ``2 x_max / 254`` like aihwkit's ``inp_res = 1/254``).
    x_max : float
        Full-scale input (> 0), in the unit of the input (normalised, or V).
    """

    bits: int = param(units="bit", kind="int", lo=2, hi=31, card=None, long_name="DAC resolution")
    x_max: float = param(1.0, units="1", lo=0.0, lo_open=True, card=None, long_name="DAC full-scale input")

    _full_scale = "x_max"


def dac(x: torch.Tensor, cfg: DAC, *, x_max: float | torch.Tensor | None = None, check: bool = True) -> torch.Tensor:
    """Clip ``x`` to ``[-x_max, x_max]`` and quantise to ``cfg.levels`` symmetric levels.

    Parameters
    ----------
    x : Tensor
        Inputs (any shape), finite.
    cfg : DAC
    x_max : float or Tensor, optional
        Override of ``cfg.x_max``, e.g. a per-sample range of shape ``(..., 1)`` (dynamic input
        scaling); must be > 0.

    check : bool
        Validate ``x`` (finite floating tensor). Turn off inside a training loop once the
        caller has checked its input (saves a pass and, on GPU, a synchronisation).

    Returns
    -------
    Tensor
        Quantised input. Gradient: identity inside ``(-x_max, x_max)`` (straight-through
        estimator), zero where clipped.
    """
    if not isinstance(cfg, DAC):
        raise TypeError(f"cfg: expected a DAC, got {type(cfg).__name__}")
    if check:
        x = as_tensor_input(x, "x")
    bound = cfg.x_max if x_max is None else positive_scale(x_max, "x_max")
    return symmetric_quantize(x, cfg.bits, bound)
