"""Bit slicing: weights over several devices of few levels, inputs over several read cycles.

**Weight slices.** A weight ``w`` (``|w| <= w_max``) is quantised to the integer
``q = round(|w| / w_max * (2**(k b) - 1))`` and written base ``2**b`` over ``k`` devices (or
differential pairs) of ``2**b`` levels each: slice ``j`` holds the digit
``q_j = (q >> (b j)) & (2**b - 1)`` with the sign of ``w``. Every slice is an array of its own,
read and converted by its own ADC conversions; the slice outputs are added digitally with the
significance ``2**(b j) * w_max / (2**(k b) - 1)`` (shift-add).

**Input cycles** (bit-serial input). The DAC code ``c`` of an input (``|c| <= L``, the DAC's
largest code) is written base ``2**p`` in sign-magnitude form, ``c = sign(c) sum_t 2**(p t) d_t``
with ``0 <= d_t < 2**p``, ``T = ceil(log2(L + 1) / p)`` cycles. Cycle ``t`` drives the rows with
``sign(c) d_t / (2**p - 1)`` of the full read voltage (``p = 1``: a full pulse or none), so the
column currents of one cycle have the same full scale as an unsliced read and go through the same
ADC (step and range); each cycle's output codes are added digitally with the factor
``2**(p t) (2**p - 1) / L`` (shift-add). Every conversion draws its own output noise.

:class:`SlicedReadSpec` is what a sliced read computes: one :class:`~physnn.crossbar.read.ReadSpec`
per weight slice (each slice's read as an unsliced read of its devices), the significances and
the cycle width. :func:`sliced_read` evaluates it by reading every slice once, all ``T`` cycles of
all input vectors stacked as the rows of that one read, through :func:`physnn.crossbar.read.read`:
with ``backend="reference"`` it is the plain-torch definition, with ``"numba_cpu"`` (or
``"auto"``) the fast back end, bit-equal to it since every slice read is (the back ends' own
equality) and the digital combination is the same torch code in the same order.
:class:`SlicedAnalogLinear` is an ``nn.Linear`` on sliced devices (inference: train the float
weights, then program).

Not modelled: bound management (a sliced read raises if a slice spec asks for it), a sinh device
law or wire resistance together with input cycles (each cycle's voltage would change the
current law); gradients do not reach the input through the digit extraction (no straight-through
rule is defined for it).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from collections.abc import Iterable
from typing import Any, cast

import torch
from torch import nn

from .._checks import check_int_range
from ..random import check_generator
from .config import CrossbarConfig
from .layer import AnalogLinear, per_member_input
from .mapping import ConductanceRange
from .layer import draw_key
from .read import ReadSpec, input_codes, input_scale, read, subkey

__all__ = [
    "BitSlicing",
    "SlicedReadSpec",
    "sliced_read",
    "slice_weights",
    "input_cycles",
    "slice_key",
    "SlicedAnalogLinear",
]

_U64 = (1 << 64) - 1
#: slice keys are bound-management-style subkeys past any attempt a read makes (at most 63)
_SLICE_ATTEMPT = 1 << 16


@dataclass(frozen=True, kw_only=True)
class BitSlicing:
    """How weights and inputs are sliced.

    Parameters
    ----------
    weight_slices : int
        Devices (or differential pairs) per weight, ``k >= 1``.
    bits_per_slice : int
        Bits ``b`` per device: each slice device has ``2**b`` levels.
    input_bits_per_cycle : int, optional
        Bits ``p`` of the input code applied per read cycle (1: bit-serial); None: the whole code
        in one cycle (amplitude input).
    """

    weight_slices: int = 1
    bits_per_slice: int = 4
    input_bits_per_cycle: int | None = None

    def __post_init__(self) -> None:
        check_int_range(self.weight_slices, "weight_slices", 1, 16)
        check_int_range(self.bits_per_slice, "bits_per_slice", 1, 16)
        if self.weight_slices * self.bits_per_slice > 24:
            raise ValueError(
                f"weight_slices * bits_per_slice = {self.weight_slices * self.bits_per_slice}: at most "
                "24 bits of weight (exact in float32)"
            )
        if self.input_bits_per_cycle is not None:
            check_int_range(self.input_bits_per_cycle, "input_bits_per_cycle", 1, 16)

    @property
    def weight_levels(self) -> int:
        """Levels of the sliced weight magnitude, ``2**(k b)`` (0 .. ``2**(k b) - 1``)."""
        return 2 ** (self.weight_slices * self.bits_per_slice)

    def cycles(self, in_levels: float) -> int:
        """Input cycles ``T`` for DAC codes up to ``in_levels`` (1 without input slicing)."""
        p = self.input_bits_per_cycle
        return 1 if p is None else max(1, math.ceil(math.log2(in_levels + 1) / p))

    def significance(self, w_max: float) -> tuple[float, ...]:
        """Digital weight of each slice's output: ``2**(b j) * w_max / (2**(k b) - 1)``."""
        return tuple(
            2.0 ** (self.bits_per_slice * j) * w_max / (self.weight_levels - 1) for j in range(self.weight_slices)
        )


