"""Speech features: log-mel spectrogram and MFCC, batched, numpy/scipy only.

Hand-written on purpose: torchaudio has no wheel matching the torch installed here, and librosa
is only present as an optional dependency of tonic (and costs ~2 s of numba import). The pieces
are standard and short: STFT from :func:`scipy.signal.stft`, a triangular filterbank on the HTK
mel scale ``m = 2595 log10(1 + f / 700 Hz)`` (O'Shaughnessy 1987; the HTK Book), and the
orthonormal DCT-II from :func:`scipy.fft.dct`. The tests check the filterbank against librosa's
``htk=True, norm=None`` filterbank when librosa is installed.

Examples
--------
>>> import numpy as np
>>> from physnn.data.features import MelConfig, log_mel_spectrogram, mfcc
>>> x = np.random.default_rng(0).standard_normal((8, 16000)).astype("float32")  # 8 clips, 1 s
>>> log_mel_spectrogram(x, MelConfig()).shape   # (batch, frames, n_mels)
(8, 98, 40)
>>> mfcc(x, MelConfig(n_mfcc=13)).shape
(8, 98, 13)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.signal

from physnn._checks import check_int_range, check_positive

__all__ = [
    "MelConfig",
    "hz_to_mel",
    "mel_to_hz",
    "mel_filterbank",
    "mel_band_centers_hz",
    "power_spectrogram",
    "log_mel_spectrogram",
    "mfcc",
]


def hz_to_mel(f_hz):
    """HTK mel scale: ``2595 * log10(1 + f / 700)`` (mel; 1000 Hz -> ~1000 mel)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f_hz, dtype=float) / 700.0)


def mel_to_hz(m):
    """Inverse of :func:`hz_to_mel` (Hz)."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=float) / 2595.0) - 1.0)


@dataclass(frozen=True, kw_only=True)
class MelConfig:
    """Feature configuration (all times in seconds, frequencies in Hz).

    Attributes
    ----------
    sample_rate : int
        Audio sample rate (Hz).
    n_mels : int
        Number of triangular mel bands.
    win_s, hop_s : float
        Analysis window (25 ms) and hop (10 ms).
    n_fft : int or None
        FFT length; default the next power of two >= the window length.
    fmin_hz, fmax_hz : float
        Band edges of the filterbank; ``fmax_hz=None`` means Nyquist.
    window : str
        scipy window name for the STFT.
    log_floor : float
        ``log(mel_power + log_floor)`` keeps silence finite.
    n_mfcc : int
        Cepstral coefficients kept by :func:`mfcc`.
    """

    sample_rate: int = 16000
    n_mels: int = 40
    win_s: float = 0.025
    hop_s: float = 0.010
    n_fft: int | None = None
    fmin_hz: float = 20.0
    fmax_hz: float | None = None
    window: str = "hann"
    log_floor: float = 1e-6
    n_mfcc: int = 13

    def __post_init__(self) -> None:
        check_int_range(self.sample_rate, "sample_rate", 1)
        check_int_range(self.n_mels, "n_mels", 1, 512)
        check_positive(self.win_s, "win_s")
        check_positive(self.hop_s, "hop_s")
        if self.hop_s > self.win_s:
            raise ValueError(f"hop_s={self.hop_s}: must not exceed win_s={self.win_s}")
        if self.win_length < 2:
            raise ValueError(f"win_s={self.win_s}: shorter than 2 samples at {self.sample_rate} Hz")
        if self.n_fft is not None:
            check_int_range(self.n_fft, "n_fft", self.win_length)
        check_positive(self.fmin_hz, "fmin_hz", allow_zero=True)
        nyq = self.sample_rate / 2
        fmax = nyq if self.fmax_hz is None else check_positive(self.fmax_hz, "fmax_hz")
        if fmax > nyq:
            raise ValueError(f"fmax_hz={self.fmax_hz}: above the Nyquist frequency {nyq} Hz")
        if not self.fmin_hz < fmax:
            raise ValueError(f"fmin_hz={self.fmin_hz}: must be below fmax ({fmax} Hz)")
        check_positive(self.log_floor, "log_floor")
        check_int_range(self.n_mfcc, "n_mfcc", 1, self.n_mels)
        try:
            scipy.signal.get_window(self.window, 4)
        except ValueError as exc:
            raise ValueError(f"window={self.window!r}: {exc}") from None

    @property
    def win_length(self) -> int:
        """Window length in samples."""
        return int(round(self.win_s * self.sample_rate))

    @property
    def hop_length(self) -> int:
        """Hop in samples."""
        return max(1, int(round(self.hop_s * self.sample_rate)))

    @property
    def fft_length(self) -> int:
        """FFT length in samples."""
        return self.n_fft if self.n_fft is not None else 1 << (self.win_length - 1).bit_length()

    @property
    def fmax(self) -> float:
        """Upper filterbank edge (Hz)."""
        return self.sample_rate / 2 if self.fmax_hz is None else float(self.fmax_hz)

    def n_frames(self, n_samples: int) -> int:
        """Frames produced for a clip of ``n_samples`` (no padding: ``1 + (n - win) // hop``)."""
        if n_samples < self.win_length:
            return 0
        return 1 + (n_samples - self.win_length) // self.hop_length


@functools.lru_cache(maxsize=16)
def _filterbank(cfg: MelConfig) -> np.ndarray:
    n_freq = cfg.fft_length // 2 + 1
    freqs = np.linspace(0.0, cfg.sample_rate / 2, n_freq)
    edges = mel_to_hz(np.linspace(hz_to_mel(cfg.fmin_hz), hz_to_mel(cfg.fmax), cfg.n_mels + 2))
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lower) / (center - lower)
    down = (upper - freqs[None, :]) / (upper - center)
    fb = np.maximum(0.0, np.minimum(up, down))
    fb.setflags(write=False)
    return fb


