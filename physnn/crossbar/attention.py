"""Attention on crossbar tiles: the projections of multi-head attention as analog layers.

``torch.nn.MultiheadAttention`` does not call its projections as modules: it hands
``in_proj_weight`` (or ``q_proj_weight`` / ``k_proj_weight`` / ``v_proj_weight``) and
``out_proj.weight`` to ``F.multi_head_attention_forward`` (or to a fused kernel in eval mode),
so replacing ``out_proj`` by another module changes nothing. :class:`AnalogMultiheadAttention`
is the same computation with the four projections as **modules**:

* ``in_proj`` — the packed ``(3 E, E)`` in-projection on one tiled matrix (query, key and value
  projections side by side, as ``in_proj_weight``), when query, key and value have the embedding
  size; a self-attention call (``query is key is value``) is one read of all ``3 E`` outputs, a
  cross-attention call reads the arrays once per distinct input and keeps the outputs of its
  slice (``[0, E)`` for the query, ``[E, 2E)`` for the key, ``[2E, 3E)`` for the value);
* ``q_proj``, ``k_proj``, ``v_proj`` — three matrices ``(E, E)``, ``(E, kdim)``, ``(E, vdim)``
  when ``kdim`` or ``vdim`` differ from ``embed_dim`` (torch's ``_qkv_same_embed_dim=False``);
* ``out_proj`` — ``(E, E)``.

Each projection is a :class:`~physnn.crossbar.tiles.TiledAnalogLinear` (or a plain
``nn.Linear`` where a :class:`~physnn.crossbar.conversion.Rule` left it digital, or with
``config=None``); the scaled dot products, the softmax, the masks, ``add_bias_kv`` /
``add_zero_attn`` and the attention dropout are digital, plain torch ops mirroring
``F.multi_head_attention_forward`` (``F.scaled_dot_product_attention`` when the weights are
not returned). With ideal projections the module equals ``nn.MultiheadAttention`` to float
round-off.

:class:`AnalogTransformerEncoderLayer` is ``nn.TransformerEncoderLayer`` (post- or pre-norm,
any activation) with such an attention and tiled ``linear1`` / ``linear2``, and **no fused
fast path**: torch's encoder layer would, in eval mode without gradients, pass the float
``in_proj_weight`` / ``linear1.weight`` to ``torch._transformer_encoder_layer_fwd`` and bypass
any analog module. It is deliberately not a subclass of ``nn.TransformerEncoderLayer``, so an
``nn.TransformerEncoder`` around it never takes its nested-tensor (sparsity) fast path either
(that path requires its first layer to be an ``nn.TransformerEncoderLayer``;
:func:`~physnn.crossbar.conversion.convert` also sets the encoder's ``use_nested_tensor`` to
False). ``nn.TransformerDecoderLayer`` has no fast path: converting its ``self_attn``,
``multihead_attn``, ``linear1`` and ``linear2`` in place suffices.

Ensemble: with ``ensemble=E`` every projection holds ``E`` chips. A batched input
``(N, L, E_dim)`` (``(L, N, E_dim)`` without ``batch_first``) is shared by the chips; a 4-d
input ``(E, N, L, E_dim)`` carries one input per chip (what an earlier analog layer returns);
an unbatched ``(L, E_dim)`` input is an error with an ensemble (its output would read as a
batch). Outputs are ``(E, N, L, E_dim)``, attention weights ``(E, N, L, S)``; the query may be
per chip while the key and value are shared (a decoder's memory). Masks are per batch element
and apply to every chip.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable, TypeGuard, cast

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int_range
from ..random import check_generator
from .config import CrossbarConfig
from .layer import AnalogLinear
from .tiles import TileMapping, TiledAnalogLinear

__all__ = ["AnalogMultiheadAttention", "AnalogTransformerEncoderLayer"]


def _linear(
    in_f: int,
    out_f: int,
    bias: bool,
    config: CrossbarConfig | None,
    tile: TileMapping,
    ensemble: int | None,
    generator: torch.Generator | None,
    backend: str | None,
    fk: dict,
) -> nn.Module:
    if config is None:
        return nn.Linear(in_f, out_f, bias=bias, **fk)
    return TiledAnalogLinear(
        in_f, out_f, bias=bias, config=config, tile=tile, ensemble=ensemble, generator=generator, backend=backend, **fk
    )


def _copy_into(dst: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    with torch.no_grad():
        if isinstance(dst, TiledAnalogLinear):
            dst.copy_weight_(weight)
        else:
            cast(torch.Tensor, dst.weight).copy_(weight)
        if bias is not None:
            cast(torch.Tensor, dst.bias).copy_(bias)


def _float_weight(m: nn.Module) -> torch.Tensor:
    """The float (target) weight ``(out, in)`` of a projection (analog or ``nn.Linear``)."""
    return cast(torch.Tensor, m.weight).detach()


def _float_module(m: nn.Module) -> nn.Module:
    """A float copy of a projection / feed-forward layer (``to_linear`` of an analog one)."""
    f = getattr(m, "to_linear", None)
    return f() if callable(f) else copy.deepcopy(m)


def _is_ensemble_layer(m: nn.Module) -> TypeGuard[TiledAnalogLinear | AnalogLinear]:
    return isinstance(m, (TiledAnalogLinear, AnalogLinear)) and m.ensemble is not None


def _apply(lin: nn.Module, x: torch.Tensor, per_member: bool) -> torch.Tensor:
    """``lin(x)``, telling an ensemble layer whether ``x`` carries one input per chip."""
    if _is_ensemble_layer(lin):
        return lin(x, shared_input=not per_member)
    return lin(x)


def _float_mask(mask: torch.Tensor | None, name: str, dtype: torch.dtype) -> torch.Tensor | None:
    """A boolean mask (True: not attended) as an additive float mask (``-inf``); float as is."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name}: expected a tensor or None, got {type(mask).__name__}")
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(mask, float("-inf"))
    if not mask.is_floating_point():
        raise TypeError(f"{name}: only bool and floating-point masks are supported, got {mask.dtype}")
    return mask


