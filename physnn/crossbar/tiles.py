"""A layer larger than one crossbar array: split into fixed-size tiles, read as one batched read.

:class:`TileMapping` says how large one physical array is (``rows`` inputs x ``cols`` outputs;
``None`` along a dimension: one array however large the layer). :class:`TiledAnalogLinear` is a
(block-diagonal, ``groups=``) linear layer on such arrays: every tile is an
:class:`~physnn.crossbar.AnalogLinear` of its own (own ``w_max``, programming, drift, global drift
compensation, ``state_dict`` entries ``tiles.<k>.*``), so no device physics is repeated here.

The read (eval mode) is ONE :class:`~physnn.crossbar.read.ReadSpec`: the tiles' own specs
(:meth:`~physnn.crossbar.AnalogLinear.read_spec`) become ensemble members of one spec, ``E x
groups x n_in x n_out`` members (member ``((e * groups + g) * n_in + i) * n_out + j``: chip
``e``, group ``g``, input tile ``i``, output tile ``j``), each with its own input slice
(``per_member=True``). Each tile thus has its own DAC range (abs-max of its input slice), its
own ADC, output noise and bound management (a saturating tile alone is re-read), and the
reference and the fast back ends (``numba_cpu``) both apply. Edge tiles are padded with zero
weights (unused devices: not connected) and zero inputs, which changes neither the DAC scale
nor an accumulated code; the padded output columns of an edge tile carry output noise only and
are discarded (they could start that tile's bound management only if the output noise alone
reached the ADC full scale).

Partial sums: the read's outputs of the input tiles of one output tile are added digitally
after the ADC (and after the tile's digital output scale), in the read's dtype (float32 for a
float32 model, float64 for float64), left to right in input-tile order; the digital bias is
added once, after the sum. With a single tile the read is that tile's own read, so a layer that
fits one array reads exactly as an :class:`~physnn.crossbar.AnalogLinear` (bit for bit).

Three cases read tile by tile instead (each tile's own ``forward``, then the same partial
sums): ``train()`` mode (a fresh programming per tile and forward, gradients by the tiles'
straight-through estimators), IR drop (a circuit solve per tile: IR drop acts per array) and
``read_noise_per_forward``. These depend on the configuration and mode only, never on a size.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int_range
from ..buffers import empty_torch
from ..random import check_generator
from .config import CrossbarConfig
from .layer import AnalogLinear, draw_key, per_member_input
from .mapping import DifferentialPair
from .patches import PatchColumns
from .read import ReadSpec, current_backend, noise_tables, read, subkey

__all__ = ["TileMapping", "TiledAnalogLinear"]


def _linear_iv(cfg: CrossbarConfig) -> bool:
    from .iv import SinhIV

    return not isinstance(cfg.iv, SinhIV)


@dataclass(frozen=True, kw_only=True)
class TileMapping:
    """Size of one physical crossbar array.

    Parameters
    ----------
    rows : int, optional
        Inputs (word lines) per array; a layer's input dimension is split over arrays of this
        many rows. None: no limit (one array along the inputs).
    cols : int, optional
        Outputs per array (weight columns: with a differential pair the two devices of a weight
        count as one column, as aihwkit's ``max_output_size``; a reference column, when the
        mapping has one, comes on top). None: no limit.

    Examples
    --------
    >>> TileMapping(rows=512, cols=512).split(1000, 10)
    ((0, 512, 1000), (0, 10))
    """

    rows: int | None = 512
    cols: int | None = 512

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            v = getattr(self, name)
            if v is not None:
                check_int_range(v, name, 1)

    @classmethod
    def single(cls) -> "TileMapping":
        """One array per layer, however large (the behaviour of :class:`AnalogLinear`)."""
        return cls(rows=None, cols=None)

    def split(self, in_features: int, out_features: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Tile edges along the inputs and the outputs: full arrays, the remainder last."""

        def edges(n: int, size: int | None) -> tuple[int, ...]:
            step = n if size is None else size
            return (*range(0, n, step), n)

        return edges(in_features, self.rows), edges(out_features, self.cols)


def devices_per_tile(config: CrossbarConfig, out_t: int, in_t: int) -> int:
    """Conductance devices one tile of ``out_t`` x ``in_t`` weights programs: 2 per weight with a
    differential pair, one per weight plus a reference column otherwise."""
    if isinstance(config.mapping, DifferentialPair):
        return 2 * out_t * in_t
    return (out_t + 1) * in_t


