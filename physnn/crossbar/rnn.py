"""Recurrent networks on memristor crossbars with ideal or ramp-ADC activations.

Each cell holds two :class:`~physnn.crossbar.layer.AnalogLinear` crossbars: the input projection
``W_ih x + b_ih`` (all gates stacked, ``G * hidden`` outputs) and the recurrent projection
``W_hh h + b_hh``. The sequence modules (:class:`AnalogLSTM`, :class:`AnalogGRU`,
:class:`AnalogRNN`) compute the input projection of **all time steps in one crossbar call** and the
recurrent projection once per step (one fused read for all gates). In evaluation on the CPU the
whole sequence is one compiled call (:mod:`physnn.crossbar._rnn_kernel`). The gate nonlinearities are
either ideal (``torch.sigmoid``/``torch.tanh``) or computed by ramp ADCs whose ramps are programmed
memristor columns (:mod:`physnn.crossbar.ramp_adc`, the scheme of Yang et al., arXiv:2411.18271):
then the column's ADC count *is* the activation, evaluated with one vectorised table lookup for
all gates of a step.

Gate layouts follow ``torch.nn``: LSTM ``(i, f, g, o)``, GRU ``(r, z, n)``, so weights copy over
from ``torch.nn.LSTM``/``GRU``/``RNN`` (``from_torch``).

Training: in ``train()`` mode the input crossbar re-samples its programming each forward
(AnalogLinear's noise injection) and the recurrent crossbar is re-programmed once per sequence
(programming noise, drift and read noise as configured), its noisy weights attached to the float
weights by a straight-through estimator; the crossbar's output noise is added per step; ramp
activations use the straight-through surrogate ``f'(x)``. DAC/ADC rounding of the recurrent read
is left out in training (identity gradient anyway). In ``eval()`` mode every step is a full
crossbar read (DAC, output noise, ADC) of the programmed arrays.

Examples
--------
>>> import torch
>>> from physnn.crossbar import CrossbarConfig
>>> from physnn.crossbar.rnn import AnalogLSTM, RampActivations
>>> lstm = AnalogLSTM(8, 16, batch_first=True, config=CrossbarConfig.ideal(),
...                   activations=RampActivations(bits=5)).eval()
>>> out, (h, c) = lstm(torch.randn(4, 10, 8))
>>> out.shape, h.shape
(torch.Size([4, 10, 16]), torch.Size([4, 16]))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from .._checks import check_int_range
from .config import CrossbarConfig
from . import _blas, _fused, _rnn_kernel
from .layer import AnalogLinear, _draw_key, _normal_table
from .iv import SinhIV
from .ramp_adc import RampADC, RampADCActivation, RampDevices, ThresholdLookup

__all__ = [
    "IdealActivations",
    "RampActivations",
    "AnalogRNNCellBase",
    "AnalogLSTMCell",
    "AnalogGRUCell",
    "AnalogRNNCell",
    "AnalogLSTM",
    "AnalogGRU",
    "AnalogRNN",
]


# ---------------------------------------------------------------------------------------------
# activation configs
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class IdealActivations:
    """Exact ``torch.sigmoid`` / ``torch.tanh`` gate nonlinearities (digital or ideal periphery)."""


@dataclass(frozen=True, kw_only=True)
class RampActivations:
    """Gate nonlinearities computed by memristor-ramp ADCs (one ramp column per function).

    Parameters
    ----------
    bits : int
        ADC resolution (the paper: 5).
    sigmoid_range, tanh_range : (float, float)
        Input ranges covered by the sigmoid and tanh ramps; outside they saturate. Default: 15 %
        beyond the outermost threshold, ``±1.15 atanh(1 - 1/(2**bits - 1))`` for tanh (±2.41 at
        5 bits) and twice that for sigmoid, so every level is reached and no ramp range (hence
        conductance per input unit) is wasted.
    sigmoid_levels, tanh_levels : (float, float)
        Output full scale (first and last code): (0, 1) and (-1, 1).
    devices : RampDevices
        Conductance window and device effects of the ramp columns (ideal by default; use
        ``RampDevices.from_card(...)`` for programming / read noise and faults).
    """

    bits: int = 5
    sigmoid_range: tuple[float, float] | None = None
    tanh_range: tuple[float, float] | None = None
    sigmoid_levels: tuple[float, float] = (0.0, 1.0)
    tanh_levels: tuple[float, float] = (-1.0, 1.0)
    devices: RampDevices = field(default_factory=RampDevices)

    def __post_init__(self) -> None:
        check_int_range(self.bits, "bits", 1, 12)
        if self.tanh_range is None or self.sigmoid_range is None:
            import math

            m = 2 ** self.bits - 1
            # outermost tanh threshold: level mid-point 1 - LSB/2 with LSB = 2/m (1 bit: tanh(x)=0)
            edge = math.atanh(1.0 - 1.0 / m) if m > 1 else 0.5
            t = 1.15 * edge
            if self.tanh_range is None:
                object.__setattr__(self, "tanh_range", (-t, t))
            if self.sigmoid_range is None:
                object.__setattr__(self, "sigmoid_range", (-2 * t, 2 * t))
        # validate by building the two ADC configs once
        self.sigmoid_adc()
        self.tanh_adc()

    def sigmoid_adc(self) -> RampADC:
        """The sigmoid ramp ADC config."""
        return RampADC(function=torch.sigmoid, bits=self.bits, x_range=self.sigmoid_range,
                       y_range=self.sigmoid_levels, devices=self.devices)

    def tanh_adc(self) -> RampADC:
        """The tanh ramp ADC config."""
        return RampADC(function=torch.tanh, bits=self.bits, x_range=self.tanh_range,
                       y_range=self.tanh_levels, devices=self.devices)


def _check_activations(a: Any) -> Any:
    if not isinstance(a, (IdealActivations, RampActivations)):
        raise TypeError(f"activations: expected IdealActivations() or RampActivations(...), got {a!r}")
    return a


_SIG, _TANH = 0, 1


def _lstm_loop_py(xs: torch.Tensor, has_noise: bool, generator: Optional[torch.Generator], stds: torch.Tensor,
                  w: torch.Tensor, post: torch.Tensor,
                  h: torch.Tensor, c: torch.Tensor, ca: torch.Tensor, cb: torch.Tensor, y0: torch.Tensor,
                  lsb: torch.Tensor, sca: torch.Tensor, scb: torch.Tensor, sy0: torch.Tensor, slsb: torch.Tensor,
                  hs: int, ramp: bool, abs_max: bool, mult: float, has_dac: bool, clamp_in: bool, lim: float,
                  sig: float, adc_m: float, need_clamp: bool, s_clamp: bool, m: float, sm: float,
                  ensemble: bool, simple: bool, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Time loop of the fused evaluation LSTM (TorchScript-compiled when possible).

    ``xs`` (T, [E,] B, 4H): input projection incl. biases; with ``has_noise`` one standard-normal
    draw per output and step from ``generator`` (drawn per step into a reused buffer, which stays
    in cache); ``stds`` (T, [E,] B, 1) deferred input-read noise std or empty; ``w`` code-domain
    recurrent weights (H, 4H) or (E, H, 4H); ``post`` digital output scale. With ``ramp`` the
    tanh-gate pre-activations are doubled and every gate is a sigmoid (tanh(x) = 2 sigmoid(2x) - 1);
    ``simple``: the default output levels (sigmoid 0..1, tanh -1..1, same ``m``), evaluated with
    in-place scalar operations. ``noise`` (T, [E,] B, 4H): pre-drawn standard-normal noise of all
    steps (counter-based generator, one compiled pass), or empty to draw per step with
    ``generator``. See ``_fused_sequence``.
    """
    pre_drawn = noise.numel() > 0
    outs = torch.empty([xs.size(0)] + h.size(), dtype=h.dtype, device=h.device)
    nbuf = torch.empty(xs.shape[1:], dtype=xs.dtype, device=xs.device)
    sig_t = torch.full((1,), sig, dtype=xs.dtype, device=xs.device)
    for t in range(xs.shape[0]):
        if abs_max:
            # as AnalogLinear: an all-zero input row gets a tiny scale (codes 0, no output noise)
            sc = h.abs().amax(-1, keepdim=True).clamp_(min=1e-30)
            xc = h * (sc.reciprocal() * mult)
            scp = sc * post
        else:
            xc = h * mult
            scp = post
        if has_dac:
            xc.round_()
            if clamp_in:
                xc.clamp_(-lim, lim)
        if adc_m < 0:
            # no ADC: scale the codes before the product (B x H instead of B x 4H) and add
            # the output noise in output units: std = hypot(deferred input-read std, sig * scale)
            xt = xs[t]
            if has_noise:
                nz = noise[t] if pre_drawn else nbuf.normal_(0.0, 1.0, generator=generator)
                std = sig_t * scp
                if stds.numel() > 0:
                    std = torch.hypot(stds[t], std)
                xt = torch.addcmul(xt, nz, std)
            if ensemble:
                pre = torch.baddbmm(xt, xc * scp, w)
            else:
                pre = torch.addmm(xt, xc * scp, w)
        else:
            if has_noise:
                nz = noise[t] if pre_drawn else nbuf.normal_(0.0, 1.0, generator=generator)
                beta = sig
                if stds.numel() > 0:
                    nz = nz * torch.hypot(stds[t] / scp, sig_t)
                    beta = 1.0
                if ensemble:
                    y = torch.baddbmm(nz, xc, w, beta=beta)
                else:
                    y = torch.addmm(nz, xc, w, beta=beta)
            else:
                if ensemble:
                    y = torch.bmm(xc, w)
                else:
                    y = torch.mm(xc, w)
            y.round_().clamp_(-adc_m, adc_m)
            pre = torch.addcmul(xs[t], y, scp)
        if ramp and simple:
            pre[..., 2 * hs:3 * hs].mul_(2.0)
            gates = torch.sigmoid_(pre).mul_(m).round_().mul_(1.0 / m)    # code / m
            gates[..., 2 * hs:3 * hs].mul_(2.0).sub_(1.0)                  # tanh levels 2 code/m - 1
        elif ramp:
            pre[..., 2 * hs:3 * hs].mul_(2.0)
            code = torch.addcmul(cb, torch.sigmoid_(pre), ca).round_()
            if need_clamp:
                code.clamp_(0.0, m)
            gates = torch.addcmul(y0, code, lsb)
        else:
            gates = torch.sigmoid(pre)
            gates[..., 2 * hs:3 * hs] = torch.tanh(pre[..., 2 * hs:3 * hs])
        i = gates[..., :hs]
        f = gates[..., hs:2 * hs]
        g = gates[..., 2 * hs:3 * hs]
        o = gates[..., 3 * hs:]
        c = torch.addcmul(f * c, i, g)
        if ramp and simple:
            tc = torch.sigmoid_(c * 2.0).mul_(sm).round_().mul_(2.0 / sm).sub_(1.0)
        elif ramp:
            tc = torch.addcmul(scb, torch.sigmoid(c * 2.0), sca).round_()
            if s_clamp:
                tc.clamp_(0.0, sm)
            tc = torch.addcmul(sy0, tc, slsb)
        else:
            tc = torch.tanh(c)
        h = torch.mul(o, tc, out=outs[t])
    return outs, h.clone(), c


