"""DVS emulator and event-stream utilities (physnn.data.events)."""

import numpy as np
import pytest
from scipy import ndimage

from physnn.data.events import (
    EVENT_DTYPE,
    SACCADE_DURATION,
    SENSOR_SIZE,
    DVSParams,
    emulate_dvs,
    frames_batch,
    nmnist_like,
    pool_frames,
    saccade_path,
    to_frames,
    to_time_surface,
    validate_events,
)
from physnn.random import generator_from_seed

QUIET = dict(leak_rate=0.0, shot_noise_rate=0.0)


def _run(video, n_steps, params, seed=0):
    return emulate_dvs(
        lambda k: video(k), n_steps, batch=video(0).shape[0], params=params, generator=generator_from_seed(seed)
    )


def test_static_image_without_noise_emits_nothing():
    img = 0.1 + np.random.default_rng(0).random((2, 34, 34))
    ev = _run(lambda k: img, 100, DVSParams(**QUIET))
    assert all(len(e) == 0 for e in ev)


def test_static_image_with_noise_emits_noise_only():
    # A static scene gives only leak + shot-noise events: their number matches the rates
    # (Poisson) and does not depend on the image content.
    p = DVSParams(leak_rate=2.0, shot_noise_rate=3.0)
    flat = np.full((1, 34, 34), 0.5)
    textured = 0.05 + np.random.default_rng(1).random((1, 34, 34))
    T = 300 * p.dt
    expected = (p.leak_rate + p.shot_noise_rate) * T * 34 * 34
    for img in (flat, textured):
        n = len(_run(lambda k, img=img: img, 300, p)[0])
        assert abs(n - expected) < 5 * np.sqrt(expected), (n, expected)
    # leak events are ON events only (reference drifts down); shot noise is half ON
    ev = _run(lambda k: flat, 300, DVSParams(leak_rate=2.0, shot_noise_rate=0.0))[0]
    assert len(ev) > 0 and np.all(ev["p"] == 1)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_brightness_step_gives_k_events_per_pixel(k):
    p = DVSParams(threshold_sigma=0.0, refractory=0.0, **QUIET)
    base = np.full((1, 34, 34), 0.2)
    up = base * np.exp((k + 0.5) * p.threshold)  # k*C (+ half a threshold of margin)
    ev = _run(lambda s: base if s < 5 else up, 10, p)[0]
    assert np.all(ev["p"] == 1)
    counts = np.bincount(ev["y"] * 34 + ev["x"], minlength=34 * 34)
    assert np.all(counts == k)
    down = _run(lambda s: up if s < 5 else base, 10, p)[0]
    assert np.all(down["p"] == 0) and len(down) == k * 34 * 34


def test_threshold_mismatch_spreads_event_counts_around_k():
    p = DVSParams(threshold_sigma=0.03, refractory=0.0, **QUIET)
    base = np.full((1, 34, 34), 0.2)
    ev = _run(lambda s: base if s < 2 else base * np.exp(3.5 * p.threshold), 4, p)[0]
    counts = np.bincount(ev["y"] * 34 + ev["x"], minlength=34 * 34)
    assert counts.std() > 0  # pixels differ
    assert abs(counts.mean() - 3.5) < 0.5  # floor(3.5 C / C_i) averages to ~3-4


def test_refractory_period_spaces_events():
    p = DVSParams(threshold_sigma=0.0, refractory=0.4e-3, **QUIET)
    base = np.full((1, 2, 2), 0.2)
    ev = emulate_dvs(
        lambda s: base if s < 1 else base * np.exp(10.5 * p.threshold),
        20,
        batch=1,
        sensor_size=(2, 2, 2),
        params=p,
        generator=generator_from_seed(0),
    )[0]
    for pix in range(4):
        t = ev["t"][(ev["y"] * 2 + ev["x"]) == pix]
        assert len(t) == 10  # all changes are eventually reported
        assert np.all(np.diff(t) >= 400 - 1)  # microseconds, rounding


