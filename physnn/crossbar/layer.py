"""Analog crossbar linear layer: an explicit programming event, then cheap noisy reads.

:class:`AnalogLinear` is a drop-in ``nn.Linear`` whose matrix-vector product runs on a simulated
memristor crossbar configured by a :class:`~physnn.crossbar.CrossbarConfig`.

Programming (:meth:`AnalogLinear.program`) maps the float weights to conductances and draws
everything that is fixed once a device is written: programming noise, device-to-device and
cycle-to-cycle variation, stuck-at faults and drift exponents. :meth:`AnalogLinear.set_time`
moves the array to a time since programming: drift, the accumulated 1/f read noise (drawn once,
as aihwkit) and the global drift-compensation factor. All of it is module state: buffers in the
``state_dict`` (with the time since programming and the ensemble size), so a saved chip reloads
bit for bit.

A forward (a *read*) is one :class:`~physnn.crossbar.read.ReadSpec` — the programmed weights in
code units, the converters, the output noise and a fresh noise key drawn from the layer's
generator — evaluated by :func:`~physnn.crossbar.read.read`: the plain-torch
:func:`~physnn.crossbar.read.reference_read` or a faster back end proven equal to it
(``backend=`` on the layer, or :func:`~physnn.crossbar.read.use_backend`; default ``"auto"``).
:meth:`AnalogLinear.read_spec` exports the spec for compiled consumers (the RNN loops).

Ensembles: ``ensemble=E`` holds ``E`` independently drawn device instances of the same float
weights; a forward returns ``(E, ..., out)``. An input ``(..., in)`` is shared by the members;
an input ``(E, ..., in)`` gives each member its own input.

Hardware-aware training: in ``train()`` mode every forward draws a fresh programming of the
current float weights (noise injection) and passes gradients to the float weights by a
straight-through estimator; DAC and ADC use straight-through rounding.

Examples
--------
>>> import torch
>>> from physnn.crossbar import AnalogLinear
>>> from physnn.crossbar.config import aihwkit_preset
>>> layer = AnalogLinear(64, 10, config=aihwkit_preset(t_inference=3600.0), ensemble=8,
...                      generator=torch.Generator().manual_seed(0))
>>> _ = layer.eval().program()
>>> layer(torch.randn(5, 64)).shape
torch.Size([8, 5, 10])
"""

from __future__ import annotations

import math
import threading
from dataclasses import fields
from typing import Any

import torch
from torch import nn

from .._checks import check_finite, check_int_range
from ..random import check_generator
from .config import CrossbarConfig
from .drift import apply_drift, sample_drift_exponents
from .faults import apply_faults, sample_fault_masks
from .ir_drop import ir_drop_fast, solve_ir_drop_exact
from .iv import SinhIV
from .mapping import DifferentialPair, conductances_to_weights, quantize_levels, weights_to_conductances
from .params import hooked_effects
from .programming_noise import apply_programming_noise
from .read import ReadSpec, read
from .read_noise import apply_read_noise
from .variation import apply_cycle_variation, apply_device_variation

__all__ = ["AnalogLinear", "analog_linear", "draw_key", "per_member_input", "state_epoch"]

#: how many times any AnalogLinear changed what its reads see (programming, time, writes, a state
#: load, a new configuration) or built a new read spec; see :func:`state_epoch`
_EPOCH = [0]


def state_epoch() -> int:
    """A counter that increases whenever any :class:`AnalogLinear` in this process changes the
    conductances or constants its reads use (program, set_time, pulsed writes, a state-dict load,
    a new config) or builds a new :meth:`AnalogLinear.read_spec`. Caches of anything derived
    from the programmed devices stay valid while it is unchanged, provided every layer they cover
    was read (``read_spec``) since: a read re-programs a layer whose float weights were edited in
    place, which increases the counter (:class:`~physnn.crossbar.cost.CostRecorder` caches so)."""
    return _EPOCH[0]


def draw_key(generator: torch.Generator | None) -> int:
    """A 64-bit noise key (one draw from ``generator``; None: torch's global generator).

    The draw is ``torch.randint(-2**63, 2**63 - 1, ())`` reinterpreted as unsigned; it fills a
    reused per-thread, per-device 0-dim tensor (``random_`` with the same bounds: the same draw,
    without a fresh tensor per read, which cost about 8 us of a 512 x 512 read)."""
    dev = generator.device if generator is not None else torch.device("cpu")
    bufs = _KEY_BUFS.__dict__
    buf = bufs.get(dev)
    if buf is None:
        buf = bufs[dev] = torch.empty((), dtype=torch.int64, device=dev)
    return buf.random_(-(2**63), 2**63 - 1, generator=generator).item() & ((1 << 64) - 1)


_KEY_BUFS = threading.local()


# ---------------------------------------------------------------------------------------------
# Programming and time evolution (pure functions on a dict of tensors)
# ---------------------------------------------------------------------------------------------


