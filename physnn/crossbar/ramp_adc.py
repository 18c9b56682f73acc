"""Ramp ADC whose ramp is programmed into a memristor column, so that its count is ``f(x)``.

Physics (seed paper: Yang, Mao, … Li, Basu, "Efficient nonlinear function approximation in
analog resistive crossbars for recurrent neural networks", arXiv:2411.18271, Nat. Commun. 2025:
32 conductances give a 5-bit ramp, a few extra devices calibrate the bias):

* A ramp ADC compares the column's integrated signal with a staircase ramp and counts the clock
  cycles until the ramp reaches the signal; the count is the output code.
* Here the staircase is built by reading one device of an extra memristor column per cycle into
  the same integrator: after cycle ``k`` the ramp voltage is
  ``V_ramp(k) = kappa * V_read * (s_b G_bias + sum_{j<=k} (G_j - g_min))`` (``kappa``: integrator
  gain, ``g_min`` is removed by the reference device exactly as in a reference-column mapping,
  ``G_bias`` is realised by calibration devices of polarity ``s_b``). The signal of a column with
  pre-activation ``x`` is ``V_sig = kappa * V_read * G_unit * x``. Both scale with the same
  ``V_read`` (same array, same read pulse): the comparison, hence the code, does not depend on
  ``V_read`` (:meth:`RampADCActivation.convert` takes ``ramp_v_read`` to show what an untracked
  ramp would do).
* Equal steps give a uniform ADC. Unequal steps put threshold ``k`` (k = 1 … 2^N - 1) where the
  target crosses the mid-point between output levels ``k-1`` and ``k``: ``t_k = f^{-1}(y_0 +
  (k - 1/2) LSB)``. The count is then ``round((f(x) - y_0)/LSB)``: the ADC's output **is** the
  quantised ``f(x)`` with at most 1/2 LSB error for ideal programming, for any monotone ``f``.
* The step conductances ``G_j = G_unit (t_{j+1} - t_j)`` (``t_0 = lo``, the ramp start made by the
  bias) are non-negative because the thresholds are sorted. ``G_unit`` (S per unit of input) is
  chosen so the largest step uses one whole device (``g_max - g_min``) and the bias fits into the
  calibration devices; a user-given larger ``G_unit`` spreads a step over several devices.
* The programmed devices pass through the card's device effects (programming noise, stuck-at
  faults, read noise per conversion). Calibration devices not needed for the bias are spares:
  a step device found stuck (stuck-at-OFF or stuck-at-ON, by the verify read after programming)
  is deselected (1T1R access transistor off) and a spare is programmed to its conductance and
  read in the same cycle.

Differentiability: the forward value is the quantised level; the backward pass is the
straight-through estimator ``dy/dx = f'(x)`` (autograd through the target ``f``), which is the
derivative of the function the ADC approximates (documented surrogate).

Examples
--------
>>> import torch
>>> from physnn.crossbar.ramp_adc import RampADC, RampADCActivation
>>> act = RampADCActivation(RampADC(function=torch.tanh, bits=5, x_range=(-3.0, 3.0)))
>>> out = act.convert(torch.tensor([-5.0, 0.0, 0.3, 5.0]))
>>> out.code.tolist()
[0, 15, 20, 31]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn

from .._checks import check_int_range, check_interval, check_positive

__all__ = [
    "RampDevices",
    "RampADC",
    "RampDesign",
    "ProgrammedRamp",
    "RampOutput",
    "solve_ramp",
    "program_ramp",
    "ramp_thresholds",
    "ramp_convert",
    "ThresholdLookup",
    "RampADCActivation",
    "ramp_error",
    "uniform_adc_lut",
    "uniform_adc_lut_error",
]

_GRID = 8193  # points of the dense grid used for the monotonicity check


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class RampDevices:
    """The memristor column that makes the ramp: conductance window and device effects.

    Parameters
    ----------
    g_min, g_max : float
        Programmable conductance window of one device, S. ``g_min`` is the reference level
        (a device at ``g_min`` adds nothing to the ramp).
    v_read : float
        Nominal read voltage, V (shared by the ramp column and the signal columns).
    n_calibration : int
        Calibration devices on the column (the paper uses a few): they realise the ramp's bias
        (offset) and the unused ones are spares that replace stuck step devices.
    programming_noise, read_noise, faults : optional
        Configs of :mod:`physnn.crossbar.programming_noise` (``ProgrammingNoise``),
        :mod:`physnn.crossbar.read_noise` (``ReadNoise``) and :mod:`physnn.crossbar.faults`
        (``StuckAtFaults``); ``None`` switches the effect off.
    calibrate_bias : bool
        After programming, a verify read of the ramp measures the thresholds' common offset
        (least squares, weighted by the inverse local threshold spacing, i.e. in output LSB)
        and the bias devices are re-programmed to remove it (their own programming noise is
        drawn again). This is the bias calibration of the paper's extra devices.
    """

    g_min: float = 0.0
    g_max: float = 25e-6
    v_read: float = 0.2
    n_calibration: int = 5
    programming_noise: Any = None
    read_noise: Any = None
    faults: Any = None
    calibrate_bias: bool = True

    def __post_init__(self) -> None:
        check_positive(self.g_min, "g_min", allow_zero=True)
        check_positive(self.g_max, "g_max")
        if self.g_min >= self.g_max:
            raise ValueError(f"g_min={self.g_min!r} S must be < g_max={self.g_max!r} S")
        check_positive(self.v_read, "v_read")
        check_int_range(self.n_calibration, "n_calibration", 0)

    @classmethod
    def from_card(
        cls, card: Any, *, programming_noise: bool = True, read_noise: bool = True, faults: bool = True, **over: Any
    ) -> "RampDevices":
        """Devices of a card (``physnn.cards.load_card`` name, path or card).

        The effect sections present on the card are switched on unless the matching flag is
        False; ``over`` overrides any field.
        """
        from ..cards import load_card

        card = load_card(card)
        kw: dict[str, Any] = dict(
            g_min=float(card["conductance"]["g_min"]),
            g_max=float(card["conductance"]["g_max"]),
            v_read=float(card.get_value("conductance", "v_read", 0.2)),
        )
        if programming_noise and "programming_noise" in card:
            from .programming_noise import ProgrammingNoise

            kw["programming_noise"] = ProgrammingNoise.from_card(card)
        if read_noise and "read_noise" in card:
            from .read_noise import ReadNoise

            kw["read_noise"] = ReadNoise.from_card(card)
        if faults and "faults" in card:
            from .faults import StuckAtFaults

            kw["faults"] = StuckAtFaults.from_card(card)
        kw.update(over)
        return cls(**kw)


@dataclass(frozen=True, kw_only=True)
class RampADC:
    """An N-bit ramp ADC whose count approximates the monotone function ``function``.

    Parameters
    ----------
    function : callable
        Monotone (non-decreasing or non-increasing) torch function of a tensor, e.g.
        ``torch.tanh``, ``torch.sigmoid``, ``torch.nn.functional.softplus``,
        ``torch.nn.functional.hardsigmoid``, ``torch.nn.functional.gelu`` on ``x >= -0.75``.
    bits : int
        Resolution N (1 … 12): ``2**N`` output codes, ``2**N - 1`` ramp steps.
    x_range : (float, float)
        Input range ``(lo, hi)`` (units of the pre-activation) covered by the ramp; inputs outside
        it saturate to the first / last code.
    y_range : (float, float), optional
        Output full scale ``(f at code 0, f at code 2**N-1)``; default ``(f(lo), f(hi))``.
    devices : RampDevices
        The column's conductance window and device effects.
    column_devices : int, optional
        Devices available in the column (default ``2**bits + n_calibration``). The ramp needs one
        device per step (more when a step exceeds ``g_max - g_min``) plus the calibration devices.
    g_unit : float, optional
        Conductance per unit of input, S (the gain that matches ramp and signal). Default: the
        largest step uses one whole device and the bias fits into the calibration devices.
    """

    function: Callable[[torch.Tensor], torch.Tensor] = torch.tanh
    bits: int = 5
    x_range: tuple[float, float] = (-3.0, 3.0)
    y_range: tuple[float, float] | None = None
    devices: RampDevices = field(default_factory=RampDevices)
    column_devices: int | None = None
    g_unit: float | None = None

    def __post_init__(self) -> None:
        if not callable(self.function):
            raise TypeError(f"function: expected a callable, got {type(self.function).__name__}")
        check_int_range(self.bits, "bits", 1, 12)
        lo, hi = check_interval(*_pair(self.x_range, "x_range"), "x_range")
        object.__setattr__(self, "x_range", (lo, hi))
        if self.y_range is not None:
            a, b = (float(v) for v in _pair(self.y_range, "y_range"))
            if not (math.isfinite(a) and math.isfinite(b)) or a == b:
                raise ValueError(f"y_range={self.y_range!r}: need finite, distinct values")
            object.__setattr__(self, "y_range", (a, b))
        if not isinstance(self.devices, RampDevices):
            raise TypeError(f"devices: expected RampDevices, got {type(self.devices).__name__}")
        if self.column_devices is not None:
            check_int_range(self.column_devices, "column_devices", 1)
        if self.g_unit is not None:
            check_positive(self.g_unit, "g_unit")

    @property
    def n_steps(self) -> int:
        """Ramp steps (thresholds): ``2**bits - 1``."""
        return 2**self.bits - 1


def _pair(v: Any, name: str) -> tuple[Any, Any]:
    try:
        a, b = v
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a pair (lo, hi), got {v!r}") from None
    return a, b


# ---------------------------------------------------------------------------------------------
# solver
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RampDesign:
    """Solved ramp: thresholds, output levels and target conductances of every column device.

    Attributes
    ----------
    thresholds : Tensor (M,)
        Ideal comparator thresholds in input units, sorted, ``M = 2**bits - 1``.
    levels : Tensor (M + 1,)
        Output value of each code (units of ``f``).
    lsb : float
        Output step (positive), units of ``f``.
    y0 : float
        ``f`` value of code 0; ``direction`` is +1 (non-decreasing f) or -1.
    g_unit : float
        Conductance per unit of input, S.
    g_target : Tensor (D,)
        Target conductance of each of the ``D`` column devices, S.
    role : Tensor (D,) long
        Step index ``0 … M-1`` of a step device, ``M`` for a bias device, ``M + 1`` for a spare.
    bias_sign : float
        Polarity of the bias (sign of ``lo``).
    """

    thresholds: torch.Tensor
    levels: torch.Tensor
    lsb: float
    y0: float
    direction: float
    x_range: tuple[float, float]
    g_unit: float
    g_min: float
    g_max: float
    g_target: torch.Tensor
    role: torch.Tensor
    bias_sign: float
    n_step_devices: int
    n_bias_devices: int
    n_spares: int

    @property
    def n_steps(self) -> int:
        return int(self.thresholds.numel())


def _eval(f: Callable, x: torch.Tensor, name: str = "function") -> torch.Tensor:
    with torch.no_grad():
        y = f(x)
    if not isinstance(y, torch.Tensor) or y.shape != x.shape:
        raise TypeError(f"{name}: must map a tensor to a tensor of the same shape")
    y = y.to(torch.float64)
    if not bool(torch.isfinite(y).all()):
        raise ValueError(f"{name}: returns non-finite values on x_range")
    return y


def solve_ramp(cfg: RampADC) -> RampDesign:
    """Place the thresholds at ``f^{-1}`` of the level mid-points and size the step devices.

    Raises
    ------
    ValueError
        ``function`` not monotone (or constant) on ``x_range``; ``column_devices`` too small
        for the ramp's steps plus the calibration devices; ``g_unit`` that needs more bias
        devices than ``n_calibration``.
    """
    lo, hi = cfg.x_range
    f = cfg.function
    grid = torch.linspace(lo, hi, _GRID, dtype=torch.float64)
    yg = _eval(f, grid)
    d = torch.diff(yg)
    span = float(yg.abs().max()) or 1.0
    tol = 1e-12 * span
    if bool((d > tol).any()) and bool((d < -tol).any()):
        k = int(torch.nonzero(d < -tol)[0]) if float(yg[-1]) >= float(yg[0]) else int(torch.nonzero(d > tol)[0])
        raise ValueError(
            f"function: not monotone on x_range={cfg.x_range} (changes direction near "
            f"x={float(grid[k]):.4g}); the ramp ADC needs a monotone target"
        )
    direction = 1.0 if float(yg[-1]) >= float(yg[0]) else -1.0
    if cfg.y_range is None:
        y_first, y_last = float(yg[0]), float(yg[-1])
    else:
        y_first, y_last = cfg.y_range
    if (y_last - y_first) * direction <= 0 or abs(float(yg[-1]) - float(yg[0])) <= tol:
        raise ValueError(
            f"function: constant on x_range={cfg.x_range} or y_range={cfg.y_range} runs against its direction"
        )
    m = cfg.n_steps
    lsb = abs(y_last - y_first) / m
    # monotone increasing g(x) = direction * f(x); thresholds t_k = min{x : g(x) >= g0 + (k-1/2) LSB}
    g0 = direction * y_first
    targets = g0 + (torch.arange(1, m + 1, dtype=torch.float64) - 0.5) * lsb
    a = torch.full((m,), lo, dtype=torch.float64)
    b = torch.full((m,), hi, dtype=torch.float64)
    # vectorised bisection (robust for non-strict monotone functions such as hard-sigmoid,
    # where a closed-form or interpolated inverse does not exist)
    for _ in range(64):
        mid = 0.5 * (a + b)
        up = direction * _eval(f, mid) >= targets
        b = torch.where(up, mid, b)
        a = torch.where(up, a, mid)
    thr = b
    thr = torch.where(direction * _eval(f, torch.full_like(thr, lo)) >= targets, torch.full_like(thr, lo), thr)
    thr = torch.cummax(thr, 0).values
    levels = direction * (g0 + torch.arange(m + 1, dtype=torch.float64) * lsb)

    # conductances
    dev = cfg.devices
    span_g = dev.g_max - dev.g_min
    inc = torch.diff(thr, prepend=torch.tensor([lo], dtype=torch.float64))  # >= 0, input units
    inc_max = float(inc.max())
    if inc_max <= 0:
        raise ValueError(f"function: all thresholds coincide on x_range={cfg.x_range}")
    bias = abs(lo)
    if cfg.g_unit is None:
        need = inc_max
        if bias > 0 and dev.n_calibration > 0:
            need = max(need, bias / max(dev.n_calibration - 1, 1))
        g_unit = span_g / need
    else:
        g_unit = float(cfg.g_unit)
    n_per_step = torch.clamp(torch.ceil(g_unit * inc / span_g - 1e-9), min=1).to(torch.long)
    n_bias = int(math.ceil(g_unit * bias / span_g - 1e-9)) if bias > 0 else 0
    if n_bias > dev.n_calibration:
        raise ValueError(
            f"n_calibration={dev.n_calibration}: the ramp bias |lo|={bias:g} needs "
            f"{n_bias} calibration devices at g_unit={g_unit:.4g} S"
        )
    n_step_dev = int(n_per_step.sum())
    column = cfg.column_devices if cfg.column_devices is not None else 2**cfg.bits + dev.n_calibration
    total = n_step_dev + dev.n_calibration
    if total > column:
        raise ValueError(
            f"column_devices={column}: the {m}-step ramp ({cfg.bits} bits) needs {n_step_dev} "
            f"step devices + {dev.n_calibration} calibration devices = {total}"
        )
    role = torch.repeat_interleave(torch.arange(m), n_per_step)
    g_step = dev.g_min + torch.repeat_interleave(g_unit * inc / n_per_step, n_per_step)
    g_bias = torch.full((n_bias,), dev.g_min + (g_unit * bias / n_bias if n_bias else 0.0), dtype=torch.float64)
    n_spare = dev.n_calibration - n_bias
    g_target = torch.cat([g_step, g_bias, torch.full((n_spare,), dev.g_min, dtype=torch.float64)])
    role = torch.cat([role, torch.full((n_bias,), m), torch.full((n_spare,), m + 1)])
    return RampDesign(
        thresholds=thr,
        levels=levels,
        lsb=lsb,
        y0=direction * g0,
        direction=direction,
        x_range=(lo, hi),
        g_unit=g_unit,
        g_min=dev.g_min,
        g_max=dev.g_max,
        g_target=g_target,
        role=role,
        bias_sign=(1.0 if lo >= 0 else -1.0),
        n_step_devices=n_step_dev,
        n_bias_devices=n_bias,
        n_spares=n_spare,
    )


# ---------------------------------------------------------------------------------------------
# programming and reading
# ---------------------------------------------------------------------------------------------
class ProgrammedRamp(NamedTuple):
    """Column after one programming event.

    ``g`` (…, D): programmed conductances (S); ``role`` (…, D): step index / ``M`` bias /
    ``M + 1`` unused, after spares replaced stuck devices; leading dims = ensemble (or none);
    ``stuck_on`` / ``stuck_off``: fault masks (None without faults).
    """

    g: torch.Tensor
    role: torch.Tensor
    stuck_on: torch.Tensor | None = None
    stuck_off: torch.Tensor | None = None


class RampOutput(NamedTuple):
    """Result of a conversion: ``code`` (long), dequantised ``value``, ``cycles`` (= code + 1)."""

    code: torch.Tensor
    value: torch.Tensor
    cycles: torch.Tensor


def program_ramp(
    design: RampDesign, devices: RampDevices, *, ensemble: int | None = None, generator: torch.Generator | None = None
) -> ProgrammedRamp:
    """Program the column: draw faults, swap stuck step devices for spares, add programming noise.

    Parameters
    ----------
    design : RampDesign
        From :func:`solve_ramp`.
    devices : RampDevices
        Device effects (``None`` effects are off).
    ensemble : int, optional
        Number of independent device instances (leading dimension).
    generator : torch.Generator, optional
        Source of randomness.
    """
    d = design.g_target.numel()
    shape = (d,) if ensemble is None else (check_int_range(ensemble, "ensemble", 1), d)
    g_t = design.g_target.expand(shape).clone()
    role = design.role.expand(shape).clone()
    m = design.n_steps
    stuck_on = stuck_off = None
    if devices.faults is not None:
        from .faults import sample_fault_masks

        stuck_on, stuck_off = sample_fault_masks(shape, devices.faults, generator=generator, device=g_t.device)
        # verify read after programming finds the stuck devices; spares take over their step
        # (python loop over ensemble members: programming happens once, the column is short)
        bad = (stuck_on | stuck_off).reshape(-1, d)
        g2, r2 = g_t.reshape(-1, d), role.reshape(-1, d)
        for e in range(bad.shape[0]):
            spares = [i for i in range(d) if int(r2[e, i]) == m + 1 and not bool(bad[e, i])]
            for i in torch.nonzero(bad[e] & (r2[e] <= m)).flatten().tolist():
                if not spares:
                    break
                s = spares.pop(0)
                g2[e, s], r2[e, s] = g2[e, i], r2[e, i]
                r2[e, i] = m + 1  # deselected
        g_t, role = g2.reshape(shape), r2.reshape(shape)
    g = g_t
    if devices.programming_noise is not None:
        from .programming_noise import apply_programming_noise

        g = apply_programming_noise(g_t, devices.programming_noise, generator=generator)
        g = torch.clamp(g, min=0.0)  # a conductance cannot be negative (physical bound, not a clip of data)
    if stuck_on is not None and stuck_off is not None:  # the fault masks come together
        g = torch.where(stuck_on, torch.full_like(g, design.g_max), g)
        g = torch.where(stuck_off, torch.full_like(g, design.g_min), g)
    if devices.calibrate_bias and design.n_bias_devices > 0 and devices.programming_noise is not None:
        g = _calibrate_bias(design, devices, g, role, stuck_on, stuck_off, generator)
    return ProgrammedRamp(g=g, role=role, stuck_on=stuck_on, stuck_off=stuck_off)


def _calibrate_bias(
    design: RampDesign,
    devices: RampDevices,
    g: torch.Tensor,
    role: torch.Tensor,
    stuck_on: torch.Tensor | None,
    stuck_off: torch.Tensor | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Re-program the bias devices so the verify-read thresholds have no common offset."""
    m = design.n_steps
    t_ideal = design.thresholds
    t_now = ramp_thresholds(design, ProgrammedRamp(g=g, role=role))
    w = torch.gradient(t_ideal)[0].clamp(min=1e-12 * (design.x_range[1] - design.x_range[0]))
    wt = w.pow(-2)
    delta = ((t_now - t_ideal) * wt).sum(-1, keepdim=True) / wt.sum()  # input units
    is_bias = role == m
    ok = is_bias.clone()
    if stuck_on is not None and stuck_off is not None:
        ok &= ~(stuck_on | stuck_off)
    span = design.g_max - design.g_min
    b_now = ((g - design.g_min) * is_bias).sum(-1, keepdim=True)
    b_stuck = ((g - design.g_min) * (is_bias & ~ok)).sum(-1, keepdim=True)
    b_new = b_now - design.bias_sign * delta * design.g_unit
    n_ok = ok.sum(-1, keepdim=True).clamp(min=1)
    per = ((b_new - b_stuck) / n_ok).clamp(0.0, span)  # limited by the devices' window
    target = torch.where(ok, design.g_min + per.expand_as(g), g)
    from .programming_noise import apply_programming_noise

    reprog = torch.clamp(apply_programming_noise(target, devices.programming_noise, generator=generator), min=0.0)
    return torch.where(ok, reprog, g)


