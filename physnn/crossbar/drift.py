"""Conductance drift after programming, ``g(t) = g(t0) (t / t0)**-nu``, and global drift compensation.

Time convention (as aihwkit): ``t_inference`` counts from the end of programming and the drift law
is evaluated at ``t = t_inference + t0``, where ``t0`` is the time of the first read-out after
programming; ``t_inference = 0`` leaves ``g`` unchanged. Drift only lowers a conductance (nu >= 0),
so drifted conductances stay in ``[0, g]`` — below ``g_min`` is possible and physical.

Drift exponents ``nu`` are sampled once per device at programming (:func:`sample_drift_exponents`):

* ``"power_law"`` — ``nu = |nu_mean + nu_std * n|``.
* ``"pcm_lognormal"`` — the PCM fit of Nandakumar et al. (ICECS 2019,
  doi:10.1109/ICECS46596.2019.8964852) as used by aihwkit's ``PCMLikeNoiseModel``: with
  ``l = ln(max(|g| / g_ref, 1e-7))``, ``mu = clip(a0 l + a1, mu_min, mu_max)``,
  ``sd = clip(b0 l + b1, sd_min, sd_max)`` and ``nu = |mu + sd * n|`` (a folded normal).

Both are multiplied by ``scale`` (aihwkit's ``drift_scale``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import torch

from ._common import as_tensor_input, nonneg_float, randn_like
from .params import AbstractDeviceEffect, param

__all__ = [
    "Drift",
    "DriftModel",
    "drift_exponent_stats",
    "sample_drift_exponents",
    "apply_drift",
    "drift_readout_input",
    "global_drift_compensation",
]

#: the drift models (``Drift.model``)
DriftModel = Literal["power_law", "pcm_lognormal"]
_MODELS: tuple[str, ...] = get_args(DriftModel)
_ZERO_CLIP = 1e-7  # floor of g/g_ref inside the log (zero conductance -> finite exponent statistics)


def _pair(v: Any, name: str) -> tuple[float, float]:
    if v is None or len(v) != 2:
        raise ValueError(f"{name}={v!r}: the pcm_lognormal model needs two coefficients (slope, offset)")
    a, b = (float(x) for x in v)
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"{name}={v!r}: must be finite")
    return a, b


@dataclass(frozen=True)
class Drift(AbstractDeviceEffect):
    """Drift configuration.

    Parameters
    ----------
    model : {"power_law", "pcm_lognormal"}
    t0 : float
        Time (s) of the first read-out after programming, > 0.
    nu, nu_std : float
        power_law: mean and device-to-device std of the exponent (>= 0).
    g_ref : float
        pcm_lognormal: conductance (S) normalising ``g`` inside the logs.
    nu_mean_coeffs, nu_std_coeffs : (float, float)
        pcm_lognormal: ``(slope, offset)`` of mean / std of nu vs ``ln(g / g_ref)``.
    nu_mean_min, nu_mean_max, nu_std_min, nu_std_max : float
        pcm_lognormal: clip bounds of the mean / std.
    scale : float
        Multiplier of the sampled exponents (>= 0).
    """

    card_section = "drift"
    card_doc = "conductance decay g(t) = g(t0) (t/t0)^-nu after programming"

    model: DriftModel = param(
        "power_law", units=None, kind="str", choices=_MODELS, card_required=True, long_name="drift model"
    )
    t0: float = param(
        20.0,
        units="s",
        lo=0.0,
        lo_open=True,
        card_required=True,
        long_name="first read after programming",
        doc="time of the programming read-out",
    )
    nu: float | None = param(None, units="1", lo=0.0, long_name="drift exponent", doc="power_law: mean drift exponent")
    nu_std: float = param(
        0.0, units="1", lo=0.0, long_name="drift exponent spread", doc="power_law: device-to-device std of nu"
    )
    g_ref: float | None = param(
        None,
        units="S",
        lo=0.0,
        lo_open=True,
        long_name="drift reference conductance",
        doc="pcm_lognormal: conductance unit inside the logs",
    )
    nu_mean_coeffs: tuple[float, float] | None = param(
        None,
        units="1",
        kind="vector",
        check=False,
        long_name="coefficients of the mean drift exponent",
        doc="mean nu = c0 ln(g/g_ref) + c1",
    )
    nu_mean_min: float = param(0.0, units="1", lo=0.0, long_name="lower clip of the mean drift exponent")
    nu_mean_max: float = param(
        math.inf, units="1", lo=0.0, allow_inf=True, long_name="upper clip of the mean drift exponent"
    )
    nu_std_coeffs: tuple[float, float] | None = param(
        None,
        units="1",
        kind="vector",
        check=False,
        long_name="coefficients of the drift exponent spread",
        doc="std nu = c0 ln(g/g_ref) + c1",
    )
    nu_std_min: float = param(0.0, units="1", lo=0.0, long_name="lower clip of the drift exponent spread")
    nu_std_max: float = param(
        math.inf, units="1", lo=0.0, allow_inf=True, long_name="upper clip of the drift exponent spread"
    )
    scale: float = param(1.0, units="1", lo=0.0, card=None, long_name="drift scale factor")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.model == "power_law":
            if self.nu is None:
                raise ValueError("nu: the power_law model needs the mean drift exponent nu")
            return
        if self.g_ref is None:
            raise ValueError(f"g_ref={self.g_ref!r}: the pcm_lognormal model needs g_ref > 0 S")
        object.__setattr__(self, "nu_mean_coeffs", _pair(self.nu_mean_coeffs, "nu_mean_coeffs"))
        object.__setattr__(self, "nu_std_coeffs", _pair(self.nu_std_coeffs, "nu_std_coeffs"))
        for lo, hi in (("nu_mean_min", "nu_mean_max"), ("nu_std_min", "nu_std_max")):
            if not getattr(self, hi) >= getattr(self, lo):
                raise ValueError(f"{lo}={getattr(self, lo)!r}, {hi}={getattr(self, hi)!r}: need 0 <= {lo} <= {hi}")

    @classmethod
    def from_card(cls, card: Any, **overrides: Any) -> "Drift":
        """From the ``[drift]`` section of a card (missing optional fields keep their defaults)."""
        return super().from_card(card, **overrides)


def drift_exponent_stats(g: torch.Tensor, cfg: Drift) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of the (unfolded) normal that nu is drawn from, per entry of ``g``."""
    # (Drift.__post_init__: the fields of the model in use are not None)
    if cfg.model == "power_law":
        return torch.full_like(g, cast(float, cfg.nu)), torch.full_like(g, cfg.nu_std)
    lg = torch.log(torch.clamp(g.abs() / cast(float, cfg.g_ref), min=_ZERO_CLIP))
    a0, a1 = cast("tuple[float, float]", cfg.nu_mean_coeffs)
    b0, b1 = cast("tuple[float, float]", cfg.nu_std_coeffs)
    mu = torch.clamp(a0 * lg + a1, cfg.nu_mean_min, cfg.nu_mean_max)
    sd = torch.clamp(b0 * lg + b1, cfg.nu_std_min, cfg.nu_std_max)
    return mu, sd


