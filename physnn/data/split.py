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

    def validation_split(self, fraction: float, *, generator: torch.Generator | None = None) -> "ClassificationSplit":
        """Carve a stratified validation set out of the *training* set.

        Returns a split whose ``x_train``/``y_train`` are the rest of the training set and whose
        ``x_test``/``y_test`` are the validation samples (``round(fraction * n)`` of each class,
        at least one); this split's own test set is not in it, so a model selected on the result
        has never seen the test set.

        Parameters
        ----------
        fraction : float
            Fraction of each class's training samples held out, in ``(0, 1)``.
        generator : torch.Generator, optional
            Draws which samples are held out.

        Raises
        ------
        ValueError
            If ``fraction`` is not in ``(0, 1)`` or a class has fewer than two training samples.
        """
        from ..random import check_generator

        generator = check_generator(generator)
        if isinstance(fraction, bool) or not 0.0 < float(fraction) < 1.0:
            raise ValueError(f"fraction={fraction!r}: must be in (0, 1)")
        val = []
        for c in torch.unique(self.y_train).tolist():
            idx = torch.nonzero(self.y_train == c).flatten()
            if idx.numel() < 2:
                raise ValueError(f"fraction: class {c} has {idx.numel()} training sample(s); need >= 2 to hold one out")
            k = min(idx.numel() - 1, max(1, round(float(fraction) * idx.numel())))
            val.append(idx[torch.randperm(idx.numel(), generator=generator)[:k]])
        v = torch.sort(torch.cat(val)).values
        keep = torch.ones(self.y_train.shape[0], dtype=torch.bool)
        keep[v] = False
        return self._replace(
            x_train=self.x_train[keep],
            y_train=self.y_train[keep],
            x_test=self.x_train[v],
            y_test=self.y_train[v],
            name=f"{self.name} (validation {float(fraction):g} of train)",
        )

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> "ClassificationSplit":
        """The first ``n_train`` training and ``n_test`` test samples (for quick runs)."""
        return self._replace(
            x_train=self.x_train[:n_train],
            y_train=self.y_train[:n_train],
            x_test=self.x_test[:n_test],
            y_test=self.y_test[:n_test],
        )
