"""Read noise of a device conductance.

Models (``n ~ N(0, 1)`` independent per entry and per call):

* ``"one_over_f"`` — accumulated 1/f noise of the PCM fit of Nandakumar et al. (ICECS 2019,
  doi:10.1109/ICECS46596.2019.8964852) as in aihwkit's ``PCMLikeNoiseModel``:
  ``Q = min(q_coeff / max((|g_q| / g_ref)**q_exponent, 1e-3), q_max)``,
  ``sigma = Q sqrt(ln((t + t_read) / (2 t_read)))`` with ``t = t_inference + t0``, and
  ``g_read = g + scale |g| sigma n``. ``g_q`` is the conductance that sets ``Q`` (aihwkit uses the
  programmed, not yet drifted, conductance: pass it as ``g_programmed``). For ``t <= t_read`` the
  log is <= 0 and no noise is added.
* ``"gaussian"`` — ``g_read = g + scale sigma_rel |g| n``.

The result is clamped at ``>= 0`` (as aihwkit); it may exceed ``g_max``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import torch

from ._common import as_tensor_input, nonneg_float, randn_like
from .params import AbstractDeviceEffect, param, params_from_card

__all__ = ["ReadNoise", "ReadNoiseModel", "read_noise_std", "apply_read_noise"]

#: the read-noise models (``ReadNoise.model``)
ReadNoiseModel = Literal["one_over_f", "gaussian"]
_MODELS: tuple[str, ...] = get_args(ReadNoiseModel)
_Q_FLOOR = 1e-3  # floor of (g/g_ref)**q_exponent, as in the aihwkit implementation of the fit


@dataclass(frozen=True)
class ReadNoise(AbstractDeviceEffect):
    """Read-noise configuration.

    Parameters
    ----------
    model : {"one_over_f", "gaussian"}
    t_read : float
        one_over_f: integration time of one read in s (> 0).
    g_ref : float
        one_over_f: conductance (S) normalising ``g`` in ``Q``.
    q_coeff, q_exponent, q_max : float
        one_over_f: ``Q = min(q_coeff (g/g_ref)**-q_exponent, q_max)``.
    t0 : float
        one_over_f: time (s) of the first read after programming, added to ``t_inference``
        (take it from the drift model; :meth:`from_card` does).
    sigma_rel : float
        gaussian: relative std per read.
    scale : float
        Multiplier of the noise std (aihwkit's ``read_noise_scale``), >= 0.
    """

    card_section = "read_noise"
    card_doc = "noise of one read of a device"

    model: ReadNoiseModel = param(
        "gaussian", units=None, kind="str", choices=_MODELS, card_required=True, long_name="read-noise model"
    )
    t_read: float | None = param(
        None,
        units="s",
        lo=0.0,
        lo_open=True,
        long_name="read integration time",
        doc="one_over_f: integration time of a read",
    )
    g_ref: float | None = param(
        None,
        units="S",
        lo=0.0,
        lo_open=True,
        long_name="1/f noise reference conductance",
        doc="one_over_f: conductance unit of Q(g)",
    )
    q_coeff: float | None = param(
        None, units="1", lo=0.0, long_name="1/f noise coefficient", doc="one_over_f: Q = q_coeff (g/g_ref)^-q_exponent"
    )
    q_exponent: float | None = param(None, units="1", long_name="1/f noise exponent")
    q_max: float = param(
        math.inf,
        units="1",
        lo=0.0,
        allow_inf=True,
        long_name="maximum 1/f noise factor",
        doc="one_over_f: upper clamp of Q",
    )
    t0: float = param(0.0, units="s", lo=0.0, card=None, long_name="first read after programming")
    sigma_rel: float | None = param(
        None, units="1", lo=0.0, long_name="relative conductance read-noise std", doc="gaussian: sigma = sigma_rel * g"
    )
    scale: float = param(1.0, units="1", lo=0.0, card=None, long_name="conductance read-noise scale factor")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.model == "gaussian":
            if self.sigma_rel is None:
                raise ValueError("sigma_rel: the gaussian model needs sigma_rel")
            return
        for name in ("t_read", "g_ref", "q_coeff", "q_exponent"):
            if getattr(self, name) is None:
                raise ValueError(f"{name}: the one_over_f model needs {name}")

    @classmethod
    def from_card(cls, card: Any, **overrides: Any) -> "ReadNoise":
        """From the ``[read_noise]`` section; ``t0`` from ``[drift].t0`` when the card has it."""
        from ..cards import load_card

        card = load_card(card)
        kw = params_from_card(cls, card)
        t0 = card.get_value("drift", "t0")
        if kw["model"] == "one_over_f" and t0 is not None:
            kw["t0"] = t0
        kw.update(overrides)
        return cls(**kw)


def read_noise_std(
    g: torch.Tensor, cfg: ReadNoise, *, t_inference: float = 0.0, g_programmed: torch.Tensor | None = None
) -> torch.Tensor:
    """Relative std ``sigma`` (dimensionless; std of g is ``scale * sigma * |g|``) per entry."""
    # (ReadNoise.__post_init__: the fields of the model in use are not None)
    if cfg.model == "gaussian":
        return torch.full_like(g, cast(float, cfg.sigma_rel))
    q_coeff, g_ref, q_exponent = cast(float, cfg.q_coeff), cast(float, cfg.g_ref), cast(float, cfg.q_exponent)
    t_read = cast(float, cfg.t_read)
    g_q = g if g_programmed is None else g_programmed
    q = torch.clamp(q_coeff / torch.clamp((g_q.abs() / g_ref) ** q_exponent, min=_Q_FLOOR), max=cfg.q_max)
    t = float(t_inference) + cfg.t0
    log_term = math.log((t + t_read) / (2.0 * t_read)) if t > 0 else 0.0
    return q * math.sqrt(max(log_term, 0.0))


def apply_read_noise(
    g: torch.Tensor,
    cfg: ReadNoise,
    *,
    t_inference: float = 0.0,
    generator: torch.Generator | None = None,
    g_programmed: torch.Tensor | None = None,
    check: bool = True,
) -> torch.Tensor:
    """Conductances as seen by one read: ``max(g + scale sigma |g| n, 0)``.

    Parameters
    ----------
    g : Tensor
        Conductances (S) at read time (e.g. programmed and drifted), any shape.
    cfg : ReadNoise
    t_inference : float
        Time since programming in s (>= 0); used by the one_over_f model.
    generator : torch.Generator, optional
    g_programmed : Tensor, optional
        one_over_f: conductance that sets ``Q`` (default ``g``), broadcastable to ``g``.
    check : bool
        Validate ``g``; turn off inside a training loop once checked.

    Returns
    -------
    Tensor
        Same shape as ``g``; gradient w.r.t. ``g`` is identity (noise treated as constant).
    """
    if not isinstance(cfg, ReadNoise):
        raise TypeError(f"cfg: expected a ReadNoise, got {type(cfg).__name__}")
    if check:
        g = as_tensor_input(g, "g")
        if g_programmed is not None:
            as_tensor_input(g_programmed, "g_programmed")
    t_inference = nonneg_float(t_inference, "t_inference")
    with torch.no_grad():
        sig = read_noise_std(g, cfg, t_inference=t_inference, g_programmed=g_programmed)
        noise = (cfg.scale * sig) * g.abs() * randn_like(g, generator)
    return torch.clamp(g + noise, min=0.0)
