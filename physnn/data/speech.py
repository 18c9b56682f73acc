"""Offline speech synthesis with Debian's ``espeak-ng`` and the audio helpers built on it.

Everything here runs locally: :func:`synthesize` calls the ``espeak-ng`` command line program
(``apt-get install espeak-ng``) through :mod:`subprocess`, reads the WAV it writes to stdout
(22050 Hz, 16-bit mono) from a pipe — no temporary files — and resamples it with
:func:`scipy.signal.resample_poly`.

Speaker variety comes from espeak-ng's language voices (``en-us``, ``en-gb-x-rp``, ...) combined
with its *variants* (``en-us+f3``, ``en+m3``, ``en-gb-scotland+klatt2``...), plus speaking rate
and pitch: :class:`SpeakerStyle` holds one such combination, :func:`sample_speakers` draws many.

Augmentation helpers: :func:`make_noise` (white, pink, babble), :func:`add_noise` (at a given SNR
in dB), :func:`trim_silence` and :func:`fit_duration` (random time shift and zero padding to a
fixed length, 1 s by default).

Randomness follows :mod:`physnn.random`: every function that draws takes
``generator: torch.Generator | None`` (None: torch's global generator) and makes its numpy draws
from :func:`physnn.random.numpy_rng` of it, so the same seeded generator gives the same speakers,
noise and shifts.

Examples
--------
>>> from physnn.data.speech import synthesize, add_noise
>>> from physnn.random import generator_from_seed
>>> x = synthesize("yes", voice="en-us+f3", speed_wpm=160)        # doctest: +SKIP
>>> y = add_noise(x, 10.0, kind="pink", generator=generator_from_seed(0))  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Literal, Sequence, get_args

import numpy as np
import torch
from scipy.signal import resample_poly

from physnn._checks import check_int_range, check_positive
from physnn.random import legacy_generator, numpy_rng

__all__ = [
    "espeak_path",
    "voice_tables",
    "check_voice",
    "ESPEAK_SAMPLE_RATE",
    "HUMAN_VARIANTS",
    "SpeakerStyle",
    "synthesize",
    "available_voices",
    "available_variants",
    "sample_speakers",
    "make_noise",
    "add_noise",
    "trim_silence",
    "fit_duration",
]

#: Sample rate of the WAV that ``espeak-ng --stdout`` writes (Hz).
ESPEAK_SAMPLE_RATE = 22050

#: espeak-ng variants that sound like (different) human speakers; robotic/whisper/joke variants
#: (``Demonic``, ``robosoft*``, ``whisper``, ``croak``, ``fast``...) are left out of the defaults.
HUMAN_VARIANTS: tuple[str, ...] = (
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "m8",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "klatt",
    "klatt2",
    "klatt3",
    "klatt4",
    "adam",
    "Alex",
    "Alicia",
    "Andrea",
    "Andy",
    "Annie",
    "antonio",
    "aunty",
    "belinda",
    "benjamin",
    "boris",
    "caleb",
    "david",
    "Denis",
    "Diogo",
    "ed",
    "edward",
    "Gene",
    "grandma",
    "grandpa",
    "gustave",
    "Henrique",
    "Hugo",
    "iven",
    "iven2",
    "john",
    "Lee",
    "linda",
    "Marco",
    "marcelo",
    "max",
    "Michael",
    "michel",
    "miguel",
    "Mike",
    "norbert",
    "pablo",
    "paul",
    "pedro",
    "quincy",
    "rob",
    "robert",
    "sandro",
    "shelby",
    "steph",
    "steph2",
    "travis",
    "victor",
    "zac",
)

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_INSTALL_HINT = "install it with `apt-get install espeak-ng` (Debian/Ubuntu)"


def espeak_path() -> str:
    """Path of the ``espeak-ng`` program (``FileNotFoundError`` with an install hint if missing)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise FileNotFoundError(f"the `espeak-ng` program was not found on PATH; {_INSTALL_HINT}")
    return exe


