"""Adapters: every physnn substrate as a forward-only :class:`~physnn.training.AbstractPhysicalSystem`.

==========================  =====================================================================
``AnalogLinearSystem``      crossbar ``AnalogLinear``: parameters = weights (mapped to
                            conductances); changing them is a programming (write) event
``AnalogLSTMSystem``        crossbar ``AnalogLSTM``: parameters = the cell's weights; output = last h
``ESNSystem``               echo state network: input scaling, leak rate, bias scaling
``ResistiveLSMSystem``      resistive-memory LIF reservoir: input gain
``ASICTimingSystem``        SHA-256 mining ASIC: core voltage / clock drive -> share statistics
``ModuleSystem``            any ``nn.Module`` with ``physical_bounds()`` (the SFQ layers plug in here)
==========================  =====================================================================

Only the substrates' public APIs are used (``AnalogLinear.program(generator)``, ``set_time``,
``eval()``; ``ESN`` with explicit matrices; ``ResistiveLSM.forward``; ``simulate_shares``).
Every adapter owns a ``torch.Generator``; its state is part of :meth:`state_dict`, so a resumed
run draws the same device noise as an uninterrupted one.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..random import check_generator, draw_seed, own_generator
from .system import AbstractPhysicalSystem, InputSpec, ParameterSpace, ParameterSpec
from .writes import AbstractWrite, IdealWrite, PulsedWrite, WriteVerify

__all__ = [
    "AnalogLinearSystem",
    "AnalogLSTMSystem",
    "ESNSystem",
    "ResistiveLSMSystem",
    "ASICTimingSystem",
    "ModuleSystem",
]

_ACTIVATIONS: dict[str | None, Callable[[torch.Tensor], torch.Tensor]] = {
    None: lambda y: y,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "abs": torch.abs,
    "square": torch.square,
}


def _activation(name: str | None) -> Callable[[torch.Tensor], torch.Tensor]:
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation={name!r}: expected one of {sorted(k for k in _ACTIVATIONS if k)} or None")
    return _ACTIVATIONS[name]


def _write_config(write: Any, config: Any) -> Any:
    """Check ``write`` against ``config``; the config whose ``update`` is the pulsed step model."""
    from dataclasses import replace

    from ..crossbar.mapping import DifferentialPair

    if isinstance(write, str):
        raise TypeError(
            f"write={write!r}: expected a write config object, IdealWrite() or PulsedWrite(update=...) "
            "(physnn.training), not a string"
        )
    if not isinstance(write, AbstractWrite):
        raise TypeError(f"write: expected IdealWrite() or PulsedWrite(update=...), got {type(write).__name__}")
    if not isinstance(write, PulsedWrite):
        return config
    model = write.update if write.update is not None else config.update
    if model is None:
        raise ValueError(
            "write.update: PulsedWrite needs a device step model, and config.update is None too (the "
            "device card has no [update] section); give PulsedWrite(update=SoftBounds(...)) or a card "
            "with [update]"
        )
    if not isinstance(config.mapping, DifferentialPair):
        raise ValueError(f"config.mapping: pulsed writes need a DifferentialPair, got {type(config.mapping).__name__}")
    if config.w_max is None:
        raise ValueError(
            "config.w_max: pulsed writes need a fixed weight scale (the weight of one full conductance "
            "swing, e.g. CrossbarConfig.ideal(w_max=1.0)); None rescales at every programming"
        )
    return replace(config, update=model)


# ------------------------------------------------------------------------------------------------
class AnalogLinearSystem(AbstractPhysicalSystem):
    """A crossbar ``AnalogLinear`` layer (no bias) as a physical system, optionally followed by a
    physical nonlinearity of the periphery.

    Parameters
    ----------
    in_features, out_features : int
    config : CrossbarConfig
        E.g. ``aihwkit_preset()`` (PCM card, 8-bit DAC/ADC, output noise, drift compensation).
    activation : {"relu", "tanh", "abs", "square", None}
        Applied to the read-out (a rectifying periphery); None = the raw column outputs.
    w_bound : float
        Bounds ``[-w_bound, w_bound]`` of the weights (dimensionless). With ``config.w_max`` set,
        ``w_max`` is the weight of the full conductance swing ``g_max - g_min`` (S).
    t_read_s : float, optional
        Read every programming at this time after programming (s; drift, accumulated 1/f noise);
        default ``config.t_inference``. :meth:`age` moves it.
    generator : torch.Generator, optional
        Seeds every programming event and the read noise.
    write : IdealWrite or PulsedWrite, optional
        How a changed ``theta`` reaches the devices (:mod:`physnn.training.writes`); default
        :class:`~physnn.training.IdealWrite`. With :class:`~physnn.training.PulsedWrite` the
        configuration needs a fixed weight scale ``config.w_max`` (the weight of one full
        conductance swing) and a differential-pair mapping; the step model is
        ``write.update`` or, if None, ``config.update``.

    Notes
    -----
    A query whose ``theta`` differs from the last requested one is a *write event* (``writes``
    counts them), then a read; queries with the same ``theta`` only read (fresh output noise per
    read). With :class:`IdealWrite` every write programs ``theta`` afresh (fresh programming
    noise). With :class:`PulsedWrite` the first write programs the starting ``theta``; every later
    one applies ``delta = theta - theta_previous_request`` as pulses through the device model
    (``layer.update``, open loop), so the weights held, :attr:`written_weight`, drift away from
    the requested ones by the device's asymmetry, bounds and step noise; ``pulses`` counts the
    pulses (all devices), :attr:`pulses_per_device` their mean per cross-point. With
    ``PulsedWrite(verify=WriteVerify(...))`` every write is followed by read-and-correct rounds
    towards the requested ``theta`` (:class:`~physnn.training.WriteVerify`): correction pulses
    go into ``pulses``, the array reads into ``verify_reads``. A write that would pass the
    device's ``endurance`` raises :class:`PhysicalSystemError` naming the parameter, with the
    array, the counters and the last requested ``theta`` unchanged (a refused verify round rolls
    the write back: a simulation convenience, pulses sent on hardware cannot be taken back).
    """

    output_units = "1"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        config: Any,
        activation: str | None = "relu",
        w_bound: float = 1.0,
        t_read_s: float | None = None,
        x_bound: float = math.inf,
        generator: torch.Generator | None = None,
        latency_s: float = 0.0,
        write: Any = None,
    ):
        super().__init__(latency_s=latency_s)
        from ..crossbar import AnalogLinear, CrossbarConfig

        if not isinstance(config, CrossbarConfig):
            raise TypeError(f"config: expected a CrossbarConfig, got {type(config).__name__}")
        self.write = IdealWrite() if write is None else write
        config = _write_config(self.write, config)
        self.config = config
        self.activation = activation
        self._act = _activation(activation)
        self.generator = own_generator(generator)
        self._read_gen = torch.Generator().manual_seed(draw_seed(self.generator))
        self.layer = AnalogLinear(in_features, out_features, bias=False, config=config, generator=self._read_gen)
        self.layer.eval()
        self.parameters = ParameterSpace(
            [
                ParameterSpec(
                    name="weight",
                    shape=(out_features, in_features),
                    low=-float(w_bound),
                    high=float(w_bound),
                    units="1",
                )
            ]
        )
        self.input_spec = InputSpec(shape=(in_features,), low=-x_bound, high=x_bound, units="1")
        self.output_shape = (out_features,)
        self.t_read_s = float(config.t_inference if t_read_s is None else t_read_s)
        self.writes = 0
        self.verify_reads = 0
        self._theta: torch.Tensor | None = None
        self._events: tuple | None = None  # (program seed, t, time seed) of the current programming

    @property
    def pulsed(self) -> bool:
        """Whether changes are written as pulses (``write`` is a :class:`PulsedWrite`)."""
        return isinstance(self.write, PulsedWrite)

    @property
    def pulses(self) -> int:
        """Programming pulses applied so far (all devices; 0 with :class:`IdealWrite`)."""
        p = getattr(self.layer, "pulses_", None)
        return 0 if p is None else int(p.sum())

    @property
    def pulses_per_device(self) -> float:
        """Mean pulses per cross-point so far (per device of a SET-only pair)."""
        p = getattr(self.layer, "pulses_", None)
        return 0.0 if p is None else float(p.sum()) / p.numel()

    @property
    def written_weight(self) -> torch.Tensor:
        """The weights the array holds now, ``(out, in)`` (weight units, as read: drift and
        its compensation included; programming noise and pulse errors included)."""
        if self._theta is None:
            raise RuntimeError("written_weight: the array was never written (query it first)")
        with torch.no_grad():
            return self.layer.programmed_weight().clone()

    @property
    def in_features(self) -> int:
        return self.layer.in_features

    @property
    def out_features(self) -> int:
        return self.layer.out_features

    def initial_parameters(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """``nn.Linear``'s initialisation, ``U(-1/sqrt(in), 1/sqrt(in))``, clipped to the bounds."""
        check_generator(generator)
        k = 1.0 / math.sqrt(self.in_features)
        theta = (torch.rand(self.parameters.size, generator=generator) * 2 - 1) * k
        return self.parameters.clip(theta)

    def _program(self, theta: torch.Tensor, seed: int, t: float, tseed: int) -> None:
        with torch.no_grad():
            self.layer.weight.copy_(theta.view_as(self.layer.weight).to(self.layer.weight.dtype))
        self.layer.program(torch.Generator().manual_seed(seed))
        if t > 0:
            self.layer.set_time(t, torch.Generator().manual_seed(tseed))
        self._theta = theta.detach().clone()
        self._events = (seed, t, tseed)

    def _pulse(self, theta: torch.Tensor) -> None:
        """Write ``theta - self._theta`` as pulses, then verify if configured (a refused write
        changes nothing: with verify, the devices are rolled back to their state before it)."""
        from ..crossbar.update.layer_update import load_pulsed_state, pulsed_state
        from .system import PhysicalSystemError

        target = theta.detach().view(self.out_features, self.in_features).to(self.layer.weight.dtype)
        delta = target - self._theta.view_as(target).to(target.dtype)
        state = self.generator.get_state()
        gen = torch.Generator().manual_seed(draw_seed(self.generator))
        verify = self.write.verify
        snap = pulsed_state(self.layer) if verify is not None else None
        reads = 0
        try:
            self.layer.update(delta, self.write.rule, generator=gen)
            if verify is not None:
                reads = self._verify(target, verify, gen)
        except ValueError as exc:
            self.generator.set_state(state)
            if snap is not None:
                load_pulsed_state(self.layer, snap)
            raise PhysicalSystemError(
                f"{type(self).__name__} query #{self.queries + 1}: parameter 'weight': {exc}"
            ) from exc
        self.verify_reads += reads
        self._theta = theta.detach().clone()

    def _verify(self, target: torch.Tensor, verify: WriteVerify, gen: torch.Generator) -> int:
        """Read-and-correct rounds towards ``target`` (weight units); returns the array reads."""
        from ..crossbar.update import DeterministicPulses

        w_max = float(self.config.w_max)  # the fixed weight scale (checked by _write_config)
        tol = verify.tolerance * self.config.update.dw_min * w_max
        reads = 0
        for _ in range(verify.max_iterations):
            w = self.layer.programmed_weight()
            if verify.read_noise > 0:
                w = w + (verify.read_noise * w_max) * torch.randn(w.shape, generator=gen, dtype=w.dtype)
            reads += 1
            err = target - w
            off = err.abs() > tol
            if not bool(off.any()):
                break
            self.layer.update(torch.where(off, err, torch.zeros_like(err)), DeterministicPulses(), generator=gen)
        return reads

    def _query(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        if self._theta is None or not torch.equal(theta, self._theta):
            if self.pulsed and self._theta is not None:
                self._pulse(theta)
            else:
                self._program(theta, draw_seed(self.generator), self.t_read_s, draw_seed(self.generator))
            self.writes += 1
        return self._act(self.layer(x.to(self.layer.weight.dtype)))

    def activate(self, y: torch.Tensor) -> torch.Tensor:
        """The periphery's nonlinearity (``activation``) applied to column outputs."""
        return self._act(y)

    def ideal(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """The ideal crossbar ``act(x theta^T)`` (differentiable; a digital-twin prior)."""
        return self._act(x.to(theta.dtype) @ theta.view(self.out_features, self.in_features).T)

    def age(self, t_s: float) -> None:
        """Let the programmed array drift to ``t_s`` s after programming (reads from now on)."""
        if self._theta is None or self._events is None:
            raise RuntimeError("age: the array was never programmed (query it first)")
        self.t_read_s = float(t_s)
        if self.pulsed and self.writes > 1:  # the devices hold pulsed states: only time moves
            self.layer.set_time(self.t_read_s, torch.Generator().manual_seed(draw_seed(self.generator)))
            return
        self._program(self._theta, self._events[0], self.t_read_s, draw_seed(self.generator))

    def differentiable(
        self,
        x: torch.Tensor,
        theta: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        t_inference: float | None = None,
    ) -> torch.Tensor:
        """One programming + read with straight-through weight gradients (``analog_linear``), the
        training-time model of this crossbar (hardware-aware training)."""
        from ..crossbar import analog_linear

        generator = check_generator(generator)
        w = theta.view(self.out_features, self.in_features)
        return self._act(
            analog_linear(
                x,
                w,
                None,
                self.config,
                generator=generator,
                t_inference=self.t_read_s if t_inference is None else t_inference,
            )
        )

    def chips(self, theta: torch.Tensor, ensemble: int, *, generator: torch.Generator | None = None):
        """``ensemble`` independently programmed chips of ``theta`` in one ``AnalogLinear``
        (leading output dimension E); the caller ages them with ``set_time``."""
        from ..crossbar import AnalogLinear

        generator = check_generator(generator)
        layer = AnalogLinear(
            self.in_features, self.out_features, bias=False, config=self.config, ensemble=ensemble, generator=generator
        )
        with torch.no_grad():
            layer.weight.copy_(theta.view_as(layer.weight))
        layer.eval().program(generator)
        return layer

    def state_dict(self) -> dict:
        st = {
            **super().state_dict(),
            "read_gen": self._read_gen.get_state(),
            "theta": None if self._theta is None else self._theta.clone(),
            "events": self._events,
            "writes": self.writes,
            "verify_reads": self.verify_reads,
            "t_read_s": self.t_read_s,
        }
        if self.pulsed and self._theta is not None:  # pulsed states cannot be re-programmed from theta
            from ..crossbar.update.layer_update import pulsed_state

            st["devices"] = pulsed_state(self.layer)
        return st

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.t_read_s = float(state["t_read_s"])
        if state.get("devices") is not None:
            from ..crossbar.update.layer_update import load_pulsed_state

            load_pulsed_state(self.layer, state["devices"])
            self._theta = state["theta"].clone()
            self._events = state["events"]
        elif state["theta"] is not None:
            self._program(state["theta"], *state["events"])
        self._read_gen.set_state(state["read_gen"])
        self.writes = int(state["writes"])
        self.verify_reads = int(state.get("verify_reads", 0))


# ------------------------------------------------------------------------------------------------
class ModuleSystem(AbstractPhysicalSystem):
    """Any ``nn.Module`` as a physical system, through its ``physical_bounds()``.

    Contract (what a layer -- e.g. physnn's ``SFQLayer`` -- provides to plug in here):

    * ``module.physical_bounds() -> dict[str, tuple[float, float, str]]`` maps the *name of a
      parameter* of ``module.named_parameters()`` (e.g. ``"bias_current"``, ``"weight"``) to its
      ``(low, high, units)``: the physically allowed range of every element, in SI units
      (``"A"``, ``"S"``, ``"1"``). Those parameters, in the order of the dict, form ``theta``;
      every other parameter stays fixed.
    * ``module(x)`` maps an input batch ``(B, *input_shape)`` to ``(B, *output_shape)`` with a
      tensor (or a tuple whose first element is that tensor). It is called in ``eval()`` mode
      under ``torch.no_grad()`` for queries; :meth:`differentiable` calls it through
      ``torch.func.functional_call`` with gradients for the trainers that may differentiate a
      simulation (PAT twins, HWA, backprop baselines).

    The module's parameters become views of one flat vector (:meth:`live_parameters`), so a
    MeZO step perturbs them in place with no copy.

    Parameters
    ----------
    module : nn.Module
    input_shape : tuple of int
        Per-sample input shape.
    output_shape : tuple of int, optional
        Per-sample output shape (default: found with one probe call on zeros, not counted).
    input_bounds : (low, high, units), optional
    """

    def __init__(
        self,
        module: nn.Module,
        input_shape: tuple[int, ...],
        *,
        output_shape: tuple[int, ...] | None = None,
        input_bounds: tuple[float, float, str] = (-math.inf, math.inf, "1"),
        output_units: str = "1",
        latency_s: float = 0.0,
    ):
        super().__init__(latency_s=latency_s)
        if not isinstance(module, nn.Module):
            raise TypeError(f"module: expected an nn.Module, got {type(module).__name__}")
        pb = getattr(module, "physical_bounds", None)
        if not callable(pb):
            raise TypeError(
                f"module: {type(module).__name__} has no physical_bounds() method "
                "(it must return {parameter name: (low, high, units)})"
            )
        bounds = pb()
        if not isinstance(bounds, dict) or not bounds:
            raise TypeError(f"{type(module).__name__}.physical_bounds(): expected a non-empty dict, got {bounds!r}")
        named = dict(module.named_parameters())
        specs = []
        for name, b in bounds.items():
            if name not in named:
                raise ValueError(
                    f"{type(module).__name__}.physical_bounds(): {name!r} is not a parameter of the "
                    f"module (parameters: {sorted(named)})"
                )
            if not (isinstance(b, tuple) and len(b) == 3 and isinstance(b[2], str)):
                raise TypeError(
                    f"{type(module).__name__}.physical_bounds()[{name!r}]: expected (low, high, units), got {b!r}"
                )
            specs.append(ParameterSpec(name=name, shape=tuple(named[name].shape), low=b[0], high=b[1], units=b[2]))
        self.module = module.eval()
        self.names = list(bounds)
        self.parameters = ParameterSpace(specs)
        self.input_spec = InputSpec(
            shape=tuple(input_shape), low=input_bounds[0], high=input_bounds[1], units=input_bounds[2]
        )
        self.output_units = output_units
        # one flat vector; the module's parameters become views of it
        dtype = named[self.names[0]].dtype
        self._flat = torch.empty(self.parameters.size, dtype=dtype)
        views = self.parameters.split(self._flat)
        with torch.no_grad():
            for n in self.names:
                p = named[n]
                views[n].copy_(p.detach())
                p.data = views[n]
                p.requires_grad_(False)
        theta0 = self._flat.clone()
        self.parameters.check(theta0, f"{type(module).__name__} initial parameters: ")
        self._theta0 = theta0
        if output_shape is None:
            with torch.no_grad():
                y = self._call(torch.zeros(1, *self.input_spec.shape, dtype=dtype))
            output_shape = tuple(y.shape[1:])
        self.output_shape = tuple(output_shape)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        y = self.module(x)
        return y[0] if isinstance(y, tuple) else y

    def live_parameters(self) -> torch.Tensor:
        """The flat vector the module's parameters are views of (modify it in place to change them)."""
        return self._flat

    def initial_parameters(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """The module's own values at wrapping time."""
        check_generator(generator)
        return self._theta0.clone()

    def _query(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        if theta.data_ptr() != self._flat.data_ptr():
            self._flat.copy_(theta)
        self.module.eval()
        return self._call(x.to(self._flat.dtype))

    def differentiable(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        params = self.parameters.split(theta)
        y = torch.func.functional_call(self.module, params, (x,))
        return y[0] if isinstance(y, tuple) else y

    def state_dict(self) -> dict:
        return {**super().state_dict(), "flat": self._flat.clone()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self._flat.copy_(state["flat"])


class _BoundedLSTM(nn.Module):
    def __init__(self, lstm: nn.Module, w_bound: float):
        super().__init__()
        self.lstm, self.w_bound = lstm, float(w_bound)

    def physical_bounds(self) -> dict[str, tuple[float, float, str]]:
        return {n: (-self.w_bound, self.w_bound, "1") for n, _ in self.named_parameters()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return out[:, -1]


class AnalogLSTMSystem(ModuleSystem):
    """A crossbar ``AnalogLSTM`` (batch-first sequences ``(B, T, in)``) -> last hidden state ``(B, H)``.

    Parameters are every weight and bias of the cell, bounded to ``[-w_bound, w_bound]``; a query
    with changed weights re-programs the crossbars (the layer's own eval-mode behaviour).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        seq_len: int,
        *,
        config: Any,
        w_bound: float = 1.0,
        generator: torch.Generator | None = None,
        latency_s: float = 0.0,
    ):
        from ..crossbar import AnalogLSTM

        gen = own_generator(generator)
        lstm = AnalogLSTM(input_size, hidden_size, batch_first=True, config=config, generator=gen)
        with torch.no_grad():
            for p in lstm.parameters():
                p.clamp_(-w_bound, w_bound)
        self.generator = gen
        super().__init__(
            _BoundedLSTM(lstm, w_bound), (seq_len, input_size), output_shape=(hidden_size,), latency_s=latency_s
        )


# ------------------------------------------------------------------------------------------------
class ESNSystem(AbstractPhysicalSystem):
    """An echo state network reservoir driven by sequences ``(B, T, n_in)``.

    The physical knobs are the ESN's hyperparameters, all dimensionless: ``input_scaling``
    (multiplies a fixed unit-scale ``W_in``), ``leak_rate`` in ``(0, 1]`` and ``bias_scaling``
    (multiplies a fixed unit-scale bias). The output is ``[x_T, mean_t x_t]`` (``2 N``).
    """

    def __init__(
        self,
        n_inputs: int,
        seq_len: int,
        *,
        n_units: int = 200,
        spectral_radius: float = 0.9,
        density: float = 0.1,
        bounds: dict | None = None,
        generator: torch.Generator | None = None,
        latency_s: float = 0.0,
    ):
        super().__init__(latency_s=latency_s)
        from ..reservoir import ESNParams, esn_matrices

        self.generator = own_generator(generator)
        base = ESNParams(
            n_units=n_units, spectral_radius=spectral_radius, input_scaling=1.0, bias_scaling=1.0, density=density
        )
        self._W, self._W_in, self._b = esn_matrices(n_inputs, base, generator=self.generator)
        self._base = base
        b = {"input_scaling": (0.01, 5.0), "leak_rate": (0.01, 1.0), "bias_scaling": (0.0, 2.0)}
        b.update(bounds or {})
        init = {"input_scaling": 1.0, "leak_rate": 0.5, "bias_scaling": 0.2}
        self.parameters = ParameterSpace(
            [
                ParameterSpec(name=k, low=lo, high=hi, units="1", init=min(max(init[k], lo), hi))
                for k, (lo, hi) in b.items()
            ]
        )
        self.input_spec = InputSpec(shape=(seq_len, n_inputs))
        self.output_shape = (2 * n_units,)

    def _query(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        from dataclasses import replace

        from ..reservoir import ESN

        p = {k: float(v) for k, v in self.parameters.split(theta).items()}
        if p["leak_rate"] <= 0:
            from .system import PhysicalSystemError

            raise PhysicalSystemError(
                f"{type(self).__name__} query #{self.queries + 1}: parameter 'leak_rate' = {p['leak_rate']} must be > 0"
            )
        esn = ESN(
            self.input_spec.shape[1],
            replace(self._base, leak_rate=p["leak_rate"]),
            W=self._W,
            W_in=self._W_in * p["input_scaling"],
            bias=self._b * p["bias_scaling"],
        )
        S = esn.run(x.to(torch.float64))  # (B, T, N)
        return torch.cat([S[:, -1], S.mean(1)], -1).to(torch.float32)


# ------------------------------------------------------------------------------------------------
class ResistiveLSMSystem(AbstractPhysicalSystem):
    """A resistive-memory LIF liquid state machine driven by input currents ``(B, T, D)``.

    Parameter: ``input_gain`` (dimensionless, multiplies the input currents). Output: spike rates
    of the ``N`` neurons (spikes per step), ``(B, N)``.
    """

    output_units = "1/step"

    def __init__(
        self,
        n_inputs: int,
        seq_len: int,
        *,
        config: Any = None,
        gain_bounds: tuple[float, float] = (0.0, 20.0),
        generator: torch.Generator | None = None,
        latency_s: float = 0.0,
    ):
        super().__init__(latency_s=latency_s)
        from ..reservoir import LSMConfig, ResistiveLSM

        self.generator = own_generator(generator)
        cfg = LSMConfig() if config is None else config
        self.lsm = ResistiveLSM(n_inputs, cfg, generator=self.generator)
        self.parameters = ParameterSpace(
            [
                ParameterSpec(
                    name="input_gain",
                    low=gain_bounds[0],
                    high=gain_bounds[1],
                    units="1",
                    init=min(max(1.0, gain_bounds[0]), gain_bounds[1]),
                )
            ]
        )
        self.input_spec = InputSpec(shape=(seq_len, n_inputs))
        self.output_shape = (cfg.n_neurons,)

    def _query(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        return self.lsm(x * float(theta[0])).rates.to(torch.float32)


# ------------------------------------------------------------------------------------------------
class ASICTimingSystem(AbstractPhysicalSystem):
    """The SHA-256 mining ASIC as a timing reservoir (:mod:`physnn.asic`).

    An input sample is a signal ``(K,)`` in ``[0, 1]``, one value per window; it drives the core
    voltage ``V = v_center + v_swing (2 s - 1)`` and the clock ``f = f_center`` for ``window_s``
    each (:func:`~physnn.asic.drive_from_signal`). The output is the inter-arrival feature
    vector of the valid shares in every window (:func:`~physnn.asic.window_features`, ``5 K``;
    undefined features are 0). Parameters: ``v_center`` (V), ``v_swing`` (V), ``f_center`` (Hz).
    """

    output_units = "1"

    def __init__(
        self,
        n_windows: int,
        *,
        window_s: float = 0.05,
        params: Any = None,
        generator: torch.Generator | None = None,
        latency_s: float = 0.0,
    ):
        super().__init__(latency_s=latency_s)
        from ..asic import MinerParams

        self.generator = own_generator(generator)
        self.window_s = float(window_s)
        self.miner = MinerParams() if params is None else params
        self.parameters = ParameterSpace(
            [
                ParameterSpec(name="v_center", low=0.80, high=0.98, units="V", init=0.90),
                ParameterSpec(name="v_swing", low=0.0, high=0.08, units="V", init=0.03),
                ParameterSpec(name="f_center", low=3.0e8, high=7.0e8, units="Hz", init=4.85e8),
            ]
        )
        self.input_spec = InputSpec(shape=(n_windows,), low=0.0, high=1.0)
        self.output_shape = (5 * n_windows,)

    def _query(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        from ..asic import drive_from_signal, simulate_shares, window_features

        p = {k: float(v) for k, v in self.parameters.split(theta.to(torch.float64)).items()}
        out = np.zeros((x.shape[0], *self.output_shape), dtype=np.float32)
        for b in range(x.shape[0]):
            v, f = drive_from_signal(
                x[b].double().numpy(), v_center=p["v_center"], v_swing=p["v_swing"], f_center=p["f_center"]
            )
            tr = simulate_shares(v, f, window=self.window_s, params=self.miner, generator=self.generator)
            F, D = window_features(tr.valid_times, tr.window_edges)
            out[b] = np.where(D, np.nan_to_num(F), 0.0).reshape(-1)
        return torch.from_numpy(out)