_LOOP: list[Any] = []


def _lstm_loop() -> Any:
    """The scripted loop (compiled once, ~1 s); plain Python if TorchScript is unavailable."""
    if not _LOOP:
        try:
            _LOOP.append(torch.jit.script(_lstm_loop_py))
        except Exception:  # pragma: no cover - TorchScript missing or broken: same code in Python
            _LOOP.append(_lstm_loop_py)
    return _LOOP[0]


class _GateActivation(nn.Module):
    """Applies sigmoid / tanh per column of a stacked pre-activation (ideal or ramp ADC).

    Ramp path, two exact evaluations of the comparator count:

    * ideal ramp columns (no programming noise, faults or read noise): the thresholds sit exactly
      at ``f^{-1}`` of the level mid-points, so the count equals ``clamp(round((f(x) - y0) /
      LSB), 0, M)``; with ``tanh(x) = 2 sigmoid(2x) - 1`` both functions reduce to one sigmoid per
      element, ``code = clamp(round(A sigmoid(beta x) + B), 0, M)`` with per-column constants
      (5 elementwise kernels for all gates). Equal to the threshold comparison up to float
      rounding of inputs within one ulp of a threshold. Used only when every threshold lies
      strictly inside its ramp's input range (else saturation would differ).
    * programmed (noisy) ramp columns: :class:`~physnn.crossbar.ramp_adc.ThresholdLookup` on the
      programmed thresholds (exact, two gathers per element); with read noise on the ramp, one
      read of the columns per call (slowest).
    """

    def __init__(self, kinds: list[int], activations: Any, ensemble: int | None,
                 generator: torch.Generator | None):
        super().__init__()
        self.activations = activations
        self.ensemble = ensemble
        self.kinds_list = list(kinds)
        # contiguous runs of equal kind: (start, stop, kind)
        runs, s = [], 0
        for i in range(1, len(kinds) + 1):
            if i == len(kinds) or kinds[i] != kinds[s]:
                runs.append((s, i, kinds[s]))
                s = i
        self.runs = runs
        self.ramps = nn.ModuleList()
        self.closed_form = False
        if isinstance(activations, RampActivations):
            self.ramps.append(RampADCActivation(activations.sigmoid_adc(), ensemble=ensemble, generator=generator))
            self.ramps.append(RampADCActivation(activations.tanh_adc(), ensemble=ensemble, generator=generator))
            dev = activations.devices
            ideal_dev = dev.programming_noise is None and dev.read_noise is None and dev.faults is None
            inside = all(bool((r.design.thresholds > r.design.x_range[0]).all()
                              and (r.design.thresholds < r.design.x_range[1]).all()) for r in self.ramps)
            self.closed_form = ideal_dev and inside
            if self.closed_form:
                # f = alpha * sigmoid(beta x) + gamma: sigmoid (1, 1, 0), tanh (2, 2, -1)
                coef = {_SIG: (1.0, 1.0, 0.0), _TANH: (2.0, 2.0, -1.0)}
                beta, a_, b_, y0, lsb = [], [], [], [], []
                for k in kinds:
                    al, be, ga = coef[k]
                    d = self.ramps[k].design
                    step = d.direction * d.lsb
                    beta.append(be)
                    a_.append(al / step)
                    b_.append((ga - float(d.levels[0])) / step)
                    y0.append(float(d.levels[0]))
                    lsb.append(step)
                self.m = float(self.ramps[0].design.n_steps)
                for name, v in (("beta", beta), ("ca", a_), ("cb", b_), ("y0", y0), ("lsb", lsb)):
                    self.register_buffer(name, torch.tensor(v), persistent=False)
                self.all_beta_one = all(b == 1.0 for b in beta)
        self._luts: dict[Any, ThresholdLookup] = {}
        self._consts: dict[Any, tuple[torch.Tensor, ...]] = {}

    def program(self, generator: torch.Generator | None = None) -> None:
        for r in self.ramps:
            r.program(generator)
        self._luts = {}

    def _lut(self, x: torch.Tensor) -> ThresholdLookup:
        key = (x.dtype, x.device)
        lut = self._luts.get(key)
        if lut is None:
            tables = []
            for r in self.ramps:
                d = r.design
                tables.append((r.thresholds.to(x.device), float(d.levels[0]), d.direction * d.lsb))
            lut = ThresholdLookup(tables, columns=self.kinds_list, dtype=x.dtype)
            self._luts[key] = lut
        return lut

    def ideal(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.runs) == 1:
            return torch.sigmoid(x) if self.runs[0][2] == _SIG else torch.tanh(x)
        parts = [torch.sigmoid(x[..., a:b]) if k == _SIG else torch.tanh(x[..., a:b]) for a, b, k in self.runs]
        return torch.cat(parts, -1)

    def _closed(self, x: torch.Tensor) -> torch.Tensor:
        key = (x.dtype, x.device)
        c = self._consts.get(key)
        if c is None:
            c = tuple(getattr(self, n).to(device=x.device, dtype=x.dtype) for n in ("beta", "ca", "cb", "y0", "lsb"))
            self._consts[key] = c
        beta, ca, cb, y0, lsb = c
        s = torch.sigmoid(x if self.all_beta_one else x * beta)
        code = torch.addcmul(cb, s, ca).round_().clamp_(0.0, self.m)
        return torch.addcmul(y0, code, lsb)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.ramps:
            return self.ideal(x)
        if self.closed_form:
            y = self._closed(x.detach())
        elif any(r.config.devices.read_noise is not None for r in self.ramps):
            # one read of each ramp column per conversion (slow path, exact device model)
            with torch.no_grad():
                parts = [self.ramps[k](x[..., a:b].detach()) for a, b, k in self.runs]
            y = parts[0] if len(parts) == 1 else torch.cat(parts, -1)
        else:
            y = self._lut(x)(x.detach())
        if x.requires_grad:
            fx = self.ideal(x)
            y = fx + (y - fx).detach()
        return y


