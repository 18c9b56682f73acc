"""scikit-learn's 8x8 handwritten digits as a seeded, stratified train/test split.

The 1797 images ship inside scikit-learn (nothing is downloaded). Pixels (0-16) are scaled to
``[0, 1]``. The split is cached under ``cache_dir("digits")``, keyed by seed and test fraction.
"""

from __future__ import annotations

import torch

from .._io import atomic_write
from .._resources import cache_dir
from ..random import check_seed
from .split import ClassificationSplit

__all__ = ["build_digits"]


def build_digits(seed: int = 0, *, test_fraction: float = 0.25, cache: bool = True) -> ClassificationSplit:
    """Digits 0-9 as ``(N, 64)`` float32 features in ``[0, 1]``.

    Parameters
    ----------
    seed : int
        Seed of the stratified shuffle split.
    test_fraction : float
        Fraction of the 1797 images held out for testing, in ``(0, 1)``.
    cache : bool
        Read/write ``cache_dir("digits") / f"digits-{seed}-{test_fraction}.pt"``.
    """
    seed = check_seed(seed)
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction={test_fraction!r}: must be in (0, 1)")
    path = cache_dir("digits") / f"digits-{seed}-{float(test_fraction):g}.pt" if cache else None
    if path is not None and path.exists():
        d = torch.load(path, weights_only=True)
    else:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        X, y = load_digits(return_X_y=True)
        xtr, xte, ytr, yte = train_test_split(
            X / 16.0, y, test_size=float(test_fraction), random_state=seed, stratify=y
        )
        d = {
            "x_train": torch.as_tensor(xtr, dtype=torch.float32),
            "y_train": torch.as_tensor(ytr, dtype=torch.long),
            "x_test": torch.as_tensor(xte, dtype=torch.float32),
            "y_test": torch.as_tensor(yte, dtype=torch.long),
        }
        if path is not None:  # atomic: parallel sweep workers may build the same split
            atomic_write(path, lambda tmp: torch.save(d, tmp))
    return ClassificationSplit(d["x_train"], d["y_train"], d["x_test"], d["y_test"], 10, "sklearn digits 8x8")