def _projection_ensemble(mods: list[nn.Module]) -> int | None:
    ens = {cast(int, m.ensemble) for m in mods if _is_ensemble_layer(m)}  # (not None: _is_ensemble_layer)
    if len(ens) > 1:
        raise ValueError(f"ensemble: the projections have different ensemble sizes {sorted(ens)}")
    return next(iter(ens), None)


class AnalogMultiheadAttention(nn.Module):
    """``nn.MultiheadAttention`` with its projections on crossbar tiles (see the module doc).

    Parameters
    ----------
    embed_dim, num_heads, dropout, bias, add_bias_kv, add_zero_attn, kdim, vdim, batch_first
        As ``torch.nn.MultiheadAttention`` (``dropout``: probability on the attention weights in
        training; ``bias_k`` / ``bias_v`` of ``add_bias_kv`` are digital parameters).
    config : CrossbarConfig, optional
        Configuration of the projections; None: float ``nn.Linear`` projections (the digital
        structure, e.g. to be converted per projection by :func:`~physnn.crossbar.convert`).
    tile : TileMapping
        Array size of the projections (default 512 x 512).
    ensemble : int, optional
        Number ``E`` of independent chips (leading output dimension).
    generator : torch.Generator, optional
        Source of all draws of all projections (programming in the order in-projection(s),
        out-projection) and of the attention-dropout masks.
    backend : str, optional
        Read back end of the projections.
    device, dtype
        Of the float parameters.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        *,
        config: CrossbarConfig | None,
        tile: TileMapping = TileMapping(),
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        backend: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        check_int_range(embed_dim, "embed_dim", 1)
        check_int_range(num_heads, "num_heads", 1)
        if embed_dim % num_heads:
            raise ValueError(f"num_heads={num_heads}: must divide embed_dim={embed_dim}")
        if not (0.0 <= float(dropout) <= 1.0):
            raise ValueError(f"dropout={dropout}: must lie in [0, 1]")
        if config is not None and not isinstance(config, CrossbarConfig):
            raise TypeError(f"config: expected a CrossbarConfig or None, got {type(config).__name__}")
        if not isinstance(tile, TileMapping):
            raise TypeError(f"tile: expected a TileMapping, got {type(tile).__name__}")
        kdim = embed_dim if kdim is None else kdim
        vdim = embed_dim if vdim is None else vdim
        check_int_range(kdim, "kdim", 1)
        check_int_range(vdim, "vdim", 1)
        self.generator = check_generator(generator)
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.kdim, self.vdim = kdim, vdim
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.add_zero_attn = bool(add_zero_attn)
        self.packed = kdim == embed_dim and vdim == embed_dim  # torch's _qkv_same_embed_dim
        fk = {"device": device, "dtype": dtype}
        args = (config, tile, ensemble, generator, backend, fk)
        if self.packed:
            self.in_proj = _linear(embed_dim, 3 * embed_dim, bias, *args)
        else:
            self.q_proj = _linear(embed_dim, embed_dim, bias, *args)
            self.k_proj = _linear(kdim, embed_dim, bias, *args)
            self.v_proj = _linear(vdim, embed_dim, bias, *args)
        self.out_proj = _linear(embed_dim, embed_dim, bias, *args)
        if add_bias_kv:
            self.bias_k: nn.Parameter | None = nn.Parameter(torch.zeros(1, 1, embed_dim, **fk))
            self.bias_v: nn.Parameter | None = nn.Parameter(torch.zeros(1, 1, embed_dim, **fk))
        else:
            self.bias_k = self.bias_v = None

    # -- the projections ------------------------------------------------------------------------
    def projections(self) -> list[tuple[str, nn.Module]]:
        """``(name, module)`` of the in-projection(s) and the out-projection."""
        names = ["in_proj"] if self.packed else ["q_proj", "k_proj", "v_proj"]
        return [(n, getattr(self, n)) for n in (*names, "out_proj")]

    @property
    def ensemble(self) -> int | None:
        """Number of chips of the analog projections (None: no ensemble)."""
        return _projection_ensemble([m for _, m in self.projections()])

    def program(self, generator: torch.Generator | None = None) -> "AnalogMultiheadAttention":
        """Program every analog projection (in-projection(s), then out-projection)."""
        for _, m in self.projections():
            if hasattr(m, "program"):
                getattr(m, "program")(generator)
        return self

    def set_time(self, t_inference: float, generator: torch.Generator | None = None) -> "AnalogMultiheadAttention":
        """Move every analog projection to ``t_inference`` s after programming."""
        for _, m in self.projections():
            if hasattr(m, "set_time"):
                getattr(m, "set_time")(t_inference, generator)
        return self

    # -- conversion -----------------------------------------------------------------------------
    @classmethod
    def from_torch(
        cls,
        mha: nn.MultiheadAttention,
        *,
        config: CrossbarConfig | None,
        tile: TileMapping = TileMapping(),
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        backend: str | None = None,
    ) -> "AnalogMultiheadAttention":
        """A copy of ``mha``'s weights (packed or separate projections, biases, ``bias_k/v``);
        not yet programmed."""
        if not isinstance(mha, nn.MultiheadAttention):
            raise TypeError(f"mha: expected a torch.nn.MultiheadAttention, got {type(mha).__name__}")
        w0 = mha.out_proj.weight
        new = cls(
            mha.embed_dim,
            mha.num_heads,
            dropout=mha.dropout,
            bias=mha.in_proj_bias is not None,
            add_bias_kv=mha.bias_k is not None,
            add_zero_attn=mha.add_zero_attn,
            kdim=mha.kdim,
            vdim=mha.vdim,
            batch_first=mha.batch_first,
            config=config,
            tile=tile,
            ensemble=ensemble,
            generator=generator,
            backend=backend,
            device=w0.device,
            dtype=w0.dtype,
        )
        b = mha.in_proj_bias
        E = mha.embed_dim
        if new.packed:
            w = (
                mha.in_proj_weight
                if mha.in_proj_weight is not None
                else torch.cat([mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight], 0)
            )
            _copy_into(new.in_proj, w, b)
        else:
            for k, (n, w) in enumerate(
                (("q_proj", mha.q_proj_weight), ("k_proj", mha.k_proj_weight), ("v_proj", mha.v_proj_weight))
            ):
                _copy_into(getattr(new, n), w, None if b is None else b[k * E : (k + 1) * E])
        _copy_into(new.out_proj, mha.out_proj.weight, mha.out_proj.bias)
        if mha.bias_k is not None:
            # (both set: new was made with add_bias_kv, as mha has bias_k and bias_v)
            with torch.no_grad():
                cast(nn.Parameter, new.bias_k).copy_(mha.bias_k)
                cast(nn.Parameter, new.bias_v).copy_(cast(torch.Tensor, mha.bias_v))
        new.train(mha.training)
        return new

    def to_float(self) -> nn.MultiheadAttention:
        """An ``nn.MultiheadAttention`` holding the float (target) weights of the projections
        (packed ``in_proj_weight`` or separate ``q/k/v_proj_weight``), their biases and
        ``bias_k``/``bias_v``; the inverse of :meth:`from_torch` (programmed devices dropped)."""
        w0 = _float_weight(self.out_proj)
        bias = getattr(self.out_proj, "bias", None) is not None
        mha = nn.MultiheadAttention(
            self.embed_dim,
            self.num_heads,
            dropout=self.dropout,
            bias=bias,
            add_bias_kv=self.bias_k is not None,
            add_zero_attn=self.add_zero_attn,
            kdim=self.kdim,
            vdim=self.vdim,
            batch_first=self.batch_first,
            device=w0.device,
            dtype=w0.dtype,
        )
        with torch.no_grad():
            if self.packed:
                mha.in_proj_weight.copy_(_float_weight(self.in_proj))
                if bias:
                    mha.in_proj_bias.copy_(cast(torch.Tensor, self.in_proj.bias))
            else:
                for k, n in enumerate(("q_proj", "k_proj", "v_proj")):
                    m = getattr(self, n)
                    getattr(mha, f"{n}_weight").copy_(_float_weight(m))
                    if bias:
                        mha.in_proj_bias[k * self.embed_dim : (k + 1) * self.embed_dim].copy_(m.bias)
            mha.out_proj.weight.copy_(w0)
            if bias:
                mha.out_proj.bias.copy_(cast(torch.Tensor, self.out_proj.bias))
            if self.bias_k is not None:
                # (both set: mha was made with add_bias_kv, as self has bias_k and bias_v)
                cast(torch.Tensor, mha.bias_k).copy_(self.bias_k)
                cast(torch.Tensor, mha.bias_v).copy_(cast(nn.Parameter, self.bias_v))
        mha.train(self.training)
        return mha

    # -- the forward ----------------------------------------------------------------------------
    def _per_member(self, x: torch.Tensor, name: str, dim: int, ens: int | None) -> bool:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"{name}: expected a floating-point tensor, got {type(x).__name__}")
        if x.dim() not in (2, 3, 4) or x.shape[-1] != dim:
            raise ValueError(
                f"{name}: expected (L, {dim}), a batch (N, L, {dim}) or (L, N, {dim}), or one per "
                f"chip (E, ...), got shape {tuple(x.shape)}"
            )
        if x.dim() == 4:
            if ens is None or x.shape[0] != ens:
                raise ValueError(
                    f"{name}: a 4-d input carries one input per chip and needs leading dimension "
                    f"ensemble={ens}, got shape {tuple(x.shape)}"
                )
            return True
        return False

    def _in_project(self, query, key, value, pq, pk, pv):
        E = self.embed_dim
        if not self.packed:
            return (_apply(self.q_proj, query, pq), _apply(self.k_proj, key, pk), _apply(self.v_proj, value, pv))
        if query is key and key is value:  # self-attention: one read
            return _apply(self.in_proj, query, pq).chunk(3, dim=-1)
        outs: dict[int, torch.Tensor] = {}
        res = []
        for k, (x, p) in enumerate(((query, pq), (key, pk), (value, pv))):
            y = outs.get(id(x))
            if y is None:
                y = outs[id(x)] = _apply(self.in_proj, x, p)
            res.append(y[..., k * E : (k + 1) * E])
        return tuple(res)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = True,
        attn_mask: torch.Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """As ``nn.MultiheadAttention.forward``; outputs gain a leading ensemble dimension."""
        ens = self.ensemble
        pq = self._per_member(query, "query", self.embed_dim, ens)
        pk = self._per_member(key, "key", self.kdim, ens)
        pv = self._per_member(value, "value", self.vdim, ens)
        if pk != pv or key.shape[:-1] != value.shape[:-1]:
            raise ValueError(
                f"key, value: expected the same leading shape, got {tuple(key.shape)} and {tuple(value.shape)}"
            )
        batched = query.dim() - pq == 3
        if not batched and ens is not None:
            raise ValueError(
                f"query: an unbatched input (L, E) with an ensemble of {ens} chips is ambiguous (its "
                f"output (E, L, E) reads as a batch); add a batch dimension"
            )
        if (key.dim() - pk == 3) != batched:
            raise ValueError(
                f"query, key: both batched or both unbatched, got shapes {tuple(query.shape)} and {tuple(key.shape)}"
            )

        def bf(x: torch.Tensor) -> torch.Tensor:  # (..., N, L, d)
            if not batched:
                return x.unsqueeze(-3)
            return x if self.batch_first else x.transpose(-3, -2)

        same_qk, same_kv = query is key, key is value
        q_in = bf(query)
        k_in = q_in if same_qk else bf(key)
        v_in = k_in if same_kv else bf(value)
        q, k, v = self._in_project(q_in, k_in, v_in, pq, pk, pv)
        N, L = q.shape[-3], q.shape[-2]
        if k.shape[-3] != N:
            raise ValueError(f"key: batch size {k.shape[-3]} differs from the query's {N}")
        lead = torch.broadcast_shapes(q.shape[:-3], k.shape[:-3], v.shape[:-3])
        M = math.prod(lead)
        B = M * N  # chips x batch
        H, hd, E = self.num_heads, self.head_dim, self.embed_dim
        q, k, v = (t.expand(*lead, *t.shape[-3:]).reshape(B, t.shape[-2], E) for t in (q, k, v))
        dt = q.dtype

        kpm = _float_mask(key_padding_mask, "key_padding_mask", dt)
        if kpm is not None:
            if not batched:
                kpm = kpm.unsqueeze(0)
            if kpm.shape != (N, k.shape[1]):
                raise ValueError(f"key_padding_mask: expected shape {(N, k.shape[1])}, got {tuple(kpm.shape)}")
            kpm = kpm.expand(M, N, kpm.shape[-1]).reshape(B, -1)
        if is_causal and attn_mask is None:
            raise RuntimeError(
                "is_causal: needs attn_mask (as nn.MultiheadAttention; it is a hint that attn_mask is the causal mask)"
            )
        p = self.dropout if self.training else 0.0
        if is_causal and kpm is None and not need_weights and p == 0.0:
            am = None  # SDPA's causal mask (the hint: attn_mask is causal)
        else:
            is_causal = False
            am = _float_mask(attn_mask, "attn_mask", dt)
        S = k.shape[1]
        if am is not None:
            if am.dim() == 2:
                if am.shape != (L, S):
                    raise ValueError(f"attn_mask: a 2-d mask must have shape {(L, S)}, got {tuple(am.shape)}")
                am = am.unsqueeze(0)
            elif am.dim() == 3:
                if am.shape != (N * H, L, S):
                    raise ValueError(f"attn_mask: a 3-d mask must have shape {(N * H, L, S)}, got {tuple(am.shape)}")
                am = am.view(N, H, L, S).expand(M, N, H, L, S).reshape(B * H, L, S)
            else:
                raise ValueError(f"attn_mask: expected 2 or 3 dimensions, got {am.dim()}")
        if self.bias_k is not None:
            k = torch.cat([k, self.bias_k.reshape(1, 1, E).expand(B, 1, E)], 1)
            bias_v = cast(nn.Parameter, self.bias_v)  # (set with bias_k: add_bias_kv)
            v = torch.cat([v, bias_v.reshape(1, 1, E).expand(B, 1, E)], 1)
            am = None if am is None else F.pad(am, (0, 1))
            kpm = None if kpm is None else F.pad(kpm, (0, 1))
        q = q.view(B, L, H, hd).transpose(1, 2).reshape(B * H, L, hd)
        k = k.view(B, k.shape[1], H, hd).transpose(1, 2).reshape(B * H, -1, hd)
        v = v.view(B, v.shape[1], H, hd).transpose(1, 2).reshape(B * H, -1, hd)
        if self.add_zero_attn:
            z = q.new_zeros(B * H, 1, hd)
            k, v = torch.cat([k, z], 1), torch.cat([v, z], 1)
            am = None if am is None else F.pad(am, (0, 1))
            kpm = None if kpm is None else F.pad(kpm, (0, 1))
        S = k.shape[1]
        if kpm is not None:
            kpm = kpm.view(B, 1, 1, S).expand(B, H, 1, S).reshape(B * H, 1, S)
            am = kpm if am is None else am + kpm
        weights = None
        if need_weights or p > 0.0:
            # explicit softmax (the dropout mask drawn from the module's generator)
            qs = q * math.sqrt(1.0 / float(hd))
            s = torch.bmm(qs, k.transpose(-2, -1)) if am is None else torch.baddbmm(am, qs, k.transpose(-2, -1))
            w = torch.softmax(s, dim=-1)
            if p > 0.0:
                keep = torch.rand(w.shape, generator=self.generator, dtype=w.dtype, device=w.device) >= p
                w = w * keep / (1.0 - p) if p < 1.0 else torch.zeros_like(w)
            out = torch.bmm(w, v)  # (B H, L, hd)
            if need_weights:
                weights = w.view(*lead, N, H, L, S)
                if average_attn_weights:
                    weights = weights.mean(dim=-3)
                if not batched:
                    weights = weights.squeeze(len(lead))
        else:
            if am is not None:
                am = am.unsqueeze(0) if am.shape[0] == 1 else am.view(B, H, -1, S)
            out = F.scaled_dot_product_attention(
                q.view(B, H, L, hd), k.view(B, H, S, hd), v.view(B, H, S, hd), am, 0.0, is_causal
            )
        out = out.reshape(B, H, L, hd).transpose(1, 2).reshape(*lead, N, L, E)
        y = _apply(self.out_proj, out, bool(lead))
        if not batched:
            y = y.squeeze(-3)
        elif not self.batch_first:
            y = y.transpose(-3, -2)
        return y, weights

    def extra_repr(self) -> str:
        return (
            f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, kdim={self.kdim}, vdim={self.vdim}, "
            f"batch_first={self.batch_first}, dropout={self.dropout}"
        )


class AnalogTransformerEncoderLayer(nn.Module):
    """``nn.TransformerEncoderLayer`` with analog attention and feed-forward layers and no fused
    fast path (see the module doc); ``forward(src, src_mask, src_key_padding_mask, is_causal)``.

    Built by :meth:`from_torch` (or by :func:`~physnn.crossbar.convert`); ``self_attn`` is an
    :class:`AnalogMultiheadAttention`, ``linear1`` / ``linear2`` are
    :class:`~physnn.crossbar.tiles.TiledAnalogLinear` (or the float ``nn.MultiheadAttention`` /
    ``nn.Linear`` where a rule left them digital), the layer norms, dropouts and the activation
    are the float layer's.
    """

    def __init__(
        self,
        self_attn: nn.Module,
        linear1: nn.Module,
        linear2: nn.Module,
        norm1: nn.Module,
        norm2: nn.Module,
        *,
        dropout: float,
        activation: Callable[[torch.Tensor], torch.Tensor],
        norm_first: bool,
    ):
        super().__init__()
        self.self_attn, self.linear1, self.linear2 = self_attn, linear1, linear2
        self.norm1, self.norm2 = norm1, norm2
        self.dropout, self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)
        self.activation = activation
        self.norm_first = bool(norm_first)

    @classmethod
    def from_torch(
        cls,
        layer: nn.TransformerEncoderLayer,
        *,
        config: CrossbarConfig | None,
        tile: TileMapping = TileMapping(),
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        backend: str | None = None,
    ) -> "AnalogTransformerEncoderLayer":
        """A copy of ``layer`` (weights, norms, dropout probability, activation, ``norm_first``);
        ``config=None``: copies of the float ``self_attn``, ``linear1``, ``linear2`` (the
        composite path only; :func:`~physnn.crossbar.convert` then converts them one by one)."""
        if not isinstance(layer, nn.TransformerEncoderLayer):
            raise TypeError(f"layer: expected a torch.nn.TransformerEncoderLayer, got {type(layer).__name__}")
        kw: dict[str, Any] = dict(config=config, tile=tile, ensemble=ensemble, generator=generator, backend=backend)
        attn = (
            copy.deepcopy(layer.self_attn)
            if config is None
            else AnalogMultiheadAttention.from_torch(layer.self_attn, **kw)
        )

        def lin(m: nn.Linear) -> nn.Module:
            if config is None:
                return copy.deepcopy(m)
            return TiledAnalogLinear.from_linear(
                m, config=config, tile=tile, ensemble=ensemble, generator=generator, backend=backend
            )

        act = layer.activation
        new = cls(
            attn,
            lin(layer.linear1),
            lin(layer.linear2),
            copy.deepcopy(layer.norm1),
            copy.deepcopy(layer.norm2),
            dropout=layer.dropout.p,
            activation=copy.deepcopy(act) if isinstance(act, nn.Module) else act,
            norm_first=layer.norm_first,
        )
        new.train(layer.training)
        return new

    def to_float(self) -> nn.TransformerEncoderLayer:
        """An ``nn.TransformerEncoderLayer`` with the float weights of the attention and the
        feed-forward layers and copies of the norms (dropout, activation, ``norm_first``,
        ``batch_first`` kept); the inverse of :meth:`from_torch`."""
        # (the float layers: an nn.MultiheadAttention, nn.Linear feed-forward layers, nn.LayerNorm norms)
        attn = self.self_attn
        attn_f = (
            attn.to_float()
            if isinstance(attn, AnalogMultiheadAttention)
            else cast(nn.MultiheadAttention, copy.deepcopy(attn))
        )
        l1, l2 = cast(nn.Linear, _float_module(self.linear1)), cast(nn.Linear, _float_module(self.linear2))
        norm1, norm2 = cast(nn.LayerNorm, self.norm1), cast(nn.LayerNorm, self.norm2)
        w = l1.weight
        act = self.activation
        new = nn.TransformerEncoderLayer(
            attn_f.embed_dim,
            attn_f.num_heads,
            dim_feedforward=l1.out_features,
            dropout=self.dropout.p,
            activation=copy.deepcopy(act) if isinstance(act, nn.Module) else act,
            layer_norm_eps=norm1.eps,
            batch_first=attn_f.batch_first,
            norm_first=self.norm_first,
            bias=l1.bias is not None,
            device=w.device,
            dtype=w.dtype,
        )
        new.self_attn, new.linear1, new.linear2 = attn_f, l1, l2
        new.norm1, new.norm2 = copy.deepcopy(norm1), copy.deepcopy(norm2)
        new.train(self.training)
        return new

    def _sa(self, x: torch.Tensor, mask, kpm, is_causal: bool) -> torch.Tensor:
        return self.dropout1(
            self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=kpm, need_weights=False, is_causal=is_causal)[0]
        )

    def _ff(self, x: torch.Tensor) -> torch.Tensor:
        pm = x.dim() == 4  # (E, N, L, d): one input per chip
        h = self.dropout(self.activation(_apply(self.linear1, x, pm)))
        return self.dropout2(_apply(self.linear2, h, pm or _is_ensemble_layer(self.linear1)))

    def forward(
        self,
        src: torch.Tensor,
        src_mask: torch.Tensor | None = None,
        src_key_padding_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        """As ``nn.TransformerEncoderLayer.forward`` (always the composite path); with an
        ensemble the output is ``(E, ...)``."""
        if isinstance(src, torch.Tensor) and src.is_nested:
            raise TypeError("src: nested tensors are not supported (pad and pass src_key_padding_mask)")
        x = src
        if self.norm_first:
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask, bool(is_causal))
            x = x + self._ff(self.norm2(x))
        else:
            x = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask, bool(is_causal)))
            x = self.norm2(x + self._ff(x))
        return x
