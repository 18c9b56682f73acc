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

import math
from dataclasses import dataclass
from typing import Any

import torch

from ._common import as_tensor_input, nonneg_float, randn_like

__all__ = ["ProgrammingNoise", "programming_noise_std", "apply_programming_noise"]

_MODELS = ("polynomial", "relative", "absolute")


@dataclass(frozen=True)
class ProgrammingNoise:
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

    model: str = "polynomial"
    coefficients: tuple[float, ...] | None = None
    sigma_rel: float | None = None
    sigma_abs: float | None = None
    g_max: float | None = None
    scale: float = 1.0
    g_max_reference: float | None = None

    def __post_init__(self) -> None:
        if self.model not in _MODELS:
            raise ValueError(f"model={self.model!r}: must be one of {_MODELS}")
        object.__setattr__(self, "scale", nonneg_float(self.scale, "scale"))
        if self.model == "polynomial":
            if self.coefficients is None or len(self.coefficients) == 0:
                raise ValueError("coefficients: the polynomial model needs at least one coefficient (S)")
            coeffs = tuple(float(c) for c in self.coefficients)
            if not all(math.isfinite(c) for c in coeffs):
                raise ValueError(f"coefficients={self.coefficients!r}: must be finite")
            object.__setattr__(self, "coefficients", coeffs)
            if self.g_max is None:
                raise ValueError("g_max: the polynomial model needs g_max (S)")
            for name in ("g_max", "g_max_reference"):
                v = getattr(self, name)
                if v is not None:
                    v = nonneg_float(v, name)
                    if v == 0:
                        raise ValueError(f"{name}=0: must be > 0 S")
                    object.__setattr__(self, name, v)
        elif self.model == "relative":
            if self.sigma_rel is None:
                raise ValueError("sigma_rel: the relative model needs sigma_rel")
            object.__setattr__(self, "sigma_rel", nonneg_float(self.sigma_rel, "sigma_rel"))
        else:
            if self.sigma_abs is None:
                raise ValueError("sigma_abs: the absolute model needs sigma_abs (S)")
            object.__setattr__(self, "sigma_abs", nonneg_float(self.sigma_abs, "sigma_abs"))

    @classmethod
    def from_card(cls, card: Any, **overrides: Any) -> "ProgrammingNoise":
        """From the ``[programming_noise]`` section of a card; ``g_max`` and ``g_max_reference``
        default to the card's ``[conductance].g_max`` (the conductance scale of the fit)."""
        from ..cards import load_card

        card = load_card(card)
        sec = card["programming_noise"]
        g_max = card["conductance"]["g_max"]
        kw: dict[str, Any] = dict(model=sec["model"], coefficients=sec.get("coefficients"),
                                  sigma_rel=sec.get("sigma_rel"), sigma_abs=sec.get("sigma_abs"),
                                  g_max=g_max, g_max_reference=g_max)
        kw.update(overrides)
        return cls(**kw)


def programming_noise_std(g: torch.Tensor, cfg: ProgrammingNoise) -> torch.Tensor:
    """Std (S) of the programmed conductance around target ``g`` (before ``scale``)."""
    if cfg.model == "polynomial":
        x = g / cfg.g_max
        sig = torch.full_like(g, cfg.coefficients[-1])
        for c in reversed(cfg.coefficients[:-1]):  # Horner scheme (few coefficients)
            sig = sig * x + c
        ref = cfg.g_max if cfg.g_max_reference is None else cfg.g_max_reference
        return sig * (cfg.g_max / ref)
    if cfg.model == "relative":
        return cfg.sigma_rel * g.abs()
    return torch.full_like(g, cfg.sigma_abs)


def apply_programming_noise(g: torch.Tensor, cfg: ProgrammingNoise, *,
                            generator: torch.Generator | None = None) -> torch.Tensor:
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
