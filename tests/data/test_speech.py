"""espeak-ng synthesis and the audio augmentation helpers (physnn.data.speech)."""

import shutil

import numpy as np
import pytest
import torch

from physnn.data import speech
from physnn.random import generator_from_seed

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def test_synthesize_rate_duration_and_level():
    x16 = speech.synthesize("yes", voice="en-us", sample_rate=16000)
    x22 = speech.synthesize("yes", voice="en-us", sample_rate=speech.ESPEAK_SAMPLE_RATE)
    assert x16.dtype == np.float32 and x16.ndim == 1
    assert np.all(np.abs(x16) <= 1.0)
    # same utterance, resampled: duration (s) agrees to within one resampling sample
    assert abs(x16.size / 16000 - x22.size / speech.ESPEAK_SAMPLE_RATE) < 1e-3
    # a spoken word lasts a few hundred ms (espeak-ng adds ~0.3 s trailing silence)
    assert 0.3 < x16.size / 16000 < 1.5
    trimmed = speech.trim_silence(x16)
    assert 0.15 < trimmed.size / 16000 < 0.9
    assert np.sqrt(np.mean(trimmed**2)) > 0.02  # non-silent


def test_synthesis_is_deterministic_and_speed_changes_duration():
    a = speech.synthesize("seven", speed_wpm=120)
    b = speech.synthesize("seven", speed_wpm=120)
    c = speech.synthesize("seven", speed_wpm=300)
    np.testing.assert_array_equal(a, b)
    assert speech.trim_silence(c).size < 0.8 * speech.trim_silence(a).size


def test_variants_change_the_voice():
    a = speech.synthesize("go", voice="en-us+m3")
    b = speech.synthesize("go", voice="en-us+f3")
    assert a.size != b.size or not np.allclose(a, b)


def test_available_voices_lists_variants():
    base = speech.available_voices("en", variants=False)
    assert "en-us" in base and "en-gb-x-rp" in base
    allv = speech.available_voices("en")
    assert "en-us+f3" in allv and "en+m3" in allv
    assert all(v.startswith("en") for v in allv)


def test_bad_voice_and_parameters():
    with pytest.raises(ValueError, match="voice"):
        speech.synthesize("yes", voice="xx-nonexistent")
    with pytest.raises(ValueError, match="variant"):  # espeak-ng itself would ignore it silently
        speech.synthesize("yes", voice="en-us+nonexistent")
    with pytest.raises(ValueError, match="speed_wpm"):
        speech.synthesize("yes", speed_wpm=10)
    with pytest.raises(ValueError, match="text"):
        speech.synthesize("   ")


def test_missing_espeak_names_install_command(monkeypatch):
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="apt-get install espeak-ng"):
        speech.espeak_path()


def test_sample_speakers_reproducible_and_distinct():
    a = speech.sample_speakers(20, generator=generator_from_seed(3))
    b = speech.sample_speakers(20, generator=generator_from_seed(3))
    assert a == b
    assert a != speech.sample_speakers(20, generator=generator_from_seed(4))
    assert len({s.speaker_id for s in a}) == 20  # identities without replacement
    assert all(120 <= s.speed_wpm <= 240 and 20 <= s.pitch <= 85 for s in a)
    with pytest.raises(ValueError, match="variants"):
        speech.sample_speakers(2, generator=generator_from_seed(0), variants=["nonexistent"])


@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
def test_add_noise_hits_requested_snr(kind):
    rng = generator_from_seed(0)
    word = speech.synthesize("left")
    clip = speech.fit_duration(word, generator=rng)
    sources = [speech.synthesize(w) for w in ("bed", "cat")]
    noisy = speech.add_noise(clip, 7.5, kind=kind, generator=rng, babble_sources=sources)
    noise = noisy - clip
    snr = 10 * np.log10(np.mean(clip.astype(float) ** 2) / np.mean(noise.astype(float) ** 2))
    assert snr == pytest.approx(7.5, abs=1e-3)