class TiledAnalogLinear(nn.Module):
    """A (grouped) linear layer on fixed-size crossbar arrays; see the module doc.

    Parameters
    ----------
    in_features, out_features : int
        Total sizes (over all groups).
    bias : bool
        Digital bias, added once after the partial sums.
    groups : int
        Block-diagonal layout: group ``g`` maps inputs ``[g*in/groups, (g+1)*in/groups)`` to
        outputs ``[g*out/groups, ...)`` on arrays of its own (a grouped convolution's matrix).
    config : CrossbarConfig
    tile : TileMapping
        Array size (default 512 x 512).
    ensemble : int, optional
        Number ``E`` of independent chips (leading output dimension).
    generator : torch.Generator, optional
        Source of all draws of all tiles (programming in tile order, then the read keys).
    backend : str, optional
        Read back end (see :func:`physnn.crossbar.read.read`).
    device, dtype
        Of the float parameters.

    Notes
    -----
    The float weights live in the tiles (``tiles[k].weight``, the trainable parameters); the
    property :attr:`weight` assembles them, :meth:`copy_weight_` writes them. Input layouts as
    :class:`AnalogLinear`: ``(..., in)`` shared by the chips, ``(E, ..., in)`` one per chip.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        groups: int = 1,
        config: CrossbarConfig,
        tile: TileMapping = TileMapping(),
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        backend: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        check_int_range(in_features, "in_features", 1)
        check_int_range(out_features, "out_features", 1)
        check_int_range(groups, "groups", 1)
        if in_features % groups or out_features % groups:
            raise ValueError(f"groups={groups}: must divide in_features={in_features} and out_features={out_features}")
        if ensemble is not None:
            check_int_range(ensemble, "ensemble", 1)
        if not isinstance(config, CrossbarConfig):
            raise TypeError(f"config: expected a CrossbarConfig, got {type(config).__name__}")
        if not isinstance(tile, TileMapping):
            raise TypeError(f"tile: expected a TileMapping, got {type(tile).__name__}")
        self.generator = check_generator(generator)
        self.in_features, self.out_features, self.groups = in_features, out_features, groups
        self.ensemble, self.backend, self.tile, self._config = ensemble, backend, tile, config
        self.in_edges, self.out_edges = tile.split(in_features // groups, out_features // groups)
        n_in, n_out = len(self.in_edges) - 1, len(self.out_edges) - 1
        self.grid = (groups, n_in, n_out)
        # padded tile size: the largest tile (a single tile is not padded)
        self._rows = self.in_edges[1] - self.in_edges[0]
        self._cols = self.out_edges[1] - self.out_edges[0]
        fk = {"device": device, "dtype": dtype}
        self.tiles = nn.ModuleList(
            AnalogLinear(
                self.in_edges[i + 1] - self.in_edges[i],
                self.out_edges[j + 1] - self.out_edges[j],
                bias=False,
                config=config,
                ensemble=ensemble,
                generator=self.generator,
                backend=backend,
                **fk,
            )
            for _g in range(groups)
            for i in range(n_in)
            for j in range(n_out)
        )
        self.bias = nn.Parameter(torch.empty(out_features, **fk)) if bias else None
        self._cache: tuple[tuple[ReadSpec, ...], ReadSpec] | None = None
        self._plan: tuple[tuple[ReadSpec, ...], list] | None = None
        self.reset_parameters()

    # -- parameters ---------------------------------------------------------------------------
    def reset_parameters(self) -> None:
        """``nn.Linear``'s initialisation of the whole (per-group) matrix, fan-in ``in/groups``."""
        w = torch.empty(
            self.out_features,
            self.in_features // self.groups,
            device=self.tiles[0].weight.device,
            dtype=self.tiles[0].weight.dtype,
        )
        nn.init.kaiming_uniform_(w, a=math.sqrt(5))
        self.copy_weight_(w)
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features // self.groups)
            nn.init.uniform_(self.bias, -bound, bound)

    def _tile_index(self, g: int, i: int, j: int) -> int:
        _, n_in, n_out = self.grid
        return (g * n_in + i) * n_out + j

    def _slices(self):
        """``(tile, out rows, in columns)`` of the full weight ``(out, in/groups)``, in tile order."""
        G, n_in, n_out = self.grid
        og = self.out_features // G
        ie, oe = self.in_edges, self.out_edges
        for g in range(G):
            for i in range(n_in):
                for j in range(n_out):
                    yield (
                        self.tiles[self._tile_index(g, i, j)],
                        slice(g * og + oe[j], g * og + oe[j + 1]),
                        slice(ie[i], ie[i + 1]),
                    )

    @property
    def weight(self) -> torch.Tensor:
        """The float weights ``(out, in/groups)`` assembled from the tiles (a new tensor)."""
        t0 = self.tiles[0].weight
        w = torch.empty(self.out_features, self.in_features // self.groups, dtype=t0.dtype, device=t0.device)
        with torch.no_grad():
            for t, o, i in self._slices():
                w[o, i] = t.weight
        return w

    def differentiable_weight(self) -> torch.Tensor:
        """The float weights ``(out, in/groups)`` assembled from the tiles with autograd: gradients of
        the result reach every tile's ``weight`` (what :attr:`weight` does not do)."""
        G, n_in, n_out = self.grid
        blocks = [
            torch.cat([self.tiles[self._tile_index(g, i, j)].weight for i in range(n_in)], dim=1)
            for g in range(G)
            for j in range(n_out)
        ]
        return blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=0)

    @torch.no_grad()
    def copy_weight_(self, weight: torch.Tensor) -> "TiledAnalogLinear":
        """Write float weights ``(out, in/groups)`` into the tiles (a later read re-programs)."""
        want = (self.out_features, self.in_features // self.groups)
        if not isinstance(weight, torch.Tensor) or tuple(weight.shape) != want:
            raise ValueError(f"weight: expected a tensor of shape {want}, got {getattr(weight, 'shape', weight)!r}")
        for t, o, i in self._slices():
            t.weight.copy_(weight[o, i])
        return self

    @property
    def config(self) -> CrossbarConfig:
        return self._config

    @property
    def n_tiles(self) -> int:
        return len(self.tiles)

    @property
    def devices(self) -> int:
        """Conductance devices programmed per chip (all tiles, no padding)."""
        return sum(devices_per_tile(self._config, t.out_features, t.in_features) for t in self.tiles)

    @property
    def t_inference(self) -> float:
        return self.tiles[0].t_inference

    @property
    def is_programmed(self) -> bool:
        return all(t.is_programmed for t in self.tiles)

    # -- programming and time -----------------------------------------------------------------
    def program(self, generator: torch.Generator | None = None) -> "TiledAnalogLinear":
        """Program every tile (in tile order; see :meth:`AnalogLinear.program`)."""
        gen = None if generator is None else check_generator(generator)
        for t in self.tiles:
            t.program(gen)
        return self

    def set_time(self, t_inference: float, generator: torch.Generator | None = None) -> "TiledAnalogLinear":
        """Move every tile to ``t_inference`` s after programming: drift, read-noise state and
        global drift compensation per tile (see :meth:`AnalogLinear.set_time`)."""
        gen = None if generator is None else check_generator(generator)
        for t in self.tiles:
            t.set_time(t_inference, gen)
        return self

    def programmed_weight(self) -> torch.Tensor:
        """Effective weights (weight units, drift-compensated) of all tiles: ``(E?, out, in/groups)``."""
        parts = [(t.programmed_weight(), o, i) for t, o, i in self._slices()]
        p0 = parts[0][0]
        w = p0.new_empty((*p0.shape[:-2], self.out_features, self.in_features // self.groups))
        for p, o, i in parts:
            w[..., o, i] = p
        return w

    # -- the read -----------------------------------------------------------------------------
    def _one_read(self) -> bool:
        cfg = self._config
        return not (
            self.training or cfg.ir_drop is not None or (cfg.read_noise_per_forward and cfg.read_noise is not None)
        )

    def forward(
        self, x: torch.Tensor | PatchColumns, *, shared_input: bool | None = None, key: int | None = None
    ) -> torch.Tensor:
        """A read: ``(..., in)`` -> ``(..., out)``, or ``(E, ..., out)`` with an ensemble; a
        :class:`~physnn.crossbar.patches.PatchColumns` reads its :meth:`~physnn.crossbar.patches.PatchColumns.matrix`
        (see :meth:`read_patches`).

        ``key``: the output-noise key of a tensor input's read (default: one drawn from
        :attr:`generator`). It applies where all tiles are one read (evaluation without IR drop or
        per-forward read noise); tile-by-tile reads (training, IR drop, per-forward read noise) draw
        their own."""
        if isinstance(x, PatchColumns):
            if key is not None:
                raise ValueError("key: only for a tensor input (patch reads draw their key)")
            return self.read_patches(x, x.lead or (x.x.shape[0],), shared_input=shared_input)
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"x: expected a floating-point tensor, got {type(x).__name__}")
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"x: last dimension must be in_features={self.in_features}, got shape {tuple(x.shape)}")
        per_member = per_member_input(x, self.ensemble, shared_input)
        y = self._read_tiles(x, per_member) if not self._one_read() else self._read_once(x, per_member, key)
        return y if self.bias is None else y + self.bias

    def _read_tiles(self, x: torch.Tensor, per_member: bool) -> torch.Tensor:
        """Tile by tile: each tile's own forward, partial sums added left to right."""
        G, n_in, n_out = self.grid
        ig = self.in_features // G
        shared = None if self.ensemble is None else not per_member
        outs = []
        for g in range(G):
            for j in range(n_out):
                acc = None
                for i in range(n_in):
                    xt = x[..., g * ig + self.in_edges[i] : g * ig + self.in_edges[i + 1]]
                    y = self.tiles[self._tile_index(g, i, j)](xt, shared_input=shared)
                    acc = y if acc is None else acc + y
                outs.append(acc)
        return outs[0] if len(outs) == 1 else torch.cat(outs, -1)

    def read_spec(self, dtype: torch.dtype | None = None, device: Any = None) -> ReadSpec:
        """The one read of all tiles as a :class:`~physnn.crossbar.read.ReadSpec` (noise key 0):
        weights ``(E * n_tiles, cols, rows)`` padded, member order as in the module doc; with a
        single tile, that tile's own spec. Cached until a tile's spec changes."""
        specs = tuple(t.read_spec(dtype, device) for t in self.tiles)
        c = self._cache
        if c is not None and len(c[0]) == len(specs) and all(a is b for a, b in zip(c[0], specs)):
            return c[1]
        spec = specs[0] if len(specs) == 1 else self._combine(specs)
        self._cache = (specs, spec)
        return spec

    def _combine(self, specs: tuple[ReadSpec, ...]) -> ReadSpec:
        s0 = specs[0]
        same = (
            "in_step",
            "in_levels",
            "abs_max",
            "iv",
            "v_read",
            "x_ref",
            "noise_std",
            "adc_levels",
            "bound_management",
            "max_reduction",
        )
        for s in specs[1:]:
            for f in same:
                a, b = getattr(s, f), getattr(s0, f)
                # noise_std with output_units="weight" is out_noise/w_max / (adc step/w_max) per tile:
                # equal up to round-off; the one spec carries the first tile's value
                if a != b and not (f == "noise_std" and abs(a - b) <= 1e-12 * abs(b)):  # pragma: no cover
                    raise RuntimeError(f"tiles: {f} differs between tiles ({a} vs {b})")
        E1 = 1 if self.ensemble is None else self.ensemble
        n = len(specs)
        w0 = s0.weight
        W = w0.new_zeros((E1, n, self._cols, self._rows))
        sc = w0.new_empty((E1, n))
        for k, s in enumerate(specs):
            w = s.weight if s.weight.dim() == 3 else s.weight.unsqueeze(0)
            W[:, k, : w.shape[-2], : w.shape[-1]] = w
            sc[:, k] = s.scale
        return ReadSpec(
            weight=W.reshape(E1 * n, self._cols, self._rows),
            scale=sc.reshape(-1),
            bias=None,
            **{f: getattr(s0, f) for f in same},
        )

    def _read_once(self, x: torch.Tensor, per_member: bool, key: int | None = None) -> torch.Tensor:
        spec = self.read_spec(x.dtype, x.device)
        if key is None:
            key = draw_key(self.generator) if spec.noise_std > 0 else 0
        spec = spec.with_key(key)
        if self.n_tiles == 1:  # that tile's own read (shared or per-member input)
            return read(spec, x, per_member=per_member, backend=self.backend)
        G, n_in, n_out = self.grid
        E = self.ensemble
        E1 = 1 if E is None else E
        lead = x.shape[1:-1] if per_member else x.shape[:-1]
        x3 = x.reshape(E1 if per_member else 1, -1, self.in_features)  # (E1 or 1, N, in)
        N = x3.shape[1]
        R, C = self._rows, self._cols
        xg = x3.reshape(x3.shape[0], N, G, self.in_features // G)
        pad = n_in * R - xg.shape[-1]
        if pad:
            xg = F.pad(xg, (0, pad))
        xt = xg.reshape(x3.shape[0], N, G, n_in, R).permute(0, 2, 3, 1, 4)  # (E1|1, G, n_in, N, R)
        xm = xt.unsqueeze(3).expand(E1, G, n_in, n_out, N, R).reshape(E1 * G * n_in * n_out, N, R)
        y = read(spec, xm, per_member=True, backend=self.backend)  # (M, N, C)
        y = y.view(E1, G, n_in, n_out, N, C)
        acc = y[:, :, 0]
        for i in range(1, n_in):  # digital partial sums
            acc = acc + y[:, :, i]
        out_g = self.out_features // G
        acc = acc.permute(0, 3, 1, 2, 4).reshape(E1, N, G, n_out * C)[..., :out_g]
        acc = acc.reshape(E1, *lead, self.out_features)
        return acc if E is not None else acc[0]

    # -- the compact read of unfolded columns (convolutions) ---------------------------------
    def compact_unsupported(self, x: torch.Tensor) -> str | None:
        """Why :meth:`read_patches` reads the materialised columns for input ``x`` (the plain
        unfold + :meth:`forward`), or None when it takes the compact path. Depends on the mode,
        the configuration, the back-end choice, dtype, device and autograd, never on a size."""
        if not self._one_read():
            return "train() mode, IR drop or read_noise_per_forward read tile by tile"
        name = self.backend if self.backend is not None else current_backend()
        if name not in ("auto", "numba_cpu"):
            return f"backend={name!r} was chosen (the compact path is numba_cpu's)"
        from .backends.numba_cpu import numba_available

        if not numba_available():
            return "numba is not installed"
        if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
            return "float32/float64 CPU tensors only"
        if torch.is_grad_enabled() and x.requires_grad:
            return "no autograd (the reference read carries gradients to x)"
        cfg = self._config
        if cfg.iv is not None and not _linear_iv(cfg):
            return "a sinh-type device law"
        if self.out_edges[-1] - self.out_edges[-2] < self._cols and cfg.adc is not None and cfg.out_noise > 0:
            # the padded columns of an edge tile carry output noise only; they can start that
            # tile's bound management only if the noise alone can reach the ADC full scale
            s0 = self.tiles[-1].read_spec(x.dtype, x.device)
            if s0.adc_levels is not None and s0.noise_std > 0:
                z_max = float(noise_tables(torch.float64)[0][-1])
                if not s0.noise_std * z_max * (1 + 1e-6) < s0.adc_levels + 0.5:
                    return "output noise alone could saturate the padded columns of an edge tile"
        return None

    def read_patches(self, p: PatchColumns, lead: tuple[int, ...], *, shared_input: bool | None = None) -> torch.Tensor:
        """A read of the unfolded columns of ``p``: by definition
        ``self(p.columns().reshape(*lead, L, K), shared_input=shared_input)`` (``(E?, *lead, L,
        out)``; ``lead`` the leading dimensions of the convolution's input, whose product is
        ``p.x.shape[0]``).

        Where :meth:`compact_unsupported` says nothing against it, the read is computed at each
        tile's own size, without the padded combined layout (its copies, zero rows and zero
        columns) and without the unfolded copy: per input tile the DAC codes of its column slice
        of the unfolded matrix gathered straight from the image
        (:func:`~physnn.crossbar.backends.patch_read.patch_codes`), one GEMM per output tile and
        chip with the tile's programmed weights (no zero rows or columns
        of the padded combined read), the noise of the padded read's counters, ADC, output
        scale and per-tile bound management (:func:`~physnn.crossbar.backends.patch_read.finish_tiles`),
        the same digital partial sums. The codes, noise draws and per-element finishing equal
        the reference's bit for bit; the GEMMs sum in another order (no zero terms), so the
        outputs equal the reference's within float round-off, i.e. an output lying within
        round-off of an ADC rounding edge can come out one ADC step apart (float32: a few in a
        million, ``tests/crossbar/test_conv_compact.py``). ``backend="reference"`` (on the layer or
        by :func:`~physnn.crossbar.read.use_backend`) always takes the plain path.
        """
        x = p.x
        L = p.out_size[0] * p.out_size[1]
        K = p.width
        if K != self.in_features:
            raise ValueError(f"p: {K} columns, the layer has in_features={self.in_features}")
        if x.shape[0] != math.prod(lead):
            raise ValueError(f"lead={lead}: product must be the {x.shape[0]} images of p.x")
        why = self.compact_unsupported(x)
        if why is not None:
            cols = p.columns()
            return self.forward(cols.reshape(*lead, L, K), shared_input=shared_input)
        per_member = per_member_input(torch.empty((*lead, L, K), device="meta"), self.ensemble, shared_input)
        with torch.no_grad():
            y, biased = self._compact(p, per_member, L)
        E = self.ensemble
        y = y.reshape(y.shape[0], *(lead[1:] if per_member else lead), L, self.out_features)
        if E is None:
            y = y[0]
        return y if self.bias is None or biased else y + self.bias

    def _fused_plan(
        self, specs: list[ReadSpec], dt: torch.dtype
    ) -> list[tuple[torch.Tensor, np.ndarray, torch.Tensor]]:
        """Per group: the transposed programmed weights ``(E1, in/groups, out/groups)`` of all its
        tiles, their members in the padded combined read ``(E1, n_in, n_out)`` and output scales;
        cached until a tile's spec changes."""
        c = self._plan
        if c is not None and len(c[0]) == len(specs) and all(a is b for a, b in zip(c[0], specs)):
            return c[1]
        G, n_in, n_out = self.grid
        E1 = 1 if self.ensemble is None else self.ensemble
        ig, og = self.in_features // G, self.out_features // G
        ie, oe = self.in_edges, self.out_edges
        plan = []
        for g in range(G):
            wt = specs[0].weight.new_empty((E1, ig, og))
            mem = np.empty((E1, n_in, n_out), np.int64)
            post = specs[0].weight.new_empty((E1, n_in, n_out))
            for i in range(n_in):
                for j in range(n_out):
                    k = self._tile_index(g, i, j)
                    w = specs[k].weight if specs[k].weight.dim() == 3 else specs[k].weight.unsqueeze(0)
                    wt[:, ie[i] : ie[i + 1], oe[j] : oe[j + 1]] = w.transpose(-1, -2)
                    mem[:, i, j] = np.arange(E1) * self.n_tiles + k
                    post[:, i, j] = specs[k].scale.reshape(-1).expand(E1)
            plan.append((wt.contiguous(), mem, post.contiguous()))
        self._plan = (tuple(specs), plan)
        return plan

    def _fused(self, p: PatchColumns, per_member: bool, L: int, specs: list[ReadSpec], key: int) -> torch.Tensor | None:
        """The whole read by :func:`~physnn.crossbar.backends.patch_read.fused_patch_read`, bias
        included, ``(E1, B, L, out)`` (a transposed view of the channel-major ``(E1, B, out, L)``
        result, so that the convolution's ``movedim`` gives a contiguous tensor); None when a
        tile saturated and bound management must re-read it."""
        from .backends.patch_read import fused_patch_read

        x = p.x
        s0 = specs[0]
        G, n_in, n_out = self.grid
        E1 = 1 if self.ensemble is None else self.ensemble
        P = E1 if per_member else 1
        B = x.shape[0] // P
        xp = x.detach().contiguous().reshape(P, B, *x.shape[1:])
        ig, og = self.in_features // G, self.out_features // G
        off = _column_offsets(x.shape[1], x.shape[2], x.shape[3], p.kernel_size, p.dilation)
        out = empty_torch((E1, B, self.out_features, L), x.dtype, x.device)
        ie, oe = np.asarray(self.in_edges, np.int64), np.asarray(self.out_edges, np.int64)
        bias = None if self.bias is None else self.bias.detach()
        for g, (wt, mem, post) in enumerate(self._fused_plan(specs, x.dtype)):
            sat = fused_patch_read(
                xp,
                off[g * ig : (g + 1) * ig],
                ie,
                oe,
                p.stride,
                p.out_size,
                wt,
                mem,
                E1 * self.n_tiles,
                self._cols,
                post,
                out,
                g * og,
                bias,
                key,
                in_step=s0.in_step,
                in_levels=s0.in_levels,
                abs_max=s0.abs_max,
                noise_std=s0.noise_std,
                adc_levels=s0.adc_levels,
            )
            if s0.bound_management and sat.any():
                return None
        return out.transpose(-1, -2)  # (E1, B, L, out), a view of the channel-major result

    def _compact(self, p: PatchColumns, per_member: bool, L: int) -> tuple[torch.Tensor, bool]:
        x = p.x
        dt, dev = x.dtype, x.device
        specs = [t.read_spec(dt, dev) for t in self.tiles]  # programs as read_spec does
        s0 = specs[0]
        key = draw_key(self.generator) if s0.noise_std > 0 else 0
        fy = self._fused(p, per_member, L, specs, key)
        if fy is not None:
            return fy, True
        G, n_in, n_out = self.grid
        E = self.ensemble
        E1 = 1 if E is None else E
        n = self.n_tiles
        ig, og = self.in_features // G, self.out_features // G
        B = x.shape[0] // E1 if per_member else x.shape[0]
        images = [x[e * B : (e + 1) * B] for e in range(E1)] if per_member else [x]
        ctx = _Compact(specs, E1, per_member, images, p, L, key, E1 * n, self._cols)
        out = None
        for g in range(G):
            y = [[None] * n_out for _ in range(n_in)]
            for i in range(n_in):
                cols = (g * ig + self.in_edges[i], g * ig + self.in_edges[i + 1])
                ks = [self._tile_index(g, i, j) for j in range(n_out)]
                parts = ctx.first_read(cols, ks)  # per output tile: (E1, R, cols_j), sat
                for j, (yj, sat) in enumerate(parts):
                    if s0.bound_management and sat.any():
                        for e in np.flatnonzero(sat).tolist():
                            yj[e] = ctx.bound_manage(cols, ks[j], e)
                    y[i][j] = yj
            for j in range(n_out):
                acc = y[0][j]
                for i in range(1, n_in):  # digital partial sums
                    acc = acc + y[i][j]
                if G == 1 and n_out == 1:
                    return acc, False  # the whole output
                if out is None:
                    out = torch.empty((E1, B * L, self.out_features), dtype=dt, device=dev)
                o0 = g * og + self.out_edges[j]
                out[..., o0 : o0 + acc.shape[-1]] = acc
        assert out is not None
        return out, False

    # -- conversion ---------------------------------------------------------------------------
    @classmethod
    def from_linear(
        cls,
        linear: nn.Linear,
        *,
        config: CrossbarConfig,
        tile: TileMapping = TileMapping(),
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        backend: str | None = None,
    ) -> "TiledAnalogLinear":
        """A tiled layer with a copy of ``linear``'s weights and bias (not yet programmed)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear: expected a torch.nn.Linear, got {type(linear).__name__}")
        w = linear.weight
        layer = cls(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
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
            if linear.bias is not None:
                layer.bias.copy_(linear.bias)
        layer.train(linear.training)
        return layer

    def to_linear(self) -> nn.Linear:
        """An ``nn.Linear`` with the float weights and bias (``groups=1`` only)."""
        if self.groups != 1:
            raise ValueError(f"groups={self.groups}: a grouped layer has no nn.Linear equivalent")
        w = self.weight
        lin = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None, device=w.device, dtype=w.dtype)
        with torch.no_grad():
            lin.weight.copy_(w)
            if self.bias is not None:
                lin.bias.copy_(self.bias)
        return lin

    def extra_repr(self) -> str:
        G, n_in, n_out = self.grid
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"groups={G}, tiles={G}x{n_in}x{n_out} of {self._cols}x{self._rows}, ensemble={self.ensemble}"
        )


#: images per block of the compact path (None: the whole batch in one block). Blocks of a few
#: images would keep a block's codes in the cache between the DAC pass and the GEMM, but on the
#: shared 2-core machine (load 14) the alternation of numba and torch thread pools made a 2048-row
#: blocking 5x slower than one block, so the read is one block; the machinery stays (a block
#: changes the schedule only: codes, noise and finishing are per element, the BM loop per tile).
_BLOCK_IMAGES: int | None = None


@functools.lru_cache(maxsize=64)
def _column_offsets(c: int, h: int, w: int, kernel_size: tuple[int, int], dilation: tuple[int, int]) -> np.ndarray:
    """Offset in one ``(c, h, w)`` image of each column of the unfolded matrix (channel, kernel
    row, kernel column: :func:`~physnn.crossbar.patches.unfold_columns`' order)."""
    (kh, kw), (dh, dw) = kernel_size, dilation
    ch, u, v = np.meshgrid(np.arange(c), np.arange(kh), np.arange(kw), indexing="ij")
    off = (ch * (h * w) + u * (dh * w) + v * dw).reshape(-1).astype(np.int64)
    return off


class _Compact:
    """The blocked compact read of :meth:`TiledAnalogLinear.read_patches` (one forward)."""

    def __init__(self, specs, E1, per_member, images, p, L, key, n_members, width):
        self.specs, self.E1, self.per_member, self.images = specs, E1, per_member, images
        self.geo = (p.kernel_size, p.dilation, p.stride, p.out_size)
        self.L, self.key, self.M, self.width = L, key, n_members, width
        s0 = specs[0]
        self.dac = dict(in_levels=s0.in_levels, abs_max=s0.abs_max)
        B = images[0].shape[0]
        self.R = B * L
        nb = B if _BLOCK_IMAGES is None else max(1, _BLOCK_IMAGES)
        self.blocks = [(b0, min(B, b0 + nb)) for b0 in range(0, B, nb)]
        self.n = len(specs)

    def _weights(self, k):
        w = self.specs[k].weight
        return w if w.dim() == 3 else w.unsqueeze(0)

    def first_read(self, cols, ks):
        """First attempt of the tiles ``ks`` (one input slice ``cols``, its output tiles), block
        by block: ``[(y (E1, R, cols_j), saturated (E1,) bool), ...]``."""
        from .backends.patch_read import finish_tiles, patch_codes

        E1, L, s0 = self.E1, self.L, self.specs[0]
        ws = [self._weights(k) for k in ks]
        dt = ws[0].dtype
        ys = [torch.empty((E1, self.R, w.shape[-2]), dtype=dt) for w in ws]
        sats = [np.zeros(E1, dtype=bool) for _ in ks]
        members = [np.arange(E1, dtype=np.int64) * self.n + k for k in ks]
        posts = [self.specs[k].scale.reshape(-1).expand(E1).contiguous() for k in ks]
        for b0, b1 in self.blocks:
            r0, rb = b0 * L, (b1 - b0) * L
            codes = [patch_codes(im[b0:b1], cols, *self.geo, in_step=s0.in_step, **self.dac) for im in self.images]
            s = None
            if s0.abs_max:
                s = torch.stack([c[0] for c in codes]) if self.per_member else codes[0][0].view(1, rb)
            one = len(self.blocks) == 1
            for j, w in enumerate(ws):
                acc = ys[j] if one else torch.empty((E1, rb, w.shape[-2]), dtype=dt)
                for e in range(E1):
                    torch.mm(codes[e if self.per_member else 0][1], w[e].t(), out=acc[e])
                sats[j] |= finish_tiles(
                    acc,
                    members[j],
                    self.M,
                    self.width,
                    s,
                    posts[j],
                    self.key,
                    s0.noise_std,
                    s0.adc_levels,
                    row_offset=r0,
                )
                if not one:
                    ys[j][:, r0 : r0 + rb] = acc
        return list(zip(ys, sats))

    def bound_manage(self, cols, k, e):
        """Tile ``k`` of chip ``e`` after bound management (:func:`~physnn.crossbar.read.bound_manage`
        for one member: attempt ``t`` halves the inputs again, noise of key ``subkey(key, t)``)."""
        from .backends.patch_read import finish_tiles, patch_codes

        sp, L = self.specs[k], self.L
        w = self._weights(k)[e]
        im = self.images[e if self.per_member else 0]
        post = sp.scale.reshape(-1).expand(self.E1)[e]
        member = np.array([e * self.n + k], dtype=np.int64)
        y = torch.empty((1, self.R, w.shape[-2]), dtype=w.dtype)
        red, flag = 1.0, True
        for attempt in range(1, 64):
            if not (flag and red <= sp.max_reduction):
                break
            red *= 2.0
            pr = (post * torch.tensor(red, dtype=post.dtype)).reshape(1)
            flag = False
            for b0, b1 in self.blocks:
                r0, rb = b0 * L, (b1 - b0) * L
                s, codes = patch_codes(im[b0:b1], cols, *self.geo, in_step=sp.in_step * red, **self.dac)
                acc = torch.mm(codes, w.t()).unsqueeze(0)
                flag |= bool(
                    finish_tiles(
                        acc,
                        member,
                        self.M,
                        self.width,
                        None if s is None else s.view(1, rb),
                        pr,
                        subkey(self.key, attempt),
                        sp.noise_std,
                        sp.adc_levels,
                        row_offset=r0,
                    )[0]
                )
                y[:, r0 : r0 + rb] = acc
        return y[0]