def _run_espeak(args: list[str]) -> bytes:
    proc = subprocess.run([espeak_path(), *args], capture_output=True, check=False)
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"espeak-ng {' '.join(args)!r} failed (exit {proc.returncode}): {msg}")
    return proc.stdout


def _parse_voice_table(text: str) -> list[dict[str, str]]:
    """Parse the fixed-width table of ``espeak-ng --voices`` (file names may contain spaces)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or "File" not in lines[0]:
        return []
    head = lines[0]
    c_lang, c_age, c_name = head.index("Language"), head.index("Age/Gender"), head.index("VoiceName")
    c_file, c_other = head.index("File"), head.index("Other Languages")
    rows = []
    for ln in lines[1:]:
        rows.append(
            {
                "language": ln[c_lang:c_age].strip(),
                "name": ln[c_name:c_file].strip(),
                "file": ln[c_file:c_other].strip(),
                "other": ln[c_other:].strip(),
            }
        )
    return rows


@functools.lru_cache(maxsize=1)
def voice_tables() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(language voices without MBROLA, variant file names), read once per process."""
    langs = _parse_voice_table(_run_espeak(["--voices"]).decode(errors="replace"))
    have_mbrola = shutil.which("mbrola") is not None
    languages = []
    for row in langs:
        if row["file"].startswith("mb/") and not have_mbrola:
            continue  # MBROLA voices need the separate `mbrola` program and voice files
        if _NAME_RE.match(row["language"]) and row["language"] not in languages:
            languages.append(row["language"])
    # aliases such as "(en 2)" make plain "en" usable even though no row has it as its language
    for row in langs:
        if row["file"].startswith("mb/"):
            continue
        for alias in re.findall(r"\(([A-Za-z0-9_-]+) \d+\)", row["other"]):
            if alias not in languages:
                languages.append(alias)
    variants = []
    for row in _parse_voice_table(_run_espeak(["--voices=variant"]).decode(errors="replace")):
        name = row["file"].split("/", 1)[-1]
        if _NAME_RE.match(name) and name not in variants:
            variants.append(name)
    return tuple(languages), tuple(variants)


def available_variants() -> list[str]:
    """Names usable after ``+`` in a voice (``en-us+f3``): espeak-ng's variant files."""
    return list(voice_tables()[1])


def available_voices(language_prefix: str = "en", *, variants: bool = True) -> list[str]:
    """List espeak-ng voices whose language starts with ``language_prefix``.

    Parameters
    ----------
    language_prefix : str
        e.g. ``"en"`` (all English voices), ``"en-gb"``; ``""`` lists every language.
    variants : bool
        Also list every ``voice+variant`` combination (``en-us+f3``, ``en+m3``...).

    Returns
    -------
    list of str
        Base voices first (sorted), then the combinations. MBROLA voices are left out unless the
        ``mbrola`` program is installed.
    """
    if not isinstance(language_prefix, str):
        raise TypeError(f"language_prefix: expected a str, got {language_prefix!r}")
    langs, var = voice_tables()
    base = sorted(v for v in langs if v.startswith(language_prefix))
    if not variants:
        return base
    return base + [f"{b}+{v}" for b in base for v in var]


def check_voice(voice: str) -> None:
    """Raise ``ValueError`` naming ``voice`` unless espeak-ng has it (``lang`` or ``lang+variant``)."""
    if not isinstance(voice, str):
        raise TypeError(f"voice: expected a str such as 'en-us' or 'en-us+f3', got {voice!r}")
    base, _, variant = voice.partition("+")
    langs, var = voice_tables()
    if base not in langs:
        close = [v for v in langs if v.split("-")[0] == base.split("-")[0]][:8]
        raise ValueError(
            f"voice={voice!r}: unknown espeak-ng voice {base!r}"
            + (f"; similar: {close}" if close else "")
            + "; see physnn.data.speech.available_voices()"
        )
    # espeak-ng silently ignores an unknown variant, so check it here
    if variant and variant not in var:
        raise ValueError(
            f"voice={voice!r}: unknown espeak-ng variant {variant!r}; see physnn.data.speech.available_variants()"
        )


