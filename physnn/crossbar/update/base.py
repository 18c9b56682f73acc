"""Pulsed device update: the common part of every step model.

A *pulse* moves the state ``w`` of one device by a step that depends on the state and on the
direction. States and steps are in **normalised weight units** (dimensionless): for a
bidirectional device (ECRAM, RRAM) ``w`` is the cross-point weight in units of the conductance
swing, ``w = (g_plus - g_minus) / (g_max - g_min)``, so the natural bounds are ``[-1, 1]``; for a
SET-only device (PCM) ``w = (g - g_min) / (g_max - g_min)`` of one device of the pair, bounds
``[0, 1]``. This is aihwkit's convention (weights bounded by ``w_min``/``w_max`` of order 1).

Parameters common to every model (:class:`AbstractUpdateModel`):

* ``dw_min``: nominal step of one pulse (normalised units); the number of states of a symmetric
  constant-step device is ``(w_max - w_min) / dw_min``;
* ``up_down``: up/down imbalance, ``dw_up = dw_min (1 + up_down)``, ``dw_down = dw_min (1 - up_down)``
  (aihwkit's ``up_down``);
* ``w_min``, ``w_max``: bounds (normalised units);
* ``dw_min_std``: cycle-to-cycle noise, each pulse's step is multiplied by ``1 + dw_min_std * xi``,
  ``xi ~ N(0, 1)`` (aihwkit ``mult_noise=True``);
  with ``c2c_additive`` the noise is ``dw_min_std * dw_up * xi`` (or ``dw_down``), independent of the
  state (aihwkit ``mult_noise=False``);
* device-to-device spread, sampled once per device by :meth:`AbstractUpdateModel.sample_params`:
  ``dw_min_dtod`` (relative std of ``dw_min``), ``up_down_dtod`` (absolute std of ``up_down``),
  ``w_max_dtod`` / ``w_min_dtod`` (relative std of ``w_max`` / ``w_min``), ``gamma_dtod``
  (relative std of the shape parameters ``gamma_up``/``gamma_down``);
* ``set_only``: the device is switched in one direction only (PCM SET); a down pulse is refused;
  ``reset_value``: state after a RESET (:func:`reset`); ``refresh_threshold``: state above which a
  pair of SET-only devices is refreshed; ``endurance``: pulses a device survives.

:func:`apply_pulses` is the pure update function, batched over any leading dimensions (the
ensemble dimension leads): ``n_pulses_signed`` pulses per device (positive: up), one after the
other; devices with different counts are updated together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar, NamedTuple

import torch

from ..._checks import check_finite
from ...random import check_generator
from ..params import AbstractDeviceEffect, param, params_from_card

__all__ = [
    "AbstractUpdateModel",
    "PulseParams",
    "apply_pulses",
    "apply_pulses_unchecked",
    "finite_fast",
    "reset",
    "symmetry_point",
    "step_size",
]


class PulseParams(NamedTuple):
    """Per-device parameters of a step model (one tensor per quantity, all of the device shape).

    Attributes
    ----------
    model : AbstractUpdateModel
        The model (step law, noise).
    dw_up, dw_down : Tensor
        Step scales of an up / down pulse (normalised units, >= 0).
    w_min, w_max : Tensor
        Bounds (normalised units).
    gamma_up, gamma_down : Tensor
        Shape parameters of the step law (meaning per model; unused by the constant step).
    """

    model: Any
    dw_up: torch.Tensor
    dw_down: torch.Tensor
    w_min: torch.Tensor
    w_max: torch.Tensor
    gamma_up: torch.Tensor
    gamma_down: torch.Tensor

    @property
    def shape(self) -> torch.Size:
        return self.dw_up.shape

    def take(self, idx: torch.Tensor) -> "PulseParams":
        """Parameters of the devices at flat indices ``idx`` (not ``index``: that is the tuple's own method)."""
        return PulseParams(self.model, *(t.reshape(-1)[idx] for t in self[1:]))


def _num(v: float, name: str, *, lo: float, hi: float) -> None:
    # the checks whose bounds are other fields (the fixed ranges are in the fields' metadata)
    if not lo <= v <= hi:
        raise ValueError(f"{name}={v!r}: must be finite and in [{lo:g}, {hi:g}]")


def _u(default: Any, long_name: str, doc: str, **kw: Any) -> Any:
    """A dimensionless (normalised weight units) parameter of an update model, on the ``[update]`` card section."""
    return param(default, units="1", long_name=long_name, doc=doc, **kw)


@dataclass(frozen=True, kw_only=True)
class AbstractUpdateModel(AbstractDeviceEffect):
    """Common parameters of a pulsed step model (see the module doc; normalised weight units).

    Subclasses give the step law: :meth:`up_step` / :meth:`down_step` (magnitudes, >= 0) of
    states ``w`` for per-device parameters ``p``. Every number is declared once with its unit,
    range and card key (:func:`physnn.crossbar.params.param`): the validation, :meth:`from_card`
    and the card schema's ``[update]`` section are derived from it.
    """

    dw_min: float = _u(
        0.001,
        "nominal step of one pulse",
        "nominal step of one pulse (normalised)",
        lo=0.0,
        lo_open=True,
        card_required=True,
    )
    up_down: float = _u(
        0.0,
        "up/down imbalance",
        "up/down imbalance: dw_up = dw_min (1 + up_down), dw_down = dw_min (1 - up_down)",
        lo=-1.0,
        hi=1.0,
        lo_open=True,
        hi_open=True,
    )
    # the bounds' signs are checked in __post_init__ (w_min <= 0 < w_max, with a message naming both)
    w_min: float = _u(-1.0, "lower bound of the state", "lower bound of the state (normalised)", hi=0.0, check=False)
    w_max: float = _u(
        1.0, "upper bound of the state", "upper bound of the state (normalised)", lo=0.0, lo_open=True, check=False
    )
    gamma_up: float = _u(0.0, "shape of the up step", "shape of the up step (slope, rate or exponent by model)")
    gamma_down: float = _u(0.0, "shape of the down step", "shape of the down step")
    dw_min_std: float = _u(0.0, "cycle-to-cycle spread of a step", "cycle-to-cycle relative std of a step", lo=0.0)
    dw_min_dtod: float = _u(0.0, "device-to-device spread of dw_min", "device-to-device relative std of dw_min", lo=0.0)
    up_down_dtod: float = _u(0.0, "device-to-device spread of up_down", "device-to-device std of up_down", lo=0.0)
    w_max_dtod: float = _u(0.0, "device-to-device spread of w_max", "device-to-device relative std of w_max", lo=0.0)
    w_min_dtod: float = _u(0.0, "device-to-device spread of w_min", "device-to-device relative std of w_min", lo=0.0)
    gamma_dtod: float = _u(
        0.0, "device-to-device spread of gamma", "device-to-device relative std of gamma_up/down", lo=0.0
    )
    # on the card as ``noise = "additive" | "multiplicative"`` and ``direction`` (see card_keys)
    c2c_additive: bool = param(False, units=None, kind="bool", card=None, long_name="additive cycle-to-cycle noise")
    set_only: bool = param(False, units=None, kind="bool", card=None, long_name="one-sided (SET-only) device")
    reset_value: float | None = _u(None, "state after a RESET", "state after a RESET (normalised)")
    refresh_threshold: float | None = _u(
        None,
        "refresh threshold of a SET-only pair",
        "set_only: state at which a pair is refreshed",
        lo=0.0,
        lo_open=True,
    )
    endurance: float | None = _u(
        None, "programming pulses a device survives", "programming pulses a device survives", lo=1.0, sweep=False
    )

    card_section: ClassVar[str | None] = "update"
    card_doc: ClassVar[str] = (
        "pulsed update of one device (learning in place, physnn.crossbar.update); states and "
        "steps in normalised weight units: conductance change / (g_max - g_min)"
    )
    #: card ``[update].model`` name of the class
    card_model: ClassVar[str | None] = ""
    #: card keys that stand for no one field (read by :meth:`from_card`): their schema entries
    card_keys: ClassVar[dict[str, dict[str, Any]]] = {
        "direction": dict(
            units=None,
            kind="str",
            choices=("bidirectional", "set_only"),
            doc="set_only: one-sided (PCM SET) devices used as a pair with refresh",
        ),
        "noise": dict(
            units=None,
            kind="str",
            choices=("multiplicative", "additive"),
            doc="cycle-to-cycle noise: relative to the step (aihwkit mult_noise) or to dw_min",
        ),
    }

    def __post_init__(self) -> None:
        if type(self) is AbstractUpdateModel:
            raise TypeError(
                "AbstractUpdateModel is abstract: use ConstantStep, LinearStep, SoftBounds, ExpStep or PowStep"
            )
        super().__post_init__()  # every field's own range (its metadata)
        for name in ("w_min", "w_max"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise (ValueError if isinstance(v, float) else TypeError)(f"{name}={v!r}: expected a finite number")
        if self.w_min >= self.w_max:
            raise ValueError(f"w_min={self.w_min!r}: must be < w_max={self.w_max!r}")
        if not self.w_min <= 0.0 < self.w_max:
            raise ValueError(
                f"w_min={self.w_min!r}, w_max={self.w_max!r}: the bounds must enclose 0 (w_min <= 0 < w_max)"
            )
        if not self.set_only and self.w_min >= 0:
            raise ValueError(
                f"w_min={self.w_min!r}: a bidirectional device needs w_min < 0 (set set_only=True "
                "for a one-sided device)"
            )
        if self.dw_min >= self.w_max - self.w_min:
            raise ValueError(f"dw_min={self.dw_min!r}: must be smaller than the range w_max - w_min")
        if self.reset_value is not None:
            _num(self.reset_value, "reset_value", lo=self.w_min, hi=self.w_max)
        if self.refresh_threshold is not None:
            if not self.set_only:
                raise ValueError("refresh_threshold: only a set_only device is refreshed")
            _num(self.refresh_threshold, "refresh_threshold", lo=0.0, hi=self.w_max)

    # -- step law (subclasses) ----------------------------------------------------------------
    def up_step(self, w: torch.Tensor, p: PulseParams) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def down_step(self, w: torch.Tensor, p: PulseParams) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def closed_form(self, w: torch.Tensor, n: torch.Tensor, p: PulseParams) -> torch.Tensor | None:
        """State after ``n`` noise-free pulses (signed) in closed form, or None if the model has none."""
        return None

    # -- derived ------------------------------------------------------------------------------
    @property
    def states(self) -> float:
        """Number of states ``(w_max - w_min) / dw_min`` (of the nominal device)."""
        return (self.w_max - self.w_min) / self.dw_min

    def replace(self, **changes: Any) -> "AbstractUpdateModel":
        """A copy with ``changes`` (``dataclasses.replace``)."""
        return replace(self, **changes)

    @classmethod
    def from_card(cls, card: Any, **overrides: Any) -> "AbstractUpdateModel":
        """The model of a card's ``[update]`` section (its ``model`` must be this class's).

        ``direction = "set_only"`` on the card sets ``set_only=True``, ``noise = "additive"``
        sets ``c2c_additive=True``. ``overrides``: any field.
        """
        from ...cards import load_card

        card = load_card(card)
        if "update" not in card:
            raise ValueError(f"card: {card.name!r} has no [update] section (it cannot be trained in place)")
        sec = card["update"]
        if sec["model"] != cls.card_model:
            raise ValueError(
                f"card: [update].model of {card.name!r} is {sec['model']!r}, not {cls.card_model!r} "
                f"({cls.__name__}); use physnn.crossbar.update.update_model_from_card"
            )
        kw = {
            "set_only": sec.get("direction", "bidirectional") == "set_only",
            "c2c_additive": sec.get("noise", "multiplicative") == "additive",
        }
        return cls(**params_from_card(cls, card, **{**kw, **overrides}))

    def sample_params(
        self,
        shape: tuple[int, ...] | torch.Size,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
    ) -> PulseParams:
        """Per-device parameters of ``shape`` devices (ensemble dimension leading), drawn once.

        Every parameter gets its device-to-device spread (Gaussian; steps clipped at 0, bounds
        kept on their side of 0).
        """
        check_generator(generator)
        shape = tuple(shape)
        kw = {"dtype": dtype, "device": device}

        def gauss(rel: float) -> torch.Tensor:
            if rel == 0:
                return torch.zeros(shape, **kw)
            return torch.randn(shape, generator=generator, **kw) * rel

        dw = (self.dw_min * (1.0 + gauss(self.dw_min_dtod))).clamp(min=0.0)
        ud = (self.up_down + gauss(self.up_down_dtod)).clamp(-1.0, 1.0)
        w_max = (self.w_max * (1.0 + gauss(self.w_max_dtod))).clamp(min=0.05 * self.w_max)
        w_min = self.w_min * (1.0 + gauss(self.w_min_dtod))
        w_min = w_min.clamp(max=0.05 * self.w_min) if self.w_min < 0 else w_min.zero_()
        g_up = self.gamma_up * (1.0 + gauss(self.gamma_dtod))
        g_dn = self.gamma_down * (1.0 + gauss(self.gamma_dtod))
        dw_up = dw * (1.0 + ud)
        dw_down = torch.zeros_like(dw) if self.set_only else dw * (1.0 - ud)
        return PulseParams(self, dw_up, dw_down, w_min, w_max, g_up, g_dn)

    def nominal_params(
        self, shape: tuple[int, ...] | torch.Size = (), *, dtype: torch.dtype = torch.float32, device: Any = None
    ) -> PulseParams:
        """Parameters of ``shape`` identical nominal devices (no spread)."""
        return (
            self.replace(dw_min_dtod=0.0, up_down_dtod=0.0, w_max_dtod=0.0, w_min_dtod=0.0, gamma_dtod=0.0)
            .sample_params(shape, dtype=dtype, device=device)
            ._replace(model=self)
        )


def finite_fast(x: torch.Tensor, name: str) -> None:
    """``check_finite`` with a one-reduction fast path (a finite sum means every entry is finite;
    otherwise the full check gives the message, and a finite array whose sum overflows passes)."""
    if x.is_floating_point() and not bool(torch.isfinite(x.sum())):
        check_finite(x, name)


def step_size(w: torch.Tensor, params: PulseParams, direction: int) -> torch.Tensor:
    """Noise-free magnitude of one pulse at states ``w`` (``direction`` +1: up, -1: down)."""
    m = params.model
    return m.up_step(w, params) if direction > 0 else m.down_step(w, params)


def _check(w: torch.Tensor, n: torch.Tensor, params: PulseParams) -> torch.Tensor:
    if not isinstance(params, PulseParams):
        raise TypeError(f"params: expected PulseParams (model.sample_params(...)), got {type(params).__name__}")
    if not isinstance(w, torch.Tensor) or not w.is_floating_point():
        raise TypeError(f"w: expected a floating-point tensor, got {type(w).__name__}")
    finite_fast(w, "w")
    if not isinstance(n, torch.Tensor):
        n = torch.as_tensor(n)
    if n.is_floating_point():
        finite_fast(n, "n_pulses_signed")
        if not bool((n == n.round()).all()):
            raise ValueError("n_pulses_signed: pulse counts must be whole numbers")
    elif n.dtype == torch.bool or n.is_complex():
        raise TypeError(f"n_pulses_signed: expected integer counts, got dtype {n.dtype}")
    n = n.to(torch.int64)
    try:
        shape = torch.broadcast_shapes(w.shape, n.shape)
    except RuntimeError:
        raise ValueError(f"n_pulses_signed: shape {tuple(n.shape)} does not broadcast to w {tuple(w.shape)}") from None
    if shape != w.shape:
        raise ValueError(f"n_pulses_signed: shape {tuple(n.shape)} does not broadcast to w {tuple(w.shape)}")
    if params.shape != w.shape:
        raise ValueError(f"params: device shape {tuple(params.shape)} differs from w {tuple(w.shape)}")
    n = n.expand(w.shape)
    if params.model.set_only and bool((n < 0).any()):
        raise ValueError(
            "n_pulses_signed: a set_only device takes no down pulses (use a pair of devices, "
            "one per sign, with refresh)"
        )
    return n


def apply_pulses(
    w: torch.Tensor, n_pulses_signed: torch.Tensor, params: PulseParams, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """States after ``n_pulses_signed`` pulses per device (positive up, negative down).

    Parameters
    ----------
    w : Tensor, shape (E?, ...)
        Device states (normalised weight units).
    n_pulses_signed : Tensor of int, broadcastable to ``w``
        Pulses per device; a device gets its pulses one after the other.
    params : PulseParams
        From ``model.sample_params(w.shape, generator=...)``.
    generator : torch.Generator, optional
        Cycle-to-cycle noise draws.

    Returns
    -------
    Tensor
        New states, clipped to each device's ``[w_min, w_max]``; ``w`` is not modified.

    Notes
    -----
    Without cycle-to-cycle noise a model with a closed form (constant, linear step, soft
    bounds) is evaluated in one pass (proven equal to the pulse-by-pulse loop in the tests).
    Otherwise the devices that get pulses are gathered and stepped ``max |n|`` times.
    """
    check_generator(generator)
    n = _check(w, n_pulses_signed, params)
    return apply_pulses_unchecked(w, n, params, generator=generator)


def apply_pulses_unchecked(
    w: torch.Tensor, n: torch.Tensor, params: PulseParams, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """:func:`apply_pulses` without the argument checks (``n``: int64 of ``w``'s shape; for
    callers that checked already)."""
    model = params.model
    if model.dw_min_std == 0:
        out = model.closed_form(w, n, params)
        if out is not None:
            return out
    return _pulse_loop(w, n, params, generator)


def _pulse_loop(w: torch.Tensor, n: torch.Tensor, params: PulseParams, generator) -> torch.Tensor:
    """Reference evaluation: one pulse after the other on the devices with ``n != 0``."""
    model = params.model
    out = w.clone()
    idx = n.reshape(-1).nonzero().squeeze(1)
    if idx.numel() == 0:
        return out
    nf = n.reshape(-1)[idx]
    p = params.take(idx)
    up = nf > 0
    left = nf.abs()
    wf = out.reshape(-1)[idx]
    std = model.dw_min_std
    for k in range(int(left.max())):
        act = left > k
        step = torch.where(up, model.up_step(wf, p), -model.down_step(wf, p))
        if std > 0:
            xi = std * torch.randn(wf.shape, generator=generator, dtype=wf.dtype, device=wf.device)
            if model.c2c_additive:
                step = step + xi * torch.where(up, p.dw_up, p.dw_down)
            else:
                step = step * (1.0 + xi)
        wf = torch.where(act, torch.minimum(torch.maximum(wf + step, p.w_min), p.w_max), wf)
    out.reshape(-1)[idx] = wf
    return out


def reset(w: torch.Tensor, params: PulseParams, mask: torch.Tensor | None = None) -> torch.Tensor:
    """States after a RESET of the devices in ``mask`` (all if None): ``model.reset_value``
    (default: ``w_min`` of a set-only device, 0 of a bidirectional one)."""
    m = params.model
    if m.reset_value is not None:
        target = torch.full_like(w, m.reset_value)
    else:
        target = params.w_min.to(w.dtype).expand_as(w).clone() if m.set_only else torch.zeros_like(w)
    target = torch.minimum(torch.maximum(target, params.w_min), params.w_max)
    return target if mask is None else torch.where(mask, target, w)


def symmetry_point(params: PulseParams, *, iterations: int = 60) -> torch.Tensor:
    """Per-device symmetry point: the state where an up and a down pulse have equal size
    (bisection; up steps fall and down steps rise with ``w`` in every model). A device whose
    up step exceeds its down step everywhere returns ``w_max`` (and vice versa ``w_min``)."""
    m = params.model
    if m.set_only:
        raise ValueError("params: a set_only device has no symmetry point (it takes no down pulses)")
    lo, hi = params.w_min.clone(), params.w_max.clone()
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        f = m.up_step(mid, params) - m.down_step(mid, params)
        lo = torch.where(f > 0, mid, lo)
        hi = torch.where(f > 0, hi, mid)
    return 0.5 * (lo + hi)
