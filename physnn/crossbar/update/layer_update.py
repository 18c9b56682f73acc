"""Pulsed writes of an :class:`~physnn.crossbar.AnalogLinear`: the engine of ``layer.update``.

The array's programmed conductances are the device states. With a bidirectional device the
cross-point (a differential pair) is one device of state ``w = (g_plus - g_minus) / swing``
(aihwkit's view); with a SET-only device (PCM) each device of the pair has its own state
``u = (g - g_min) / swing``: positive changes pulse ``g_plus``, negative ones ``g_minus``, and a pair
whose larger device passes ``refresh_threshold`` is *refreshed* (both RESET, the weight written
back on one device, as Nandakumar et al., Front. Neurosci. 14:406, 2020).

Counters (attributes of the layer, not in the ``state_dict``): ``pulses_`` (int64, pulses per
cross-point ``(E?, out, in)`` for a bidirectional device, per device ``(E?, 2, out, in)`` for a
SET-only pair), ``refreshes_`` (refresh events per pair,
``(E?, out, in)``), ``update_params_`` (the per-device :class:`PulseParams`, drawn at the first
update from the layer's generator). Every check runs before any state changes: a refused update
leaves the array as it was.
"""

from __future__ import annotations

from typing import Any, cast

import torch

from ..._checks import check_positive
from ...random import check_generator
from ..mapping import DifferentialPair
from .base import AbstractUpdateModel, PulseParams, apply_pulses_unchecked, finite_fast, reset
from .rules import AbstractUpdateRule, DeterministicPulses, StochasticPulses, outer_pulse_counts, pulse_counts

__all__ = ["update_layer", "update_layer_outer", "device_states", "pulsed_state", "load_pulsed_state"]


def _model(layer) -> AbstractUpdateModel:
    cfg = layer.config
    model = cfg.update
    if model is None:
        raise ValueError(
            "config.update: the layer's device has no update model (a card without an [update] "
            "section cannot be trained in place; give CrossbarConfig(update=...))"
        )
    if not isinstance(cfg.mapping, DifferentialPair):
        raise ValueError(f"config.mapping: pulsed updates need a DifferentialPair, got {type(cfg.mapping).__name__}")
    return model


def device_states(layer) -> torch.Tensor:
    """Device states of a programmed layer (normalised units): bidirectional ``(E?, out, in)``,
    SET-only ``(E?, 2, out, in)`` (``g_plus``, ``g_minus`` devices)."""
    model = _model(layer)
    if not layer.is_programmed:
        layer.program()
    r = layer.config.range
    g = layer.g_prog
    if model.set_only:
        return (g - r.g_min) * (1.0 / r.swing)
    dim = 0 if layer.ensemble is None else 1
    return (g.select(dim, 0) - g.select(dim, 1)) * (1.0 / r.swing)


def pulsed_state(layer) -> dict:
    """A copy of everything a pulsed layer holds: its ``state_dict`` tensors (programmed
    conductances included), the counters ``pulses_`` / ``refreshes_`` and the per-device step
    parameters ``update_params_`` (None where absent). :func:`load_pulsed_state` restores it
    (a checkpoint, or rolling back a refused write)."""
    p = getattr(layer, "update_params_", None)
    return {
        "layer": {k: v.clone() for k, v in layer.state_dict().items() if isinstance(v, torch.Tensor)},
        "pulses": None if getattr(layer, "pulses_", None) is None else layer.pulses_.clone(),
        "refreshes": None if getattr(layer, "refreshes_", None) is None else layer.refreshes_.clone(),
        "params": None if p is None else tuple(t.clone() for t in p[1:]),
    }


def load_pulsed_state(layer, state: dict) -> None:
    """Restore a :func:`pulsed_state` into ``layer`` (same shapes and ``config.update``)."""
    layer.load_state_dict(state["layer"], strict=False)
    layer.pulses_ = None if state["pulses"] is None else state["pulses"].clone()
    layer.refreshes_ = None if state["refreshes"] is None else state["refreshes"].clone()
    layer.update_params_ = (
        None if state["params"] is None else PulseParams(layer.config.update, *(t.clone() for t in state["params"]))
    )