def _check_weight(weight: torch.Tensor) -> None:
    if not isinstance(weight, torch.Tensor) or not weight.is_floating_point():
        raise TypeError(f"weight: expected a floating-point tensor, got {type(weight).__name__}")
    if weight.dim() != 2:
        raise ValueError(f"weight: expected shape (out_features, in_features), got {tuple(weight.shape)}")
    check_finite(weight, "weight")


def _program(
    weight: torch.Tensor,
    cfg: CrossbarConfig,
    ensemble: int | None,
    generator: torch.Generator | None,
    fixed: dict | None = None,
) -> dict:
    """One programming event of ``weight`` (no gradient). Returns the device state.

    ``fixed`` carries per-device draws that survive re-programming (d2d factors, fault masks).
    """
    w = weight.detach()
    if cfg.weight_clip is not None:
        w = w.clamp(-cfg.weight_clip, cfg.weight_clip)
    gain = None
    if cfg.w_max is not None:
        w_max = float(cfg.w_max)
    else:
        w_max = float(w.abs().max()) if w.numel() else 1.0
        w_max = w_max if w_max > 0 else 1.0
    if cfg.w_max_per_column:
        # channel-wise mapping: column j's largest |w| to the full swing; gain_j restores it digitally
        col = w.abs().amax(1) if w.numel() else torch.ones(w.shape[0], dtype=w.dtype, device=w.device)
        gain = torch.where(col > 0, col / w_max, torch.ones_like(col))  # (out,), in (0, 1]
        w = w / gain.unsqueeze(1)
    scheme = cfg.mapping
    rng = cfg.range
    lead = () if ensemble is None else (ensemble,)
    g_t = weights_to_conductances(w, scheme, w_max=w_max)  # (2, out, in) or (out, in)
    dp = isinstance(scheme, DifferentialPair)
    if not dp:  # reference column: one device per input row at mid-range
        ref = torch.full((1, w.shape[1]), scheme.reference_conductance, dtype=w.dtype, device=w.device)
        g_t = torch.cat((g_t, ref), 0)  # (out + 1, in), last row = reference
    g_t = quantize_levels(g_t, rng)
    g_t = g_t.expand(*lead, *g_t.shape) if lead else g_t  # independent draws per member
    g = g_t
    if cfg.programming_noise is not None:
        g = apply_programming_noise(g, cfg.programming_noise, generator=generator)
    fixed = {} if fixed is None else fixed
    if cfg.variation is not None:
        if cfg.variation.device_to_device_rel > 0:
            if "d2d" not in fixed or fixed["d2d"].shape != g.shape:
                fixed["d2d"] = apply_device_variation(torch.ones_like(g), cfg.variation, generator=generator)
            g = g * fixed["d2d"].to(g.device)
        if cfg.variation.cycle_to_cycle_rel > 0:
            g = apply_cycle_variation(g, cfg.variation, generator=generator)
    masks = None
    if cfg.faults is not None and (cfg.faults.stuck_on_rate > 0 or cfg.faults.stuck_off_rate > 0):
        if "faults" not in fixed or fixed["faults"][0].shape != g.shape:
            fixed["faults"] = sample_fault_masks(g.shape, cfg.faults, generator=generator, device=g.device)
        masks = tuple(m.to(g.device) for m in fixed["faults"])
        g = apply_faults(g, masks, rng)
    for eff in hooked_effects(cfg, "on_program"):
        g = eff.on_program(g, generator=generator)
    nu = None
    if cfg.drift is not None:
        nu = sample_drift_exponents(g_t, cfg.drift, generator=generator)
        if masks is not None:
            nu = nu.masked_fill(masks[0] | masks[1], 0.0)
    if g is g_t:
        g = g_t.clone()
    return {"g": g.contiguous(), "nu": nu, "w_max": w_max, "g_target": g_t, "fixed": fixed, "col_gain": gain}


def _conductances_at(state: dict, cfg: CrossbarConfig, t: float, generator, *, read_noise: bool) -> torch.Tensor:
    """Conductances at time ``t`` since programming: drift, then (optionally) one read-noise draw."""
    g = state["g"]
    if cfg.drift is not None and t > 0:
        g = apply_drift(g, state["nu"], t, cfg.drift)
    for eff in hooked_effects(cfg, "on_read"):
        g = eff.on_read(g, t, generator=generator)
    if read_noise and cfg.read_noise is not None:
        g = apply_read_noise(
            g, cfg.read_noise, t_inference=t, generator=generator, g_programmed=state["g"], check=False
        )
    return g


