"""Your own network on crossbar tiles: :func:`convert` maps every ``nn.Linear``, ``nn.Conv1d``,
``nn.Conv2d``, ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` (and their cells) and the projections of
``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer`` of
any ``nn.Module`` onto fixed-size analog arrays.

``model2, report = convert(model, config, tile=TileMapping(rows=512, cols=512), ensemble=8)``
returns a copy of ``model`` (the float model is left untouched unless ``inplace=True``) whose
linear layers are :class:`~physnn.crossbar.tiles.TiledAnalogLinear` and whose convolutions are
:class:`~physnn.crossbar.conv.AnalogConv1d` / :class:`~physnn.crossbar.conv.AnalogConv2d`,
each split into ``rows x cols`` tiles with their own DAC range, ADC, output noise, bound
management and drift compensation, all tiles of a layer evaluated in one batched read (partial
sums of the input tiles added digitally in the read's precision). ``print(report)`` lists every
layer that holds weights: its tiles and conductance devices, or why it was left digital
(transposed and 3-d convolutions, embeddings, normalisation layers, LSTM projections
``proj_size``, ReLU Elman RNNs are never skipped silently).

Recurrent layers become :class:`~physnn.crossbar.rnn_stack.StackedAnalogLSTM` / ``GRU`` /
``RNN`` (torch's ``num_layers``, ``bidirectional``, ``batch_first``, ``dropout`` and state
layouts; one :class:`~physnn.crossbar.rnn.AnalogLSTM` ... per layer and direction) and cells
:class:`~physnn.crossbar.rnn.AnalogLSTMCell` / ``GRUCell`` / ``RNNCell``, all with ideal gate
activations (``torch.sigmoid`` / ``tanh``; ramp-ADC activations: build the analog modules by
hand). ``tile`` splits each input projection ``W_ih``; each recurrent matrix ``W_hh`` stays on
one array (its per-step read, and the compiled LSTM loop, read one array), which the report
line of the layer says, with a note when ``W_hh`` is larger than the tile.

Attention: torch's ``nn.MultiheadAttention`` reads ``in_proj_weight`` and ``out_proj.weight``
directly (``F.multi_head_attention_forward`` or a fused kernel), and ``nn.TransformerEncoderLayer``
has a fused eval fast path on the float weights, so both are first rebuilt
(:class:`~physnn.crossbar.attention.AnalogMultiheadAttention`,
:class:`~physnn.crossbar.attention.AnalogTransformerEncoderLayer`: the same computation with the
projections called as modules) and their projections then converted like any linear layer,
under the names ``<attn>.in_proj`` (packed ``3E x E``) or ``<attn>.q_proj`` / ``k_proj`` /
``v_proj`` (when ``kdim``/``vdim`` differ), ``<attn>.out_proj``, ``<layer>.linear1`` /
``linear2``; a rule on the attention or the layer (name or type) skips it whole or sets the
config / tile of its projections. An ``nn.TransformerEncoder`` gets ``use_nested_tensor =
False`` (its nested-tensor path would read the first layer's float weights); the decoder layer
has no fast path and is converted in place. Per-layer :class:`Rule` s, by qualified module name (``fnmatch``
pattern) or by type, skip a layer, give it another config or tile size, or demand that it be
converted (``require=True``: an error names it otherwise). Then
:func:`program_model` writes every array, :func:`set_model_time` moves the whole chip to a time
after programming (drift and global drift compensation per tile), and the model's
``state_dict`` saves the programmed chip. With ``ensemble=E`` every analog layer holds ``E``
independent chips: the first one broadcasts a ``(B, ...)`` input to ``(E, B, ...)``, the later
ones read one input per chip, so the modules between them must treat the leading dimensions as
batch dimensions (element-wise activations, pooling of ``(N, C, H, W)`` views, ``Flatten(-3)``).

Examples
--------
>>> import torch
>>> from torch import nn
>>> from physnn.crossbar import CrossbarConfig, TileMapping, convert, program_model, set_model_time
>>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(-3), nn.Linear(4 * 6 * 6, 10))
>>> analog, report = convert(net, CrossbarConfig.from_card("pcm_aihwkit"), tile=TileMapping(rows=64, cols=64),
...                          ensemble=4, generator=torch.Generator().manual_seed(0))
>>> _ = set_model_time(program_model(analog.eval()), 86400.0)
>>> analog(torch.randn(2, 1, 8, 8)).shape
torch.Size([4, 2, 10])
>>> [r.tiles for r in report.rows]
[1, 3]
"""

