"""What one crossbar read computes: a frozen :class:`ReadSpec` and its definition :func:`reference_read`.

A read of a programmed array, in integer-like *code* units:

1. **DAC**: per input vector a scale ``s`` (its largest ``|x|`` with ``abs_max`` input scaling,
   else 1); codes ``c = clamp(round(x / (s * in_step * red)), -L, L)`` (no rounding or clamp
   without a DAC); a sinh-type device law maps the codes through the unit device current.
2. **MVM**: ``acc = c @ weight.T`` per tile (``weight`` already in output-code units), or a
   circuit solve with wire resistance (``ir``).
3. **Noise**: ``acc + noise_std * z`` with ``z`` standard normal, drawn from the counter-based
   generator below: the draw of output ``(e, r, o)`` is a pure function of ``key`` and the
   counter ``(r * E + e) * out + o``, so every back end gives the same numbers and a row's noise
   does not depend on the batch it is read in.
4. **ADC**: ``round`` and clamp to ``±adc_levels``.
5. **Scale and bias**: ``out = code * (s * scale_e * red) + bias`` (digital).

**Bound management** (one semantics, no size threshold changes it): a *tile* is one ensemble
member (the whole array without an ensemble). When any output code of a tile's read exceeds
``adc_levels``, that tile's whole read (all its input vectors) is repeated with the inputs halved
(``red *= 2``) and fresh noise (key :func:`subkey` ``(key, attempt)``), while ``red <=
max_reduction``; this is aihwkit's iterative bound management of one tile per forward
(``aihwkit.simulator.tiles.analog_mvm``). The first attempt reads all tiles together; a repeat
reads only the tiles that saturated.

Back ends (:mod:`physnn.crossbar.backends`) compute the same read faster; with the same key their
output equals :func:`reference_read` (bit for bit on the CPU: they share the DAC and GEMM calls
and evaluate the same per-element arithmetic). :func:`read` picks one: an explicit ``backend=``,
else the innermost :func:`use_backend` context, else ``"auto"`` (the fastest that supports the
read, the reference otherwise).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch

from ..buffers import empty_torch
from .iv import SinhIV, device_current

__all__ = [
    "ReadSpec",
    "reference_read",
    "read",
    "use_backend",
    "current_backend",
    "register_backend",
    "backends",
    "counter_normal",
    "add_counter_normal",
    "read_out_points",
    "subkey",
    "input_codes",
    "dac_inputs",
    "noise_tables",
]

# ---------------------------------------------------------------------------------------------
# Counter-based normal draws.  Random bits: two rounds of the 32-bit "lowbias32" integer hash
# (C. Wellons, "Prospecting for hash functions", 2018; constants 0x7feb352d, 0x846ca68b) of the
# counter xor the key's low word, plus its high word.  The top 12 bits pick one of 4096
# equal-probability cells of the standard normal, the low 20 bits place the draw linearly inside
# the cell (a 4097-entry table of the inverse CDF).  32-bit arithmetic vectorises on CPUs
# (64-bit multiplies do not on AVX2); counters are taken modulo 2**32.  torch has no
# counter-based CPU generator; this one is a few integer operations per draw, so back ends
# evaluate it inline.
# ---------------------------------------------------------------------------------------------
CELLS = 4096
H1 = 0x7FEB352D
H2 = 0x846CA68B
_M32 = 0xFFFFFFFF
_U64 = (1 << 64) - 1


def _mix_int(z: int) -> int:
    """splitmix64 finaliser (Steele, Lea & Flood, OOPSLA 2014): derives bound-management keys."""
    z &= _U64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _U64
    return z ^ (z >> 31)


def subkey(key: int, attempt: int) -> int:
    """Key of bound-management attempt ``attempt`` (0: ``key`` itself), a 64-bit unsigned int."""
    return key & _U64 if attempt == 0 else _mix_int(key + attempt * 0x9E3779B97F4A7C15)


def _lowbias32(x: torch.Tensor) -> torch.Tensor:
    """The lowbias32 hash on int64 tensors holding 32-bit unsigned values."""
    x = x ^ (x >> 16)
    x = (x * H1) & _M32
    x = x ^ (x >> 15)
    x = (x * H2) & _M32
    return x ^ (x >> 16)


def counter_bits(key: int, index: torch.Tensor) -> torch.Tensor:
    """32 random bits (int64 tensor) per counter of ``index`` under ``key``."""
    x = _lowbias32((index & _M32) ^ (key & _M32))
    return _lowbias32((x + ((key >> 32) & _M32)) & _M32)


_TABLES: dict[Any, tuple[torch.Tensor, torch.Tensor]] = {}


def noise_tables(dtype: torch.dtype, device: Any = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``(T, D)``: the 4097 cell edges of the inverse normal CDF and their differences.

    Inner edges ``T[k] = Phi^-1(k / 4096)``; the two outer edges are set so that the end cells
    have the normal's conditional mean; then the table is rescaled to unit variance (of the
    piecewise-uniform density it defines). Mean 0 by symmetry, tails cut at about ±4.0.
    """
    key = (dtype, str(device))
    tab = _TABLES.get(key)
    if tab is None:
        p = torch.arange(CELLS + 1, dtype=torch.float64) / CELLS
        t = torch.special.ndtri(p)
        a = float(t[1])
        tail_mean = -math.exp(-0.5 * a * a) / math.sqrt(2 * math.pi) * CELLS  # E[Z | Z < a]
        t[0] = 2 * tail_mean - a
        t[-1] = -t[0]
        lo, hi = t[:-1], t[1:]
        var = ((lo * lo + lo * hi + hi * hi) / 3).mean()
        t = (t / var.sqrt()).to(dtype=dtype, device=device)
        tab = (t.contiguous(), (t[1:] - t[:-1]).contiguous())
        _TABLES[key] = tab
    return tab


