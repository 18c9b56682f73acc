"""Local (backpropagation-free) learning around frozen physical blocks.

Each block ``l`` has a physical system ``P_l`` with frozen parameters (drawn once from the loop's
generator) and digital parts trained by a loss local to the block; nothing is differentiated
through a physical system, and no gradient crosses blocks.

* :class:`PhyLLTrainer` -- physical local learning (PhyLL) of Momeni, Rahmani, Mallejac,
  del Hougne, Fleury, "Backpropagation-free Training of Deep Physical Neural Networks",
  Science 382, 1297 (2023), arXiv:2304.11042, as their public code does it: the physical output
  ``concat(P(h), h)`` feeds one trainable linear layer per block, ``z = W [P(h), h]``; the
  goodness is the cosine similarity of ``|z|`` with a fixed random unit vector per layer;
  positive / negative samples carry the true / a wrong label overlaid on the input; the loss is
  ``softplus(-tau (g_pos - g_neg))`` (tau = 4); blocks are trained greedily one after another;
  inference takes the argmax over labels of the summed goodness. A block passes ``|z|``,
  length-normalised, to the next one.
* ``PhyLLTrainer(goodness="ff")`` -- Hinton's Forward-Forward ("The Forward-Forward Algorithm:
  Some Preliminary Investigations", arXiv:2212.13345, 2022): goodness = mean squared ReLU
  activity, loss ``softplus(theta - g_pos) + softplus(g_neg - theta)``, same blocks and overlay;
  a block passes its length-normalised ReLU activity on.
* :class:`MonoForwardTrainer` -- Mono-Forward (Gong, Li, Abdulla, arXiv:2501.09238, 2025; compared
  in "Beyond Backpropagation", arXiv:2509.19063): each block ``a = relu(W [P(h), h])`` has a
  projection ``M`` to class scores ``a M^T`` trained with a local cross-entropy; inference uses
  the last block's scores.
* :class:`CaFoTrainer` -- Cascaded-Forward (Zhao et al., "The Cascaded Forward Algorithm for
  Neural Network Training", arXiv:2303.09728, 2023): a cascade of frozen physical blocks, each
  with a trained linear predictor (cross-entropy); the predictions are summed.

* :class:`DigitalEquivalentTrainer` -- the baseline with the *same trainable digital capacity*:
  the digital layers of Mono-Forward/PhyLL (``architecture="blocks"``) or CaFo's predictors
  (``architecture="cafo"``) around the same frozen physical blocks, trained end to end by plain
  backpropagation with one cross-entropy at the output. What a local method gains over it is
  what its way of training buys; what a method that trains the physical parameters gains over it
  is what the physical part adds.

Label overlay: a physical block cannot be told a label any other way than through its input, so
the label is written on ``n_classes`` extra input lines (a one-hot of amplitude ``label_scale``)
of the first block (the paper's code overwrites the first input pixels; extra lines keep the
whole image).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .gradient import descend, features
from .insitu_layers import CrossbarLayers, PulsedLayers
from .loop import AbstractTrainer

__all__ = [
    "overlay_label",
    "PhyLLTrainer",
    "MonoForwardTrainer",
    "CaFoTrainer",
    "DigitalEquivalentTrainer",
    "phyll_goodness",
    "phyll_loss",
    "ff_goodness",
    "ff_loss",
]


def overlay_label(x: torch.Tensor, labels: torch.Tensor, n_classes: int, scale: float = 1.0) -> torch.Tensor:
    """``[x, scale * onehot(labels)]``: the label on ``n_classes`` extra input lines."""
    return torch.cat([x, scale * F.one_hot(labels, n_classes).to(x.dtype)], -1)


def phyll_goodness(z: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """PhyLL goodness: cosine similarity of ``|z|`` ``(B, H)`` with the unit vector ``r`` ``(H,)``."""
    return F.cosine_similarity(z.abs(), r.unsqueeze(0), dim=-1)


def phyll_loss(g_pos: torch.Tensor, g_neg: torch.Tensor, tau: float = 4.0) -> torch.Tensor:
    """``mean softplus(-tau (g_pos - g_neg))`` (Momeni et al. 2023)."""
    return F.softplus(-tau * (g_pos - g_neg)).mean()


def ff_goodness(z: torch.Tensor) -> torch.Tensor:
    """Forward-Forward goodness: mean of the squared ReLU activities."""
    return torch.relu(z).square().mean(-1)


def ff_loss(g_pos: torch.Tensor, g_neg: torch.Tensor, threshold: float = 2.0) -> torch.Tensor:
    """``mean softplus(threshold - g_pos) + softplus(g_neg - threshold)`` (Hinton 2022)."""
    return (F.softplus(threshold - g_pos) + F.softplus(g_neg - threshold)).mean()


def _normalise(z: torch.Tensor) -> torch.Tensor:
    """Length-normalised activity passed to the next block (its goodness information removed,
    as in Forward-Forward), scaled to unit RMS."""
    return z / (z.norm(dim=-1, keepdim=True) / math.sqrt(z.shape[-1]) + 1e-8)


def _block_heads(systems, n_classes: int, generator) -> list[nn.Linear]:
    """One linear class predictor per physical block (CaFo's heads): weights N(0, 0.01), bias 0."""
    heads = []
    for s in systems:
        lin = nn.Linear(int(np.prod(s.output_shape)), n_classes)
        with torch.no_grad():
            lin.weight.normal_(0, 0.01, generator=generator)
            lin.bias.zero_()
        heads.append(lin)
    return heads


class _Blocks(AbstractTrainer):
    """Common part: frozen physical parameters per block, one digital layer per block (on a
    pulsed crossbar with ``in_situ``, :mod:`physnn.training.insitu_layers`)."""

    def __init__(self, *, hidden: int | None, lr: float, weight_decay: float, in_situ: PulsedLayers | None = None):
        self.hidden, self.lr, self.weight_decay = hidden, float(lr), float(weight_decay)
        if in_situ is not None and not isinstance(in_situ, PulsedLayers):
            raise TypeError(f"in_situ: expected PulsedLayers(config=...) or None, got {type(in_situ).__name__}")
        self.in_situ = in_situ
        self.xbar: CrossbarLayers | None = None

    @property
    def layer_pulses(self) -> int:
        """Pulses applied to the digital layers' crossbars so far (0 without ``in_situ``)."""
        return 0 if self.xbar is None else self.xbar.layer_pulses

    @property
    def layer_writes(self) -> int:
        """Update events of the digital layers' crossbars that sent pulses (0 without ``in_situ``)."""
        return 0 if self.xbar is None else self.xbar.layer_writes

    def _setup_blocks(self, systems, in_dim, generator, with_layers=True):
        self.thetas = [s.initial_parameters(generator).detach() for s in systems]
        self.layers = nn.ModuleList()
        dim = in_dim
        for l, s in enumerate(systems):
            p_dim = int(np.prod(s.output_shape))
            if with_layers:
                h = self.hidden or p_dim
                lin = nn.Linear(p_dim + dim, h)
                with torch.no_grad():
                    b = 1.0 / math.sqrt(p_dim + dim)
                    lin.weight.uniform_(-b, b, generator=generator)
                    lin.bias.zero_()
                self.layers.append(lin)
                dim = h
            else:
                dim = p_dim
            nxt = systems[l + 1].input_spec.shape[-1] if l + 1 < len(systems) else None
            if nxt is not None and nxt != dim:
                raise ValueError(f"system[{l + 1}]: input dimension {nxt} != {dim}, the output of block {l}")

    def _inputs(self, systems, l, h):
        """``[P_l(h), h]``: the input of block ``l``'s layer (one query)."""
        return torch.cat([features(systems[l].query(h, self.thetas[l])), h], -1)

    def _block(self, systems, l, h):
        inp = self._inputs(systems, l, h)
        return self.layers[l](inp) if self.xbar is None else self.xbar.leaf(l, inp)[0]

    def _crossbars(self, linears, generator):
        """With ``in_situ``: the digital layers ``linears`` moved onto pulsed crossbars."""
        if self.in_situ is not None:
            self.xbar = CrossbarLayers(linears, self.in_situ, generator)

    def _opt_state(self):
        return [o.state_dict() for o in self.opts]

    def state_dict(self):
        return {
            "thetas": self.thetas,
            "layers": self.layers.state_dict(),
            "opts": self._opt_state(),
            **({} if self.xbar is None else {"crossbars": self.xbar.state_dict()}),
            **self._extra_state(),
        }

    def load_state_dict(self, st):
        self.thetas = [t.clone() for t in st["thetas"]]
        self.layers.load_state_dict(st["layers"])
        for o, s in zip(self.opts, st["opts"]):
            o.load_state_dict(s)
        if self.xbar is not None:
            self.xbar.load_state_dict(st["crossbars"])
        self._load_extra(st)

    def _extra_state(self):
        return {}

    def _load_extra(self, st):
        pass


class PhyLLTrainer(_Blocks):
    """PhyLL (``goodness="phyll"``) or Forward-Forward (``goodness="ff"``) around physical blocks.

    Parameters
    ----------
    hidden : int, optional
        Width of each block's trainable linear layer (default: the block's physical output size).
    epochs_per_block : int
        Greedy schedule: epoch ``e`` trains block ``min(e // epochs_per_block, L - 1)``.
    tau : float
        Temperature of the PhyLL loss.
    threshold : float
        Forward-Forward goodness threshold.
    label_scale : float
        Amplitude of the overlaid one-hot label.
    in_situ : PulsedLayers, optional
        Put the blocks' linear layers on pulsed crossbars trained in place
        (:mod:`physnn.training.insitu_layers`; ``lr`` and ``weight_decay`` are then unused:
        the learning rate is ``in_situ.lr``). None: digital layers, Adam.
    """

    def __init__(
        self,
        *,
        goodness: str = "phyll",
        hidden: int | None = None,
        epochs_per_block: int = 5,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        tau: float = 4.0,
        threshold: float = 2.0,
        label_scale: float = 1.0,
        in_situ: PulsedLayers | None = None,
    ):
        super().__init__(hidden=hidden, lr=lr, weight_decay=weight_decay, in_situ=in_situ)
        if goodness not in ("phyll", "ff"):
            raise ValueError(f"goodness={goodness!r}: expected 'phyll' or 'ff'")
        self.goodness = goodness
        self.name = "phyll" if goodness == "phyll" else "ff"
        self.epochs_per_block = int(epochs_per_block)
        self.tau, self.threshold, self.label_scale = float(tau), float(threshold), float(label_scale)

    def setup(self, systems, data, generator):
        self.C = data.n_classes
        want = data.n_features + self.C
        if systems[0].input_spec.shape[-1] != want:
            raise ValueError(
                f"system[0]: PhyLL needs {want} inputs (features + {self.C} label lines), "
                f"got {systems[0].input_spec.shape[-1]}"
            )
        self._setup_blocks(systems, want, generator)
        self.r = []
        for lin in self.layers:
            r = torch.rand(lin.out_features, generator=generator)
            self.r.append(r / r.norm())
        self._crossbars(list(self.layers), generator)
        self.opts = (
            []
            if self.xbar is not None
            else [torch.optim.Adam(l.parameters(), lr=self.lr, weight_decay=self.weight_decay) for l in self.layers]
        )

    def _activity(self, z):
        """What a block passes on (length-normalised): ``|z|`` for PhyLL (the quantity whose
        direction is the goodness), ``relu(z)`` for Forward-Forward (Hinton's ReLU layers)."""
        return _normalise(z.abs() if self.goodness == "phyll" else torch.relu(z))

    def _good(self, l, z):
        return phyll_goodness(z, self.r[l]) if self.goodness == "phyll" else ff_goodness(z)

    def _loss(self, gp, gn):
        return phyll_loss(gp, gn, self.tau) if self.goodness == "phyll" else ff_loss(gp, gn, self.threshold)

    def train_step(self, systems, x, y, *, epoch, generator):
        active = min(epoch // self.epochs_per_block, len(systems) - 1)
        wrong = (y + torch.randint(1, self.C, y.shape, generator=generator)) % self.C
        h = overlay_label(torch.cat([x, x]), torch.cat([y, wrong]), self.C, self.label_scale)
        with torch.no_grad():
            for l in range(active):
                h = self._activity(self._block(systems, l, h))
        if self.xbar is not None:
            z, lines = self.xbar.leaf(active, self._inputs(systems, active, h))
        else:
            z = self._block(systems, active, h)
        g = self._good(active, z)
        B = x.shape[0]
        loss = self._loss(g[:B], g[B:])
        if self.xbar is not None:
            loss.backward()
            self.xbar.step(active, lines, z.grad)
        else:
            opt = self.opts[active]
            opt.zero_grad()
            loss.backward()
            opt.step()
        return {"loss": loss.item(), "block": active}

    @torch.no_grad()
    def predict(self, systems, x):
        B = x.shape[0]
        labels = torch.arange(self.C).repeat_interleave(B)
        h = overlay_label(x.repeat(self.C, 1), labels, self.C, self.label_scale)
        score = torch.zeros(self.C * B)
        for l in range(len(systems)):
            z = self._block(systems, l, h)
            score += self._good(l, z)
            h = self._activity(z)
        return score.view(self.C, B).T

    def _extra_state(self):
        return {"r": self.r}

    def _load_extra(self, st):
        self.r = [r.clone() for r in st["r"]]


class MonoForwardTrainer(_Blocks):
    """Mono-Forward around physical blocks (see module docstring).

    All blocks learn at once, each from its own cross-entropy on its detached input.

    ``in_situ=PulsedLayers(...)`` puts every block's layer ``W`` and projection ``M`` on pulsed
    crossbars trained in place (:mod:`physnn.training.insitu_layers`; the gradient reaches ``W``
    through the transposed read of ``M``'s array); ``lr`` and ``weight_decay`` are then unused.
    """

    name = "mono_forward"

    def __init__(
        self,
        *,
        hidden: int | None = None,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        in_situ: PulsedLayers | None = None,
    ):
        super().__init__(hidden=hidden, lr=lr, weight_decay=weight_decay, in_situ=in_situ)

    def setup(self, systems, data, generator):
        self.C = data.n_classes
        self._setup_blocks(systems, data.n_features, generator)
        self.proj = nn.ModuleList()
        for lin in self.layers:
            m = nn.Linear(lin.out_features, self.C, bias=False)
            with torch.no_grad():
                m.weight.normal_(0, 1.0 / math.sqrt(lin.out_features), generator=generator)
            self.proj.append(m)
        self._crossbars([*self.layers, *self.proj], generator)  # arrays 0..L-1: W, L..2L-1: M
        self.opts = (
            []
            if self.xbar is not None
            else [
                torch.optim.Adam([*l.parameters(), *m.parameters()], lr=self.lr, weight_decay=self.weight_decay)
                for l, m in zip(self.layers, self.proj)
            ]
        )

    def _project(self, l, a):
        return self.proj[l](a) if self.xbar is None else self.xbar.read(len(self.layers) + l, a)

    def train_step(self, systems, x, y, *, epoch, generator):
        h, total, out = x, 0.0, None
        L = len(systems)
        for l in range(L):
            if self.xbar is None:
                a = torch.relu(self._block(systems, l, h.detach()))
                out = self.proj[l](a)
                total += descend(self.opts[l], F.cross_entropy(out, y), out, y)["loss"]
            else:
                z, lines = self.xbar.leaf(l, self._inputs(systems, l, h.detach()))
                a = torch.relu(z)
                out = self._project(l, a)
                out.retain_grad()
                loss = F.cross_entropy(out, y)
                loss.backward()
                self.xbar.step(l, lines, z.grad)
                self.xbar.step(L + l, self.xbar.inputs(L + l, a), out.grad)
                total += loss.item()
            h = a.detach()
        return {"loss": total / L, "correct": int((out.argmax(-1) == y).sum())}

    @torch.no_grad()
    def predict(self, systems, x):
        h = x
        for l in range(len(systems)):
            h = torch.relu(self._block(systems, l, h))
        return self._project(len(systems) - 1, h)

    def _extra_state(self):
        return {"proj": self.proj.state_dict()}

    def _load_extra(self, st):
        self.proj.load_state_dict(st["proj"])


class CaFoTrainer(_Blocks):
    """Cascaded-Forward: frozen physical blocks ``h_l = P_l(h_{l-1})``, one trained linear
    predictor per block (local cross-entropy), predictions summed."""

    name = "cafo"

    def __init__(self, *, lr: float = 1e-2, weight_decay: float = 1e-4):
        super().__init__(hidden=None, lr=lr, weight_decay=weight_decay)

    def setup(self, systems, data, generator):
        self.C = data.n_classes
        self._setup_blocks(systems, data.n_features, generator, with_layers=False)
        self.layers.extend(_block_heads(systems, self.C, generator))
        self.opts = [torch.optim.Adam(l.parameters(), lr=self.lr, weight_decay=self.weight_decay) for l in self.layers]

    def _cascade(self, systems, x):
        h, feats = x, []
        for l, s in enumerate(systems):
            p = s.query(h, self.thetas[l])
            feats.append(features(p))
            h = p
        return feats

    def train_step(self, systems, x, y, *, epoch, generator):
        feats = self._cascade(systems, x)
        total, out_sum = 0.0, 0.0
        for l, f in enumerate(feats):
            out = self.layers[l](f)
            total += descend(self.opts[l], F.cross_entropy(out, y), out, y)["loss"]
            out_sum = out_sum + out.detach()
        return {"loss": total / len(feats), "correct": int((out_sum.argmax(-1) == y).sum())}

    @torch.no_grad()
    def predict(self, systems, x):
        feats = self._cascade(systems, x)
        return sum(torch.softmax(self.layers[l](f), -1) for l, f in enumerate(feats))


class DigitalEquivalentTrainer(_Blocks):
    """Backprop of the local methods' digital layers around the same frozen physical blocks.

    ``architecture="blocks"``: block ``l`` computes ``a_l = relu(W_l [P_l(a_{l-1}), a_{l-1}])``
    (Mono-Forward's and PhyLL's layer ``W [P(h), h]``, ``a_0 = x``) and a linear head reads the
    last block (Mono-Forward's last projection). ``architecture="cafo"``: the frozen cascade
    ``h_l = P_l(h_{l-1})`` with one linear predictor per block, their logits summed. Every
    digital weight is trained by Adam on one cross-entropy of the output.

    The forward pass is the measured output of each (frozen) system, as for the local methods.
    With ``through_physics=True`` the gradient reaches the layers before a block also through
    the block, by the vector-Jacobian product of the system's ideal model at its frozen
    parameters (``system.ideal``, else ``system.differentiable``; attached as
    ``y_meas + (y_model - y_model.detach())``); with False only through the digital skip
    ``a_{l-1}``. The physical parameters never change.

    Parameters
    ----------
    architecture : {"blocks", "cafo"}
    hidden : int, optional
        Width of each block's digital layer (``"blocks"``; default: the block's output size).
    lr : float
        Adam learning rate.
    weight_decay : float
    through_physics : bool
    """

    name = "digital_equivalent_baseline"

    def __init__(
        self,
        architecture: str = "blocks",
        *,
        hidden: int | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        through_physics: bool = True,
    ):
        if architecture not in ("blocks", "cafo"):
            raise ValueError(f"architecture={architecture!r}: expected 'blocks' or 'cafo'")
        super().__init__(hidden=hidden if architecture == "blocks" else None, lr=lr, weight_decay=weight_decay)
        self.architecture, self.through_physics = architecture, bool(through_physics)
        if architecture == "cafo":
            self.name = "digital_equivalent_baseline_cafo"

    def setup(self, systems, data, generator):
        self.C = data.n_classes
        blocks = self.architecture == "blocks"
        self._setup_blocks(systems, data.n_features, generator, with_layers=blocks)
        if blocks:
            self.head = nn.Linear(self.layers[-1].out_features, self.C)
            with torch.no_grad():
                self.head.weight.normal_(0, 1.0 / math.sqrt(self.layers[-1].out_features), generator=generator)
                self.head.bias.zero_()
        else:
            self.head = nn.Identity()
            self.layers.extend(_block_heads(systems, self.C, generator))
        self.opts = [
            torch.optim.Adam(
                [*self.layers.parameters(), *self.head.parameters()], lr=self.lr, weight_decay=self.weight_decay
            )
        ]

    def _physical(self, s, l, h):
        y = s.query(h.detach(), self.thetas[l])
        if self.through_physics and h.requires_grad:
            model = getattr(s, "ideal", None) or s.differentiable
            ym = model(h, self.thetas[l]).reshape(y.shape).to(y.dtype)
            y = y + (ym - ym.detach())
        return y

    def _forward(self, systems, x):
        if self.architecture == "blocks":
            h = x
            for l, s in enumerate(systems):
                p = features(self._physical(s, l, h))
                h = torch.relu(self.layers[l](torch.cat([p, h], -1)))
            return self.head(h)
        h, out = x, 0.0
        for l, s in enumerate(systems):
            h = self._physical(s, l, h)
            out = out + self.layers[l](features(h))
        return out

    def train_step(self, systems, x, y, *, epoch, generator):
        out = self._forward(systems, x)
        return descend(self.opts[0], F.cross_entropy(out, y), out, y)

    @torch.no_grad()
    def predict(self, systems, x):
        return self._forward(systems, x)

    def _extra_state(self):
        return {"head": self.head.state_dict()}

    def _load_extra(self, st):
        self.head.load_state_dict(st["head"])
