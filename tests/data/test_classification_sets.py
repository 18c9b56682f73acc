"""Offline classification sets: scikit-learn digits and MNIST-1D (standard 4000/1000 split)."""

import random

import numpy as np
import pytest
import torch

from physnn.data.digits import build_digits
from physnn.data.mnist1d import build_mnist1d


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PHYSNN_CACHE", str(tmp_path))


def test_mnist1d_standard_split_offline():
    np.random.seed(7)
    random.seed(7)
    before = (np.random.random(), random.random())
    np.random.seed(7)
    random.seed(7)
    d = build_mnist1d()
    after = (np.random.random(), random.random())
    assert before == after  # the package's global seeding is undone
    assert d.x_train.shape == (4000, 40) and d.x_test.shape == (1000, 40)
    assert d.y_train.dtype == torch.long and set(d.y_train.tolist()) == set(range(10))
    # make_dataset standardises the whole set: mean 0, std 1 (Greydanus & Kobak 2024)
    allx = torch.cat([d.x_train, d.x_test])
    assert abs(float(allx.mean())) < 1e-4 and abs(float(allx.std()) - 1) < 1e-3
    d2 = build_mnist1d()  # from the cache, identical
    assert torch.equal(d.x_train, d2.x_train) and torch.equal(d.y_test, d2.y_test)


def test_digits_split():
    d = build_digits(0)
    assert d.x_train.shape[1] == 64 and d.x_train.shape[0] + d.x_test.shape[0] == 1797
    assert float(d.x_train.min()) >= 0 and float(d.x_train.max()) <= 1
    counts = torch.bincount(d.y_test, minlength=10)
    assert int(counts.min()) >= 43  # stratified: ~45 per class
    with pytest.raises(ValueError, match="test_fraction"):
        build_digits(0, test_fraction=1.5)
