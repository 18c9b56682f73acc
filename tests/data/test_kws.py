"""Log-mel/MFCC features (physnn.data.features) and the espeak-ng KWS dataset (physnn.data.kws)."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from physnn.data import features as F

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


# ---------------------------------------------------------------------------------------------
# features
# ---------------------------------------------------------------------------------------------


def test_mel_scale_matches_htk_formula():
    # HTK definition m = 2595 log10(1 + f/700): 700 Hz -> 2595 log10(2) = 781.17 mel,
    # and the scale is anchored so that 1000 Hz is ~1000 mel
    assert F.hz_to_mel(700.0) == pytest.approx(2595 * np.log10(2.0), rel=1e-12)
    assert F.hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.1)
    f = np.array([0.0, 55.0, 440.0, 3000.0, 7999.0])
    np.testing.assert_allclose(F.mel_to_hz(F.hz_to_mel(f)), f, rtol=1e-12, atol=1e-9)


def test_filterbank_centres_equally_spaced_in_mel_and_peak_one():
    cfg = F.MelConfig(n_mels=40, fmin_hz=20.0)
    c = F.hz_to_mel(F.mel_band_centers_hz(cfg))
    np.testing.assert_allclose(np.diff(c), np.diff(c)[0], rtol=1e-9)
    fb = F.mel_filterbank(cfg)
    assert fb.shape == (40, cfg.fft_length // 2 + 1)
    assert np.all(fb >= 0) and np.all(fb.max(axis=1) <= 1.0) and np.all(fb.max(axis=1) > 0.5)


def test_filterbank_matches_librosa_htk():
    librosa_filters = pytest.importorskip("librosa.filters")
    cfg = F.MelConfig(n_mels=40, fmin_hz=20.0, fmax_hz=7600.0)
    ref = librosa_filters.mel(sr=16000, n_fft=512, n_mels=40, fmin=20.0, fmax=7600.0, htk=True, norm=None)
    np.testing.assert_allclose(F.mel_filterbank(cfg), ref, atol=1e-6)


@pytest.mark.parametrize("f0", [300.0, 1000.0, 2500.0, 6000.0])
def test_pure_tone_lands_in_its_mel_band(f0):
    cfg = F.MelConfig()
    t = np.arange(16000) / 16000.0
    x = (0.5 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)
    lm = F.log_mel_spectrogram(x, cfg)
    assert lm.shape == (cfg.n_frames(16000), 40) == (98, 40)
    band = int(np.argmax(lm.mean(axis=0)))
    centres = F.mel_band_centers_hz(cfg)
    # the loudest band is the one whose centre is nearest the tone (or its neighbour, when the
    # tone sits between two centres)
    nearest = int(np.argmin(np.abs(centres - f0)))
    assert abs(band - nearest) <= 1
    lo, hi = F.mel_to_hz(F.hz_to_mel(centres[band]) + np.array([-1, 1]) * np.diff(F.hz_to_mel(centres[:2])))
    assert lo < f0 < hi


def test_power_spectrum_level_of_a_sine():
    # scipy's default "spectrum" scaling: a sine of amplitude A on a bin centre gives A^2/4
    cfg = F.MelConfig(n_fft=400)  # bin spacing 40 Hz
    t = np.arange(16000) / 16000.0
    p = F.power_spectrogram(0.8 * np.sin(2 * np.pi * 1000.0 * t), cfg)
    assert p[:, 25].mean() == pytest.approx(0.8**2 / 4, rel=1e-3)


def test_batched_equals_single_and_mfcc_is_dct():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 8000)).astype(np.float32)
    cfg = F.MelConfig(n_mfcc=13)
    lm = F.log_mel_spectrogram(x, cfg)
    assert lm.shape == (3, 2, 48, 40) and lm.dtype == np.float32
    np.testing.assert_allclose(lm[1, 0], F.log_mel_spectrogram(x[1, 0], cfg), rtol=1e-5, atol=1e-5)
    m = F.mfcc(torch.from_numpy(x), cfg)  # torch input accepted
    assert m.shape == (3, 2, 48, 13)
    # c0 of the orthonormal DCT-II = sum(log-mel) / sqrt(n_mels)
    np.testing.assert_allclose(m[..., 0], lm.sum(-1) / np.sqrt(40), rtol=1e-4, atol=1e-3)


def test_feature_config_errors():
    with pytest.raises(ValueError, match="fmax_hz"):
        F.MelConfig(fmax_hz=9000.0)
    with pytest.raises(ValueError, match="hop_s"):
        F.MelConfig(hop_s=0.05)
    with pytest.raises(ValueError, match="n_mfcc"):
        F.MelConfig(n_mels=10, n_mfcc=13)
    with pytest.raises(ValueError, match="window"):
        F.MelConfig(window="nonexistent")
    with pytest.raises(ValueError, match="x: last axis"):
        F.log_mel_spectrogram(np.zeros(100, np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        F.log_mel_spectrogram(np.full(1000, np.nan, np.float32))
    with pytest.raises(TypeError, match="config"):
        F.log_mel_spectrogram(np.zeros(1000, np.float32), "logmel")


# ---------------------------------------------------------------------------------------------
# KWS dataset
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kws_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("physnn-cache")


@pytest.fixture(scope="module")
def small(kws_cache):
    from physnn.data import kws

    mp = pytest.MonkeyPatch()
    mp.setenv("PHYSNN_CACHE", str(kws_cache))
    try:
        yield kws.build_kws(kws.KWSConfig.small(), n_jobs=2)
    finally:
        mp.undo()


@needs_espeak
def test_small_dataset_shapes_and_balance(small):
    from physnn.data import kws

    assert small.class_names == (*kws.KEYWORDS, "_unknown_", "_silence_")
    assert small.features.shape == (360, 98, 40) and small.features.dtype == torch.float32
    assert torch.isfinite(small.features).all()
    for s in kws.SPLITS:
        _, y = small.tensors(s)
        counts = torch.bincount(y, minlength=12)
        assert (counts == counts[0]).all() and counts[0] > 0  # every class equally represented
    assert small.summary()["n_train"] == 12 * 21
    # each clip has the word of its class
    for word, label in zip(small.words, small.labels.tolist()):
        if label < 10:
            assert word == kws.KEYWORDS[label]
        elif label == 10:
            assert word in kws.UNKNOWN_WORDS and word not in kws.KEYWORDS
        else:
            assert word == ""


@needs_espeak
def test_splits_are_speaker_and_variant_disjoint(small):
    tr, va, te = (small.speakers(s) for s in ("train", "val", "test"))
    assert tr and va and te
    assert not (tr & te) and not (tr & va) and not (va & te)
    variants = lambda ids: {i.partition("+")[2] for i in ids}  # noqa: E731
    assert not (variants(tr) & variants(te))
    assert len(tr) > 20  # many synthetic speakers


@needs_espeak
def test_silence_is_quieter_than_speech(small):
    x, y = small.tensors("train")
    energy = x.exp().sum(-1).mean(-1)  # mean mel power per clip
    assert energy[y == 11].median() < energy[y < 10].median()


@needs_espeak
def test_same_seed_same_data_cache_and_jobs(small, kws_cache, monkeypatch):
    from physnn.data import kws

    monkeypatch.setenv("PHYSNN_CACHE", str(kws_cache))
    again = kws.build_kws(kws.KWSConfig.small())
    assert again.from_cache and torch.equal(again.features, small.features)
    assert again.speaker_ids == small.speaker_ids
    cfg = kws.KWSConfig.small(n_per_class=3, babble_words=kws.BABBLE_WORDS[:3])
    a = kws.build_kws(cfg, cache=False, n_jobs=1)
    b = kws.build_kws(cfg, cache=False, n_jobs=3)
    assert torch.equal(a.features, b.features) and torch.equal(a.labels, b.labels)
    c = kws.build_kws(cfg, seed=1, cache=False)
    assert not torch.equal(a.features, c.features)
    assert cfg.cache_key() != dataclasses.replace(cfg, seed=1).cache_key()


@needs_espeak
def test_cache_key_tracks_the_generation_version(monkeypatch):
    # a change of how clips are drawn (e.g. the move to physnn.random generators) must not reuse
    # datasets cached by the older procedure
    from physnn.data import kws

    cfg = kws.KWSConfig.small()
    key = cfg.cache_key()
    monkeypatch.setattr(kws, "_CONTENT_VERSION", kws._CONTENT_VERSION + 1)
    assert cfg.cache_key() != key


@needs_espeak
def test_cli_writes_dataset(kws_cache, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from physnn.cli import main
    from physnn.data import kws

    monkeypatch.setenv("PHYSNN_CACHE", str(kws_cache))
    res = CliRunner().invoke(
        main, ["kws", "--small", "--n-per-class", "3", "--feature", "mfcc", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["n_clips"] == 36 and summary["feature_shape"] == [98, 13]
    ds = kws.KWSDataset.load(summary["path"])
    assert ds.config.feature == "mfcc" and len(ds) == 36
    res = CliRunner().invoke(main, ["kws", "--n-per-class", "1", "--no-cache"])
    assert res.exit_code == 2
    assert "n_per_class" in res.output


def test_kws_config_errors():
    from physnn.data import kws

    with pytest.raises(ValueError, match="n_per_class"):
        kws.KWSConfig(n_per_class=1)
    with pytest.raises(ValueError, match="split_fractions"):
        kws.KWSConfig(split_fractions=(0.5, 0.3, 0.3))
    with pytest.raises(ValueError, match="unknown_words"):
        kws.KWSConfig(unknown_words=("yes", "cat"))
    with pytest.raises(ValueError, match="feature"):
        kws.KWSConfig(feature="spectrogram")
    with pytest.raises(ValueError, match="snr_db"):
        kws.KWSConfig(snr_db=(10.0, 0.0))
    with pytest.raises(ValueError, match="noise_kinds"):
        kws.KWSConfig(noise_kinds=("brown",))
    with pytest.raises(TypeError, match="config"):
        kws.build_kws("small")


@needs_espeak
def test_unknown_variant_in_config(tmp_path, monkeypatch):
    from physnn.data import kws

    monkeypatch.setenv("PHYSNN_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match="variant"):
        kws.build_kws(kws.KWSConfig.small(variants=("", "f3", "nonexistent")), cache=False)
    with pytest.raises(ValueError, match="at least 3"):
        kws.build_kws(kws.KWSConfig.small(variants=("", "f3")), cache=False)
