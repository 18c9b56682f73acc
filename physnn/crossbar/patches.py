"""The receptive fields of a convolution as the rows of a matrix: eagerly (:func:`unfold_columns`)
or as the image and its geometry (:class:`PatchColumns`, what the tiled read of a convolution takes)."""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["PatchColumns", "unfold_columns"]


def unfold_columns(
    x: torch.Tensor, kernel_size: tuple[int, int], dilation: tuple[int, int] = (1, 1), stride: tuple[int, int] = (1, 1)
) -> torch.Tensor:
    """Receptive fields of a padded ``(N, C, H, W)`` input as rows: ``(N, L, C * kh * kw)``.

    The same numbers in the same order as
    ``F.unfold(x, kernel_size, dilation=dilation, stride=stride).transpose(-1, -2)`` (columns
    channel-major, then kernel row, then kernel column; ``L`` output positions row-major), built
    as a strided view (``Tensor.unfold`` per spatial dimension) and ONE copy into this layout:
    ``F.unfold`` writes ``(N, C*kh*kw, L)`` and the transpose needs a second copy (2.5x the time
    of this for a 64-channel 32 x 32 batch of 64; pure data movement, so the two are equal bit
    for bit, ``tests/crossbar/test_convert_workflows.py``).
    """
    (kh, kw), (dh, dw), (sh, sw) = kernel_size, dilation, stride
    v = x.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)  # (N, C, Ho, Wo, span_h, span_w)
    if dh > 1 or dw > 1:
        v = v[..., ::dh, ::dw]
    n, c, ho, wo = v.shape[:4]
    return v.permute(0, 2, 3, 1, 4, 5).reshape(n, ho * wo, c * kh * kw).contiguous()


class PatchColumns(NamedTuple):
    """The unfolded columns of a padded image batch (materialised by :meth:`columns` when read).

    ``x`` ``(N, C, H, W)`` (already padded), with ``kernel_size``, ``dilation`` and ``stride``
    (pairs; a 1-d convolution is a height-1 image with kernel height 1) and ``lead``, the leading
    dimensions of the convolution's input (product ``N``; ``(E, B)`` for one input per chip). The
    matrix it stands for is :meth:`matrix`, ``(*lead, Ho * Wo, C * kh * kw)``: what
    :class:`~physnn.crossbar.tiles.TiledAnalogLinear` reads when given this instead of a tensor.
    """

    x: torch.Tensor
    kernel_size: tuple[int, int]
    dilation: tuple[int, int]
    stride: tuple[int, int]
    lead: tuple[int, ...] = ()

    @property
    def out_size(self) -> tuple[int, int]:
        """``(Ho, Wo)``: output positions per image."""
        return tuple(
            (n - dl * (k - 1) - 1) // s + 1
            for n, k, dl, s in zip(self.x.shape[-2:], self.kernel_size, self.dilation, self.stride)
        )

    @property
    def width(self) -> int:
        """Columns: ``C * kh * kw``."""
        return self.x.shape[1] * self.kernel_size[0] * self.kernel_size[1]

    def columns(self) -> torch.Tensor:
        """The materialised rows ``(N, Ho * Wo, C * kh * kw)`` (:func:`unfold_columns`)."""
        return unfold_columns(self.x, self.kernel_size, self.dilation, self.stride)

    def matrix(self) -> torch.Tensor:
        """The materialised matrix with the leading dimensions: ``(*lead, Ho * Wo, C * kh * kw)``."""
        c = self.columns()
        return c.reshape(*(self.lead or (self.x.shape[0],)), c.shape[-2], c.shape[-1])
