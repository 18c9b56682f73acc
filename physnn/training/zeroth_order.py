"""Zeroth-order training of a system's physical parameters from loss measurements only.

The physical parameters ``theta`` of ``systems[0]`` are trained from differences of the loss of
queried outputs; a digital readout on the measured features is trained alongside by its exact
gradient (it is digital: that costs no query).

* ``method="spsa"`` -- simultaneous perturbation stochastic approximation (Spall, "Multivariate
  stochastic approximation using a simultaneous perturbation gradient approximation", IEEE TAC
  37, 332 (1992)) with Spall's standard gain sequences ``a_k = a / (k + 1 + A)^0.602`` and
  ``c_k = c / (k + 1)^0.101`` ("Implementation of the simultaneous perturbation algorithm for
  stochastic optimization", IEEE TAES 34, 817 (1998)); Rademacher directions, two queries.
* ``method="antithetic"`` -- the average of ``directions`` antithetic (two-sided) Gaussian
  estimates, ``2 K`` queries per step.
* ``method="mezo"`` -- MeZO (Malladi et al., "Fine-Tuning Language Models with Just Forward
  Passes", NeurIPS 2023, arXiv:2305.17333): ``theta`` is perturbed *in place* by ``+eps z``,
  ``-2 eps z``, ``+eps z``, with ``z`` regenerated from one integer seed in fixed-size chunks
  each time (never stored), then updated by ``-lr g z`` the same way: the memory is that of
  inference plus one chunk. :func:`mezo_perturb` is the primitive.
* ``method="coordinate"`` -- coordinate-wise central differences on ``coordinates`` random
  coordinates per step (``2 K`` queries).
"""

from __future__ import annotations


import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..random import generator_from_seed
from .gradient import features
from .loop import AbstractTrainer

__all__ = ["spsa_gains", "mezo_perturb", "ZerothOrderTrainer"]

#: elements of z drawn at a time by :func:`mezo_perturb`
MEZO_CHUNK = 1 << 16


def spsa_gains(
    k: int | np.ndarray, *, a: float, c: float, A: float = 0.0, alpha: float = 0.602, gamma: float = 0.101
) -> tuple:
    """Spall's gain sequences ``a_k = a / (k + 1 + A)^alpha``, ``c_k = c / (k + 1)^gamma`` (k >= 0)."""
    k = np.asarray(k, dtype=np.float64)
    if np.any(k < 0):
        raise ValueError("k: iteration indices must be >= 0")
    ak = a / (k + 1.0 + A) ** alpha
    ck = c / (k + 1.0) ** gamma
    return (float(ak), float(ck)) if ak.ndim == 0 else (ak, ck)


@torch.no_grad()
def mezo_perturb(tensors: list[torch.Tensor] | torch.Tensor, seed: int, scale: float) -> None:
    """``t += scale * z`` in place for every tensor, ``z ~ N(0, 1)`` regenerated from ``seed``.

    ``z`` is drawn in chunks of :data:`MEZO_CHUNK` elements from one ``torch.Generator`` seeded
    with ``seed``, in the order of ``tensors``: the same seed gives the same ``z`` bit for bit,
    and no tensor of the full size is ever allocated. A round trip ``+eps, -2 eps, +eps``
    returns every element to within one rounding of float arithmetic per step (MeZO does the same).
    """
    if isinstance(tensors, torch.Tensor):
        tensors = [tensors]
    g = generator_from_seed(seed)
    for t in tensors:
        flat = t.view(-1)
        for i in range(0, flat.numel(), MEZO_CHUNK):
            blk = flat[i : i + MEZO_CHUNK]
            z = torch.randn(blk.numel(), generator=g, dtype=t.dtype)
            blk.add_(z, alpha=scale)


