"""One training loop for every trainer: ``fit(system, data, trainer=...)``.

The loop owns the randomness (one ``torch.Generator`` from ``seed``: data order and every draw
of the trainer), the progress bar (``tqdm.auto``, off when not on a terminal), the callbacks, the
history (an ``xarray.Dataset`` over ``epoch``) and the checkpoints. A checkpoint is written
atomically after every epoch and holds the trainer's and the system's state, the generator's
state and the history so far, so ``fit(..., checkpoint=path, resume=True)`` continues a stopped
run and gives the same history (all but the wall time) as an uninterrupted one.

A :class:`~physnn.training.PhysicalSystemError` raised during training (parameter out of
bounds, NaN or wrongly shaped output, callback error or time-out) stops the loop; the message
names the query and says which checkpoint was kept (the last good one is never overwritten).
"""

from __future__ import annotations

import abc
import math
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .._io import atomic_write
from ..units import label
from ..data.split import ClassificationSplit
from ..random import check_seed, generator_from_seed
from .system import AbstractPhysicalSystem, PhysicalSystemError

__all__ = ["AbstractTrainer", "Callback", "BestEpoch", "fit", "accuracy", "batched_predict", "systems_of"]


class Callback:
    """Hooks of :func:`fit`; return ``True`` from :meth:`on_epoch_end` to stop early."""

    def on_fit_start(self, trainer: "AbstractTrainer", systems: list) -> None:
        pass

    def on_batch_end(self, trainer: "AbstractTrainer", epoch: int, batch: int, logs: dict) -> None:
        pass

    def on_epoch_end(self, trainer: "AbstractTrainer", epoch: int, record: dict) -> bool | None:
        return None


class BestEpoch(Callback):
    """Keep the trainer's state after the epoch with the highest accuracy on :func:`fit`'s
    evaluation set (give ``fit`` a validation split, e.g. ``data.validation_split(0.2)``), and
    optionally stop after ``patience`` epochs without improvement.

    After ``fit``, :meth:`restore` loads that state into the trainer; ``best_epoch`` (1-based)
    and ``best_accuracy`` say which epoch it was. Ties keep the earlier epoch. The systems are
    not rolled back (their query counters keep the whole run's cost); a physical parameter
    restored with the trainer is programmed afresh at the next query, as on a real chip.

    Parameters
    ----------
    patience : int, optional
        Stop when this many epochs in a row did not improve on the best (None: never).
    """

    def __init__(self, *, patience: int | None = None):
        if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
            raise ValueError(f"patience={patience!r}: must be an int >= 1 or None")
        self.patience = patience
        self.best_epoch, self.best_accuracy, self.state = 0, -math.inf, None

    def on_fit_start(self, trainer, systems):
        self.best_epoch, self.best_accuracy, self.state = 0, -math.inf, None

    def on_epoch_end(self, trainer, epoch, record):
        import copy

        acc = float(record["test_accuracy"])
        if acc > self.best_accuracy:
            self.best_epoch, self.best_accuracy = epoch + 1, acc
            self.state = copy.deepcopy(trainer.state_dict())
        return self.patience is not None and epoch + 1 - self.best_epoch >= self.patience

    def restore(self, trainer: "AbstractTrainer") -> "AbstractTrainer":
        """Load the best epoch's state into ``trainer`` (returned)."""
        if self.state is None:
            raise RuntimeError("restore: no epoch was recorded (run fit with this callback first)")
        trainer.load_state_dict(self.state)
        return trainer


def systems_of(system: Any) -> list[AbstractPhysicalSystem]:
    """A system or a sequence of systems (one per physical block) as a list."""
    systems = list(system) if isinstance(system, (list, tuple)) else [system]
    for i, s in enumerate(systems):
        if not isinstance(s, AbstractPhysicalSystem):
            raise TypeError(f"system[{i}]: expected an AbstractPhysicalSystem, got {type(s).__name__}")
    return systems