def _normalised_weights(
    g: torch.Tensor, cfg: CrossbarConfig, ensemble: int | None, col_gain: torch.Tensor | None = None
) -> torch.Tensor:
    """``(g+ - g-) / swing`` (differential pair) or ``2 (g - g_ref) / swing``: shape (E?, out, in);
    times the digital gain per column ``col_gain`` (out,) of a channel-wise mapping."""
    if isinstance(cfg.mapping, DifferentialPair):
        gg = g if ensemble is None else g.movedim(1, 0)  # (2, E, out, in)
        # conductances_to_weights(gg, cfg.mapping, w_max=1.0), without its finiteness check
        # (g is the layer's own state, checked when written)
        wn = (gg[0] - gg[1]) * (1.0 / cfg.mapping.range.swing)
    else:
        wn = conductances_to_weights(g[..., :-1, :], cfg.mapping, w_max=1.0, g_reference=g[..., -1:, :])
    return wn if col_gain is None else wn * col_gain.to(dtype=wn.dtype, device=wn.device).unsqueeze(1)


# ---------------------------------------------------------------------------------------------
# Read constants: config + programmed w_max -> a ReadSpec
# ---------------------------------------------------------------------------------------------


class _Units:
    """Unit conversions of the read path (from a config and the programmed ``w_max``)."""

    def __init__(self, cfg: CrossbarConfig, w_max: float = 1.0):
        d, a = cfg.dac, cfg.adc
        # output noise and ADC range are given in normalised units, or (aihwkit with
        # weight_scaling_omega = 0) in raw weight units: then divide by w_max
        unit = 1.0 / w_max if cfg.output_units == "weight" else 1.0
        self.step_in = d.step if d is not None else 1.0
        self.L = float(2 ** (d.bits - 1) - 1) if d is not None else None
        self.step_out = a.step * unit if a is not None else 1.0
        self.M = float(2 ** (a.bits - 1) - 1) if a is not None else None
        self.out_noise = cfg.out_noise * unit
        self.abs_max = cfg.input_scaling == "abs_max"
        # aihwkit stops halving the inputs once the reduction exceeds max_bm_res / inp_res = 0.25 / step
        self.max_red = min(1000.0, 0.25 / self.step_in) if d is not None else 1000.0
        self.x_ref = d.x_max if d is not None else 1.0

    def spec(
        self,
        cfg: CrossbarConfig,
        wn: torch.Tensor | None,
        scale: torch.Tensor,
        bias: torch.Tensor | None,
        *,
        g: torch.Tensor | None = None,
        ensemble: int | None = None,
    ) -> ReadSpec:
        """The spec of normalised weights ``wn`` (E?, out, in) or, with IR drop, conductances ``g``;
        ``scale``: output units per normalised output (per member)."""
        k = self.step_in / self.step_out
        ir = None
        if cfg.ir_drop is not None:
            ir = _IRRead(g, cfg, self, ensemble)
            out_f = g.shape[-2] - (0 if isinstance(cfg.mapping, DifferentialPair) else 1)
            shape = (*(() if ensemble is None else (ensemble,)), out_f, g.shape[-1])
            wn = torch.zeros(shape, dtype=g.dtype, device=g.device)  # shapes only
        sinh = cfg.iv if isinstance(cfg.iv, SinhIV) and ir is None else None
        return ReadSpec(
            weight=wn * k,
            scale=scale * self.step_out,
            bias=bias,
            in_step=self.step_in,
            in_levels=self.L,
            abs_max=self.abs_max,
            iv=sinh,
            v_read=cfg.v_read,
            x_ref=self.x_ref,
            noise_std=self.out_noise / self.step_out,
            adc_levels=self.M,
            bound_management=cfg.bound_management,
            max_reduction=self.max_red,
            ir=ir,
        )


class _IRRead:
    """The MVM of a read with wire resistance: a circuit solve of the conductances per input
    (replaces ``codes @ weight.T`` in :func:`~physnn.crossbar.read.mvm`)."""

    def __init__(self, g: torch.Tensor, cfg: CrossbarConfig, units: _Units, ensemble: int | None):
        self.g, self.cfg, self.u, self.E = g, cfg, units, ensemble

    def __call__(self, codes: torch.Tensor, members: torch.Tensor | None) -> torch.Tensor:
        cfg, u, g = self.cfg, self.u, self.g
        dp = isinstance(cfg.mapping, DifferentialPair)
        v = codes * (u.step_in * cfg.v_read / u.x_ref)  # (M, in) or (k, M, in)
        if self.E is not None:
            if members is not None:
                g = g.index_select(0, members)
            gd = (g.movedim(1, 0) if dp else g).unsqueeze(-3)  # DP (2, E, 1, out, in); RC (E, 1, out+1, in)
            if v.dim() == 2:
                v = v.unsqueeze(0)
        else:
            gd = g.unsqueeze(-3)
        ir = cfg.ir_drop
        if ir.exact:
            i_out = solve_ir_drop_exact(gd.double(), v.double(), ir.r_wire, r_col=ir.r_col, iv=cfg.iv).i_out
            i_out = i_out.to(codes.dtype)
        else:
            i_out = ir_drop_fast(
                gd, v, ir.r_wire, r_col=ir.r_col, iv=cfg.iv, iterations=ir.iterations, tol=ir.tol
            ).i_out
        i = i_out[0] - i_out[1] if dp else (i_out[..., :-1] - i_out[..., -1:]) * 2.0
        return i * (u.x_ref / (cfg.v_read * cfg.range.swing * u.step_out))


