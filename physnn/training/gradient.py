"""Trainers with a digital readout on measured physical features, and the gradient-based ones.

* :class:`FrozenReadoutTrainer` -- the physical layer stays at its (random) initial parameters,
  only a digital readout is trained on its measured outputs: the *frozen-random-physical-layer
  baseline* every method is judged against.
* :class:`BackpropTrainer` -- end-to-end backpropagation through the system's differentiable
  simulation (the reference "backprop on the same architecture"; give it an ideal system).
* :class:`HWATrainer` -- hardware-aware training (Rasch et al., "Hardware-aware training for
  large-scale and diverse deep learning inference workloads using in-memory computing-based
  accelerators", Nat. Commun. 14, 5282 (2023); aihwkit's ``StandardHWATrainingPreset``): every
  training forward is a fresh programming of the crossbar with programming noise, the DAC/ADC and
  output noise in the loop (``analog_linear``, straight-through weight gradients), weights clipped
  to their bounds, and a learned input range (a clip ``[-r, r]`` before the DAC, ``r`` trained
  by its gradient, as aihwkit's ``learn_input_range``). :func:`drift_accuracy` evaluates the
  trained weights on an ensemble of chips after drift with global drift compensation.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.split import ClassificationSplit
from .loop import AbstractTrainer

if TYPE_CHECKING:
    from .adapters import AnalogLinearSystem

__all__ = ["features", "descend", "FrozenReadoutTrainer", "BackpropTrainer", "HWATrainer", "drift_accuracy"]


def features(y: torch.Tensor) -> torch.Tensor:
    """Per-sample standardised physical outputs (``layer_norm`` without affine): the readouts
    see the same scale whatever the system's output units."""
    y = y.reshape(y.shape[0], -1).to(torch.float32)
    return F.layer_norm(y, y.shape[-1:])


def descend(opt: torch.optim.Optimizer, loss: torch.Tensor, out: torch.Tensor, y: torch.Tensor) -> dict:
    """One optimiser step on ``loss``; the step's metrics (loss, correct predictions of ``out``)."""
    opt.zero_grad()
    loss.backward()
    opt.step()
    return {"loss": loss.item(), "correct": int((out.argmax(-1) == y).sum())}


def _adam_state(opt: torch.optim.Optimizer) -> dict:
    return opt.state_dict()