class AbstractTrainer(abc.ABC):
    """What a trainer implements for :func:`fit`.

    ``setup`` builds the trainable state for the systems and data (draws from ``generator``);
    ``train_step`` does one update on a batch and returns ``{"loss": float}`` (optionally
    ``"correct"``, the number of right training predictions); ``predict`` returns class scores
    ``(B, C)`` for a batch (it may query the systems); ``state_dict``/``load_state_dict`` hold
    everything the trainer changes. A trainer whose own layers are pulsed crossbars (PhyLL /
    Mono-Forward with ``in_situ``) reports their ``layer_pulses`` and ``layer_writes`` (0 here).
    """

    name = "trainer"

    @property
    def layer_pulses(self) -> int:
        """Programming pulses applied to the trainer's own crossbar layers so far (none here)."""
        return 0

    @property
    def layer_writes(self) -> int:
        """Update events of the trainer's own crossbar layers that sent pulses (none here)."""
        return 0

    @abc.abstractmethod
    def setup(
        self, systems: list[AbstractPhysicalSystem], data: ClassificationSplit, generator: torch.Generator
    ) -> None: ...

    @abc.abstractmethod
    def train_step(
        self,
        systems: list[AbstractPhysicalSystem],
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        epoch: int,
        generator: torch.Generator,
    ) -> dict: ...

    @abc.abstractmethod
    def predict(self, systems: list[AbstractPhysicalSystem], x: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def state_dict(self) -> dict: ...

    @abc.abstractmethod
    def load_state_dict(self, state: dict) -> None: ...

    def fit(self, system: Any, data: ClassificationSplit, **kwargs: Any):
        """Shortcut for :func:`fit` with this trainer."""
        return fit(system, data, trainer=self, **kwargs)


def batched_predict(trainer: AbstractTrainer, systems: list, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    return torch.cat([trainer.predict(systems, x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def accuracy(trainer: AbstractTrainer, systems: Any, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    """Fraction of ``x`` classified right (queries the systems)."""
    systems = systems_of(systems)
    with torch.no_grad():
        s = batched_predict(trainer, systems, x, batch_size)
    return float((s.argmax(-1) == y).float().mean())


_VARS = {  # name: (units, long_name)
    "loss": ("1", "mean training loss of the epoch"),
    "train_accuracy": ("1", "training accuracy of the epoch's batches (nan if the trainer does not report it)"),
    "test_accuracy": ("1", "test accuracy after the epoch"),
    "queries": ("1", "physical queries of training so far (calls, all systems)"),
    "samples": ("1", "input vectors sent to the physical systems by training so far"),
    "eval_queries": ("1", "physical queries spent on evaluation so far"),
    "physical_time": ("s", "simulated time the physical systems spent on queries so far"),
    "writes": ("1", "parameter write events of the physical systems so far (training and evaluation)"),
    "pulses": ("1", "programming pulses applied to the physical systems' devices so far (all devices)"),
    "verify_reads": ("1", "array reads of the physical systems' write-verify loops so far"),
    "layer_pulses": ("1", "programming pulses applied to the trainer's own crossbar layers so far (all devices)"),
    "layer_writes": ("1", "update events of the trainer's own crossbar layers that sent pulses so far"),
    "wall_time": ("s", "wall-clock time of training and evaluation so far"),
}


def _history_dataset(hist: dict, attrs: dict):
    import xarray as xr

    n = len(hist["loss"])
    ds = xr.Dataset(
        {k: ("epoch", np.asarray(hist[k], dtype=np.float64)) for k in _VARS},
        coords={"epoch": ("epoch", np.arange(1, n + 1))},
    )
    label(ds, **_VARS, epoch=("1", "epoch (passes over the training set)"))
    ds.attrs.update({k: v for k, v in attrs.items() if isinstance(v, (str, int, float))})
    return ds


def _totals(systems: list) -> tuple[int, int, float]:
    return (sum(s.queries for s in systems), sum(s.samples for s in systems), sum(s.physical_time_s for s in systems))


def _save(path: Path, state: dict) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def fit(
    system: Any,
    data: ClassificationSplit,
    *,
    trainer: AbstractTrainer,
    epochs: int = 10,
    batch_size: int = 64,
    seed: int = 0,
    callbacks: Sequence[Callback] = (),
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool | None = None,
    eval_batch_size: int = 256,
):
    """Train ``trainer`` on ``system`` (one system, or a list with one per physical block).

    Parameters
    ----------
    system : AbstractPhysicalSystem or sequence of them
    data : ClassificationSplit
    trainer : AbstractTrainer
    epochs : int
        Total number of epochs (a resumed run continues up to it).
    batch_size : int
    seed : int
        Seeds the generator of the data order and of every draw of the trainer.
    callbacks : sequence of Callback
    checkpoint : path, optional
        Written after every epoch (atomically).
    resume : bool
        Continue from ``checkpoint`` if it exists.
    progress : bool, optional
        Progress bar; None: only on a terminal.

    Returns
    -------
    xarray.Dataset
        Over ``epoch``: ``loss``, ``train_accuracy``, ``test_accuracy``, ``queries``, ``samples``,
        ``eval_queries``, ``physical_time``, ``writes``, ``pulses``, ``verify_reads`` (the systems'
        write events, programming pulses and write-verify reads so far), ``layer_pulses``,
        ``layer_writes`` (the trainer's own crossbar layers, :mod:`physnn.training.insitu_layers`),
        ``wall_time`` (units and long names in attrs).

    Raises
    ------
    PhysicalSystemError
        From a failed query; names it and the checkpoint kept.
    """
    from tqdm.auto import tqdm

    systems = systems_of(system)
    if not isinstance(trainer, AbstractTrainer):
        raise TypeError(f"trainer: expected an AbstractTrainer, got {type(trainer).__name__}")
    if not isinstance(data, ClassificationSplit):
        raise TypeError(f"data: expected a ClassificationSplit, got {type(data).__name__}")
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r}: must be an int >= 1")
    seed = check_seed(seed)
    path = Path(checkpoint) if checkpoint is not None else None
    gen = generator_from_seed(seed)
    hist: dict[str, list] = {k: [] for k in _VARS}
    start, wall0 = 0, 0.0
    eval_q = 0
    if resume and path is not None and path.exists():
        st = torch.load(path, weights_only=True)
        if st["trainer_name"] != trainer.name:
            raise ValueError(f"checkpoint {path}: written by trainer {st['trainer_name']!r}, not {trainer.name!r}")
        trainer.setup(systems, data, generator_from_seed(seed))  # structures; every value is overwritten below
        trainer.load_state_dict(st["trainer"])
        for s, ss in zip(systems, st["systems"]):
            s.load_state_dict(ss)
        gen.set_state(st["gen"])
        hist = {k: list(st["history"].get(k, [math.nan] * len(st["history"]["loss"]))) for k in _VARS}
        start, wall0, eval_q = int(st["epoch"]), float(st["wall_time"]), int(st["eval_queries"])
    else:
        trainer.setup(systems, data, gen)
    saved_epoch = start if (resume and path is not None and path.exists()) else None

    def state(epoch: int, wall: float) -> dict:
        return {
            "trainer_name": trainer.name,
            "trainer": trainer.state_dict(),
            "systems": [s.state_dict() for s in systems],
            "gen": gen.get_state(),
            "history": hist,
            "epoch": epoch,
            "wall_time": wall,
            "eval_queries": eval_q,
        }

    if path is not None and saved_epoch is None:
        _save(path, state(0, 0.0))  # a good checkpoint exists from the start
        saved_epoch = 0
    for cb in callbacks:
        cb.on_fit_start(trainer, systems)
    t0 = time.perf_counter() - wall0
    N = data.x_train.shape[0]
    n_batches = math.ceil(N / batch_size)
    bar = tqdm(
        total=(epochs - start) * n_batches,
        disable=(None if progress is None else not progress),
        desc=trainer.name,
        leave=False,
    )
    epoch, b = start, 0
    try:
        for epoch in range(start, epochs):
            perm = torch.randperm(N, generator=gen)
            losses, correct = [], 0.0
            has_correct = True
            for b in range(n_batches):
                idx = perm[b * batch_size : (b + 1) * batch_size]
                logs = trainer.train_step(systems, data.x_train[idx], data.y_train[idx], epoch=epoch, generator=gen)
                loss = float(logs["loss"])
                if not math.isfinite(loss):
                    raise PhysicalSystemError(
                        f"{trainer.name}: training loss is {loss} in epoch {epoch + 1}, batch {b + 1}"
                    )
                losses.append(loss)
                if "correct" in logs:
                    correct += float(logs["correct"])
                else:
                    has_correct = False
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
                for cb in callbacks:
                    cb.on_batch_end(trainer, epoch, b, logs)
            q_before = _totals(systems)[0]
            acc = accuracy(trainer, systems, data.x_test, data.y_test, eval_batch_size)
            eval_q += _totals(systems)[0] - q_before
            q, smp, pt = _totals(systems)
            rec = {
                "loss": float(np.mean(losses)),
                "train_accuracy": correct / N if has_correct else math.nan,
                "test_accuracy": acc,
                "queries": q - eval_q,
                "samples": smp,
                "eval_queries": eval_q,
                "physical_time": pt,
                "writes": sum(int(s.writes) for s in systems),
                "pulses": sum(int(s.pulses) for s in systems),
                "verify_reads": sum(int(s.verify_reads) for s in systems),
                "layer_pulses": int(trainer.layer_pulses),
                "layer_writes": int(trainer.layer_writes),
                "wall_time": time.perf_counter() - t0,
            }
            for k in _VARS:
                hist[k].append(rec[k])
            if path is not None:
                _save(path, state(epoch + 1, rec["wall_time"]))
                saved_epoch = epoch + 1
            stop = False
            for cb in callbacks:
                stop = bool(cb.on_epoch_end(trainer, epoch, rec)) or stop
            if stop:
                break
    except PhysicalSystemError as exc:
        kept = (
            f"last good checkpoint (after epoch {saved_epoch}) kept at {path}"
            if path is not None
            else "no checkpoint path was given; the history so far is lost"
        )
        raise PhysicalSystemError(f"{exc} [training stopped in epoch {epoch + 1}, batch {b + 1}; {kept}]") from exc
    finally:
        bar.close()
    return _history_dataset(
        hist, {"trainer": trainer.name, "seed": seed, "batch_size": batch_size, "dataset": data.name}
    )