def _decode_wav(data: bytes) -> np.ndarray:
    """int16 PCM of a RIFF/WAVE byte string -> float in [-1, 1).

    espeak-ng streaming to a pipe writes placeholder sizes (0x7fffffff) in the header, so the
    data chunk is taken as everything after its header instead of trusting the size field
    (the reason :mod:`wave` / :func:`scipy.io.wavfile.read` are not used here).
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RuntimeError("espeak-ng did not write a WAV stream to stdout")
    pos = 12
    rate = None
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if cid == b"fmt ":
            fmt = data[pos + 8 : pos + 8 + 16]
            channels = int.from_bytes(fmt[2:4], "little")
            rate = int.from_bytes(fmt[4:8], "little")
            bits = int.from_bytes(fmt[14:16], "little")
            if channels != 1 or bits != 16:
                raise RuntimeError(f"espeak-ng WAV: expected 16-bit mono, got {bits}-bit x{channels}")
        elif cid == b"data":
            body = data[pos + 8 :]
            body = body[: len(body) - len(body) % 2]
            if rate != ESPEAK_SAMPLE_RATE:
                raise RuntimeError(f"espeak-ng WAV: expected {ESPEAK_SAMPLE_RATE} Hz, got {rate}")
            return np.frombuffer(body, dtype="<i2").astype(np.float32) / 32768.0
        pos += 8 + size + (size & 1)
    raise RuntimeError("espeak-ng WAV: no data chunk")


def synthesize(
    text: str,
    *,
    voice: str = "en-us",
    speed_wpm: int = 175,
    pitch: int = 50,
    amplitude: int = 100,
    gap_ms: int = 0,
    sample_rate: int = 16000,
) -> np.ndarray:
    """Speak ``text`` with espeak-ng and return the waveform.

    Parameters
    ----------
    text : str
        Words to speak (non-empty).
    voice : str
        espeak-ng voice, optionally with a variant: ``"en-us"``, ``"en-gb-x-rp"``, ``"en-us+f3"``.
    speed_wpm : int
        Speaking rate in words per minute, 80–450 (espeak-ng ``-s``).
    pitch : int
        Pitch adjustment 0–99 (espeak-ng ``-p``; 50 is the voice's normal pitch).
    amplitude : int
        Loudness 0–200 (espeak-ng ``-a``).
    gap_ms : int
        Extra pause between words in ms (espeak-ng ``-g``, rounded to its 10 ms unit).
    sample_rate : int
        Output sample rate in Hz (polyphase resampling from espeak-ng's 22050 Hz).

    Returns
    -------
    numpy.ndarray
        float32 mono waveform in [-1, 1], including espeak-ng's leading/trailing silence.
        Some loud variants saturate espeak-ng's own 16-bit output at ``amplitude=100``
        (lower ``amplitude`` to avoid it); the resampling filter can then ring a few per mille
        past full scale, and those samples are clipped to ±1 (the only clipping done here).

    Raises
    ------
    FileNotFoundError
        If ``espeak-ng`` is not installed (the message names ``apt-get install espeak-ng``).
    ValueError
        For an empty text, an unknown voice or variant, or a parameter out of range.
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("text: must contain something to speak, got an empty string")
    check_int_range(speed_wpm, "speed_wpm", 80, 450)
    check_int_range(pitch, "pitch", 0, 99)
    check_int_range(amplitude, "amplitude", 0, 200)
    check_int_range(gap_ms, "gap_ms", 0, 10_000)
    check_int_range(sample_rate, "sample_rate", 1000, 192_000)
    check_voice(voice)
    args = ["-v", voice, "-s", str(speed_wpm), "-p", str(pitch), "-a", str(amplitude)]
    if gap_ms:
        args += ["-g", str(max(1, round(gap_ms / 10)))]
    # "--" keeps a text starting with "-" from being read as an option
    x = _decode_wav(_run_espeak([*args, "--stdout", "--", text]))
    if sample_rate != ESPEAK_SAMPLE_RATE:
        g = math.gcd(sample_rate, ESPEAK_SAMPLE_RATE)
        x = resample_poly(x, sample_rate // g, ESPEAK_SAMPLE_RATE // g)
    return np.clip(x, -1.0, 1.0).astype(np.float32, copy=False)


@dataclass(frozen=True, kw_only=True)
class SpeakerStyle:
    """One synthetic speaker: espeak-ng voice + variant, speaking rate and pitch.

    Attributes
    ----------
    voice : str
        Base language voice (``"en-us"``, ``"en-gb-x-rp"``...).
    speed_wpm : int
        Speaking rate (words per minute).
    pitch : int
        espeak-ng pitch 0–99.
    variant : str
        espeak-ng variant (``"f3"``, ``"m3"``, ``"klatt2"``...), ``""`` for none.
    """

    voice: str
    speed_wpm: int = 175
    pitch: int = 50
    variant: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.voice, str) or "+" in self.voice:
            raise ValueError(f"voice={self.voice!r}: give the base voice; put the variant in `variant`")
        check_int_range(self.speed_wpm, "speed_wpm", 80, 450)
        check_int_range(self.pitch, "pitch", 0, 99)
        if not isinstance(self.variant, str):
            raise TypeError(f"variant: expected a str, got {self.variant!r}")

    @property
    def speaker_id(self) -> str:
        """``voice+variant``: the speaker identity used for speaker-disjoint splits."""
        return f"{self.voice}+{self.variant}" if self.variant else self.voice

    def synthesize(self, text: str, *, amplitude: int = 100, sample_rate: int = 16000) -> np.ndarray:
        """:func:`synthesize` ``text`` in this style."""
        return synthesize(
            text,
            voice=self.speaker_id,
            speed_wpm=self.speed_wpm,
            pitch=self.pitch,
            amplitude=amplitude,
            sample_rate=sample_rate,
        )


def sample_speakers(
    n: int,
    *,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    voices: Sequence[str] | None = None,
    variants: Sequence[str] | None = None,
    speed_wpm: tuple[int, int] = (120, 240),
    pitch: tuple[int, int] = (20, 85),
) -> list[SpeakerStyle]:
    """Draw ``n`` speakers with distinct ``voice+variant`` identities where possible.

    Parameters
    ----------
    n : int
        Number of speakers (>= 1).
    generator : torch.Generator, optional
        Randomness (None: torch's global generator); the same seeded generator gives the same
        speakers.
    seed : int, optional
        Deprecated (refused in the next release): ``seed=s`` is
        ``generator=physnn.random.generator_from_seed(s)``, with a ``DeprecationWarning``.
    voices : sequence of str, optional
        Base voices to draw from; default every English espeak-ng voice.
    variants : sequence of str, optional
        Variants to combine them with; default :data:`HUMAN_VARIANTS` (those installed) plus
        ``""`` (the plain voice).
    speed_wpm, pitch : (int, int)
        Inclusive uniform ranges for the speaking rate and the pitch of each speaker.

    Returns
    -------
    list of SpeakerStyle
        Identities drawn without replacement from the ``voices x variants`` grid; only when ``n``
        exceeds the grid do identities repeat (with different rate/pitch).
    """
    check_int_range(n, "n", 1)
    if seed is not None:
        if generator is not None:
            raise ValueError("seed: give generator or the deprecated seed, not both")
        generator = legacy_generator(seed, "seed", accept_int=True)
    rng = numpy_rng(generator)
    langs, var = voice_tables()
    if voices is None:
        voices = [v for v in langs if v.startswith("en")]
    if variants is None:
        variants = [""] + [v for v in HUMAN_VARIANTS if v in var]
    voices, variants = list(voices), list(variants)
    if not voices:
        raise ValueError("voices: empty")
    if not variants:
        raise ValueError("variants: empty (use [''] for the plain voices)")
    for v in voices:
        check_voice(v)
        if "+" in v:
            raise ValueError(f"voices: {v!r} holds a variant; pass variants separately")
    for v in variants:
        if v and v not in var:
            raise ValueError(f"variants: unknown espeak-ng variant {v!r}")
    lo_s, hi_s = speed_wpm
    lo_p, hi_p = pitch
    check_int_range(lo_s, "speed_wpm[0]", 80, 450)
    check_int_range(hi_s, "speed_wpm[1]", lo_s, 450)
    check_int_range(lo_p, "pitch[0]", 0, 99)
    check_int_range(hi_p, "pitch[1]", lo_p, 99)
    grid = [(b, v) for b in voices for v in variants]
    idx: list[int] = []
    while len(idx) < n:
        idx.extend(rng.permutation(len(grid))[: n - len(idx)].tolist())
    return [
        SpeakerStyle(
            voice=grid[i][0],
            variant=grid[i][1],
            speed_wpm=int(rng.integers(lo_s, hi_s + 1)),
            pitch=int(rng.integers(lo_p, hi_p + 1)),
        )
        for i in idx
    ]


# ---------------------------------------------------------------------------------------------
# noise and duration helpers
# ---------------------------------------------------------------------------------------------

#: background noises of :func:`add_noise`
NoiseKind = Literal["white", "pink", "babble"]
NOISE_KINDS: tuple[str, ...] = get_args(NoiseKind)


def make_noise(
    kind: str,
    n_samples: int,
    *,
    generator: torch.Generator | None = None,
    babble_sources: Sequence[np.ndarray] | None = None,
    n_talkers: int = 5,
) -> np.ndarray:
    """Zero-mean noise of unit RMS, float32, ``n_samples`` long.

    Parameters
    ----------
    kind : {"white", "pink", "babble"}
        ``white``: Gaussian; ``pink``: 1/f power spectrum (Gaussian spectrum shaped by
        ``1/sqrt(f)`` in the rFFT domain); ``babble``: sum of ``n_talkers`` utterances drawn from
        ``babble_sources`` (e.g. other synthesised words), each tiled and randomly shifted.
    n_samples : int
        Length in samples.
    generator : torch.Generator, optional
        Randomness (None: torch's global generator); numpy draws come from
        :func:`physnn.random.numpy_rng` of it.
    babble_sources : sequence of 1-D arrays
        Required for ``babble``.
    n_talkers : int
        Talkers mixed for ``babble``.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"kind={kind!r}: expected one of {NOISE_KINDS}")
    check_int_range(n_samples, "n_samples", 1)
    rng = numpy_rng(legacy_generator(generator, accept_int=True))
    if kind == "white":
        x = rng.standard_normal(n_samples)
    elif kind == "pink":
        spec = rng.standard_normal(n_samples // 2 + 1) + 1j * rng.standard_normal(n_samples // 2 + 1)
        f = np.arange(spec.size, dtype=float)
        f[0] = 1.0
        spec /= np.sqrt(f)
        spec[0] = 0.0
        x = np.fft.irfft(spec, n=n_samples)
    else:
        if not babble_sources:
            raise ValueError("babble_sources: kind='babble' needs a non-empty list of utterances")
        check_int_range(n_talkers, "n_talkers", 1)
        x = np.zeros(n_samples)
        for _ in range(n_talkers):
            src = np.asarray(babble_sources[int(rng.integers(len(babble_sources)))], dtype=float)
            src = trim_silence(src) if src.size else src
            if src.size == 0 or not np.any(src):
                continue
            reps = -(-n_samples // src.size) + 1
            tiled = np.tile(src / (np.sqrt(np.mean(src**2)) + 1e-12), reps)
            start = int(rng.integers(src.size))
            x += tiled[start : start + n_samples]
    x = x - x.mean()
    rms = float(np.sqrt(np.mean(x**2)))
    if rms == 0.0:
        raise ValueError("babble_sources: all silent, cannot make babble noise")
    return (x / rms).astype(np.float32)


def add_noise(
    signal: np.ndarray,
    snr_db: float,
    *,
    kind: NoiseKind = "white",
    generator: torch.Generator | None = None,
    babble_sources: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Add noise so that ``10 log10(P_signal / P_noise) = snr_db``.

    Both powers are mean squares over the whole array (so for a padded 1 s clip, the silence
    around the word counts in ``P_signal``). The noise is :func:`make_noise` ``(kind, ...,
    generator=generator)`` (None: torch's global generator).

    Raises
    ------
    ValueError
        If ``snr_db`` is not finite or the signal is all zeros (no SNR defined — use
        :func:`make_noise` for noise-only clips).
    """
    generator = legacy_generator(generator, accept_int=True)
    x = np.asarray(signal, dtype=np.float32)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"signal: expected a non-empty 1-D waveform, got shape {x.shape}")
    snr = float(snr_db)
    if not math.isfinite(snr):
        raise ValueError(f"snr_db={snr_db!r}: must be finite (dB)")
    p_sig = float(np.mean(x.astype(np.float64) ** 2))
    if p_sig == 0.0:
        raise ValueError("signal: all zeros, SNR undefined; use make_noise() for noise-only clips")
    noise = make_noise(kind, x.size, generator=generator, babble_sources=babble_sources)
    scale = math.sqrt(p_sig / 10.0 ** (snr / 10.0))
    return (x + scale * noise).astype(np.float32)


def trim_silence(x: np.ndarray, *, threshold: float = 0.01) -> np.ndarray:
    """Cut leading/trailing samples with ``|x| < threshold * max|x|`` (all-zero input: empty)."""
    x = np.asarray(x)
    check_positive(threshold, "threshold")
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0.0:
        return x[:0]
    idx = np.flatnonzero(np.abs(x) >= threshold * peak)
    return x[idx[0] : idx[-1] + 1]


def fit_duration(
    x: np.ndarray,
    *,
    duration_s: float = 1.0,
    sample_rate: int = 16000,
    generator: torch.Generator | None = None,
    trim: bool = True,
    position: str | None = None,
) -> np.ndarray:
    """Place an utterance at a random offset in a zero clip of ``duration_s`` seconds.

    With ``trim`` the espeak-ng silence is removed first (:func:`trim_silence`). With
    ``position="random"`` a shorter utterance gets a uniform random time shift and a longer one
    is cut to a uniformly random window of the right length, drawn from ``generator`` (None:
    torch's global generator); with ``position="centre"`` it is centred (or its centre kept) and
    nothing is drawn.

    ``position=None`` (the default) means ``"random"`` when a generator is given. Without one it
    still centres, as older releases did, with a ``DeprecationWarning``: the next release will
    draw from torch's global generator there, as everywhere else in physnn (pass
    ``position="centre"`` to keep the centred clip).
    """
    check_positive(duration_s, "duration_s")
    check_int_range(sample_rate, "sample_rate", 1)
    if position not in (None, "random", "centre"):
        raise ValueError(f"position={position!r}: expected 'random' or 'centre'")
    generator = legacy_generator(generator, accept_int=True)
    if position is None:
        if generator is None:
            import warnings

            warnings.warn(
                "fit_duration: without a generator the clip is centred for one more release; the "
                "next release draws the shift from torch's global generator (pass position='centre' "
                "to keep it centred, or a generator)",
                DeprecationWarning,
                stacklevel=2,
            )
        position = "random" if generator is not None else "centre"
    n = int(round(duration_s * sample_rate))
    if n < 1:
        raise ValueError(f"duration_s={duration_s}: shorter than one sample at {sample_rate} Hz")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"x: expected a 1-D waveform, got shape {x.shape}")
    if trim:
        x = trim_silence(x)
    out = np.zeros(n, dtype=np.float32)
    slack = n - x.size
    rng = numpy_rng(generator) if position == "random" else None
    if slack >= 0:
        off = int(rng.integers(slack + 1)) if rng is not None else slack // 2
        out[off : off + x.size] = x
    else:
        off = int(rng.integers(-slack + 1)) if rng is not None else (-slack) // 2
        out[:] = x[off : off + n]
    return out
