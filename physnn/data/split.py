"""A labelled train/test split of fixed-length feature vectors (the classification benchmarks)."""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["ClassificationSplit"]


class ClassificationSplit(NamedTuple):
    """Train and test features ``(N, D)`` (float32, dimensionless) with integer labels ``(N,)``.

    ``n_classes`` is the number of classes; ``name`` says where the data come from.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    name: str

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[-1])

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> "ClassificationSplit":
        """The first ``n_train`` training and ``n_test`` test samples (for quick runs)."""
        return self._replace(x_train=self.x_train[:n_train], y_train=self.y_train[:n_train],
                             x_test=self.x_test[:n_test], y_test=self.y_test[:n_test])
