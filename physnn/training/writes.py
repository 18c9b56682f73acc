"""How a changed physical parameter reaches the devices: ideal write-verify or programming pulses.

A model-free trainer (SPSA, MeZO, nevergrad, PAT) asks a system for outputs at a parameter
vector ``theta``; when ``theta`` differs from the last one, the hardware must *write* it.

* :class:`IdealWrite` -- a write-verify to any value: every changed ``theta`` is programmed
  afresh (with the configuration's programming noise), whatever the previous state. The
  hardest part of in-situ learning is simulated away; this was the only behaviour before.
* :class:`PulsedWrite` -- the change ``delta = theta - theta_previous`` (weight units) is turned
  into programming pulses by an update rule (:class:`~physnn.crossbar.update.DeterministicPulses`)
  and applied through the device's step model (:mod:`physnn.crossbar.update`: up/down
  asymmetry, state-dependent and bounded steps, cycle-to-cycle step noise, device-to-device
  spread), open loop (no read-verify): the weights actually written differ from the requested
  ones, and the differences accumulate as on a real array. The first write of a run is the
  initial programming (write-verify of the starting ``theta``); every later write is pulses.

Both are frozen keyword-only configs, given to
:class:`~physnn.training.AnalogLinearSystem` as ``write=``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["AbstractWrite", "IdealWrite", "PulsedWrite"]


@dataclass(frozen=True, kw_only=True)
class AbstractWrite:
    """Base of the write models of a physical system's parameters."""

    def __post_init__(self) -> None:
        if type(self) is AbstractWrite:
            raise TypeError("AbstractWrite is abstract: use IdealWrite() or PulsedWrite(update=...)")


@dataclass(frozen=True, kw_only=True)
class IdealWrite(AbstractWrite):
    """Every changed parameter vector is programmed afresh by write-verify (the configuration's
    programming noise; no pulse, no memory of the previous state)."""


def _default_rule() -> Any:
    from ..crossbar.update import DeterministicPulses

    return DeterministicPulses()


@dataclass(frozen=True, kw_only=True)
class PulsedWrite(AbstractWrite):
    """A changed parameter vector is written as programming pulses through a device step model.

    Parameters
    ----------
    update : AbstractUpdateModel, optional
        The device's pulsed step model (normalised weight units, see
        :mod:`physnn.crossbar.update.base`); None: the configuration's ``update`` (a device card's
        ``[update]`` section, ``CrossbarConfig.from_card``).
    rule : DeterministicPulses
        How a weight change becomes pulse counts: ``n = round(delta / (dw_min w_max))`` per
        device (or unbiased stochastic rounding), optionally capped.

    Notes
    -----
    The system's counters: ``writes`` (write events), ``pulses`` (pulses applied so far, all
    devices), ``pulses_per_device`` (mean per cross-point); the training history of
    :func:`~physnn.training.fit` records ``writes`` and ``pulses`` per epoch. A write that would
    take a device past the model's ``endurance`` is refused before anything changes
    (:class:`~physnn.training.PhysicalSystemError` naming the parameter).
    """

    update: Any = None
    rule: Any = field(default_factory=_default_rule)

    def __post_init__(self) -> None:
        from ..crossbar.update import AbstractUpdateModel, DeterministicPulses

        if self.update is not None and not isinstance(self.update, AbstractUpdateModel):
            raise TypeError(f"update: expected an AbstractUpdateModel (e.g. SoftBounds(...)) or None, got "
                            f"{type(self.update).__name__}")
        if not isinstance(self.rule, DeterministicPulses):
            raise TypeError(f"rule: expected DeterministicPulses (a parameter change is one delta per device; "
                            f"stochastic pulse trains need outer-product factors), got {type(self.rule).__name__}")
