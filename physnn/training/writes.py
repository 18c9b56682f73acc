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
* ``PulsedWrite(verify=WriteVerify(...))`` -- the same pulses, then closed-loop programming
  (program-and-verify, as multilevel RRAM/PCM controllers do: Alibart, Gao, Hoskins, Strukov,
  Nanotechnology 23, 075201 (2012); Papandreou et al., Proc. IEEE ISCAS 2011, 329): the array is
  read back, and every device further than ``tolerance`` steps from the *requested* weight gets
  ``round(error / dw_min)`` correction pulses through the same device model (same asymmetry,
  bounds and step noise), for at most ``max_iterations`` read-and-correct rounds. Because the
  target is the requested absolute weight and not the previous state plus a change, the
  device errors stay bounded by the tolerance instead of accumulating; what it costs is counted
  (every correction pulse in ``pulses``, every array read in ``verify_reads``).

Both are frozen keyword-only configs, given to
:class:`~physnn.training.AnalogLinearSystem` as ``write=``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AbstractWrite", "IdealWrite", "PulsedWrite", "WriteVerify"]


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


@dataclass(frozen=True, kw_only=True)
class WriteVerify:
    """Closed-loop programming after every pulsed write (program-and-verify).

    After the open-loop pulses of a write, up to ``max_iterations`` rounds of: read the whole
    array (one *verify read*, every device once), and send every device whose read weight is
    further than ``tolerance`` steps from the requested weight ``round(error / dw_min)``
    correction pulses (deterministic rounding) through the device model. The last round's
    correction is not read back; a device that cannot reach its target (past its soft bound)
    stops after ``max_iterations`` rounds.

    Parameters
    ----------
    tolerance : float
        Accepted error per device, in nominal steps ``dw_min * w_max`` (weight units
        ``dw_min * config.w_max``); at least 0.5 (a smaller error cannot be corrected by whole
        pulses).
    max_iterations : int
        Read-and-correct rounds per write (>= 1).
    read_noise : float
        Standard deviation of one verify read of a device's weight, relative to the weight of
        the full conductance swing ``config.w_max`` (dimensionless; 0: an exact read, as the
        ideal periphery's forward reads).

    Examples
    --------
    >>> WriteVerify(tolerance=1.0, max_iterations=3).max_iterations
    3
    """

    tolerance: float = 1.0
    max_iterations: int = 3
    read_noise: float = 0.0

    def __post_init__(self) -> None:
        from .._checks import check_int_range

        for name, lo in (("tolerance", 0.5), ("read_noise", 0.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < lo:
                raise ValueError(f"{name}={v!r}: must be a finite number >= {lo:g}")
        check_int_range(self.max_iterations, "max_iterations", 1)


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
    verify : WriteVerify, optional
        Closed-loop correction after every write (None: open loop, no read-back).

    Notes
    -----
    The system's counters: ``writes`` (write events), ``pulses`` (pulses applied so far, all
    devices, correction pulses included), ``pulses_per_device`` (mean per cross-point),
    ``verify_reads`` (array reads of the verify loop); the training history of
    :func:`~physnn.training.fit` records ``writes``, ``pulses`` and ``verify_reads`` per epoch.
    A write that would
    take a device past the model's ``endurance`` is refused before anything changes
    (:class:`~physnn.training.PhysicalSystemError` naming the parameter).
    """

    update: Any = None
    rule: Any = field(default_factory=_default_rule)
    verify: WriteVerify | None = None

    def __post_init__(self) -> None:
        from ..crossbar.update import AbstractUpdateModel, DeterministicPulses

        if self.update is not None and not isinstance(self.update, AbstractUpdateModel):
            raise TypeError(
                f"update: expected an AbstractUpdateModel (e.g. SoftBounds(...)) or None, got "
                f"{type(self.update).__name__}"
            )
        if not isinstance(self.rule, DeterministicPulses):
            raise TypeError(
                f"rule: expected DeterministicPulses (a parameter change is one delta per device; "
                f"stochastic pulse trains need outer-product factors), got {type(self.rule).__name__}"
            )
        if self.verify is not None and not isinstance(self.verify, WriteVerify):
            raise TypeError(f"verify: expected WriteVerify(...) or None, got {type(self.verify).__name__}")
