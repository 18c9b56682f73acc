"""Spoken digits 0-9 synthesised offline with espeak-ng, speaker-disjoint train/test split.

A stand-in for TIDIGITS / N-TIDIGITS that needs no download: every utterance is one English digit
word spoken by a synthetic speaker (:class:`physnn.data.speech.SpeakerStyle`: accent voice + voice
variant + rate + pitch), with a small per-utterance jitter of rate and pitch, a random time shift
in a fixed-length clip, and pink noise. The split is speaker-disjoint at the level of the espeak-ng
*variant* (the timbre): no variant of a test speaker is used by any training speaker, so the test
set measures generalisation to unheard voices, not recall of a deterministic synthesiser.

Examples
--------
>>> from physnn.data.spoken_digits import spoken_digits
>>> ds = spoken_digits(n_train_speakers=4, n_test_speakers=2, repeats=1, seed=0)  # doctest: +SKIP
>>> ds.audio.shape, ds.labels[:10]                                                 # doctest: +SKIP
((60, 16000), array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from .._io import atomic_write
from .._checks import check_int_range, check_positive
from .._resources import cache_dir
from ..random import check_seed, generator_from_seed, numpy_rng

__all__ = ["DIGIT_WORDS", "SpokenDigits", "spoken_digits"]

#: The words spoken for labels 0..9.
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class SpokenDigits:
    """A synthesised spoken-digit set.

    Attributes
    ----------
    audio : (n, samples) float32 waveforms at ``sample_rate`` Hz
    labels : (n,) int digit 0..9
    speaker : (n,) str speaker id (``voice+variant``)
    is_test : (n,) bool, True for the held-out speakers
    sample_rate : int, Hz
    """

    audio: np.ndarray
    labels: np.ndarray
    speaker: np.ndarray
    is_test: np.ndarray
    sample_rate: int


def spoken_digits(
    n_train_speakers: int = 40,
    n_test_speakers: int = 16,
    *,
    repeats: int = 2,
    duration: float = 1.0,
    snr_db: tuple[float, float] = (20.0, 35.0),
    sample_rate: int = 16000,
    seed: int = 0,
    cache: bool = True,
) -> SpokenDigits:
    """Synthesise (or load from the cache) the speaker-disjoint spoken-digit set.

    Parameters
    ----------
    n_train_speakers, n_test_speakers : int
        Number of synthetic speakers of each split.
    repeats : int
        Utterances of every digit per speaker (each with its own rate/pitch jitter, shift, noise).
    duration : float
        Clip length, seconds (the word is placed at a random offset).
    snr_db : (float, float)
        Uniform range of the pink-noise SNR, dB.
    seed : int
        Same seed -> identical set. It makes one ``torch.Generator``
        (:func:`physnn.random.generator_from_seed`) that draws the variant split, the speakers,
        the jitter, the shifts and the noise (numpy draws via :func:`physnn.random.numpy_rng`).
    cache : bool
        Store/reuse the waveforms under ``physnn._resources.cache_dir("spoken_digits")``, keyed by
        the arguments and the version of the generation procedure.
    """
    from .speech import HUMAN_VARIANTS, SpeakerStyle, voice_tables, add_noise, fit_duration, sample_speakers

    check_int_range(n_train_speakers, "n_train_speakers", 1)
    check_int_range(n_test_speakers, "n_test_speakers", 1)
    check_int_range(repeats, "repeats", 1)
    check_positive(duration, "duration")
    seed = check_seed(seed)
    if not snr_db[0] <= snr_db[1]:
        raise ValueError(f"snr_db={snr_db!r}: need low <= high")
    cfg = dict(
        tr=n_train_speakers,
        te=n_test_speakers,
        rep=repeats,
        dur=duration,
        snr=list(snr_db),
        fs=sample_rate,
        seed=seed,
        v=2,
    )  # v: generation version; 2 = physnn.random generators
    key = hashlib.sha1(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir("spoken_digits") / f"digits_{key}.npz" if cache else None
    if path is not None and path.is_file():
        z = np.load(path)
        return SpokenDigits(z["audio"], z["labels"], z["speaker"], z["is_test"], int(z["sample_rate"]))

    gen = generator_from_seed(seed)
    rng = numpy_rng(gen)
    _, installed = voice_tables()
    pool = [""] + [v for v in HUMAN_VARIANTS if v in installed]
    pool = [pool[i] for i in rng.permutation(len(pool))]
    n_test_var = max(1, round(len(pool) * n_test_speakers / (n_train_speakers + n_test_speakers)))
    test_var, train_var = pool[:n_test_var], pool[n_test_var:]
    speakers = [(s, False) for s in sample_speakers(n_train_speakers, generator=gen, variants=train_var)] + [
        (s, True) for s in sample_speakers(n_test_speakers, generator=gen, variants=test_var)
    ]
    audio, labels, spk, is_test = [], [], [], []
    for style, test in speakers:
        for _ in range(repeats):
            for d, word in enumerate(DIGIT_WORDS):
                jit = SpeakerStyle(
                    voice=style.voice,
                    variant=style.variant,
                    speed_wpm=int(np.clip(style.speed_wpm * rng.uniform(0.9, 1.1), 80, 450)),
                    pitch=int(np.clip(style.pitch + rng.integers(-5, 6), 0, 99)),
                )
                x = fit_duration(
                    jit.synthesize(word, sample_rate=sample_rate),
                    duration_s=duration,
                    sample_rate=sample_rate,
                    generator=gen,
                )
                x = add_noise(x, float(rng.uniform(*snr_db)), kind="pink", generator=gen)
                audio.append(x)
                labels.append(d)
                spk.append(style.speaker_id)
                is_test.append(test)
    ds = SpokenDigits(
        np.stack(audio).astype(np.float32),
        np.asarray(labels, np.int64),
        np.asarray(spk),
        np.asarray(is_test),
        sample_rate,
    )
    if path is not None:
        atomic_write(
            path,
            lambda tmp: np.savez(
                tmp, audio=ds.audio, labels=ds.labels, speaker=ds.speaker, is_test=ds.is_test, sample_rate=sample_rate
            ),
            suffix=".npz",
        )
    return ds
