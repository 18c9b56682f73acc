"""Whole-model workflows on a converted model: hardware-aware training and drift evaluation.

A model returned by :func:`physnn.crossbar.convert` is an ordinary ``nn.Module`` whose analog
layers already carry the hardware-aware training semantics of :class:`~physnn.training.HWATrainer`
(Rasch et al., Nat. Commun. 14, 5282 (2023)) in ``train()`` mode: every forward is a fresh
programming of the current float weights of every tile (programming noise, read-noise state and
drift at the layer's time), the DAC, output noise and ADC in the loop, and gradients to the float
weights by a straight-through estimator (:class:`~physnn.crossbar.AnalogLinear`'s training mode;
the same ``_sample_train_weights`` path ``HWATrainer`` reaches through ``analog_linear``).

:class:`~physnn.training.HWATrainer` itself trains a :class:`~physnn.training.AbstractPhysicalSystem`
(one flat parameter vector plus a digital readout). A converted model has its parameters
spread over many tiles and layers and its own head, so :func:`hwa_fit` is the same loop on the
model's own parameters: Adam, the model in ``train()`` mode, per step an optional clip of every
analog layer's weights (aihwkit's ``LAYER_GAUSSIAN`` weight clipping; HWATrainer clips to the
system's bounds), the best epoch on a validation set kept. Inputs scaled per vector by the DAC
(``input_scaling="abs_max"``, the aihwkit preset) need no learned input range.

:func:`model_drift_accuracy` evaluates a converted model holding an ensemble of ``E`` chips
(``convert(..., ensemble=E)``) in one call per time: the chips are programmed once, aged with
:func:`~physnn.crossbar.set_model_time` (drift, accumulated 1/f noise, the global drift
compensation of every tile) and read in one batched forward per time. :func:`drift_val_fn` turns
it into an epoch-selection score for :func:`hwa_fit`: the mean accuracy of ``E`` validation chips
at the horizon, every epoch on the same draws (common random numbers), so that the choice of the
epoch follows the weights and not one chip's luck.
"""

from __future__ import annotations

import copy
import math
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int_range
from ..random import check_generator

__all__ = [
    "hwa_fit",
    "model_drift_accuracy",
    "drift_val_fn",
    "ensemble_cross_entropy",
    "clip_analog_weights",
    "DRIFT_TIMES_S",
]

#: 1 s, 1 h, 1 day, 1 year (Julian) after programming
DRIFT_TIMES_S = (1.0, 3600.0, 86400.0, 3.15576e7)


def _analog_layers(model: nn.Module):
    from ..crossbar import analog_layers

    return analog_layers(model)


