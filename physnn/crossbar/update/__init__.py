"""physnn.crossbar.update — crossbars that learn in place: pulsed device updates and rules.

=================  ===============================================================================
base               ``AbstractUpdateModel``, ``PulseParams``, ``apply_pulses`` (pure, batched), reset,
                   symmetry point; states in normalised weight units (see its doc)
constant_step      ``ConstantStep``
linear_step        ``LinearStep`` (closed form of n pulses)
soft_bounds        ``SoftBounds`` (linear step with unit slopes)
exp_step           ``ExpStep``
pow_step           ``PowStep``
rules              ``DeterministicPulses``, ``StochasticPulses`` (aihwkit pulse trains)
layer_update       the engine of ``AnalogLinear.update`` / ``update_outer`` (pulse counters)
analog_sgd         ``AnalogSGD``: plain SGD written as pulses
tiki_taka          ``TikiTakaV2``: fast array A, digital filter H, slow array C (Gokmen 2021)
mixed_precision    ``MixedPrecision``: digital accumulator chi, threshold pulses (Nandakumar 2020)
=================  ===============================================================================
"""

from __future__ import annotations

from typing import Any

from .base import AbstractUpdateModel, PulseParams, apply_pulses, reset, step_size, symmetry_point
from .constant_step import ConstantStep
from .exp_step import ExpStep
from .linear_step import LinearStep
from .pow_step import PowStep
from .rules import AbstractUpdateRule, DeterministicPulses, StochasticPulses, outer_pulse_counts, pulse_counts
from .soft_bounds import SoftBounds

MODELS = {m.card_model: m for m in (ConstantStep, LinearStep, SoftBounds, ExpStep, PowStep)}


def update_model_from_card(card: Any, **overrides: Any) -> AbstractUpdateModel:
    """The step model named by a card's ``[update].model`` (``overrides``: any of its fields)."""
    from ...cards import load_card

    card = load_card(card)
    if "update" not in card:
        raise ValueError(f"card: {card.name!r} has no [update] section (it cannot be trained in place)")
    return MODELS[card["update"]["model"]].from_card(card, **overrides)


from .analog_sgd import AnalogSGD  # noqa: E402
from .mixed_precision import MixedPrecision  # noqa: E402
from .tiki_taka import TikiTakaV2  # noqa: E402

__all__ = [
    "AbstractUpdateModel",
    "PulseParams",
    "apply_pulses",
    "reset",
    "step_size",
    "symmetry_point",
    "ConstantStep",
    "LinearStep",
    "SoftBounds",
    "ExpStep",
    "PowStep",
    "MODELS",
    "update_model_from_card",
    "AbstractUpdateRule",
    "DeterministicPulses",
    "StochasticPulses",
    "pulse_counts",
    "outer_pulse_counts",
    "AnalogSGD",
    "TikiTakaV2",
    "MixedPrecision",
]
