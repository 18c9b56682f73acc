"""Audio -> spike events through a cochlea-like filterbank (N-TIDIGITS-like, 64 channels).

N-TIDIGITS was recorded by playing TIDIGITS through the 64-channel binaural silicon cochlea
CochleaAMS1b (Anumula et al., "Feature representations for neuromorphic audio spike streams",
Front. Neurosci. 12, 23 (2018), doi:10.3389/fnins.2018.00023). This module is a software
stand-in with the same output format, built from textbook stages:

1. a bank of 4th-order gammatone band-pass filters (:func:`scipy.signal.gammatone`) with centre
   frequencies spaced uniformly on the ERB-number scale of Glasberg & Moore (Hear. Res. 47, 103
   (1990), doi:10.1016/0378-5955(90)90170-T): ``ERB-number(f) = 21.4 log10(1 + 0.00437 f)``;
2. inner-hair-cell stage: half-wave rectification, power-law compression ``r ** compression``
   and a first-order low-pass (``lowpass_hz``) for the loss of phase locking;
3. spike generation: one perfect integrate-and-fire unit per channel with subtractive reset,
   driven by ``gain * r``; its spikes are the integer crossings of the running integral, which
   is computed exactly with a cumulative sum (vectorised; no Python loop over samples).

Events use the layout of :mod:`physnn.data.events` (fields x, y, t, p; x = channel, y = p = 0,
t in microseconds) on a sensor of size ``(n_channels, 1, 1)`` (tonic's N-TIDIGITS sensor size).

Examples
--------
>>> import numpy as np
>>> from physnn.data.cochlea import CochleaParams, cochlea_events
>>> fs = 16000; t = np.arange(fs // 4) / fs
>>> ev = cochlea_events(np.sin(2 * np.pi * 1000 * t), CochleaParams())[0]
>>> ev.dtype.names
('x', 'y', 't', 'p')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from .._checks import check_finite, check_int_range, check_positive
from .events import EVENT_DTYPE

__all__ = [
    "CochleaParams",
    "erb_space",
    "center_frequencies",
    "filterbank",
    "hair_cell",
    "cochlea_events",
    "cochlea_sensor_size",
]


def erb_space(f_min: float, f_max: float, n: int) -> np.ndarray:
    """``n`` frequencies (Hz) uniformly spaced on the Glasberg-Moore ERB-number scale."""
    check_positive(f_min, "f_min")
    if not f_max > f_min:
        raise ValueError(f"f_max={f_max!r}: must be > f_min={f_min!r}")
    check_int_range(n, "n", 1)
    e = np.linspace(*(21.4 * np.log10(1 + 0.00437 * np.array([f_min, f_max]))), n)
    return (10 ** (e / 21.4) - 1) / 0.00437


@dataclass(frozen=True, kw_only=True)
class CochleaParams:
    """Cochlea model parameters (frequencies in Hz, times in s).

    Parameters
    ----------
    n_channels : int
        Number of channels (64 as CochleaAMS1b / N-TIDIGITS).
    f_min, f_max : float
        Lowest / highest centre frequency.
    sample_rate : int
        Sample rate of the audio.
    compression : float
        Exponent of the power-law compression of the rectified output (0.3: ~ loudness law).
    lowpass_hz : float
        Cut-off of the hair-cell low-pass.
    gain : float
        Spikes per second for a compressed drive of 1 (the input is first normalised to unit RMS).
    offset : float
        Compressed level subtracted before spike generation (a firing threshold: quiet
        background below it gives no spikes), same units as the compressed drive.
    normalize : bool
        Scale each waveform to unit RMS (an automatic gain control) before the filterbank.
    """

    n_channels: int = 64
    f_min: float = 100.0
    f_max: float = 7000.0
    sample_rate: int = 16000
    compression: float = 0.3
    lowpass_hz: float = 1000.0
    gain: float = 400.0
    offset: float = 0.0
    normalize: bool = True

    def __post_init__(self):
        check_int_range(self.n_channels, "n_channels", 1)
        check_int_range(self.sample_rate, "sample_rate", 1000)
        check_positive(self.f_min, "f_min")
        if not (self.f_min < self.f_max < self.sample_rate / 2):
            raise ValueError(f"f_max={self.f_max!r}: need f_min < f_max < sample_rate/2 = {self.sample_rate / 2}")
        check_positive(self.compression, "compression")
        check_positive(self.lowpass_hz, "lowpass_hz")
        check_positive(self.gain, "gain")
        check_positive(self.offset, "offset", allow_zero=True)


def cochlea_sensor_size(params: CochleaParams = CochleaParams()) -> tuple[int, int, int]:
    """tonic sensor size ``(n_channels, 1, 1)``."""
    return (params.n_channels, 1, 1)


def center_frequencies(params: CochleaParams = CochleaParams()) -> np.ndarray:
    """Centre frequencies (Hz) of the channels, low to high."""
    return erb_space(params.f_min, params.f_max, params.n_channels)


def filterbank(x: np.ndarray, params: CochleaParams = CochleaParams()) -> np.ndarray:
    """Gammatone filterbank output ``(batch, n_channels, samples)`` for audio ``(batch, samples)``
    or ``(samples,)``; every channel normalised to unit gain at its centre frequency (scipy)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"x: expected audio of shape (samples,) or (batch, samples), got {x.shape}")
    check_finite(x, "x")
    out = np.empty((x.shape[0], params.n_channels, x.shape[1]))
    for c, fc in enumerate(center_frequencies(params)):
        b, a = signal.gammatone(fc, "iir", fs=params.sample_rate)
        out[:, c] = signal.lfilter(b, a, x, axis=-1)
    return out