def ensemble_cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross entropy of class scores ``(N, C)`` or, from a model with ``E`` chips, ``(E, N, C)``
    (the mean over chips and samples) against labels ``(N,)``."""
    if out.dim() == y.dim() + 2:
        E = out.shape[0]
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.repeat(E))
    return F.cross_entropy(out, y)


@torch.no_grad()
def clip_analog_weights(model: nn.Module, sigma: float) -> nn.Module:
    """Clip the float weights of every analog layer of ``model`` to ``±sigma`` times their
    standard deviation over the layer (all its tiles): aihwkit's ``WeightClipType.LAYER_GAUSSIAN``.
    Biases (digital) are left alone. Returns ``model``."""
    if not (isinstance(sigma, (int, float)) and sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma={sigma!r}: must be a finite number > 0")
    for _, layer in _analog_layers(model):
        ws = [p for n, p in layer.named_parameters() if n.split(".")[-1].endswith("weight")]
        if not ws:
            continue
        flat = torch.cat([w.reshape(-1) for w in ws])
        bound = float(sigma) * float(flat.std()) if flat.numel() > 1 else float(flat.abs().max())
        if bound > 0:
            for w in ws:
                w.clamp_(-bound, bound)
    return model


@torch.no_grad()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    was = model.training
    model.eval()
    hits = 0.0
    for a in range(0, x.shape[0], batch_size):
        out = model(x[a : a + batch_size])
        pred = out.argmax(-1)
        yy = y[a : a + batch_size]
        eq = (pred == yy).float()
        hits += float(eq.sum()) if eq.dim() == 1 else float(eq.mean(0).sum())  # mean over chips
    model.train(was)
    return hits / x.shape[0]


def hwa_fit(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    *,
    epochs: int = 20,
    lr: float = 3e-3,
    weight_decay: float = 0.0,
    batch_size: int = 128,
    clip_sigma: float | None = None,
    lr_min: float | None = None,
    x_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = ensemble_cross_entropy,
    val_fn: Callable[[nn.Module], float] | None = None,
    t_train_s: float | None = None,
    generator: torch.Generator | None = None,
) -> dict:
    """Hardware-aware training of a converted model (in place); see the module doc.

    Parameters
    ----------
    model : nn.Module
        A model returned by :func:`physnn.crossbar.convert` (a float model trains as plain
        backprop: the same loop is the float baseline).
    x_train, y_train : Tensor
        Training inputs ``(N, ...)`` and targets ``(N, ...)``.
    epochs : int
        Passes over the training set.
    lr, weight_decay : float
        Adam's.
    lr_min : float, optional
        Cosine annealing of the learning rate from ``lr`` to ``lr_min`` over all steps
        (``torch.optim.lr_scheduler.CosineAnnealingLR``, stepped per batch); None: constant.
    batch_size : int
    clip_sigma : float, optional
        After every step, clip each analog layer's weights to ``±clip_sigma`` standard
        deviations (:func:`clip_analog_weights`); None: no clip.
    x_val, y_val : Tensor, optional
        Validation set: after every epoch its accuracy (eval mode, i.e. a fresh programming of
        the chip) is recorded and the best epoch's parameters are restored at the end.
    loss_fn : callable
        ``loss_fn(model(x), y)``; default :func:`ensemble_cross_entropy` (class scores, with or
        without a leading chip dimension).
    val_fn : callable, optional
        ``val_fn(model) -> score`` (higher is better) instead of the validation accuracy.
    t_train_s : float, optional
        Move every analog layer to this time after programming first
        (:func:`~physnn.crossbar.set_model_time`): each training forward then draws the drift,
        accumulated 1/f noise and drift compensation of that time on top of the programming
        noise (training against the noise at the horizon the chip must hold), and the
        validation reads are at that time too. None: the layers' current time.
    generator : torch.Generator, optional
        Draws the batch order (the devices' noise comes from the analog layers' generators).

    Returns
    -------
    dict
        ``loss`` (mean training loss per epoch), ``val`` (validation score per epoch, empty
        without validation), ``best_epoch`` (0-based; the last epoch without validation).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    check_int_range(epochs, "epochs", 1)
    check_int_range(batch_size, "batch_size", 1)
    gen = check_generator(generator)
    if x_train.shape[0] != y_train.shape[0]:
        raise ValueError(f"y_train: expected {x_train.shape[0]} targets (len(x_train)), got {y_train.shape[0]}")
    if (x_val is None) != (y_val is None):
        raise ValueError("x_val, y_val: give both or neither")
    if clip_sigma is not None:
        clip_analog_weights(model, clip_sigma)  # checks clip_sigma
    if t_train_s is not None:
        from ..crossbar import set_model_time

        set_model_time(model, t_train_s)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    n = x_train.shape[0]
    sched = None
    if lr_min is not None:
        if not (isinstance(lr_min, (int, float)) and 0 <= lr_min <= lr):
            raise ValueError(f"lr_min={lr_min!r}: must be a number in [0, lr={lr!r}]")
        steps = epochs * math.ceil(n / batch_size)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=float(lr_min))
    hist: dict = {"loss": [], "val": [], "best_epoch": epochs - 1}
    best, best_state = -math.inf, None
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        tot = 0.0
        for a in range(0, n, batch_size):
            idx = perm[a : a + batch_size]
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            if clip_sigma is not None:
                clip_analog_weights(model, clip_sigma)
            tot += float(loss.detach()) * idx.numel()
        hist["loss"].append(tot / n)
        if val_fn is not None or x_val is not None:
            score = val_fn(model) if val_fn is not None else _accuracy(model, x_val, y_val, 1024)
            hist["val"].append(score)
            if score > best:
                best, hist["best_epoch"] = score, ep
                best_state = copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    model.train()
    return hist