class ZerothOrderTrainer(AbstractTrainer):
    """Zeroth-order training of ``systems[0]``'s parameters plus a digital readout.

    Parameters
    ----------
    method : {"spsa", "antithetic", "mezo", "coordinate"}
    a, c, A : float
        SPSA gains (``a`` step, ``c`` perturbation, ``A`` stability constant); ``c`` is the
        perturbation size and ``a`` the learning rate of the other methods too (constant there).
    directions : int
        Antithetic directions per step.
    coordinates : int
        Coordinates per step of the coordinate-wise method.
    readout_lr : float
        Adam learning rate of the digital readout.
    relative : bool
        Scale perturbations and steps by the width ``high - low`` of each parameter's bounds
        (finite bounds only), so one setting fits parameters of different units.
    """

    def __init__(
        self,
        method: str = "spsa",
        *,
        a: float = 0.05,
        c: float = 0.02,
        A: float = 50.0,
        directions: int = 4,
        coordinates: int = 8,
        readout_lr: float = 1e-2,
        relative: bool = False,
    ):
        if method not in ("spsa", "antithetic", "mezo", "coordinate"):
            raise ValueError(f"method={method!r}: expected 'spsa', 'antithetic', 'mezo' or 'coordinate'")
        self.method, self.name = method, method
        self.a, self.c, self.A = float(a), float(c), float(A)
        self.directions, self.coordinates = int(directions), int(coordinates)
        self.readout_lr, self.relative = float(readout_lr), bool(relative)

    def setup(self, systems, data, generator):
        s = systems[0]
        self.theta = s.initial_parameters(generator).detach().clone()
        lo, hi = s.parameters.bounds(self.theta.dtype)
        w = hi - lo
        self.width = torch.where(torch.isfinite(w), w, torch.ones_like(w)) if self.relative else torch.ones_like(w)
        self.readout = nn.Linear(int(np.prod(s.output_shape)), data.n_classes)
        with torch.no_grad():
            self.readout.weight.normal_(0, 0.01, generator=generator)
            self.readout.bias.zero_()
        self.opt = torch.optim.Adam(self.readout.parameters(), lr=self.readout_lr)
        self.k = 0

    def _loss(self, s, x, y, theta):
        """Measured loss at ``theta`` (one query) and the features (for the readout)."""
        f = features(s.query(x, s.parameters.clip(theta)))
        with torch.no_grad():
            return float(F.cross_entropy(self.readout(f), y)), f

    def _readout_step(self, fs, y):
        out = self.readout(torch.cat(fs))
        loss = F.cross_entropy(out, y.repeat(len(fs)))
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return out[: y.shape[0]]

    def train_step(self, systems, x, y, *, epoch, generator):
        s = systems[0]
        th, w = self.theta, self.width
        if self.method == "spsa":
            ak, ck = spsa_gains(self.k, a=self.a, c=self.c, A=self.A)
            d = torch.randint(0, 2, th.shape, generator=generator).to(th.dtype) * 2 - 1
            lp, fp = self._loss(s, x, y, th + ck * w * d)
            lm, fm = self._loss(s, x, y, th - ck * w * d)
            g = (lp - lm) / (2 * ck) * d  # d_i = +-1: 1/d_i = d_i
            th.sub_(ak * w * g)
            fs, loss = [fp, fm], 0.5 * (lp + lm)
        elif self.method == "antithetic":
            g = torch.zeros_like(th)
            fs, ls = [], []
            for _ in range(self.directions):
                d = torch.randn(th.shape, generator=generator, dtype=th.dtype)
                lp, fp = self._loss(s, x, y, th + self.c * w * d)
                lm, fm = self._loss(s, x, y, th - self.c * w * d)
                g += (lp - lm) / (2 * self.c) * d / self.directions
                fs += [fp, fm]
                ls += [lp, lm]
            th.sub_(self.a * w * g)
            loss = float(np.mean(ls))
        elif self.method == "mezo":
            seed = int(torch.randint(0, 2**62, (1,), generator=generator))
            mezo_perturb(th, seed, self.c)
            lp, fp = self._loss(s, x, y, th)
            mezo_perturb(th, seed, -2 * self.c)
            lm, fm = self._loss(s, x, y, th)
            mezo_perturb(th, seed, self.c)
            proj = (lp - lm) / (2 * self.c)
            mezo_perturb(th, seed, -self.a * proj)
            fs, loss = [fp, fm], 0.5 * (lp + lm)
        else:  # coordinate
            idx = torch.randperm(th.numel(), generator=generator)[: self.coordinates]
            fs, ls = [], []
            for i in idx.tolist():
                e = torch.zeros_like(th)
                e[i] = self.c * w[i]
                lp, fp = self._loss(s, x, y, th + e)
                lm, fm = self._loss(s, x, y, th - e)
                th[i] -= self.a * w[i] * (lp - lm) / (2 * self.c)
                fs += [fp, fm]
                ls += [lp, lm]
            loss = float(np.mean(ls))
        self.theta = s.parameters.clip(th)
        out = self._readout_step(fs, y)
        self.k += 1
        return {"loss": loss, "correct": int((out.argmax(-1) == y).sum())}

    @torch.no_grad()
    def predict(self, systems, x):
        return self.readout(features(systems[0].query(x, self.theta)))

    def state_dict(self):
        return {
            "theta": self.theta.clone(),
            "readout": self.readout.state_dict(),
            "opt": self.opt.state_dict(),
            "k": self.k,
        }

    def load_state_dict(self, st):
        self.theta = st["theta"].clone()
        self.readout.load_state_dict(st["readout"])
        self.opt.load_state_dict(st["opt"])
        self.k = int(st["k"])