def sample_drift_exponents(g: torch.Tensor, cfg: Drift, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Drift exponents nu (>= 0, dimensionless), one independent draw per entry of ``g``.

    ``g`` are the target conductances (S) at programming, any shape (leading ensemble dim
    allowed). The result carries no gradient.
    """
    if not isinstance(cfg, Drift):
        raise TypeError(f"cfg: expected a Drift, got {type(cfg).__name__}")
    g = as_tensor_input(g, "g")
    with torch.no_grad():
        mu, sd = drift_exponent_stats(g, cfg)
        if cfg.model == "power_law" and cfg.nu_std == 0:
            return mu * cfg.scale
        return (mu + sd * randn_like(g, generator)).abs() * cfg.scale


def _check_time(t_inference: float | torch.Tensor) -> float | torch.Tensor:
    if isinstance(t_inference, torch.Tensor):
        as_tensor_input(t_inference, "t_inference")
        if bool((t_inference < 0).any()):
            raise ValueError("t_inference: must be >= 0 s (time since programming)")
        return t_inference
    return nonneg_float(t_inference, "t_inference")


def apply_drift(
    g: torch.Tensor, nu: torch.Tensor | float, t_inference: float | torch.Tensor, cfg: Drift
) -> torch.Tensor:
    """Drifted conductances ``g ((t_inference + t0) / t0)**-nu``.

    Parameters
    ----------
    g : Tensor
        Programmed conductances (S).
    nu : Tensor or float
        Drift exponents (>= 0), broadcastable to ``g`` (e.g. from :func:`sample_drift_exponents`).
    t_inference : float or Tensor
        Time since programming in s (>= 0); a tensor broadcastable to ``g`` gives one time per
        entry (e.g. per ensemble member, shape ``(E, 1, 1)``).
    cfg : Drift
        Provides ``t0``.

    Returns
    -------
    Tensor
        Differentiable in ``g`` (and ``nu``).
    """
    if not isinstance(cfg, Drift):
        raise TypeError(f"cfg: expected a Drift, got {type(cfg).__name__}")
    g = as_tensor_input(g, "g")
    t = _check_time(t_inference)
    if isinstance(nu, torch.Tensor):
        as_tensor_input(nu, "nu")
        if bool((nu < 0).any()):
            raise ValueError("nu: drift exponents must be >= 0")
    else:
        nu = nonneg_float(nu, "nu")
    if not isinstance(t, torch.Tensor):
        if t == 0:
            return g
        return (
            g * torch.exp(-nu * math.log1p(t / cfg.t0))
            if isinstance(nu, torch.Tensor)
            else g * math.exp(-nu * math.log1p(t / cfg.t0))
        )
    return g * torch.exp(-nu * torch.log1p(t.to(g.dtype) / cfg.t0))


def drift_readout_input(
    in_features: int, *, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """Read-out inputs of the global drift compensation: the ``in_features`` one-hot vectors
    (identity matrix, as aihwkit's ``GlobalDriftCompensation``), shape ``(in, in)``."""
    if isinstance(in_features, bool) or not isinstance(in_features, int) or in_features < 1:
        raise ValueError(f"in_features={in_features!r}: must be an integer >= 1")
    return torch.eye(in_features, dtype=dtype, device=device)


def global_drift_compensation(
    y_reference: torch.Tensor, y_drifted: torch.Tensor, *, ensemble_dims: int = 0, min_readout: float = 1e-4
) -> torch.Tensor:
    """Scalar compensation factor per array: ``alpha = mean|y_reference| / mean|y_drifted|``.

    The reads are the array's outputs for the same read-out inputs (see
    :func:`drift_readout_input`), once right after programming (``y_reference``) and once at the
    inference time (``y_drifted``). Multiplying later outputs by ``alpha`` undoes the average
    conductance decay. Each mean is floored at ``min_readout`` (as aihwkit, which floors at 1e-4).

    Parameters
    ----------
    y_reference, y_drifted : Tensor
        Same shape; the first ``ensemble_dims`` dimensions index independent arrays.
    ensemble_dims : int
        Number of leading dimensions kept (one factor per ensemble member); 0 -> one scalar.

    Returns
    -------
    Tensor
        Shape ``y.shape[:ensemble_dims]`` padded with singleton dims to ``y.dim()`` so that it
        broadcasts against outputs of the same rank. No gradient.
    """
    y_reference = as_tensor_input(y_reference, "y_reference")
    y_drifted = as_tensor_input(y_drifted, "y_drifted")
    if y_reference.shape != y_drifted.shape:
        raise ValueError(
            f"y_drifted: shape {tuple(y_drifted.shape)} differs from y_reference {tuple(y_reference.shape)}"
        )
    if (
        isinstance(ensemble_dims, bool)
        or not isinstance(ensemble_dims, int)
        or not 0 <= ensemble_dims < y_reference.dim()
    ):
        raise ValueError(f"ensemble_dims={ensemble_dims!r}: must be an integer in [0, {y_reference.dim() - 1}]")
    if not min_readout > 0:
        raise ValueError(f"min_readout={min_readout!r}: must be > 0")
    dims = tuple(range(ensemble_dims, y_reference.dim()))
    with torch.no_grad():
        ref = y_reference.abs().mean(dim=dims, keepdim=True).clamp(min=min_readout)
        cur = y_drifted.abs().mean(dim=dims, keepdim=True).clamp(min=min_readout)
        return ref / cur
