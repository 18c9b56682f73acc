"""A nevergrad optimiser on a system's physical parameters (no hand-written CMA-ES).

Rapin & Teytaud, "Nevergrad - A gradient-free optimization platform" (2018),
https://github.com/facebookresearch/nevergrad. Each training step asks the optimiser for one
candidate ``theta`` (inside the declared bounds: ``ng.p.Array(...).set_bounds``), queries the
system on the batch, tells it the measured loss, and gives the digital readout one Adam step on
the measured features. Prediction uses the optimiser's recommendation. Suited to a handful of
physical knobs (an ESN's scaling/leak/bias, the ASIC's voltage/clock).
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .gradient import descend, features
from .loop import AbstractTrainer

__all__ = ["NevergradTrainer"]


class NevergradTrainer(AbstractTrainer):
    """Parameters
    ----------
    optimizer : str
        A name of ``nevergrad.optimizers.registry`` (``"CMA"`` (default), ``"TwoPointsDE"``, ``"NGOpt"``...).
    budget : int
        Candidates the optimiser is told to expect (it adapts its strategy to it).
    sigma : float
        Initial mutation scale as a fraction of each parameter's bound width.
    readout_lr : float
    """

    name = "nevergrad"

    def __init__(self, optimizer: str = "CMA", *, budget: int = 500, sigma: float = 0.1, readout_lr: float = 1e-2):
        import nevergrad as ng

        if optimizer not in ng.optimizers.registry:
            raise ValueError(f"optimizer={optimizer!r}: not in nevergrad.optimizers.registry")
        self.optimizer, self.budget, self.sigma, self.readout_lr = (
            optimizer,
            int(budget),
            float(sigma),
            float(readout_lr),
        )

    def _make(self, s, theta0, seed):
        import nevergrad as ng

        lo, hi = (b.double().numpy() for b in s.parameters.bounds())
        p = ng.p.Array(init=theta0.double().numpy().clip(lo, hi)).set_bounds(lo, hi, method="clipping")
        width = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
        p.set_mutation(sigma=self.sigma * width)
        p.random_state = np.random.RandomState(seed % 2**32)
        return ng.optimizers.registry[self.optimizer](parametrization=p, budget=self.budget)

    def setup(self, systems, data, generator):
        s = systems[0]
        theta0 = s.initial_parameters(generator)
        self.dtype = theta0.dtype
        self.opt_ng = self._make(s, theta0, int(torch.randint(0, 2**31, (1,), generator=generator)))
        self.readout = nn.Linear(int(np.prod(s.output_shape)), data.n_classes)
        with torch.no_grad():
            self.readout.weight.normal_(0, 0.01, generator=generator)
            self.readout.bias.zero_()
        self.opt = torch.optim.Adam(self.readout.parameters(), lr=self.readout_lr)
        self.best = theta0.clone()

    def train_step(self, systems, x, y, *, epoch, generator):
        s = systems[0]
        with warnings.catch_warnings():
            # cma's InjectionWarning when candidates are asked one at a time (the loop's protocol)
            warnings.filterwarnings("ignore", message="orphanated injected solution")
            cand = self.opt_ng.ask()
            theta = s.parameters.clip(torch.as_tensor(cand.value, dtype=self.dtype))
            f = features(s.query(x, theta))
            out = self.readout(f)
            loss = F.cross_entropy(out, y)
            self.opt_ng.tell(cand, loss.item())
            rec = self.opt_ng.provide_recommendation().value
        metrics = descend(self.opt, loss, out, y)
        self.best = s.parameters.clip(torch.as_tensor(rec, dtype=self.dtype))
        return metrics

    @torch.no_grad()
    def predict(self, systems, x):
        return self.readout(features(systems[0].query(x, self.best)))

    def state_dict(self):
        blob = torch.frombuffer(bytearray(pickle.dumps(self.opt_ng)), dtype=torch.uint8)
        return {"ng": blob, "readout": self.readout.state_dict(), "opt": self.opt.state_dict(), "best": self.best}

    def load_state_dict(self, st):
        self.opt_ng = pickle.loads(st["ng"].numpy().tobytes())
        self.readout.load_state_dict(st["readout"])
        self.opt.load_state_dict(st["opt"])
        self.best = st["best"].clone()
