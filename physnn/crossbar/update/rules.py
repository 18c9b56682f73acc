"""Update rules: how a requested weight change becomes programming pulses.

* :class:`DeterministicPulses`: ``n = round(dw / dw_min)`` pulses per device (or stochastic
  rounding, ``floor(dw / dw_min + U)``, unbiased), optionally capped at ``max_pulses``.
* :class:`StochasticPulses`: aihwkit's stochastic pulse trains for an outer-product update
  ``dW = lr d x^T`` (Gokmen & Vlasov, Front. Neurosci. 10:333, 2016): per sample, each input row
  ``j`` fires a train of ``bl`` bits with probability ``A |x_j|`` per bit, each output column ``i``
  one with probability ``B |d_i|``; a device gets a pulse at each coincidence, of sign
  ``sign(x_j d_i)``, so ``E[n_ij] dw_min = lr x_j d_i`` when ``A B bl dw_min = lr``. With
  ``update_management`` ``A`` and ``B`` are balanced so that ``A max|x| = B max|d|`` per batch.

The rules are frozen configs; the pure functions :func:`pulse_counts` and :func:`outer_pulse_counts`
turn (normalised) weight changes into counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..._checks import check_int_range
from ...random import check_generator

__all__ = ["AbstractUpdateRule", "DeterministicPulses", "StochasticPulses", "pulse_counts", "outer_pulse_counts"]


@dataclass(frozen=True, kw_only=True)
class AbstractUpdateRule:
    """Base of the update rules."""

    def __post_init__(self) -> None:
        if type(self) is AbstractUpdateRule:
            raise TypeError("AbstractUpdateRule is abstract: use DeterministicPulses or StochasticPulses")


@dataclass(frozen=True, kw_only=True)
class DeterministicPulses(AbstractUpdateRule):
    """``n = round(dw / dw_min)`` pulses (``stochastic_rounding``: ``floor(dw / dw_min + U)``).

    Parameters
    ----------
    stochastic_rounding : bool
        Unbiased stochastic rounding instead of round-half-even.
    max_pulses : int, optional
        Cap of ``|n|`` per device and update.
    """

    stochastic_rounding: bool = False
    max_pulses: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.stochastic_rounding, bool):
            raise TypeError(f"stochastic_rounding: expected a bool, got {self.stochastic_rounding!r}")
        if self.max_pulses is not None:
            check_int_range(self.max_pulses, "max_pulses", 1)


@dataclass(frozen=True, kw_only=True)
class StochasticPulses(AbstractUpdateRule):
    """Stochastic pulse trains of ``bl`` bits, coincidences pulse the device (outer products only).

    Parameters
    ----------
    bl : int
        Bit length of a pulse train (aihwkit ``desired_bl``, default 31); at most ``bl`` pulses
        per device and sample.
    update_management : bool
        Balance the row and column probabilities (aihwkit ``update_management``).
    """

    bl: int = 31
    update_management: bool = True

    def __post_init__(self) -> None:
        check_int_range(self.bl, "bl", 1)
        if not isinstance(self.update_management, bool):
            raise TypeError(f"update_management: expected a bool, got {self.update_management!r}")


def pulse_counts(
    dw: torch.Tensor, dw_min: float, rule: DeterministicPulses, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Signed pulse counts (int64) of the normalised weight changes ``dw`` for a step ``dw_min``."""
    if not isinstance(rule, DeterministicPulses):
        raise TypeError(f"rule: pulse_counts needs DeterministicPulses, got {type(rule).__name__}")
    check_generator(generator)
    if rule.stochastic_rounding:  # floor(dw / dw_min + U), U ~ U[0, 1)
        n = torch.rand(dw.shape, generator=generator, dtype=dw.dtype, device=dw.device)
        n = n.add_(dw, alpha=1.0 / dw_min).floor_()
    else:
        n = torch.round(dw / dw_min)
    if rule.max_pulses is not None:
        n = n.clamp(-rule.max_pulses, rule.max_pulses)
    return n.to(torch.int64)


def outer_pulse_counts(
    x: torch.Tensor,
    d: torch.Tensor,
    lr: float,
    dw_min: float,
    rule: StochasticPulses,
    *,
    ensemble: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Up and down pulse counts (int64, each ``>= 0``) of ``lr * d^T x`` as stochastic pulse trains.

    Parameters
    ----------
    x : Tensor, shape (B, in) or (E, B, in)
    d : Tensor, shape (B, out) or (E, B, out)
    lr : float
        Learning rate in normalised weight units per unit ``d x``.
    dw_min : float
        Nominal step of one pulse (normalised units).
    ensemble : int, optional
        Members ``E``: each draws its own trains (the output has a leading ``E``).

    Returns
    -------
    (n_up, n_down) : Tensor, shape (E?, out, in)
    """
    if not isinstance(rule, StochasticPulses):
        raise TypeError(f"rule: outer_pulse_counts needs StochasticPulses, got {type(rule).__name__}")
    check_generator(generator)
    bl = rule.bl
    if ensemble is not None:
        if x.dim() == 2:
            x = x.expand(ensemble, *x.shape)
        if d.dim() == 2:
            d = d.expand(ensemble, *d.shape)
    c = lr / (bl * dw_min)
    xm = x.abs().amax((-2, -1), keepdim=True)
    dm = d.abs().amax((-2, -1), keepdim=True)
    if rule.update_management:
        ok = (xm > 0) & (dm > 0)
        a = torch.where(ok, torch.sqrt(c * dm / torch.where(ok, xm, torch.ones_like(xm))), torch.zeros_like(xm))
        b = torch.where(ok, c / torch.where(a > 0, a, torch.ones_like(a)), torch.zeros_like(xm))
    else:
        a = b = torch.full_like(xm, math.sqrt(c))
    px = (x.abs() * a).clamp(max=1.0)  # (E?, B, in)
    pd = (d.abs() * b).clamp(max=1.0)  # (E?, B, out)

    def bits(p: torch.Tensor) -> torch.Tensor:  # (E?, B, bl, n) Bernoulli(p) pulse bits
        u = torch.rand((*p.shape[:-1], bl, p.shape[-1]), generator=generator, dtype=x.dtype, device=x.device)
        return (u < p.unsqueeze(-2)).to(x.dtype)

    bx = bits(px)  # (E?, B, bl, in)
    bd = bits(pd)
    sx = (x > 0).unsqueeze(-2)
    sd = (d > 0).unsqueeze(-2)
    xp, xn = (bx * sx).flatten(-3, -2), (bx * ~sx).flatten(-3, -2)  # (E?, B*bl, in)
    dp, dn = (bd * sd).flatten(-3, -2), (bd * ~sd).flatten(-3, -2)
    dd = torch.cat((dp, dn), -2).transpose(-2, -1)  # (E?, out, 2 B bl)
    n_up = dd @ torch.cat((xp, xn), -2)
    n_dn = dd @ torch.cat((xn, xp), -2)
    return n_up.round().to(torch.int64), n_dn.round().to(torch.int64)
