"""Physics-aware training (PAT): forward on the system, backward through a fitted digital twin.

Wright, Onodera, Stein, Wang, Laydevant, Marandi, McMahon, "Deep physical neural networks trained
with backpropagation", Nature 601, 549 (2022). The forward pass is a query of the physical
system; the backward pass is the vector-Jacobian product of a differentiable *digital twin*
evaluated at the same inputs and parameters, attached to the measured output by
``y = y_meas + (y_twin - y_twin.detach())``: the loss sees the measured states, the gradient
the twin's Jacobian.

The twin (:class:`DigitalTwin`) is a differentiable prior model ``prior(x, theta)`` (e.g. the
ideal crossbar ``act(x theta^T)``) with a per-output affine calibration ``gain * prior + offset``
fitted by per-output least squares (closed form) to the system's own queries: a
calibration set drawn at set-up, and a ring buffer of the queries made during training, refit
every ``refit_every`` steps. The fit error (relative RMS error on held-out queries) is kept in
``twin_error_`` after every fit; ``noise_floor_`` is the relative RMS noise of the system itself
(one query repeated), the least error any twin can have.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .gradient import descend, features
from .loop import AbstractTrainer

__all__ = ["DigitalTwin", "PhysicsAwareTrainer"]


class DigitalTwin(nn.Module):
    """``gain * prior(x, theta) + offset`` with ``gain``/``offset`` per output (fitted).

    Parameters
    ----------
    prior : callable ``(x, theta) -> (B, M)``
        Differentiable model of the system.
    n_outputs : int
    """

    def __init__(self, prior: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], n_outputs: int):
        super().__init__()
        self.prior = prior
        self.gain = nn.Parameter(torch.ones(n_outputs))
        self.offset = nn.Parameter(torch.zeros(n_outputs))

    def forward(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        return self.gain * self.prior(x, theta).reshape(x.shape[0], -1) + self.offset

    def fit(self, xs: list, thetas: list, ys: list, *, steps: int = 200, lr: float = 0.05) -> float:
        """Fit gain and offset to recorded queries; returns the relative RMS error after the fit.

        The prior is evaluated once per recorded query (it does not depend on the calibration),
        then the affine calibration is fitted on the stacked outputs.
        """
        with torch.no_grad():
            P = torch.cat([self.prior(x, t).reshape(x.shape[0], -1) for x, t in zip(xs, thetas)]).to(torch.float32)
        Y = torch.cat([y.reshape(y.shape[0], -1) for y in ys]).to(torch.float32)
        # closed-form per-output least squares: y = g p + o
        pm, ym = P.mean(0), Y.mean(0)
        var = (P - pm).square().mean(0)
        cov = ((P - pm) * (Y - ym)).mean(0)
        g = torch.where(var > 1e-12, cov / var.clamp_min(1e-12), torch.ones_like(var))
        with torch.no_grad():
            self.gain.copy_(g)
            self.offset.copy_(ym - g * pm)
        return self.error(P, Y)

    def error(self, P: torch.Tensor, Y: torch.Tensor) -> float:
        with torch.no_grad():
            r = self.gain * P + self.offset - Y
            return float(r.square().mean().sqrt() / Y.square().mean().sqrt().clamp_min(1e-12))

    def relative_error(self, xs, thetas, ys) -> float:
        """Relative RMS error of the twin on recorded queries (held out)."""
        with torch.no_grad():
            P = torch.cat([self.prior(x, t).reshape(x.shape[0], -1) for x, t in zip(xs, thetas)]).to(torch.float32)
        Y = torch.cat([y.reshape(y.shape[0], -1) for y in ys]).to(torch.float32)
        return self.error(P, Y)


class PhysicsAwareTrainer(AbstractTrainer):
    """PAT of ``systems[0]``'s parameters plus a digital readout.

    Parameters
    ----------
    prior : callable, optional
        ``(x, theta) -> outputs``, differentiable; default ``system.ideal`` if the system has it,
        else ``system.differentiable``.
    lr : float
        Adam learning rate (physical parameters and readout).
    calibration_queries : int
        Queries (random training batches, random parameters near the start) fitted at set-up.
    refit_every : int
        Refit the twin on the buffer every this many steps.
    buffer : int
        Recent training queries kept for refits.
    """

    name = "pat"

    def __init__(
        self,
        *,
        prior: Callable | None = None,
        lr: float = 3e-3,
        calibration_queries: int = 8,
        refit_every: int = 50,
        buffer: int = 32,
    ):
        self.prior, self.lr = prior, float(lr)
        self.calibration_queries, self.refit_every, self.buffer = (
            int(calibration_queries),
            int(refit_every),
            int(buffer),
        )

    def setup(self, systems, data, generator):
        s = systems[0]
        prior = self.prior or getattr(s, "ideal", None) or s.differentiable
        self.theta = nn.Parameter(s.initial_parameters(generator).clone())
        M = int(np.prod(s.output_shape))
        self.twin = DigitalTwin(prior, M)
        self.readout = nn.Linear(M, data.n_classes)
        with torch.no_grad():
            self.readout.weight.normal_(0, 0.01, generator=generator)
            self.readout.bias.zero_()
        self.opt = torch.optim.Adam([self.theta, *self.readout.parameters()], lr=self.lr)
        # calibration: queries on training batches at the start parameters and small random moves
        xs, ts, ys = [], [], []
        lo, hi = s.parameters.bounds(self.theta.dtype)
        for i in range(self.calibration_queries):
            idx = torch.randint(0, data.x_train.shape[0], (64,), generator=generator)
            t = self.theta.detach().clone()
            if i % 2:
                t = s.parameters.clip(t * (1 + 0.2 * torch.randn(t.shape, generator=generator)))
            xs.append(data.x_train[idx])
            ts.append(t)
            ys.append(s.query(xs[-1], t))
        # noise floor: the same query twice differs by sqrt(2) x the system's own noise
        y_rep = s.query(xs[0], ts[0])
        self.noise_floor_ = float(
            (y_rep - ys[0]).square().mean().sqrt() / ys[0].square().mean().sqrt().clamp_min(1e-12) / 2**0.5
        )
        half = max(1, len(xs) // 2)
        self.twin.fit(xs[:half], ts[:half], ys[:half])
        self.twin_error_ = [self.twin.relative_error(xs[half:] or xs, ts[half:] or ts, ys[half:] or ys)]
        self.twin.fit(xs, ts, ys)
        self._buf: list = []
        self.k = 0

    def train_step(self, systems, x, y, *, epoch, generator):
        s = systems[0]
        theta = self.theta.detach().clone()
        y_meas = s.query(x, theta)
        y_twin = self.twin(x, self.theta)
        y_phys = y_meas.reshape(y_twin.shape).to(y_twin.dtype) + (y_twin - y_twin.detach())
        out = self.readout(features(y_phys))
        metrics = descend(self.opt, F.cross_entropy(out, y), out, y)
        with torch.no_grad():
            self.theta.copy_(s.parameters.clip(self.theta))
        self._buf.append((x, theta, y_meas))
        self._buf = self._buf[-self.buffer :]
        self.k += 1
        if self.k % self.refit_every == 0 and len(self._buf) >= 4:
            # held-out error on the newest quarter before refitting on everything
            n = max(1, len(self._buf) // 4)
            xs, ts, ys = zip(*self._buf)
            self.twin_error_.append(self.twin.relative_error(xs[-n:], ts[-n:], ys[-n:]))
            self.twin.fit(list(xs), list(ts), list(ys))
        return metrics

    @torch.no_grad()
    def predict(self, systems, x):
        return self.readout(features(systems[0].query(x, self.theta.detach())))

    def state_dict(self):
        return {
            "theta": self.theta.detach().clone(),
            "readout": self.readout.state_dict(),
            "opt": self.opt.state_dict(),
            "gain": self.twin.gain.detach().clone(),
            "offset": self.twin.offset.detach().clone(),
            "k": self.k,
            "twin_error": list(self.twin_error_),
            "noise_floor": self.noise_floor_,
            "buf": [list(b) for b in self._buf],
        }

    def load_state_dict(self, st):
        with torch.no_grad():
            self.theta.copy_(st["theta"])
            self.twin.gain.copy_(st["gain"])
            self.twin.offset.copy_(st["offset"])
        self.readout.load_state_dict(st["readout"])
        self.opt.load_state_dict(st["opt"])
        self.k = int(st["k"])
        self.twin_error_ = list(st["twin_error"])
        self.noise_floor_ = float(st["noise_floor"])
        self._buf = [tuple(b) for b in st["buf"]]
