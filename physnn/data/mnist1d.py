"""MNIST-1D (Greydanus & Kobak, "Scaling down deep learning with MNIST-1D", ICML 2024,
arXiv:2011.14439), generated offline with the ``mnist1d`` package's own ``make_dataset``.

The standard set is ``make_dataset(get_dataset_args())``: 5000 length-40 signals, the first 4000
for training and the last 1000 for testing (``train_split=0.8``). It is built locally from the
package's templates; the package's ``get_dataset``, which fetches a pickle over the network, is never called.
The result is cached under ``cache_dir("mnist1d")`` keyed by seed.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from .._resources import cache_dir
from ..random import check_seed
from .split import ClassificationSplit

__all__ = ["build_mnist1d", "STANDARD_SEED"]

#: seed of the standard MNIST-1D set (``get_dataset_args()["seed"]``)
STANDARD_SEED = 42


def build_mnist1d(seed: int = STANDARD_SEED, *, cache: bool = True) -> ClassificationSplit:
    """MNIST-1D as ``(4000, 40)`` train and ``(1000, 40)`` test float32 signals, labels 0-9.

    Parameters
    ----------
    seed : int
        Seed of the generator; 42 (default) is the standard set.
    cache : bool
        Read/write ``cache_dir("mnist1d") / f"mnist1d-{seed}.pt"``.

    Notes
    -----
    ``mnist1d.make_dataset`` seeds Python's and NumPy's global generators; their states are
    saved before and restored after, so building the set leaves the caller's randomness alone.
    """
    seed = check_seed(seed)
    path = cache_dir("mnist1d") / f"mnist1d-{seed}.pt" if cache else None
    if path is not None and path.exists():
        d = torch.load(path, weights_only=True)
    else:
        try:
            from mnist1d.data import get_dataset_args, make_dataset
        except ImportError as exc:  # pragma: no cover - environment
            raise ImportError("build_mnist1d needs the mnist1d package (pip install mnist1d)") from exc
        args = get_dataset_args()
        args.seed = seed
        np_state, py_state = np.random.get_state(), random.getstate()
        try:
            ds = make_dataset(args)
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)
        d = {
            "x_train": torch.as_tensor(ds["x"], dtype=torch.float32),
            "y_train": torch.as_tensor(ds["y"], dtype=torch.long),
            "x_test": torch.as_tensor(ds["x_test"], dtype=torch.float32),
            "y_test": torch.as_tensor(ds["y_test"], dtype=torch.long),
        }
        if path is not None:
            torch.save(d, path)
    return ClassificationSplit(d["x_train"], d["y_train"], d["x_test"], d["y_test"], 10, "MNIST-1D (standard split)")
