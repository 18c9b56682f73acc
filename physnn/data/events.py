"""Event-camera (DVS) emulation and event-stream utilities, fully offline.

Event streams use tonic's structured layout: a 1-D numpy array with fields ``x``, ``y``, ``t``, ``p``
(all int64, ``t`` in microseconds, ``p`` in {0 = OFF, 1 = ON}), exactly the dtype of
``tonic.datasets.NMNIST`` so tonic transforms apply unchanged. The sensor size is the tonic tuple
``(width, height, polarities)``.

The DVS pixel model (:class:`DVSParams`, :func:`emulate_dvs`) follows the v2e description
(Hu, Liu, Delbruck, "v2e: From video frames to realistic DVS events", CVPRW 2021,
doi:10.1109/CVPRW53098.2021.00144): every pixel remembers the log intensity at its last event and
emits an ON (OFF) event each time the log intensity rose (fell) by its contrast threshold ``C``
since then; thresholds vary from pixel to pixel (Gaussian, std ``threshold_sigma``); a pixel is
blind for a refractory period after each event; the memorised reference leaks downwards
(``leak_rate`` ON events per second per pixel on a static scene) and shot noise adds Poisson
events of random polarity. The photoreceptor low-pass filter of v2e is not modelled.

:func:`nmnist_like` builds an N-MNIST-like set: scikit-learn's 8x8 digits upsampled to 28x28,
placed on a 34x34 sensor and moved along N-MNIST's three 105 ms saccades (Orchard et al.,
"Converting static image datasets to spiking neuromorphic datasets using saccades",
Front. Neurosci. 9, 437 (2015), doi:10.3389/fnins.2015.00437).

Examples
--------
>>> from physnn.data.events import nmnist_like, to_frames, SENSOR_SIZE
>>> streams, labels = nmnist_like(n_samples=4, seed=0, cache=False)
>>> frames = to_frames(streams[0], SENSOR_SIZE, n_time_bins=50, duration=0.315)
>>> frames.shape
(50, 2, 34, 34)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy import ndimage

from .._io import atomic_write
from ..random import generator_from_seed, numpy_rng
from .._checks import check_int_range, check_positive
from .._resources import cache_dir

__all__ = [
    "EVENT_DTYPE",
    "SENSOR_SIZE",
    "SACCADES",
    "SACCADE_DURATION",
    "DVSParams",
    "saccade_path",
    "emulate_dvs",
    "nmnist_like",
    "validate_events",
    "to_frames",
    "frames_batch",
    "to_time_surface",
    "pool_frames",
    "digits_on_sensor",
]

#: tonic's N-MNIST event dtype (``tonic.datasets.NMNIST.dtype``): t in microseconds, p in {0, 1}.
EVENT_DTYPE = np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
#: N-MNIST sensor size (width, height, polarities), as ``tonic.datasets.NMNIST.sensor_size``.
SENSOR_SIZE = (34, 34, 2)
#: N-MNIST's three saccades as (dx, dy) displacements in pixels (Orchard et al. 2015, Fig. 2):
#: the triangle returns to its start.
SACCADES = ((3.5, 7.0), (3.5, -7.0), (-7.0, 0.0))
#: Duration of one N-MNIST saccade, seconds.
SACCADE_DURATION = 0.105


@dataclass(frozen=True, kw_only=True)
class DVSParams:
    """Pixel parameters of the DVS emulator (v2e-like).

    Parameters
    ----------
    threshold : float
        Nominal contrast threshold C, in units of ln(intensity) (ON and OFF alike). v2e default 0.2.
    threshold_sigma : float
        Pixel-to-pixel std of the threshold (Gaussian, drawn once per sensor), ln units. v2e 0.03.
    refractory : float
        Refractory period after each event, seconds.
    leak_rate : float
        Mean leak-event rate on a static scene, events/s per pixel (reference drift; v2e 0.1 Hz).
    shot_noise_rate : float
        Shot-noise event rate, events/s per pixel (ON and OFF equally likely).
    dt : float
        Time step of the intensity sampling, seconds.
    dark_intensity : float
        Intensity of a black pixel relative to white = 1 (keeps ln finite; sets the edge contrast).
    """

    threshold: float = 0.2
    threshold_sigma: float = 0.03
    refractory: float = 0.5e-3
    leak_rate: float = 0.1
    shot_noise_rate: float = 1.0
    dt: float = 1e-3
    dark_intensity: float = 0.2

    def __post_init__(self):
        check_positive(self.threshold, "threshold")
        check_positive(self.threshold_sigma, "threshold_sigma", allow_zero=True)
        check_positive(self.refractory, "refractory", allow_zero=True)
        check_positive(self.leak_rate, "leak_rate", allow_zero=True)
        check_positive(self.shot_noise_rate, "shot_noise_rate", allow_zero=True)
        check_positive(self.dt, "dt")
        check_positive(self.dark_intensity, "dark_intensity")


def validate_events(
    events: np.ndarray, sensor_size: tuple[int, int, int] = SENSOR_SIZE, *, name: str = "events"
) -> np.ndarray:
    """Check an event stream and return it unchanged.

    Raises
    ------
    TypeError
        Not a structured array with fields x, y, t, p.
    ValueError
        Empty stream, negative or unsorted timestamps, coordinates outside the sensor, polarity
        outside ``[0, sensor_size[2])``; the message names the parameter and the field.
    """
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise TypeError(
            f"{name}: expected a structured numpy array with fields (x, y, t, p), got {type(events).__name__}"
        )
    missing = [f for f in ("x", "y", "t", "p") if f not in events.dtype.names]
    if missing:
        raise TypeError(f"{name}: missing field(s) {missing}; tonic layout is (x, y, t, p)")
    if events.ndim != 1:
        raise ValueError(f"{name}: must be 1-D, got shape {events.shape}")
    if events.size == 0:
        raise ValueError(f"{name}: empty event stream")
    w, h, npol = sensor_size
    t = events["t"]
    if t.min() < 0:
        raise ValueError(f"{name}['t']: negative timestamp {t.min()} (first at index {int(np.argmin(t))})")
    dt = np.diff(t)
    if np.any(dt < 0):
        i = int(np.argmax(dt < 0))
        raise ValueError(f"{name}['t']: timestamps not sorted (t[{i}]={t[i]} > t[{i + 1}]={t[i + 1]})")
    for f, hi in (("x", w), ("y", h), ("p", npol)):
        v = events[f]
        if v.min() < 0 or v.max() >= hi:
            bad = v[(v < 0) | (v >= hi)][0]
            what = "polarity" if f == "p" else "coordinate"
            raise ValueError(
                f"{name}['{f}']: {what} {bad} outside the sensor range [0, {hi}) of sensor_size={tuple(sensor_size)}"
            )
    return events


def saccade_path(t: np.ndarray) -> np.ndarray:
    """Displacement (dx, dy) in pixels at times ``t`` (seconds) along N-MNIST's saccades.

    Linear motion inside each :data:`SACCADE_DURATION` segment; constant after the last one.
    Returns an array of shape ``(len(t), 2)``.
    """
    t = np.asarray(t, dtype=float)
    corners = np.vstack([[0.0, 0.0], np.cumsum(np.asarray(SACCADES), axis=0)])
    knots = SACCADE_DURATION * np.arange(len(corners))
    return np.stack([np.interp(t, knots, corners[:, 0]), np.interp(t, knots, corners[:, 1])], axis=-1)


def digits_on_sensor(images: np.ndarray, *, size: int = 28, sensor: int = 34) -> np.ndarray:
    """Upsample 8x8 scikit-learn digits (values 0..16) to ``size`` and place them on a ``sensor``
    canvas, intensity in [0, 1]. Returns ``(N, sensor, sensor)``; the digit sits in the top-left
    corner region so that the saccade triangle (0..7 px right and down) keeps it on the sensor."""
    images = np.asarray(images, dtype=float)
    if images.ndim == 2:
        images = images[None]
    up = ndimage.zoom(images / max(images.max(), 1e-12), (1, size / images.shape[1], size / images.shape[2]), order=1)
    up = np.clip(up, 0.0, 1.0)
    canvas = np.zeros((images.shape[0], sensor, sensor))
    off = (sensor - size) // 2 - 3  # centre of the saccade triangle ~ (3.5, 3.5) px from start
    off = max(off, 0)
    canvas[:, off : off + size, off : off + size] = up
    return canvas


def emulate_dvs(
    frames_fn,
    n_steps: int,
    *,
    batch: int,
    sensor_size=SENSOR_SIZE,
    params: DVSParams = DVSParams(),
    generator: torch.Generator | None = None,
) -> list[np.ndarray]:
    """Run the DVS pixel model on an intensity video and return one event stream per batch item.

    Parameters
    ----------
    frames_fn : callable
        ``frames_fn(k) -> (batch, height, width)`` intensity (> 0, white = 1) at time ``k * dt``.
    n_steps : int
        Number of time steps after the initial frame (the initial frame sets the references).
    batch : int
        Number of independent pixel arrays (videos) processed together.
    params : DVSParams
    generator : torch.Generator, optional
        Per-pixel thresholds, leak phases and noise (numpy draws seeded from it,
        :func:`physnn.random.numpy_rng`). Same seed -> same events.

    Returns
    -------
    list of numpy structured arrays
        ``batch`` streams in :data:`EVENT_DTYPE`, sorted by time, t in microseconds.
    """
    check_int_range(n_steps, "n_steps", 1)
    check_int_range(batch, "batch", 1)
    rng = numpy_rng(generator)
    w, h, _ = sensor_size
    shape = (batch, h, w)
    p = params
    thr = np.maximum(p.threshold + p.threshold_sigma * rng.standard_normal(shape), 0.01 * p.threshold)
    # Leak: the reference drifts down by leak_rate * C per second (v2e), with a random initial phase
    # so that leak events of different pixels do not fire in lock-step.
    ref = np.log(np.maximum(frames_fn(0), 1e-12)) - rng.uniform(0.0, 1.0, shape) * thr * (p.leak_rate > 0)
    last = np.full(shape, -np.inf)
    out_b, out_x, out_y, out_t, out_p = [], [], [], [], []
    for k in range(1, n_steps + 1):
        t0, t1 = (k - 1) * p.dt, k * p.dt
        ref -= p.leak_rate * thr * p.dt
        logi = np.log(np.maximum(frames_fn(k), 1e-12))
        diff = logi - ref
        n = np.floor(np.abs(diff) / thr).astype(np.int64)
        active = n > 0
        if active.any():
            idx = np.nonzero(active)
            nk = n[idx]
            spacing = np.maximum(p.dt / nk, p.refractory)
            first = np.maximum(t0 + p.dt / nk, last[idx] + p.refractory)
            m = np.where(first <= t1 + 1e-12, np.floor((t1 - first) / spacing + 1e-9).astype(np.int64) + 1, 0)
            m = np.minimum(m, nk)
            sign = np.sign(diff[idx])
            ref[idx] += sign * m * thr[idx]
            keep = m > 0
            if keep.any():
                mk = m[keep]
                rep = np.repeat(np.arange(mk.size), mk)
                j = np.arange(rep.size) - np.repeat(np.cumsum(mk) - mk, mk)
                times = first[keep][rep] + j * spacing[keep][rep]
                last_t = first[keep] + (mk - 1) * spacing[keep]
                sel = tuple(a[keep] for a in idx)
                last[sel] = last_t
                out_b.append(sel[0][rep])
                out_y.append(sel[1][rep])
                out_x.append(sel[2][rep])
                out_t.append(times)
                out_p.append((sign[keep][rep] > 0).astype(np.int64))
        if p.shot_noise_rate > 0:
            hit = rng.random(shape) < p.shot_noise_rate * p.dt
            hit &= (t0 + 0.5 * p.dt) >= last + p.refractory
            if hit.any():
                idx = np.nonzero(hit)
                times = t0 + rng.uniform(0.0, p.dt, idx[0].size)
                last[idx] = times
                out_b.append(idx[0])
                out_y.append(idx[1])
                out_x.append(idx[2])
                out_t.append(times)
                out_p.append(rng.integers(0, 2, idx[0].size))
    if not out_b:
        return [np.zeros(0, dtype=EVENT_DTYPE) for _ in range(batch)]
    b = np.concatenate(out_b)
    ev = np.empty(b.size, dtype=EVENT_DTYPE)
    ev["x"], ev["y"] = np.concatenate(out_x), np.concatenate(out_y)
    ev["t"] = np.round(np.concatenate(out_t) * 1e6).astype(np.int64)
    ev["p"] = np.concatenate(out_p)
    order = np.lexsort((ev["t"], b))
    ev, b = ev[order], b[order]
    bounds = np.searchsorted(b, np.arange(batch + 1))
    return [ev[bounds[i] : bounds[i + 1]].copy() for i in range(batch)]


def _shift_bilinear(padded: np.ndarray, pad: int, h: int, w: int, dx: float, dy: float) -> np.ndarray:
    """``out[y, x] = img(y - dy, x - dx)`` with bilinear interpolation, zeros outside."""
    iy, ix = int(np.floor(dy)), int(np.floor(dx))
    fy, fx = dy - iy, dx - ix

    def sl(a, b):
        return padded[:, pad - a : pad - a + h, pad - b : pad - b + w]

    return (1 - fy) * ((1 - fx) * sl(iy, ix) + fx * sl(iy, ix + 1)) + fy * (
        (1 - fx) * sl(iy + 1, ix) + fx * sl(iy + 1, ix + 1)
    )


def _saccade_video(canvas: np.ndarray, params: DVSParams):
    dark = params.dark_intensity
    n_steps = int(round(len(SACCADES) * SACCADE_DURATION / params.dt))
    disp = saccade_path(np.arange(n_steps + 1) * params.dt)

    # Bilinear sub-pixel shift by slicing a zero-padded canvas: 10x faster than ndimage.shift for
    # a batch of small images (tested against ndimage.shift in tests/data/test_events.py).
    pad = 9
    padded = np.pad(canvas, ((0, 0), (pad, pad), (pad, pad)))
    h, w = canvas.shape[1:]

    def frames_fn(k):
        return dark + (1.0 - dark) * _shift_bilinear(padded, pad, h, w, *disp[k])

    return frames_fn, n_steps


def nmnist_like(
    n_samples: int | None = None,
    *,
    seed: int = 0,
    params: DVSParams = DVSParams(),
    cache: bool = True,
    batch: int = 256,
) -> tuple[list[np.ndarray], np.ndarray]:
    """N-MNIST-like event streams from scikit-learn's digits (1797 images, offline).

    Each digit is upsampled to 28x28 on the 34x34 sensor and moved along N-MNIST's three saccades
    (3 x 105 ms); the DVS model of :func:`emulate_dvs` turns the video into events. Each sample
    gets its own sensor instance (threshold mismatch, noise) from ``seed``.

    Parameters
    ----------
    n_samples : int, optional
        First ``n_samples`` digits (all 1797 when None).
    seed : int
    params : DVSParams
    cache : bool
        Store/reuse the generated set under ``physnn._resources.cache_dir("events")``.

    Returns
    -------
    streams : list of structured arrays (:data:`EVENT_DTYPE`)
    labels : numpy.ndarray of int, shape (n,)
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    n_total = len(digits.target)
    n = n_total if n_samples is None else check_int_range(n_samples, "n_samples", 1, n_total)
    labels = digits.target[:n].astype(np.int64)
    key = hashlib.sha1(
        json.dumps({"n": n, "seed": seed, "params": asdict(params), "v": 2}, sort_keys=True).encode()
    ).hexdigest()[:16]
    path = cache_dir("events") / f"nmnist_like_{key}.npz" if cache else None
    if path is not None and path.is_file():
        z = np.load(path)
        ev, off = z["events"], z["offsets"]
        return [ev[off[i] : off[i + 1]] for i in range(n)], z["labels"]
    gen = generator_from_seed(seed)
    canvas = digits_on_sensor(digits.images[:n])
    streams: list[np.ndarray] = []
    for s in range(0, n, batch):
        fn, n_steps = _saccade_video(canvas[s : s + batch], params)
        streams += emulate_dvs(fn, n_steps, batch=min(batch, n - s), params=params, generator=gen)
    if path is not None:
        offsets = np.concatenate([[0], np.cumsum([len(e) for e in streams])])
        atomic_write(
            path,
            lambda tmp: np.savez_compressed(tmp, events=np.concatenate(streams), offsets=offsets, labels=labels),
            suffix=".npz",
        )
    return streams, labels