def counter_normal(key: int, index: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard-normal draws of the counters ``index`` (int64 tensor) under ``key``."""
    x = counter_bits(key, index)
    frac = (x & 0xFFFFF).to(dtype) * 2.0**-20
    t, d = noise_tables(dtype, index.device)
    cell = x >> 20
    return t[cell] + frac * d[cell]


def add_counter_normal(
    y: torch.Tensor, std: Any, keys: Any, *, out: torch.Tensor | None = None, backend: str | None = None
) -> torch.Tensor:
    """Noisy copies of ``y``, one per key: ``out[:, k] = y[:, k or 0] + std[k] * z_k``.

    ``z_k`` are the :func:`counter_normal` draws of key ``keys[k]`` at the counters ``r * M + j``
    of ``(R, M)`` (so a copy's noise does not depend on the other copies). This is the output
    noise of ``K`` reads that share one MVM, e.g. the points of a read-noise sweep.

    Parameters
    ----------
    y : Tensor, (R, 1 or K, M)
        Noise-free values (float32 or float64).
    std : sequence of float or Tensor, (K,)
        Noise standard deviation per copy (in ``y``'s units; 0 copies ``y``).
    keys : sequence of int, (K,)
        Noise key per copy (64-bit unsigned ints).
    out : Tensor (R, K, M), optional
        Where to write the result (any strides; must not overlap ``y``); a new tensor if None.
    backend : str, optional
        A back end with an ``add_counter_normal`` method, ``"reference"`` (plain torch) or
        ``"auto"``; None: the :func:`use_backend` choice. ``"auto"`` takes the last registered
        back end that can do it, else the reference. All give the same numbers.

    Returns
    -------
    Tensor, (R, K, M): ``out``.
    """
    keys = [int(k) for k in keys]
    K = len(keys)
    std_t = torch.as_tensor(std, dtype=y.dtype if isinstance(y, torch.Tensor) and y.is_floating_point() else None)
    if not isinstance(y, torch.Tensor) or not y.is_floating_point() or y.dim() != 3 or y.shape[1] not in (1, K):
        raise ValueError(
            f"y: expected a floating tensor (R, 1 or K={K}, M), got {getattr(y, 'shape', type(y).__name__)}"
        )
    if tuple(std_t.shape) != (K,) or not bool(torch.isfinite(std_t).all()) or bool((std_t < 0).any()):
        raise ValueError(f"std: expected {K} finite values >= 0, got {std!r}")
    if any(not 0 <= k <= _U64 for k in keys):
        raise ValueError("keys: each must be an int in [0, 2**64)")
    R, _, M = y.shape
    if out is None:
        out = empty_torch((R, K, M), y.dtype, y.device)
    elif tuple(out.shape) != (R, K, M) or out.dtype != y.dtype or out.device != y.device:
        raise ValueError(
            f"out: expected {(R, K, M)} {y.dtype} on {y.device}, got {tuple(out.shape)} {out.dtype} on {out.device}"
        )
    _load()
    name = _CHOICE.get() if backend is None else backend
    if name != "reference":
        able = [b for b in reversed(list(_BACKENDS.values())) if hasattr(b, "add_counter_normal")]
        if name != "auto":
            able = [b for b in able if b.name == name]
            if not able:
                raise ValueError(f"backend={name!r}: unknown or without add_counter_normal")
            why = able[0].unsupported_noise(y, out)
            if why is not None:
                raise ValueError(f"backend={name!r} cannot do add_counter_normal: {why}")
        for b in able:
            if b.unsupported_noise(y, out) is None:
                return b.add_counter_normal(y, std_t, keys, out)
    idx = torch.arange(R * M, device=y.device).view(R, M)
    for k, key in enumerate(keys):
        src = y[:, k if y.shape[1] > 1 else 0]
        out[:, k] = src + std_t[k] * counter_normal(key, idx, y.dtype) if float(std_t[k]) > 0 else src
    return out


def read_out_points(
    y: torch.Tensor,
    scale: torch.Tensor,
    std: Any,
    keys: Any,
    adcs: Any,
    *,
    bias: torch.Tensor | None = None,
    relu: bool = False,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """The read-out of ``K`` points that share one analog read: per point its own output noise
    and ADC, then the digital rescale, the bias and an optional ReLU.

    ``out[:, k] = act(adc_k(y[:, k or 0] + std[k] z_k) * scale[:, k or 0] + bias)``, where
    ``z_k`` are the :func:`add_counter_normal` draws of ``keys[k]`` (a point's noise does not
    depend on the other points) and ``adc_k`` is the quantiser of :func:`physnn.crossbar.adc`
    with the point's :class:`~physnn.crossbar.ADC` (saturate at ``+-y_max``, round to
    ``2**bits - 1`` levels; None: no ADC). This is what a layer whose config holds output noise
    and an ADC does after its MVM, batched over points that differ only in those settings (e.g.
    the points of a read-noise x ADC-resolution sweep, :mod:`physnn.sweep.tasks`). Every step
    acts per element, in place on blocks of ``out``: the numbers do not depend on ``K``.

    Parameters
    ----------
    y : Tensor, (R, 1 or K, B, n)
        Analog outputs in the units the noise and the ADC act on (the output divided by
        ``scale``), float32 or float64.
    scale : Tensor, (R or 1, 1 or K, B or 1, 1)
        Output units per unit of ``y`` (e.g. drift compensation x input scale x output unit).
    std : sequence of float, (K,)
        Output noise standard deviation per point, in the units of ``y`` (>= 0).
    keys : sequence of int, (K,)
        Noise key per point (64-bit unsigned ints).
    adcs : sequence of ADC or None, (K,)
        The ADC of each point (None: no ADC).
    bias : Tensor, (n,), optional
        Added after the rescale.
    relu : bool
        Apply ``max(0, .)`` last.
    out : Tensor (R, K, B, n), optional
        Where to write the result (contiguous, ``y``'s dtype and device, not overlapping ``y``);
        a new tensor if None.

    Returns
    -------
    Tensor, (R, K, B, n): ``out`` (no gradient).

    Examples
    --------
    Two points of one read, without noise: 2-bit ADC (levels -1, 0, 1) and no ADC.

    >>> import torch
    >>> from physnn.crossbar import ADC
    >>> y = torch.tensor([-2.0, -0.6, 0.3, 0.8]).view(1, 1, 1, 4)
    >>> read_out_points(y, torch.ones(1, 1, 1, 1), [0.0, 0.0], [1, 2], [ADC(2, 1.0), None]).flatten(1)
    tensor([[-1.0000, -1.0000,  0.0000,  1.0000, -2.0000, -0.6000,  0.3000,  0.8000]])
    """
    from ._common import symmetric_quantize
    from .adc import ADC

    keys = [int(k) for k in keys]
    adcs = list(adcs)
    K = len(keys)
    if not isinstance(y, torch.Tensor) or not y.is_floating_point() or y.dim() != 4 or y.shape[1] not in (1, K):
        raise ValueError(
            f"y: expected a floating tensor (R, 1 or K={K}, B, n), got {getattr(y, 'shape', type(y).__name__)}"
        )
    if len(adcs) != K or not all(a is None or isinstance(a, ADC) for a in adcs):
        raise ValueError(f"adcs: expected {K} ADC configs or None, got {adcs!r}")
    R, _, B, n = y.shape
    scale = torch.as_tensor(scale, dtype=y.dtype, device=y.device)
    if scale.dim() != 4 or scale.shape[1] not in (1, K) or scale.shape[-1] != 1:
        raise ValueError(f"scale: expected a tensor broadcastable to (R, 1 or K={K}, B, 1), got {tuple(scale.shape)}")
    if out is None:
        out = empty_torch((R, K, B, n), y.dtype, y.device)  # every element written below
    elif tuple(out.shape) != (R, K, B, n) or out.dtype != y.dtype or out.device != y.device or not out.is_contiguous():
        raise ValueError(
            f"out: expected a contiguous {(R, K, B, n)} {y.dtype} tensor on {y.device}, got "
            f"{tuple(out.shape)} {out.dtype} on {out.device}"
        )
    std = list(std)
    with torch.no_grad():
        # blocks of points (~2**21 numbers, cache-resident); within a block, one quantiser pass per
        # run of points with equal ADC settings
        kb = max(1, (1 << 21) // max(1, R * B * n))
        for a in range(0, K, kb):
            b = min(K, a + kb)
            zb = out[:, a:b]
            yb = y if y.shape[1] == 1 else y[:, a:b]
            add_counter_normal(yb.reshape(R, yb.shape[1], B * n), std[a:b], keys[a:b], out=zb.view(R, b - a, B * n))
            i = a
            while i < b:
                j = i + 1
                while j < b and adcs[j] == adcs[i]:
                    j += 1
                zr = out[:, i:j]
                sr = scale if scale.shape[1] == 1 else scale[:, i:j]
                if adcs[i] is not None:
                    symmetric_quantize(zr, adcs[i].bits, adcs[i].y_max, out=zr, gain=sr)
                else:
                    zr.mul_(sr)
                i = j
            if bias is not None:
                zb.add_(bias)
            if relu:
                zb.relu_()
    return out


# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class ReadSpec:
    """Everything one read needs (a programmed array at one time, its periphery, a noise key).

    Parameters
    ----------
    weight : Tensor, (out, in) or (E, out, in)
        Programmed weights in output-code units per input code (``acc = codes @ weight.T``).
    scale : Tensor, () or (E,)
        Output units per output code (per tile), e.g. ``w_max * alpha * adc_step``.
    bias : Tensor (out,), optional
        Digital bias added after the ADC.
    in_step : float
        Input units per DAC code (1 without a DAC).
    in_levels : float, optional
        Largest DAC code ``L = 2**(bits-1) - 1``; None: no DAC (no rounding, no clamp).
    abs_max : bool
        Per-vector input scaling by its largest ``|x|``.
    iv : SinhIV, optional
        Nonlinear device law; with ``v_read`` (V) and ``x_ref`` (input units at ``v_read``).
    noise_std : float
        Output noise std in output codes.
    adc_levels : float, optional
        Largest ADC code ``M``; None: no ADC.
    bound_management : bool
        Repeat a saturating tile's read with halved inputs (see the module doc).
    max_reduction : float
        Largest input reduction of bound management.
    key : int
        Counter-based noise key (64-bit unsigned).
    ir : callable, optional
        Replaces the MVM by a circuit solve: ``ir(codes, per_member) -> acc`` (see ``AnalogLinear``).
    """

    weight: torch.Tensor
    scale: torch.Tensor
    bias: torch.Tensor | None = None
    in_step: float = 1.0
    in_levels: float | None = None
    abs_max: bool = False
    iv: SinhIV | None = None
    v_read: float = 0.2
    x_ref: float = 1.0
    noise_std: float = 0.0
    adc_levels: float | None = None
    bound_management: bool = False
    max_reduction: float = 1000.0
    key: int = 0
    ir: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor] | None = None

    def __post_init__(self) -> None:
        w = self.weight
        if not isinstance(w, torch.Tensor) or not w.is_floating_point() or w.dim() not in (2, 3):
            raise ValueError(
                f"weight: expected a floating tensor (out, in) or (E, out, in), got "
                f"{getattr(w, 'shape', type(w).__name__)}"
            )
        want = () if w.dim() == 2 else (w.shape[0],)
        for name in ("scale", "bias"):
            v = getattr(self, name)
            if v is None and name == "bias":
                continue
            if not isinstance(v, torch.Tensor):
                raise ValueError(f"{name}: expected a tensor, got {type(v).__name__}")
            shape = want if name == "scale" else (w.shape[-2],)
            if tuple(v.shape) != shape:
                raise ValueError(f"{name}: expected shape {shape}, got {tuple(v.shape)}")
            if v.dtype != w.dtype:
                raise ValueError(f"{name}: dtype {v.dtype} differs from weight's {w.dtype}")
            if v.device != w.device:
                raise ValueError(f"{name}: device {v.device} differs from weight's {w.device}")
        if not (self.in_step > 0 and math.isfinite(self.in_step)):
            raise ValueError(f"in_step={self.in_step!r}: must be finite and > 0")
        for name in ("in_levels", "adc_levels"):
            v = getattr(self, name)
            if v is not None and not v >= 1:
                raise ValueError(f"{name}={v!r}: must be >= 1 or None")
        if not (self.noise_std >= 0 and math.isfinite(self.noise_std)):
            raise ValueError(f"noise_std={self.noise_std!r}: must be finite and >= 0")
        if self.bound_management and self.adc_levels is None:
            raise ValueError("bound_management: needs adc_levels (it reacts to ADC saturation)")
        if not isinstance(self.key, int) or not 0 <= self.key <= _U64:
            raise ValueError(f"key={self.key!r}: must be an int in [0, 2**64)")
        object.__setattr__(self, "memo", {})

    # ``memo``: what back ends derive from a spec once (their kernels, numpy views of its tensors),
    # shared by the copies :meth:`with_key` makes, since only the key differs between them; never
    # part of what a read computes. Not pickled.
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "memo"}

    def __setstate__(self, state: dict) -> None:
        object.__setattr__(self, "__dict__", {**state, "memo": {}})

    @property
    def ensemble(self) -> int | None:
        """Number of tiles E, or None (one tile, no ensemble dimension)."""
        return self.weight.shape[0] if self.weight.dim() == 3 else None

    @property
    def in_features(self) -> int:
        return self.weight.shape[-1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[-2]

    def with_key(self, key: int) -> "ReadSpec":
        """The same spec with another noise key (cheap: no re-validation of the tensors; it shares
        the back ends' ``memo``)."""
        if not isinstance(key, int) or not 0 <= key <= _U64:
            raise ValueError(f"key={key!r}: must be an int in [0, 2**64)")
        d = self.__dict__.copy()  # a field-for-field copy (copy.copy is 5x slower)
        d["key"] = key
        new = object.__new__(ReadSpec)
        object.__setattr__(new, "__dict__", d)
        return new

    def layout(self, x: torch.Tensor, per_member: bool) -> tuple[torch.Tensor, tuple[int, ...]]:
        """Check ``x`` against the spec; return the 2-D (shared) or 3-D (per-member) view and the
        output shape. ``ValueError`` naming the field that disagrees."""
        w = self.weight
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise ValueError(f"x: expected a floating tensor, got {getattr(x, 'dtype', type(x).__name__)}")
        if x.dtype != w.dtype:
            raise ValueError(f"x: dtype {x.dtype} differs from the spec's weight dtype {w.dtype}")
        if not (x.is_cpu and w.is_cpu) and x.device != w.device:
            raise ValueError(f"x: device {x.device} differs from the spec's weight device {w.device}")
        xs, ws = x.shape, w.shape
        nd = len(xs)
        if nd == 0 or xs[-1] != ws[-1]:
            raise ValueError(f"x: last dimension must be weight's in_features={ws[-1]}, got shape {tuple(xs)}")
        out = ws[-2]
        E = ws[0] if len(ws) == 3 else None
        if per_member:
            if E is None or nd < 2 or xs[0] != E:
                raise ValueError(f"x: a per-member input needs leading dimension ensemble={E}, got {tuple(xs)}")
            return (x if nd == 3 else x.reshape(E, -1, xs[-1])), (*xs[:-1], out)
        return (x if nd == 2 else x.reshape(-1, xs[-1])), ((*xs[:-1], out) if E is None else (E, *xs[:-1], out))


# ---------------------------------------------------------------------------------------------
# The reference (plain, differentiable torch)
# ---------------------------------------------------------------------------------------------
def _round(x: torch.Tensor) -> torch.Tensor:
    """``round`` (half to even); straight-through gradient when ``x`` carries one."""
    r = torch.round(x)
    return x + (r - x).detach() if x.requires_grad else r


def input_scale(spec: ReadSpec, x: torch.Tensor) -> torch.Tensor | None:
    """Per-vector input scale ``(..., M, 1)`` with abs-max scaling, else None (an all-zero vector
    gets a tiny scale: its codes stay 0)."""
    if not spec.abs_max:
        return None
    return x.detach().abs().amax(-1, keepdim=True).clamp(min=1e-30)


def input_codes(spec: ReadSpec, x: torch.Tensor, s: torch.Tensor | None, step: Any) -> torch.Tensor:
    """DAC codes of ``x`` (``(M, in)`` or ``(k, M, in)``); ``step`` = ``in_step * red`` (float or a
    tensor broadcasting over ``x``)."""
    c = x / (step if s is None else s * step)
    if spec.in_levels is not None:
        c = _round(torch.clamp(c, -spec.in_levels, spec.in_levels))
    if spec.iv is not None:
        v = c * (spec.in_step * spec.v_read / spec.x_ref)
        i = device_current(torch.ones((), dtype=c.dtype, device=c.device), v, spec.iv, check=False)
        c = i * (spec.x_ref / (spec.v_read * spec.in_step))
    return c


def mvm(
    spec: ReadSpec, codes: torch.Tensor, members: torch.Tensor | None, *, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Accumulated output codes of the tiles ``members`` (None: all). ``codes``: ``(M, in)`` shared
    or ``(k, M, in)``; result ``(M, out)`` without an ensemble, else ``(k, M, out)``, written into
    ``out`` when given (a contiguous tensor of that shape; the same numbers either way)."""
    if spec.ir is not None:
        acc = spec.ir(codes, members)
        return acc if out is None else out.copy_(acc)
    w = spec.weight
    if w.dim() == 2:
        return torch.mm(codes, w.t(), out=out)
    if members is not None:
        w = w.index_select(0, members)
    if codes.dim() == 2:
        codes = codes.expand(w.shape[0], *codes.shape)
    return torch.bmm(codes, w.transpose(1, 2), out=out)


def output_scale(spec: ReadSpec, red: torch.Tensor, members: torch.Tensor | None) -> torch.Tensor:
    """``scale_e * red_e`` of the tiles read (0-dim without an ensemble, else ``(k,)``)."""
    sc = spec.scale if members is None or spec.scale.dim() == 0 else spec.scale.index_select(0, members)
    return sc * red


def finish(
    spec: ReadSpec,
    acc: torch.Tensor,
    s: torch.Tensor | None,
    post: torch.Tensor,
    key: int,
    members: torch.Tensor | None,
    rows: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Noise, ADC, scale and bias of the accumulated codes ``acc`` of the tiles ``members``.

    Returns the output and, with an ADC, per tile whether any code exceeded ``adc_levels``.
    """
    y = acc
    out = acc.shape[-1]
    if spec.noise_std > 0:
        # counter of output (e, r, o): its flat index in the (M, E, out) layout, so a row's noise
        # does not depend on how many rows are read with it
        n_e = spec.ensemble or 1
        r = torch.arange(rows, device=y.device).view(rows, 1) * n_e
        o = torch.arange(out, device=y.device)
        if y.dim() == 2:
            idx = r * out + o
        else:
            e = members if members is not None else torch.arange(y.shape[0], device=y.device)
            idx = (r.unsqueeze(0) + e.view(-1, 1, 1)) * out + o
        y = y + spec.noise_std * counter_normal(key, idx, y.dtype)
    sat = None
    if spec.adc_levels is not None:
        y = _round(y)
        sat = (y.detach().abs() > spec.adc_levels).flatten(-2).any(-1)
        y = torch.clamp(y, -spec.adc_levels, spec.adc_levels)
    c = post if y.dim() == 2 else post.view(-1, 1, 1)
    if s is not None:
        c = s * c
    y = y * c
    return (y if spec.bias is None else y + spec.bias), sat


def reference_read(spec: ReadSpec, x: torch.Tensor, *, per_member: bool = False) -> torch.Tensor:
    """The definition of a read (plain torch; gradients reach ``x``, ``weight``, ``scale`` and
    ``bias`` through straight-through rounding).

    Parameters
    ----------
    spec : ReadSpec
    x : Tensor
        ``(..., in)`` shared by all tiles, or with ``per_member`` ``(E, ..., in)``.

    Returns
    -------
    Tensor ``(..., out)``, or ``(E, ..., out)`` with an ensemble.
    """
    return read_with(finish, spec, x, per_member)


def dac_inputs(spec: ReadSpec, x2: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The DAC of a read: ``(input scale or None, input codes)`` of the rows ``x2`` (``(n, in)``),
    as :func:`reference_read` applies it (:func:`input_scale`, then :func:`input_codes`)."""
    s = input_scale(spec, x2)
    return s, input_codes(spec, x2, s, spec.in_step)


def read_with(
    fin: Callable,
    spec: ReadSpec,
    x: torch.Tensor,
    per_member: bool,
    dac: Callable = dac_inputs,
    empty: Callable | None = None,
) -> torch.Tensor:
    """The read of :func:`reference_read`: the skeleton back ends share.

    ``fin`` does the per-element work after the MVM (same signature and result as
    :func:`finish`; its saturation flags may be a numpy bool array, or None when no tile
    saturated); ``dac(spec, x2) -> (scale, codes)`` is the first DAC pass (same result as
    :func:`input_scale` and :func:`input_codes`; the scale may be a numpy array, which goes to
    ``fin`` as it is); ``empty(shape, dtype)`` gives the tensor the first MVM writes into (None:
    torch allocates it)."""
    x2, shape = spec.layout(x, per_member)
    E = spec.ensemble
    rows = x2.shape[-2]
    s, codes = dac(spec, x2)
    # first attempt: no input reduction, so output_scale(spec, 1, None) is the scale itself
    out = None
    if empty is not None:
        out = empty((rows, spec.out_features) if E is None else (E, rows, spec.out_features), x2.dtype)
    y, sat = fin(spec, mvm(spec, codes, None, out=out), s, spec.scale, spec.key, None, rows)
    return bound_manage(fin, spec, x2, s, y, sat, shape)


def bound_manage(
    fin: Callable, spec: ReadSpec, x2: torch.Tensor, s: Any, y: torch.Tensor, sat: Any, shape: tuple[int, ...]
) -> torch.Tensor:
    """The read's result from its first attempt ``(y, sat)`` (``fin``'s output for the input
    layout ``x2`` and DAC scale ``s``): the tiles that saturated are read again with halved inputs
    (see the module doc), then the output takes the read's ``shape``."""
    E = spec.ensemble
    rows = x2.shape[-2]
    if spec.bound_management and rows and sat is not None and bool(sat.any()):
        s = None if s is None else torch.as_tensor(s)
        red = [1.0] * (1 if E is None else E)
        parts = list(y.unbind(0)) if E is not None else [y]
        sat = torch.as_tensor(sat).reshape(-1).clone()
        for attempt in range(1, 64):
            redo = [e for e, p in enumerate(sat.tolist()) if p and red[e] <= spec.max_reduction]
            if not redo:
                break
            for e in redo:
                red[e] *= 2.0
            y2, sat2 = _reread(fin, spec, x2, s, red, redo, subkey(spec.key, attempt), rows)
            for j, e in enumerate(redo):
                parts[e] = y2[j] if E is not None else y2
                sat[e] = sat2 is not None and bool(sat2.reshape(-1)[j])
        y = torch.stack(parts) if E is not None else parts[0]
    return y if y.shape == shape else y.reshape(shape)


def _reread(
    fin: Callable,
    spec: ReadSpec,
    x2: torch.Tensor,
    s: torch.Tensor | None,
    red: list[float],
    redo: list[int],
    key: int,
    rows: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A bound-management repeat of the tiles ``redo`` at their reductions (shared by back ends)."""
    dt, dev = x2.dtype, x2.device
    if spec.ensemble is None:
        r = torch.tensor(red[0], dtype=dt, device=dev)
        acc = mvm(spec, input_codes(spec, x2, s, spec.in_step * red[0]), None)
        return fin(spec, acc, s, output_scale(spec, r, None), key, None, rows)
    m = torch.tensor(redo, dtype=torch.int64, device=dev)
    r = torch.tensor([red[e] for e in redo], dtype=dt, device=dev)
    xs = x2 if x2.dim() == 2 else x2.index_select(0, m)
    ss = s if s is None or s.dim() == 2 else s.index_select(0, m)
    codes = input_codes(
        spec, xs, ss, torch.tensor([spec.in_step * red[e] for e in redo], dtype=dt, device=dev).view(-1, 1, 1)
    )
    return fin(spec, mvm(spec, codes, m), ss, output_scale(spec, r, m), key, m, rows)


# ---------------------------------------------------------------------------------------------
# Back-end choice
# ---------------------------------------------------------------------------------------------
_BACKENDS: dict[str, Any] = {}
_CHOICE: contextvars.ContextVar[str] = contextvars.ContextVar("physnn_crossbar_backend", default="auto")


class _Reference:
    name = "reference"

    def unsupported(self, spec: ReadSpec, x: torch.Tensor, per_member: bool) -> str | None:
        return None

    def __call__(self, spec: ReadSpec, x: torch.Tensor, per_member: bool) -> torch.Tensor:
        return reference_read(spec, x, per_member=per_member)


def register_backend(backend: Any) -> Any:
    """Add a back end: an object with ``name``, ``unsupported(spec, x, per_member) -> str | None``
    (why it cannot do this read, or None) and ``__call__(spec, x, per_member) -> Tensor``;
    optionally ``run(spec, x, per_member)``, the same read without checking ``unsupported`` again
    (:func:`read` calls it after its own check). Back ends registered later are preferred by
    ``"auto"``."""
    for attr in ("name", "unsupported", "__call__"):
        if not hasattr(backend, attr):
            raise TypeError(f"backend: missing {attr!r}")
    _BACKENDS[backend.name] = backend
    return backend


def backends() -> list[str]:
    """Names of the registered back ends (``"reference"`` first)."""
    _load()
    return list(_BACKENDS)


register_backend(_Reference())
_LOADED: list[bool] = []


def _load() -> None:
    if not _LOADED:
        _LOADED.append(True)
        from . import backends as _b  # noqa: F401  (registers the fast back ends)


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Within the block, reads without an explicit ``backend=`` use back end ``name``."""
    _load()
    if name != "auto" and name not in _BACKENDS:
        raise ValueError(f"backend={name!r}: unknown; registered: {['auto', *_BACKENDS]}")
    tok = _CHOICE.set(name)
    try:
        yield
    finally:
        _CHOICE.reset(tok)


def current_backend() -> str:
    """The back end chosen by the innermost :func:`use_backend` block (``"auto"`` outside)."""
    return _CHOICE.get()


def read(spec: ReadSpec, x: torch.Tensor, *, per_member: bool = False, backend: str | None = None) -> torch.Tensor:
    """One read through a back end (see the module doc); same arguments as :func:`reference_read`.

    ``backend``: a registered name, ``"auto"`` or None (the :func:`use_backend` choice, default
    ``"auto"``). A named back end that cannot do this read raises ``ValueError`` saying why;
    ``"auto"`` then falls back to the reference.
    """
    _load()
    name = _CHOICE.get() if backend is None else backend
    if name == "auto":
        for b in reversed(list(_BACKENDS.values())):
            if b.unsupported(spec, x, per_member) is None:
                return getattr(b, "run", b)(spec, x, per_member)
        return reference_read(spec, x, per_member=per_member)
    b = _BACKENDS.get(name)
    if b is None:
        raise ValueError(f"backend={name!r}: unknown; registered: {['auto', *_BACKENDS]}")
    why = b.unsupported(spec, x, per_member)
    if why is not None:
        raise ValueError(f"backend={name!r} cannot do this read: {why}")
    return getattr(b, "run", b)(spec, x, per_member)