def ramp_thresholds(
    design: RampDesign,
    programmed: ProgrammedRamp,
    devices: RampDevices | None = None,
    *,
    ramp_gain: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Comparator thresholds in input units, shape (…, M), from one read of the programmed column.

    ``ramp_gain`` = (read voltage of the ramp) / (read voltage of the signal): 1 when both come
    from the same array (the tracked case). Read noise (``devices.read_noise``) is drawn per call
    (one read of each ramp device, shared by all comparators converting in parallel).
    """
    g = programmed.g
    if devices is not None and devices.read_noise is not None:
        from .read_noise import apply_read_noise

        g = apply_read_noise(g, devices.read_noise, generator=generator)
    m = design.n_steps
    contrib = (g - design.g_min) * (programmed.role <= m)
    sums = torch.zeros(*g.shape[:-1], m + 2, dtype=g.dtype, device=g.device)
    sums = sums.scatter_add(-1, programmed.role, contrib)
    start = design.bias_sign * sums[..., m : m + 1]
    return ramp_gain * (start + torch.cumsum(sums[..., :m], -1)) / design.g_unit


def _count(x: torch.Tensor, thr: torch.Tensor) -> torch.Tensor:
    """Number of thresholds strictly below ``x`` (= cycles before the comparator flips)."""
    if thr.dim() == 1:
        return torch.bucketize(x.contiguous(), thr)  # a strided x would be copied (with a warning)
    e = thr.shape[0]
    if x.dim() == 0 or x.shape[0] != e:
        raise ValueError(f"x: leading (ensemble) dimension must be {e}, got shape {tuple(x.shape)}")
    return torch.searchsorted(thr.contiguous(), x.reshape(e, -1).contiguous()).reshape(x.shape)


def ramp_convert(x: torch.Tensor, thresholds: torch.Tensor, levels: torch.Tensor) -> RampOutput:
    """Convert ``x`` with explicit thresholds (…, M) and levels (M + 1,): no gradient."""
    thr = thresholds.to(x.dtype)
    code = _count(x.detach(), thr)
    value = levels.to(device=x.device, dtype=x.dtype)[code]
    return RampOutput(code=code, value=value, cycles=code + 1)


class ThresholdLookup:
    """Fast exact comparator count for many columns: a uniform cell table plus one in-cell compare.

    ``torch.bucketize`` is a per-element binary search (about 30 ns per element on one CPU
    thread), too slow for a recurrent step. This table splits ``[min(t), max(t)]`` of each
    threshold set into ``n`` equal cells (``n`` doubled until no cell holds more than one
    threshold, up to ``max_cells``), stores the count below each cell and the threshold inside
    it. A conversion is one multiply-add, one clamp, one integer cast, two gathers and one
    compare. It is exact: the cell index is a monotone function of the value (the same float
    operations for thresholds and inputs), so every threshold of a lower cell is below ``x`` and
    every threshold of a higher cell is above it. Cells holding several thresholds (when
    ``max_cells`` is reached) are handled by extra compares.

    Parameters
    ----------
    tables : list of (thresholds, y0, slope)
        ``thresholds``: sorted tensor (M,) or (E, M) (input units); the output of a column using
        this table is ``y0 + slope * count``.
    columns : sequence of int, optional
        Table used by each entry of the last input dimension (default: table 0 for all).
    dtype : torch.dtype
        Dtype of the inputs (tables are built with the same float operations).
    max_cells : int
        Upper bound on the cells of one table.
    """

    def __init__(
        self,
        tables: list[tuple[torch.Tensor, float, float]],
        columns: Any = None,
        *,
        dtype: torch.dtype = torch.float32,
        max_cells: int = 2**16,
    ):
        if not tables:
            raise ValueError("tables: need at least one threshold table")
        ens = {None if t.dim() == 1 else int(t.shape[0]) for t, _, _ in tables}
        if len(ens) != 1:
            raise ValueError("tables: all threshold tables need the same ensemble size")
        self.ensemble = ens.pop()
        e = 1 if self.ensemble is None else self.ensemble
        device = tables[0][0].device
        built = []
        for thr, _, _ in tables:
            thr = thr.detach().to(dtype).reshape(e, -1)
            m = thr.shape[-1]
            a = thr.min(-1, keepdim=True).values
            b = thr.max(-1, keepdim=True).values
            n = max(2, 2 * m)
            while True:
                inv = torch.where(b > a, n / (b - a), torch.ones_like(a))
                idx = torch.clamp(torch.addcmul(-a * inv, thr, inv), 0, n - 1).to(torch.long)
                cnt = torch.zeros(e, n, dtype=torch.long, device=device).scatter_add_(1, idx, torch.ones_like(idx))
                if int(cnt.max()) <= 1 or 2 * n > max_cells:
                    break
                n *= 2
            built.append((thr, a, inv, idx, cnt, n))
        kmax = max(int(bt[4].max()) for bt in built)
        total = sum(bt[5] for bt in built)
        base_all = torch.zeros(e, total, dtype=torch.long, device=device)
        cells_all = torch.full((kmax, e, total), float("inf"), dtype=dtype, device=device)
        rows_par = []
        offset = 0
        for (thr, a, inv, idx, cnt, n), (_, y0, slope) in zip(built, tables):
            base = torch.cumsum(cnt, 1) - cnt
            base_all[:, offset : offset + n] = base
            pos = torch.arange(thr.shape[-1], device=device).expand_as(idx) - torch.gather(base, 1, idx)
            rows = torch.arange(e, device=device).unsqueeze(1).expand_as(idx)
            cells_all[pos, rows, idx + offset] = thr
            rows_par.append((inv[:, 0], (-a * inv)[:, 0] + offset, offset, n, float(y0), float(slope)))
            offset += n
        self.k = kmax
        self.n_total = total
        cols = torch.zeros(1, dtype=torch.long) if columns is None else torch.as_tensor(columns, dtype=torch.long)
        if cols.dim() != 1 or cols.numel() == 0 or int(cols.min()) < 0 or int(cols.max()) >= len(tables):
            raise ValueError(f"columns: need a 1-D sequence of table indices in [0, {len(tables) - 1}]")
        ens_off = (torch.arange(e, device=device, dtype=dtype) * total).unsqueeze(1)  # (e, 1)
        inv_t = torch.stack([r[0] for r in rows_par], 1).to(dtype)
        shift_t = torch.stack([r[1] for r in rows_par], 1).to(dtype)
        low_t = torch.tensor([float(r[2]) for r in rows_par], dtype=dtype, device=device)
        high_t = torch.tensor([float(r[2] + r[3] - 1) for r in rows_par], dtype=dtype, device=device)
        y0_t = torch.tensor([r[4] for r in rows_par], dtype=dtype, device=device)
        sl_t = torch.tensor([r[5] for r in rows_par], dtype=dtype, device=device)
        # per (ensemble, column) affine index map u = x * inv + shift, clamped to [low, high]
        self.inv = inv_t[:, cols]
        self.shift = shift_t[:, cols] + ens_off
        self.low = low_t[cols] + ens_off
        self.high = high_t[cols] + ens_off
        self.y0 = y0_t[cols]
        self.slope = sl_t[cols]
        self.base = base_all.reshape(-1)
        self.cells = [cells_all[k].reshape(-1) for k in range(kmax)]
        self.single_table = len(tables) == 1 and self.ensemble is None
        if kmax == 1:
            # value table over 2 * cells: even entry = below the cell's threshold, odd = above it
            table_of_cell = torch.cat([torch.full((r[3],), i) for i, r in enumerate(rows_par)]).repeat(e)
            y0c, slc = y0_t[table_of_cell], sl_t[table_of_cell]
            b = self.base.to(dtype)
            self.values = torch.stack([y0c + slc * b, y0c + slc * (b + 1)], 1).reshape(-1)
            self.cell_thr = self.cells[0]
        self.dtype = dtype
        self._cache: dict[int, tuple[Any, ...]] = {}

    def _params(self, ndim: int) -> tuple[Any, ...]:
        p = self._cache.get(ndim)
        if p is None:
            vals: list[Any] = [self.inv, self.shift, self.low, self.high]
            if self.ensemble is None:
                vals = [v[0] for v in vals]
            else:
                view = (self.ensemble,) + (1,) * (ndim - 2) + (-1,)
                vals = [v.reshape(view) for v in vals]
            if self.single_table:  # scalar clamp bounds are a cheaper kernel
                vals[2], vals[3] = float(vals[2][0]), float(vals[3][0])
            p = tuple(vals) + (self.y0, self.slope)
            self._cache[ndim] = p
        return p

    def _index(self, x: torch.Tensor) -> torch.Tensor:
        """Flat int32 cell index of every entry of ``x`` (int32: the cheapest cast and gather on CPU)."""
        if self.ensemble is not None and (x.dim() < 2 or x.shape[0] != self.ensemble):
            raise ValueError(f"x: leading (ensemble) dimension must be {self.ensemble}, got shape {tuple(x.shape)}")
        inv, shift, low, high, _, _ = self._params(x.dim())
        return torch.clamp(torch.addcmul(shift, x, inv), low, high).to(torch.int32).reshape(-1)

    def count(self, x: torch.Tensor) -> torch.Tensor:
        """Number of thresholds strictly below ``x`` (long tensor of ``x``'s shape)."""
        idx = self._index(x)
        xf = x.reshape(-1)
        c = self.base.index_select(0, idx)
        for cell in self.cells:
            c = c + (cell.index_select(0, idx) < xf)
        return c.reshape(x.shape)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Output value ``y0 + slope * count(x)`` per column (no gradient)."""
        if self.k == 1:
            idx = self._index(x)
            above = self.cell_thr.index_select(0, idx) < x.reshape(-1)
            return self.values.index_select(0, torch.add(above, idx, alpha=2)).reshape(x.shape)
        _, _, _, _, y0, slope = self._params(x.dim())
        return torch.addcmul(y0, self.count(x).to(x.dtype), slope)


# ---------------------------------------------------------------------------------------------
# module
# ---------------------------------------------------------------------------------------------
class RampADCActivation(nn.Module):
    """Activation computed by a programmed ramp ADC: ``y = levels[count(x)]``, STE gradient ``f'(x)``.

    Parameters
    ----------
    config : RampADC
        The ADC and its target function.
    ensemble : int, optional
        Independent device instances (leading dim of inputs and outputs).
    generator : torch.Generator, optional
        Used by :meth:`program` (when called without one) and by the read noise of each forward.

    Notes
    -----
    Construction solves the ramp and programs it once (ideal devices -> exact thresholds).
    Call :meth:`program` again to draw a new programming event.
    """

    levels: torch.Tensor  #: output levels (buffer), output units
    thresholds: torch.Tensor  #: programmed, noise-free thresholds (buffer), input units

    def __init__(self, config: RampADC, *, ensemble: int | None = None, generator: torch.Generator | None = None):
        super().__init__()
        if not isinstance(config, RampADC):
            raise TypeError(f"config: expected RampADC, got {type(config).__name__}")
        self.config = config
        self.ensemble = ensemble
        self.generator = generator
        self.design = solve_ramp(config)
        self.register_buffer("levels", self.design.levels.clone(), persistent=False)
        self.program(generator)

    def program(self, generator: torch.Generator | None = None) -> "RampADCActivation":
        """Programming event: draw faults and programming noise, cache the static thresholds."""
        gen = generator if generator is not None else self.generator
        self.programmed = program_ramp(self.design, self.config.devices, ensemble=self.ensemble, generator=gen)
        self.register_buffer("thresholds", ramp_thresholds(self.design, self.programmed), persistent=False)
        self._thr_cache: dict[tuple[torch.dtype, torch.device], ThresholdLookup] = {}
        return self

    @property
    def lsb(self) -> float:
        """Output step, units of ``f``."""
        return self.design.lsb

    def current_thresholds(
        self, *, v_read: float | None = None, ramp_v_read: float | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Thresholds of one conversion (read noise drawn if configured), input units.

        ``v_read``: read voltage of the signal columns (default: the card's); ``ramp_v_read``:
        read voltage of the ramp column (default: the same, because it is the same array).
        """
        dev = self.config.devices
        vs = dev.v_read if v_read is None else check_positive(v_read, "v_read")
        vr = vs if ramp_v_read is None else check_positive(ramp_v_read, "ramp_v_read")
        gain = vr / vs
        if dev.read_noise is None and gain == 1.0:
            return self.thresholds
        gen = generator if generator is not None else self.generator
        return ramp_thresholds(self.design, self.programmed, dev, ramp_gain=gain, generator=gen)

    def convert(
        self,
        x: torch.Tensor,
        *,
        v_read: float | None = None,
        ramp_v_read: float | None = None,
        generator: torch.Generator | None = None,
    ) -> RampOutput:
        """Code, dequantised value and latency (cycles) of a conversion of ``x`` (no gradient)."""
        thr = self.current_thresholds(v_read=v_read, ramp_v_read=ramp_v_read, generator=generator)
        return ramp_convert(x, thr, self.levels)

    def lookup(self, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> ThresholdLookup:
        """Fast exact :class:`ThresholdLookup` of the static (programmed, noise-free read) thresholds."""
        key = (dtype, torch.device(device) if device is not None else self.thresholds.device)
        lut = self._thr_cache.get(key)
        if lut is None:
            lut = ThresholdLookup(
                [
                    (
                        self.thresholds.to(device=key[1]),
                        self.design.levels[0].item(),
                        self.design.direction * self.design.lsb,
                    )
                ],
                dtype=dtype,
            )
            self._thr_cache[key] = lut
        return lut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Quantised ``f(x)``; gradient ``f'(x)`` (straight-through surrogate).

        Without read noise the static thresholds are used through a fast exact lookup table;
        with read noise each call draws one read of the ramp column.
        """
        if self.config.devices.read_noise is None:
            y = self.lookup(x.dtype, x.device)(x.detach())
        else:
            thr = self.current_thresholds().to(x.dtype)
            y = self.levels.to(device=x.device, dtype=x.dtype)[_count(x.detach(), thr)]
        if x.requires_grad:
            fx = self.config.function(x)
            y = fx + (y - fx).detach()
        return y


# ---------------------------------------------------------------------------------------------
# figures of merit
# ---------------------------------------------------------------------------------------------
def _exact_code(cfg: RampADC, design: RampDesign, x: torch.Tensor) -> torch.Tensor:
    """Real-valued code ``(f(x) - y0) / LSB`` (direction-corrected) in LSB."""
    return design.direction * (_eval(cfg.function, x) - design.y0) / design.lsb


def ramp_error(
    act: RampADCActivation, *, n_points: int = 20001, generator: torch.Generator | None = None
) -> dict[str, torch.Tensor]:
    """Max and RMS error (LSB) of the ramp code against ``f`` on a dense grid over ``x_range``.

    Also returns the mean conversion latency (cycles, inputs uniform over ``x_range``) and the
    worst case ``2**bits``. Per ensemble member when the module has an ensemble.
    """
    lo, hi = act.config.x_range
    x = torch.linspace(lo, hi, n_points, dtype=torch.float64)
    exact = _exact_code(act.config, act.design, x)
    thr = act.current_thresholds(generator=generator).to(torch.float64)
    xe = x if thr.dim() == 1 else x.expand(thr.shape[0], n_points)
    code = _count(xe, thr).to(torch.float64)
    err = (code - exact).abs()
    return {
        "max_lsb": err.amax(-1),
        "rms_lsb": err.pow(2).mean(-1).sqrt(),
        "mean_cycles": (code + 1).mean(-1),
        "worst_cycles": torch.tensor(float(2**act.config.bits)),
    }


def uniform_adc_lut(x: torch.Tensor, cfg: RampADC, *, adc_bits: int | None = None) -> torch.Tensor:
    """Baseline: uniform ``adc_bits`` ADC over ``x_range`` then a digital lookup of ``f`` to N-bit codes.

    The uniform ADC code selects the bin; the table holds the N-bit quantised ``f`` at the bin
    centre. Returns output codes (long).
    """
    design = solve_ramp(cfg)
    nb = cfg.bits if adc_bits is None else check_int_range(adc_bits, "adc_bits", 1, 16)
    lo, hi = cfg.x_range
    n_bins = 2**nb
    width = (hi - lo) / n_bins
    idx = torch.clamp(torch.floor((x.to(torch.float64) - lo) / width), 0, n_bins - 1)
    centres = lo + (torch.arange(n_bins, dtype=torch.float64) + 0.5) * width
    table = torch.clamp(torch.round(_exact_code(cfg, design, centres)), 0, cfg.n_steps).to(torch.long)
    return table[idx.to(torch.long)]


def uniform_adc_lut_error(cfg: RampADC, *, adc_bits: int | None = None, n_points: int = 20001) -> dict[str, float]:
    """Max / RMS error (LSB of the N-bit output) of :func:`uniform_adc_lut` on a dense grid."""
    design = solve_ramp(cfg)
    lo, hi = cfg.x_range
    x = torch.linspace(lo, hi, n_points, dtype=torch.float64)
    err = (uniform_adc_lut(x, cfg, adc_bits=adc_bits).to(torch.float64) - _exact_code(cfg, design, x)).abs()
    return {"max_lsb": float(err.max()), "rms_lsb": float(err.pow(2).mean().sqrt())}