def to_frames(events: np.ndarray, sensor_size=SENSOR_SIZE, *, n_time_bins: int, duration: float) -> np.ndarray:
    """Event counts on a fixed time grid: ``(n_time_bins, polarities, height, width)`` float32.

    Uses ``tonic.functional.to_frame_numpy`` with ``time_window = duration / n_time_bins`` from
    t = 0, so every stream of a data set shares the same bins (tonic's own ``n_time_bins`` would
    slice each stream by its own time span). ``duration`` in seconds.
    """
    from tonic.functional import to_frame_numpy

    validate_events(events, sensor_size)
    check_int_range(n_time_bins, "n_time_bins", 1)
    check_positive(duration, "duration")
    window = duration * 1e6 / n_time_bins
    ev = events[events["t"] < duration * 1e6]
    frames = np.zeros((n_time_bins, sensor_size[2], sensor_size[1], sensor_size[0]), np.float32)
    if ev.size == 0:
        return frames
    f = to_frame_numpy(
        ev, sensor_size, time_window=window, start_time=0, end_time=duration * 1e6, include_incomplete=True
    )
    k = min(len(f), n_time_bins)
    frames[:k] = f[:k]
    return frames


def frames_batch(
    streams: list[np.ndarray], sensor_size=SENSOR_SIZE, *, n_time_bins: int, duration: float
) -> np.ndarray:
    """Vectorised :func:`to_frames` for a list of streams: ``(N, T, P, H, W)`` float32.

    Hand-written with ``np.bincount`` (one call for the whole set) because calling tonic per
    stream dominates the run time of the experiments; a test checks it equals :func:`to_frames`.
    """
    check_int_range(n_time_bins, "n_time_bins", 1)
    check_positive(duration, "duration")
    w, h, npol = sensor_size
    per = n_time_bins * npol * h * w
    lens = np.array([len(e) for e in streams])
    ev = np.concatenate(streams) if len(streams) else np.zeros(0, EVENT_DTYPE)
    sid = np.repeat(np.arange(len(streams)), lens)
    tb = np.floor(ev["t"] / (duration * 1e6 / n_time_bins)).astype(np.int64)
    ok = tb < n_time_bins
    flat = (((sid * n_time_bins + tb) * npol + ev["p"]) * h + ev["y"]) * w + ev["x"]
    counts = np.bincount(flat[ok], minlength=len(streams) * per)
    return counts.reshape(len(streams), n_time_bins, npol, h, w).astype(np.float32)


