"""Rate-coded SFQ network layers: bias currents are the parameters, fitted transfer curves the physics.

Rate coding: a signal is the probability ``p`` that a line carries an SFQ pulse in a clock slot
(rate = ``p * clock_hz``, at most one pulse per slot, so a rate above the clock is refused). A
synapse passes each pulse with probability ``P_syn(I_syn)``; a neuron of fan-in K fires in a slot
with probability ``sum_S P(S) G_S(I_neuron)`` over the 2**K patterns S of pulses passed into its
merger tree, ``G_S`` the fitted (two-step) logistic of pattern S. Inside a neuron the lines pulse
``stagger_s`` apart and a passed pulse kicks the later synapses through the merger tree, so
``P(S) = prod_i [q_i if i in S else 1 - q_i]`` with ``q_i = p_i * P_i(I_i | S below i)``, the pass
curve of line i in the context of the earlier lines that passed (its I50 depends on the gate bias
of the latest of them, which sets when that pulse arrives), fitted to the circuit
(:func:`physnn.sfq.synapse_context_response`); without context curves in the transfer file the
synapses are independent (``P_i = P_syn``). This is exact for the slot-synchronous circuits of
:mod:`physnn.sfq.netgen` as far as the per-slot independence of the thermal noise holds.

``window=N`` samples the rate a read-out would count over N slots (Binomial(N, p) / N) with a
straight-through gradient, so the rate noise of a finite window is modelled, not only its mean.
"""

from __future__ import annotations


import numpy as np
import torch
from torch import nn

from ..random import check_generator
from .characterise import TIMING, patterns
from .transfer import TransferCurves, load_transfer

__all__ = ["SFQSynapse", "SFQNeuron", "SFQLayer", "SFQNetwork", "check_rates", "sample_window"]


def _curves(curves) -> TransferCurves:
    if curves is None:
        return load_transfer()
    if isinstance(curves, TransferCurves):
        return curves
    return load_transfer(curves)


def check_rates(p: torch.Tensor, name: str = "input") -> None:
    """Refuse pulse probabilities outside [0, 1] (a rate above the clock rate, or negative)."""
    if not torch.is_tensor(p):
        raise TypeError(f"{name}: expected a torch.Tensor of pulse probabilities per clock slot")
    with torch.no_grad():
        if torch.isnan(p).any():
            raise ValueError(f"{name}: NaN pulse probability")
        bad = (p < 0) | (p > 1)
        if bad.any():
            v = float(p[bad].flatten()[0])
            raise ValueError(
                f"{name}: pulse probability per clock slot {v:.4g} outside [0, 1]: an input rate "
                "above the clock rate (or negative) cannot be represented (one SFQ pulse per "
                "line and slot at most)"
            )


