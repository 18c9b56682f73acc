"""Recurrent networks on memristor crossbars with ideal or ramp-ADC activations.

Each cell holds two :class:`~physnn.crossbar.layer.AnalogLinear` crossbars: the input projection
``W_ih x + b_ih`` (all gates stacked, ``G * hidden`` outputs) and the recurrent projection
``W_hh h + b_hh``. The sequence modules (:class:`AnalogLSTM`, :class:`AnalogGRU`,
:class:`AnalogRNN`) compute the input projection of **all time steps in one crossbar call** and the
recurrent projection once per step (one read for all gates). Evaluation has two paths with the
same noise (one key per sequence from the recurrent crossbar's generator, step ``t`` reading
with ``subkey(key, t + 1)``): the per-step torch path (the reference: :meth:`step` per time step,
each recurrent read a :func:`~physnn.crossbar.read.read` of ``hh.read_spec()``), and for the LSTM
one compiled sequence loop (:mod:`physnn.crossbar.backends.lstm_loop`) built only from that
public spec, taken when the back end choice is ``"auto"`` or ``"numba_cpu"``. The gate nonlinearities are
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
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from .._checks import check_int_range
from ..buffers import empty_torch
from .config import CrossbarConfig
from .backends import lstm_loop
from .layer import AnalogLinear, draw_key
from .read import current_backend, noise_tables, read, subkey
from .ramp_adc import RampADC, RampADCActivation, RampDevices, ThresholdLookup
from .tiles import TileMapping, TiledAnalogLinear, devices_per_tile

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

            m = 2**self.bits - 1
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
        return RampADC(
            function=torch.sigmoid,
            bits=self.bits,
            x_range=cast("tuple[float, float]", self.sigmoid_range),
            y_range=self.sigmoid_levels,
            devices=self.devices,
        )

    def tanh_adc(self) -> RampADC:
        """The tanh ramp ADC config."""
        return RampADC(
            function=torch.tanh,
            bits=self.bits,
            x_range=cast("tuple[float, float]", self.tanh_range),
            y_range=self.tanh_levels,
            devices=self.devices,
        )


def _check_activations(a: Any) -> Any:
    if not isinstance(a, (IdealActivations, RampActivations)):
        raise TypeError(f"activations: expected IdealActivations() or RampActivations(...), got {a!r}")
    return a


_SIG, _TANH = 0, 1


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

    def __init__(self, kinds: list[int], activations: Any, ensemble: int | None, generator: torch.Generator | None):
        super().__init__()
        ramp_list: list[RampADCActivation] = []
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
            ramp_list = [
                RampADCActivation(activations.sigmoid_adc(), ensemble=ensemble, generator=generator),
                RampADCActivation(activations.tanh_adc(), ensemble=ensemble, generator=generator),
            ]
            self.ramps.extend(ramp_list)
            dev = activations.devices
            ideal_dev = dev.programming_noise is None and dev.read_noise is None and dev.faults is None
            inside = all(
                bool(
                    (r.design.thresholds > r.design.x_range[0]).all()
                    and (r.design.thresholds < r.design.x_range[1]).all()
                )
                for r in ramp_list
            )
            self.closed_form = ideal_dev and inside
            if self.closed_form:
                # f = alpha * sigmoid(beta x) + gamma: sigmoid (1, 1, 0), tanh (2, 2, -1)
                coef = {_SIG: (1.0, 1.0, 0.0), _TANH: (2.0, 2.0, -1.0)}
                beta, a_, b_, y0, lsb = [], [], [], [], []
                for k in kinds:
                    al, be, ga = coef[k]
                    d = ramp_list[k].design
                    step = d.direction * d.lsb
                    beta.append(be)
                    a_.append(al / step)
                    b_.append((ga - float(d.levels[0])) / step)
                    y0.append(float(d.levels[0]))
                    lsb.append(step)
                self.m = float(ramp_list[0].design.n_steps)
                for name, v in (("beta", beta), ("ca", a_), ("cb", b_), ("y0", y0), ("lsb", lsb)):
                    self.register_buffer(name, torch.tensor(v), persistent=False)
                self.all_beta_one = all(b == 1.0 for b in beta)
        self._luts: dict[Any, ThresholdLookup] = {}
        self._consts: dict[Any, tuple[torch.Tensor, ...]] = {}

    def loop_params(self) -> tuple[int, np.ndarray, float] | None:
        """``(mode, parameters (5, n), m)`` of the compiled LSTM loop (see
        :mod:`physnn.crossbar.backends.lstm_loop`), or None when only the per-step path
        evaluates these activations (programmed, noisy ramp columns)."""
        if not self.ramps:
            coef = {_SIG: (1.0, 1.0, 0.0), _TANH: (2.0, 2.0, -1.0)}
            par = np.zeros((5, len(self.kinds_list)))
            par[:3] = np.array([coef[k] for k in self.kinds_list]).T
            return 0, par, 0.0
        if not self.closed_form:
            return None
        par = np.stack([getattr(self, n).double().numpy() for n in ("beta", "ca", "cb", "y0", "lsb")])
        return 1, par, self.m

    def program(self, generator: torch.Generator | None = None) -> None:
        for r in self._ramp_list():
            r.program(generator)
        self._luts = {}

    def _lut(self, x: torch.Tensor) -> ThresholdLookup:
        key = (x.dtype, x.device)
        lut = self._luts.get(key)
        if lut is None:
            tables = []
            for r in self._ramp_list():
                d = r.design
                tables.append((r.thresholds.to(x.device), float(d.levels[0]), d.direction * d.lsb))
            lut = ThresholdLookup(tables, columns=self.kinds_list, dtype=x.dtype)
            self._luts[key] = lut
        return lut

    def _ramp_list(self) -> list[RampADCActivation]:
        # the registered ramp columns (sigmoid, tanh), typed
        return [cast(RampADCActivation, r) for r in self.ramps]

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
        elif any(r.config.devices.read_noise is not None for r in self._ramp_list()):
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
    ih: AnalogLinear | TiledAnalogLinear
    hh: AnalogLinear | TiledAnalogLinear
    gate_act: _GateActivation | None
    state_act: _GateActivation

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        config: CrossbarConfig,
        activations: Any = None,
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        tile: TileMapping | None = None,
        backend: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ):
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
        if tile is not None and not isinstance(tile, TileMapping):
            raise TypeError(f"tile: expected a TileMapping or None, got {type(tile).__name__}")
        self.tile = tile

        def array(n_in: int) -> AnalogLinear | TiledAnalogLinear:
            kw = dict(
                bias=bias,
                config=config,
                ensemble=ensemble,
                generator=generator,
                backend=backend,
                device=device,
                dtype=dtype,
            )
            return AnalogLinear(n_in, g, **kw) if tile is None else TiledAnalogLinear(n_in, g, tile=tile, **kw)

        self.ih = array(input_size)
        self.hh = array(hidden_size)
        kinds = [k for k in self.gate_kinds for _ in range(hidden_size)]
        self.gate_act = _GateActivation(kinds, self.activations, ensemble, generator)
        self.state_act = _GateActivation([_TANH] * hidden_size, self.activations, ensemble, generator)
        # gradient-carrying recurrent weights of the current training sequence
        # (W_hh^T, b_hh, output noise std, abs-max input scaling) of a training sequence
        self._train_w: tuple[torch.Tensor, torch.Tensor | None, float, bool] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``torch.nn`` RNN initialisation: uniform(-1/sqrt(H), 1/sqrt(H)) for every parameter."""
        k = self.hidden_size**-0.5
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    @property
    def config(self) -> CrossbarConfig:
        return self.ih.config

    @property
    def n_tiles(self) -> int:
        """Arrays per chip: the tiles of both matrices (one array each without ``tile``)."""
        return sum(m.n_tiles if isinstance(m, TiledAnalogLinear) else 1 for m in (self.ih, self.hh))

    @property
    def devices(self) -> int:
        """Conductance devices programmed per chip (both matrices)."""
        return sum(
            m.devices
            if isinstance(m, TiledAnalogLinear)
            else devices_per_tile(self.config, m.out_features, m.in_features)
            for m in (self.ih, self.hh)
        )

    @torch.no_grad()
    def copy_weights_(
        self, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor | None = None, b_hh: torch.Tensor | None = None
    ) -> "AnalogRNNCellBase":
        """Write float weights in ``torch.nn`` layout (gates stacked) and forget the programming."""
        for m, w in ((self.ih, w_ih), (self.hh, w_hh)):
            if isinstance(m, TiledAnalogLinear):
                m.copy_weight_(w)
                for t in m.tiles:
                    cast(AnalogLinear, t).reset_devices()
            else:
                m.weight.copy_(w)
                m.reset_devices()
        if b_ih is not None:
            if b_hh is None or self.ih.bias is None or self.hh.bias is None:
                raise ValueError("b_ih, b_hh: give both biases, and only to a cell built with bias=True")
            self.ih.bias.copy_(b_ih)
            self.hh.bias.copy_(b_hh)
        return self

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
                w_prog = hh.programmed_weight()  # (E?, G, H) weight units
                spec = hh.read_spec()
            wf = hh.differentiable_weight() if isinstance(hh, TiledAnalogLinear) else hh.weight
            w = wf + (w_prog - wf).detach()
            # output noise of a read in output units (noise codes times output units per code),
            # times the input's largest magnitude with abs-max input scaling (as a read); on tiles
            # an output is the sum of the partial sums of its row of tiles, each with its own noise
            n_in = hh.grid[1] if isinstance(hh, TiledAnalogLinear) else 1
            sigma = float(spec.noise_std) * float(spec.scale.abs().mean()) * n_in**0.5
            self._train_w = (w.transpose(-1, -2), cast("torch.Tensor | None", hh.bias), sigma, bool(spec.abs_max))
        else:
            self._train_w = None

    def end_sequence(self) -> None:
        self._train_w = None

    def recurrent(self, h: torch.Tensor, key: int | None = None) -> torch.Tensor:
        """``W_hh h + b_hh`` of one step: a crossbar read (eval; noise key ``key``, or one drawn
        from the crossbar's generator) or the training sample."""
        tw = self._train_w
        if tw is None:
            if self.training:
                self.begin_sequence()
                tw = cast("tuple[torch.Tensor, torch.Tensor | None, float, bool]", self._train_w)  # set by it
            elif key is None or self.hh.config.read_noise_per_forward:
                return self.hh(h)
            elif isinstance(self.hh, TiledAnalogLinear):
                return self.hh(h, key=key)
            else:
                hh = self.hh
                per_member = self.ensemble is not None and h.dim() >= 3 and h.shape[0] == self.ensemble
                return read(hh.read_spec(h.dtype, h.device).with_key(key), h, per_member=per_member, backend=hh.backend)
        wt, b, sigma, abs_max = tw
        y = torch.matmul(h, wt)
        if b is not None:
            y = y + b
        if sigma > 0:
            n = torch.randn(y.shape, generator=self.generator, dtype=y.dtype, device=y.device)
            scale = sigma * h.detach().abs().amax(-1, keepdim=True) if abs_max else sigma
            y = y + scale * n
        return y

    def step(self, xp: torch.Tensor, state: Any, key: int | None = None) -> Any:
        """One step on the projected input ``xp`` (each cell's own; see the subclasses)."""
        raise NotImplementedError

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

    def input_projection(self, x: torch.Tensor, shared_input: bool | None = None) -> torch.Tensor:
        """``W_ih x + b_ih`` in one crossbar call; output (E?, ..., G*H)."""
        return self.ih(self._check_x(x), shared_input=shared_input)

    @classmethod
    def from_torch(
        cls,
        module: nn.RNNCellBase,
        *,
        config: CrossbarConfig,
        activations: Any = None,
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        tile: TileMapping | None = None,
        backend: str | None = None,
    ) -> "AnalogRNNCellBase":
        """Copy the weights of the matching ``torch.nn`` cell (``LSTMCell``, ``GRUCell``, ``RNNCell``)."""
        want = {AnalogLSTMCell: nn.LSTMCell, AnalogGRUCell: nn.GRUCell, AnalogRNNCell: nn.RNNCell}.get(cls)
        if want is not None and not isinstance(module, want):
            raise TypeError(f"module: expected a torch.nn.{want.__name__}, got {type(module).__name__}")
        if isinstance(module, nn.RNNCell) and module.nonlinearity != "tanh":
            raise ValueError("module: only tanh Elman cells are supported")
        w = module.weight_ih
        new = cls(
            module.input_size,
            module.hidden_size,
            module.bias,
            config=config,
            activations=activations,
            ensemble=ensemble,
            generator=generator,
            tile=tile,
            backend=backend,
            device=w.device,
            dtype=w.dtype,
        )
        new.copy_weights_(module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh)
        return new

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, ensemble={self.ensemble}, "
            f"activations={type(self.activations).__name__}"
        )


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
    tile : TileMapping, optional
        Array size of both matrices, the input projection ``W_ih`` and the recurrent ``W_hh``
        (each a :class:`~physnn.crossbar.tiles.TiledAnalogLinear`: its own DAC, ADC and partial
        sums per tile, added digitally in the working precision); None: one array each (an
        :class:`~physnn.crossbar.AnalogLinear`). The compiled LSTM loop reads a ``W_hh`` that is one
        tile; a ``W_hh`` over several tiles is read step by step (one read of all its tiles),
        with the same equations.
    backend : str, optional
        Read back end of both crossbars.
    device, dtype
        Of the float parameters.
    """

    gate_act: _GateActivation

    n_gates = 4
    gate_kinds = (_SIG, _SIG, _TANH, _SIG)

    def step(
        self, xp: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], key: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step from the input projection ``xp`` (E?, B, 4H) and the state ``(h, c)``;
        ``key``: noise key of the recurrent read (see :meth:`recurrent`)."""
        h, c = state
        gates = self.gate_act(xp + self.recurrent(h, key))
        hs = self.hidden_size
        i, f, g, o = gates[..., :hs], gates[..., hs : 2 * hs], gates[..., 2 * hs : 3 * hs], gates[..., 3 * hs :]
        c = torch.addcmul(f * c, i, g)
        h = o * self.state_act(c)
        return h, c

    def _compilable(self, xp: torch.Tensor) -> bool:
        """Whether the compiled loop (:mod:`physnn.crossbar.backends.lstm_loop`) evaluates this
        sequence: evaluation without autograd on the CPU, back end ``"auto"`` or ``"numba_cpu"``,
        a recurrent read without bound management, IR drop, sinh devices or per-read read noise,
        and ideal or closed-form ramp activations."""
        hh = self.hh
        choice = hh.backend if hh.backend is not None else current_backend()
        cfg = hh.config
        return (
            lstm_loop.available()
            and not self.training
            and choice in ("auto", "numba_cpu")
            and (not isinstance(hh, TiledAnalogLinear) or hh.n_tiles == 1)
            and xp.device.type == "cpu"
            and xp.dtype in (torch.float32, torch.float64)
            and not cfg.bound_management
            and cfg.ir_drop is None
            and not cfg.read_noise_per_forward
            and hh.read_spec(xp.dtype).iv is None
            and self.gate_act.loop_params() is not None
            and self.state_act.loop_params() is not None
        )

    @torch.no_grad()
    def _compiled(
        self, xp: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], keys: list[int]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The sequence as one compiled call; ``xp`` (E?, T, B, 4H) input projection of all steps,
        ``keys`` the recurrent reads' noise keys. Returns outputs (E?, T, B, H) and the state."""
        e = self.ensemble
        E = 1 if e is None else e
        dt = xp.dtype
        spec = self.hh.read_spec(dt)  # the public export of the recurrent read
        xs = (xp.unsqueeze(1) if e is None else xp.transpose(0, 1)).contiguous()  # (T, E, B, 4H)
        T, _, B, g4 = xs.shape
        h = empty_torch((E, B, self.hidden_size), dt)
        c = empty_torch((E, B, self.hidden_size), dt)
        h.copy_(state[0])
        c.copy_(state[1])
        out = empty_torch((T, E, B, self.hidden_size), dt)  # the loop writes every element
        w = spec.weight.reshape(E, g4, -1).transpose(1, 2)  # a view: bmm reads it transposed
        # a one-tile TiledAnalogLinear adds its digital bias after the read, as the spec's bias is
        b = spec.bias if spec.bias is not None or not isinstance(self.hh, TiledAnalogLinear) else self.hh.bias
        bias = torch.zeros(0, dtype=dt) if b is None else b.detach().to(dt).contiguous()
        k = np.array(keys, dtype=np.uint64).reshape(-1)
        t_tab, d_tab = noise_tables(dt)
        # the compiled loop is chosen only where both have loop parameters (see the caller)
        gm, gp, gmm = cast("tuple[int, np.ndarray, float]", self.gate_act.loop_params())
        sm, sp, smm = cast("tuple[int, np.ndarray, float]", self.state_act.loop_params())
        lstm_loop.lstm_sequence(
            xs,
            w,
            spec.scale.reshape(-1).expand(E).contiguous(),
            bias,
            h,
            c,
            out,
            (k & 0xFFFFFFFF).astype(np.uint32),
            (k >> 32).astype(np.uint32),
            t_tab.numpy(),
            d_tab.numpy(),
            float(spec.in_step),
            float(spec.in_levels or -1.0),
            bool(spec.abs_max),
            float(spec.noise_std),
            float(spec.adc_levels or -1.0),
            gm,
            gp,
            float(gmm),
            sm,
            sp,
            float(smm),
        )
        if e is None:
            return out[:, 0], (h[0], c[0])
        return out.transpose(0, 1), (h, c)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
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

    def step(self, xp: torch.Tensor, h: torch.Tensor, key: int | None = None) -> torch.Tensor:
        hs = self.hidden_size
        hp = self.recurrent(h, key)
        rz = self.rz_act(xp[..., : 2 * hs] + hp[..., : 2 * hs])
        r, z = rz[..., :hs], rz[..., hs:]
        n = self.state_act(torch.addcmul(xp[..., 2 * hs :], r, hp[..., 2 * hs :]))
        return n + z * (h - n)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        return self._one_step(x, h, lambda z: z)