def _params(layer, model: AbstractUpdateModel, shape, gen) -> PulseParams:
    p = getattr(layer, "update_params_", None)
    if p is None or p.model != model or tuple(p.shape) != tuple(shape):
        p = model.sample_params(shape, generator=gen, dtype=layer.g_prog.dtype, device=layer.g_prog.device)
    return p


def _shape_delta(layer, delta: Any, name: str, checked: bool = False) -> torch.Tensor:
    if not isinstance(delta, torch.Tensor) or not delta.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got {type(delta).__name__}")
    if not checked:
        finite_fast(delta, name)
    want = (layer.out_features, layer.in_features)
    full = want if layer.ensemble is None else (layer.ensemble, *want)
    if tuple(delta.shape) not in (want, full):
        raise ValueError(
            f"{name}: expected shape {want}"
            + ("" if layer.ensemble is None else f" or {full}")
            + f", got {tuple(delta.shape)}"
        )
    return delta.detach().to(layer.g_prog.dtype).expand(full)


def _check_endurance(layer, model, added: torch.Tensor) -> None:
    if model.endurance is None:
        return
    done = getattr(layer, "pulses_", None)
    total = added if done is None else done + added
    worst = int(total.max()) if total.numel() else 0
    if worst > model.endurance:
        raise ValueError(
            f"delta_w: this update would take a device to {worst} pulses, past the endurance "
            f"{model.endurance:g} pulses of config.update (the array is unchanged)"
        )


def _write(layer, model, p, states: torch.Tensor, up: torch.Tensor, down: torch.Tensor | None, gen) -> torch.Tensor:
    """Apply the pulse counts and write back. ``down`` None: ``up`` holds signed counts (one
    train per device); else ``up`` and ``down`` (>= 0) are applied one after the other."""
    E = layer.ensemble
    dim = 0 if E is None else 1
    r = layer.config.range
    if down is None:
        net = up
        if model.set_only:
            up, down = up.clamp(min=0), (-up).clamp(min=0)
    else:
        net = up - down
    if model.set_only:
        n = torch.stack((up, cast(torch.Tensor, down)), dim)  # up pulses on g+, "down" as SET of g- (set above)
        _check_endurance(layer, model, n)
        u = apply_pulses_unchecked(states, n, p, generator=gen)
        refresh = torch.zeros(up.shape, dtype=torch.bool, device=up.device)
        if model.refresh_threshold is not None:
            refresh = torch.maximum(u.select(dim, 0), u.select(dim, 1)) > model.refresh_threshold
            if bool(refresh.any()):
                w = u.select(dim, 0) - u.select(dim, 1)
                m2 = torch.stack((refresh, refresh), dim)
                u0 = reset(u, p, m2)
                wp = torch.where(refresh, u0.select(dim, 0) + w.clamp(min=0), u0.select(dim, 0))
                wm = torch.where(refresh, u0.select(dim, 1) + (-w).clamp(min=0), u0.select(dim, 1))
                u = torch.minimum(torch.stack((wp, wm), dim), p.w_max)
        g = r.g_min + r.swing * u
        pulses = n
    else:
        if down is None:  # one signed train per device
            pulses = net.abs()
            _check_endurance(layer, model, pulses)
            w = apply_pulses_unchecked(states, net, p, generator=gen)
        else:  # up pulses, then down pulses
            pulses = up + down
            _check_endurance(layer, model, pulses)
            w = apply_pulses_unchecked(states, up, p, generator=gen)
            w = apply_pulses_unchecked(w, -down, p, generator=gen)
        g = torch.empty((2, *w.shape), dtype=w.dtype, device=w.device)
        torch.clamp(w, min=0, out=g[0])
        torch.clamp(w.neg_(), min=0, out=g[1])  # (w is ours: a fresh tensor)
        g.mul_(r.swing).add_(r.g_min)
        if E is not None:
            g = g.movedim(0, 1)
        refresh = None
    layer.update_params_ = p
    if getattr(layer, "pulses_", None) is None or layer.pulses_.shape != pulses.shape:
        layer.pulses_ = pulses.clone()
    else:
        layer.pulses_ += pulses
    if refresh is not None:
        rc = refresh.to(torch.int64)
        layer.refreshes_ = rc if getattr(layer, "refreshes_", None) is None else layer.refreshes_ + rc
    layer.write_conductances(g.to(layer.g_prog.dtype), generator=gen, check=False)
    return net