# ---------------------------------------------------------------------------------------------
# cells
# ---------------------------------------------------------------------------------------------
class AnalogRNNCellBase(nn.Module):
    """Common machinery: the two crossbars, programming, per-step recurrent read."""

    n_gates = 1
    gate_kinds: tuple[int, ...] = (_TANH,)

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, config: CrossbarConfig,
                 activations: Any = None, ensemble: int | None = None,
                 generator: torch.Generator | None = None):
        super().__init__()
        check_int_range(input_size, "input_size", 1)
        check_int_range(hidden_size, "hidden_size", 1)
        if not isinstance(config, CrossbarConfig):
            raise TypeError(f"config: expected a CrossbarConfig, got {type(config).__name__}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.ensemble = ensemble
        self.generator = generator
        self.activations = _check_activations(IdealActivations() if activations is None else activations)
        g = self.n_gates * hidden_size
        self.ih = AnalogLinear(input_size, g, bias=bias, config=config, ensemble=ensemble, generator=generator)
        self.hh = AnalogLinear(hidden_size, g, bias=bias, config=config, ensemble=ensemble, generator=generator)
        kinds = [k for k in self.gate_kinds for _ in range(hidden_size)]
        self.gate_act = _GateActivation(kinds, self.activations, ensemble, generator)
        self.state_act = _GateActivation([_TANH] * hidden_size, self.activations, ensemble, generator)
        # gradient-carrying recurrent weights of the current training sequence
        self._train_w: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``torch.nn`` RNN initialisation: uniform(-1/sqrt(H), 1/sqrt(H)) for every parameter."""
        k = self.hidden_size ** -0.5
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    @property
    def config(self) -> CrossbarConfig:
        return self.ih.config

    @torch.no_grad()
    def program(self, generator: torch.Generator | None = None) -> "AnalogRNNCellBase":
        """Programming event of both crossbars and of the ramp columns."""
        gen = self.generator if generator is None else generator
        self.ih.program(gen)
        self.hh.program(gen)
        for act in (self.gate_act, self.state_act):
            if act is not None:
                act.program(gen)
        return self

    def set_time(self, t_inference: float, generator: torch.Generator | None = None) -> "AnalogRNNCellBase":
        """Move both crossbars to ``t_inference`` s after programming (drift, read noise)."""
        self.ih.set_time(t_inference, generator)
        self.hh.set_time(t_inference, generator)
        return self

    # -- recurrent read -------------------------------------------------------------------------
    def begin_sequence(self) -> None:
        """Prepare the per-step recurrent reads of one sequence.

        Training: one programming of the recurrent crossbar with gradients to the float weights
        (straight-through). Evaluation: nothing (the programmed array is read each step).
        """
        if self.training:
            hh = self.hh
            with torch.no_grad():
                hh.program()
                w_prog = hh.programmed_weight()          # (E?, G, H) weight units
            w = hh.weight + (w_prog - hh.weight).detach()
            # output noise of a read in weight units: out_noise (normalised units) * w_max, times
            # the input's largest magnitude with abs-max input scaling (as AnalogLinear's read)
            plan = hh._plan
            sigma = float(plan.out_noise) * float(hh._w_max)
            self._train_w = (w.transpose(-1, -2), hh.bias, sigma, bool(plan.abs_max))
        else:
            self._train_w = None

    def end_sequence(self) -> None:
        self._train_w = None

    def recurrent(self, h: torch.Tensor) -> torch.Tensor:
        """``W_hh h + b_hh`` of one step: a crossbar read (eval) or the training sample."""
        tw = self._train_w
        if tw is None:
            if self.training:
                self.begin_sequence()
                tw = self._train_w
            else:
                return self.hh(h)
        wt, b, sigma, abs_max = tw
        y = torch.matmul(h, wt)
        if b is not None:
            y = y + b
        if sigma > 0:
            n = torch.randn(y.shape, generator=self.generator, dtype=y.dtype, device=y.device)
            scale = sigma * h.detach().abs().amax(-1, keepdim=True) if abs_max else sigma
            y = y + scale * n
        return y

    # -- compiled evaluation loops (see physnn.crossbar._rnn_kernel) ---------------------------
    def _read_fusable(self) -> bool:
        """Evaluation mode and a recurrent read the fused loops reproduce (no IR drop, no per-read
        read noise, linear I-V, no ADC with bound management)."""
        cfg = self.hh.config
        return (not self.training and cfg.ir_drop is None and not cfg.read_noise_per_forward
                and not isinstance(cfg.iv, SinhIV) and not (cfg.adc is not None and cfg.bound_management))

    def _compiled_ok(self, x: torch.Tensor) -> bool:
        """Whether a sequence runs as one compiled call (:mod:`._rnn_kernel`) for ``x``."""
        return x.device.type == "cpu" and _rnn_kernel.available(x.dtype) and self.hh.config.fast_noise

    def _acts_fusable(self, x: torch.Tensor, *acts: "_GateActivation") -> bool:
        """Ideal or closed-form activations anywhere; programmed ramps without read noise in the
        compiled loop only."""
        return all(not a.ramps or a.closed_form
                   or (self._compiled_ok(x) and all(r.config.devices.read_noise is None for r in a.ramps))
                   for a in acts)

    @classmethod
    def _activation_args(cls, act: "_GateActivation", dt: torch.dtype, E: int
                         ) -> tuple[int, bool, float, tuple[np.ndarray, ...]]:
        """Mode, clamp flag, code limit (see :meth:`_ramp_clamp`) and arrays of one activation for
        :mod:`._rnn_kernel`: mode 0 ideal and 1 closed-form ramp (per column ``A, B, beta, y0,
        lsb`` of ``v = B + A sigmoid(beta x)``), 2 programmed ramp columns (the exact threshold
        tables of ``act._lut``)."""
        n = len(act.kinds_list)
        nd = np.float32 if dt == torch.float32 else np.float64
        no_lut = (np.zeros((6, 1, 1), nd), np.zeros(1, np.int64), np.zeros((1, 1), nd))
        if not act.ramps:
            coef = {_SIG: (1.0, 0.0, 1.0), _TANH: (2.0, -1.0, 2.0)}
            tab = torch.tensor([coef[k] for k in act.kinds_list], dtype=dt).T
            return 0, False, 0.0, (torch.cat([tab, torch.zeros(2, n, dtype=dt)]).contiguous().numpy(),) + no_lut
        if act.closed_form:
            # the closed-form constants in the data dtype, as the TorchScript loop uses them
            rows = [getattr(act, name).to(dt) for name in ("ca", "cb", "beta", "y0", "lsb")]
            clamp, m = cls._ramp_clamp(act, dt)
            return 1, clamp, m, (torch.stack(rows).contiguous().numpy(),) + no_lut
        lut = act._lut(torch.zeros(1, dtype=dt))
        tab = np.zeros((5, n), nd)
        tab[2] = 1.0                               # the comparators see the pre-activation itself
        rows = [v.reshape(-1, n).expand(E, n) for v in (lut.inv, lut.shift, lut.low, lut.high)]
        rows += [v.reshape(1, n).expand(E, n) for v in (lut.y0, lut.slope)]
        lut_a = torch.stack(rows).to(dt).contiguous().numpy()
        cells = torch.stack(lut.cells).to(dt).contiguous().numpy()
        return 2, False, 0.0, (tab, lut_a, lut.base.to(torch.int64).contiguous().numpy(), cells)

    def _gated_acts(self) -> tuple["_GateActivation | None", "_GateActivation"]:
        """Activations of the compiled GRU/Elman loop: (r/z gates or None, n gate or output)."""
        raise NotImplementedError

    def _gated_fusable(self, x: torch.Tensor) -> bool:
        """Whether :meth:`_gated_sequence` reproduces the per-step evaluation for ``x``."""
        return (self._compiled_ok(x) and self._read_fusable()
                and self._acts_fusable(x, *[a for a in self._gated_acts() if a is not None]))

    @staticmethod
    def _ramp_clamp(act: "_GateActivation", dt: torch.dtype) -> tuple[bool, float]:
        """Whether the closed-form ramp counts need clamping to [0, M], and M."""
        if not (act.ramps and act.closed_form):
            return False, 0.0
        ca, cb = act.ca.to(dt), act.cb.to(dt)
        return bool((cb < 0).any() or (ca + cb > act.m).any()), float(act.m)

    def _read_args(self, dt: torch.dtype, E: int) -> tuple[np.ndarray, np.ndarray, dict]:
        """Flags, scalars and arrays of the recurrent crossbar read shared by the compiled loops
        (:mod:`._rnn_kernel`): ``ip`` / ``fp`` with the read's entries filled, and the GEMM
        address, weights ``(E, H, G)``, digital scale ``(E,)`` and numpy dtypes."""
        hh, K = self.hh, _rnn_kernel
        p = hh._plan
        f32 = dt == torch.float32
        fn, nd, ki = (_blas.SGEMM, np.float32, np.int32) if f32 else (_blas.DGEMM, np.float64, np.int64)
        ip = np.zeros(14, np.int64)
        fp = np.zeros(12, nd)
        ip[K.ABS_MAX], ip[K.HAS_DAC], ip[K.CLAMP_IN] = bool(p.abs_max), p.L is not None, p.clamp_in
        ip[K.HAS_ADC] = p.M is not None
        fp[K.MULT], fp[K.STEP], fp[K.LIM] = 1.0 / p.step_in, p.step_in, float(p.L or 0.0)
        fp[K.SIG], fp[K.ADC_M], fp[K.ONE] = float(p.sig_code), float(p.M) if p.M is not None else -1.0, 1.0
        g = hh.out_features
        w = hh.w_code.detach().to(dt).reshape(E, g, hh.in_features).transpose(1, 2).contiguous()
        post = (torch.full((1,), float(hh._post_f), dtype=dt) if self.ensemble is None
                else hh.post.reshape(E).to(dt).contiguous())
        return ip, fp, {"fn": fn, "nd": nd, "ki": ki, "w": w.numpy(), "post": post.numpy(),
                        "mask": _fused.MASKS[np.dtype(nd)]}

    @torch.no_grad()
    def _gated_sequence(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Evaluation GRU/Elman sequence as one compiled call (:func:`._rnn_kernel.gated_sequence`).

        The input crossbar is read for all steps at once (as the per-step path does, same
        numbers); each step's recurrent read (DAC, GEMM, output noise, ADC, scale, bias) and the
        gates run inside the compiled loop. The recurrent read's noise is drawn there from one key
        of the crossbar's generator (counter-based, same distribution as the per-step reads, other
        numbers). Returns outputs ``(T, E?, B, H)`` and the final state.
        """
        hh = self.hh
        if not hh.is_programmed or hh._stale():
            hh.program()
        p = hh._plan
        xp = self.ih(x)                                      # (E?, T, B, G): one read of all steps
        e = self.ensemble
        E = 1 if e is None else e
        hs = self.hidden_size
        T, B = x.shape[-3], x.shape[-2]                      # x: (T, B, in) or per member (E, T, B, in)
        g = self.n_gates * hs
        dt = x.dtype
        K = _rnn_kernel
        ip, fp, r = self._read_args(dt, E)
        nd, ki = r["nd"], r["ki"]
        act_a, act_b = self._gated_acts()
        b_mode, b_clamp, b_m, b_args = self._activation_args(act_b, dt, E)
        a_mode, a_clamp, a_m, a_args = ((0, False, 0.0, b_args) if act_a is None
                                        else self._activation_args(act_a, dt, E))
        ip[K.GATE_RAMP], ip[K.STATE_RAMP], ip[K.GATE_CLAMP], ip[K.STATE_CLAMP] = a_mode, b_mode, a_clamp, b_clamp
        ip[K.HAS_NOISE] = p.sig_code > 0
        fp[K.GATE_M], fp[K.STATE_M] = a_m, b_m
        key = _draw_key(hh.generator) if p.sig_code > 0 else 0
        xs = (xp if e is None else xp.transpose(0, 1)).reshape(T, E, B, g).contiguous()
        bias = np.empty(0, nd) if hh.bias is None else hh.bias.detach().to(dt).contiguous().numpy()
        h3 = torch.empty((E, B, hs), dtype=dt)
        h3.copy_(h)                                        # (B, H) broadcasts over the members
        outs = torch.empty((T, E, B, hs), dtype=dt)
        na = 2 * hs if act_a is not None else 1
        K.gated_sequence(r["fn"], act_a is not None, xs.numpy(), np.array([key], np.int64).view(np.uint64)[0],
                         _normal_table(x.device, dt).numpy(), r["w"], r["post"], bias, h3.numpy(), outs.numpy(),
                         *a_args, *b_args, ip, fp, r["mask"], np.empty((B, hs), nd), np.empty((B, g), nd),
                         np.empty((4, na), nd), np.empty(na, ki), np.empty((4, hs), nd), np.empty(hs, ki),
                         np.empty(8, np.int32), np.empty(2, nd))
        return (outs[:, 0], h3[0]) if e is None else (outs, h3)

    def _one_step(self, x: torch.Tensor, state: Any, make_state: Any) -> Any:
        """One cell step on raw input ``x``: input projection, zero state if None (``make_state``
        builds it from a zero tensor), one sequence bracket around :meth:`step`."""
        xp = self.input_projection(x)
        if state is None:
            state = make_state(self._zeros(x))
        self.begin_sequence()
        try:
            return self.step(xp, state)
        finally:
            self.end_sequence()

    def _state_shape(self, batch_shape: tuple[int, ...]) -> tuple[int, ...]:
        lead = () if self.ensemble is None else (self.ensemble,)
        return lead + batch_shape + (self.hidden_size,)

    def _zeros(self, ref: torch.Tensor, per_member: bool | None = None) -> torch.Tensor:
        """Zero state for input ``ref`` (``(..., in)``, or ``(E, ..., in)`` when ``per_member``).

        ``per_member=None`` follows AnalogLinear's rule: per-member if at least 3 dims lead with E.
        """
        bshape = tuple(ref.shape[:-1])
        if per_member is None:
            per_member = self.ensemble is not None and ref.dim() >= 3 and ref.shape[0] == self.ensemble
        if per_member:
            bshape = bshape[1:]
        return torch.zeros(self._state_shape(bshape), dtype=ref.dtype, device=ref.device)

    def _check_x(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"x: expected a floating-point tensor, got {type(x).__name__}")
        if x.dim() == 0 or x.shape[-1] != self.input_size:
            raise ValueError(f"x: last dimension must be input_size={self.input_size}, got shape {tuple(x.shape)}")
        return x

    def input_projection(self, x: torch.Tensor) -> torch.Tensor:
        """``W_ih x + b_ih`` in one crossbar call; output (E?, ..., G*H)."""
        return self.ih(self._check_x(x))

    @classmethod
    def from_torch(cls, module: nn.Module, *, config: CrossbarConfig, activations: Any = None,
                   ensemble: int | None = None, generator: torch.Generator | None = None) -> "AnalogRNNCellBase":
        """Copy the weights of the matching ``torch.nn`` cell (``LSTMCell``, ``GRUCell``, ``RNNCell``)."""
        if isinstance(module, nn.RNNCell) and module.nonlinearity != "tanh":
            raise ValueError("module: only tanh Elman cells are supported")
        new = cls(module.input_size, module.hidden_size, module.bias, config=config, activations=activations,
                  ensemble=ensemble, generator=generator)
        _copy_weights(new, module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh)
        return new

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, ensemble={self.ensemble}, "
                f"activations={type(self.activations).__name__}")