class AnalogRNNCell(AnalogRNNCellBase):
    """Elman cell on crossbars with tanh: ``forward(x, h) -> h'`` like ``torch.nn.RNNCell``."""

    gate_act: _GateActivation

    n_gates = 1
    gate_kinds = (_TANH,)

    def step(self, xp: torch.Tensor, h: torch.Tensor, key: int | None = None) -> torch.Tensor:
        return self.gate_act(xp + self.recurrent(h, key))

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        return self._one_step(x, h, lambda z: z)


# ---------------------------------------------------------------------------------------------
# sequence modules
# ---------------------------------------------------------------------------------------------
class _AnalogSequence(nn.Module):
    cell_cls: type = AnalogRNNCell
    has_c = False

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        batch_first: bool = False,
        config: CrossbarConfig,
        activations: Any = None,
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        tile: TileMapping | None = None,
        backend: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        self.batch_first = bool(batch_first)
        self.cell = self.cell_cls(
            input_size,
            hidden_size,
            bias,
            config=config,
            activations=activations,
            ensemble=ensemble,
            generator=generator,
            tile=tile,
            backend=backend,
            device=device,
            dtype=dtype,
        )

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
            raise ValueError(
                f"x: expected (T, B, in), (B, T, in) with batch_first, or a leading ensemble "
                f"dimension, got shape {tuple(x.shape)}"
            )
        t_dim = (1 if per_member else 0) + (1 if self.batch_first else 0)
        if self.batch_first:
            x = x.transpose(t_dim - 1, t_dim)  # time first (after E)
        xp = cell.input_projection(x, shared_input=None if e is None else not per_member)  # ONE read
        if state is None:
            z = cell._zeros(x[:, 0] if per_member else x[0], per_member=per_member)
            state = (z, z) if self.has_c else z
        T = x.shape[1 if per_member else 0]
        keys: list = [None] * T
        if not cell.training:
            # one key from the recurrent crossbar's generator; step t reads with subkey(key, t + 1)
            # (the per-step path and the compiled loop draw the same noise)
            hh = cell.hh
            key = draw_key(hh.generator) if hh.read_spec(x.dtype, x.device).noise_std > 0 else 0
            keys = [subkey(key, t + 1) for t in range(T)]
            st = state if self.has_c else (state,)
            no_grad = not (torch.is_grad_enabled() and (xp.requires_grad or any(s.requires_grad for s in st)))
            if self.has_c and no_grad and cell._compilable(xp):
                out, state = cell._compiled(xp, state, keys)
                return self._batch_first(out), state
        xs = xp.unbind(0 if cell.ensemble is None else 1)
        cell.begin_sequence()
        outs = []
        try:
            for xt, k in zip(xs, keys):
                state = cell.step(xt, state, k)
                outs.append(state[0] if self.has_c else state)
        finally:
            cell.end_sequence()
        return self._batch_first(torch.stack(outs, 0 if cell.ensemble is None else 1)), state

    def _batch_first(self, out: torch.Tensor) -> torch.Tensor:
        if not self.batch_first:
            return out
        td = 0 if self.cell.ensemble is None else 1
        return out.transpose(td, td + 1)

    @classmethod
    def from_torch(
        cls,
        module: nn.RNNBase,
        *,
        config: CrossbarConfig,
        activations: Any = None,
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        tile: TileMapping | None = None,
        backend: str | None = None,
    ) -> "_AnalogSequence":
        """Copy the weights of a one-layer, unidirectional ``torch.nn.LSTM``/``GRU``/``RNN``
        (several layers, both directions: :mod:`physnn.crossbar.rnn_stack`)."""
        want = {AnalogLSTM: nn.LSTM, AnalogGRU: nn.GRU, AnalogRNN: nn.RNN}.get(cls)
        if want is not None and not isinstance(module, want):
            raise TypeError(f"module: expected a torch.nn.{want.__name__}, got {type(module).__name__}")
        if module.num_layers != 1 or module.bidirectional:
            raise ValueError(
                "module: only one-layer unidirectional torch RNNs can be copied "
                "(physnn.crossbar.rnn_stack converts several layers and both directions)"
            )
        if getattr(module, "proj_size", 0):
            raise ValueError("module: LSTM projections (proj_size) are not supported")
        if isinstance(module, nn.RNN) and module.nonlinearity != "tanh":
            raise ValueError("module: only tanh Elman RNNs are supported")
        w_ih, w_hh = cast(torch.Tensor, module.weight_ih_l0), cast(torch.Tensor, module.weight_hh_l0)
        new = cls(
            module.input_size,
            module.hidden_size,
            module.bias,
            batch_first=module.batch_first,
            config=config,
            activations=activations,
            ensemble=ensemble,
            generator=generator,
            tile=tile,
            backend=backend,
            device=w_ih.device,
            dtype=w_ih.dtype,
        )
        new.cell.copy_weights_(w_ih, w_hh, getattr(module, "bias_ih_l0", None), getattr(module, "bias_hh_l0", None))
        return new


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
