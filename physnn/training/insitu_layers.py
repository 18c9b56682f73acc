"""A local trainer's digital layers on a second, trainable crossbar written by pulses.

PhyLL and Mono-Forward (:mod:`physnn.training.local`) train, around each frozen physical block,
linear layers ``z = W [P(h), h] + b`` (and Mono-Forward's projections ``M``) that are digital by
default (float weights, Adam). With ``in_situ=PulsedLayers(config=...)`` every one of those
weight matrices lives instead on an :class:`~physnn.crossbar.AnalogLinear` array whose devices
follow ``config.update`` (a pulsed step model, :mod:`physnn.crossbar.update`): the forward is a
read of the array, the backward through a projection is its transposed read, and each step
writes the local gradient ``dL/dz^T x`` as programming pulses through an in-place optimizer of
:mod:`physnn.crossbar.update` (``"analog_sgd"``: :class:`~physnn.crossbar.update.AnalogSGD`,
``"mixed_precision"``: :class:`~physnn.crossbar.update.MixedPrecision`). A bias is a column of
devices driven by a constant-1 input line (aihwkit's analog bias). The starting weights are the
digital layers' initialisation, programmed once (write-verify); after that only pulses change
them, with every asymmetry, bound and step noise of the device model.

The trainer reports ``layer_pulses`` (pulses applied to these arrays, all devices) and
``layer_writes`` (update events that sent at least one pulse); :func:`~physnn.training.fit`
records both in the history per epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import nn

from .._checks import check_finite, check_positive
from ..random import draw_seed

__all__ = ["PulsedLayers", "CrossbarLayers"]

OPTIMIZERS = ("analog_sgd", "mixed_precision")


def _default_rule() -> Any:
    from ..crossbar.update import DeterministicPulses

    return DeterministicPulses(stochastic_rounding=True)


@dataclass(frozen=True, kw_only=True)
class PulsedLayers:
    """Put a local trainer's digital layers on pulsed crossbars (see the module doc).

    Parameters
    ----------
    config : CrossbarConfig
        The arrays' configuration: ``config.update`` the device's step model (e.g.
        ``CrossbarConfig.ideal(w_max=1.0, update=SoftBounds(...))`` or a card with an
        ``[update]`` section), ``config.w_max`` the weight of one full conductance swing, a
        differential-pair mapping.
    optimizer : {"analog_sgd", "mixed_precision"}
        How a gradient becomes pulses (:class:`~physnn.crossbar.update.AnalogSGD`: every step
        written, :class:`~physnn.crossbar.update.MixedPrecision`: a digital accumulator,
        threshold pulses).
    lr : float
        Learning rate (weight units per unit gradient; plain SGD, no momentum).
    rule : DeterministicPulses
        Rounding of ``-lr grad / dw_min`` to pulses for ``"analog_sgd"`` (default: unbiased
        stochastic rounding).

    Examples
    --------
    >>> from physnn.crossbar import CrossbarConfig
    >>> from physnn.crossbar.update import SoftBounds
    >>> PulsedLayers(config=CrossbarConfig.ideal(w_max=1.0, update=SoftBounds(dw_min=0.002)), lr=0.1).optimizer
    'analog_sgd'
    """

    config: Any
    optimizer: str = "analog_sgd"
    lr: float = 0.05
    rule: Any = field(default_factory=_default_rule)

    def __post_init__(self) -> None:
        from ..crossbar import CrossbarConfig
        from ..crossbar.mapping import DifferentialPair
        from ..crossbar.update import DeterministicPulses

        if not isinstance(self.config, CrossbarConfig):
            raise TypeError(f"config: expected a CrossbarConfig, got {type(self.config).__name__}")
        if self.config.update is None:
            raise ValueError(
                "config.update: the crossbar of the digital layers needs a device step model "
                "(CrossbarConfig(update=SoftBounds(...)) or a card with an [update] section)"
            )
        if self.config.w_max is None:
            raise ValueError(
                "config.w_max: pulsed layers need a fixed weight scale (the weight of one full "
                "conductance swing, e.g. CrossbarConfig.ideal(w_max=1.0, update=...))"
            )
        if not isinstance(self.config.mapping, DifferentialPair):
            raise ValueError(
                f"config.mapping: pulsed layers need a DifferentialPair, got {type(self.config.mapping).__name__}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r}: expected one of {OPTIMIZERS}")
        check_positive(self.lr, "lr")
        if not isinstance(self.rule, DeterministicPulses):
            raise TypeError(f"rule: expected DeterministicPulses, got {type(self.rule).__name__}")


def _with_one(x: torch.Tensor) -> torch.Tensor:
    return torch.cat((x, torch.ones(*x.shape[:-1], 1, dtype=x.dtype, device=x.device)), -1)


class CrossbarLayers:
    """The arrays of a trainer's digital layers (one :class:`~physnn.crossbar.AnalogLinear`
    each, bias as a device column) and their in-place optimizers.

    Parameters
    ----------
    linears : sequence of nn.Linear
        The digital layers whose initial weights (and biases) are programmed.
    spec : PulsedLayers
    generator : torch.Generator
        Seeds the arrays' programming and pulse draws (one seed drawn per layer).
    """

    def __init__(self, linears: Sequence[nn.Linear], spec: PulsedLayers, generator: torch.Generator):
        from ..crossbar import AnalogLinear
        from ..crossbar.update import AnalogSGD, MixedPrecision

        if not isinstance(spec, PulsedLayers):
            raise TypeError(f"in_situ: expected PulsedLayers(config=...) or None, got {type(spec).__name__}")
        self.spec = spec
        self.bias = [lin.bias is not None for lin in linears]
        self.layers: list[Any] = []
        self.opts: list[Any] = []
        for lin, b in zip(linears, self.bias):
            gen = torch.Generator().manual_seed(draw_seed(generator))
            lay = AnalogLinear(
                lin.in_features + int(b), lin.out_features, bias=False, config=spec.config, generator=gen
            ).eval()
            lay.weight.requires_grad_(False)
            with torch.no_grad():
                w = lin.weight.detach()
                lay.weight.copy_(torch.cat((w, lin.bias.detach()[:, None]), 1) if b else w)
            lay.program()
            self.layers.append(lay)
            self.opts.append(
                AnalogSGD(lay, lr=spec.lr, rule=spec.rule)
                if spec.optimizer == "analog_sgd"
                else MixedPrecision(lay, lr=spec.lr)
            )
        self.layer_writes = 0

    def __len__(self) -> int:
        return len(self.layers)

    def inputs(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """The input lines of array ``i`` for ``x`` (a constant-1 line for a bias), detached."""
        x = x.detach().to(self.layers[i].weight.dtype)
        return _with_one(x) if self.bias[i] else x

    def leaf(self, i: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z, x_lines)``: the read ``z`` of array ``i`` as a leaf that collects ``dL/dz``, and the
        input lines (for the outer-product gradient of :meth:`step`)."""
        xl = self.inputs(i, x)
        with torch.no_grad():
            z = self.layers[i](xl)
        return z.requires_grad_(), xl

    def read(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """The read of array ``i``, differentiable in ``x`` (the transposed read of the array)."""
        xl = x.to(self.layers[i].weight.dtype)
        return self.layers[i](_with_one(xl) if self.bias[i] else xl)

    @torch.no_grad()
    def step(self, i: int, x_lines: torch.Tensor, dz: torch.Tensor) -> None:
        """Write ``-lr dz^T x_lines`` (the local gradient of array ``i``) as pulses."""
        if dz is None:
            raise ValueError(f"dz: array {i} got no gradient (its output did not reach the loss)")
        check_finite(dz, f"dz (the loss gradient at the output of array {i})")
        check_finite(x_lines, f"x_lines (the input of array {i})")
        before = self._pulses(i)
        self.opts[i].step([dz.transpose(-2, -1) @ x_lines])
        if self._pulses(i) > before:
            self.layer_writes += 1

    def _pulses(self, i: int) -> int:
        p = getattr(self.layers[i], "pulses_", None)
        return 0 if p is None else int(p.sum())

    @property
    def layer_pulses(self) -> int:
        """Pulses applied to the arrays so far (all devices)."""
        return sum(self._pulses(i) for i in range(len(self.layers)))

    def pulses_per_device(self) -> float:
        """Mean pulses per cross-point over all arrays."""
        n = sum(lay.in_features * lay.out_features for lay in self.layers)
        return self.layer_pulses / n

    def state_dict(self) -> dict:
        from ..crossbar.update.layer_update import pulsed_state

        return {
            "devices": [pulsed_state(lay) for lay in self.layers],
            "gens": [lay.generator.get_state() for lay in self.layers],
            "chi": [
                None if not hasattr(o, "chi_") else [None if c is None else c.clone() for c in o.chi_]
                for o in self.opts
            ],
            "layer_writes": self.layer_writes,
        }

    def load_state_dict(self, st: dict) -> None:
        from ..crossbar.update.layer_update import load_pulsed_state

        for lay, dev, g in zip(self.layers, st["devices"], st["gens"]):
            load_pulsed_state(lay, dev)
            lay.generator.set_state(g)
        for o, chi in zip(self.opts, st["chi"]):
            if chi is not None:
                o.chi_ = [None if c is None else c.clone() for c in chi]
        self.layer_writes = int(st["layer_writes"])