def slice_weights(w: torch.Tensor, w_max: float, slicing: BitSlicing) -> list[torch.Tensor]:
    """Signed digits of ``w`` (any shape), one tensor per slice, least significant first.

    ``q = round(clamp(|w| / w_max, 0, 1) * (2**(k b) - 1))`` (half to even), digit
    ``j = sign(w) ((q >> (b j)) & (2**b - 1))``, as ``w``'s dtype: ``sum_j 2**(b j) digit_j``
    is ``sign(w) q`` exactly.
    """
    if not isinstance(w, torch.Tensor) or not w.is_floating_point():
        raise TypeError(f"w: expected a floating-point tensor, got {type(w).__name__}")
    if not (isinstance(w_max, (int, float)) and math.isfinite(w_max) and w_max > 0):
        raise ValueError(f"w_max={w_max!r}: must be finite and > 0")
    if not isinstance(slicing, BitSlicing):
        raise TypeError(f"slicing: expected a BitSlicing, got {type(slicing).__name__}")
    q = torch.round((w.detach().abs() / w_max).clamp(0, 1) * (slicing.weight_levels - 1)).to(torch.int64)
    sign = torch.sign(w.detach())
    b, mask = slicing.bits_per_slice, 2**slicing.bits_per_slice - 1
    return [((q >> (b * j)) & mask).to(w.dtype) * sign for j in range(slicing.weight_slices)]


def input_cycles(codes: torch.Tensor, bits_per_cycle: int, in_levels: float) -> torch.Tensor:
    """Sign-magnitude digits ``(T, *codes.shape)`` of integer DAC codes, least significant first:
    ``codes == sum_t 2**(p t) digits[t]`` exactly."""
    T = max(1, math.ceil(math.log2(in_levels + 1) / bits_per_cycle))
    mag = codes.detach().abs().to(torch.int64)
    sign = torch.sign(codes.detach())
    mask = 2**bits_per_cycle - 1
    return torch.stack([((mag >> (bits_per_cycle * t)) & mask).to(codes.dtype) * sign for t in range(T)])


def slice_key(key: int, j: int) -> int:
    """Noise key of slice ``j`` of a sliced read with key ``key`` (64-bit; distinct per slice)."""
    return subkey(key, _SLICE_ATTEMPT + j)


