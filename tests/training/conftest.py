import pytest
import torch

from physnn.data.split import ClassificationSplit


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def blobs(n_train=240, n_test=120, d=8, classes=3, seed=0, sep=2.5):
    """Gaussian blobs: a tiny classification problem (chance 1/classes)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, d, generator=g) * sep / d**0.5

    def draw(n):
        y = torch.randint(0, classes, (n,), generator=g)
        return (centres[y] + 0.5 * torch.randn(n, d, generator=g)).float(), y

    xtr, ytr = draw(n_train)
    xte, yte = draw(n_test)
    return ClassificationSplit(xtr, ytr, xte, yte, classes, "blobs")


@pytest.fixture
def tiny():
    return blobs()


@pytest.fixture
def tiny_split():
    """Three Gaussian blobs in 6 dimensions, 96 train / 48 test samples (seed 0): a split small
    enough for pulsed-write trainers to run in a test."""
    g = torch.Generator().manual_seed(0)
    c = torch.randn(3, 6, generator=g)

    def draw(m):
        y = torch.randint(0, 3, (m,), generator=g)
        return c[y] + 0.3 * torch.randn(m, 6, generator=g), y

    return ClassificationSplit(*draw(96), *draw(48), 3, "tiny")
