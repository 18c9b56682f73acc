"""Programming noise: the residual error of a programmed (write-verified) conductance.

Drawn once per programming event. Models (``sigma`` in S, ``g`` the target conductance):

* ``"polynomial"`` — ``sigma(g) = (g_max / g_max_reference) * sum_k c_k (g / g_max)**k``, the form
  of aihwkit's ``PCMLikeNoiseModel`` (Nandakumar et al., ICECS 2019,
  doi:10.1109/ICECS46596.2019.8964852) whose coefficients ``c_k`` (in S) were fitted at
  ``g_max_reference``; the prefactor rescales the noise when the device is used with another
  ``g_max``.
* ``"relative"`` — ``sigma = sigma_rel * |g|``.
* ``"absolute"`` — ``sigma = sigma_abs``.

``g_prog = g + scale * sigma(g) * n``, ``n ~ N(0, 1)`` independent per entry, then clamped at
``>= 0`` (a conductance cannot be negative; same as aihwkit). The result may therefore leave
``[g_min, g_max]`` upward or downward (write-verify residual) but never goes below 0 S.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import torch

from ._common import as_tensor_input, randn_like
from .params import AbstractDeviceEffect, param

__all__ = ["ProgrammingNoise", "ProgrammingNoiseModel", "programming_noise_std", "apply_programming_noise"]

#: the programming-noise models (``ProgrammingNoise.model``)
ProgrammingNoiseModel = Literal["polynomial", "relative", "absolute"]
_MODELS: tuple[str, ...] = get_args(ProgrammingNoiseModel)


@dataclass(frozen=True)
class ProgrammingNoise(AbstractDeviceEffect):
    """Programming-noise configuration.

    Parameters
    ----------
    model : {"polynomial", "relative", "absolute"}
    coefficients : tuple of float
        Polynomial coefficients ``c_0, c_1, …`` in S (polynomial model).
    sigma_rel : float
        Relative std (relative model), dimensionless, >= 0.
    sigma_abs : float
        Absolute std in S (absolute model), >= 0.
    g_max : float
        Conductance (S) that normalises ``g`` inside the polynomial (polynomial model).
    scale : float
        Multiplier of the noise std (aihwkit's ``prog_noise_scale``), >= 0.
    g_max_reference : float, optional
        ``g_max`` (S) at which ``coefficients`` were fitted; default ``g_max`` (no rescaling).
    """

    card_section = "programming_noise"
    card_doc = "error of a programmed conductance (write-verify residual), drawn once per programming"

    model: ProgrammingNoiseModel = param(
        "polynomial", units=None, kind="str", choices=_MODELS, card_required=True, long_name="programming-noise model"
    )
    coefficients: tuple[float, ...] | None = param(
        None,
        units="S",
        kind="vector",
        long_name="programming-noise polynomial coefficients",
        doc="polynomial: sigma(g) = sum_k c_k (g/g_max)^k (aihwkit PCMLikeNoiseModel form)",
    )
    sigma_rel: float | None = param(
        None, units="1", lo=0.0, long_name="relative programming-noise std", doc="relative: sigma = sigma_rel * g"
    )
    sigma_abs: float | None = param(
        None, units="S", lo=0.0, long_name="absolute programming-noise std", doc="absolute: sigma = sigma_abs"
    )
    g_max: float | None = param(
        None,
        units="S",
        lo=0.0,
        lo_open=True,
        card="conductance.g_max",
        long_name="conductance normalising the polynomial",
    )
    scale: float = param(1.0, units="1", lo=0.0, card=None, long_name="programming-noise scale factor")
    g_max_reference: float | None = param(
        None, units="S", lo=0.0, lo_open=True, card="conductance.g_max", long_name="g_max of the polynomial fit"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.model == "polynomial":
            if self.coefficients is None or len(self.coefficients) == 0:
                raise ValueError("coefficients: the polynomial model needs at least one coefficient (S)")
            if self.g_max is None:
                raise ValueError("g_max: the polynomial model needs g_max (S)")
        elif self.model == "relative":
            if self.sigma_rel is None:
                raise ValueError("sigma_rel: the relative model needs sigma_rel")
        else:
            if self.sigma_abs is None:
                raise ValueError("sigma_abs: the absolute model needs sigma_abs (S)")

    @classmethod
    def from_card(cls, card: Any, **overrides: Any) -> "ProgrammingNoise":
        """From the ``[programming_noise]`` section of a card; ``g_max`` and ``g_max_reference``
        default to the card's ``[conductance].g_max`` (the conductance scale of the fit)."""
        return super().from_card(card, **overrides)


def programming_noise_std(g: torch.Tensor, cfg: ProgrammingNoise) -> torch.Tensor:
    """Std (S) of the programmed conductance around target ``g`` (before ``scale``)."""
    # (ProgrammingNoise.__post_init__: the fields of the model in use are not None)
    if cfg.model == "polynomial":
        g_max, coefficients = cast(float, cfg.g_max), cast("tuple[float, ...]", cfg.coefficients)
        x = g / g_max
        sig = torch.full_like(g, coefficients[-1])
        for c in reversed(coefficients[:-1]):  # Horner scheme (few coefficients)
            sig = sig * x + c
        ref = g_max if cfg.g_max_reference is None else cfg.g_max_reference
        return sig * (g_max / ref)
    if cfg.model == "relative":
        return cast(float, cfg.sigma_rel) * g.abs()
    return torch.full_like(g, cast(float, cfg.sigma_abs))


def apply_programming_noise(
    g: torch.Tensor, cfg: ProgrammingNoise, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Programmed conductances: ``max(g + scale * sigma(g) * n, 0)``.

    Parameters
    ----------
    g : Tensor
        Target conductances in S, any shape; give a leading ensemble dimension (see
        :func:`expand_ensemble`) to draw ``E`` independent device instances in one call.
    cfg : ProgrammingNoise
    generator : torch.Generator, optional
        Source of randomness (on ``g.device``).

    Returns
    -------
    Tensor
        Same shape as ``g``. Gradient w.r.t. ``g``: identity (the noise term is treated as a
        constant; zero where clamped at 0).
    """
    if not isinstance(cfg, ProgrammingNoise):
        raise TypeError(f"cfg: expected a ProgrammingNoise, got {type(cfg).__name__}")
    g = as_tensor_input(g, "g")
    with torch.no_grad():
        noise = (cfg.scale * programming_noise_std(g, cfg)) * randn_like(g, generator)
    return torch.clamp(g + noise, min=0.0)
