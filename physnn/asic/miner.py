"""Simulated SHA-256 mining pipeline: share arrivals under voltage/frequency/temperature stress.

Per hash (one nonce of an 80-byte header) the chip either evaluates SHA-256d correctly or -- with
the timing-error probability ``p_err(V, T, f)`` of :mod:`physnn.asic.timing` -- produces a
corrupted digest. A digest ``<= target`` is sent as a share; shares from corrupted hashes are
rejected by the pool. Hash rate ``H = f * n_cores`` (one hash per core per clock); time advances
by ``1/H`` per hash. The input signal sets V (or f) per window; the junction temperature follows
the thermal RC model in ``substeps`` segments per window, so past inputs act through T (memory).

Two modes, same process:

* ``mode="hashlib"``: every nonce is really hashed (``hashlib``, midstate reuse); a corrupted hash
  gets a random digest. Feasible for ~10^5 hashes (a miniature chip: easy targets, few cores).
* ``mode="statistical"``: SHA-256d digests are pseudo-random, so hits are i.i.d. Bernoulli(p)
  per hash, ``p = (target+1)/2^256``: the number of shares among the ``n`` hashes of a segment is
  Binomial(n, p) at uniformly random distinct hash indices, and each share is independently
  rejected with probability ``p_err``. Gaps between shares are therefore geometric(p) hashes.
  This scales to real hash rates (~4e11 H/s for BM1366 at 485 MHz).
  The tests check with a KS test that both modes give the same inter-arrival distribution.

Chip numbers: BM1366 at 300-500 MHz, 850-990 mV (arXiv:2601.01916); ``n_cores = 894`` hashes per
clock is the usual figure for the BM1366 (about 0.5 TH/s at 525 MHz) -- an assumption here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import torch

from ..random import numpy_rng
from .._checks import check_finite, check_int_range, check_positive
from .sha256 import BlockHeader, scan_nonces, share_probability, target_from_probability
from .timing import TimingParams, error_probability, thermal_step

__all__ = ["MinerParams", "MinerMode", "ShareTrace", "simulate_shares", "drive_from_signal"]

#: how :func:`simulate_shares` finds shares: Poisson statistics of the hash rate, or real SHA-256 hashes
MinerMode = Literal["statistical", "hashlib"]


@dataclass(frozen=True, kw_only=True)
class MinerParams:
    """A simulated mining chip.

    Parameters
    ----------
    n_cores : int
        Hashes per clock cycle.
    target : int
        Share target (a digest ``<=`` target is a share); see :mod:`physnn.asic.sha256`.
    timing : TimingParams
        Delay / error / thermal model.
    header : BlockHeader
        Work template for the hashlib mode (nonces are scanned from 0; ``time`` is bumped when the
        32-bit nonce space is exhausted).
    """

    n_cores: int = 894
    target: int = target_from_probability(2.3e-11)
    timing: TimingParams = field(default_factory=TimingParams)
    header: BlockHeader = field(default_factory=BlockHeader)

    def __post_init__(self) -> None:
        check_int_range(self.n_cores, "n_cores", 1)
        share_probability(self.target)

    @property
    def share_probability(self) -> float:
        return share_probability(self.target)


@dataclass(frozen=True)
class ShareTrace:
    """Output of :func:`simulate_shares` (times in s, temperatures in K)."""

    valid_times: np.ndarray
    rejected_times: np.ndarray
    window_edges: np.ndarray  # (K+1,)
    temperature: np.ndarray  # (K,) mean junction temperature per window
    p_err: np.ndarray  # (K,) mean timing-error probability per window
    n_hashes: np.ndarray  # (K,) hashes evaluated per window
    valid_hash_index: np.ndarray  # global hash index of each valid share
    mode: str


def drive_from_signal(
    signal: Any, *, v_center: float = 0.90, v_swing: float = 0.03, f_center: float = 485e6, f_swing: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Map a signal in ``[0, 1]`` to per-window core voltage (V) and clock frequency (Hz).

    ``V = v_center + v_swing (2 s - 1)``, ``f = f_center + f_swing (2 s - 1)``.
    """
    s = np.asarray(signal, float)
    check_finite(s, "signal")
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"signal: expected a non-empty 1-D array, got shape {s.shape}")
    if s.min() < 0 or s.max() > 1:
        raise ValueError("signal: values must lie in [0, 1]")
    v = v_center + v_swing * (2 * s - 1)
    f = f_center + f_swing * (2 * s - 1)
    if np.any(f <= 0):
        raise ValueError("f_swing: makes the frequency non-positive")
    return v, f