from __future__ import annotations

import copy
import fnmatch
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn

from ..random import check_generator
from .config import CrossbarConfig
from .attention import AnalogMultiheadAttention, AnalogTransformerEncoderLayer
from .conv import AnalogConv1d, AnalogConv2d
from .layer import AnalogLinear
from .rnn import AnalogGRU, AnalogGRUCell, AnalogLSTM, AnalogLSTMCell, AnalogRNN, AnalogRNNCell
from .rnn_stack import StackedAnalogGRU, StackedAnalogLSTM, StackedAnalogRNN
from .tiles import TileMapping, TiledAnalogLinear

__all__ = ["Rule", "ReportRow", "ConversionReport", "convert", "program_model", "set_model_time", "analog_layers"]


def _cell_unsupported(m: nn.Module) -> str | None:
    if getattr(m, "nonlinearity", "tanh") != "tanh":
        return f"nonlinearity={m.nonlinearity!r}: the analog Elman cell computes tanh only"
    return None


#: (type, converter, why-not) — the converter's keyword arguments are ``config, tile, ensemble,
#: generator, backend``; ``why-not(module)`` names an option the analog layer lacks (None: none)
_CONVERTERS: tuple[tuple[type, Any, Any], ...] = (
    (nn.Linear, TiledAnalogLinear.from_linear, None),
    (nn.Conv1d, AnalogConv1d.from_conv, None),
    (nn.Conv2d, AnalogConv2d.from_conv, None),
    (nn.LSTM, StackedAnalogLSTM.from_torch, StackedAnalogLSTM.unsupported),
    (nn.GRU, StackedAnalogGRU.from_torch, StackedAnalogGRU.unsupported),
    (nn.RNN, StackedAnalogRNN.from_torch, StackedAnalogRNN.unsupported),
    (nn.LSTMCell, AnalogLSTMCell.from_torch, None),
    (nn.GRUCell, AnalogGRUCell.from_torch, None),
    (nn.RNNCell, AnalogRNNCell.from_torch, _cell_unsupported),
)

_RECURRENT = (StackedAnalogLSTM, StackedAnalogGRU, StackedAnalogRNN, AnalogLSTMCell, AnalogGRUCell, AnalogRNNCell)


def _recurrent_note(new: nn.Module, tile: TileMapping) -> str:
    """How a converted recurrent layer sits on arrays (its report line): both matrices on tiles."""
    stacked = hasattr(new, "layers")
    cell = new.layers[0].cell if stacked else new
    hh = cell.hh
    n_hh = hh.n_tiles if hasattr(hh, "n_tiles") else 1
    return (
        f"W_ih and W_hh on tiles (W_hh {hh.out_features}x{hh.in_features}: {n_hh} tile"
        f"{'s' if n_hh != 1 else ''})" + (" per layer and direction" if stacked else "")
    )


def _analog_types() -> tuple[type, ...]:
    """Layers with their own ``program()`` / ``set_time()``."""
    return (
        AnalogLinear,
        TiledAnalogLinear,
        AnalogConv1d,
        AnalogConv2d,
        AnalogLSTMCell,
        AnalogGRUCell,
        AnalogRNNCell,
        AnalogLSTM,
        AnalogGRU,
        AnalogRNN,
        StackedAnalogLSTM,
        StackedAnalogGRU,
        StackedAnalogRNN,
        AnalogMultiheadAttention,
    )


#: layers that do not call their weight-holding children as modules: :func:`convert` first
#: rebuilds them with float ``nn.Linear`` projections that are called as modules (same
#: computation), then converts those children like any other layer (rules by their names);
#: exact types only (a subclass may compute something else: left digital, see _UNSUPPORTED)
_RESTRUCTURE = (
    (nn.MultiheadAttention, lambda m, g: AnalogMultiheadAttention.from_torch(m, config=None, generator=g)),
    (nn.TransformerEncoderLayer, lambda m, g: AnalogTransformerEncoderLayer.from_torch(m, config=None)),
)


