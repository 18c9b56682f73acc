"""Drop-in ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` on crossbars: several layers, both directions.

:class:`StackedAnalogLSTM`, :class:`StackedAnalogGRU` and :class:`StackedAnalogRNN` take
torch's constructor arguments (``num_layers``, ``bias``, ``batch_first``, ``dropout``,
``bidirectional``), its input and state layouts (``(T, B, in)`` or ``(B, T, in)``, unbatched
``(T, in)``; states ``(num_layers * D, B, H)``) and its weight names in :meth:`from_torch`
(``weight_ih_l{k}[_reverse]``...). Each layer and direction is one
:class:`~physnn.crossbar.rnn.AnalogLSTM` / ``AnalogGRU`` / ``AnalogRNN`` (module
``layers[k * D + d]``): the input projection of all time steps in one (tiled) read, the
recurrent matrix read once per step (the compiled LSTM loop where it applies). The reverse
direction runs the same module on the time-reversed sequence and flips its outputs back (what
torch's reverse direction computes). Between layers the outputs of both directions are
concatenated, then ``dropout`` (training only, a mask drawn from ``generator``) as in torch.

Not supported, each a ``ValueError`` naming it: LSTM projections (``proj_size > 0``), ReLU
Elman RNNs (``nonlinearity="relu"``; the analog cells use tanh), ``PackedSequence`` inputs.

Tiles: ``tile`` splits each input projection ``W_ih`` (``G*H x in``) and each recurrent matrix
``W_hh`` (``G*H x H``) over arrays (see :class:`~physnn.crossbar.rnn.AnalogLSTMCell`).

Ensemble: with ``ensemble=E`` a 3-d (batched) input is shared by the chips and a 4-d one
``(E, ...)`` carries one input per chip; outputs and final states get a leading ``E``
(``(E, num_layers * D, B, H)``); initial states may be shared (torch's shape) or per chip.
An unbatched input needs a batch dimension with an ensemble.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from .._checks import check_int_range
from ..random import check_generator
from .config import CrossbarConfig
from .rnn import AnalogGRU, AnalogLSTM, AnalogRNN
from .tiles import TileMapping

__all__ = ["StackedAnalogLSTM", "StackedAnalogGRU", "StackedAnalogRNN"]


class _StackedAnalog(nn.Module):
    seq_cls: type = AnalogRNN
    torch_cls: type = nn.RNN
    has_c = False

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        config: CrossbarConfig,
        tile: TileMapping | None = None,
        activations: Any = None,
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        backend: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        check_int_range(input_size, "input_size", 1)
        check_int_range(hidden_size, "hidden_size", 1)
        check_int_range(num_layers, "num_layers", 1)
        if not (0.0 <= float(dropout) <= 1.0):
            raise ValueError(f"dropout={dropout}: must lie in [0, 1]")
        if ensemble is not None:
            check_int_range(ensemble, "ensemble", 1)
        self.generator = check_generator(generator)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        self.bidirectional = bool(bidirectional)
        D = 2 if bidirectional else 1
        self.layers = nn.ModuleList(
            self.seq_cls(
                input_size if k == 0 else D * hidden_size,
                hidden_size,
                bias,
                batch_first=False,
                config=config,
                activations=activations,
                ensemble=ensemble,
                generator=generator,
                tile=tile,
                backend=backend,
                device=device,
                dtype=dtype,
            )
            for k in range(num_layers)
            for _ in range(D)
        )

    def sequences(self) -> list[AnalogLSTM | AnalogGRU | AnalogRNN]:
        """The one-layer, one-direction sequence modules, in torch's order (layer-major, forward first)."""
        return [cast("AnalogLSTM | AnalogGRU | AnalogRNN", s) for s in self.layers]

    @property
    def ensemble(self) -> int | None:
        return self.sequences()[0].ensemble

    @property
    def n_tiles(self) -> int:
        """Arrays per chip over all layers and directions."""
        return sum(s.cell.n_tiles for s in self.sequences())

    @property
    def devices(self) -> int:
        """Conductance devices programmed per chip over all layers and directions."""
        return sum(s.cell.devices for s in self.sequences())

    def program(self, generator: torch.Generator | None = None) -> "_StackedAnalog":
        """Programming event of every layer and direction (in torch's order)."""
        for s in self.sequences():
            s.program(generator)
        return self

    def set_time(self, t_inference: float, generator: torch.Generator | None = None) -> "_StackedAnalog":
        """Move every crossbar to ``t_inference`` s after programming."""
        for s in self.sequences():
            s.set_time(t_inference, generator)
        return self

    # -- conversion -----------------------------------------------------------------------------
    @classmethod
    def unsupported(cls, module: nn.Module) -> str | None:
        """Why ``module`` cannot be converted (None: it can)."""
        if getattr(module, "proj_size", 0):
            return f"proj_size={module.proj_size}: LSTM projections are not supported by the analog cells"
        if getattr(module, "nonlinearity", "tanh") != "tanh":
            return f"nonlinearity={module.nonlinearity!r}: the analog Elman cell computes tanh only"
        return None

    @classmethod
    def from_torch(
        cls,
        module: nn.RNNBase,
        *,
        config: CrossbarConfig,
        tile: TileMapping | None = None,
        activations: Any = None,
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        backend: str | None = None,
    ) -> "_StackedAnalog":
        """A copy of ``module``'s weights (all layers and directions); not yet programmed."""
        if not isinstance(module, cls.torch_cls):
            raise TypeError(f"module: expected a torch.nn.{cls.torch_cls.__name__}, got {type(module).__name__}")
        why = cls.unsupported(module)
        if why is not None:
            raise ValueError(f"module: {why}")
        new = cls(
            module.input_size,
            module.hidden_size,
            module.num_layers,
            module.bias,
            module.batch_first,
            module.dropout,
            module.bidirectional,
            config=config,
            tile=tile,
            activations=activations,
            ensemble=ensemble,
            generator=generator,
            backend=backend,
            device=module.weight_ih_l0.device,
            dtype=cast(torch.Tensor, module.weight_ih_l0).dtype,
        )
        D = 2 if module.bidirectional else 1
        for k in range(module.num_layers):
            for d in range(D):
                sfx = f"_l{k}" + ("_reverse" if d else "")
                new.sequences()[k * D + d].cell.copy_weights_(
                    getattr(module, "weight_ih" + sfx),
                    getattr(module, "weight_hh" + sfx),
                    getattr(module, "bias_ih" + sfx, None),
                    getattr(module, "bias_hh" + sfx, None),
                )
        new.train(module.training)
        return new

    # -- the forward ----------------------------------------------------------------------------
    def _states(self, hx: Any, batched: bool, B: int) -> list[Any]:
        """Per layer and direction: the initial state (None: zeros), shared or per chip."""
        n = len(self.layers)
        if hx is None:
            return [None] * n
        parts = tuple(hx) if self.has_c else (hx,)
        if self.has_c and len(parts) != 2:
            raise ValueError("hx: expected a pair (h_0, c_0)")
        E, H = self.ensemble, self.hidden_size
        out = []
        for p in parts:
            if not isinstance(p, torch.Tensor):
                raise TypeError(f"hx: expected tensors, got {type(p).__name__}")
            if not batched:
                p = p.unsqueeze(-2)
            shared = (n, B, H)
            if tuple(p.shape) == shared:
                p = p if E is None else p.unsqueeze(0).expand(E, *shared)
            elif E is None or tuple(p.shape) != (E, *shared):
                want = f"{shared}" + ("" if E is None else f" or {(E, *shared)}")
                raise ValueError(f"hx: expected shape {want}, got {tuple(p.shape)}")
            out.append(p.unbind(-3))
        return [tuple(o[k] for o in out) if self.has_c else out[0][k] for k in range(n)]

    def _dropout(self, y: torch.Tensor) -> torch.Tensor:
        p = self.dropout
        if not self.training or p == 0.0:
            return y
        if p == 1.0:
            return torch.zeros_like(y)
        keep = torch.rand(y.shape, generator=self.generator, dtype=y.dtype, device=y.device) >= p
        return y * keep / (1.0 - p)

    def forward(self, x: torch.Tensor, hx: Any = None) -> tuple[torch.Tensor, Any]:
        """As ``torch.nn.LSTM/GRU/RNN.forward``; with an ensemble outputs and states lead with ``E``."""
        if isinstance(x, nn.utils.rnn.PackedSequence):
            raise TypeError("x: PackedSequence inputs are not supported (pad the batch)")
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"x: expected a floating-point tensor, got {type(x).__name__}")
        E = self.ensemble
        per_member = x.dim() == 4
        if per_member and (E is None or x.shape[0] != E):
            raise ValueError(
                f"x: a 4-d input carries one input per chip and needs leading dimension ensemble={E}, "
                f"got shape {tuple(x.shape)}"
            )
        batched = x.dim() - per_member == 3
        if not batched and x.dim() - per_member != 2:
            raise ValueError(
                f"x: expected (T, in), (T, B, in), (B, T, in) with batch_first, or (E, ...), got shape {tuple(x.shape)}"
            )
        if not batched and E is not None:
            raise ValueError(f"x: an unbatched input with an ensemble of {E} chips is ambiguous; add a batch dimension")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"x: last dimension must be input_size={self.input_size}, got shape {tuple(x.shape)}")
        if not batched:
            x = x.unsqueeze(-2)  # (T, 1, in)
        elif self.batch_first:
            x = x.transpose(-3, -2)  # time first
        states = self._states(hx, batched, x.shape[-2])
        D = 2 if self.bidirectional else 1
        finals: list[Any] = []
        y = x
        for k in range(self.num_layers):
            outs = []
            for d in range(D):
                seq = self.layers[k * D + d]
                o, st = seq(y if d == 0 else y.flip(-3), states[k * D + d])
                outs.append(o if d == 0 else o.flip(-3))
                finals.append(st)
            y = outs[0] if D == 1 else torch.cat(outs, -1)
            if k < self.num_layers - 1:
                y = self._dropout(y)
        if self.has_c:
            state: Any = (torch.stack([s[0] for s in finals], -3), torch.stack([s[1] for s in finals], -3))
        else:
            state = torch.stack(finals, -3)
        if not batched:
            y = y.squeeze(-2)
            state = tuple(s.squeeze(-2) for s in state) if self.has_c else state.squeeze(-2)
        elif self.batch_first:
            y = y.transpose(-3, -2)
        return y, state

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, bias={self.bias}, "
            f"batch_first={self.batch_first}, dropout={self.dropout}, bidirectional={self.bidirectional}, "
            f"ensemble={self.ensemble}"
        )


class StackedAnalogLSTM(_StackedAnalog):
    """``nn.LSTM`` on crossbars (see the module doc); ``forward(x, (h_0, c_0)) -> (output, (h_n, c_n))``."""

    seq_cls = AnalogLSTM
    torch_cls = nn.LSTM
    has_c = True


class StackedAnalogGRU(_StackedAnalog):
    """``nn.GRU`` on crossbars (see the module doc); ``forward(x, h_0) -> (output, h_n)``."""

    seq_cls = AnalogGRU
    torch_cls = nn.GRU


class StackedAnalogRNN(_StackedAnalog):
    """``nn.RNN`` (tanh) on crossbars (see the module doc); ``forward(x, h_0) -> (output, h_n)``."""

    seq_cls = AnalogRNN
    torch_cls = nn.RNN