def hair_cell(bm: np.ndarray, params: CochleaParams = CochleaParams()) -> np.ndarray:
    """Half-wave rectification, power-law compression and low-pass of filterbank output."""
    r = np.maximum(bm, 0.0) ** params.compression
    b, a = signal.butter(1, params.lowpass_hz, fs=params.sample_rate)
    return np.maximum(signal.lfilter(b, a, r, axis=-1), 0.0)


def cochlea_events(x: np.ndarray, params: CochleaParams = CochleaParams()) -> list[np.ndarray]:
    """Spike events of the cochlea model for audio ``(samples,)`` or ``(batch, samples)``.

    Returns one event stream per waveform (sorted by time, possibly empty for silence).
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if params.normalize:
        rms = np.sqrt(np.mean(x**2, axis=-1, keepdims=True))
        if np.any(rms == 0):
            raise ValueError(f"x: waveform {int(np.argmax(rms[:, 0] == 0))} is all zeros (cannot normalise)")
        x = x / rms
    # Channel by channel (keeps the working set at (batch, samples) instead of (batch, 64, samples)).
    b_lp, a_lp = signal.butter(1, params.lowpass_hz, fs=params.sample_rate)
    parts = []  # (batch index, channel, sample index) of every spike
    for c, fc in enumerate(center_frequencies(params)):
        b, a = signal.gammatone(fc, "iir", fs=params.sample_rate)
        r = np.maximum(signal.lfilter(b, a, x, axis=-1), 0.0) ** params.compression
        drive = np.maximum(signal.lfilter(b_lp, a_lp, r, axis=-1) - params.offset, 0.0) * (
            params.gain / params.sample_rate
        )
        # Perfect integrate-and-fire with subtractive reset: spike k happens when the integral of
        # the drive crosses k (exact and vectorised).
        n = np.floor(np.cumsum(drive, axis=-1)).astype(np.int64)
        counts = np.diff(n, axis=-1, prepend=0)
        bi, k = np.nonzero(counts)
        reps = counts[bi, k]
        parts.append((np.repeat(bi, reps), np.full(reps.sum(), c), np.repeat(k, reps)))
    bi = np.concatenate([q[0] for q in parts])
    ch = np.concatenate([q[1] for q in parts])
    k = np.concatenate([q[2] for q in parts])
    order = np.lexsort((ch, k, bi))
    bi, ch, k = bi[order], ch[order], k[order]
    bounds = np.searchsorted(bi, np.arange(x.shape[0] + 1))
    streams = []
    for i in range(x.shape[0]):
        sl = slice(bounds[i], bounds[i + 1])
        ev = np.zeros(bounds[i + 1] - bounds[i], dtype=EVENT_DTYPE)
        ev["x"] = ch[sl]
        ev["t"] = np.round(k[sl] * 1e6 / params.sample_rate).astype(np.int64)
        streams.append(ev)
    return streams