def sample_window(p: torch.Tensor, window: int | None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Rate counted over ``window`` slots: Binomial(window, p) / window, straight-through gradient."""
    generator = check_generator(generator)
    if window is None:
        return p
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window={window!r}: expected a positive number of clock slots or None")
    with torch.no_grad():
        k = torch.binomial(torch.full_like(p, float(window)), p.detach().clamp(0, 1), generator=generator)
    return p + (k / window - p).detach()


class _BiasModule(nn.Module):
    """Holds bias parameters (A) with physical ranges; refuses out-of-range values."""

    _ranges: dict[str, tuple[float, float]]

    def physical_bounds(self) -> dict[str, tuple[float, float, str]]:
        """Parameter name -> (low, high, units) of every bias current (A), for model-free trainers."""
        out = {}
        for mname, mod in self.named_modules():
            if isinstance(mod, _BiasModule):
                for pname, (lo, hi) in mod._ranges.items():
                    out[f"{mname}.{pname}" if mname else pname] = (lo, hi, "A")
        return out

    def _bias_tensor(self, name: str) -> torch.Tensor:
        mod, _, pname = name.rpartition(".")
        return getattr(self.get_submodule(mod) if mod else self, pname)

    def check_biases(self) -> None:
        """ValueError naming the parameter if any bias current lies outside its physical range."""
        for name, (lo, hi, _) in self.physical_bounds().items():
            t = self._bias_tensor(name)
            with torch.no_grad():
                bad = (t < lo * (1 - 1e-9) - 1e-15) | (t > hi * (1 + 1e-9) + 1e-15)
                if bad.any():
                    v = float(t[bad].flatten()[0])
                    raise ValueError(
                        f"{name}: bias current {v * 1e6:.4g} uA outside the physical range "
                        f"[{lo * 1e6:.4g}, {hi * 1e6:.4g}] uA of the characterised cell"
                    )

    @torch.no_grad()
    def clamp_biases_(self) -> "_BiasModule":
        """Project every bias current into its physical range (after an optimiser step)."""
        for name, (lo, hi, _) in self.physical_bounds().items():
            self._bias_tensor(name).clamp_(lo, hi)
        return self

    def _init_bias(self, shape, init, lo, hi, name, dtype):
        t = (
            torch.full(shape, float(init), dtype=dtype)
            if np.isscalar(init)
            else torch.as_tensor(init, dtype=dtype).clone()
        )
        if tuple(t.shape) != tuple(shape):
            raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(t.shape)}")
        p = nn.Parameter(t)
        self._ranges[name] = (lo, hi)
        return p


def _logistic(bias, i50, scale):
    return torch.sigmoid((bias - i50) / scale)


def _two_step(bias, m):
    """Two-step logistic of :class:`physnn.sfq.transfer.Logistic` from buffers of module ``m``."""
    mix = m.neu_w * torch.sigmoid((bias - m.neu_i50) / m.neu_scale) + (1 - m.neu_w) * torch.sigmoid(
        (bias - m.neu_i50_2) / m.neu_scale_2
    )
    return m.neu_floor + (1 - m.neu_floor - m.neu_ceiling) * mix


def _interp(x, knots, values):
    """Piecewise-linear ``values[..., k]`` at ``x`` (same leading shape), clamped to the knot range."""
    xc = x.clamp(float(knots[0]), float(knots[-1]))
    j = (torch.searchsorted(knots, xc.detach().contiguous(), right=True) - 1).clamp(0, knots.numel() - 2)
    k0, k1 = knots[j], knots[j + 1]
    f = (xc - k0) / (k1 - k0)
    v0 = values.gather(-1, j[..., None]).squeeze(-1)
    v1 = values.gather(-1, (j + 1)[..., None]).squeeze(-1)
    return v0 * (1 - f) + v1 * f


def _register_neuron_curve(m, curve, dtype):
    m.register_buffer("neu_i50", torch.as_tensor(curve.i50_A, dtype=dtype))
    m.register_buffer("neu_scale", torch.as_tensor(curve.scale_A, dtype=dtype))
    m.register_buffer("neu_w", torch.as_tensor(curve.weight, dtype=dtype))
    m.register_buffer("neu_i50_2", torch.as_tensor(curve.i50_2_A, dtype=dtype))
    m.register_buffer("neu_scale_2", torch.as_tensor(curve.scale_2_A, dtype=dtype))
    m.register_buffer("neu_floor", torch.as_tensor(curve.floor, dtype=dtype))
    m.register_buffer("neu_ceiling", torch.as_tensor(curve.ceiling, dtype=dtype))


class SFQSynapse(_BiasModule):
    """Element-wise stochastic synapses: output pulse probability ``p * P_syn(bias)``.

    Parameters
    ----------
    shape : tuple of int
        Shape of the bias tensor (broadcast against the input's trailing dimensions).
    bias_A : float or array, optional
        Initial gate bias currents, A (default: the curve's I50).
    curves : TransferCurves, path or None
        Fitted transfer curves (default: the shipped ``circuits/sfq_transfer.toml``).
    """

    def __init__(self, shape=(), *, bias_A=None, curves=None, dtype=torch.float64):
        super().__init__()
        self._ranges = {}
        c = _curves(curves)
        self.curves = c
        self.lo_A, self.hi_A = c.synapse.bias_range_A
        self.register_buffer("i50_A", torch.tensor(float(c.synapse.curve.i50_A[0]), dtype=dtype))
        self.register_buffer("scale_A", torch.tensor(float(c.synapse.curve.scale_A[0]), dtype=dtype))
        init = float(self.i50_A) if bias_A is None else bias_A
        self.bias = self._init_bias(tuple(shape), init, self.lo_A, self.hi_A, "bias", dtype)
        self.check_biases()

    def transfer(self, bias_scale: float = 1.0) -> torch.Tensor:
        """Pass probability of each synapse (bias currents scaled by ``bias_scale``)."""
        return _logistic(self.bias * bias_scale, self.i50_A, self.scale_A)

    def forward(self, p, *, bias_scale: float = 1.0, window: int | None = None, generator=None):
        check_rates(p)
        self.check_biases()
        return sample_window(p * self.transfer(bias_scale), window, generator)


class SFQNeuron(_BiasModule):
    """``n`` integrate-and-fire neurons of fan-in K: input (..., n, K) line probabilities -> (..., n)."""

    def __init__(self, n: int, fan_in: int, *, bias_A=None, curves=None, dtype=torch.float64):
        super().__init__()
        self._ranges = {}
        c = _curves(curves)
        self.curves = c
        cc = c.neuron(fan_in)
        self.fan_in = fan_in
        self.lo_A, self.hi_A = cc.bias_range_A
        _register_neuron_curve(self, cc.curve, dtype)
        self.register_buffer("patterns", torch.as_tensor(patterns(fan_in)))
        init = 0.5 * (self.lo_A + self.hi_A) if bias_A is None else bias_A
        self.bias = self._init_bias((n,), init, self.lo_A, self.hi_A, "bias", dtype)
        self.check_biases()

    def pattern_probs(self, q):
        """P(S) of every input pattern for independent lines q (..., K) -> (..., 2**K)."""
        m = self.patterns
        return torch.where(m, q[..., None, :], 1 - q[..., None, :]).prod(-1)

    def fire_given_pattern(self, bias_scale: float = 1.0):
        """G_S(bias): (n, 2**K) firing probability per pattern."""
        return _two_step(self.bias[:, None] * bias_scale, self)

    def forward(self, q, *, bias_scale: float = 1.0, window: int | None = None, generator=None):
        check_rates(q)
        self.check_biases()
        if q.shape[-1] != self.fan_in or q.shape[-2] != self.bias.shape[0]:
            raise ValueError(f"input: expected (..., {self.bias.shape[0]}, {self.fan_in}), got {tuple(q.shape)}")
        out = (self.pattern_probs(q) * self.fire_given_pattern(bias_scale)).sum(-1)
        return sample_window(out, window, generator)


class SFQLayer(_BiasModule):
    """Synapses + neurons: ``out_features`` neurons, each reading ``fan_in`` input lines.

    ``connections`` (out, fan_in) int array names the input line of each neuron input; default:
    fully connected (``fan_in == in_features``, line order = input order). Parameters:
    ``synapse_bias`` (out, fan_in) and ``neuron_bias`` (out,), A.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        connections=None,
        synapse_bias_A=None,
        neuron_bias_A=None,
        curves=None,
        generator: torch.Generator | None = None,
        dtype=torch.float64,
    ):
        super().__init__()
        self._ranges = {}
        c = _curves(curves)
        self.curves = c
        if connections is None:
            connections = np.tile(np.arange(in_features), (out_features, 1))
        conn = torch.as_tensor(np.asarray(connections), dtype=torch.long)
        if conn.ndim != 2 or conn.shape[0] != out_features or conn.min() < 0 or conn.max() >= in_features:
            raise ValueError(f"connections: expected ({out_features}, fan_in) indices into {in_features} inputs")
        self.in_features, self.out_features, self.fan_in = in_features, out_features, conn.shape[1]
        self.register_buffer("connections", conn)
        cs, cn = c.synapse, c.neuron(self.fan_in)
        slo, shi = cs.bias_range_A
        nlo, nhi = cn.bias_range_A
        generator = check_generator(generator)
        if synapse_bias_A is None:  # spread around the synapse's I50
            i50, s = float(cs.curve.i50_A[0]), float(cs.curve.scale_A[0])
            synapse_bias_A = (
                i50 + 2 * s * torch.randn((out_features, self.fan_in), generator=generator, dtype=dtype)
            ).clamp(slo, shi)
        if neuron_bias_A is None:
            neuron_bias_A = 0.5 * (nlo + nhi)
        self.synapse_bias = self._init_bias(
            (out_features, self.fan_in), synapse_bias_A, slo, shi, "synapse_bias", dtype
        )
        self.neuron_bias = self._init_bias((out_features,), neuron_bias_A, nlo, nhi, "neuron_bias", dtype)
        self.register_buffer("syn_i50", torch.tensor(float(cs.curve.i50_A[0]), dtype=dtype))
        self.register_buffer("syn_scale", torch.tensor(float(cs.curve.scale_A[0]), dtype=dtype))
        _register_neuron_curve(self, cn.curve, dtype)
        pats = patterns(self.fan_in)
        self.register_buffer("patterns", torch.as_tensor(pats))
        ctx = c.context(self.fan_in)
        self.in_context = ctx is not None
        if self.in_context:
            # synapse i of a neuron: pass curve of (line i, context = pattern's lines < i), whose I50
            # depends on the gate bias of the latest of those lines (see physnn.sfq.transfer.ContextCurves)
            K = self.fan_in
            bits = (pats * (1 << np.arange(K))[None, :]).sum(1)  # (P,)
            ctx_of = bits[:, None] & ((1 << np.arange(K))[None, :] - 1)  # (P, K)
            entry = (1 << np.arange(K))[None, :] - 1 + ctx_of
            prev = np.array([[max(int(c).bit_length() - 1, 0) for c in row] for row in ctx_of])
            self.register_buffer("ctx_entry", torch.as_tensor(entry, dtype=torch.long))
            self.register_buffer("ctx_prev", torch.as_tensor(prev, dtype=torch.long))
            self.register_buffer("ctx_knots", torch.as_tensor(ctx.knots_A, dtype=dtype))
            self.register_buffer("ctx_i50", torch.as_tensor(ctx.i50_A, dtype=dtype))
            self.register_buffer("ctx_scale", torch.as_tensor(ctx.scale_A, dtype=dtype))
        self.check_biases()

    def synapse_pass(self, bias_scale: float = 1.0):
        """Pass probability of each synapse on its own (the synapse S-curve), (out, fan_in)."""
        return _logistic(self.synapse_bias * bias_scale, self.syn_i50, self.syn_scale)

    def synapse_pass_in_context(self, bias_scale: float = 1.0):
        """Pass probability of synapse i of every neuron given the pattern S of passed pulses on the
        lines before it: (out, 2**K, K); entry [j, S, i] is used when the lines of S below i passed.
        Without context curves in the transfer file: the synapse S-curve for every pattern."""
        b = self.synapse_bias * bias_scale  # (out, K)
        if not self.in_context:
            return self.synapse_pass(bias_scale)[:, None, :].expand(-1, self.patterns.shape[0], -1)
        n_out = b.shape[0]
        P, K = self.ctx_entry.shape
        prev_b = b[:, self.ctx_prev]  # (out, P, K)
        vals = self.ctx_i50[self.ctx_entry].expand(n_out, P, K, -1)
        i50 = _interp(prev_b, self.ctx_knots, vals)
        return torch.sigmoid((b[:, None, :] - i50) / self.ctx_scale[self.ctx_entry])

    def forward(self, p, *, bias_scale: float = 1.0, window: int | None = None, generator=None):
        """Pulse probabilities (..., in_features) -> (..., out_features)."""
        check_rates(p)
        self.check_biases()
        if p.shape[-1] != self.in_features:
            raise ValueError(f"input: expected (..., {self.in_features}), got {tuple(p.shape)}")
        # P(pattern S of pulses passed into each neuron's merger tree): line i carries a pulse with
        # probability p_i and its synapse passes it with the probability for the lines of S before i
        q = p[..., self.connections][..., None, :] * self.synapse_pass_in_context(bias_scale)  # (..., out, P, K)
        w = torch.where(self.patterns, q, 1 - q).prod(-1)  # (..., out, P)
        g = _two_step(self.neuron_bias[:, None] * bias_scale, self)  # (out, P)
        return sample_window((w * g).sum(-1), window, generator)


class SFQNetwork(_BiasModule):
    """A stack of :class:`SFQLayer` with a clock; ``forward`` takes pulse probabilities, ``rates``
    takes rates in Hz (refusing rates above ``clock_hz``)."""

    def __init__(self, layers, *, clock_hz: float = TIMING.clock_hz):
        super().__init__()
        self._ranges = {}
        self.layers = nn.ModuleList(layers)
        self.clock_hz = float(clock_hz)
        for a, b in zip(self.layers[:-1], self.layers[1:]):
            if a.out_features != b.in_features:
                raise ValueError(f"layers: {a.out_features} outputs feed a layer of {b.in_features} inputs")

    def forward(self, p, *, bias_scale: float = 1.0, window: int | None = None, generator=None):
        for layer in self.layers:
            p = layer(p, bias_scale=bias_scale, window=window, generator=generator)
        return p

    def rates(self, rates_hz, **kw):
        """Input rates (Hz, <= clock_hz) -> output rates (Hz)."""
        r = torch.as_tensor(rates_hz, dtype=torch.float64)
        with torch.no_grad():
            if (r > self.clock_hz * (1 + 1e-12)).any() or (r < 0).any():
                raise ValueError(
                    f"rates_hz: input rate {float(r.max()):.4g} Hz is above the clock rate (or negative): allowed [0, clock_hz = "
                    f"{self.clock_hz:.4g} Hz]: at most one SFQ pulse per line and clock slot"
                )
        return self.forward(r / self.clock_hz, **kw) * self.clock_hz