def mel_filterbank(config: MelConfig) -> np.ndarray:
    """Triangular filters, shape ``(n_mels, n_fft // 2 + 1)``, peak 1 at each band centre.

    Band edges are equally spaced in HTK mel between ``fmin_hz`` and ``fmax``.
    """
    _check_config(config)
    return _filterbank(config).copy()


def mel_band_centers_hz(config: MelConfig) -> np.ndarray:
    """Centre frequency (Hz) of each mel band."""
    _check_config(config)
    m = np.linspace(hz_to_mel(config.fmin_hz), hz_to_mel(config.fmax), config.n_mels + 2)
    return mel_to_hz(m[1:-1])


def _check_config(config) -> None:
    if not isinstance(config, MelConfig):
        raise TypeError(f"config: expected a MelConfig, got {type(config).__name__}")


def _as_audio(x, config: MelConfig) -> np.ndarray:
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"x: expected floating-point audio, got dtype {arr.dtype}")
    if arr.ndim < 1 or arr.shape[-1] < config.win_length:
        raise ValueError(
            f"x: last axis (time) must hold at least one window ({config.win_length} samples), got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("x: non-finite value(s) (NaN or inf)")
    return arr


def power_spectrogram(x, config: MelConfig = MelConfig()) -> np.ndarray:
    """``|STFT|^2`` of ``x`` (``(..., n_samples)``) -> ``(..., n_frames, n_fft // 2 + 1)``.

    scipy's default ``scaling="spectrum"`` is used (a sine of amplitude A gives A²/4 at its bin
    with a Hann window); frames start at sample 0 and no padding is added.
    """
    _check_config(config)
    arr = _as_audio(x, config)
    _, _, z = scipy.signal.stft(
        arr,
        fs=config.sample_rate,
        window=config.window,
        nperseg=config.win_length,
        noverlap=config.win_length - config.hop_length,
        nfft=config.fft_length,
        detrend=False,
        return_onesided=True,
        boundary=None,
        padded=False,
        axis=-1,
    )
    p = (z.real**2 + z.imag**2).astype(np.float32)
    return np.swapaxes(p, -1, -2)


def log_mel_spectrogram(x, config: MelConfig = MelConfig()) -> np.ndarray:
    """Natural-log mel power, ``(..., n_samples)`` -> ``(..., n_frames, n_mels)``, float32."""
    p = power_spectrogram(x, config)
    mel = p @ _filterbank(config).T.astype(np.float32)
    return np.log(mel + np.float32(config.log_floor)).astype(np.float32)


def mfcc(x, config: MelConfig = MelConfig()) -> np.ndarray:
    """MFCC: orthonormal DCT-II of the log-mel spectrum, first ``config.n_mfcc`` coefficients.

    Returns ``(..., n_frames, n_mfcc)`` float32.
    """
    lm = log_mel_spectrogram(x, config)
    return scipy.fft.dct(lm, type=2, norm="ortho", axis=-1)[..., : config.n_mfcc].astype(np.float32)