def drift_val_fn(
    chips: nn.Module,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    t_s: float | Sequence[float],
    *,
    generator: torch.Generator | None = None,
    batch_size: int = 1024,
) -> Callable[[nn.Module], float]:
    """A ``val_fn`` for :func:`hwa_fit`: the mean accuracy over the chips of ``chips`` after drift.

    Every call copies the float parameters of the model being trained into ``chips`` (the same
    module tree, e.g. ``convert(net, cfg, ensemble=E)`` of the same network), programs the
    ``E`` chips and reads them at ``t_s`` with :func:`model_drift_accuracy`, and returns the
    accuracy averaged over chips (and times). Each call starts from the same generator state
    (``generator``'s state when this function is called): every epoch is scored on the same
    draws, so differences between epochs are the weights', not the noise's.

    Parameters
    ----------
    chips : nn.Module
        A converted model (usually an ensemble of chips) with the parameter names of the
        trained model.
    x_val, y_val : Tensor
        Validation inputs and integer labels ``(N,)``.
    t_s : float or sequence of float
        Time(s) after programming the chips are read at, s.
    generator : torch.Generator, optional
        Its current state seeds every call's programming and read noise (None: a generator
        seeded 0).
    batch_size : int
        Samples per forward.

    Returns
    -------
    callable
        ``val_fn(model) -> float`` (higher is better).
    """
    if not _analog_layers(chips):
        raise ValueError("chips: holds no analog layer (convert the network with physnn.crossbar.convert first)")
    times = (float(t_s),) if isinstance(t_s, (int, float)) else tuple(float(t) for t in t_s)
    if not times or any(not (math.isfinite(t) and t >= 0) for t in times):
        raise ValueError(f"t_s={t_s!r}: need at least one finite time >= 0 s")
    if x_val.shape[0] != y_val.shape[0]:
        raise ValueError(f"y_val: expected {x_val.shape[0]} labels (len(x_val)), got {y_val.shape[0]}")
    check_int_range(batch_size, "batch_size", 1)
    g0 = check_generator(generator) or torch.Generator().manual_seed(0)
    device, state = g0.device, g0.get_state()
    mine = dict(chips.named_parameters())

    def val_fn(model: nn.Module) -> float:
        theirs = dict(model.named_parameters())
        if theirs.keys() != mine.keys():
            raise ValueError(
                f"chips: parameter names differ from the trained model's ({sorted(set(theirs) ^ set(mine))[:4]}...)"
            )
        with torch.no_grad():
            for n, p in mine.items():
                if p.shape != theirs[n].shape:
                    raise ValueError(
                        f"chips: parameter {n!r} has shape {tuple(p.shape)}, the model's {tuple(theirs[n].shape)}"
                    )
                p.copy_(theirs[n])
        gen = torch.Generator(device=device)
        gen.set_state(state)
        acc = model_drift_accuracy(chips, x_val, y_val, times, generator=gen, batch_size=batch_size)
        return float(acc.mean())

    return val_fn


@torch.no_grad()
def model_drift_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    times_s: Sequence[float] = DRIFT_TIMES_S,
    *,
    generator: torch.Generator | None = None,
    batch_size: int = 1024,
    program: bool = True,
):
    """Accuracy of every chip of a converted model after drift, one batched read per time.

    Parameters
    ----------
    model : nn.Module
        A converted model; with ``convert(..., ensemble=E)`` its output is ``(E, N, classes)``
        (one call reads all ``E`` chips), else ``(N, classes)`` (one chip).
    x, y : Tensor
        Inputs and integer labels ``(N,)``.
    times_s : sequence of float
        Times after programming, s (default 1 s, 1 h, 1 day, 1 year).
    generator : torch.Generator, optional
        Programming and the read-noise state at each time (None: each layer's own generator).
    batch_size : int
        Samples per forward.
    program : bool
        Program the chips first (a new programming event); False: age the chips as they are.

    Returns
    -------
    xarray.DataArray
        ``accuracy`` with dimensions ``(t_inference, chip)``; ``.mean("chip")``/``.std("chip")``
        give the mean and spread over chips.
    """
    import xarray as xr

    from ..crossbar import program_model, set_model_time

    gen = check_generator(generator)
    check_int_range(batch_size, "batch_size", 1)
    times = [float(t) for t in times_s]
    if not times or any(not (math.isfinite(t) and t >= 0) for t in times):
        raise ValueError(f"times_s={times_s!r}: need at least one finite time >= 0 s")
    if not _analog_layers(model):
        raise ValueError("model: holds no analog layer (convert it with physnn.crossbar.convert first)")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"y: expected {x.shape[0]} labels (len(x)), got {y.shape[0]}")
    was = model.training
    model.eval()
    if program:
        program_model(model, gen)
    acc = []
    for t in times:
        set_model_time(model, t, gen)
        hits = None
        for a in range(0, x.shape[0], batch_size):
            pred = model(x[a : a + batch_size]).argmax(-1)
            pred = pred if pred.dim() == 2 else pred.unsqueeze(0)  # (E, n)
            h = (pred == y[a : a + batch_size]).sum(-1).double()
            hits = h if hits is None else hits + h
        acc.append((hits / x.shape[0]).cpu().numpy())
    model.train(was)
    arr = np.stack(acc)
    return xr.DataArray(
        arr,
        dims=("t_inference", "chip"),
        coords={
            "t_inference": ("t_inference", np.asarray(times), {"units": "s", "long_name": "time since programming"}),
            "chip": ("chip", np.arange(arr.shape[1]), {"units": "1", "long_name": "chip (ensemble member)"}),
        },
        name="accuracy",
        attrs={"units": "1", "long_name": "test accuracy per chip"},
    )