def test_pink_noise_spectrum_slope():
    x = speech.make_noise("pink", 2**16, generator=generator_from_seed(1)).astype(float)
    p = np.abs(np.fft.rfft(x)) ** 2
    f = np.arange(p.size)
    lo = p[(f > 100) & (f < 200)].mean()
    hi = p[(f > 1000) & (f < 2000)].mean()
    # 1/f: a decade up in frequency -> power down by ~10x
    assert 7 < lo / hi < 14


def test_add_noise_bad_input():
    with pytest.raises(ValueError, match="snr_db"):
        speech.add_noise(np.ones(10, np.float32), float("nan"))
    with pytest.raises(ValueError, match="signal"):
        speech.add_noise(np.zeros(10, np.float32), 10.0)
    with pytest.raises(ValueError, match="kind"):
        speech.add_noise(np.ones(10, np.float32), 10.0, kind="brown")
    with pytest.raises(ValueError, match="babble_sources"):
        speech.add_noise(np.ones(10, np.float32), 10.0, kind="babble")


def test_fit_duration_shift_and_crop():
    x = np.ones(4000, np.float32)
    y = speech.fit_duration(x, duration_s=1.0, sample_rate=16000, generator=generator_from_seed(0), trim=False)
    assert y.shape == (16000,) and y.sum() == 4000
    offs = {
        int(np.flatnonzero(speech.fit_duration(x, generator=generator_from_seed(s), trim=False))[0]) for s in range(5)
    }
    assert len(offs) > 1  # random shift
    long = np.arange(20000, dtype=np.float32)
    z = speech.fit_duration(long, trim=False, position="centre")
    assert z.shape == (16000,) and z[0] == 2000  # centred crop
    with pytest.warns(DeprecationWarning, match="position='centre'"):  # old default: centred, for one release
        assert np.array_equal(speech.fit_duration(long, trim=False), z)
    # position="random" without a generator draws from torch's global generator
    torch.manual_seed(5)
    r1 = speech.fit_duration(long, trim=False, position="random")
    torch.manual_seed(5)
    assert np.array_equal(speech.fit_duration(long, trim=False, position="random"), r1)
    with pytest.raises(ValueError, match="position='left'"):
        speech.fit_duration(long, position="left")


def test_same_generator_seed_same_noise_and_shift():
    x = np.ones(4000, np.float32)
    for f in (
        lambda g: speech.make_noise("pink", 512, generator=g),
        lambda g: speech.add_noise(x, 5.0, generator=g),
        lambda g: speech.fit_duration(x, generator=g, trim=False),
    ):
        assert np.array_equal(f(generator_from_seed(2)), f(generator_from_seed(2)))
        assert not np.array_equal(f(generator_from_seed(2)), f(generator_from_seed(3)))


@pytest.mark.parametrize("bad", ["zero", 1.5, np.random.RandomState(0)])
def test_wrong_generator_type_is_refused(bad):
    x = np.ones(400, np.float32)
    for call in (
        lambda: speech.make_noise("white", 16, generator=bad),
        lambda: speech.add_noise(x, 5.0, generator=bad),
        lambda: speech.fit_duration(x, generator=bad),
        lambda: speech.sample_speakers(2, generator=bad),
    ):
        with pytest.raises(TypeError, match="generator: expected torch.Generator or None"):
            call()
    with pytest.raises(TypeError, match="generator: expected torch.Generator"):
        speech.sample_speakers(2, generator=np.random.default_rng(0))  # never accepted there


def test_deprecated_numpy_and_int_generators_warn_for_one_release():
    x = np.ones(400, np.float32)
    with pytest.warns(DeprecationWarning, match="generator: a numpy.random.Generator is deprecated"):
        speech.make_noise("white", 16, generator=np.random.default_rng(0))
    with pytest.warns(DeprecationWarning, match="generator: an int seed is deprecated"):
        a = speech.add_noise(x, 5.0, generator=7)
    assert np.array_equal(a, speech.add_noise(x, 5.0, generator=generator_from_seed(7)))
    with pytest.warns(DeprecationWarning, match="seed: an int seed is deprecated"):
        old = speech.sample_speakers(3, seed=1)
    assert old == speech.sample_speakers(3, generator=generator_from_seed(1))
    with pytest.raises(ValueError, match="not both"):
        speech.sample_speakers(3, seed=1, generator=generator_from_seed(1))