@dataclass(frozen=True, kw_only=True, eq=False)
class SlicedReadSpec:
    """A bit-sliced read (see the module doc).

    Parameters
    ----------
    slices : tuple of ReadSpec
        One unsliced read spec per weight slice (same shapes, dtype, DAC and input scaling; no
        bias, no bound management).
    significance : tuple of float
        Digital weight of each slice's output (:meth:`BitSlicing.significance`).
    input_bits_per_cycle : int, optional
        Bits per input cycle; None: one cycle.
    bias : Tensor (out,), optional
        Digital bias added at the end.
    key : int
        Noise key (each slice reads with :func:`slice_key` of it).
    """

    slices: tuple[ReadSpec, ...]
    significance: tuple[float, ...]
    input_bits_per_cycle: int | None = None
    bias: torch.Tensor | None = None
    key: int = 0

    def __post_init__(self) -> None:
        sl = tuple(self.slices)
        if not sl or not all(isinstance(s, ReadSpec) for s in sl):
            raise ValueError("slices: expected a non-empty sequence of ReadSpec")
        if len(self.significance) != len(sl):
            raise ValueError(f"significance: {len(self.significance)} values for {len(sl)} slices")
        s0 = sl[0]
        for j, s in enumerate(sl):
            if s.weight.shape != s0.weight.shape or s.weight.dtype != s0.weight.dtype:
                raise ValueError(
                    f"slices[{j}]: weight {tuple(s.weight.shape)} {s.weight.dtype} differs from "
                    f"slices[0]'s {tuple(s0.weight.shape)} {s0.weight.dtype}"
                )
            for f in ("in_step", "in_levels", "abs_max", "iv"):
                if getattr(s, f) != getattr(s0, f):
                    raise ValueError(f"slices[{j}].{f} differs from slices[0]'s (one DAC drives all slices)")
            if s.bias is not None:
                raise ValueError(f"slices[{j}].bias: the bias belongs to the SlicedReadSpec (added once)")
            if s.bound_management:
                raise ValueError(f"slices[{j}].bound_management: not modelled for sliced reads")
        p = self.input_bits_per_cycle
        if p is not None:
            check_int_range(p, "input_bits_per_cycle", 1, 16)
            if s0.in_levels is None:
                raise ValueError("input_bits_per_cycle: input cycles need integer DAC codes (slices with in_levels)")
            if s0.iv is not None or any(s.ir is not None for s in sl):
                raise ValueError(
                    "input_bits_per_cycle: input cycles with a sinh I-V law or wire resistance are not modelled"
                )
        if not isinstance(self.key, int) or not 0 <= self.key <= _U64:
            raise ValueError(f"key={self.key!r}: must be an int in [0, 2**64)")
        object.__setattr__(self, "slices", sl)
        object.__setattr__(self, "significance", tuple(float(v) for v in self.significance))
        object.__setattr__(self, "memo", {})

    @property
    def ensemble(self) -> int | None:
        return self.slices[0].ensemble

    @property
    def cycles(self) -> int:
        """Input cycles per read."""
        p = self.input_bits_per_cycle
        if p is None:
            return 1
        L = cast(float, self.slices[0].in_levels)  # (__post_init__: input cycles need in_levels)
        return max(1, math.ceil(math.log2(L + 1) / p))

    def with_key(self, key: int) -> "SlicedReadSpec":
        """The same spec with another noise key (shares the per-cycle specs)."""
        if not isinstance(key, int) or not 0 <= key <= _U64:
            raise ValueError(f"key={key!r}: must be an int in [0, 2**64)")
        new = object.__new__(SlicedReadSpec)
        object.__setattr__(new, "__dict__", {**self.__dict__, "key": key})
        return new

    def cycle_specs(self) -> tuple[ReadSpec, ...]:
        """The spec each slice is read with: inputs are the (cycle) codes themselves (step 1, no
        input scaling), the weights in output codes per cycle code, no bias."""
        memo: dict[str, Any] = getattr(self, "memo")  # (set by __post_init__; not a field)
        cs = memo.get("cycle")
        if cs is None:
            p = self.input_bits_per_cycle
            s0 = self.slices[0]
            gain = 1.0 if p is None else cast(float, s0.in_levels) / (2**p - 1)
            levels = s0.in_levels if p is None else float(2**p - 1)
            cs = tuple(
                dataclasses.replace(
                    s,
                    weight=s.weight * gain if gain != 1.0 else s.weight,
                    in_step=1.0,
                    in_levels=levels,
                    abs_max=False,
                    iv=None,
                    key=0,
                )
                for s in self.slices
            )
            memo["cycle"] = cs
        return cs