#: weight-holding layers :func:`convert` does not map (yet), with the reason it reports; not
#: entered (they may use their children's weights directly, as a subclass of
#: ``nn.MultiheadAttention`` with its own forward would read ``out_proj.weight``)
_UNSUPPORTED: tuple[tuple[Any, str], ...] = (
    (
        (nn.MultiheadAttention, nn.TransformerEncoderLayer),
        "a subclass with a forward of its own (only torch's own class is rebuilt with analog projections; "
        "convert its parts or build AnalogMultiheadAttention / AnalogTransformerEncoderLayer)",
    ),
    (nn.RNNBase, "this recurrent layer type has no analog equivalent (LSTM, GRU and RNN have)"),
    (nn.RNNCellBase, "this recurrent cell type has no analog equivalent (LSTMCell, GRUCell and RNNCell have)"),
    ((nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d), "transposed convolutions are not supported yet"),
    (nn.Conv3d, "3-d convolutions are not supported yet"),
    ((nn.Embedding, nn.EmbeddingBag), "an embedding is a table lookup, not a matrix-vector product"),
    (
        (
            nn.BatchNorm1d,
            nn.BatchNorm2d,
            nn.BatchNorm3d,
            nn.InstanceNorm1d,
            nn.InstanceNorm2d,
            nn.InstanceNorm3d,
            nn.LayerNorm,
            nn.GroupNorm,
            *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
        ),
        "normalisation layer (digital by design)",
    ),
)


@dataclass(frozen=True, kw_only=True)
class Rule:
    """A per-layer choice of :func:`convert`; the first rule that matches a layer applies.

    Parameters
    ----------
    match : str, type or tuple of types
        An ``fnmatch`` pattern on the qualified module name (``"features.*"``, ``"head"``;
        case-sensitive), or module type(s) matched with ``isinstance`` (``nn.Conv2d``). The
        projections of an attention are named ``<attn>.in_proj`` (or ``q_proj`` / ``k_proj`` /
        ``v_proj``) and ``<attn>.out_proj`` and match ``nn.Linear``; a rule with ``config`` or
        ``tile`` on an attention or a transformer encoder layer sets them for its projections.
    skip : bool
        Leave the matched layers digital (reported as such).
    config : CrossbarConfig, optional
        Another configuration for the matched layers (None: ``convert``'s).
    tile : TileMapping, optional
        Another array size for the matched layers (None: ``convert``'s).
    require : bool
        The matched layers must be converted: a layer that cannot be (unsupported type) raises
        a ``ValueError`` naming it instead of being left digital.
    """

    match: str | type | tuple[type, ...]
    skip: bool = False
    config: CrossbarConfig | None = None
    tile: TileMapping | None = None
    require: bool = False

    def __post_init__(self) -> None:
        m = self.match
        types = m if isinstance(m, tuple) else (m,)
        if not isinstance(m, str) and not (
            types and all(isinstance(t, type) and issubclass(t, nn.Module) for t in types)
        ):
            raise TypeError(f"match: expected an fnmatch pattern (str) or nn.Module type(s), got {m!r}")
        if self.config is not None and not isinstance(self.config, CrossbarConfig):
            raise TypeError(f"config: expected a CrossbarConfig or None, got {type(self.config).__name__}")
        if self.tile is not None and not isinstance(self.tile, TileMapping):
            raise TypeError(f"tile: expected a TileMapping or None, got {type(self.tile).__name__}")
        if self.skip and self.require:
            raise ValueError(f"Rule(match={m!r}): skip=True and require=True contradict each other")

    def matches(self, name: str, module: nn.Module) -> bool:
        """Whether this rule applies to ``module`` at qualified name ``name``."""
        if isinstance(self.match, str):
            return fnmatch.fnmatchcase(name, self.match)
        return isinstance(module, self.match)


@dataclass(frozen=True, kw_only=True)
class ReportRow:
    """One weight-holding layer of a :func:`convert` call.

    ``devices``: conductance devices programmed per chip (2 per weight with a differential pair,
    one per weight plus a reference column per tile otherwise; 0 when left digital).
    """

    name: str
    layer_type: str
    weight_shape: tuple[int, ...]
    tiles: int
    devices: int
    status: str  # "converted", "left digital" or "already analog"
    reason: str = ""  # why it was left digital; for a converted recurrent layer, its arrays


