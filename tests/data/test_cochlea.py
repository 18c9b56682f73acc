"""Cochlea filterbank spikes (physnn.data.cochlea) and the espeak-ng spoken-digit set."""

import shutil

import numpy as np
import pytest

from physnn.data.cochlea import CochleaParams, center_frequencies, cochlea_events, cochlea_sensor_size, erb_space
from physnn.data.events import validate_events

FS = 16000


def _tone(f, dur=0.2, amp=1.0):
    t = np.arange(int(dur * FS)) / FS
    return amp * np.sin(2 * np.pi * f * t)


def test_erb_spacing():
    # Glasberg & Moore 1990: ERB-number = 21.4 log10(1 + 0.00437 f); channels equally spaced on it
    f = erb_space(100.0, 7000.0, 64)
    assert f[0] == pytest.approx(100.0) and f[-1] == pytest.approx(7000.0)
    e = 21.4 * np.log10(1 + 0.00437 * f)
    np.testing.assert_allclose(np.diff(e), np.diff(e)[0], rtol=1e-10)


@pytest.mark.parametrize("freq", [250.0, 800.0, 2000.0, 5000.0])
def test_pure_tone_excites_nearest_channel(freq):
    p = CochleaParams()
    ev = cochlea_events(_tone(freq), p)[0]
    validate_events(ev, cochlea_sensor_size(p))
    counts = np.bincount(ev["x"], minlength=p.n_channels)
    nearest = int(np.argmin(np.abs(center_frequencies(p) - freq)))
    # the peak may sit one channel off: gammatone skirts are asymmetric and channels are 1/2 ERB apart
    assert abs(int(np.argmax(counts)) - nearest) <= 1
    # activity is local: channels > 10 channels (~5 ERB) away fire much less (the 0.3-power
    # compression flattens the tuning curve, hence the loose bound)
    far = np.abs(np.arange(p.n_channels) - nearest) > 10
    assert counts[far].max() < 0.4 * counts.max()


def test_louder_input_more_spikes_and_silence_is_an_error():
    p = CochleaParams(normalize=False)
    n1, n2 = (len(cochlea_events(_tone(1000.0, amp=a), p)[0]) for a in (0.05, 0.5))
    assert n2 > n1 > 0
    with pytest.raises(ValueError, match="all zeros"):
        cochlea_events(np.zeros(1000), CochleaParams())
    with pytest.raises(ValueError, match="f_max"):
        CochleaParams(f_max=9000.0)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_spoken_digits_speaker_disjoint():
    from physnn.data.spoken_digits import spoken_digits

    ds = spoken_digits(n_train_speakers=2, n_test_speakers=1, repeats=1, seed=1, cache=False)
    assert ds.audio.shape == (30, 16000) and ds.audio.dtype == np.float32
    assert np.bincount(ds.labels).tolist() == [3] * 10
    tr, te = set(ds.speaker[~ds.is_test]), set(ds.speaker[ds.is_test])
    assert tr and te and not tr & te
    variant = lambda s: s.split("+")[1] if "+" in s else ""  # noqa: E731
    assert not {variant(s) for s in tr} & {variant(s) for s in te}  # timbres disjoint too
    assert np.all(np.abs(ds.audio).max(axis=1) > 0.01)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_spoken_digits_same_seed_same_set_built_or_cached(tmp_path, monkeypatch):
    from physnn.data.spoken_digits import spoken_digits

    monkeypatch.setenv("PHYSNN_CACHE", str(tmp_path))
    a = spoken_digits(n_train_speakers=1, n_test_speakers=1, repeats=1, seed=4, cache=False)
    b = spoken_digits(n_train_speakers=1, n_test_speakers=1, repeats=1, seed=4)
    assert np.array_equal(a.audio, b.audio) and np.array_equal(a.speaker, b.speaker)
    assert len(list((tmp_path / "spoken_digits").glob("digits_*.npz"))) == 1
    d = spoken_digits(n_train_speakers=1, n_test_speakers=1, repeats=1, seed=4)  # from the cache
    assert np.array_equal(d.audio, a.audio)
    c = spoken_digits(n_train_speakers=1, n_test_speakers=1, repeats=1, seed=5, cache=False)
    assert not np.array_equal(a.audio, c.audio)
    with pytest.raises(TypeError, match="seed: expected a non-negative int"):
        spoken_digits(n_train_speakers=1, n_test_speakers=1, seed=np.random.default_rng(0))


def test_offset_silences_input_below_it():
    quiet = _tone(1000.0, amp=1e-4)
    assert len(cochlea_events(quiet, CochleaParams(normalize=False))[0]) > 0
    # compressed level of a 1e-4 tone is ~ (1e-4)^0.3 ~ 0.06 < offset 0.2 -> no spikes
    assert len(cochlea_events(quiet, CochleaParams(normalize=False, offset=0.2))[0]) == 0