def sliced_read(
    spec: SlicedReadSpec, x: torch.Tensor, *, per_member: bool = False, backend: str | None = None
) -> torch.Tensor:
    """A bit-sliced read (see the module doc).

    Parameters
    ----------
    spec : SlicedReadSpec
    x : Tensor
        ``(..., in)`` shared by all tiles, or with ``per_member`` ``(E, ..., in)``.
    backend : str, optional
        Back end of every slice read (:func:`physnn.crossbar.read.read`): ``"reference"``,
        ``"numba_cpu"``, ``"auto"``; None: the :func:`~physnn.crossbar.read.use_backend` choice.

    Returns
    -------
    Tensor ``(..., out)``, or ``(E, ..., out)`` with an ensemble.
    """
    if not isinstance(spec, SlicedReadSpec):
        raise TypeError(f"spec: expected a SlicedReadSpec, got {type(spec).__name__}")
    s0 = spec.slices[0]
    x2, shape = s0.layout(x, per_member)
    with torch.no_grad():
        s = input_scale(s0, x2)
        codes = input_codes(s0, x2, s, s0.in_step)
    p = spec.input_bits_per_cycle
    M = x2.shape[-2]
    if p is None:
        T, xin, factors = 1, codes, (1.0,)
    else:
        dig = input_cycles(codes, p, cast(float, s0.in_levels))  # (T, [E], M, in)
        T = dig.shape[0]
        n_in = x2.shape[-1]
        xin = dig.reshape(T * M, n_in) if x2.dim() == 2 else dig.transpose(0, 1).reshape(x2.shape[0], T * M, n_in)
        factors = tuple(2.0 ** (p * t) * (2**p - 1) / s0.in_levels for t in range(T))
    total: torch.Tensor | None = None
    for j, cs in enumerate(spec.cycle_specs()):
        y = read(
            cs.with_key(slice_key(spec.key, j) if cs.noise_std > 0 else 0), xin, per_member=per_member, backend=backend
        )  # ([E], T*M, out)
        y = y.reshape(*y.shape[:-2], T, M, y.shape[-1])
        acc = y[..., 0, :, :] * factors[0]
        for t in range(1, T):
            acc = acc + y[..., t, :, :] * factors[t]
        acc = acc * spec.significance[j]
        total = acc if total is None else total + acc
    total = cast(torch.Tensor, total)  # (spec.slices is not empty)
    if s is not None:
        total = total * s
    if spec.bias is not None:
        total = total + spec.bias
    return total if total.shape == shape else total.reshape(shape)


