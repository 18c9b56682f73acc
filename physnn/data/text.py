"""Character-level language modelling on text that ships with Python: ``pydoc_data.topics``.

CPython's ``pydoc_data.topics.topics`` holds the reference-manual sections behind ``help()``
(~465 000 characters of English prose and code in Python 3.11; the exact text depends on the
Python version, so :attr:`CharCorpus.sha256` identifies it). Nothing is downloaded.

* :class:`CharVocab` — printable ASCII (``string.printable``, 100 symbols) plus ``<unk>``.
* :func:`load_char_corpus` — the encoded text split into contiguous train / val / test parts.
* :func:`char_lm_batches` — ``(input, target)`` index batches for truncated BPTT: the split is
  cut into ``batch_size`` parallel streams and read window after window, so a recurrent state can
  be carried across batches (the usual PTB character-LM protocol); or shuffled windows.
* :class:`CharLMDataset` — non-overlapping windows as a :class:`torch.utils.data.Dataset`.
* :func:`bits_per_character` — mean cross-entropy in bits (nats / ln 2).

Examples
--------
>>> import torch
>>> from physnn.data.text import load_char_corpus, char_lm_batches, bits_per_character
>>> corpus = load_char_corpus()
>>> x, y = next(char_lm_batches(corpus.train, seq_len=100, batch_size=32))
>>> x.shape, y.shape
(torch.Size([32, 100]), torch.Size([32, 100]))
>>> uniform = torch.zeros(32, 100, corpus.vocab.size)
>>> round(bits_per_character(uniform, y), 4)   # log2(101)
6.6582
"""

from __future__ import annotations

import hashlib
import math
import string
from dataclasses import dataclass
from typing import Iterator

import torch

from physnn._checks import check_int_range
from physnn.random import check_generator

__all__ = [
    "UNK",
    "CharVocab",
    "CharCorpus",
    "CharLMDataset",
    "corpus_text",
    "load_char_corpus",
    "char_lm_batches",
    "bits_per_character",
]

#: Token standing for any character outside the vocabulary.
UNK = "<unk>"