def test_saccade_displacements_match_nmnist():
    # Orchard et al. 2015: three 105 ms saccades (+3.5,+7), (+3.5,-7), (-7,0) px
    d = saccade_path(np.array([0.0, 1, 2, 3]) * SACCADE_DURATION)
    np.testing.assert_allclose(d, [[0, 0], [3.5, 7], [7, 0], [0, 0]])
    np.testing.assert_allclose(saccade_path([0.5 * SACCADE_DURATION]), [[1.75, 3.5]])


def test_bilinear_shift_equals_scipy():
    from physnn.data.events import _shift_bilinear

    c = np.random.default_rng(0).random((2, 34, 34))
    pad = np.pad(c, ((0, 0), (9, 9), (9, 9)))
    for dx, dy in [(3.5, 7.0), (2.3, -4.7), (-7.0, 0.0)]:
        ref = ndimage.shift(c, (0, dy, dx), order=1, mode="grid-constant", cval=0.0)
        np.testing.assert_allclose(_shift_bilinear(pad, 9, 34, 34, dx, dy), ref, atol=1e-12)


def test_nmnist_like_layout_and_tonic_compatibility():
    import tonic

    streams, labels = nmnist_like(n_samples=2, seed=3, cache=False)
    assert EVENT_DTYPE == np.dtype(tonic.datasets.NMNIST.dtype)
    assert SENSOR_SIZE == tonic.datasets.NMNIST.sensor_size
    assert labels.tolist() == [0, 1]
    for ev in streams:
        validate_events(ev)
        assert ev["t"].max() <= 3 * SACCADE_DURATION * 1e6
        assert set(np.unique(ev["p"])) == {0, 1}
    # tonic's own transform accepts the stream; our fixed-grid frames match the batched version
    fr = tonic.transforms.ToFrame(sensor_size=SENSOR_SIZE, n_time_bins=3)(streams[0])
    assert fr.shape == (3, 2, 34, 34) and 0.98 * len(streams[0]) <= fr.sum() <= len(streams[0])
    f1 = to_frames(streams[0], n_time_bins=50, duration=0.315)
    fb = frames_batch(streams, n_time_bins=50, duration=0.315)
    np.testing.assert_array_equal(f1, fb[0])
    assert pool_frames(fb).shape == (2, 50, 2, 16, 16)
    assert pool_frames(fb).sum() <= fb.sum()
    assert to_time_surface(streams[0], dt=0.05, tau=0.01).shape[1:] == (2, 34, 34)
    again, _ = nmnist_like(n_samples=2, seed=3, cache=False)
    np.testing.assert_array_equal(again[1], streams[1])  # same seed -> same events


def _ev(x, y, t, p):
    e = np.zeros(len(t), EVENT_DTYPE)
    e["x"], e["y"], e["t"], e["p"] = x, y, t, p
    return e


@pytest.mark.parametrize(
    "ev, match",
    [
        (_ev([], [], [], []), "empty"),
        (_ev([1, 2], [1, 1], [5, 3], [0, 1]), r"\['t'\].*not sorted"),
        (_ev([1, 2], [1, 1], [-1, 3], [0, 1]), r"\['t'\].*negative"),
        (_ev([1, 34], [1, 1], [1, 3], [0, 1]), r"\['x'\].*outside"),
        (_ev([1, 2], [-1, 1], [1, 3], [0, 1]), r"\['y'\].*outside"),
        (_ev([1, 2], [1, 1], [1, 3], [0, 2]), r"\['p'\].*outside"),
    ],
)
def test_validate_events_errors(ev, match):
    with pytest.raises(ValueError, match=match):
        validate_events(ev)
    with pytest.raises(TypeError, match="fields"):
        validate_events(np.zeros((3, 4)))


def test_bad_parameters():
    with pytest.raises(ValueError, match="threshold"):
        DVSParams(threshold=0.0)
    with pytest.raises(ValueError, match="n_samples"):
        nmnist_like(n_samples=0, cache=False)
