"""Convolutions on crossbar arrays: one unfold (im2col), then ONE read of a tiled analog matrix.

:class:`AnalogConv1d` and :class:`AnalogConv2d` are drop-in ``nn.Conv1d`` / ``nn.Conv2d``
(stride, padding incl. ``"same"``/``"valid"`` and the padding modes, dilation, groups, bias).
A forward pads the input, unfolds every receptive field into a column
(``torch.nn.functional.unfold``; a 1-d input as a height-1 image) and reads all of them in one
call of :class:`~physnn.crossbar.tiles.TiledAnalogLinear`, whose matrix is the kernel reshaped
to ``(out_channels, in_channels/groups * prod(kernel_size))`` and whose groups are the
convolution's groups (each group on arrays of its own; all tiles of all groups are members of
one :class:`~physnn.crossbar.read.ReadSpec`). The programmed chip, ``program()``,
``set_time()``, ``train()``-mode noise and the ``state_dict`` (``linear.tiles.<k>.*``) are the
tiled layer's, i.e. :class:`~physnn.crossbar.AnalogLinear`'s per tile.

Why a tiled matrix and not one layer per group: a group is just more tiles, so a grouped or
depthwise convolution is still one batched read; and a layer per kernel position would need
the input's DAC range per position, which an unfolded column has by construction (the DAC
scales each column, i.e. each receptive field, by its abs-max within each tile's input slice).

Layouts: ``(B, C, *spatial)`` shared by the ``E`` chips -> ``(E, B, C_out, *spatial_out)``;
``(E, B, C, *spatial)`` one input per chip; an unbatched ``(C, *spatial)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int_range
from .config import CrossbarConfig
from .patches import PatchColumns, unfold_columns
from .tiles import TileMapping, TiledAnalogLinear

__all__ = ["AnalogConv1d", "AnalogConv2d", "unfold_columns"]

_MODES = ("zeros", "reflect", "replicate", "circular")


def _tuple(v: Any, d: int, name: str) -> tuple[int, ...]:
    t = tuple(v) if isinstance(v, (tuple, list)) else (v,) * d
    if len(t) != d:
        raise ValueError(f"{name}={v!r}: expected an int or {d} ints")
    for k in t:
        check_int_range(k, name, 1 if name != "padding" else 0)
    return t


class _AnalogConvNd(nn.Module):
    _d = 0
    _float = nn.Module

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        config: CrossbarConfig,
        tile: TileMapping = TileMapping(),
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        backend: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        d = self._d
        check_int_range(in_channels, "in_channels", 1)
        check_int_range(out_channels, "out_channels", 1)
        check_int_range(groups, "groups", 1)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups}: must divide in_channels={in_channels} and out_channels={out_channels}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _tuple(kernel_size, d, "kernel_size")
        self.stride = _tuple(stride, d, "stride")
        self.dilation = _tuple(dilation, d, "dilation")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"padding={padding!r}: must be 'same', 'valid' or ints")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same': needs stride 1 (as torch.nn.Conv)")
            self.padding: Any = padding
        else:
            self.padding = _tuple(padding, d, "padding")
        if padding_mode not in _MODES:
            raise ValueError(f"padding_mode={padding_mode!r}: must be one of {_MODES}")
        self.padding_mode = padding_mode
        # F.pad amounts, last spatial dimension first (as torch's _reversed_padding_repeated_twice)
        pads: list[int] = []
        for k, dl, i in zip(reversed(self.kernel_size), reversed(self.dilation), reversed(range(d))):
            if self.padding == "valid":
                lo = hi = 0
            elif self.padding == "same":
                total = dl * (k - 1)
                lo, hi = total // 2, total - total // 2
            else:
                lo = hi = self.padding[i]
            pads += [lo, hi]
        self._pads = tuple(pads)
        self.linear = TiledAnalogLinear(
            in_channels * math.prod(self.kernel_size),
            out_channels,
            bias,
            groups=groups,
            config=config,
            tile=tile,
            ensemble=ensemble,
            generator=generator,
            backend=backend,
            device=device,
            dtype=dtype,
        )

    # -- delegation to the tiled matrix -------------------------------------------------------
    @property
    def weight(self) -> torch.Tensor:
        """Float kernel ``(out_channels, in_channels/groups, *kernel_size)`` (a new tensor)."""
        return self.linear.weight.view(self.out_channels, self.in_channels // self.groups, *self.kernel_size)

    @property
    def bias(self) -> torch.Tensor | None:
        return self.linear.bias

    @property
    def config(self) -> CrossbarConfig:
        return self.linear.config

    @property
    def ensemble(self) -> int | None:
        return self.linear.ensemble

    @property
    def t_inference(self) -> float:
        return self.linear.t_inference

    def program(self, generator: torch.Generator | None = None):
        """Program every tile (see :meth:`TiledAnalogLinear.program`)."""
        self.linear.program(generator)
        return self

    def set_time(self, t_inference: float, generator: torch.Generator | None = None):
        """Drift, read-noise state and drift compensation of every tile at ``t_inference`` s."""
        self.linear.set_time(t_inference, generator)
        return self

    def copy_weight_(self, weight: torch.Tensor):
        """Write a float kernel ``(out, in/groups, *kernel_size)`` (a later read re-programs)."""
        want = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        if not isinstance(weight, torch.Tensor) or tuple(weight.shape) != want:
            raise ValueError(f"weight: expected a tensor of shape {want}, got {getattr(weight, 'shape', weight)!r}")
        self.linear.copy_weight_(weight.reshape(self.out_channels, -1))
        return self

    # -- the read -----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d, E = self._d, self.ensemble
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"x: expected a floating-point tensor, got {type(x).__name__}")
        nd = x.dim()
        per_member = E is not None and nd == d + 3
        if nd not in (d + 1, d + 2) and not per_member:
            raise ValueError(
                "x: expected (C, *spatial), (B, C, *spatial)"
                + (f" or (E={E}, B, C, *spatial)" if E is not None else "")
                + f" with {d} spatial dimensions, got shape {tuple(x.shape)}"
            )
        if per_member and x.shape[0] != E:
            raise ValueError(f"x: a per-member input needs leading dimension ensemble={E}, got shape {tuple(x.shape)}")
        C = x.shape[-d - 1]
        if C != self.in_channels:
            raise ValueError(
                f"x: expected in_channels={self.in_channels} channels at dim {-d - 1}, got shape {tuple(x.shape)}"
            )
        lead = x.shape[: -d - 1] if nd > d + 1 else (1,)
        xb = x.reshape(-1, C, *x.shape[-d:])
        if any(self._pads):
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            xb = F.pad(xb, self._pads, mode=mode)
        if d == 1:
            xb = xb.unsqueeze(-2)
        k = self.kernel_size if d == 2 else (1, *self.kernel_size)
        dil = self.dilation if d == 2 else (1, *self.dilation)
        st = self.stride if d == 2 else (1, *self.stride)
        sp = xb.shape[-2:]
        out_sp = tuple((n - dl * (kk - 1) - 1) // s + 1 for n, kk, dl, s in zip(sp, k, dil, st))
        if any(n < 1 for n in out_sp):
            raise ValueError(f"x: spatial size {tuple(x.shape[-d:])} is smaller than the (dilated, padded) kernel")
        # the read of the unfolded columns (N, L, C * prod(k)): TiledAnalogLinear.read_patches
        # (the plain unfold + read, or its compact equal), (E?, *lead, L, out)
        y = self.linear(PatchColumns(xb, k, dil, st, tuple(lead)), shared_input=None if E is None else not per_member)
        y = y.movedim(-1, -2)
        spatial = out_sp if d == 2 else out_sp[1:]
        y = y.reshape(*y.shape[:-1], *spatial)
        if nd == d + 1:  # unbatched
            y = y.squeeze(-d - 2)
        return y

    # -- conversion ---------------------------------------------------------------------------
    @classmethod
    def from_conv(
        cls,
        conv: nn.Module,
        *,
        config: CrossbarConfig,
        tile: TileMapping = TileMapping(),
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        backend: str | None = None,
    ):
        """An analog convolution with a copy of ``conv``'s kernel, bias and geometry (not yet
        programmed)."""
        if not isinstance(conv, cls._float):
            raise TypeError(f"conv: expected a torch.nn.{cls._float.__name__}, got {type(conv).__name__}")
        w = conv.weight
        layer = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            conv.padding,
            conv.dilation,
            conv.groups,
            conv.bias is not None,
            conv.padding_mode,
            config=config,
            tile=tile,
            ensemble=ensemble,
            generator=generator,
            backend=backend,
            device=w.device,
            dtype=w.dtype,
        )
        with torch.no_grad():
            layer.copy_weight_(w)
            if conv.bias is not None:
                layer.linear.bias.copy_(conv.bias)
        layer.train(conv.training)
        return layer

    def to_conv(self) -> nn.Module:
        """The float convolution (``nn.Conv1d`` / ``nn.Conv2d``) with the float kernel and bias."""
        w = self.weight
        conv = self._float(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            self.bias is not None,
            self.padding_mode,
            device=w.device,
            dtype=w.dtype,
        )
        with torch.no_grad():
            conv.weight.copy_(w)
            if self.bias is not None:
                conv.bias.copy_(self.bias)
        return conv

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
            f"padding_mode={self.padding_mode}"
        )


class AnalogConv1d(_AnalogConvNd):
    """``nn.Conv1d`` on crossbar arrays (see the module doc); parameters as ``nn.Conv1d`` plus
    ``config``, ``tile``, ``ensemble``, ``generator``, ``backend`` (see
    :class:`~physnn.crossbar.tiles.TiledAnalogLinear`)."""

    _d = 1
    _float = nn.Conv1d


class AnalogConv2d(_AnalogConvNd):
    """``nn.Conv2d`` on crossbar arrays (see the module doc); parameters as ``nn.Conv2d`` plus
    ``config``, ``tile``, ``ensemble``, ``generator``, ``backend`` (see
    :class:`~physnn.crossbar.tiles.TiledAnalogLinear`)."""

    _d = 2
    _float = nn.Conv2d
