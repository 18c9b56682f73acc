"""Tiki-Taka v2 (Gokmen & Haensch, Front. Neurosci. 14:103, 2020; Gokmen, Front. Artif. Intell.
4:699148, 2021): gradients are written as pulses onto a fast array ``A``; every ``transfer_every``
steps ``columns`` columns of ``A`` are read (relative to a reference at ``A``'s symmetry point,
plus read noise), accumulated in a digital buffer ``H`` (units of pulses of the weight array
``C``) and, where ``|H| >= threshold``, pulses go to ``C`` (``H -= n``). The layer's own array is ``C``
(forward and backward read ``C`` only). Device asymmetry makes ``A`` relax to its symmetry point
between transfers, which is what lets the algorithm train on asymmetric devices.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from ..._checks import check_int_range, check_positive
from ...random import check_generator
from ._optim import check_grads, check_layers
from .layer_update import update_layer
from .base import AbstractUpdateModel, apply_pulses, symmetry_point
from .rules import DeterministicPulses, pulse_counts

__all__ = ["TikiTakaV2"]


class TikiTakaV2:
    """Tiki-Taka v2 on :class:`~physnn.crossbar.AnalogLinear` layers (the layers hold ``C``).

    Parameters
    ----------
    layers : AnalogLinear or sequence of them
    lr : float
        Learning rate of the gradient written onto ``A`` (weight units per unit gradient, in the
        same units as :class:`AnalogSGD`'s ``lr``).
    transfer_lr : float
        ``H += transfer_lr * A_column / dw_min(C)`` per transfer (dimensionless).
    transfer_every : int
        Steps between transfers.
    columns : int or None
        Columns of ``A`` read per transfer (cyclically); None: all of them (a full read of ``A``).
    threshold : float
        ``|H|`` (in pulses of ``C``) from which ``C`` is pulsed (>= 1).
    max_transfer_pulses : int
        Cap of pulses per device of ``C`` and transfer.
    read_noise : float
        Std of the Gaussian noise of a column read of ``A`` (normalised units).
    fast_model : AbstractUpdateModel, optional
        Device of ``A`` (default: the layer's ``config.update``); must be bidirectional.
    reference : {"symmetry_point", "zero"}
        ``A`` read relative to each device's symmetry point (a reference device programmed
        there, as in TTv2 / c-TTv2 practice, Rasch et al., Nat. Commun. 15, 2024) or to 0.
    generator : torch.Generator, optional
        ``A``'s device draws, read noise, stochastic rounding.

    Attributes
    ----------
    a_, h_ : list of Tensor
        States of ``A`` (normalised units) and the buffers ``H`` (pulses of ``C``).
    a_pulses_ : list of Tensor
        Pulses per device of ``A``.
    """

    def __init__(
        self,
        layers: Any,
        *,
        lr: float,
        transfer_lr: float = 0.1,
        transfer_every: int = 1,
        columns: int | None = 1,
        threshold: float = 1.0,
        max_transfer_pulses: int = 1,
        read_noise: float = 0.0,
        fast_model: AbstractUpdateModel | None = None,
        reference: str = "symmetry_point",
        rule: DeterministicPulses | None = None,
        generator: torch.Generator | None = None,
    ):
        self.layers = check_layers(layers)
        self.lr = check_positive(lr, "lr")
        self.transfer_lr = check_positive(transfer_lr, "transfer_lr")
        self.transfer_every = check_int_range(transfer_every, "transfer_every", 1)
        self.columns = None if columns is None else check_int_range(columns, "columns", 1)
        self.threshold = check_positive(threshold, "threshold")
        if self.threshold < 1:
            raise ValueError(f"threshold={threshold!r}: must be >= 1 (pulses of C)")
        self.max_transfer_pulses = check_int_range(max_transfer_pulses, "max_transfer_pulses", 1)
        self.read_noise = check_positive(read_noise, "read_noise", allow_zero=True)
        if reference not in ("symmetry_point", "zero"):
            raise ValueError(f"reference={reference!r}: must be 'symmetry_point' or 'zero'")
        self.rule = DeterministicPulses(stochastic_rounding=True) if rule is None else rule
        if not isinstance(self.rule, DeterministicPulses):
            raise TypeError(f"rule: expected DeterministicPulses, got {type(self.rule).__name__}")
        self.generator = check_generator(generator)
        self.a_, self.h_, self.a_params_, self.ref_, self.a_pulses_ = [], [], [], [], []
        self._col = [0] * len(self.layers)
        self.steps_ = 0
        for i, l in enumerate(self.layers):
            m = l.config.update if fast_model is None else fast_model
            if not isinstance(m, AbstractUpdateModel):
                raise TypeError(f"fast_model: expected an update model, got {type(m).__name__}")
            if m.set_only or l.config.update.set_only:
                raise ValueError(
                    f"layers[{i}]: config.update is set_only; Tiki-Taka needs bidirectional devices "
                    "(use MixedPrecision for SET-only PCM)"
                )
            if not l.is_programmed:
                l.program()
            lead = () if l.ensemble is None else (l.ensemble,)
            shape = (*lead, l.out_features, l.in_features)
            p = m.sample_params(shape, generator=self.generator, dtype=l.g_prog.dtype, device=l.g_prog.device)
            ref = symmetry_point(p) if reference == "symmetry_point" else torch.zeros(shape, dtype=p.dw_up.dtype)
            self.a_params_.append(p)
            self.ref_.append(ref)
            self.a_.append(ref.clone())  # A starts at its reference: reads 0
            self.h_.append(torch.zeros(shape, dtype=p.dw_up.dtype, device=p.dw_up.device))
            self.a_pulses_.append(torch.zeros(shape, dtype=torch.int64, device=p.dw_up.device))

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor]) -> None:
        """Write ``-lr * grad`` onto ``A``; transfer every ``transfer_every`` steps."""
        grads = check_grads(self.layers, grads)
        gen = self.generator
        for i, (l, g) in enumerate(zip(self.layers, grads)):
            p = self.a_params_[i]
            n = pulse_counts(
                (-self.lr / float(l.w_max)) * g.expand_as(self.a_[i]), p.model.dw_min, self.rule, generator=gen
            )
            self.a_[i] = apply_pulses(self.a_[i], n, p, generator=gen)
            self.a_pulses_[i] += n.abs()
        self.steps_ += 1
        if self.steps_ % self.transfer_every == 0:
            self.transfer()

    @torch.no_grad()
    def transfer(self) -> None:
        """Read ``columns`` columns of each ``A``, filter them through ``H``, pulse ``C``."""
        gen = self.generator
        for i, l in enumerate(self.layers):
            a, h = self.a_[i], self.h_[i]
            n_in = a.shape[-1]
            k = n_in if self.columns is None else min(self.columns, n_in)
            cols = torch.arange(self._col[i], self._col[i] + k, device=a.device) % n_in
            self._col[i] = (self._col[i] + k) % n_in
            v = a.index_select(-1, cols) - self.ref_[i].index_select(-1, cols)
            if self.read_noise > 0:
                v = v + self.read_noise * torch.randn(v.shape, generator=gen, dtype=v.dtype, device=v.device)
            eps_c = l.config.update.dw_min
            hc = h.index_select(-1, cols) + self.transfer_lr * v / eps_c
            n = torch.where(hc.abs() >= self.threshold, torch.trunc(hc), torch.zeros_like(hc))
            n = n.clamp(-self.max_transfer_pulses, self.max_transfer_pulses)
            if bool((n != 0).any()):
                full = torch.zeros_like(a)
                full.index_copy_(-1, cols, n)
                update_layer(l, full * (eps_c * float(l.w_max)), DeterministicPulses(), checked=True)
            h.index_copy_(-1, cols, hc - n)