def per_member_input(x: torch.Tensor, ensemble: int | None, shared: bool | None) -> bool:
    """Whether ``x`` is a per-member input of a layer with ``ensemble`` members: ``shared`` as
    :class:`AnalogLinear`'s ``shared_input`` (None: per member when ``x`` has at least 3
    dimensions and a leading one of size ``ensemble``); a mismatch is a ``ValueError``."""
    if ensemble is None:
        if shared is False:
            raise ValueError("shared_input=False needs an ensemble layer")
        return False
    if shared is None:
        return x.dim() >= 3 and x.shape[0] == ensemble
    if not shared and (x.dim() < 2 or x.shape[0] != ensemble):
        raise ValueError(
            f"x: a per-member input needs leading dimension ensemble={ensemble}, got shape {tuple(x.shape)}"
        )
    return not shared


def _check_input(x: Any, in_features: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(
            f"x: expected a floating-point tensor, got {type(x).__name__}"
            + ("" if not isinstance(x, torch.Tensor) else f" of dtype {x.dtype}")
        )
    if x.dim() == 0 or x.shape[-1] != in_features:
        raise ValueError(f"x: last dimension must be in_features={in_features}, got shape {tuple(x.shape)}")
    return x


def _drift_alpha(wn_ref: torch.Tensor, wn_now: torch.Tensor, ensemble: int | None) -> torch.Tensor:
    """Noise-free global drift compensation: mean|W(t=0)| / mean|W(t)| per array (one-hot read-out)."""
    dims = (-2, -1)
    ref = wn_ref.abs().mean(dims).clamp(min=1e-4)
    cur = wn_now.abs().mean(dims).clamp(min=1e-4)
    return ref / cur


def _scale_tensor(post: Any, ensemble: int | None, like: torch.Tensor) -> torch.Tensor:
    """Output scale per member as a tensor of shape () or (E,) in ``like``'s dtype and device."""
    t = torch.as_tensor(post, dtype=like.dtype, device=like.device)
    return t.reshape(()) if ensemble is None else t.reshape(-1).expand(ensemble).contiguous()


# ---------------------------------------------------------------------------------------------
# Functional form
# ---------------------------------------------------------------------------------------------


def analog_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    config: CrossbarConfig,
    *,
    generator: torch.Generator | None = None,
    ensemble: int | None = None,
    t_inference: float | None = None,
    shared_input: bool | None = None,
    backend: str | None = None,
) -> torch.Tensor:
    """One programming of ``weight`` followed by one read of ``x`` (differentiable).

    Gradients reach ``x`` and ``bias`` exactly, and ``weight`` by a straight-through estimator
    (the programmed weights' deviation from ``weight`` is treated as a constant). Drift
    compensation, if on, uses the noise-free read-out. For repeated reads of the same
    programming use :class:`AnalogLinear`.

    Parameters
    ----------
    x : Tensor, shape (..., in) or (E, ..., in)
    weight : Tensor, shape (out, in)
    bias : Tensor, shape (out,), or None
    config : CrossbarConfig
    generator : torch.Generator, optional
        All draws (programming and read).
    ensemble : int, optional
        Number of device instances E (output gets a leading E dimension).
    t_inference : float, optional
        Time since programming (default ``config.t_inference``).
    backend : str, optional
        Read back end (see :func:`physnn.crossbar.read.read`).
    """
    if not isinstance(config, CrossbarConfig):
        raise TypeError(f"config: expected a CrossbarConfig, got {type(config).__name__}")
    check_generator(generator)
    _check_weight(weight)
    if ensemble is not None:
        check_int_range(ensemble, "ensemble", 1)
    x = _check_input(x, weight.shape[1])
    if bias is not None and (bias.dim() != 1 or bias.shape[0] != weight.shape[0]):
        raise ValueError(f"bias: expected shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    t = config.t_inference if t_inference is None else float(t_inference)
    per_member = per_member_input(x, ensemble, shared_input)
    w_eff, g_eff, post, w_max = _sample_train_weights(weight, config, ensemble, generator, t)
    spec = _Units(config, w_max).spec(
        config, w_eff, _scale_tensor(post, ensemble, weight), bias, g=g_eff, ensemble=ensemble
    )
    key = draw_key(generator) if spec.noise_std > 0 else 0
    return read(spec.with_key(key), x, per_member=per_member, backend=backend)


def _sample_train_weights(
    weight: torch.Tensor, cfg: CrossbarConfig, ensemble: int | None, generator, t: float
) -> tuple[torch.Tensor | None, torch.Tensor | None, Any, float]:
    """Fresh programming + time evolution, attached to ``weight`` by a straight-through estimator.

    Returns normalised weights (or conductances with IR drop), the output scale and ``w_max``.
    """
    with torch.no_grad():
        state = _program(weight, cfg, ensemble, generator)
        g_now = _conductances_at(state, cfg, t, generator, read_noise=True)
        wn_now = _normalised_weights(g_now, cfg, ensemble, state["col_gain"])
        alpha = 1.0
        if cfg.drift_compensation and cfg.drift is not None:
            wn0 = _normalised_weights(state["g"], cfg, ensemble, state["col_gain"])
            alpha = _drift_alpha(wn0, wn_now, ensemble)
    w_max = state["w_max"]
    post = w_max * alpha
    w_in = weight if cfg.weight_clip is None else weight.clamp(-cfg.weight_clip, cfg.weight_clip)
    if cfg.ir_drop is not None:
        dp = isinstance(cfg.mapping, DifferentialPair)
        g_tgt = weights_to_conductances(w_in, cfg.mapping, w_max=w_max)
        if not dp:
            g_tgt = torch.cat((g_tgt, torch.full_like(g_tgt[:1], cfg.mapping.reference_conductance)), 0)
        if ensemble is not None:
            g_tgt = g_tgt.unsqueeze(0)  # broadcast over members
        return None, g_tgt + (g_now - g_tgt).detach(), post, w_max
    wn_tgt = w_in / w_max
    return wn_tgt + (wn_now - wn_tgt).detach(), None, post, w_max


# ---------------------------------------------------------------------------------------------
# Module
# ---------------------------------------------------------------------------------------------

#: programmed state held as buffers (None where an effect is off or before programming)
_STATE = ("g_prog", "nu", "g_now", "d2d", "stuck_on", "stuck_off", "baseline", "alpha", "col_gain")


class AnalogLinear(nn.Module):
    """``nn.Linear`` computed on a simulated memristor crossbar.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Digital bias added after the ADC (as aihwkit's ``digital_bias``).
    config : CrossbarConfig
        Effects and periphery.
    ensemble : int, optional
        Number ``E`` of independent device instances (leading output dimension).
    generator : torch.Generator, optional
        Source of all draws (programming and reads) unless :meth:`program` / :meth:`set_time`
        get their own; stored as ``self.generator`` (None: torch's global generator).
    backend : str, optional
        Read back end (a name of :func:`physnn.crossbar.read.backends`, or ``"auto"``); None: the
        :func:`~physnn.crossbar.read.use_backend` context, default ``"auto"``.
    device, dtype
        Of the float parameters.

    Notes
    -----
    * The float ``weight``/``bias`` are the trainable parameters. The programmed devices are
      buffers saved in the ``state_dict``: ``g_prog`` (programmed conductances, S), ``nu``
      (drift exponents), ``g_now`` (conductances at ``t_inference_s``, with the read-noise state),
      ``d2d`` (device-to-device factors), ``stuck_on``/``stuck_off`` (fault maps), ``baseline``
      and ``alpha`` (drift compensation), ``col_gain`` (digital gain per output column with
      ``config.w_max_per_column``), ``w_max``, ``t_inference_s`` (s) and ``ensemble_size``
      (-1: none). Loading a state dict of another shape, ensemble or configuration raises a
      ``ValueError`` naming the entry.
    * An eval-mode forward programs the array if it never was, and re-programs it (a new
      programming event) if the float weights changed since the last programming.
    * Shared input ``(..., in)`` vs per-member input ``(E, ..., in)``: an input with at least 3
      dimensions whose first is ``E`` is per-member; pass ``shared_input=`` to force either.
    * Inputs are not checked for NaN/inf per forward (that would cost a pass); non-finite inputs
      give non-finite outputs.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        config: CrossbarConfig,
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        backend: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        check_int_range(in_features, "in_features", 1)
        check_int_range(out_features, "out_features", 1)
        if ensemble is not None:
            check_int_range(ensemble, "ensemble", 1)
        if not isinstance(config, CrossbarConfig):
            raise TypeError(f"config: expected a CrossbarConfig, got {type(config).__name__}")
        self.generator = check_generator(generator)
        self.in_features = in_features
        self.out_features = out_features
        self.ensemble = ensemble
        self.backend = backend
        fk = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(out_features, in_features, **fk))
        self.bias = nn.Parameter(torch.empty(out_features, **fk)) if bias else None
        self._config = config
        for name in _STATE:
            self.register_buffer(name, None)
        self.register_buffer("t_inference_s", torch.tensor(float(config.t_inference), dtype=torch.float64))
        self.register_buffer("w_max", torch.tensor(1.0, dtype=torch.float64))
        self.register_buffer("ensemble_size", torch.tensor(-1 if ensemble is None else ensemble))
        self._after_state_change()
        self.reset_parameters()

    def _after_state_change(self) -> None:
        """Re-derive the Python-side caches from the buffers."""
        self._t = float(self.t_inference_s)
        self._units = _Units(self._config, float(self.w_max))
        self._version = None if self.g_prog is None else self.weight._version
        self._specs: dict[Any, ReadSpec] = {}
        _EPOCH[0] += 1

    # -- parameters ---------------------------------------------------------------------------
    def reset_parameters(self) -> None:
        """Same initialisation as ``nn.Linear``."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            nn.init.uniform_(self.bias, -bound, bound)
        self.g_prog = None

    @property
    def config(self) -> CrossbarConfig:
        """The configuration; assigning a new one forgets the devices and the programming."""
        return self._config

    @config.setter
    def config(self, cfg: CrossbarConfig) -> None:
        if not isinstance(cfg, CrossbarConfig):
            raise TypeError(f"config: expected a CrossbarConfig, got {type(cfg).__name__}")
        self._config = cfg
        for name in _STATE:
            setattr(self, name, None)
        self.t_inference_s.fill_(float(cfg.t_inference))
        self._after_state_change()

    @property
    def t_inference(self) -> float:
        """Time since programming in s."""
        return self._t

    @property
    def is_programmed(self) -> bool:
        return self.g_prog is not None

    @property
    def drift_alpha(self) -> torch.Tensor | float:
        """Current global drift-compensation factor (per member with an ensemble)."""
        if self.g_prog is None:
            return 1.0
        return float(self.alpha) if self.ensemble is None else self.alpha

    # -- programming --------------------------------------------------------------------------
    @torch.no_grad()
    def program(self, generator: torch.Generator | None = None) -> "AnalogLinear":
        """Programming event: map the float weights to conductances and draw every device
        property fixed at programming (programming noise, d2d/c2c variation, faults, drift
        exponents), then evaluate the array at the current time (see :meth:`set_time`).

        Device-to-device factors and fault masks are drawn on the first programming and kept
        on re-programming (they belong to the device); :meth:`reset_devices` forgets them.
        """
        gen = self.generator if generator is None else check_generator(generator)
        cfg = self._config
        _check_weight(self.weight)
        fixed: dict = {}
        if self.d2d is not None:
            fixed["d2d"] = self.d2d
        if self.stuck_on is not None:
            fixed["faults"] = (self.stuck_on, self.stuck_off)
        state = _program(self.weight, cfg, self.ensemble, gen, fixed)
        self.d2d = fixed.get("d2d")
        self.stuck_on, self.stuck_off = fixed.get("faults", (None, None))
        self.g_prog = state["g"]
        self.nu = state["nu"]
        self.col_gain = state["col_gain"]
        self.w_max.fill_(state["w_max"])
        self._units = _Units(cfg, state["w_max"])
        self._version = self.weight._version
        self.baseline = None
        if cfg.drift_compensation:
            # aihwkit: reference read-out of the one-hot inputs right after programming
            self.baseline = self._readout(self.g_prog, gen)
        self._refresh(gen)
        return self

    def reset_devices(self) -> None:
        """Forget per-device draws (d2d factors, fault masks) and the programming."""
        self.d2d = self.stuck_on = self.stuck_off = None
        self.g_prog = None

    @torch.no_grad()
    def set_time(self, t_inference: float, generator: torch.Generator | None = None) -> "AnalogLinear":
        """Move the programmed array to ``t_inference`` s after programming.

        Applies drift to the programmed conductances (exponents fixed at programming), draws the
        read-noise state at that time (accumulated 1/f noise, once, as aihwkit's
        ``drift_weights``; skipped with ``read_noise_per_forward``) and recomputes the global
        drift-compensation factor. Programs the array first if needed.
        """
        t = float(t_inference)
        if not math.isfinite(t) or t < 0:
            raise ValueError(f"t_inference={t_inference!r}: must be finite and >= 0 s")
        self.t_inference_s.fill_(t)
        self._t = t
        gen = self.generator if generator is None else check_generator(generator)
        if self.g_prog is None or self._stale():
            return self.program(gen)
        self._refresh(gen)
        return self

    def _stale(self) -> bool:
        return self._version is not None and self.weight._version != self._version

    def _readout(self, g: torch.Tensor, gen) -> torch.Tensor:
        """aihwkit's global drift read-out: mean |output| of the one-hot inputs (noisy read, no
        bias), normalised units."""
        cfg = self._config
        wn = _normalised_weights(g, cfg, self.ensemble, self.col_gain)
        one = torch.ones(() if self.ensemble is None else (self.ensemble,), dtype=g.dtype, device=g.device)
        spec = self._units.spec(cfg, wn, one, None, g=g, ensemble=self.ensemble)
        spec = spec.with_key(draw_key(gen) if spec.noise_std > 0 else 0)
        y = read(spec, torch.eye(self.in_features, dtype=g.dtype, device=g.device), backend=self.backend)
        return y.abs().mean((-2, -1)).clamp(min=1e-4)

    def _refresh(self, gen) -> None:
        cfg = self._config
        self.g_now = _conductances_at(
            {"g": self.g_prog, "nu": self.nu}, cfg, self._t, gen, read_noise=not cfg.read_noise_per_forward
        )
        if cfg.drift_compensation and self.baseline is not None:
            self.alpha = self.baseline / self._readout(self.g_now, gen)
        else:
            E = self.ensemble
            self.alpha = torch.ones(() if E is None else (E,), dtype=self.g_now.dtype, device=self.g_now.device)
        self._specs = {}
        _EPOCH[0] += 1

    # -- the read -----------------------------------------------------------------------------
    def read_spec(self, dtype: torch.dtype | None = None, device: Any = None) -> ReadSpec:
        """The read of the programmed array now, as a :class:`~physnn.crossbar.read.ReadSpec`
        (noise key 0: set one with ``spec.with_key(draw_key(layer.generator))``).

        The public export for compiled consumers (the RNN sequence loops): weights in code
        units, output scale, bias (detached), converter and noise constants. Programs the array
        first if needed. Cached until the programming, time or bias changes.
        """
        # (the module's dicts directly: nn.Module's attribute lookup is a tenth of a small read)
        params, bufs = self._parameters, self._buffers
        w = params["weight"]
        if bufs["g_prog"] is None or (self._version is not None and w._version != self._version):
            self.program()
        dtype = w.dtype if dtype is None else dtype
        if device is None:
            device = bufs["g_now"].device
        elif not isinstance(device, torch.device):
            device = torch.device(device)
        b = params.get("bias")
        key = (dtype, device, None if b is None else (id(b), b._version))
        spec = self._specs.get(key)
        if spec is None:
            spec = self._build_spec(self.g_now, dtype, device)
            _EPOCH[0] += 1
            self._specs = {k: v for k, v in self._specs.items() if k[:2] != key[:2]}
            self._specs[key] = spec
        return spec

    def _build_spec(self, g: torch.Tensor, dtype: torch.dtype, device: Any) -> ReadSpec:
        cfg, E = self._config, self.ensemble
        g = g.to(dtype=dtype, device=device)
        wn = None if cfg.ir_drop is not None else _normalised_weights(g, cfg, E, self.col_gain).contiguous()
        scale = self.w_max.to(dtype=dtype, device=device) * self.alpha.to(dtype=dtype, device=device)
        bias = None if self.bias is None else self.bias.detach().to(dtype=dtype, device=device)
        return self._units.spec(cfg, wn, scale.reshape(() if E is None else (E,)), bias, g=g, ensemble=E)

    def forward(self, x: torch.Tensor, *, shared_input: bool | None = None) -> torch.Tensor:
        """A read: ``(..., in)`` -> ``(..., out)``, or ``(E, ..., out)`` with an ensemble."""
        x = _check_input(x, self.in_features)
        per_member = per_member_input(x, self.ensemble, shared_input)
        gen = self.generator
        if self.training:
            w_eff, g_eff, post, w_max = _sample_train_weights(self.weight, self._config, self.ensemble, gen, self._t)
            spec = _Units(self._config, w_max).spec(
                self._config,
                w_eff,
                _scale_tensor(post, self.ensemble, self.weight),
                self.bias,
                g=g_eff,
                ensemble=self.ensemble,
            )
        elif self._config.read_noise_per_forward and self._config.read_noise is not None:
            self.read_spec()  # programs if needed
            with torch.no_grad():
                g = apply_read_noise(
                    self.g_now,
                    self._config.read_noise,
                    t_inference=self._t,
                    generator=gen,
                    g_programmed=self.g_prog,
                    check=False,
                )
                spec = self._build_spec(g, x.dtype, x.device)
        else:
            spec = self.read_spec(x.dtype, x.device)
        key = draw_key(gen) if spec.noise_std > 0 else 0
        return read(spec.with_key(key), x, per_member=per_member, backend=self.backend)

    # -- state dict ---------------------------------------------------------------------------
    def get_extra_state(self) -> dict:
        """The configuration (field -> repr) the saved chip was programmed under."""
        return {
            "config": {
                f.name: repr(getattr(self._config, f.name))
                for f in fields(self._config)
                if f.name != "t_inference" and not (f.name == "update" and self._config.update is None)
            }
        }

    def set_extra_state(self, state: Any) -> None:
        saved = state.get("config", {}) if isinstance(state, dict) else {}
        mine = self.get_extra_state()["config"]
        for name in sorted(set(saved) | set(mine)):
            if saved.get(name) != mine.get(name):
                raise ValueError(
                    f"_extra_state: config.{name} of the checkpoint ({saved.get(name)}) differs from "
                    f"this layer's ({mine.get(name)}); build the layer with the saved config"
                )

    def _g_shape(self) -> tuple[int, ...]:
        lead = () if self.ensemble is None else (self.ensemble,)
        if isinstance(self._config.mapping, DifferentialPair):
            return (*lead, 2, self.out_features, self.in_features)
        return (*lead, self.out_features + 1, self.in_features)

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        e_key = prefix + "ensemble_size"
        if e_key in state_dict:
            e_saved = int(state_dict[e_key])
            e_mine = -1 if self.ensemble is None else self.ensemble
            if e_saved != e_mine:
                raise ValueError(
                    f"{e_key}: checkpoint has ensemble {None if e_saved < 0 else e_saved}, this layer {self.ensemble}"
                )
        g_shape = self._g_shape()
        small = () if self.ensemble is None else (self.ensemble,)
        for name in _STATE:
            key = prefix + name
            v = state_dict.get(key)
            if v is None:
                setattr(self, name, None)
                continue
            want = small if name in ("baseline", "alpha") else (self.out_features,) if name == "col_gain" else g_shape
            if tuple(v.shape) != want:
                raise ValueError(
                    f"{key}: checkpoint shape {tuple(v.shape)} differs from this layer's {want} "
                    f"(in_features, out_features, ensemble or mapping differ)"
                )
            setattr(self, name, torch.empty_like(v, device=self.weight.device))
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        self._after_state_change()

    # -- conversion ---------------------------------------------------------------------------
    @classmethod
    def from_linear(
        cls,
        linear: nn.Linear,
        *,
        config: CrossbarConfig,
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        backend: str | None = None,
    ) -> "AnalogLinear":
        """An ``AnalogLinear`` with a copy of ``linear``'s weights and bias (not yet programmed)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear: expected a torch.nn.Linear, got {type(linear).__name__}")
        w = linear.weight
        layer = cls(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            config=config,
            ensemble=ensemble,
            generator=generator,
            backend=backend,
            device=w.device,
            dtype=w.dtype,
        )
        with torch.no_grad():
            layer.weight.copy_(w)
            if linear.bias is not None:
                layer.bias.copy_(linear.bias)
        layer.train(linear.training)
        return layer

    def to_linear(self) -> nn.Linear:
        """An ``nn.Linear`` with a copy of the float (target) weights and bias."""
        lin = nn.Linear(
            self.in_features,
            self.out_features,
            bias=self.bias is not None,
            device=self.weight.device,
            dtype=self.weight.dtype,
        )
        with torch.no_grad():
            lin.weight.copy_(self.weight)
            if self.bias is not None:
                lin.bias.copy_(self.bias)
        return lin

    def programmed_weight(self) -> torch.Tensor:
        """Effective weights (weight units, drift-compensated) of the array now: (E?, out, in)."""
        if self.g_prog is None or self._stale():
            self.program()
        wn = _normalised_weights(self.g_now, self._config, self.ensemble, self.col_gain)
        a = self.alpha if self.ensemble is None else self.alpha.view(-1, 1, 1)
        return wn * (float(self.w_max) * a)

    # -- learning in place (pulsed writes; see physnn.crossbar.update) ------------------------
    @torch.no_grad()
    def write_conductances(
        self, g: torch.Tensor, generator: torch.Generator | None = None, *, check: bool = True
    ) -> "AnalogLinear":
        """Set the programmed conductances (S) to ``g`` (the outcome of pulsed writes, shape of
        ``g_prog``) and re-evaluate the array at the current time; the float weights follow
        (mean over the ensemble members), so the layer does not count as re-programmed.
        ``check=False`` skips the finiteness check (for callers that built ``g`` from checked data)."""
        if self.g_prog is None:
            self.program(generator)
        if not isinstance(g, torch.Tensor) or tuple(g.shape) != tuple(self.g_prog.shape):
            raise ValueError(
                f"g: expected a tensor of shape {tuple(self.g_prog.shape)}, got "
                f"{tuple(g.shape) if isinstance(g, torch.Tensor) else type(g).__name__}"
            )
        if check:
            check_finite(g, "g")
        self.g_prog = g.to(self.g_prog.dtype).contiguous()
        if isinstance(self._config.mapping, DifferentialPair):
            gg = self.g_prog if self.ensemble is None else self.g_prog.movedim(1, 0)
            w = (gg[0] - gg[1]) * (float(self.w_max) / self._config.range.swing)
            if self.col_gain is not None:
                w = w * self.col_gain.to(w.dtype).unsqueeze(1)
        else:
            w = _normalised_weights(self.g_prog, self._config, self.ensemble, self.col_gain) * float(self.w_max)
        self.weight.copy_(w if self.ensemble is None else w.mean(0))
        self._version = self.weight._version
        self._refresh(self.generator if generator is None else check_generator(generator))
        return self

    def update(
        self, delta_w: torch.Tensor, rule: Any = None, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Write the weight change ``delta_w`` (weight units) as programming pulses of the
        device model ``config.update``; see :func:`physnn.crossbar.update.layer_update.update_layer`."""
        from .update.layer_update import update_layer

        return update_layer(self, delta_w, rule, generator=generator)

    def update_outer(
        self, x: torch.Tensor, d: torch.Tensor, *, lr: float, rule: Any = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Write ``lr * d^T x`` as pulses (stochastic pulse trains by default); see
        :func:`physnn.crossbar.update.layer_update.update_layer_outer`."""
        from .update.layer_update import update_layer_outer

        return update_layer_outer(self, x, d, lr=lr, rule=rule, generator=generator)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, ensemble={self.ensemble}, t_inference={self._t:g}"
        )