def simulate_shares(
    voltage: Any,
    frequency: Any,
    *,
    window: float,
    params: MinerParams = MinerParams(),
    mode: MinerMode = "statistical",
    substeps: int = 10,
    t_start: float | None = None,
    generator: torch.Generator | None = None,
    max_hashes: int = 2_000_000,
) -> ShareTrace:
    """Share arrival times for per-window voltages / frequencies.

    Parameters
    ----------
    voltage, frequency : array (K,)
        Core voltage (V) and clock (Hz) held during each window.
    window : float
        Window length (s).
    mode : {"statistical", "hashlib"}
    substeps : int
        Thermal/error-rate segments per window.
    t_start : float, optional
        Initial junction temperature (K); default: the steady state of the first window.
    generator : torch.Generator, optional
        Source of the draws (numpy draws seeded from it, :func:`physnn.random.numpy_rng`).
    max_hashes : int
        Safety limit for the hashlib mode (real hashing of more nonces would take minutes).
    """
    v = np.asarray(voltage, float)
    f = np.asarray(frequency, float)
    check_finite(v, "voltage")
    check_finite(f, "frequency")
    if v.ndim != 1 or v.shape != f.shape or v.size == 0:
        raise ValueError(f"voltage/frequency: need equal non-empty 1-D shapes, got {v.shape} and {f.shape}")
    check_positive(window, "window")
    check_int_range(substeps, "substeps", 1)
    if mode not in get_args(MinerMode):
        raise ValueError(f"mode={mode!r}: expected one of {get_args(MinerMode)}")
    rng = numpy_rng(generator)
    tp = params.timing
    p = params.share_probability
    K = v.size
    dt = window / substeps
    if t_start is None:
        t_start = thermal_step(tp.t_amb, v[0], f[0], 1e9 * tp.tau_th, tp)  # steady state
    if mode == "hashlib":
        total = float(np.sum(f * params.n_cores * window))
        if total > max_hashes:
            raise ValueError(
                f"mode='hashlib': {total:.3g} hashes exceed max_hashes={max_hashes}; use mode='statistical'"
            )
    temp = float(t_start)
    valid_t, rej_t, valid_idx = [], [], []
    T_mean, pe_mean, n_h = np.zeros(K), np.zeros(K), np.zeros(K, dtype=np.int64)
    hash_pos = 0.0  # cumulative (real-valued) hash count
    nonce, header = 0, params.header
    for k in range(K):
        H = f[k] * params.n_cores
        for s in range(substeps):
            temp = thermal_step(temp, v[k], f[k], 0.5 * dt, tp)  # mid-segment temperature
            pe = float(error_probability(v[k], temp, f[k], tp))
            temp = thermal_step(temp, v[k], f[k], 0.5 * dt, tp)
            T_mean[k] += temp / substeps
            pe_mean[k] += pe / substeps
            t_seg = k * window + s * dt
            p0 = hash_pos
            first = int(np.floor(p0))
            hash_pos += H * dt
            n = int(np.floor(hash_pos)) - first  # hashes with global index in [first, first+n)
            n_h[k] += n
            if n <= 0:
                continue
            if mode == "statistical":
                m = rng.binomial(n, p)
                if m == 0:
                    continue
                if n < 50_000_000:
                    idx = np.sort(rng.choice(n, size=m, replace=False))
                else:  # collisions have probability ~m^2/n: negligible
                    idx = np.sort(rng.integers(0, n, size=m))
                bad = rng.random(m) < pe
            else:
                idx_l, bad_l = [], []
                corrupt = rng.random(n) < pe
                j = 0
                while j < n:
                    if nonce >= 2**32:  # new work: bump the header time, restart nonces
                        header = dataclasses.replace(header, time=(header.time + 1) % 2**32)
                        nonce = 0
                    cnt = min(n - j, 2**32 - nonce)
                    for i, (_, dig) in enumerate(scan_nonces(header, nonce, cnt)):
                        if corrupt[j + i]:
                            dig = rng.bytes(32)  # timing violation: garbage digest
                        if int.from_bytes(dig, "little") <= params.target:
                            idx_l.append(j + i)
                            bad_l.append(bool(corrupt[j + i]))
                    nonce += cnt
                    j += cnt
                idx = np.asarray(idx_l, dtype=np.int64)
                bad = np.asarray(bad_l, dtype=bool)
            times = t_seg + (first + idx + 1 - p0) / H  # global hash g finishes at t_seg + (g + 1 - p0)/H
            valid_t.append(times[~bad])
            rej_t.append(times[bad])
            valid_idx.append(first + idx[~bad])
    cat = lambda xs, dt_=float: np.concatenate(xs) if xs else np.zeros(0, dt_)  # noqa: E731
    return ShareTrace(
        valid_times=cat(valid_t),
        rejected_times=cat(rej_t),
        window_edges=np.arange(K + 1) * window,
        temperature=T_mean,
        p_err=pe_mean,
        n_hashes=n_h,
        valid_hash_index=cat(valid_idx, np.int64),
        mode=mode,
    )