@dataclass(frozen=True)
class ConversionReport:
    """The rows of a :func:`convert` call, in module order; ``str()`` prints a table."""

    rows: tuple[ReportRow, ...]

    def __iter__(self) -> Iterator[ReportRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, name: str) -> ReportRow:
        """The row of the layer with qualified name ``name``."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"name={name!r}: no such layer in the report")

    @property
    def converted(self) -> tuple[ReportRow, ...]:
        return tuple(r for r in self.rows if r.status == "converted")

    @property
    def left_digital(self) -> tuple[ReportRow, ...]:
        return tuple(r for r in self.rows if r.status == "left digital")

    def __str__(self) -> str:
        head = ("layer", "type", "weight shape", "tiles", "devices", "status")
        body = [
            (
                r.name or "(model)",
                r.layer_type,
                "x".join(map(str, r.weight_shape)) or "-",
                str(r.tiles),
                str(r.devices),
                r.status + (f": {r.reason}" if r.reason else ""),
            )
            for r in self.rows
        ]
        body.append(
            (
                "total",
                "",
                "",
                str(sum(r.tiles for r in self.rows)),
                str(sum(r.devices for r in self.rows)),
                f"{len(self.converted)} converted, {len(self.left_digital)} left digital",
            )
        )
        wid = [max(len(row[k]) for row in (head, *body)) for k in range(len(head))]

        def fmt(row: tuple[str, ...]) -> str:
            return "  ".join(
                c.ljust(w) if k in (0, 1, 5) else c.rjust(w) for k, (c, w) in enumerate(zip(row, wid))
            ).rstrip()

        return "\n".join([fmt(head), "  ".join("-" * w for w in wid), *map(fmt, body)])


def _first_rule(rules: tuple[Rule, ...], name: str, module: nn.Module) -> Rule | None:
    for r in rules:
        if r.matches(name, module):
            return r
    return None


def _weight_shape(m: nn.Module) -> tuple[int, ...]:
    """Shape of ``m.weight``, else of its first own parameter (``in_proj_weight``, ``weight_ih_l0``)."""
    w = getattr(m, "weight", None)
    if isinstance(w, torch.Tensor):
        return tuple(w.shape)
    own = next(m.parameters(recurse=False), None)
    own = next(m.parameters(), None) if own is None else own
    return () if own is None else tuple(own.shape)


def convert(
    model: nn.Module,
    config: CrossbarConfig,
    *,
    tile: TileMapping = TileMapping(),
    ensemble: int | None = None,
    rules: Any = (),
    inplace: bool = False,
    generator: torch.Generator | None = None,
    backend: str | None = None,
) -> tuple[nn.Module, ConversionReport]:
    """Replace every ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d`` of ``model`` by its analog layer.

    Parameters
    ----------
    model : nn.Module
        Any module (the model itself may be a single ``nn.Linear``/conv).
    config : CrossbarConfig
        Default configuration of the analog layers.
    tile : TileMapping
        Default array size (``TileMapping.single()``: one array per layer).
    ensemble : int, optional
        Number ``E`` of independent chips in every analog layer (outputs get a leading ``E``).
    rules : sequence of Rule
        Per-layer exceptions (first match wins).
    inplace : bool
        Modify ``model`` itself; default: a deep copy (``model`` is left untouched).
    generator : torch.Generator, optional
        Shared by all analog layers (programming in module order, reads).
    backend : str, optional
        Read back end of the analog layers.

    Returns
    -------
    (nn.Module, ConversionReport)
        The converted model (not yet programmed: :func:`program_model`, or the first eval-mode
        forward of each layer) and one report row per weight-holding layer.

    Raises
    ------
    ValueError
        A rule with ``require=True`` matches a layer that cannot be converted (the message
        names the layer and says why).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(config, CrossbarConfig):
        raise TypeError(f"config: expected a CrossbarConfig, got {type(config).__name__}")
    if not isinstance(tile, TileMapping):
        raise TypeError(f"tile: expected a TileMapping, got {type(tile).__name__}")
    rules = tuple(rules) if not isinstance(rules, Rule) else (rules,)
    for k, r in enumerate(rules):
        if not isinstance(r, Rule):
            raise TypeError(f"rules[{k}]: expected a Rule, got {type(r).__name__}")
    check_generator(generator)
    root = model if inplace else copy.deepcopy(model)
    rows: list[ReportRow] = []
    analog = _analog_types()

    def children(m: nn.Module, name: str, cfg: CrossbarConfig, tl: TileMapping) -> None:
        for child_name, child in list(m.named_children()):
            q = f"{name}.{child_name}" if name else child_name
            rep = visit(q, child, cfg, tl)
            if rep is not None:
                setattr(m, child_name, rep)

    def visit(name: str, m: nn.Module, config: CrossbarConfig, tile: TileMapping) -> nn.Module | None:
        """The replacement of ``m`` (None: keep it); appends report rows. ``config`` / ``tile``:
        the defaults here (a rule on a rebuilt container sets them for its children)."""
        rule = _first_rule(rules, name, m)
        kind = type(m).__name__
        if isinstance(m, analog):
            rows.append(
                ReportRow(name=name, layer_type=kind, weight_shape=(), tiles=0, devices=0, status="already analog")
            )
            return None

        def skip_row() -> ReportRow:
            return ReportRow(
                name=name,
                layer_type=kind,
                weight_shape=_weight_shape(m),
                tiles=0,
                devices=0,
                status="left digital",
                reason=f"rule (match={rule.match!r}, skip=True)",
            )

        cfg = rule.config if rule is not None and rule.config is not None else config
        tl = rule.tile if rule is not None and rule.tile is not None else tile
        rebuild = next((f for t, f in _RESTRUCTURE if type(m) is t), None)  # a subclass: its own forward
        if rebuild is not None:
            if rule is not None and rule.skip:
                rows.append(skip_row())
                return None
            new = rebuild(m, generator)
            if isinstance(new, AnalogMultiheadAttention) and new.bias_k is not None:
                rows.append(
                    ReportRow(
                        name=name,
                        layer_type=kind,
                        weight_shape=tuple(new.bias_k.shape),
                        tiles=0,
                        devices=0,
                        status="left digital",
                        reason="bias_k, bias_v (add_bias_kv) are appended to the projected keys and values digitally",
                    )
                )
            children(new, name, cfg, tl)
            return new
        make, why_not = next(((f, w) for t, f, w in _CONVERTERS if isinstance(m, t)), (None, None))
        why = None if why_not is None else why_not(m)
        if make is not None and why is None:
            if rule is not None and rule.skip:
                rows.append(skip_row())
                return None
            new = make(m, config=cfg, tile=tl, ensemble=ensemble, generator=generator, backend=backend)
            lin = new.linear if isinstance(new, (AnalogConv1d, AnalogConv2d)) else new
            note = _recurrent_note(new, tl) if isinstance(new, _RECURRENT) else ""
            rows.append(
                ReportRow(
                    name=name,
                    layer_type=kind,
                    weight_shape=_weight_shape(m),
                    tiles=lin.n_tiles,
                    devices=lin.devices,
                    status="converted",
                    reason=note,
                )
            )
            return new
        if why is None:
            why = next((w for t, w in _UNSUPPORTED if isinstance(m, t)), None)
        own = [n for n, _ in m.named_parameters(recurse=False)]
        if why is None and own:
            why = f"{kind} holds parameters ({', '.join(own)}) with no analog equivalent"
        if why is not None:
            if rule is not None and rule.require:
                raise ValueError(
                    f"{name or '(model)'}: {kind} cannot be converted ({why}); a rule "
                    f"(match={rule.match!r}) requires it"
                )
            rows.append(
                ReportRow(
                    name=name,
                    layer_type=kind,
                    weight_shape=_weight_shape(m),
                    tiles=0,
                    devices=0,
                    status="left digital",
                    reason=why,
                )
            )
            if make is not None or any(isinstance(m, t) for t, _ in _UNSUPPORTED):
                return None  # not entered: it may use its children's weights directly
        children(m, name, config, tile)
        if isinstance(m, nn.TransformerEncoder):
            # its nested-tensor fast path would read layers[0].self_attn.in_proj_weight and hand
            # nested tensors to the layers
            m.use_nested_tensor = False
        return None

    top = visit("", root, config, tile)
    return (root if top is None else top), ConversionReport(tuple(rows))


def analog_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The outermost analog layers of ``model`` (qualified name, layer): those with their own
    ``program()``/``set_time()`` (a tiled layer's tiles and a convolution's matrix are theirs)."""
    analog = _analog_types()
    found: list[tuple[str, nn.Module]] = []

    def walk(name: str, m: nn.Module) -> None:
        if isinstance(m, analog):
            found.append((name, m))
            return
        for c, child in m.named_children():
            walk(f"{name}.{c}" if name else c, child)

    walk("", model)
    return found


def program_model(model: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Program every analog layer of ``model`` (module order; ``generator``: all draws, None:
    each layer's own). Returns ``model``."""
    gen = check_generator(generator)
    for _, m in analog_layers(model):
        m.program(gen)
    return model


def set_model_time(model: nn.Module, t_inference: float, generator: torch.Generator | None = None) -> nn.Module:
    """Move every analog layer of ``model`` to ``t_inference`` s after programming (drift,
    read-noise state and global drift compensation of every tile). Returns ``model``."""
    gen = check_generator(generator)
    for _, m in analog_layers(model):
        m.set_time(t_inference, gen)
    return model
