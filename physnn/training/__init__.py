"""physnn.training — training physical networks in a model-free loop.

=====================  ========================================================================
system                 ``AbstractPhysicalSystem`` (forward-only, bounded parameters with units,
                       query counting, validation), ``CallbackSystem``, ``SubprocessSystem``,
                       ``NoisyDriftingSystem``
adapters               every substrate as a system: ``AnalogLinearSystem``, ``AnalogLSTMSystem``,
                       ``ESNSystem``, ``ResistiveLSMSystem``, ``ASICTimingSystem``, ``ModuleSystem``
                       (any ``nn.Module`` with ``physical_bounds()``, e.g. the SFQ layers)
writes                 ``IdealWrite`` / ``PulsedWrite`` (``WriteVerify``): how a changed parameter
                       reaches the devices (write-verify, or pulses through a device step model,
                       open or closed loop)
scattering_medium      example wave substrate: random scattering medium, intensity detection
loop                   ``fit(system, data, trainer=...)``: callbacks (``BestEpoch``: the best
                       epoch on validation), tqdm, xarray history, resume
converted              ``hwa_fit`` / ``model_drift_accuracy`` / ``drift_val_fn``: HWA and drift of a
                       converted model, epoch selection on an ensemble of chips
gradient               frozen-random baseline, backprop, hardware-aware training, drift evaluation
local                  PhyLL, Forward-Forward, Mono-Forward, Cascaded-Forward, and the
                       digital-equivalent baseline (same digital layers, plain backprop)
insitu_layers          ``PulsedLayers``: PhyLL / Mono-Forward's digital layers on a second,
                       pulsed crossbar trained in place
zeroth_order           SPSA, antithetic multi-direction, MeZO, coordinate-wise
nevergrad_adapter      any nevergrad optimiser on the physical parameters
physics_aware          physics-aware training through a fitted digital twin
=====================  ========================================================================
"""

from .adapters import (
    AnalogLinearSystem,
    AnalogLSTMSystem,
    ASICTimingSystem,
    ESNSystem,
    ModuleSystem,
    ResistiveLSMSystem,
)
from .converted import (
    DRIFT_TIMES_S,
    clip_analog_weights,
    drift_val_fn,
    ensemble_cross_entropy,
    hwa_fit,
    model_drift_accuracy,
)
from .gradient import BackpropTrainer, FrozenReadoutTrainer, HWATrainer, drift_accuracy, features
from .local import (
    CaFoTrainer,
    DigitalEquivalentTrainer,
    MonoForwardTrainer,
    PhyLLTrainer,
    ff_goodness,
    ff_loss,
    overlay_label,
    phyll_goodness,
    phyll_loss,
)
from .insitu_layers import CrossbarLayers, PulsedLayers
from .loop import AbstractTrainer, BestEpoch, Callback, accuracy, fit
from .nevergrad_adapter import NevergradTrainer
from .physics_aware import DigitalTwin, PhysicsAwareTrainer
from .scattering_medium import ScatteringMedium, scattering_intensity
from .system import (
    AbstractPhysicalSystem,
    CallbackSystem,
    InputSpec,
    NoisyDriftingSystem,
    ParameterSpace,
    ParameterSpec,
    PhysicalSystemError,
    SequentialSystem,
    SubprocessSystem,
)
from .writes import AbstractWrite, IdealWrite, PulsedWrite, WriteVerify
from .zeroth_order import ZerothOrderTrainer, mezo_perturb, spsa_gains

__all__ = [
    "AbstractPhysicalSystem",
    "CallbackSystem",
    "InputSpec",
    "NoisyDriftingSystem",
    "ParameterSpace",
    "ParameterSpec",
    "PhysicalSystemError",
    "SequentialSystem",
    "SubprocessSystem",
    "AnalogLinearSystem",
    "AnalogLSTMSystem",
    "ASICTimingSystem",
    "ESNSystem",
    "ModuleSystem",
    "ResistiveLSMSystem",
    "ScatteringMedium",
    "scattering_intensity",
    "AbstractTrainer",
    "BestEpoch",
    "Callback",
    "accuracy",
    "fit",
    "hwa_fit",
    "model_drift_accuracy",
    "drift_val_fn",
    "ensemble_cross_entropy",
    "clip_analog_weights",
    "DRIFT_TIMES_S",
    "BackpropTrainer",
    "FrozenReadoutTrainer",
    "HWATrainer",
    "drift_accuracy",
    "features",
    "CaFoTrainer",
    "DigitalEquivalentTrainer",
    "MonoForwardTrainer",
    "PhyLLTrainer",
    "ff_goodness",
    "ff_loss",
    "overlay_label",
    "phyll_goodness",
    "phyll_loss",
    "NevergradTrainer",
    "DigitalTwin",
    "PhysicsAwareTrainer",
    "ZerothOrderTrainer",
    "mezo_perturb",
    "spsa_gains",
    "AbstractWrite",
    "IdealWrite",
    "PulsedWrite",
    "WriteVerify",
    "PulsedLayers",
    "CrossbarLayers",
]