def pool_frames(frames: np.ndarray, *, crop: int = 32, out: int = 16) -> np.ndarray:
    """Centre-crop the last two axes to ``crop`` and sum-pool to ``out`` x ``out`` (as the LSM paper's
    code does for N-MNIST: 34x34 -> 16x16)."""
    h, w = frames.shape[-2:]
    if crop > min(h, w) or crop % out:
        raise ValueError(f"crop={crop}: must be <= {min(h, w)} and a multiple of out={out}")
    y0, x0 = (h - crop) // 2, (w - crop) // 2
    c = frames[..., y0 : y0 + crop, x0 : x0 + crop]
    f = crop // out
    return c.reshape(*c.shape[:-2], out, f, out, f).sum(axis=(-1, -3))


def to_time_surface(events: np.ndarray, sensor_size=SENSOR_SIZE, *, dt: float, tau: float) -> np.ndarray:
    """Exponentially decaying time surfaces every ``dt`` seconds with time constant ``tau`` seconds
    (``tonic.functional.to_timesurface_numpy``): ``(n_slices, polarities, height, width)``."""
    from tonic.functional import to_timesurface_numpy

    validate_events(events, sensor_size)
    check_positive(dt, "dt")
    check_positive(tau, "tau")
    return to_timesurface_numpy(events, sensor_size, dt=dt * 1e6, tau=tau * 1e6)