@torch.no_grad()
def update_layer(
    layer,
    delta_w: torch.Tensor,
    rule: AbstractUpdateRule | None = None,
    *,
    generator: torch.Generator | None = None,
    checked: bool = False,
) -> torch.Tensor:
    """Write the weight change ``delta_w`` (weight units, ``(out, in)`` or ``(E, out, in)``) as
    pulses; returns the signed pulse counts applied per cross-point (``(E?, out, in)``).
    ``checked=True``: the caller checked ``delta_w`` for NaN/inf already (the optimizers do,
    for all layers before touching any)."""
    rule = DeterministicPulses() if rule is None else rule
    if not isinstance(rule, DeterministicPulses):
        raise TypeError(
            f"rule: layer.update takes DeterministicPulses (StochasticPulses needs the outer-product "
            f"factors: layer.update_outer), got {type(rule).__name__}"
        )
    model = _model(layer)
    gen = layer.generator if generator is None else check_generator(generator)
    if not layer.is_programmed:
        layer.program()
    dw = _shape_delta(layer, delta_w, "delta_w", checked=checked)
    states = device_states(layer)
    p = _params(layer, model, states.shape, gen)
    n = pulse_counts(dw, model.dw_min * float(layer.w_max), rule, generator=gen)
    return _write(layer, model, p, states, n, None, gen)


@torch.no_grad()
def update_layer_outer(
    layer,
    x: torch.Tensor,
    d: torch.Tensor,
    *,
    lr: float,
    rule: AbstractUpdateRule | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Write ``lr * d^T x`` (weight units; ``x`` (E?, B, in) layer inputs, ``d`` (E?, B, out)) as
    pulses: :class:`StochasticPulses` trains (up pulses applied before down pulses) or, with
    :class:`DeterministicPulses`, the rounded product. Returns the net signed pulse counts."""
    rule = StochasticPulses() if rule is None else rule
    model = _model(layer)
    lr = check_positive(lr, "lr")
    for name, t, f in (("x", x, layer.in_features), ("d", d, layer.out_features)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{name}: expected a floating-point tensor, got {type(t).__name__}")
        if t.dim() not in (2, 3) or t.shape[-1] != f or (t.dim() == 3 and t.shape[0] != layer.ensemble):
            raise ValueError(
                f"{name}: expected shape (B, {f})"
                + ("" if layer.ensemble is None else f" or ({layer.ensemble}, B, {f})")
                + f", got {tuple(t.shape)}"
            )
        finite_fast(t, name)
    if x.shape[-2] != d.shape[-2]:
        raise ValueError(f"d: batch {d.shape[-2]} differs from x's {x.shape[-2]}")
    if isinstance(rule, DeterministicPulses):
        return update_layer(layer, lr * (d.transpose(-2, -1) @ x), rule, generator=generator)
    if not isinstance(rule, StochasticPulses):
        raise TypeError(f"rule: expected DeterministicPulses or StochasticPulses, got {type(rule).__name__}")
    gen = layer.generator if generator is None else check_generator(generator)
    if not layer.is_programmed:
        layer.program()
    states = device_states(layer)
    p = _params(layer, model, states.shape, gen)
    dt = layer.g_prog.dtype
    up, down = outer_pulse_counts(
        x.detach().to(dt),
        d.detach().to(dt),
        lr / float(layer.w_max),
        model.dw_min,
        rule,
        ensemble=layer.ensemble,
        generator=gen,
    )
    return _write(layer, model, p, states, up, down, gen)