def corpus_text() -> str:
    """The raw corpus: every ``pydoc_data.topics`` entry, in sorted key order, blank-line separated."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics))


@dataclass(frozen=True)
class CharVocab:
    """Character vocabulary; index ``size - 1`` is ``<unk>``.

    Parameters
    ----------
    chars : str
        The known characters, each once (default ``string.printable``).
    """

    chars: str = string.printable

    def __post_init__(self) -> None:
        if not isinstance(self.chars, str) or not self.chars:
            raise ValueError(f"chars: expected a non-empty str, got {self.chars!r}")
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("chars: contains duplicate characters")

    @property
    def size(self) -> int:
        """Number of symbols including ``<unk>``."""
        return len(self.chars) + 1

    @property
    def unk_index(self) -> int:
        """Index of ``<unk>``."""
        return len(self.chars)

    @property
    def symbols(self) -> list[str]:
        """Every symbol, by index."""
        return [*self.chars, UNK]

    def encode(self, text: str) -> torch.Tensor:
        """int64 indices of ``text``; unknown characters map to :attr:`unk_index`."""
        if not isinstance(text, str):
            raise TypeError(f"text: expected a str, got {type(text).__name__}")
        lut = self._lut()
        unk = self.unk_index
        return torch.tensor([lut.get(c, unk) for c in text], dtype=torch.int64)

    def decode(self, ids) -> str:
        """Inverse of :meth:`encode` (``<unk>`` is written as ``\\ufffd``)."""
        ids = torch.as_tensor(ids).reshape(-1).tolist()
        out = []
        for i in ids:
            if not 0 <= i < self.size:
                raise ValueError(f"ids: index {i} outside the vocabulary [0, {self.size})")
            out.append(self.chars[i] if i < len(self.chars) else "\ufffd")
        return "".join(out)

    def _lut(self) -> dict[str, int]:
        lut = self.__dict__.get("_lut_cache")
        if lut is None:
            lut = {c: i for i, c in enumerate(self.chars)}
            object.__setattr__(self, "_lut_cache", lut)
        return lut


@dataclass(frozen=True)
class CharCorpus:
    """Encoded corpus split into contiguous parts (int64 1-D tensors)."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    vocab: CharVocab
    sha256: str
    unk_fraction: float

    def split(self, name: str) -> torch.Tensor:
        """``"train"``, ``"val"`` or ``"test"``."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"name={name!r}: expected 'train', 'val' or 'test'")
        return getattr(self, name)


def load_char_corpus(
    *, fractions: tuple[float, float, float] = (0.9, 0.05, 0.05), vocab: CharVocab | None = None
) -> CharCorpus:
    """Encode :func:`corpus_text` and cut it into contiguous train / val / test parts.

    Parameters
    ----------
    fractions : (float, float, float)
        Positive shares of the text, summing to 1, in this order.
    vocab : CharVocab, optional
        Default: printable ASCII + ``<unk>`` (101 symbols); the ~0.1 % of typographic quotes and
        dashes in the text become ``<unk>``.
    """
    if len(fractions) != 3 or any(not f > 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions={fractions!r}: need three positive shares summing to 1")
    vocab = CharVocab() if vocab is None else vocab
    if not isinstance(vocab, CharVocab):
        raise TypeError(f"vocab: expected a CharVocab, got {type(vocab).__name__}")
    text = corpus_text()
    ids = vocab.encode(text)
    n = ids.numel()
    a = int(round(fractions[0] * n))
    b = a + int(round(fractions[1] * n))
    return CharCorpus(
        train=ids[:a],
        val=ids[a:b],
        test=ids[b:],
        vocab=vocab,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        unk_fraction=float((ids == vocab.unk_index).float().mean()),
    )


def _check_data(data) -> torch.Tensor:
    if not isinstance(data, torch.Tensor) or data.ndim != 1 or data.dtype != torch.int64:
        raise TypeError("data: expected a 1-D int64 tensor of character indices")
    return data


def char_lm_batches(
    data: torch.Tensor,
    *,
    seq_len: int,
    batch_size: int,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(input, target)`` int64 batches of shape ``(batch_size, seq_len)``.

    ``data`` is cut into ``batch_size`` contiguous streams of ``len(data) // batch_size``
    characters (the remainder is dropped); window ``k`` is ``streams[:, k*seq_len : (k+1)*seq_len]``
    and the target is the input shifted by one character. Without ``shuffle`` row ``b`` of batch
    ``k + 1`` continues row ``b`` of batch ``k`` (carry the RNN state); with ``shuffle`` the
    window order is permuted with ``generator``. A final shorter window is dropped.

    Raises
    ------
    ValueError
        If a stream is too short for one window of ``seq_len + 1`` characters.
    """
    data = _check_data(data)
    generator = check_generator(generator)
    check_int_range(seq_len, "seq_len", 1)
    check_int_range(batch_size, "batch_size", 1)
    stream = data.numel() // batch_size
    n_win = (stream - 1) // seq_len
    if n_win < 1:
        raise ValueError(
            f"seq_len={seq_len}, batch_size={batch_size}: {data.numel()} characters give streams of "
            f"{stream}, too short for one window of seq_len + 1"
        )
    streams = data[: stream * batch_size].view(batch_size, stream)
    order = torch.randperm(n_win, generator=generator) if shuffle else torch.arange(n_win)
    for k in order.tolist():
        s = k * seq_len
        yield streams[:, s : s + seq_len], streams[:, s + 1 : s + seq_len + 1]


class CharLMDataset(torch.utils.data.Dataset):
    """Non-overlapping windows of a split: item ``i`` is ``(data[i*L : i*L+L], data[i*L+1 : i*L+L+1])``."""

    def __init__(self, data: torch.Tensor, seq_len: int) -> None:
        self.data = _check_data(data)
        self.seq_len = check_int_range(seq_len, "seq_len", 1)
        self._n = (data.numel() - 1) // seq_len
        if self._n < 1:
            raise ValueError(f"seq_len={seq_len}: longer than the data ({data.numel()} characters) - 1")

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -self._n <= i < self._n:
            raise IndexError(f"index {i} out of range for {self._n} windows")
        s = (i % self._n) * self.seq_len
        return self.data[s : s + self.seq_len], self.data[s + 1 : s + self.seq_len + 1]


def bits_per_character(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean cross-entropy of ``targets`` under ``softmax(logits)``, in bits per character.

    Parameters
    ----------
    logits : torch.Tensor
        ``(..., V)`` unnormalised log-probabilities.
    targets : torch.Tensor
        ``(...)`` integer indices in ``[0, V)``.

    Returns
    -------
    float
        ``mean(-log softmax(logits)[target]) / ln 2``.
    """
    if not isinstance(logits, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise TypeError("logits, targets: expected torch tensors")
    if logits.ndim < 1 or logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)}: logits must be "
            "targets.shape + (vocab_size,)"
        )
    if targets.numel() == 0:
        raise ValueError("targets: empty")
    if targets.dtype.is_floating_point:
        raise TypeError(f"targets: expected integer indices, got {targets.dtype}")
    v = logits.shape[-1]
    if int(targets.min()) < 0 or int(targets.max()) >= v:
        raise ValueError(f"targets: indices must lie in [0, {v})")
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, v).double(), targets.reshape(-1).long(), reduction="mean")
    if not torch.isfinite(ce):
        raise ValueError("logits: cross-entropy is not finite (NaN/inf logits?)")
    return float(ce) / math.log(2.0)