class AnalogLSTMCell(AnalogRNNCellBase):
    """LSTM cell on crossbars: ``forward(x, (h, c)) -> (h', c')`` like ``torch.nn.LSTMCell``.

    Parameters
    ----------
    input_size, hidden_size : int
    bias : bool
        Digital biases of the two crossbars (``b_ih``, ``b_hh``).
    config : CrossbarConfig
        Device effects and periphery of both crossbars.
    activations : IdealActivations or RampActivations
        Gate nonlinearities.
    ensemble : int, optional
        Independent device instances; states and outputs get a leading ``E`` dimension.
    generator : torch.Generator, optional
        Source of all draws.
    """

    n_gates = 4
    gate_kinds = (_SIG, _SIG, _TANH, _SIG)

    def step(self, xp: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """One step from the input projection ``xp`` (E?, B, 4H) and the state ``(h, c)``."""
        h, c = state
        gates = self.gate_act(xp + self.recurrent(h))
        hs = self.hidden_size
        i, f, g, o = gates[..., :hs], gates[..., hs:2 * hs], gates[..., 2 * hs:3 * hs], gates[..., 3 * hs:]
        c = torch.addcmul(f * c, i, g)
        h = o * self.state_act(c)
        return h, c

    def _fusable(self, x: torch.Tensor) -> bool:
        """Whether the fused evaluation loop reproduces ``hh``'s read exactly (see ``_fused_sequence``).

        Ramp activations need the closed form, or -- in the compiled loop only -- programmed ramp
        columns without read noise (exact threshold tables)."""
        return self._read_fusable() and self._acts_fusable(x, self.gate_act) and self.ih.config is self.hh.config

    @torch.no_grad()
    def _input_read_noiseless(self, x: torch.Tensor, gscale: torch.Tensor | None = None,
                              extra_bias: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Input crossbar read of all steps without its output noise.

        Returns the projection ``(E?, T, B, 4H)`` and the std of the omitted output noise per
        row, ``(T, B, 1)`` or ``(E, T, B, 1)`` (weight units), so that the caller draws it together
        with the recurrent read's noise: the sum of two independent Gaussians is one Gaussian of
        the summed variance (identical distribution, one draw instead of two). Same arithmetic
        as :meth:`AnalogLinear.forward` in eval mode otherwise. With an ADC on the input crossbar
        the noise precedes the rounding and cannot be deferred: the ordinary read is used.
        ``gscale`` (per output) multiplies the result and ``extra_bias`` is added (before the
        scale), both folded into the one pass over the ``T * B * 4H`` output.
        """
        ih = self.ih
        if ih.config.adc is not None:
            y = ih(x)
            if extra_bias is not None:
                y = y + extra_bias
            return (y if gscale is None else y * gscale), None
        if not ih.is_programmed or ih._stale():
            ih.program()
        p = ih._plan
        e = self.ensemble
        lead = tuple(x.shape[:-1])
        x2 = x.reshape(-1, x.shape[-1])
        mult = 1.0 / p.step_in
        if p.abs_max:
            sx = x2.abs().amax(-1, keepdim=True).clamp_(min=1e-30)    # as AnalogLinear
            xc = x2 * (sx.reciprocal() * mult)
        else:
            sx = torch.ones(x2.shape[0], 1, dtype=x2.dtype, device=x2.device)
            xc = x2 * mult
        if p.L is not None:
            xc.round_()
            if p.clamp_in:
                xc.clamp_(-p.L, p.L)
        g = ih.out_features
        w = ih.w_code.to(x.dtype)
        bias = ih.bias
        if extra_bias is not None:
            bias = extra_bias if bias is None else bias + extra_bias
        if bias is not None:
            bias = bias.detach().to(x.dtype)
        if gscale is not None:
            w = (w.view(-1, g, w.shape[-1]) * gscale.view(1, g, 1)).view(-1, w.shape[-1])
            bias = gscale if bias is None else bias * gscale
            if ih.bias is None and extra_bias is None:
                bias = None
        ih_bias = bias
        rows = x2.shape[0]
        if e is None:
            post = torch.tensor(ih._post_f, dtype=x.dtype, device=x.device)
            sc = sx * post                                            # (rows, 1)
            # scale the (rows x in) codes, not the (rows x 4H) outputs; bias added inside the GEMM
            y = torch.addmm(ih_bias, xc * sx, w.t(), alpha=float(ih._post_f)) if ih_bias is not None \
                else (xc * sx) @ w.t() * post
            y = y.view(*lead, g)
            std = (p.sig_code * sc).view(*lead, 1)
        else:
            post = ih.post.to(x.dtype)                                # (E,)
            wp = (w.view(e, g, -1) * post.view(e, 1, 1)).view(e * g, -1)
            b_rep = None if ih_bias is None else ih_bias.repeat(e)
            y = torch.addmm(b_rep, xc * sx, wp.t()) if b_rep is not None else (xc * sx) @ wp.t()
            y = y.view(rows, e, g).permute(1, 0, 2).reshape(e, *lead, g)
            std = (p.sig_code * sx.view(1, rows, 1) * post.view(e, 1, 1)).reshape(e, *lead, 1)
        return y, std

    @torch.no_grad()
    def _fused_sequence(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
                        ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Evaluation loop with the recurrent crossbar read fused into the step.

        Same arithmetic as :meth:`AnalogLinear.forward` in eval mode (DAC codes, one matrix
        product in the code domain, additive output noise, optional ADC without bound management,
        digital scale and bias), but: ``b_hh`` is added to the input projection; the input read's
        output noise is deferred and drawn together with the recurrent read's (one Gaussian of
        the summed variance per step and output, from the recurrent crossbar's generator); the
        tanh-gate pre-activations are doubled so every gate is one sigmoid (``tanh(x) = 2
        sigmoid(2x) - 1``) and the ramp count is evaluated in closed form.

        On the CPU (float32/float64, numba and torch's BLAS symbols present, counter-based noise)
        the whole loop is one compiled call (:mod:`._rnn_kernel`), which also reads the input
        crossbar step by step when it has no ADC; otherwise the input projection of all steps is
        one crossbar call and the time loop is TorchScript-compiled (per-step ``normal_`` draws
        when ``fast_noise`` is off).
        """
        hh, ih = self.hh, self.ih
        if not hh.is_programmed or hh._stale():
            hh.program()
        p = hh._plan
        cfg = hh.config
        e = self.ensemble
        hs = self.hidden_size
        g4 = 4 * hs
        dt, dev = x.dtype, x.device
        ramp = bool(self.gate_act.ramps)
        gen = hh.generator
        per_member = x.dim() == 4                       # (E, T, B, in): compiled loop only (see forward)
        # the input read's noise is deferred (see _input_read_noiseless), except for an input
        # crossbar with an ADC or per-member inputs (then its own read of all steps comes first)
        in_noise = ih.config.adc is None and not per_member
        has_noise = p.sig_code > 0 or in_noise
        h, c = state
        if self._compiled_ok(x):
            # the whole loop as one compiled call, noise drawn inside (the same numbers as the
            # pre-drawn array below)
            if in_noise:
                if not ih.is_programmed or ih._stale():
                    ih.program()
                xs, stds = None, None
            elif per_member:
                xs, stds = ih(x), None                    # (E, T, B, 4H), with its own output noise
                if hh.bias is not None:
                    xs = xs + hh.bias.detach().to(dt)
            else:
                xs, stds = self._input_read_noiseless(x, None, None if hh.bias is None else hh.bias.detach())
            return self._compiled_sequence(x, xs, stds, _draw_key(gen) if has_noise else 0, h, c, has_noise=has_noise)
        # TorchScript loop (ideal or closed-form ramp activations, see _fusable)
        ga, sa = self.gate_act, self.state_act
        need_clamp, cm = self._ramp_clamp(ga, dt)
        s_clamp, scm = self._ramp_clamp(sa, dt)
        # ONE crossbar call for the input projection of all steps, b_hh folded in
        xpb, std_in = self._input_read_noiseless(x, None, None if hh.bias is None else hh.bias.detach())
        w = hh.w_code.to(dt)
        if e is None:
            w = w.t()                                                      # (H, 4H)
            post = torch.tensor(hh._post_f, dtype=dt, device=dev)
        else:
            w = w.view(e, g4, hs).transpose(1, 2)                          # (E, H, 4H)
            post = hh.post.to(dt).view(e, 1, 1)
        mult = 1.0 / p.step_in
        empty = torch.empty(0, dtype=dt, device=dev)
        if ramp:
            ga._closed(torch.zeros(1, dtype=dt, device=dev))  # fills the constant caches
            sa._closed(torch.zeros(1, dtype=dt, device=dev))
            consts = ga._consts[(dt, dev)][1:] + sa._consts[(dt, dev)][1:]   # ca, cb, y0, lsb of each
        else:
            consts = (empty,) * 8
        acts = self.activations
        simple = bool(ramp and tuple(acts.sigmoid_levels) == (0.0, 1.0) and tuple(acts.tanh_levels) == (-1.0, 1.0))
        stds_t = std_in if std_in is not None else empty
        if e is not None and std_in is not None:
            stds_t = std_in.transpose(0, 1)                               # (T, E, B, 1)
        xs = xpb if e is None else xpb.transpose(0, 1)
        noise = empty
        if has_noise and cfg.fast_noise and dev.type == "cpu" and _fused.numba is not None:
            # all steps' output noise in one compiled pass (counter-based generator keyed by the
            # recurrent crossbar's generator), instead of one torch normal_ per step
            noise = torch.empty(xs.shape, dtype=dt)
            _fused.normal_fill_(noise, _draw_key(gen), _normal_table(dev, dt))
        outs, h, c = _lstm_loop()(
            xs, bool(has_noise), gen, stds_t, w, post, h, c, *consts,
            hs, bool(ramp), bool(p.abs_max), float(mult), p.L is not None, bool(p.clamp_in),
            float(p.L if p.L is not None else 0.0), float(p.sig_code), float(p.M if p.M is not None else -1.0),
            bool(need_clamp), bool(s_clamp), cm, scm, e is not None, simple, noise)
        return outs, (h, c)

    def _compiled_sequence(self, x: torch.Tensor, xs: torch.Tensor | None, stds: torch.Tensor | None, key: int,
                           h: torch.Tensor, c: torch.Tensor, *,
                           has_noise: bool) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The loop of :meth:`_fused_sequence` as one compiled call (:mod:`._rnn_kernel`).

        ``xs`` (E?, T, B, 4H) and ``stds``: the input projection read beforehand (input crossbar
        with an ADC, or per-member inputs ``x`` (E, T, B, in)); None: the kernel reads the input
        crossbar itself, step by step.
        """
        hh, ih = self.hh, self.ih
        e = self.ensemble
        E = 1 if e is None else e
        hs = self.hidden_size
        g4 = 4 * hs
        T, B = x.shape[-3], x.shape[-2]
        dt = x.dtype
        K = _rnn_kernel
        ip, fp, r = self._read_args(dt, E)
        nd, ki = r["nd"], r["ki"]
        g_mode, g_clamp, g_m, g_args = self._activation_args(self.gate_act, dt, E)
        s_mode, s_clamp, s_m, s_args = self._activation_args(self.state_act, dt, E)
        ip[K.GATE_RAMP], ip[K.STATE_RAMP], ip[K.GATE_CLAMP], ip[K.STATE_CLAMP] = g_mode, s_mode, g_clamp, s_clamp
        ip[K.HAS_NOISE] = bool(has_noise)
        fp[K.GATE_M], fp[K.STATE_M] = g_m, s_m
        none3 = np.empty((0, 0, 0), nd)
        if xs is None:                                     # input crossbar read inside the loop
            pi = ih._plan
            n_in = ih.in_features
            ip[K.IN_GEMM], ip[K.IN_ABS_MAX], ip[K.IN_HAS_DAC] = 1, bool(pi.abs_max), pi.L is not None
            ip[K.IN_CLAMP] = pi.clamp_in
            fp[K.IN_MULT], fp[K.IN_STEP], fp[K.IN_LIM] = 1.0 / pi.step_in, pi.step_in, float(pi.L or 0.0)
            fp[K.IN_SIG] = float(pi.sig_code)
            xin = x.detach().to(dt).contiguous().numpy()
            w_in = ih.w_code.detach().to(dt).reshape(E, g4, n_in).transpose(1, 2).contiguous().numpy()
            in_post = (torch.full((1,), float(ih._post_f), dtype=dt) if e is None
                       else ih.post.reshape(E).to(dt)).numpy()
            bias = torch.zeros(g4, dtype=dt)
            for b_ in (ih.bias, hh.bias):
                if b_ is not None:
                    bias = bias + b_.detach().to(dt)
            xs4, st3 = np.empty((0, 0, 0, 0), nd), none3
        else:
            xin, w_in, in_post, bias = none3, np.empty((0, 0, 0), nd), np.empty(0, nd), torch.empty(0, dtype=dt)
            n_in = 0
            xs4 = (xs if e is None else xs.transpose(0, 1)).reshape(T, E, B, g4).contiguous().numpy()
            ip[K.HAS_STDS] = stds is not None
            st3 = (none3 if stds is None else
                   (stds if e is None else stds.transpose(0, 1)).reshape(T, E, B).contiguous().numpy())
        h3 = torch.empty((E, B, hs), dtype=dt)
        h3.copy_(h)                                        # (B, H) broadcasts over the members
        c3 = torch.empty((E, B, hs), dtype=dt)
        c3.copy_(c)
        outs = torch.empty((T, E, B, hs), dtype=dt)
        ukey = np.array([key], dtype=np.int64).view(np.uint64)[0]
        K.lstm_sequence(r["fn"], xs4, xin, w_in, in_post, bias.contiguous().numpy(), ukey,
                        _normal_table(x.device, dt).numpy(), st3, r["w"], r["post"], h3.numpy(), c3.numpy(),
                        outs.numpy(), g_args[0], s_args[0], *g_args[1:], *s_args[1:], ip, fp, r["mask"],
                        np.empty((B, hs), nd), np.empty((B, g4), nd), np.empty((B, max(n_in, 1)), nd),
                        np.empty((B, g4), nd), np.empty((4, g4), nd), np.empty(g4, ki), np.empty((4, hs), nd),
                        np.empty(hs, ki), np.empty(hs + 2, np.uint64), np.empty(8, np.int32), np.empty(2, nd))
        if e is None:
            return outs[:, 0], (h3[0], c3[0])
        return outs, (h3, c3)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return self._one_step(x, state, lambda z: (z, z))


class AnalogGRUCell(AnalogRNNCellBase):
    """GRU cell on crossbars: ``forward(x, h) -> h'`` like ``torch.nn.GRUCell`` (gates r, z, n)."""

    n_gates = 3
    gate_kinds = (_SIG, _SIG, _TANH)

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        hs = self.hidden_size
        self.rz_act = _GateActivation([_SIG] * 2 * hs, self.activations, self.ensemble, self.generator)
        self.gate_act = None  # the n gate needs r first: two lookups per step

    def program(self, generator: torch.Generator | None = None) -> "AnalogGRUCell":
        gen = self.generator if generator is None else generator
        super().program(gen)
        self.rz_act.program(gen)
        return self

    def _gated_acts(self) -> tuple["_GateActivation | None", "_GateActivation"]:
        return self.rz_act, self.state_act

    def step(self, xp: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        hs = self.hidden_size
        hp = self.recurrent(h)
        rz = self.rz_act(xp[..., :2 * hs] + hp[..., :2 * hs])
        r, z = rz[..., :hs], rz[..., hs:]
        n = self.state_act(torch.addcmul(xp[..., 2 * hs:], r, hp[..., 2 * hs:]))
        return n + z * (h - n)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        return self._one_step(x, h, lambda z: z)


class AnalogRNNCell(AnalogRNNCellBase):
    """Elman cell on crossbars with tanh: ``forward(x, h) -> h'`` like ``torch.nn.RNNCell``."""

    n_gates = 1
    gate_kinds = (_TANH,)

    def _gated_acts(self) -> tuple["_GateActivation | None", "_GateActivation"]:
        return None, self.gate_act

    def step(self, xp: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.gate_act(xp + self.recurrent(h))

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        return self._one_step(x, h, lambda z: z)


# ---------------------------------------------------------------------------------------------
# sequence modules
# ---------------------------------------------------------------------------------------------
class _AnalogSequence(nn.Module):
    cell_cls: type = AnalogRNNCell
    has_c = False

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, batch_first: bool = False,
                 config: CrossbarConfig, activations: Any = None, ensemble: int | None = None,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.batch_first = bool(batch_first)
        self.cell = self.cell_cls(input_size, hidden_size, bias, config=config, activations=activations,
                                  ensemble=ensemble, generator=generator)

    @property
    def input_size(self) -> int:
        return self.cell.input_size

    @property
    def hidden_size(self) -> int:
        return self.cell.hidden_size

    @property
    def ensemble(self) -> int | None:
        return self.cell.ensemble

    def program(self, generator: torch.Generator | None = None) -> "_AnalogSequence":
        """Programming event of every crossbar and ramp column."""
        self.cell.program(generator)
        return self

    def set_time(self, t_inference: float, generator: torch.Generator | None = None) -> "_AnalogSequence":
        self.cell.set_time(t_inference, generator)
        return self

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Run a sequence.

        Parameters
        ----------
        x : Tensor
            ``(T, B, in)`` (``(B, T, in)`` with ``batch_first``), optionally with a leading
            ensemble dimension ``E``.
        state : optional
            Initial state ``h`` (GRU/RNN) or ``(h, c)`` (LSTM), each ``(E?, B, H)``; zeros if None.

        Returns
        -------
        output : Tensor
            ``(E?, T, B, H)`` (``(E?, B, T, H)`` with ``batch_first``).
        state
            Final ``h`` or ``(h, c)``.
        """
        cell = self.cell
        x = cell._check_x(x)
        e = cell.ensemble
        per_member = e is not None and x.dim() == 4 and x.shape[0] == e
        if x.dim() != (4 if per_member else 3):
            raise ValueError(f"x: expected (T, B, in), (B, T, in) with batch_first, or a leading ensemble "
                             f"dimension, got shape {tuple(x.shape)}")
        t_dim = (1 if per_member else 0) + (1 if self.batch_first else 0)
        if self.batch_first:
            x = x.transpose(t_dim - 1, t_dim)                      # time first (after E)
        st = () if state is None else (state if self.has_c else (state,))
        no_grad = not (torch.is_grad_enabled() and (x.requires_grad or any(t.requires_grad for t in st)))
        fused = None
        # per-member inputs (E, T, B, in) only in the compiled loops
        if no_grad and self.has_c and cell._fusable(x) and (not per_member or cell._compiled_ok(x)):
            if state is None:
                z = cell._zeros(x[:, 0] if per_member else x[0], per_member=per_member)
                state = (z, z)
            fused = cell._fused_sequence
        elif no_grad and not self.has_c and cell._gated_fusable(x):
            if state is None:
                state = cell._zeros(x[:, 0] if per_member else x[0], per_member=per_member)
            fused = cell._gated_sequence
        if fused is not None:
            outs, state = fused(x, state)                              # (T, E?, B, H)
            out = outs if e is None else outs.transpose(0, 1).contiguous()
            if self.batch_first:
                td = 0 if e is None else 1
                out = out.transpose(td, td + 1)
            return out, state
        xp = cell.input_projection(x)                              # ONE crossbar call for all steps
        if e is not None and not per_member and xp.shape[0] != e:
            raise RuntimeError("input projection lost the ensemble dimension")
        xs = xp.unbind(0 if e is None else 1)
        if state is None:
            z = cell._zeros(x[:, 0] if per_member else x[0], per_member=per_member)
            state = (z, z) if self.has_c else z
        cell.begin_sequence()
        outs = []
        try:
            for xt in xs:
                state = cell.step(xt, state)
                outs.append(state[0] if self.has_c else state)
        finally:
            cell.end_sequence()
        out = torch.stack(outs, 0 if e is None else 1)
        if self.batch_first:
            td = 0 if e is None else 1
            out = out.transpose(td, td + 1)
        return out, state

    @classmethod
    def from_torch(cls, module: nn.Module, *, config: CrossbarConfig, activations: Any = None,
                   ensemble: int | None = None, generator: torch.Generator | None = None) -> "_AnalogSequence":
        """Copy the weights of a one-layer, unidirectional ``torch.nn.LSTM``/``GRU``/``RNN``."""
        if module.num_layers != 1 or module.bidirectional:
            raise ValueError("module: only one-layer unidirectional torch RNNs can be copied")
        if getattr(module, "proj_size", 0):
            raise ValueError("module: LSTM projections (proj_size) are not supported")
        if isinstance(module, nn.RNN) and module.nonlinearity != "tanh":
            raise ValueError("module: only tanh Elman RNNs are supported")
        new = cls(module.input_size, module.hidden_size, module.bias, batch_first=module.batch_first,
                  config=config, activations=activations, ensemble=ensemble, generator=generator)
        _copy_weights(new.cell, module.weight_ih_l0, module.weight_hh_l0,
                      getattr(module, "bias_ih_l0", None), getattr(module, "bias_hh_l0", None))
        return new


def _copy_weights(cell: AnalogRNNCellBase, w_ih, w_hh, b_ih, b_hh) -> None:
    with torch.no_grad():
        cell.ih.weight.copy_(w_ih)
        cell.hh.weight.copy_(w_hh)
        if b_ih is not None:
            cell.ih.bias.copy_(b_ih)
            cell.hh.bias.copy_(b_hh)
    cell.ih.reset_devices()
    cell.hh.reset_devices()


class AnalogLSTM(_AnalogSequence):
    """LSTM over a sequence on crossbars; ``forward(x, (h0, c0)) -> (output, (h_n, c_n))``.

    Same parameters as :class:`AnalogLSTMCell` plus ``batch_first``. One layer.
    """

    cell_cls = AnalogLSTMCell
    has_c = True


class AnalogGRU(_AnalogSequence):
    """GRU over a sequence on crossbars; ``forward(x, h0) -> (output, h_n)``."""

    cell_cls = AnalogGRUCell


class AnalogRNN(_AnalogSequence):
    """Elman (tanh) RNN over a sequence on crossbars; ``forward(x, h0) -> (output, h_n)``."""

    cell_cls = AnalogRNNCell
