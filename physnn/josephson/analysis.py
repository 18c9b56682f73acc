"""Pulse analysis of junction phases: switching times, delays, pulse counts and areas.

A junction *switches* (passes one SFQ pulse) when its phase crosses an odd multiple of pi,
``(2k+1) pi`` (plus the junction's phase offset for pi-junctions). Crossing times are located by a
cubic through the four samples around the crossing (the same rule the JoSIM reference figures use),
and :func:`switch_time_torch` gives a differentiable first-crossing time for gradient work.

A crossing that is undone (the same level crossed back) less than ``min_dwell`` later is no
switching event: such a grazing excursion lasts under two output samples, so whether the printed
samples show it depends on where they fall, not on the circuit (the same member of an ensemble
printed on another grid, or JoSIM's print grid, which shifts by half a step after a step halving,
would count it differently). :func:`switch_times` and :func:`switching_events` drop them by default
(``min_dwell`` = two output steps of the run); :func:`crossings` keeps every crossing unless told.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

__all__ = [
    "crossings",
    "default_min_dwell",
    "switch_times",
    "switching_events",
    "delays",
    "pulse_count",
    "pulse_areas",
    "switch_time_torch",
    "SwitchComparison",
    "compare_switch_times",
]


def crossings(time: np.ndarray, phase: np.ndarray, *, offset: float = 0.0, cubic: bool = True, min_dwell: float = 0.0):
    """Times where ``phase - offset`` crosses ``(2k+1) pi``.

    Parameters
    ----------
    time, phase : ndarray (T,)
        Sample times (s) and phase (rad).
    offset : float
        Phase offset (rad) subtracted first (pi-junctions).
    cubic : bool
        Refine each crossing by a cubic through the four samples around it (else linear).
    min_dwell : float
        A crossing whose level is crossed back (opposite direction) less than ``min_dwell`` s
        later is dropped together with the crossing back (0: keep every crossing).

    Returns
    -------
    t : ndarray (n,)
        Crossing times, s.
    level : ndarray of int (n,)
        ``2k+1`` of each crossing.
    direction : ndarray of int (n,)
        +1 for increasing phase, -1 for decreasing.
    """
    time = np.asarray(time, dtype=float)
    ph = np.asarray(phase, dtype=float) - offset
    k = np.floor((ph - math.pi) / (2 * math.pi))
    idx = np.nonzero(k[1:] != k[:-1])[0]
    ts, levels, dirs = [], [], []
    T = len(ph)
    for i in idx:
        up = k[i + 1] > k[i]
        # one crossing per level passed (several only if the phase jumps > 2 pi in a step)
        lv_range = range(int(k[i]) + 1, int(k[i + 1]) + 1) if up else range(int(k[i]), int(k[i + 1]), -1)
        for kk in lv_range:
            lvl = 2 * math.pi * kk + math.pi
            f = (lvl - ph[i]) / (ph[i + 1] - ph[i])
            tc = time[i] + f * (time[i + 1] - time[i])
            if cubic and 1 <= i and i + 2 < T:
                tt = time[i - 1 : i + 3]
                pp = ph[i - 1 : i + 3] - lvl
                x = (tt - time[i]) / (time[i + 1] - time[i])
                c = np.polyfit(x, pp, 3)
                xr_ = f
                for _ in range(8):  # Newton on the cubic, started from the linear estimate
                    val = np.polyval(c, xr_)
                    der = np.polyval(np.polyder(c), xr_)
                    if der == 0:
                        break
                    step = val / der
                    xr_ -= step
                    if abs(step) < 1e-12:
                        break
                if 0.0 <= xr_ <= 1.0:
                    tc = time[i] + xr_ * (time[i + 1] - time[i])
            ts.append(tc)
            levels.append(2 * kk + 1)
            dirs.append(1 if up else -1)
    if min_dwell < 0 or not math.isfinite(min_dwell):
        raise ValueError(f"min_dwell: must be finite and >= 0, got {min_dwell!r}")
    if min_dwell > 0:
        kept: list[int] = []  # a stack: a crossing undone within min_dwell cancels with its undoing
        for i in range(len(ts)):
            j = kept[-1] if kept else None
            if j is not None and levels[j] == levels[i] and dirs[j] != dirs[i] and ts[i] - ts[j] < min_dwell:
                kept.pop()
            else:
                kept.append(i)
        ts, levels, dirs = [ts[i] for i in kept], [levels[i] for i in kept], [dirs[i] for i in kept]
    return np.array(ts), np.array(levels, dtype=int), np.array(dirs, dtype=int)


def default_min_dwell(ds: xr.Dataset) -> float:
    """Two output steps of the run (s): ``2 * ds.attrs['tstep_s']`` (the ``.tran`` step), else twice
    the median spacing of ``ds['time']``."""
    h = ds.attrs.get("tstep_s")
    if h is None:
        t = ds["time"].values
        h = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    return 2.0 * float(h)


def _phase_da(ds: xr.Dataset, junction: str) -> xr.DataArray:
    if "phase" not in ds:
        raise ValueError("ds: needs a 'phase' variable (from physnn.josephson.simulate)")
    if junction not in ds["junction"].values:
        raise ValueError(f"junction={junction!r}: not in the dataset ({list(ds['junction'].values)[:5]}...)")
    return ds["phase"].sel(junction=junction)


def switch_times(
    ds: xr.Dataset,
    junction: str,
    *,
    direction: int | None = None,
    member: int | None = None,
    min_dwell: float | None = None,
) -> np.ndarray:
    """Switching times (s) of one junction; ``direction`` +1/-1 keeps only that direction.

    ``min_dwell`` (s): crossings undone within it are no events (None: :func:`default_min_dwell`,
    two output steps; 0: every crossing)."""
    ph = _phase_da(ds, junction)
    if "ensemble" in ph.dims:
        if member is None:
            raise ValueError("member: the dataset has an ensemble dimension; pass member=index")
        ph = ph.isel(ensemble=member)
    off = float(ds["phase_offset"].sel(junction=junction)) if "phase_offset" in ds else 0.0
    dwell = default_min_dwell(ds) if min_dwell is None else min_dwell
    t, _, d = crossings(ds["time"].values, ph.values, offset=off, min_dwell=dwell)
    if direction is not None:
        t = t[d == direction]
    return t


@dataclass(frozen=True, kw_only=True)
class SwitchComparison:
    """Switching times of a simulation compared junction by junction with reference times.

    Attributes
    ----------
    n_junctions : int
        Junctions compared (every junction of the reference, none skipped).
    n_events : int
        Reference switching events of the junctions whose event counts agree (paired one to one).
    max_abs_err : float
        Largest ``|t_ours - t_ref|`` over those events, s (0 when there are none).
    mean_abs_err : float
        Mean of the same differences, s (0 when there are none).
    count_mismatches : tuple of (str, int, int)
        ``(junction, events here, events in the reference)`` for every junction whose number of
        switching events differs; its events are not paired, and it is reported here instead.
    errors : dict of str to ndarray
        Per junction with agreeing counts, the absolute difference of each event, s.
    """

    n_junctions: int
    n_events: int
    max_abs_err: float
    mean_abs_err: float
    count_mismatches: tuple[tuple[str, int, int], ...]
    errors: dict[str, np.ndarray]


def compare_switch_times(
    ds: xr.Dataset,
    reference: Mapping[str, Sequence[float]],
    *,
    tmax: float = math.inf,
    member: int | None = None,
    min_dwell: float | None = None,
) -> SwitchComparison:
    """Compare the switching times of every junction in ``reference`` with those of ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        A :func:`~physnn.josephson.simulate` result.
    reference : mapping of str to sequence of float
        Junction label (JoSIM's, e.g. ``"B01|X02"``) -> its reference switching times, s (for
        instance JoSIM's, found with :func:`crossings` on its ``P(...)`` column).
    tmax : float
        Only events before ``tmax`` (s) count, on both sides alike.
    member : int, optional
        Ensemble member of ``ds`` (required when it has an ensemble dimension).
    min_dwell : float, optional
        Passed to :func:`switch_times` (None: two output steps). Find the reference times with
        the same rule (:func:`crossings` with the same ``min_dwell``) for a like-for-like count.

    Returns
    -------
    SwitchComparison
        Junctions whose event counts differ are listed in ``count_mismatches``, never skipped
        silently; the time differences pair the events of the others in order.
    """
    errors: dict[str, np.ndarray] = {}
    mismatches = []
    for jj, times in reference.items():
        rt = np.asarray(times, dtype=float)
        rt = rt[rt < tmax]
        ours = switch_times(ds, jj, member=member, min_dwell=min_dwell)
        ours = ours[ours < tmax]
        if len(ours) != len(rt):
            mismatches.append((str(jj), int(len(ours)), int(len(rt))))
        else:
            errors[str(jj)] = np.abs(ours - rt)
    allerr = np.concatenate(list(errors.values())) if errors else np.zeros(0)
    return SwitchComparison(
        n_junctions=len(reference),
        n_events=int(allerr.size),
        max_abs_err=float(allerr.max()) if allerr.size else 0.0,
        mean_abs_err=float(allerr.mean()) if allerr.size else 0.0,
        count_mismatches=tuple(mismatches),
        errors=errors,
    )


def switching_events(ds: xr.Dataset, *, min_dwell: float | None = None) -> xr.Dataset:
    """All switching events as a long table (dimension ``event``): junction, time, level, direction
    and ensemble member (when present); ``min_dwell`` as in :func:`switch_times`."""
    dwell = default_min_dwell(ds) if min_dwell is None else min_dwell
    rows_j, rows_t, rows_l, rows_d, rows_e = [], [], [], [], []
    time = ds["time"].values
    ens = ds.sizes.get("ensemble", 0)
    for j in ds["junction"].values:
        off = float(ds["phase_offset"].sel(junction=j)) if "phase_offset" in ds else 0.0
        ph = ds["phase"].sel(junction=j)
        for e in range(max(ens, 1)):
            p = ph.isel(ensemble=e).values if ens else ph.values
            t, lv, d = crossings(time, p, offset=off, min_dwell=dwell)
            rows_j += [str(j)] * len(t)
            rows_t += list(t)
            rows_l += list(lv)
            rows_d += list(d)
            rows_e += [e] * len(t)
    out = xr.Dataset(
        {
            "junction": ("event", np.array(rows_j, dtype=object).astype(str)),
            "time": ("event", np.array(rows_t, dtype=float)),
            "level": ("event", np.array(rows_l, dtype=int)),
            "direction": ("event", np.array(rows_d, dtype=int)),
        },
        coords={"event": np.arange(len(rows_t))},
    )
    out["event"].attrs.update(units="1", long_name="switching event index")
    out["junction"].attrs.update(units="1", long_name="junction label (JoSIM)")
    out["time"].attrs.update(units="s", long_name="phase crossing time of (2k+1) pi")
    out["level"].attrs.update(units="1", long_name="crossed level 2k+1 (in units of pi)")
    out["direction"].attrs.update(units="1", long_name="+1 increasing phase, -1 decreasing")
    if ens:
        out["member"] = ("event", np.array(rows_e, dtype=int))
        out["member"].attrs.update(units="1", long_name="ensemble member")
    return out


def delays(ds: xr.Dataset, from_jj: str, to_jj: str, *, member: int | None = None) -> np.ndarray:
    """For each switching of ``to_jj`` (dominant direction), the delay (s) from the latest preceding
    switching of ``from_jj``; events of ``to_jj`` before any ``from_jj`` event are skipped."""
    ta = switch_times(ds, from_jj, member=member)
    tb = switch_times(ds, to_jj, member=member)
    out = []
    for t in tb:
        prev = ta[ta <= t]
        if prev.size:
            out.append(t - prev[-1])
    return np.array(out)


def pulse_count(ds: xr.Dataset, junction: str) -> np.ndarray | int:
    """Net number of 2 pi slips (signed SFQ pulses) over the run, per ensemble member if present."""
    ph = _phase_da(ds, junction)
    first = ph.isel(time=0)
    last = ph.isel(time=-1)
    n = np.rint((last - first).values / (2 * math.pi)).astype(int)
    return int(n) if n.ndim == 0 else n


def pulse_areas(ds: xr.Dataset, junction: str, *, window: float = 15e-12, member: int | None = None) -> np.ndarray:
    """Integral of the junction voltage over each pulse, V s (ideal SFQ pulse: Phi0 = h/2e).

    The window is ``+-window`` around each switching time, clipped at mid-points between
    neighbouring events; the integral is the trapezoid rule on the simulation grid.
    """
    if "voltage" not in ds:
        raise ValueError(
            "ds: has no junction voltages (simulated with junction_voltage=False); "
            "simulate with junction_voltage=True for pulse_areas"
        )
    v = ds["voltage"].sel(junction=junction)
    if "ensemble" in v.dims:
        if member is None:
            raise ValueError("member: the dataset has an ensemble dimension; pass member=index")
        v = v.isel(ensemble=member)
    t = ds["time"].values
    vv = v.values
    ts = switch_times(ds, junction, member=member)
    out = []
    for i, tc in enumerate(ts):
        lo = tc - window if i == 0 else max(tc - window, 0.5 * (ts[i - 1] + tc))
        hi = tc + window if i == len(ts) - 1 else min(tc + window, 0.5 * (ts[i + 1] + tc))
        m = (t >= lo) & (t <= hi)
        out.append(np.trapezoid(vv[m], t[m]))
    return np.array(out)


def switch_time_torch(time, phase, *, level: float = math.pi, after: float = -math.inf):
    """Differentiable time (s) of the first upward crossing of ``level`` by ``phase`` after ``after``.

    The crossing index is found without gradient; the time is the linear interpolation between the
    two samples around it, whose derivative with respect to the phases is exact for that
    interpolant (implicit function theorem). ``phase`` is a torch tensor (..., T); returns (...).
    """
    import torch

    if not isinstance(phase, torch.Tensor):
        raise TypeError("phase: expected a torch.Tensor")
    t = torch.as_tensor(time, dtype=phase.dtype)
    with torch.no_grad():
        above = (phase >= level) & (t >= after)
        prev_below = torch.zeros_like(above)
        prev_below[..., 1:] = phase[..., :-1] < level
        hit = above & prev_below
        if not bool(hit.any(dim=-1).all()):
            raise ValueError(f"phase: no crossing of level {level:.4g} rad found (after t={after:.4g} s)")
        i1 = hit.float().argmax(dim=-1, keepdim=True)
    i0 = i1 - 1
    p0 = torch.gather(phase, -1, i0)
    p1 = torch.gather(phase, -1, i1)
    t0 = t[i0.squeeze(-1)]
    dt = t[i1.squeeze(-1)] - t0
    frac = (level - p0) / (p1 - p0)
    return t0 + frac.squeeze(-1) * dt
