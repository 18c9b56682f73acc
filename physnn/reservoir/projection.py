"""Trainable projection heads aligning two modalities with a CLIP-style contrastive loss, and the
zero-shot retrieval protocols of the resistive-memory LSM paper.

Lin et al. (Nat. Comput. Sci. 5, 37 (2025), doi:10.1038/s43588-024-00751-z; arXiv:2307.00771) keep
the LSM encoders fixed and train only small digital projections so that the embedding of a spoken
digit lands next to the embedding of an image of the same digit; the loss is the symmetric InfoNCE
loss of CLIP (Radford et al., ICML 2021, arXiv:2103.00020) with a temperature.

The paper's zero-shot protocol, as implemented in its public code (github.com/MrLinNing/MemristorLSM,
``LSM-CLIP-ATV/zero_shot_sim.py`` and ``run_zero_shot_sim_pd64.sh``; table in ``LSM-CLIP-ATV/README.md``:
"1-7 accuracy" 66.1-67.4 %, "8-9 accuracy" 87.5-88.5 %):

* training pairs: digits **1-7** only (digit 0 is not used at all); each N-TIDIGITS training
  utterance is paired with an N-MNIST training image of the same digit; projection dim 64,
  temperature 1.0, Adam lr 1e-3, batch 8, 100 epochs. Nothing about digits 8-9 (no support set,
  no prototypes, no class text) enters training -- the prototypical-network *baselines* of that
  table do use 8-9 support sets, the CLIP model does not;
* test ("8-9 accuracy"): every N-TIDIGITS test utterance of 8 or 9 (up to 100 per digit) queries
  the gallery of all N-MNIST test images of 8 and 9 (up to 100 per digit); a query counts as
  correct when its top-1 nearest image (dot product of the embeddings) shows its digit --
  :func:`gallery_retrieval`. With two classes in the gallery this is the "2-way" figure;
  "1-7 accuracy" is the same on digits 1-7 (a 7-class gallery);
* model selection: both accuracies are evaluated on the *test* sets after every epoch, and the
  reported pair is that of the epoch with the best 1-7 accuracy among the epochs with
  1-7 >= 65 % AND 8-9 >= 85 % (and the LSM input scales were grid-searched the same way), so the
  published 8-9 figure is >= 85 % by construction of the selection rule --
  :func:`paper_selection` reproduces it for comparison, clearly labelled as test-set selection.

Note on interpretation: nothing in the two modalities ties the sound of "eight" to the shape of an 8
except training pairs, and the unseen digits have none. Above-chance accuracy on unseen classes
therefore reflects how the fixed random encoders and the heads happen to place them; over
independent encoder/head draws its expected value is the chance level unless such structure exists.
:func:`zero_shot_retrieval` (random 2-way trials) and :func:`gallery_retrieval` return per-query
outcomes so callers can report spreads over seeds, not only one (selected) draw.

Examples
--------
>>> import torch
>>> from physnn.reservoir.projection import ProjectionHead, clip_loss
>>> a, b = ProjectionHead(10, 4), ProjectionHead(6, 4)
>>> loss = clip_loss(a(torch.randn(8, 10)), b(torch.randn(8, 6)), temperature=0.1)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..random import check_generator
from .._checks import check_finite, check_int_range, check_positive

__all__ = [
    "ProjectionHead",
    "clip_loss",
    "ContrastiveConfig",
    "train_projections",
    "zero_shot_retrieval",
    "gallery_retrieval",
    "paper_selection",
    "retrieval_accuracy",
    "profile_embedding",
    "pairing_evidence",
]


class ProjectionHead(nn.Module):
    """Standardise -> MLP (or linear) -> L2-normalised embedding.

    Parameters
    ----------
    n_in, n_out : int
        Input feature size and embedding size.
    hidden : int or None
        Width of the hidden ReLU layer; None for a single linear map.
    mean, std : tensor, optional
        Feature statistics used to standardise the input (set by :func:`train_projections`).
    """

    mean: torch.Tensor  # buffers (registered in __init__)
    std: torch.Tensor

    def __init__(self, n_in: int, n_out: int, hidden: int | None = 128, *, generator: torch.Generator | None = None):
        super().__init__()
        check_int_range(n_in, "n_in", 1)
        check_int_range(n_out, "n_out", 1)
        generator = check_generator(generator)
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("std", torch.ones(n_in))
        layers = (
            [nn.Linear(n_in, n_out)]
            if hidden is None
            else [nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out)]
        )
        self.net = nn.Sequential(*layers)
        if generator is not None:  # reproducible init without touching the global RNG
            with torch.no_grad():
                for m in self.net:
                    if isinstance(m, nn.Linear):
                        bound = 1.0 / np.sqrt(m.in_features)
                        m.weight.copy_((torch.rand(m.weight.shape, generator=generator) * 2 - 1) * bound)
                        m.bias.copy_((torch.rand(m.bias.shape, generator=generator) * 2 - 1) * bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net((x - self.mean) / self.std), dim=-1)


def clip_loss(
    za: torch.Tensor, zb: torch.Tensor, *, temperature: float = 0.1, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Symmetric contrastive (InfoNCE / CLIP) loss between paired embeddings ``za[i] <-> zb[i]``.

    ``logits = za @ zb.T / temperature``; the loss is the mean of the cross entropies along rows
    (a -> b) and columns (b -> a). With ``labels`` (one class per pair), every pair of the same
    class counts as a positive (soft targets spread over them), so several samples of one class in
    a batch are not pushed apart.
    """
    if za.shape != zb.shape or za.dim() != 2:
        raise ValueError(f"za, zb: need equal shapes (n, d), got {tuple(za.shape)} and {tuple(zb.shape)}")
    check_positive(temperature, "temperature")
    logits = za @ zb.T / temperature
    if labels is None:
        target = torch.arange(za.shape[0], device=za.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    if labels.shape != (za.shape[0],):
        raise ValueError(f"labels: expected shape ({za.shape[0]},), got {tuple(labels.shape)}")
    same = (labels[:, None] == labels[None, :]).to(logits.dtype)
    tgt = same / same.sum(dim=1, keepdim=True)
    la = -(tgt * F.log_softmax(logits, dim=1)).sum(1).mean()
    lb = -(tgt * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return 0.5 * (la + lb)


@dataclass(frozen=True, kw_only=True)
class ContrastiveConfig:
    """Training of the two projection heads.

    Parameters
    ----------
    dim : int          embedding size
    hidden : int|None  hidden width of the heads
    temperature : float
    epochs : int       passes over the modality-A training set
    batch_size : int
    lr : float         Adam learning rate
    weight_decay : float
    """

    dim: int = 32
    hidden: int | None = 128
    temperature: float = 0.1
    epochs: int = 60
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4

    def __post_init__(self):
        check_int_range(self.dim, "dim", 1)
        check_positive(self.temperature, "temperature")
        check_int_range(self.epochs, "epochs", 1)
        check_int_range(self.batch_size, "batch_size", 2)
        check_positive(self.lr, "lr")
        check_positive(self.weight_decay, "weight_decay", allow_zero=True)


def _as_tensor(x, name):
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float32)
    if t.dim() != 2:
        raise ValueError(f"{name}: expected features of shape (n, f), got {tuple(t.shape)}")
    check_finite(t, name)
    return t


def train_projections(
    xa,
    ya,
    xb,
    yb,
    config: ContrastiveConfig = ContrastiveConfig(),
    *,
    generator: torch.Generator | None = None,
    callback: Callable[[int, ProjectionHead, ProjectionHead], None] | None = None,
) -> tuple[ProjectionHead, ProjectionHead, list[float]]:
    """Train heads ``(head_a, head_b)`` so that same-class samples of the two modalities align.

    Every step draws ``batch_size`` samples of modality A and pairs each with a random sample of
    modality B of the same class; the loss is :func:`clip_loss` with class-aware targets.
    ``callback(epoch, head_a, head_b)`` (optional) runs after every epoch, under ``no_grad``,
    e.g. to record per-epoch retrieval accuracies. Returns the heads (in eval mode) and the loss
    per epoch.
    """
    xa, xb = _as_tensor(xa, "xa"), _as_tensor(xb, "xb")
    ya, yb = np.asarray(ya), np.asarray(yb)
    if ya.shape != (len(xa),) or yb.shape != (len(xb),):
        raise ValueError(
            f"ya, yb: need one label per sample, got {ya.shape} for xa {tuple(xa.shape)} "
            f"and {yb.shape} for xb {tuple(xb.shape)}"
        )
    missing = sorted(set(ya.tolist()) - set(yb.tolist()))
    if missing:
        raise ValueError(f"yb: classes {missing} of modality A have no sample in modality B")
    g = check_generator(generator)
    ha = ProjectionHead(xa.shape[1], config.dim, config.hidden, generator=g)
    hb = ProjectionHead(xb.shape[1], config.dim, config.hidden, generator=g)
    for h, x in ((ha, xa), (hb, xb)):
        h.mean.copy_(x.mean(0))
        h.std.copy_(torch.where(x.std(0) > 0, x.std(0), torch.ones(())))
    by_class = {c: torch.as_tensor(np.flatnonzero(yb == c)) for c in np.unique(yb)}
    opt = torch.optim.Adam([*ha.parameters(), *hb.parameters()], lr=config.lr, weight_decay=config.weight_decay)
    ya_t = torch.as_tensor(ya)
    history = []
    for _ in range(config.epochs):
        perm = torch.randperm(len(xa), generator=g)
        tot, nb = 0.0, 0
        for s in range(0, len(xa), config.batch_size):
            ia = perm[s : s + config.batch_size]
            if len(ia) < 2:
                continue
            lab = ya_t[ia]
            ib = torch.stack(
                [by_class[int(c)][torch.randint(len(by_class[int(c)]), (1,), generator=g)][0] for c in lab]
            )
            loss = clip_loss(ha(xa[ia]), hb(xb[ib]), temperature=config.temperature, labels=lab)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot, nb = tot + loss.item(), nb + 1
        history.append(tot / max(nb, 1))
        if callback is not None:
            with torch.no_grad():
                callback(len(history) - 1, ha.eval(), hb.eval())
            ha.train(), hb.train()
    return ha.eval(), hb.eval(), history


def zero_shot_retrieval(
    za: torch.Tensor,
    ya,
    zb: torch.Tensor,
    yb,
    *,
    n_way: int = 2,
    n_trials: int = 2000,
    distractor_classes=None,
    generator: torch.Generator | None = None,
) -> np.ndarray:
    """N-way retrieval from queries ``za`` (modality A) to candidates ``zb`` (modality B).

    Each trial draws a query of class c, then one candidate of class c and one of each of
    ``n_way - 1`` other classes (distinct, random); it succeeds if the same-class candidate has the
    highest cosine similarity. Returns the boolean outcome of every trial.

    ``distractor_classes`` restricts the wrong candidates to those classes (default: the other
    query classes). With unseen queries and seen distractors this is the *open-set* variant: can
    the heads tell that an unseen sound does not belong to any trained class?
    """
    ya, yb = np.asarray(ya), np.asarray(yb)
    classes = np.unique(ya)
    pool = classes if distractor_classes is None else np.unique(np.asarray(distractor_classes))
    check_int_range(n_way, "n_way", 2, len(pool) + (0 if distractor_classes is None else 1))
    check_int_range(n_trials, "n_trials", 1)
    g = check_generator(generator)
    idx_b = {c: np.flatnonzero(yb == c) for c in np.union1d(classes, pool)}
    for c, ix in idx_b.items():
        if ix.size == 0:
            raise ValueError(f"yb: no candidate of class {c}")
    za, zb = F.normalize(za.float(), dim=-1), F.normalize(zb.float(), dim=-1)
    out = np.zeros(n_trials, bool)
    r = torch.rand((n_trials, 2 + n_way), generator=g, dtype=torch.float64).numpy()
    for k in range(n_trials):
        q = int(r[k, 0] * len(ya))
        c = ya[q]
        others = [o for o in pool if o != c]
        pick = [others[i] for i in np.argsort(torch.rand(len(others), generator=g).numpy())[: n_way - 1]]
        cands = [idx_b[cc][int(r[k, 1 + j] * len(idx_b[cc]))] for j, cc in enumerate([c, *pick])]
        sims = zb[cands] @ za[q]
        out[k] = int(torch.argmax(sims)) == 0
    return out


def retrieval_accuracy(za: torch.Tensor, ya, zb: torch.Tensor, yb) -> float:
    """Accuracy of assigning every query ``za`` the class of its nearest class-mean embedding of
    ``zb`` (all classes of ``yb`` as candidates)."""
    ya, yb = np.asarray(ya), np.asarray(yb)
    classes = np.unique(yb)
    protos = F.normalize(torch.stack([zb[torch.as_tensor(yb == c)].mean(0) for c in classes]), dim=-1)
    pred = classes[torch.argmax(F.normalize(za, dim=-1) @ protos.T, dim=1).numpy()]
    return float(np.mean(pred == ya))


def gallery_retrieval(za: torch.Tensor, ya, zb: torch.Tensor, yb, *, top: int = 1) -> np.ndarray:
    """Gallery retrieval of Lin et al.'s public code: every query ``za[i]`` ranks the whole gallery
    ``zb`` by dot product; it succeeds if one of its ``top`` nearest gallery items has its class.

    With a gallery of two classes (unseen digits 8 and 9) this is the paper's "8-9 accuracy".
    Embeddings are compared as given (the heads here return unit vectors, so dot = cosine).
    Returns the boolean outcome per query.
    """
    ya, yb = np.asarray(ya), np.asarray(yb)
    if za.dim() != 2 or zb.dim() != 2 or za.shape[1] != zb.shape[1]:
        raise ValueError(f"za, zb: need (n, d) and (m, d), got {tuple(za.shape)} and {tuple(zb.shape)}")
    if ya.shape != (len(za),) or yb.shape != (len(zb),):
        raise ValueError(f"ya, yb: need one label per embedding, got {ya.shape} and {yb.shape}")
    check_int_range(top, "top", 1, len(zb))
    missing = sorted(set(ya.tolist()) - set(yb.tolist()))
    if missing:
        raise ValueError(f"yb: the gallery has no item of query classes {missing}")
    idx = torch.topk(za.float() @ zb.float().T, top, dim=1).indices.numpy()
    return (yb[idx] == ya[:, None]).any(axis=1)


def profile_embedding(proba, *, eps: float = 1e-6) -> torch.Tensor:
    """Seen-class similarity profile of each sample, as a unit vector.

    ``proba`` holds, per sample, the probabilities a classifier trained on the *seen* classes of
    that sample's own modality gives to each seen class, shape ``(n, K)``. The embedding is
    ``log(p + eps)`` centred over the ``K`` classes and L2-normalised, so the dot product of two
    embeddings is the Pearson correlation of their log-profiles. Both modalities map into the same
    ``K``-dimensional space (columns = the same seen classes, in the same order) without any
    cross-modal training, so :func:`gallery_retrieval` on these embeddings is a zero-shot method
    that uses nothing but the seen classes: an unseen sound is matched to the image that resembles
    the same seen classes (the idea of describing unseen classes by seen ones: Norouzi et al.,
    ConSE, ICLR 2014, arXiv:1312.5650). It succeeds exactly when the two modalities share that
    similarity structure -- see :func:`pairing_evidence`.

    Parameters
    ----------
    proba : array or tensor (n, K)
        Rows of class probabilities (non-negative, K >= 2).
    eps : float
        Floor added before the logarithm.

    Returns
    -------
    Tensor (n, K), float64, unit rows (a row with a flat profile stays zero).
    """
    return F.normalize(_log_profile(proba, "proba", eps), dim=1)


def _log_profile(proba, name: str, eps: float = 1e-6) -> torch.Tensor:
    p = torch.as_tensor(
        proba.detach().cpu() if isinstance(proba, torch.Tensor) else np.asarray(proba), dtype=torch.float64
    )
    if p.dim() != 2 or p.shape[1] < 2:
        raise ValueError(f"{name}: need (n_samples, n_seen_classes >= 2), got {tuple(p.shape)}")
    check_finite(p, name)
    if bool((p < 0).any()):
        raise ValueError(f"{name}: probabilities must be >= 0")
    check_positive(eps, "eps")
    z = torch.log(p + eps)
    return z - z.mean(dim=1, keepdim=True)


def pairing_evidence(pa, ya, pb, yb) -> tuple[float, np.ndarray]:
    """How strongly the seen-class structure of two modalities favours the true pairing of classes.

    For the classes present in both ``ya`` and ``yb`` (e.g. the unseen digits 8 and 9), ``R[i, j]``
    is the Pearson correlation between the class-mean log-profile (over the seen classes, see
    :func:`profile_embedding`) of class ``i`` in modality A and of class ``j`` in modality B. The
    evidence is the mean of the diagonal of ``R`` minus the mean of its off-diagonal entries:
    positive when a sound resembles the same seen classes as the image of its own digit, negative
    when it resembles those of another unseen digit.

    Why this matters: a model trained on the seen classes only sees the same training data whether
    the sound "eight" goes with the shape 8 or with the shape 9, and in a two-class gallery the
    accuracy under one pairing is one minus that under the other. Any above-chance zero-shot figure
    must therefore come from structure of this kind.

    Parameters
    ----------
    pa, pb : array (n, K), (m, K)
        Seen-class probabilities of the samples of modality A and B (same K columns).
    ya, yb : array (n,), (m,)
        Their (unseen) class labels.

    Returns
    -------
    (evidence, R) : float and ndarray (C, C), classes in sorted order.
    """
    la, lb = _log_profile(pa, "pa"), _log_profile(pb, "pb")
    ya, yb = np.asarray(ya), np.asarray(yb)
    if ya.shape != (len(la),) or yb.shape != (len(lb),):
        raise ValueError(f"ya, yb: need one label per row of pa, pb, got {ya.shape} and {yb.shape}")
    if la.shape[1] != lb.shape[1]:
        raise ValueError(f"pa, pb: need the same seen classes (columns), got {la.shape[1]} and {lb.shape[1]}")
    classes = np.intersect1d(ya, yb)
    if classes.size < 2:
        raise ValueError(f"ya, yb: need at least two classes present in both, got {classes.tolist()}")
    ma = F.normalize(torch.stack([la[torch.as_tensor(ya == c)].mean(0) for c in classes]), dim=1)
    mb = F.normalize(torch.stack([lb[torch.as_tensor(yb == c)].mean(0) for c in classes]), dim=1)
    R = (ma @ mb.T).numpy()
    C = len(classes)
    off = (R.sum() - np.trace(R)) / (C * C - C)
    return float(np.trace(R) / C - off), R


def paper_selection(seen_acc, unseen_acc, *, seen_min: float = 0.65, unseen_min: float = 0.85):
    """The epoch-selection rule of Lin et al.'s public code (``zero_shot_sim.py``), for comparison.

    Among the epochs whose *test* accuracies satisfy ``seen >= seen_min`` and
    ``unseen >= unseen_min``, take the one with the highest seen-class accuracy and report its
    unseen-class accuracy. This selects on the test labels of the unseen classes, so the value is
    ``>= unseen_min`` by construction; it is NOT an estimate of zero-shot accuracy.

    Parameters
    ----------
    seen_acc, unseen_acc : array (n_epochs,)
        Per-epoch test accuracies (fractions).

    Returns
    -------
    (selected_unseen_acc, epoch) or (nan, -1) when no epoch satisfies the rule.
    """
    s, u = np.asarray(seen_acc, float), np.asarray(unseen_acc, float)
    if s.shape != u.shape or s.ndim != 1:
        raise ValueError(f"seen_acc, unseen_acc: need equal 1-D shapes, got {s.shape} and {u.shape}")
    ok = np.flatnonzero((s >= seen_min) & (u >= unseen_min))
    if ok.size == 0:
        return float("nan"), -1
    ep = int(ok[np.argmax(s[ok])])
    return float(u[ep]), ep
