"""Keyword spotting (KWS) from speech synthesised offline with espeak-ng, GSC-12 style.

Twelve classes like the Google Speech Commands "12-class" task (Warden 2018, arXiv 1804.03209):
ten keywords (``yes no up down left right on off stop go``), ``_unknown_`` (other words, many of
them chosen to sound like a keyword: *yet, know, cup, town, light, write, one, of, top,
though...*) and ``_silence_`` (background noise only).

Every clip is 1 s at 16 kHz: a word spoken by an espeak-ng voice + variant at a random speaking
rate, pitch and loudness, trimmed, shifted to a random position, and mixed with white, pink or
babble noise (babble made of other synthesised words) at a random SNR. Features are log-mel
(default) or MFCC frames from :mod:`physnn.data.features`.

The split is **speaker-disjoint and variant-disjoint**: espeak-ng variants (the voice
characteristics: ``f3``, ``m3``, ``klatt2``...) are partitioned between train, validation and
test, so the test speakers (``voice+variant``) never occur in training — the model must
generalise to unseen voices, which keeps a float LSTM well below 100 %.

Datasets are cached under ``physnn._resources.cache_dir("kws")``, keyed by a hash of the
configuration, the espeak-ng version and the version of the generation procedure.

Randomness follows :mod:`physnn.random`: ``seed`` makes one ``torch.Generator``; the plan, the
babble material and every clip get their own generator from it (:func:`physnn.random.spawn`),
numpy draws come from :func:`physnn.random.numpy_rng`, and the speech helpers get the clip's
generator. The same seed gives the same dataset whatever ``n_jobs``.

Examples
--------
>>> from physnn.data.kws import KWSConfig, build_kws
>>> ds = build_kws(n_per_class=30, seed=0)          # doctest: +SKIP
>>> x, y = ds.tensors("train")                       # doctest: +SKIP
>>> x.shape                                          # (N, frames, n_mels)  # doctest: +SKIP
torch.Size([252, 98, 40])
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence, get_args

import numpy as np
import torch

from physnn._checks import check_int_range, check_positive
from physnn._resources import cache_dir
from physnn.data import speech
from physnn.data.features import MelConfig, log_mel_spectrogram, mfcc
from physnn.random import generator_from_seed, numpy_rng, spawn

from .._io import atomic_write, content_key

__all__ = [
    "KEYWORDS",
    "UNKNOWN_WORDS",
    "BABBLE_WORDS",
    "SPLITS",
    "KWSConfig",
    "KWSDataset",
    "build_kws",
]

#: The ten GSC-12 keywords.
KEYWORDS: tuple[str, ...] = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")

#: Words of the ``_unknown_`` class. The first group is chosen to be acoustically close to a
#: keyword (one phoneme apart, or a rhyme); the rest are GSC's auxiliary words and fillers.
UNKNOWN_WORDS: tuple[str, ...] = (
    # confusable with a keyword
    "yet",
    "yeah",
    "yell",
    "less",
    "know",
    "now",
    "note",
    "cup",
    "pup",
    "town",
    "dawn",
    "gown",
    "light",
    "lift",
    "lest",
    "write",
    "ride",
    "bright",
    "one",
    "of",
    "own",
    "cough",
    "top",
    "stock",
    "shop",
    "though",
    "goal",
    "show",
    "toe",
    "love",
    "sun",
    # GSC auxiliary words and other fillers
    "bed",
    "bird",
    "cat",
    "dog",
    "happy",
    "house",
    "marvin",
    "sheila",
    "tree",
    "wow",
    "zero",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "learn",
    "follow",
    "forward",
    "backward",
    "visual",
)

#: Words mixed (several at once) into babble noise; none is a keyword or an unknown word.
BABBLE_WORDS: tuple[str, ...] = (
    "the",
    "and",
    "water",
    "people",
    "because",
    "morning",
    "table",
    "garden",
    "minute",
    "number",
    "question",
    "different",
    "important",
    "children",
    "government",
    "system",
    "program",
    "country",
    "something",
    "problem",
    "after",
    "before",
    "little",
    "always",
    "between",
)

#: Split names, in the order of the codes stored in :attr:`KWSDataset.split`.
SPLITS: tuple[str, ...] = ("train", "val", "test")

_FORMAT_VERSION = 1
#: Version of the generation procedure, part of the cache key: bump it whenever the same
#: configuration would give different clips. 2: draws from torch generators (physnn.random)
#: instead of numpy SeedSequences.
_CONTENT_VERSION = 2
#: the front ends (``KWSConfig.feature``)
Feature = Literal["logmel", "mfcc"]
_FEATURES: tuple[str, ...] = get_args(Feature)


@dataclass(frozen=True, kw_only=True)
class KWSConfig:
    """Everything that determines a KWS dataset (its hash is the cache key).

    Attributes
    ----------
    n_per_class : int
        Clips per class over all splits (split by ``split_fractions``, equal per class).
    seed : int
        Master seed: same seed -> identical dataset.
    keywords, unknown_words, babble_words : tuple of str
        Vocabularies (see module constants).
    voices : tuple of str or None
        Base espeak-ng voices; ``None``: every English non-MBROLA voice.
    variants : tuple of str or None
        espeak-ng variants (``""`` = plain voice); ``None``: ``("",) + HUMAN_VARIANTS``.
    split_fractions : (float, float, float)
        Fractions of variants (hence speakers) and of clips in train / val / test.
    speed_wpm, pitch, amplitude : (int, int)
        Inclusive ranges drawn per clip (espeak-ng rate in words/min, pitch 0–99, loudness).
    snr_db : (float, float)
        Uniform SNR range (dB) of the added noise.
    noise_kinds : tuple of str
        Noise types drawn per clip from ``("white", "pink", "babble")``.
    silence_fraction_quiet : float
        Fraction of ``_silence_`` clips made much quieter (20–40 dB below speech level).
    duration_s : float
        Clip length (s).
    feature : str
        ``"logmel"`` or ``"mfcc"``.
    mel : MelConfig
        Feature settings (its ``sample_rate`` is the audio sample rate).
    """

    n_per_class: int = 300
    seed: int = 0
    keywords: tuple[str, ...] = KEYWORDS
    unknown_words: tuple[str, ...] = UNKNOWN_WORDS
    babble_words: tuple[str, ...] = BABBLE_WORDS
    voices: tuple[str, ...] | None = None
    variants: tuple[str, ...] | None = None
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    speed_wpm: tuple[int, int] = (110, 260)
    pitch: tuple[int, int] = (10, 90)
    amplitude: tuple[int, int] = (50, 130)
    snr_db: tuple[float, float] = (0.0, 20.0)
    noise_kinds: tuple[str, ...] = ("white", "pink", "babble")
    silence_fraction_quiet: float = 0.3
    duration_s: float = 1.0
    feature: Feature = "logmel"
    mel: MelConfig = field(default_factory=MelConfig)

    def __post_init__(self) -> None:
        check_int_range(self.n_per_class, "n_per_class", 3)
        check_int_range(self.seed, "seed", 0)
        for name in ("keywords", "unknown_words", "babble_words"):
            words = getattr(self, name)
            if isinstance(words, str) or not isinstance(words, tuple) or not words:
                raise ValueError(f"{name}: expected a non-empty tuple of words, got {words!r}")
            if any(not isinstance(w, str) or not w.strip() for w in words):
                raise ValueError(f"{name}: every word must be a non-empty str")
        if len(set(self.keywords)) != len(self.keywords):
            raise ValueError("keywords: contain duplicates")
        clash = set(self.unknown_words) & set(self.keywords)
        if clash:
            raise ValueError(f"unknown_words: contain keyword(s) {sorted(clash)}")
        if len(self.split_fractions) != 3 or any(f <= 0 for f in self.split_fractions):
            raise ValueError(f"split_fractions={self.split_fractions!r}: need 3 positive fractions")
        if abs(sum(self.split_fractions) - 1.0) > 1e-9:
            raise ValueError(f"split_fractions={self.split_fractions!r}: must sum to 1")
        for name, lo, hi in (("speed_wpm", 80, 450), ("pitch", 0, 99), ("amplitude", 1, 200)):
            a, b = getattr(self, name)
            check_int_range(a, f"{name}[0]", lo, hi)
            check_int_range(b, f"{name}[1]", a, hi)
        lo, hi = self.snr_db
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            raise ValueError(f"snr_db={self.snr_db!r}: need finite lo <= hi (dB)")
        if not self.noise_kinds or any(k not in speech.NOISE_KINDS for k in self.noise_kinds):
            raise ValueError(f"noise_kinds={self.noise_kinds!r}: choose from {speech.NOISE_KINDS}")
        if not 0.0 <= self.silence_fraction_quiet <= 1.0:
            raise ValueError(f"silence_fraction_quiet={self.silence_fraction_quiet}: must be in [0, 1]")
        check_positive(self.duration_s, "duration_s")
        if self.feature not in _FEATURES:
            raise ValueError(f"feature={self.feature!r}: expected one of {_FEATURES}")
        if not isinstance(self.mel, MelConfig):
            raise TypeError(f"mel: expected a MelConfig, got {type(self.mel).__name__}")
        if self.mel.n_frames(int(round(self.duration_s * self.mel.sample_rate))) < 1:
            raise ValueError(f"duration_s={self.duration_s}: shorter than one analysis window")

    @classmethod
    def small(cls, **overrides) -> "KWSConfig":
        """Test-sized preset: 30 clips per class (360 clips, a few seconds to build)."""
        return cls(**{"n_per_class": 30, **overrides})

    @property
    def class_names(self) -> tuple[str, ...]:
        """Keywords, then ``_unknown_`` and ``_silence_``."""
        return (*self.keywords, "_unknown_", "_silence_")

    def cache_key(self) -> str:
        """Hex digest of the configuration, the file-format and generation versions and the espeak-ng version."""
        return content_key(
            {
                "cfg": dataclasses.asdict(self),
                "fmt": _FORMAT_VERSION,
                "content": _CONTENT_VERSION,
                "espeak": _espeak_version(),
            },
            default=list,
            length=20,
        )


def _espeak_version() -> str:
    out = subprocess.run([speech.espeak_path(), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.split("Data at")[0].strip()


@dataclass
class KWSDataset:
    """A built KWS dataset.

    Attributes
    ----------
    features : torch.Tensor
        float32 ``(N, n_frames, n_features)`` (log-mel in ln(power), or MFCC).
    labels : torch.Tensor
        int64 ``(N,)`` indices into ``class_names``.
    split : torch.Tensor
        int64 ``(N,)``: 0 train, 1 val, 2 test (see :data:`SPLITS`).
    class_names : tuple of str
    words : list of str
        The spoken word of each clip (``""`` for silence).
    speaker_ids : list of str
        ``voice+variant`` of each clip (``"noise"`` for silence).
    config : KWSConfig
    build_time_s : float
        Wall time of the original build (s), also when loaded from the cache.
    from_cache : bool
        Whether this object was read from a file.
    audio : torch.Tensor or None
        ``(N, n_samples)`` float32 waveforms when built with ``keep_audio=True``.
    """

    features: torch.Tensor
    labels: torch.Tensor
    split: torch.Tensor
    class_names: tuple[str, ...]
    words: list[str]
    speaker_ids: list[str]
    config: KWSConfig
    build_time_s: float = 0.0
    from_cache: bool = False
    audio: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def _mask(self, split: str) -> torch.Tensor:
        if split not in SPLITS:
            raise ValueError(f"split={split!r}: expected one of {SPLITS}")
        return self.split == SPLITS.index(split)

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features, labels)`` of one split."""
        m = self._mask(split)
        return self.features[m], self.labels[m]

    def torch_dataset(self, split: str) -> torch.utils.data.TensorDataset:
        """A :class:`torch.utils.data.TensorDataset` of one split."""
        return torch.utils.data.TensorDataset(*self.tensors(split))

    def speakers(self, split: str) -> set[str]:
        """Speaker identities (``voice+variant``) present in a split, the noise-only clips left out."""
        m = self._mask(split).numpy()
        return {s for s, keep in zip(self.speaker_ids, m) if keep and s != "noise"}

    def normalization(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-feature mean and std over the training split (to standardise inputs)."""
        x, _ = self.tensors("train")
        flat = x.reshape(-1, x.shape[-1])
        return flat.mean(0), flat.std(0).clamp_min(1e-6)

    def summary(self) -> dict:
        """Sizes per split, number of speakers, classes, build time — JSON-ready."""
        out = {
            "n_clips": len(self),
            "n_classes": len(self.class_names),
            "feature_shape": list(self.features.shape[1:]),
            "build_time_s": round(self.build_time_s, 3),
            "from_cache": self.from_cache,
        }
        for s in SPLITS:
            out[f"n_{s}"] = int(self._mask(s).sum())
            out[f"n_speakers_{s}"] = len(self.speakers(s))
        return out

    def _state(self) -> dict:
        st = {
            "features": self.features,
            "labels": self.labels,
            "split": self.split,
            "class_names": list(self.class_names),
            "words": list(self.words),
            "speaker_ids": list(self.speaker_ids),
            "config_json": json.dumps(dataclasses.asdict(self.config), sort_keys=True),
            "build_time_s": float(self.build_time_s),
            "format": _FORMAT_VERSION,
        }
        if self.audio is not None:
            st["audio"] = self.audio
        return st

    def save(self, path: str | os.PathLike) -> Path:
        """Write to ``path`` with :func:`torch.save` (tensors, lists of str, the config as JSON)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(path, lambda tmp: torch.save(self._state(), tmp))  # a reader never sees half a file

    @classmethod
    def load(cls, path: str | os.PathLike, config: KWSConfig | None = None) -> "KWSDataset":
        """Read a file written by :meth:`save` (``weights_only`` loading: no pickled code)."""
        st = torch.load(Path(path), weights_only=True)
        if st.get("format") != _FORMAT_VERSION:
            raise ValueError(f"{path}: KWS file format {st.get('format')!r}, expected {_FORMAT_VERSION}")
        if config is None:
            config = _config_from_json(st["config_json"])
        return cls(
            features=st["features"],
            labels=st["labels"],
            split=st["split"],
            class_names=tuple(st["class_names"]),
            words=list(st["words"]),
            speaker_ids=list(st["speaker_ids"]),
            config=config,
            build_time_s=float(st["build_time_s"]),
            from_cache=True,
            audio=st.get("audio"),
        )


def _config_from_json(text: str) -> KWSConfig:
    d = json.loads(text)
    d["mel"] = MelConfig(**d["mel"])
    for k, v in list(d.items()):
        if isinstance(v, list):
            d[k] = tuple(v)
    return KWSConfig(**d)


def _split_counts(n: int, fractions: Sequence[float]) -> list[int]:
    """Integer counts summing to ``n``, each >= 1, proportional to ``fractions``."""
    raw = [f * n for f in fractions]
    counts = [max(1, int(math.floor(r))) for r in raw]
    while sum(counts) < n:
        i = int(np.argmax([r - c for r, c in zip(raw, counts)]))
        counts[i] += 1
    while sum(counts) > n:
        i = int(np.argmax(counts))
        counts[i] -= 1
    return counts


def _speaker_pools(cfg: KWSConfig, rng: np.random.Generator) -> list[list[tuple[str, str]]]:
    """Partition the variants between the splits; each split's speakers = voices x its variants."""
    langs, var = speech.voice_tables()
    voices = list(cfg.voices) if cfg.voices is not None else [v for v in langs if v.startswith("en")]
    variants = list(cfg.variants) if cfg.variants is not None else [""] + [v for v in speech.HUMAN_VARIANTS if v in var]
    for v in voices:
        if "+" in v:
            raise ValueError(f"voices: {v!r} holds a variant; list variants in `variants`")
        speech.check_voice(v)
    for v in variants:
        if v and v not in var:
            raise ValueError(f"variants: unknown espeak-ng variant {v!r}")
    if len(variants) < 3:
        raise ValueError(f"variants: need at least 3 (one per split) for a speaker-disjoint split, got {len(variants)}")
    perm = rng.permutation(len(variants))
    counts = _split_counts(len(variants), cfg.split_fractions)
    pools, start = [], 0
    for c in counts:
        chosen = [variants[i] for i in perm[start : start + c]]
        start += c
        pools.append([(b, v) for b in voices for v in chosen])
    return pools


def _synth_job(job: tuple) -> np.ndarray:
    text, voice, speed, pitch, amp, sr = job
    return speech.synthesize(text, voice=voice, speed_wpm=speed, pitch=pitch, amplitude=amp, sample_rate=sr)


def _synthesize_all(jobs: list[tuple], n_jobs: int, desc: str) -> list[np.ndarray]:
    from tqdm.auto import tqdm

    # espeak-ng runs as a subprocess, so threads overlap it without the GIL getting in the way
    if n_jobs == 1:
        return [_synth_job(j) for j in tqdm(jobs, desc=desc, disable=None)]
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        return list(tqdm(pool.map(_synth_job, jobs, chunksize=8), total=len(jobs), desc=desc, disable=None))


def _default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def build_kws(
    config: KWSConfig | None = None,
    *,
    n_per_class: int | None = None,
    seed: int | None = None,
    feature: Feature | None = None,
    cache: bool = True,
    keep_audio: bool = False,
    n_jobs: int | None = None,
) -> KWSDataset:
    """Synthesise (or load from the cache) a GSC-12-style keyword-spotting dataset.

    Parameters
    ----------
    config : KWSConfig, optional
        Full configuration (default :class:`KWSConfig()`: 300 clips per class, 3600 clips).
    n_per_class, seed, feature : optional
        Shortcuts overriding those fields of ``config``.
    cache : bool
        Read/write ``cache_dir("kws") / f"{config.cache_key()}.pt"``.
    keep_audio : bool
        Also keep the 1 s waveforms (``audio``); cached separately from the feature-only file.
    n_jobs : int, optional
        Parallel espeak-ng processes (default ``min(4, cpu_count)``). The result does not
        depend on it: every random draw is made up front from ``config.seed``.

    Returns
    -------
    KWSDataset
    """
    cfg = config if config is not None else KWSConfig()
    if not isinstance(cfg, KWSConfig):
        raise TypeError(f"config: expected a KWSConfig, got {type(cfg).__name__}")
    overrides = {k: v for k, v in (("n_per_class", n_per_class), ("seed", seed), ("feature", feature)) if v is not None}
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    n_jobs = _default_jobs() if n_jobs is None else check_int_range(n_jobs, "n_jobs", 1, 64)

    path = cache_dir("kws") / f"{cfg.cache_key()}{'-audio' if keep_audio else ''}.pt"
    if cache and path.is_file():
        return KWSDataset.load(path, cfg)

    t0 = time.perf_counter()
    ds = _build(cfg, n_jobs=n_jobs, keep_audio=keep_audio)
    ds.build_time_s = time.perf_counter() - t0
    if cache:
        ds.save(path)
    return ds


def _build(cfg: KWSConfig, *, n_jobs: int, keep_audio: bool) -> KWSDataset:
    sr = cfg.mel.sample_rate
    n_samples = int(round(cfg.duration_s * sr))
    g_plan, g_babble, g_clips = spawn(generator_from_seed(cfg.seed), 3)
    rng = numpy_rng(g_plan)

    pools = _speaker_pools(cfg, rng)
    per_split = _split_counts(cfg.n_per_class, cfg.split_fractions)
    n_kw = len(cfg.keywords)
    silence = n_kw + 1

    # ---- plan every clip up front (deterministic, independent of n_jobs) -------------------
    plan = []  # (label, word, split, voice_id, speed, pitch, amp)
    for label in range(len(cfg.class_names)):
        for s, count in enumerate(per_split):
            for _ in range(count):
                if label == silence:
                    plan.append((label, "", s, "noise", 0, 0, 0))
                    continue
                if label < n_kw:
                    word = cfg.keywords[label]
                else:
                    word = cfg.unknown_words[int(rng.integers(len(cfg.unknown_words)))]
                base, var = pools[s][int(rng.integers(len(pools[s])))]
                plan.append(
                    (
                        label,
                        word,
                        s,
                        f"{base}+{var}" if var else base,
                        int(rng.integers(cfg.speed_wpm[0], cfg.speed_wpm[1] + 1)),
                        int(rng.integers(cfg.pitch[0], cfg.pitch[1] + 1)),
                        int(rng.integers(cfg.amplitude[0], cfg.amplitude[1] + 1)),
                    )
                )

    # ---- babble material: filler words from every split's speakers (it is noise, not label) --
    brng = numpy_rng(g_babble)
    babble_jobs = []
    all_speakers = [sp for pool in pools for sp in pool]
    for w in cfg.babble_words:
        base, var = all_speakers[int(brng.integers(len(all_speakers)))]
        babble_jobs.append(
            (w, f"{base}+{var}" if var else base, int(brng.integers(140, 220)), int(brng.integers(20, 80)), 100, sr)
        )

    speech_jobs = [(p[1], p[3], p[4], p[5], p[6], sr) for p in plan if p[0] != silence]
    waves = _synthesize_all(babble_jobs + speech_jobs, n_jobs, "espeak-ng")
    babble = [speech.trim_silence(w) for w in waves[: len(babble_jobs)]]
    spoken = iter(waves[len(babble_jobs) :])

    # reference speech level (RMS of a padded 1 s clip) for the noise-only class
    ref_rms = float(
        np.median(
            [
                np.sqrt(
                    np.mean(speech.fit_duration(b, duration_s=cfg.duration_s, sample_rate=sr, position="centre") ** 2)
                )
                for b in babble
            ]
        )
    )

    clip_gens = spawn(g_clips, len(plan))
    audio = np.empty((len(plan), n_samples), dtype=np.float32)
    for i, p in enumerate(plan):
        cg = clip_gens[i]
        crng = numpy_rng(cg)
        kind = cfg.noise_kinds[int(crng.integers(len(cfg.noise_kinds)))]
        snr = float(crng.uniform(cfg.snr_db[0], cfg.snr_db[1]))
        if p[0] == silence:
            level = ref_rms * 10 ** (-snr / 20)
            if crng.random() < cfg.silence_fraction_quiet:
                level *= 10 ** (-crng.uniform(20, 40) / 20)
            audio[i] = level * speech.make_noise(kind, n_samples, generator=cg, babble_sources=babble)
        else:
            clip = speech.fit_duration(next(spoken), duration_s=cfg.duration_s, sample_rate=sr, generator=cg)
            audio[i] = speech.add_noise(clip, snr, kind=kind, generator=cg, babble_sources=babble)

    feats = log_mel_spectrogram(audio, cfg.mel) if cfg.feature == "logmel" else mfcc(audio, cfg.mel)
    return KWSDataset(
        features=torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32)),
        labels=torch.tensor([p[0] for p in plan], dtype=torch.int64),
        split=torch.tensor([p[2] for p in plan], dtype=torch.int64),
        class_names=cfg.class_names,
        words=[p[1] for p in plan],
        speaker_ids=[p[3] for p in plan],
        config=cfg,
        audio=torch.from_numpy(audio) if keep_audio else None,
    )
