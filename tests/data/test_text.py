"""Character-level LM data from pydoc_data.topics and bits per character (physnn.data.text)."""

import collections
import math
import string

import pytest
import torch

from physnn.data import text as T


@pytest.fixture(scope="module")
def corpus():
    return T.load_char_corpus()


def test_corpus_is_offline_english_and_split_contiguously(corpus):
    raw = T.corpus_text()
    assert len(raw) > 200_000  # the reference manual's help topics
    assert corpus.vocab.size == len(string.printable) + 1 == 101
    n = sum(corpus.split(s).numel() for s in ("train", "val", "test"))
    assert n == len(raw)
    assert corpus.train.numel() == pytest.approx(0.9 * n, abs=1)
    # contiguous: concatenating the splits gives back the text
    joined = torch.cat([corpus.train, corpus.val, corpus.test])
    assert corpus.vocab.decode(joined[:2000]) == raw[:2000]
    assert 0 < corpus.unk_fraction < 0.01  # typographic quotes etc.


def test_vocab_roundtrip_and_unk():
    v = T.CharVocab()
    ids = v.encode("def f(x):\n\treturn x’")
    assert ids[-1] == v.unk_index == 100
    assert v.decode(ids) == "def f(x):\n\treturn x\ufffd"
    with pytest.raises(ValueError, match="duplicate"):
        T.CharVocab("aab")
    with pytest.raises(ValueError, match="ids"):
        v.decode([101])


def test_bpc_of_uniform_model_is_log2_vocab(corpus):
    x, y = next(T.char_lm_batches(corpus.val, seq_len=50, batch_size=8))
    logits = torch.full((8, 50, corpus.vocab.size), 3.7)  # any constant: uniform softmax
    assert T.bits_per_character(logits, y) == pytest.approx(math.log2(101), rel=1e-12)


def test_bpc_of_known_unigram_model():
    # p = (1/2, 1/4, 1/4): -log2 p = (1, 2, 2) bits; targets 0,1,2,0 -> (1+2+2+1)/4 = 1.5 bits
    p = torch.tensor([0.5, 0.25, 0.25])
    logits = torch.log(p).expand(4, 3)
    assert T.bits_per_character(logits, torch.tensor([0, 1, 2, 0])) == pytest.approx(1.5, rel=1e-12)
    # logits are only defined up to a constant
    assert T.bits_per_character(logits + 10.0, torch.tensor([0, 1, 2, 0])) == pytest.approx(1.5)


def test_unigram_model_of_training_text_gives_its_entropy(corpus):
    counts = torch.bincount(corpus.train, minlength=corpus.vocab.size).double()
    p = counts / counts.sum()
    h = -sum(float(q) * math.log2(float(q)) for q in p if q > 0)  # Shannon entropy (bits)
    logits = torch.log(p.clamp_min(1e-300)).float()
    sample = corpus.train[:20000]
    freq = collections.Counter(sample.tolist())
    expected = -sum(c * math.log2(float(p[i])) for i, c in freq.items()) / sample.numel()
    got = T.bits_per_character(logits.expand(sample.numel(), -1), sample)
    assert got == pytest.approx(expected, rel=1e-5)
    assert 4.0 < h < 5.0  # English+code characters: ~4.3-4.6 bits unigram entropy


def test_batches_are_shifted_and_contiguous(corpus):
    data = corpus.train
    it = list(T.char_lm_batches(data, seq_len=64, batch_size=4))
    x0, y0 = it[0]
    x1, _ = it[1]
    assert x0.shape == y0.shape == (4, 64)
    assert torch.equal(x0[:, 1:], y0[:, :-1])
    assert torch.equal(y0[:, -1], x1[:, 0])  # row b of batch k+1 continues row b of batch k
    stream = data.numel() // 4
    assert torch.equal(x0[1], data[stream : stream + 64])
    assert len(it) == (stream - 1) // 64
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    a = [x for x, _ in T.char_lm_batches(data[:5000], seq_len=32, batch_size=2, shuffle=True, generator=g1)]
    b = [x for x, _ in T.char_lm_batches(data[:5000], seq_len=32, batch_size=2, shuffle=True, generator=g2)]
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], it[0][0][:2, :32])


def test_dataset_windows(corpus):
    ds = T.CharLMDataset(corpus.val, seq_len=100)
    assert len(ds) == (corpus.val.numel() - 1) // 100
    x, y = ds[3]
    assert torch.equal(x, corpus.val[300:400]) and torch.equal(y, corpus.val[301:401])
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_bad_input():
    with pytest.raises(ValueError, match="logits"):
        T.bits_per_character(torch.zeros(4, 3), torch.zeros(5, dtype=torch.int64))
    with pytest.raises(ValueError, match="targets"):
        T.bits_per_character(torch.zeros(4, 3), torch.tensor([0, 1, 3, 0]))
    with pytest.raises(ValueError, match="seq_len"):
        next(T.char_lm_batches(torch.arange(10), seq_len=20, batch_size=1))
    with pytest.raises(TypeError, match="data"):
        next(T.char_lm_batches(torch.arange(10.0), seq_len=2, batch_size=1))
    with pytest.raises(ValueError, match="fractions"):
        T.load_char_corpus(fractions=(0.9, 0.2, 0.1))
