"""Analog crossbar linear layer: an explicit programming event, then cheap noisy reads.

:class:`AnalogLinear` is a drop-in ``nn.Linear`` whose matrix-vector product runs on a simulated
memristor crossbar configured by a :class:`~physnn.crossbar.CrossbarConfig`.

Programming (:meth:`AnalogLinear.program`) maps the float weights to conductances and draws
everything that is fixed once a device is written: programming noise, device-to-device and
cycle-to-cycle variation, stuck-at faults and drift exponents. :meth:`AnalogLinear.set_time`
moves the array to a time since programming: drift, the accumulated 1/f read noise (drawn once,
as aihwkit) and the global drift-compensation factor. Both cache the effective weights, so a
forward (a *read*) only quantises the inputs (DAC), does one matrix product, adds output noise
and quantises the outputs (ADC).

Ensembles: ``ensemble=E`` holds ``E`` independently drawn device instances of the same float
weights; a forward returns ``(E, ..., out)``. An input ``(..., in)`` is shared by the members;
an input ``(E, ..., in)`` gives each member its own input.

CPU reads run on *lanes* (:mod:`physnn.crossbar._lanes`, one per torch thread): the read is cut
into independent pieces — blocks of rows, or ensemble members claimed one at a time — and each
piece is one GIL-free compiled call: DAC, GEMM through torch's own BLAS (:mod:`._blas`), and one
fused noise + ADC + scale + bias pass. Bound management acts on the whole read without an
ensemble (one aihwkit tile) and per member with one (``E`` separate tiles); small members are
read together in one stacked GEMM, with bound management over the stack. The output noise is
drawn from counters of one key per read, so a read gives the same numbers whatever the thread
count. The first read of an input layout prepares the lanes' jobs; later reads of that layout
only draw a key, take an output buffer (large ones are recycled once unreferenced) and
dispatch, as long as nothing the preparation depends on has changed.

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
import sys as _sys
import threading
from typing import Any

import numpy as np
import torch
from torch import nn

from . import _fused, _lanes
from .._checks import check_finite, check_int_range
from .adc import adc as _adc
from .config import CrossbarConfig
from .dac import dac as _dac
from .drift import apply_drift, sample_drift_exponents
from .faults import apply_faults, sample_fault_masks
from .iv import SinhIV, device_current
from .ir_drop import ir_drop_fast, solve_ir_drop_exact
from .mapping import DifferentialPair, conductances_to_weights, quantize_levels, weights_to_conductances
from .programming_noise import apply_programming_noise
from .read_noise import apply_read_noise
from .variation import apply_cycle_variation, apply_device_variation

__all__ = ["AnalogLinear", "analog_linear", "fast_normal"]

#: outputs per block of the fused ensemble read (keeps the post-GEMM passes in cache)
_BLOCK = 1 << 18
# lane-parallel CPU reads (see _lanes): a piece of at least this many multiply-accumulates per
# lane; ensemble members smaller than _MEMBER_MACS keep the stacked one-GEMM read
_LANE_MACS = 1 << 20
_MEMBER_MACS = 1 << 21

# ---------------------------------------------------------------------------------------------
# Output noise: a counter-based Gaussian generator.
#
# torch's CPU normal_ runs a sequential Mersenne twister (~6 ns per draw on one core): for a
# 512x512 layer at batch 256 that is as long as the matrix product itself. Here a single 64-bit
# key is drawn from the caller's torch.Generator per read; the random bits are the splitmix64
# finaliser (Steele, Lea & Flood, OOPSLA 2014, doi:10.1145/2660193.2660195) of key + counter,
# evaluated with vectorised, multi-threaded integer tensor ops; each 16-bit slice of a hash
# indexes a table of normal quantiles. Hand-written because torch has no vectorised
# counter-based CPU generator; numpy's is single-threaded and needs a copy.
# ---------------------------------------------------------------------------------------------
_GOLDEN = 0x9E3779B97F4A7C15 - (1 << 64)
_MIX1 = 0xBF58476D1CE4E5B9 - (1 << 64)
_MIX2 = 0x94D049BB133111EB - (1 << 64)
_STATES: dict[Any, torch.Tensor] = {}


def _counter_states(m: int, device: torch.device) -> torch.Tensor:
    key = (device.type, device.index)
    s = _STATES.get(key)
    if s is None or s.numel() < m:
        n = max(m, 1 << 16, 0 if s is None else 2 * s.numel())
        s = torch.arange(n, dtype=torch.int64, device=device) * _GOLDEN
        _STATES[key] = s
    return s[:m]


_KEYS = threading.local()


def _draw_key(generator: torch.Generator | None) -> int:
    """A 63-bit key from ``generator``: one ``random_`` draw (a quarter of ``randint``'s cost),
    into a per-thread CPU cell read back through numpy (no ``item()`` dispatch)."""
    if generator is not None and generator.device.type != "cpu":
        return int(torch.empty((), dtype=torch.int64, device=generator.device).random_(generator=generator).item())
    cell = getattr(_KEYS, "cell", None)
    if cell is None:
        t = torch.empty(1, dtype=torch.int64)
        cell = _KEYS.cell = (t, t.numpy())
    cell[0].random_(generator=generator)
    return int(cell[1][0])


_TABLES: dict[Any, torch.Tensor] = {}


def _normal_table(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The 65536 normal quantiles ``Phi^-1((k + 1/2) / 65536)``, rescaled to unit variance."""
    key = (device.type, device.index, dtype)
    tab = _TABLES.get(key)
    if tab is None:
        p = (torch.arange(65536, dtype=torch.float64) + 0.5) / 65536.0
        q = torch.special.ndtri(p)
        tab = (q / q.pow(2).mean().sqrt()).to(device=device, dtype=dtype)
        _TABLES[key] = tab
    return tab


_WORK: dict[Any, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}


def _workspace(m: int, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reused scratch buffers of the generator (fresh large tensors cost page faults each call)."""
    key = (device.type, device.index)
    ws = _WORK.get(key)
    if ws is None or ws[0].numel() < m or ws[2].numel() < n:
        ws = (torch.empty(m, dtype=torch.int64, device=device), torch.empty(m, dtype=torch.int64, device=device),
              torch.empty(4 * m, dtype=torch.int32, device=device))
        _WORK[key] = ws
    return ws[0][:m], ws[1][:m], ws[2][:n]


def fast_normal(n: int, *, generator: torch.Generator | None = None, device: Any = None,
                dtype: torch.dtype = torch.float32, out: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` standard-normal draws from a counter-based generator keyed by ``generator``.

    One 64-bit key is drawn from ``generator`` (same seed -> same numbers; successive calls are
    independent). Each 64-bit splitmix64 hash of ``key + counter`` gives four 16-bit uniform
    indices into the table of the 65536 normal quantiles (inverse-CDF sampling on a 2**-16
    probability grid: exact mean 0 and variance 1, tails cut at ±4.2). ``out``: a contiguous
    tensor of ``n`` elements to write into (its device and dtype are used).
    """
    if out is not None:
        device, dtype = out.device, out.dtype
    device = torch.device(device) if device is not None else torch.device("cpu")
    m = (n + 3) // 4
    z, t, idx = _workspace(m, n, device)
    torch.add(_counter_states(m, device), _draw_key(generator), out=z)
    torch.bitwise_right_shift(z, 30, out=t)
    t.bitwise_and_((1 << 34) - 1)
    z.bitwise_xor_(t).mul_(_MIX1)
    torch.bitwise_right_shift(z, 27, out=t)
    t.bitwise_and_((1 << 37) - 1)
    z.bitwise_xor_(t).mul_(_MIX2)
    torch.bitwise_right_shift(z, 31, out=t)
    t.bitwise_and_((1 << 33) - 1)
    z.bitwise_xor_(t)
    # 16-bit slices of the hash -> table index in [0, 65535] (int16 view: portable to CUDA)
    idx.copy_(z.view(torch.int16)[:n]).add_(32768)
    table = _normal_table(device, dtype)
    if out is None:
        return torch.index_select(table, 0, idx)
    return torch.index_select(table, 0, idx, out=out.view(-1))


def _noise(n: int, cfg: CrossbarConfig, generator, device, dtype, out: torch.Tensor | None = None) -> torch.Tensor:
    if cfg.fast_noise:
        return fast_normal(n, generator=generator, device=device, dtype=dtype, out=out)
    if out is not None:
        return out.normal_(generator=generator)
    return torch.randn(n, generator=generator, device=device, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Programming and time evolution (pure functions on a dict of tensors)
# ---------------------------------------------------------------------------------------------

def _check_weight(weight: torch.Tensor) -> None:
    if not isinstance(weight, torch.Tensor) or not weight.is_floating_point():
        raise TypeError(f"weight: expected a floating-point tensor, got {type(weight).__name__}")
    if weight.dim() != 2:
        raise ValueError(f"weight: expected shape (out_features, in_features), got {tuple(weight.shape)}")
    check_finite(weight, "weight")


def _program(weight: torch.Tensor, cfg: CrossbarConfig, ensemble: int | None,
             generator: torch.Generator | None, fixed: dict | None = None) -> dict:
    """One programming event of ``weight`` (no gradient). Returns the device state.

    ``fixed`` carries per-device draws that survive re-programming (d2d factors, fault masks).
    """
    w = weight.detach()
    if cfg.weight_clip is not None:
        w = w.clamp(-cfg.weight_clip, cfg.weight_clip)
    if cfg.w_max is not None:
        w_max = float(cfg.w_max)
    else:
        w_max = float(w.abs().max()) if w.numel() else 1.0
        w_max = w_max if w_max > 0 else 1.0
    scheme = cfg.mapping
    rng = cfg.range
    lead = () if ensemble is None else (ensemble,)
    g_t = weights_to_conductances(w, scheme, w_max=w_max)          # (2, out, in) or (out, in)
    dp = isinstance(scheme, DifferentialPair)
    if not dp:  # reference column: one device per input row at mid-range
        ref = torch.full((1, w.shape[1]), scheme.reference_conductance, dtype=w.dtype, device=w.device)
        g_t = torch.cat((g_t, ref), 0)                               # (out + 1, in), last row = reference
    g_t = quantize_levels(g_t, rng)
    g_t = g_t.expand(*lead, *g_t.shape) if lead else g_t           # independent draws per member
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
    nu = None
    if cfg.drift is not None:
        nu = sample_drift_exponents(g_t, cfg.drift, generator=generator)
        if masks is not None:
            nu = nu.masked_fill(masks[0] | masks[1], 0.0)
    if g is g_t:
        g = g_t.clone()
    return {"g": g.contiguous(), "nu": nu, "w_max": w_max, "g_target": g_t, "fixed": fixed}


def _conductances_at(state: dict, cfg: CrossbarConfig, t: float, generator, *, read_noise: bool) -> torch.Tensor:
    """Conductances at time ``t`` since programming: drift, then (optionally) one read-noise draw."""
    g = state["g"]
    if cfg.drift is not None and t > 0:
        g = apply_drift(g, state["nu"], t, cfg.drift)
    if read_noise and cfg.read_noise is not None:
        g = apply_read_noise(g, cfg.read_noise, t_inference=t, generator=generator, g_programmed=state["g"],
                             check=False)
    return g


def _normalised_weights(g: torch.Tensor, cfg: CrossbarConfig, ensemble: int | None) -> torch.Tensor:
    """``(g+ - g-) / swing`` (differential pair) or ``2 (g - g_ref) / swing``: shape (E?, out, in)."""
    if isinstance(cfg.mapping, DifferentialPair):
        gg = g if ensemble is None else g.movedim(1, 0)            # (2, E, out, in)
        return conductances_to_weights(gg, cfg.mapping, w_max=1.0)
    return conductances_to_weights(g[..., :-1, :], cfg.mapping, w_max=1.0, g_reference=g[..., -1:, :])


# ---------------------------------------------------------------------------------------------
# Reads
# ---------------------------------------------------------------------------------------------

class _ReadPlan:
    """Constants of the read path derived from a config and the programmed ``w_max``."""

    __slots__ = ("L", "step_in", "M", "step_out", "y_max", "out_noise", "abs_max", "sig_code", "bm", "max_red",
                 "sinh", "x_ref", "clamp_in")

    def __init__(self, cfg: CrossbarConfig, w_max: float = 1.0):
        d, a = cfg.dac, cfg.adc
        # output noise and ADC range are given in normalised units, or (aihwkit with
        # weight_scaling_omega = 0) in raw weight units: then divide by w_max
        unit = 1.0 / w_max if cfg.output_units == "weight" else 1.0
        self.L = float(2 ** (d.bits - 1) - 1) if d is not None else None
        self.step_in = d.step if d is not None else 1.0
        self.M = float(2 ** (a.bits - 1) - 1) if a is not None else None
        self.step_out = a.step * unit if a is not None else 1.0
        self.y_max = a.y_max * unit if a is not None else None
        self.out_noise = cfg.out_noise * unit
        self.abs_max = cfg.input_scaling == "abs_max"
        self.sig_code = self.out_noise / self.step_out
        self.bm = cfg.bound_management
        # aihwkit stops halving the inputs once the reduction exceeds max_bm_res / inp_res = 0.25 / step
        self.max_red = min(1000.0, 0.25 / self.step_in) if d is not None else 1000.0
        self.sinh = cfg.iv if isinstance(cfg.iv, SinhIV) else None
        self.x_ref = d.x_max if d is not None else 1.0
        # DAC codes are clamped to +-L, except with abs-max scaling to a full-range reference
        # (the codes cannot exceed L then)
        self.clamp_in = self.L is not None and not (self.abs_max and self.x_ref >= 1.0)


def _input_scale(x: torch.Tensor, plan: _ReadPlan) -> torch.Tensor | None:
    if not plan.abs_max:
        return None
    # an all-zero input vector gets a tiny scale: its codes stay 0 (aihwkit sets the scale to 1)
    return x.detach().abs().amax(-1, keepdim=True).clamp_(min=1e-30)


def _iv_transform(xn: torch.Tensor, cfg: CrossbarConfig, plan: _ReadPlan) -> torch.Tensor:
    """Effective input of a sinh-type device law: the current of a unit-conductance device, in input units."""
    v = xn * (cfg.v_read / plan.x_ref)
    i = device_current(torch.ones((), dtype=xn.dtype, device=xn.device), v, plan.sinh, check=False)
    return i * (plan.x_ref / cfg.v_read)


def _ir_currents(g: torch.Tensor, xn: torch.Tensor, cfg: CrossbarConfig, plan: _ReadPlan,
                 ensemble: int | None, shared: bool) -> torch.Tensor:
    """Normalised column outputs of a read with wire resistance: ``I / (v_read swing)`` in input units."""
    ir = cfg.ir_drop
    iv = cfg.iv
    v = xn * (cfg.v_read / plan.x_ref)                             # (E?, M, in) or (M, in)
    dp = isinstance(cfg.mapping, DifferentialPair)
    gd = g if ensemble is None or not dp else g.movedim(1, 0)      # DP: (2, E?, out, in); RC: (E?, out+1, in)
    if ensemble is not None:
        gd = gd.unsqueeze(-3)                                      # (..., E, 1, out, in)
        v = v if not shared else v.unsqueeze(0)                    # (1 or E, M, in)
    else:
        gd = gd.unsqueeze(-3)                                      # (..., 1, out, in)
    if ir.exact:
        sol = solve_ir_drop_exact(gd.double(), v.double(), ir.r_wire, r_col=ir.r_col, iv=iv)
        i_out = sol.i_out.to(xn.dtype)
    else:
        sol = ir_drop_fast(gd, v, ir.r_wire, r_col=ir.r_col, iv=iv, iterations=ir.iterations, tol=ir.tol)
        i_out = sol.i_out
    if dp:
        i = i_out[0] - i_out[1]
    else:
        i = (i_out[..., :-1] - i_out[..., -1:]) * 2.0
    return i * (plan.x_ref / (cfg.v_read * cfg.range.swing))


def _read(x: torch.Tensor, wn: torch.Tensor | None, g: torch.Tensor | None, post: torch.Tensor | float,
          bias: torch.Tensor | None, cfg: CrossbarConfig, plan: _ReadPlan, ensemble: int | None,
          shared: bool, generator) -> torch.Tensor:
    """General (differentiable) read: STE quantisers; ``wn`` normalised weights (E?, out, in)
    or, with IR drop, conductances ``g``. ``post`` = output scale per member (w_max * alpha).

    ``x``: (M, in) shared, or (E, M, in). Returns (E?, M, out).
    """
    s = _input_scale(x, plan)
    red = 1.0
    while True:
        xs = x if s is None else x / s
        if red != 1.0:
            xs = xs / red
        xn = _dac(xs, cfg.dac, check=False) if cfg.dac is not None else xs
        if plan.sinh is not None and cfg.ir_drop is None:
            xn = _iv_transform(xn, cfg, plan)
        if cfg.ir_drop is not None:
            yn = _ir_currents(g, xn, cfg, plan, ensemble, shared)
        else:
            yn = torch.matmul(xn, wn.transpose(-1, -2))
        if plan.out_noise > 0:
            yn = yn + plan.out_noise * _noise(yn.numel(), cfg, generator, yn.device, yn.dtype).view(yn.shape)
        if cfg.adc is not None:
            if plan.bm and red <= plan.max_red and bool((yn.detach().abs() > plan.y_max + 0.5 * plan.step_out).any()):
                red *= 2.0
                continue
            yn = _adc(yn, cfg.adc, y_max=plan.y_max, check=False)
        break
    scale = post if red == 1.0 else post * red
    y = yn * scale if s is None else yn * (s * scale)
    return y if bias is None else y + bias


def _check_input(x: Any, in_features: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x: expected a floating-point tensor, got {type(x).__name__}"
                        + ("" if not isinstance(x, torch.Tensor) else f" of dtype {x.dtype}"))
    if x.dim() == 0 or x.shape[-1] != in_features:
        raise ValueError(f"x: last dimension must be in_features={in_features}, got shape {tuple(x.shape)}")
    return x


def _layout(x: torch.Tensor, ensemble: int | None, shared: bool | None) -> tuple[bool, tuple, torch.Tensor]:
    """Decide shared vs per-member input; return (shared, leading batch shape, 2-D/3-D view)."""
    in_f = x.shape[-1]
    if ensemble is None:
        if shared is False:
            raise ValueError("shared_input=False needs an ensemble layer")
        return True, tuple(x.shape[:-1]), x.reshape(-1, in_f)
    if shared is None:
        shared = not (x.dim() >= 3 and x.shape[0] == ensemble)
    if shared:
        return True, tuple(x.shape[:-1]), x.reshape(-1, in_f)
    if x.dim() < 2 or x.shape[0] != ensemble:
        raise ValueError(f"x: a per-member input needs leading dimension ensemble={ensemble}, got shape {tuple(x.shape)}")
    return False, tuple(x.shape[1:-1]), x.reshape(ensemble, -1, in_f)


def _finish(y: torch.Tensor, ensemble: int | None, lead: tuple, out_f: int) -> torch.Tensor:
    if ensemble is None:
        return y.reshape(*lead, out_f)
    return y.reshape(ensemble, *lead, out_f)


def _drift_alpha(wn_ref: torch.Tensor, wn_now: torch.Tensor, ensemble: int | None) -> torch.Tensor:
    """Noise-free global drift compensation: mean|W(t=0)| / mean|W(t)| per array (one-hot read-out)."""
    dims = (-2, -1)
    ref = wn_ref.abs().mean(dims).clamp(min=1e-4)
    cur = wn_now.abs().mean(dims).clamp(min=1e-4)
    return ref / cur


# ---------------------------------------------------------------------------------------------
# Functional form
# ---------------------------------------------------------------------------------------------

def analog_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, config: CrossbarConfig, *,
                  generator: torch.Generator | None = None, ensemble: int | None = None,
                  t_inference: float | None = None, shared_input: bool | None = None) -> torch.Tensor:
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
    """
    if not isinstance(config, CrossbarConfig):
        raise TypeError(f"config: expected a CrossbarConfig, got {type(config).__name__}")
    _check_weight(weight)
    if ensemble is not None:
        check_int_range(ensemble, "ensemble", 1)
    x = _check_input(x, weight.shape[1])
    if bias is not None and (bias.dim() != 1 or bias.shape[0] != weight.shape[0]):
        raise ValueError(f"bias: expected shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    t = config.t_inference if t_inference is None else float(t_inference)
    shared, lead, x2 = _layout(x, ensemble, shared_input)
    w_eff, g_eff, post, w_max = _sample_train_weights(weight, config, ensemble, generator, t)
    plan = _ReadPlan(config, w_max)
    y = _read(x2, w_eff, g_eff, post, bias, config, plan, ensemble, shared, generator)
    return _finish(y, ensemble, lead, weight.shape[0])


def _sample_train_weights(weight: torch.Tensor, cfg: CrossbarConfig, ensemble: int | None,
                          generator, t: float) -> tuple[torch.Tensor | None, torch.Tensor | None, Any]:
    """Fresh programming + time evolution, attached to ``weight`` by a straight-through estimator.

    Returns normalised weights (or conductances with IR drop) and the output scale ``post``.
    """
    with torch.no_grad():
        state = _program(weight, cfg, ensemble, generator)
        g_now = _conductances_at(state, cfg, t, generator, read_noise=True)
        wn_now = _normalised_weights(g_now, cfg, ensemble)
        alpha = 1.0
        if cfg.drift_compensation and cfg.drift is not None:
            wn0 = _normalised_weights(state["g"], cfg, ensemble)
            alpha = _drift_alpha(wn0, wn_now, ensemble)
            if ensemble is not None:
                alpha = alpha.view(ensemble, 1, 1)
    w_max = state["w_max"]
    post = w_max * alpha
    w_in = weight if cfg.weight_clip is None else weight.clamp(-cfg.weight_clip, cfg.weight_clip)
    if cfg.ir_drop is not None:
        g_tgt = weights_to_conductances(w_in, cfg.mapping, w_max=w_max)
        if not isinstance(cfg.mapping, DifferentialPair):
            g_tgt = torch.cat((g_tgt, torch.full_like(g_tgt[:1], cfg.mapping.reference_conductance)), 0)
        elif ensemble is not None:
            g_tgt = g_tgt.unsqueeze(1)
        if ensemble is not None and not isinstance(cfg.mapping, DifferentialPair):
            g_tgt = g_tgt.unsqueeze(0)
        gd = g_now.movedim(1, 0) if (ensemble is not None and isinstance(cfg.mapping, DifferentialPair)) else g_now
        g_used = g_tgt + (gd - g_tgt).detach()
        if ensemble is not None and isinstance(cfg.mapping, DifferentialPair):
            g_used = g_used.movedim(0, 1)
        return None, g_used, post, w_max
    wn_tgt = w_in / w_max
    return wn_tgt + (wn_now - wn_tgt).detach(), None, post, w_max


# ---------------------------------------------------------------------------------------------
# Module
# ---------------------------------------------------------------------------------------------

#: outputs of at least this many bytes are recycled by prepared reads (see _PreparedRead._output)
_RECYCLE_BYTES = 4 << 20


def _storage_uses_impl(t: torch.Tensor) -> int:
    # the temporary storage object counts one use
    return torch._C._storage_Use_Count(t.untyped_storage()._cdata)


_storage_uses = _storage_uses_impl if hasattr(torch._C, "_storage_Use_Count") else None


class _LaneRead:
    """The lane-parallel CPU read of one layer for one input layout, prepared once: the job row
    of every lane (addresses of the weights, bias, noise table and the lane's own scratch, sizes,
    ADC/DAC constants; see :mod:`._fused`). A read then only draws its key, takes an output
    buffer and dispatches, with the input and output addresses and the key as the three numbers
    written per read. Calling it returns ``None`` (the caller takes the general path, which
    prepares anew) when anything it was built on changed: input shape, dtype, device, layout or
    grad mode, the programming, weights, bias (object or in-place version), configuration, lane
    count or the pool itself. With one lane, or while another thread uses the pool, every job
    row runs in the calling thread (rows are independent; members are claimed from a counter)."""

    def __init__(self, layer: "AnalogLinear", x: torch.Tensor, x2: torch.Tensor, shared: bool, lead: tuple):
        p, E = layer._plan, layer.ensemble
        dt = x2.dtype
        w, bias, table = layer._fast_operands(dt)
        self.ops = (w, bias, table)                       # kept alive: their addresses are in the jobs
        params = layer._parameters
        b = params.get("bias")
        self.tag = (layer._buffers.get("w_code"), params.get("weight"), layer._version, b,
                    None if b is None else b._version, layer._config, layer._plan)
        self.shape, self.dtype = x.shape, x.dtype
        self.last: torch.Tensor | None = None
        out_f, in_f = layer.out_features, layer.in_features
        rows = x2.shape[-2]
        self.y_shape = ((*lead, out_f) if E is None else (E, *lead, out_f))
        self.recycle = (hasattr(torch.Tensor, "_use_count") and _storage_uses is not None
                        and math.prod(self.y_shape) * x.element_size() >= _RECYCLE_BYTES)
        self.noisy = p.sig_code > 0
        self.E = E
        self.bm = E is None and p.M is not None and p.bm      # (members manage their own bounds)
        self.M, self.max_red = p.M, p.max_red
        self.step, self.post = p.step_in, layer._post_f
        lanes = self.lanes = _lanes.count()
        n = max(1, min(lanes, rows, rows * in_f * out_f // _LANE_MACS)) if E is None else min(lanes, E)
        self.n = n
        self.pool = _fused.lanes_pool(n) if n > 1 else None
        M = p.M if p.M is not None else -1.0
        L = p.L if p.L is not None else -1.0
        clamp = p.clamp_in
        gemm = _fused.SGEMM if dt == torch.float32 else _fused.DGEMM
        self.J = np.zeros((n, _lanes.NJ), dtype=np.int64)
        self.F = np.zeros((n, _lanes.NF), dtype=np.float64)
        wa, ta = w.numpy(), table.numpy()
        ba = None if bias is None else bias.numpy()
        xa = x2.numpy()
        self.counter = np.zeros(1, dtype=np.int64)
        self.vals = np.zeros(3, dtype=np.int64)          # per read: input and output address, key
        self.f64 = dt == torch.float64
        self.scratch: list = []
        if E is not None:
            self.post_np = layer._post_np                  # kept alive (address in the jobs)
        for k in range(n):
            J, F = self.J[k], self.F[k]
            _fused.fill_common(J, F, gemm, xa, wa, ta, ba, 0, p.sig_code, M, p.step_in, L, p.abs_max, clamp,
                               members=E is not None)
            if E is None:
                r0, r1 = rows * k // n, rows * (k + 1) // n
                _fused.fill_rows(J, F, r0, r1, rows, in_f, out_f, layer._post_f)
                nbuf = (r1 - r0) * in_f
            else:
                _fused.fill_members(J, F, E, rows, in_f, out_f, 1 if shared else E, self.counter, self.post_np,
                                    p.bm, p.max_red)
                nbuf = rows * in_f
            xc, sc = np.empty(max(nbuf, 1), dtype=xa.dtype), np.empty(max(nbuf // in_f, 1), dtype=xa.dtype)
            self.scratch.append((xc, sc))
            _fused.fill_scratch(J, xc, sc)

    def _output(self) -> torch.Tensor:
        """The output tensor of a read: large outputs (``_RECYCLE_BYTES`` and up) reuse the
        previous read's when nothing refers to it any more — no Python reference but ours, no
        view, numpy array or DLPack export of it (tensor and storage use counts), and untouched
        shape, dtype, layout and grad flag. glibc hands such blocks back to the system when they
        are freed, and a fresh one costs a page fault per 4 KiB page on first touch (~11 ms for
        an E=64, 256x512 read here, 15 % of its time). Small outputs come from the heap as usual.
        """
        last = self.last
        if (last is not None and _sys.getrefcount(last) == 3 and last._use_count() == 1   # self.last, last, arg
                and _storage_uses(last) == 2 and not last.requires_grad and last.shape == self.y_shape
                and last.dtype == self.dtype and last.is_contiguous()):
            return last
        y = torch.empty(self.y_shape, dtype=self.dtype)
        if self.recycle:
            self.last = y
        return y

    def __call__(self, layer: "AnalogLinear", x: Any) -> torch.Tensor | None:
        """The read of ``x`` (the layer's input as given), or ``None`` if this preparation does
        not apply to it any more."""
        pool = self.pool
        if (not isinstance(x, torch.Tensor) or x.shape != self.shape or x.dtype != self.dtype or not x.is_cpu
                or not x.is_contiguous() or (x.requires_grad and torch.is_grad_enabled())
                or (pool is not None and _lanes._POOL is not pool) or _lanes.count() != self.lanes):
            return None
        params = layer._parameters
        b = params.get("bias")
        tag = self.tag
        if (layer._buffers.get("w_code") is not tag[0] or params.get("weight") is not tag[1]
                or tag[1]._version != tag[2] or b is not tag[3] or (b is not None and b._version != tag[4])
                or layer._config is not tag[5] or layer._plan is not tag[6]):
            return None
        return self.run(layer, x)

    def run(self, layer: "AnalogLinear", x: torch.Tensor) -> torch.Tensor:
        """The read of the contiguous CPU tensor ``x`` (the prepared layout), in ``y_shape``."""
        key = _draw_key(layer.generator) if self.noisy else 0
        y = self._output()
        vals = self.vals
        vals[0], vals[1], vals[2] = x.data_ptr(), y.data_ptr(), key
        pool, n = self.pool, self.n
        if pool is not None and pool.busy.acquire(blocking=False):
            try:
                if pool.owner is not self:                   # another read's jobs are in the rows
                    pool.J[:n, 4:] = self.J[:, 4:]
                    pool.F[:n] = self.F
                    pool.owner = self
                self._read(lambda: _fused.go(pool, n, _fused.PER_READ, vals, self.f64), pool.J, pool.F, key)
            finally:
                pool.busy.release()
            return y
        J, F = self.J, self.F                                # one lane, or the pool is busy

        def here() -> None:
            J[:, _fused.PER_READ] = vals
            for k in range(n):
                _fused.run_job(J[k], F[k])

        self._read(here, J, F, key)
        return y

    def _read(self, dispatch, J: np.ndarray, F: np.ndarray, key: int) -> None:
        """Dispatch; without an ensemble, read again with halved inputs while the ADC saturates
        (bound management over the whole read), and restore the rows' constants."""
        n = self.n
        self.counter[0] = 0
        dispatch()
        if not self.bm:
            return
        red = 1.0
        for attempt in range(1, 64):
            if not (F[:n, _fused.RESULT].max() > self.M and red <= self.max_red):
                break
            red *= 2.0
            self.vals[2] = _fused.subkey(key, 0, attempt)
            F[:n, _fused.STEP] = self.step * red
            F[:n, _fused.SCALE] = self.post * red
            dispatch()
        if red != 1.0:
            F[:n, _fused.STEP] = self.step
            F[:n, _fused.SCALE] = self.post


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
    device, dtype
        Of the float parameters.

    Notes
    -----
    * The float ``weight``/``bias`` are the trainable parameters; the programmed devices are
      buffers (they follow ``.to(device)``).
    * An eval-mode forward programs the array if it never was, and re-programs it (a new
      programming event) if the float weights changed since the last programming.
    * Shared input ``(..., in)`` vs per-member input ``(E, ..., in)``: an input with at least 3
      dimensions whose first is ``E`` is per-member; pass ``shared_input=`` to force either.
    * Inputs are not checked for NaN/inf per forward (that would cost a pass); non-finite inputs
      give non-finite outputs.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, config: CrossbarConfig,
                 ensemble: int | None = None, generator: torch.Generator | None = None,
                 device: Any = None, dtype: torch.dtype | None = None):
        super().__init__()
        check_int_range(in_features, "in_features", 1)
        check_int_range(out_features, "out_features", 1)
        if ensemble is not None:
            check_int_range(ensemble, "ensemble", 1)
        if not isinstance(config, CrossbarConfig):
            raise TypeError(f"config: expected a CrossbarConfig, got {type(config).__name__}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
        self.in_features = in_features
        self.out_features = out_features
        self.ensemble = ensemble
        self.generator = generator
        fk = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(out_features, in_features, **fk))
        self.bias = nn.Parameter(torch.empty(out_features, **fk)) if bias else None
        self._config = config
        self._plan = _ReadPlan(config)
        self._t = float(config.t_inference)
        self._fixed: dict = {}
        self._w_max = 1.0
        self._version = None
        self._post_f: float = 1.0
        self._alpha_f: float = 1.0
        # programmed state (buffers: they follow .to(device)); not saved in state_dict
        for name in ("g_prog", "nu", "g_now", "wn", "w_code", "post", "baseline", "alpha"):
            self.register_buffer(name, None, persistent=False)
        self.reset_parameters()

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
        """The configuration; assigning a new one invalidates the programming."""
        return self._config

    @config.setter
    def config(self, cfg: CrossbarConfig) -> None:
        if not isinstance(cfg, CrossbarConfig):
            raise TypeError(f"config: expected a CrossbarConfig, got {type(cfg).__name__}")
        self._config = cfg
        self._plan = _ReadPlan(cfg)
        self._t = float(cfg.t_inference)
        self._fixed = {}
        self.g_prog = None

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
        return self._alpha_f if self.ensemble is None else self.alpha

    # -- programming --------------------------------------------------------------------------
    @torch.no_grad()
    def program(self, generator: torch.Generator | None = None) -> "AnalogLinear":
        """Programming event: map the float weights to conductances and draw every device
        property fixed at programming (programming noise, d2d/c2c variation, faults, drift
        exponents), then evaluate the array at the current time (see :meth:`set_time`).

        Device-to-device factors and fault masks are drawn on the first programming and kept
        on re-programming (they belong to the device); :meth:`reset_devices` forgets them.
        """
        gen = self.generator if generator is None else generator
        cfg = self._config
        _check_weight(self.weight)
        state = _program(self.weight, cfg, self.ensemble, gen, self._fixed)
        self._fixed = state["fixed"]
        self.g_prog = state["g"]
        self.nu = state["nu"]
        self._w_max = state["w_max"]
        self._plan = _ReadPlan(cfg, self._w_max)
        self._version = self.weight._version
        self.baseline = None
        if cfg.drift_compensation:
            # aihwkit: reference read-out of the one-hot inputs right after programming
            wn0 = _normalised_weights(self.g_prog, cfg, self.ensemble)
            self.baseline = self._readout(wn0, gen, self.g_prog)
        self._refresh(gen)
        return self

    def reset_devices(self) -> None:
        """Forget per-device draws (d2d factors, fault masks) and the programming."""
        self._fixed = {}
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
        self._t = t
        gen = self.generator if generator is None else generator
        if self.g_prog is None or self._stale():
            return self.program(gen)
        self._refresh(gen)
        return self

    def _stale(self) -> bool:
        return self._version is not None and self.weight._version != self._version

    def _readout(self, wn: torch.Tensor, gen, g: torch.Tensor | None = None) -> torch.Tensor:
        """aihwkit's global drift read-out: mean |output| of the one-hot inputs (noisy read, no bias)."""
        eye = torch.eye(self.in_features, dtype=wn.dtype, device=wn.device)
        g = g if self._config.ir_drop is not None else None
        y = _read(eye, wn, g, 1.0, None, self._config, self._plan, self.ensemble, True, gen)
        return y.abs().mean((-2, -1)).clamp(min=1e-4)

    def _refresh(self, gen) -> None:
        cfg, plan = self._config, self._plan
        per_fwd = cfg.read_noise_per_forward
        self.g_now = _conductances_at({"g": self.g_prog, "nu": self.nu}, cfg, self._t, gen,
                                      read_noise=not per_fwd)
        wn = _normalised_weights(self.g_now, cfg, self.ensemble)
        E = self.ensemble
        if cfg.drift_compensation and self.baseline is not None:
            alpha = self.baseline / self._readout(wn, gen, self.g_now)
        else:
            alpha = torch.ones(() if E is None else (E,), dtype=wn.dtype, device=wn.device)
        self.alpha = alpha
        self._alpha_f = float(alpha) if E is None else 1.0
        self.wn = wn
        # fused read constants: codes in = x / (x_scale * step_in); codes out = y_n / step_out
        k = plan.step_in / plan.step_out
        self.w_code = (wn * k).reshape(-1, self.in_features).contiguous()   # (E*out, in)
        post = plan.step_out * self._w_max
        if E is None:
            self._post_f = post * float(alpha)
            self.post = None
        else:
            self.post = (alpha * post).to(wn.dtype)                           # (E,)
            self._post_np = np.asarray(self.post.tolist(), dtype=np.float64)

    # -- forward ------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, *, shared_input: bool | None = None) -> torch.Tensor:
        """A read: ``(..., in)`` -> ``(..., out)``, or ``(E, ..., out)`` with an ensemble."""
        prepared = self.__dict__.get("_lane_read")
        if prepared is not None and shared_input is None and not self.training:
            y = prepared(self, x)           # the prepared CPU read of the last input layout
            if y is not None:
                return y
        x = _check_input(x, self.in_features)
        cfg = self._config
        if self.training:
            return self._forward_train(x, shared_input)
        if self.g_prog is None or self._stale():
            self.program()
        shared, lead, x2 = _layout(x, self.ensemble, shared_input)
        slow = (cfg.ir_drop is not None or cfg.read_noise_per_forward
                or (torch.is_grad_enabled() and x.requires_grad))
        if slow:
            y = self._read_general(x2, shared)
        else:
            with torch.no_grad():
                if self._lanes_apply(x2):
                    x2 = x2.contiguous()
                    lane_read = _LaneRead(self, x2.view(x.shape) if x.is_contiguous() else x2, x2, shared, lead)
                    # kept for the next read when the fast entry can recognise the input as given
                    self.__dict__["_lane_read"] = lane_read if shared_input is None and x.is_contiguous() else None
                    return lane_read.run(self, x2)
                y = self._read_fast(x2, shared)
        return _finish(y, self.ensemble, lead, self.out_features)

    def _read_general(self, x2: torch.Tensor, shared: bool) -> torch.Tensor:
        cfg = self._config
        gen = self.generator
        g_now = self.g_now
        if cfg.read_noise_per_forward and cfg.read_noise is not None:
            g_now = apply_read_noise(g_now, cfg.read_noise, t_inference=self._t, generator=gen,
                                     g_programmed=self.g_prog, check=False)
        wn = _normalised_weights(g_now, cfg, self.ensemble) if cfg.ir_drop is None else None
        g = g_now if cfg.ir_drop is not None else None
        post = self._w_max * (self._alpha_f if self.ensemble is None else self.alpha.view(-1, 1, 1))
        return _read(x2, wn, g, post, self.bias, cfg, self._plan, self.ensemble, shared, gen)

    def _lanes_apply(self, x2: torch.Tensor) -> bool:
        """Whether the lane-parallel CPU read handles ``x2`` (see :class:`_LaneRead`)."""
        cfg = self._config
        if not (x2.device.type == "cpu" and x2.dtype in (torch.float32, torch.float64) and _fused.numba is not None
                and cfg.fast_noise and not cfg.noise_pool and self._plan.sinh is None
                and (_fused.SGEMM if x2.dtype == torch.float32 else _fused.DGEMM)):
            return False
        return self.ensemble is None or x2.shape[-2] * self.in_features * self.out_features >= _MEMBER_MACS

    def _fast_operands(self, dt: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Weights, bias and noise table of a CPU read in ``dt``, cached across reads (module
        attribute lookups and dtype checks cost ~30 us a read); rebuilt when the programming,
        the bias tensor or its version change."""
        b = self.bias
        tag = (id(self.w_code), dt, None if b is None else (b.data_ptr(), b._version))
        ops = self.__dict__.get("_ops")
        if ops is None or ops[0] != tag:
            w = self.w_code if dt == self.w_code.dtype else self.w_code.to(dt)
            bias = None if b is None else b.detach().to(dt).contiguous()
            ops = (tag, (w, bias, _normal_table(w.device, dt)))
            self.__dict__["_ops"] = ops
        return ops[1]

    def _read_fast(self, x2: torch.Tensor, shared: bool) -> torch.Tensor:
        """Fused eval read on cached integer-domain weights (no autograd).

        Large ensembles are processed in blocks of members (about ``_BLOCK`` outputs each) so
        that the element-wise passes after the GEMM run on cache-resident data.
        """
        p = self._plan
        E = self.ensemble
        out_f = self.out_features
        s = _input_scale(x2, p)
        w = self.w_code if x2.dtype == self.w_code.dtype else self.w_code.to(x2.dtype)
        codes: dict[float, torch.Tensor] = {}

        def xcodes(red: float) -> torch.Tensor:
            xc = codes.get(red)
            if xc is None:
                xc = x2 * (1.0 / (p.step_in * red)) if s is None else torch.div(x2, s * (p.step_in * red))
                if p.L is not None:
                    xc.round_()
                    if p.clamp_in:
                        xc.clamp_(-p.L, p.L)
                if p.sinh is not None:
                    xc = _iv_transform(xc * p.step_in, self._config, p).mul_(1.0 / p.step_in)
                codes[red] = xc
            return xc

        if E is None:
            y, red = self._gemm_adc(xcodes, w, None, x2.shape[0])
            c = self._post_f * red
            if s is None:
                return torch.add(self.bias, y, alpha=c) if self.bias is not None else y.mul_(c)
            return torch.addcmul(self.bias, y, s * c) if self.bias is not None else y.mul_(s * c)
        rows = x2.shape[-2]
        per = rows * out_f
        chunk = E if per * E <= _BLOCK else max(1, _BLOCK // per)
        if chunk >= E and shared:
            # one GEMM against the (in, E*out) stacked weights; output (rows, E*out)
            y, red = self._gemm_adc(xcodes, w, None, rows)
            y3 = y.view(rows, E, out_f)
            sc = (self.post * red).view(1, E, 1)
            if s is not None:
                sc = s.view(rows, 1, 1) * sc
            y3 = torch.addcmul(self.bias, y3, sc) if self.bias is not None else y3.mul_(sc)
            return y3.permute(1, 0, 2)
        out = torch.empty(E, rows, out_f, dtype=x2.dtype, device=x2.device)
        w3 = w.view(E, out_f, self.in_features)
        for e0 in range(0, E, chunk):
            e1 = min(E, e0 + chunk)
            target = out[e0:e1]
            if shared and e1 - e0 == 1:
                yb, red = self._gemm_adc(xcodes, w3[e0], target[0], rows)
            elif shared:
                yb, red = self._gemm_adc(xcodes, w3[e0:e1].reshape(-1, self.in_features), None, rows)
                target.copy_(yb.view(rows, e1 - e0, out_f).permute(1, 0, 2))
            else:
                yb, red = self._gemm_adc(xcodes, w3[e0:e1], target, rows, members=(e0, e1))
            sc = (self.post[e0:e1] * red).view(-1, 1, 1)
            if s is not None:
                sc = (s if shared else s[e0:e1]).view(-1 if not shared else 1, rows, 1) * sc
            target.mul_(sc)
            if self.bias is not None:
                target.add_(self.bias)
        return out

    def _gemm_adc(self, xcodes, w: torch.Tensor, target: torch.Tensor | None, rows: int,
                  members: tuple[int, int] | None = None) -> tuple[torch.Tensor, float]:
        """Output codes of one block: noise + GEMM, ADC rounding, bound management.

        ``w``: (cols, in) for a shared input, or (c, out, in) with ``members`` for per-member
        inputs. Writes into ``target`` when given. Returns the block and its input reduction.
        """
        p, cfg = self._plan, self._config
        red = 1.0
        while True:
            xc = xcodes(red)
            if members is not None:
                xc = xc[members[0]:members[1]]
                shape = (w.shape[0], rows, w.shape[1])
            else:
                shape = (rows, w.shape[0])
            n = math.prod(shape)
            if cfg.fast_noise and not cfg.noise_pool and xc.device.type == "cpu" and _fused.numba is not None:
                # fused path: GEMM, then noise + ADC rounding + max|code| in one parallel pass
                y = target if target is not None else torch.empty(shape, dtype=xc.dtype, device=xc.device)
                if members is not None:
                    torch.bmm(xc, w.transpose(1, 2), out=y)
                else:
                    torch.mm(xc, w.t(), out=y)
                if _fused.available(y) and (p.sig_code > 0 or p.M is not None):
                    key = _draw_key(self.generator) if p.sig_code > 0 else 0
                    mx = _fused.noise_round_(y, key, p.sig_code, _normal_table(y.device, y.dtype), p.M is not None)
                    if p.M is not None and mx > p.M:
                        if p.bm and red <= p.max_red:   # ADC saturates: halve the inputs
                            red *= 2.0
                            continue
                        y.clamp_(-p.M, p.M)
                    return y, red
                if p.sig_code > 0:
                    y.add_(_noise(n, cfg, self.generator, xc.device, xc.dtype).view(shape), alpha=p.sig_code)
            elif p.sig_code > 0:
                if cfg.noise_pool:
                    nz = self._pooled_noise(n).view(shape)
                    y = target.copy_(nz) if target is not None else nz.clone()
                else:
                    y = target if target is not None else torch.empty(shape, dtype=xc.dtype, device=xc.device)
                    _noise(n, cfg, self.generator, xc.device, xc.dtype, out=y)
                if members is not None:
                    y.baddbmm_(xc, w.transpose(1, 2), beta=p.sig_code)
                else:
                    y.addmm_(xc, w.t(), beta=p.sig_code)
            elif members is not None:
                y = torch.bmm(xc, w.transpose(1, 2), out=target) if target is not None else \
                    torch.bmm(xc, w.transpose(1, 2))
            else:
                y = torch.mm(xc, w.t(), out=target) if target is not None else xc @ w.t()
            if p.M is not None:
                y.round_()
                if p.bm and red <= p.max_red:
                    lo, hi = torch.aminmax(y)
                    if hi.item() > p.M or -lo.item() > p.M:   # ADC saturates: halve the inputs
                        red *= 2.0
                        continue
                else:
                    y.clamp_(-p.M, p.M)
            return y, red

    def _pooled_noise(self, n: int) -> torch.Tensor:
        """``n`` Gaussian draws as a window of the layer's noise pool (see ``noise_pool``)."""
        gen = self.generator
        dev = self.w_code.device
        pool = getattr(self, "_pool", None)
        if pool is None or pool.numel() < 4 * n or pool.device != dev or pool.dtype != self.w_code.dtype:
            pool = torch.randn(max(4 * n, 1 << 16), generator=gen, dtype=self.w_code.dtype,
                               device=dev)
            self._pool = pool
        size = pool.numel()
        gdev = gen.device if gen is not None else "cpu"
        k = max(1, n // 8)
        r0, r = torch.randint(0, size, (2,), generator=gen, device=gdev).tolist()
        head = min(k, size - r0)
        pool[r0:r0 + head].normal_(generator=gen)
        if head < k:
            pool[:k - head].normal_(generator=gen)
        r = r % (size - n + 1)
        return pool[r:r + n]

    def _forward_train(self, x: torch.Tensor, shared_input: bool | None) -> torch.Tensor:
        cfg = self._config
        shared, lead, x2 = _layout(x, self.ensemble, shared_input)
        w_eff, g_eff, post, w_max = _sample_train_weights(self.weight, cfg, self.ensemble, self.generator, self._t)
        y = _read(x2, w_eff, g_eff, post, self.bias, cfg, _ReadPlan(cfg, w_max), self.ensemble, shared,
                  self.generator)
        return _finish(y, self.ensemble, lead, self.out_features)

    # -- conversion ---------------------------------------------------------------------------
    @classmethod
    def from_linear(cls, linear: nn.Linear, *, config: CrossbarConfig, ensemble: int | None = None,
                    generator: torch.Generator | None = None) -> "AnalogLinear":
        """An ``AnalogLinear`` with a copy of ``linear``'s weights and bias (not yet programmed)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear: expected a torch.nn.Linear, got {type(linear).__name__}")
        w = linear.weight
        layer = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, config=config,
                    ensemble=ensemble, generator=generator, device=w.device, dtype=w.dtype)
        with torch.no_grad():
            layer.weight.copy_(w)
            if linear.bias is not None:
                layer.bias.copy_(linear.bias)
        layer.train(linear.training)
        return layer

    def to_linear(self) -> nn.Linear:
        """An ``nn.Linear`` with a copy of the float (target) weights and bias."""
        lin = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                        device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            lin.weight.copy_(self.weight)
            if self.bias is not None:
                lin.bias.copy_(self.bias)
        return lin

    def programmed_weight(self) -> torch.Tensor:
        """Effective weights (weight units, drift-compensated) of the array now: (E?, out, in)."""
        if self.g_prog is None or self._stale():
            self.program()
        a = self._alpha_f if self.ensemble is None else self.alpha.view(-1, 1, 1)
        return self.wn * (self._w_max * a)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, ensemble={self.ensemble}, t_inference={self._t:g}")