class SlicedAnalogLinear(nn.Module):
    """``nn.Linear`` on bit-sliced crossbars (inference).

    Each weight slice is an :class:`~physnn.crossbar.layer.AnalogLinear` (``slices[j]``) of the
    config's devices with ``2**bits_per_slice`` levels, programmed with the signed digits of the
    float weights (:func:`slice_weights`), so every device effect of the config (programming
    noise, drift, read noise, faults, ...) acts on every slice; reads are :func:`sliced_read`.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Digital bias added after the slices are combined.
    config : CrossbarConfig
        Devices and periphery of every slice (its ``range.levels`` is replaced by
        ``2**bits_per_slice``; its ``w_max``, if set, is the sliced weight's full scale).
    slicing : BitSlicing
    ensemble : int, optional
        Monte-Carlo device instances (every slice has its own).
    generator : torch.Generator, optional
        Source of all draws (programming and reads).
    backend : str, optional
        Read back end of the slice reads (see :func:`sliced_read`).
    """

    # (a buffer registered in __init__, declared here for the type checker)
    w_max: torch.Tensor

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        config: CrossbarConfig,
        slicing: BitSlicing,
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        backend: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        if not isinstance(config, CrossbarConfig):
            raise TypeError(f"config: expected a CrossbarConfig, got {type(config).__name__}")
        if not isinstance(slicing, BitSlicing):
            raise TypeError(f"slicing: expected a BitSlicing, got {type(slicing).__name__}")
        if slicing.input_bits_per_cycle is not None and config.dac is None:
            raise ValueError("slicing.input_bits_per_cycle: input cycles need a DAC (config.dac)")
        if config.bound_management:
            raise ValueError("config.bound_management: not modelled for sliced reads")
        self.in_features, self.out_features = in_features, out_features
        self.ensemble, self.backend, self.slicing, self.config = ensemble, backend, slicing, config
        self.generator = check_generator(generator)
        r = config.range
        rng = ConductanceRange(r.g_min, r.g_max, 2**slicing.bits_per_slice)
        mapping = None if config.mapping is None else dataclasses.replace(config.mapping, range=rng)
        sub = dataclasses.replace(
            config, range=rng, mapping=mapping, w_max=float(2**slicing.bits_per_slice - 1), weight_clip=None
        )
        self.slices = nn.ModuleList(
            AnalogLinear(
                in_features,
                out_features,
                bias=False,
                config=sub,
                ensemble=ensemble,
                generator=self.generator,
                backend=backend,
                device=device,
                dtype=dtype,
            )
            for _ in range(slicing.weight_slices)
        )
        fk = {"device": device, "dtype": dtype}
        ref = nn.Linear(in_features, out_features, bias=bias, **fk)
        self.weight = nn.Parameter(ref.weight.detach().clone())
        self.bias = nn.Parameter(ref.bias.detach().clone()) if bias else None
        self.register_buffer("w_max", torch.tensor(1.0, dtype=torch.float64))
        self._programmed_version: int | None = None

    @classmethod
    def from_linear(
        cls,
        linear: nn.Linear,
        *,
        config: CrossbarConfig,
        slicing: BitSlicing,
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        backend: str | None = None,
    ) -> "SlicedAnalogLinear":
        """A sliced layer with a copy of ``linear``'s weights and bias (not yet programmed)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear: expected a torch.nn.Linear, got {type(linear).__name__}")
        w = linear.weight
        layer = cls(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            config=config,
            slicing=slicing,
            ensemble=ensemble,
            generator=generator,
            backend=backend,
            device=w.device,
            dtype=w.dtype,
        )
        with torch.no_grad():
            layer.weight.copy_(w)
            if linear.bias is not None:
                cast(nn.Parameter, layer.bias).copy_(linear.bias)  # (made with a bias: linear has one)
        return layer

    @torch.no_grad()
    def program(self, generator: torch.Generator | None = None) -> "SlicedAnalogLinear":
        """Programming event: quantise the float weights, write their digits to the slices."""
        gen = self.generator if generator is None else check_generator(generator)
        w = self.weight.detach()
        clip = self.config.weight_clip
        if clip is not None:
            w = w.clamp(-clip, clip)
        if self.config.w_max is not None:
            w_max = float(self.config.w_max)
        else:
            w_max = float(w.abs().max()) if w.numel() else 1.0
            w_max = w_max if w_max > 0 else 1.0
        self.w_max.fill_(w_max)
        for layer, d in zip(cast("Iterable[AnalogLinear]", self.slices), slice_weights(w, w_max, self.slicing)):
            layer.weight.copy_(d)
            layer.program(gen)
        self._programmed_version = self.weight._version
        return self

    @torch.no_grad()
    def set_time(self, t_inference: float, generator: torch.Generator | None = None) -> "SlicedAnalogLinear":
        """Move every slice to ``t_inference`` s after programming (see ``AnalogLinear.set_time``)."""
        if self._programmed_version is None:
            self.program(generator)
        for layer in cast("Iterable[AnalogLinear]", self.slices):
            layer.set_time(t_inference, generator if generator is not None else self.generator)
        return self

    def read_spec(self, dtype: torch.dtype | None = None, device: Any = None) -> SlicedReadSpec:
        """The sliced read of the programmed slices now (noise key 0)."""
        if self._programmed_version is None or self.weight._version != self._programmed_version:
            self.program()
        specs = tuple(layer.read_spec(dtype, device) for layer in cast("Iterable[AnalogLinear]", self.slices))
        memo = getattr(self, "_spec_memo", None)
        if (
            memo is not None
            and len(memo[0]) == len(specs)
            and all(a is b for a, b in zip(memo[0], specs))
            and memo[2] == (None if self.bias is None else self.bias._version)
        ):
            return memo[1]
        w0 = specs[0].weight
        bias = None if self.bias is None else self.bias.detach().to(dtype=w0.dtype, device=w0.device)
        spec = SlicedReadSpec(
            slices=specs,
            significance=self.slicing.significance(float(self.w_max)),
            input_bits_per_cycle=self.slicing.input_bits_per_cycle,
            bias=bias,
        )
        self._spec_memo = (specs, spec, None if self.bias is None else self.bias._version)
        return spec

    def forward(self, x: torch.Tensor, *, shared_input: bool | None = None) -> torch.Tensor:
        """A sliced read (eval mode): ``(..., in)`` -> ``(..., out)``, or ``(E, ..., out)``."""
        if self.training:
            raise RuntimeError(
                "SlicedAnalogLinear is an inference layer: train the float weights (or an "
                "AnalogLinear), then call .eval()"
            )
        if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"x: expected (..., in_features={self.in_features}), got {getattr(x, 'shape', x)!r}")
        per_member = per_member_input(x, self.ensemble, shared_input)
        spec = self.read_spec(x.dtype, x.device)
        noisy = any(s.noise_std > 0 for s in spec.slices)
        return sliced_read(
            spec.with_key(draw_key(self.generator) if noisy else 0), x, per_member=per_member, backend=self.backend
        )

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"slicing={self.slicing}"
        )