class FrozenReadoutTrainer(AbstractTrainer):
    """Random (or given) physical parameters, frozen; a digital linear readout trained with Adam.

    Parameters
    ----------
    lr : float
        Adam learning rate of the readout.
    weight_decay : float
    theta : Tensor, optional
        Physical parameters to freeze (default: the system's ``initial_parameters`` drawn from
        the loop's generator).
    """

    name = "frozen_random_baseline"

    def __init__(self, *, lr: float = 1e-2, weight_decay: float = 1e-4, theta: torch.Tensor | None = None):
        self.lr, self.weight_decay, self.theta0 = float(lr), float(weight_decay), theta

    def setup(self, systems, data, generator):
        s = systems[0]
        self.theta = (s.initial_parameters(generator) if self.theta0 is None else self.theta0.clone()).detach()
        self.readout = nn.Linear(int(np.prod(s.output_shape)), data.n_classes)
        with torch.no_grad():
            self.readout.weight.normal_(0, 0.01, generator=generator)
            self.readout.bias.zero_()
        self.opt = torch.optim.Adam(self.readout.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def train_step(self, systems, x, y, *, epoch, generator):
        f = features(systems[0].query(x, self.theta))
        out = self.readout(f)
        return descend(self.opt, F.cross_entropy(out, y), out, y)

    def predict(self, systems, x):
        return self.readout(features(systems[0].query(x, self.theta)))

    def state_dict(self):
        return {"theta": self.theta, "readout": self.readout.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, st):
        self.theta = st["theta"].clone()
        self.readout.load_state_dict(st["readout"])
        self.opt.load_state_dict(st["opt"])


class BackpropTrainer(AbstractTrainer):
    """Backpropagation through ``system.differentiable`` (physical parameters and readout).

    The physical parameters are clipped to their bounds after every step. With an ideal system
    (``CrossbarConfig.ideal()``) this is plain backprop on the same architecture.

    Parameters
    ----------
    lr : float
        Adam learning rate (physical parameters and readout).
    input_range : float, optional
        Learned input range: inputs are clipped to ``[-r, r]`` and divided by ``r`` (so the DAC
        sees ``[-1, 1]``), ``r`` starting at ``input_range`` and trained (None: off).
    """

    name = "backprop"

    def __init__(self, *, lr: float = 3e-3, weight_decay: float = 0.0, input_range: float | None = None):
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self.input_range = input_range

    def setup(self, systems, data, generator):
        s = systems[0]
        self.theta = nn.Parameter(s.initial_parameters(generator).clone())
        self.readout = nn.Linear(int(np.prod(s.output_shape)), data.n_classes)
        with torch.no_grad():
            self.readout.weight.normal_(0, 0.01, generator=generator)
            self.readout.bias.zero_()
        params = [self.theta, *self.readout.parameters()]
        self.log_r = None
        if self.input_range is not None:
            self.log_r = nn.Parameter(torch.tensor(math.log(float(self.input_range))))
            params.append(self.log_r)
        self.opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)

    def _inputs(self, x):
        if self.log_r is None:
            return x
        r = self.log_r.exp()
        return torch.clamp(x, -r, r) / r  # gradient reaches r through the clipped inputs

    def _forward_train(self, s, x, generator):
        return s.differentiable(self._inputs(x), self.theta)

    def train_step(self, systems, x, y, *, epoch, generator):
        s = systems[0]
        out = self.readout(features(self._forward_train(s, x, generator)))
        metrics = descend(self.opt, F.cross_entropy(out, y), out, y)
        with torch.no_grad():
            self.theta.copy_(s.parameters.clip(self.theta))
        return metrics

    def predict(self, systems, x):
        with torch.no_grad():
            return self.readout(features(systems[0].query(self._inputs(x), self.theta.detach())))

    def state_dict(self):
        st = {"theta": self.theta.detach().clone(), "readout": self.readout.state_dict(), "opt": self.opt.state_dict()}
        if self.log_r is not None:
            st["log_r"] = self.log_r.detach().clone()
        return st

    def load_state_dict(self, st):
        with torch.no_grad():
            self.theta.copy_(st["theta"])
            if self.log_r is not None:
                self.log_r.copy_(st["log_r"])
        self.readout.load_state_dict(st["readout"])
        self.opt.load_state_dict(st["opt"])


class HWATrainer(BackpropTrainer):
    """Hardware-aware training of a crossbar system (see module docstring).

    ``system.differentiable(x, theta, generator=...)`` must draw a fresh programming and read
    (:class:`~physnn.training.AnalogLinearSystem` does, with ``analog_linear``): weight
    (programming) noise, drift at the system's read time, DAC/ADC and output noise in the loop.
    """

    name = "hwa"

    def __init__(self, *, lr: float = 3e-3, weight_decay: float = 0.0, input_range: float | None = 1.0):
        super().__init__(lr=lr, weight_decay=weight_decay, input_range=input_range)

    def _forward_train(self, s, x, generator):
        return s.differentiable(self._inputs(x), self.theta, generator=generator)


@torch.no_grad()
def drift_accuracy(
    trainer: BackpropTrainer,
    system: AnalogLinearSystem,
    data: ClassificationSplit,
    times_s: Sequence[float] = (1.0, 3600.0, 86400.0, 3.15576e7),
    *,
    ensemble: int = 8,
    generator: torch.Generator | None = None,
) -> dict[float, tuple[float, float]]:
    """Test accuracy of the trained crossbar weights on ``ensemble`` chips after drift.

    The chips are programmed once (one ``AnalogLinear`` with ``ensemble=E``: one batched call
    reads them all), then aged to each time with ``set_time`` (drift, accumulated 1/f noise and
    the config's global drift compensation). Returns ``{t: (mean accuracy, std over chips)}``.
    Does not count as training queries (it builds its own chips from the system's config).
    """
    layer = system.chips(trainer.theta.detach(), ensemble, generator=generator)
    x = trainer._inputs(data.x_test)
    out = {}
    for t in times_s:
        layer.set_time(float(t), generator)
        y = system.activate(layer(x.to(layer.weight.dtype)))  # (E, N, out)
        acc = torch.stack(
            [(trainer.readout(features(y[e])).argmax(-1) == data.y_test).float().mean() for e in range(ensemble)]
        )
        out[float(t)] = (float(acc.mean()), float(acc.std()) if ensemble > 1 else 0.0)
    return out
