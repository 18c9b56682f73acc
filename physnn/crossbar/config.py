"""Configuration of a simulated crossbar layer: which effects are on, with which parameters.

:class:`CrossbarConfig` composes the per-effect configs of :mod:`physnn.crossbar` (``None`` =
effect off) with the periphery (DAC, ADC, output noise) and the read protocol (input scaling,
bound management, drift compensation). Build one

* from a device card: ``CrossbarConfig.from_card("pcm_aihwkit", dac=DAC(8), adc=ADC(8, 12.0))``;
* ideal (no nonideality, equals ``nn.Linear``): ``CrossbarConfig.ideal()``;
* matching aihwkit's ``TorchInferenceRPUConfig`` + ``PCMLikeNoiseModel``: :func:`aihwkit_preset`;
* from an aihwkit ``TorchInferenceRPUConfig``: :func:`from_aihwkit`.

Units of the read path
----------------------
Inputs are applied as voltages ``V = v_read * x / x_scale`` (``x_scale`` is ``dac.x_max`` for
``input_scaling="fixed"``, or the largest ``|x|`` of each input vector for ``"abs_max"``, which is
aihwkit's ``NoiseManagementType.ABS_MAX``). Output noise and the ADC act on the *normalised*
column current ``y_n = I / (v_read (g_max - g_min))``, i.e. in units of the current of one device
of full swing at full-scale input; a weight ``w_max`` corresponds to the full swing. With weights
whose largest magnitude is 1 (and ``w_max=None``) these units coincide with aihwkit's
(``out_noise``, ``out_bound`` of ``IOParameters``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Literal, cast, get_args

from .adc import ADC
from .dac import DAC
from .drift import Drift
from .faults import StuckAtFaults
from .iv import LinearIV, SinhIV, iv_from_card
from .mapping import ConductanceRange, DifferentialPair, ReferenceColumn
from .params import AbstractDeviceEffect, check_params, effect, effect_fields, is_ideal, param, params_from_card
from .programming_noise import ProgrammingNoise
from .read_noise import ReadNoise
from .update.base import AbstractUpdateModel
from .variation import DeviceVariation

__all__ = ["CrossbarConfig", "IRDrop", "InputScaling", "OutputUnits", "from_aihwkit", "aihwkit_preset"]

#: ``CrossbarConfig.input_scaling``: full scale ``dac.x_max`` (fixed) or per input vector its largest ``|x|``
InputScaling = Literal["fixed", "abs_max"]
#: ``CrossbarConfig.output_units``: unit of ``out_noise`` and ``adc.y_max``
OutputUnits = Literal["normalized", "weight"]


@dataclass(frozen=True, kw_only=True)
class IRDrop(AbstractDeviceEffect):
    """Line-resistance (IR drop) setting of a crossbar read.

    Parameters
    ----------
    r_wire : float
        Row-wire segment resistance between adjacent cells in Ohm (>= 0).
    r_col : float, optional
        Column-wire segment resistance in Ohm (default ``r_wire``).
    exact : bool
        Use the exact nodal solve (:func:`~physnn.crossbar.solve_ir_drop_exact`, small arrays,
        no gradient) instead of the fast approximation (:func:`~physnn.crossbar.ir_drop_fast`).
    iterations : int, optional
        Sweeps of the fast approximation (None: enough for ``tol``).
    tol : float
        Contraction target of the fast approximation.
    """

    card_section = "wire"
    card_doc = "crossbar interconnect"

    r_wire: float = param(
        units="Ohm",
        lo=0.0,
        card="r_wire_segment",
        long_name="row-wire segment resistance",
        doc="line resistance between adjacent cells",
    )
    r_col: float | None = param(None, units="Ohm", lo=0.0, card=None, long_name="column-wire segment resistance")
    exact: bool = param(False, units=None, kind="bool", card=None, long_name="exact nodal solve")
    iterations: int | None = param(
        None,
        units="1",
        kind="int",
        card=None,
        check=False,
        sweep=False,
        long_name="sweeps of the fast IR-drop approximation",
    )
    tol: float = param(
        1e-4,
        units="1",
        lo=0.0,
        hi=1.0,
        lo_open=True,
        hi_open=True,
        card=None,
        sweep=False,
        long_name="contraction target of the fast IR-drop approximation",
    )

    @classmethod
    def from_card(cls, card: Any, **overrides: Any) -> "IRDrop":
        """From the ``[wire]`` section of a card (``r_wire_segment``)."""
        return super().from_card(card, **overrides)


def _ir_drop_from_card(card: Any) -> IRDrop | None:
    """The card's wire resistance as an :class:`IRDrop`, None where it is 0 (no IR drop)."""
    return IRDrop.from_card(card) if card["wire"].get("r_wire_segment", 0.0) > 0 else None


def _update_models() -> tuple[type, ...]:
    from .update import MODELS

    return tuple(MODELS.values())


def _update_from_card(card: Any) -> AbstractUpdateModel:
    from .update import update_model_from_card

    return update_model_from_card(card)


@dataclass(frozen=True, kw_only=True)
class CrossbarConfig:
    """Every switchable effect of an analog crossbar layer (``None`` = off).

    Parameters
    ----------
    range : ConductanceRange
        Programmable conductance window (S).
    mapping : DifferentialPair or ReferenceColumn, optional
        Weight -> conductance scheme; default ``DifferentialPair(range)``.
    w_max : float, optional
        Weight mapped to the full conductance swing. ``None``: the largest ``|w|`` of the array at
        programming (aihwkit's ``SinglePairConductanceConverter``). Larger weights saturate.
    w_max_per_column : bool
        Channel-wise weight mapping (aihwkit's ``weight_scaling_columnwise``): each output
        column's largest ``|w|`` is mapped to the full conductance swing, and a digital gain per
        column (its ``|w|`` maximum over the array's) restores the weights after the ADC. Small-
        weight columns then use the whole conductance window (less relative programming noise,
        the smaller drift variability of large conductances). The output noise and the ADC stay
        in raw weight units, as without it (needs ``output_units="weight"`` and ``w_max=None``;
        not with ``ir_drop`` or ``update``).
    weight_clip : float, optional
        Clip the float weights to ``±weight_clip`` before programming (aihwkit ``clip``).
    programming_noise, drift, read_noise, variation, faults
        Device effects (see the modules of the same name).
    iv : LinearIV or SinhIV, optional
        Device I-V law; ``None`` or ``LinearIV`` is ohmic.
    ir_drop : IRDrop, optional
        Wire resistance; switches the read to a (slow) circuit solve per forward.
    dac, adc : DAC, ADC, optional
        Input / output converters. ``dac.x_max`` is in units of ``x_scale`` (so 1.0 with
        ``input_scaling="abs_max"``), ``adc.y_max`` in normalised output units (see module doc).
    out_noise : float
        Std of additive Gaussian output noise per read, normalised units (aihwkit ``out_noise``).
    t_inference : float
        Time since programming in s (drift, accumulated 1/f noise); the layer's
        :meth:`~physnn.crossbar.AnalogLinear.set_time` changes it.
    drift_compensation : bool
        Global drift compensation (one factor per array from a read of the one-hot inputs
        right after programming and at ``t_inference``, as aihwkit's ``GlobalDriftCompensation``).
    input_scaling : {"fixed", "abs_max"}
        Input full scale: ``dac.x_max`` (fixed) or per input vector its largest ``|x|``
        (aihwkit noise management ``ABS_MAX``); outputs are rescaled digitally.
    bound_management : bool
        aihwkit's iterative bound management: when an ADC saturates, the read is repeated with
        inputs halved (at most down to a quarter of the DAC resolution), outputs doubled back.
    read_noise_per_forward : bool
        False (aihwkit): the read-noise model is drawn once per :meth:`set_time` (accumulated
        1/f noise at ``t_inference``). True: a fresh conductance read-noise draw every forward
        (slower: the weights are rebuilt per call).
    v_read : float
        Full-scale read voltage in V (> 0); matters for a nonlinear ``iv`` and for ``ir_drop``.
    update : AbstractUpdateModel, optional
        Pulsed step model of the device (:mod:`physnn.crossbar.update`) for learning in place
        (:meth:`~physnn.crossbar.AnalogLinear.update`); ``None``: the array is only programmed.
    output_units : {"normalized", "weight"}
        Unit of ``out_noise`` and ``adc.y_max``: normalised output (see module doc), or raw
        weight units (output noise and ADC range scale with ``w_max``), which is what aihwkit does
        with ``weight_scaling_omega = 0`` (:func:`from_aihwkit`, :func:`aihwkit_preset`).
    """

    range: ConductanceRange = effect(ConductanceRange, required=True)
    mapping: DifferentialPair | ReferenceColumn | None = None
    w_max: float | None = param(
        None, units="1", lo=0.0, lo_open=True, card=None, long_name="weight mapped to the full conductance swing"
    )
    w_max_per_column: bool = param(
        False, units=None, kind="bool", card=None, long_name="per-column weight scale (channel-wise mapping)"
    )
    weight_clip: float | None = param(
        None, units="1", lo=0.0, lo_open=True, card=None, ideal=None, long_name="weight clip before programming"
    )
    programming_noise: ProgrammingNoise | None = effect(ProgrammingNoise)
    drift: Drift | None = effect(Drift)
    read_noise: ReadNoise | None = effect(ReadNoise)
    variation: DeviceVariation | None = effect(DeviceVariation)
    faults: StuckAtFaults | None = effect(StuckAtFaults)
    iv: LinearIV | SinhIV | None = effect((LinearIV, SinhIV), build=iv_from_card)
    ir_drop: IRDrop | None = effect(IRDrop, build=_ir_drop_from_card)
    dac: DAC | None = effect(DAC)
    adc: ADC | None = effect(ADC)
    out_noise: float = param(
        0.0, units="1", lo=0.0, card=None, ideal=0.0, long_name="output read noise std (config output units)"
    )
    t_inference: float = param(0.0, units="s", lo=0.0, card=None, long_name="time since programming (drift time)")
    drift_compensation: bool = param(True, units=None, kind="bool", card=None, long_name="global drift compensation")
    input_scaling: InputScaling = param(
        "fixed", units=None, kind="str", choices=get_args(InputScaling), card=None, long_name="input full scale"
    )
    bound_management: bool = param(False, units=None, kind="bool", card=None, long_name="iterative bound management")
    read_noise_per_forward: bool = param(
        False, units=None, kind="bool", card=None, long_name="fresh read noise every forward"
    )
    v_read: float = param(
        0.2,
        units="V",
        lo=0.0,
        lo_open=True,
        card="conductance.v_read",
        long_name="full-scale read voltage",
        doc="read voltage at which G is defined",
    )
    output_units: OutputUnits = param(
        "normalized",
        units=None,
        kind="str",
        choices=get_args(OutputUnits),
        card=None,
        long_name="unit of out_noise and adc.y_max",
    )
    update: AbstractUpdateModel | None = effect(
        AbstractUpdateModel, build=_update_from_card, section="update", ideal=None, schema=_update_models
    )

    def __post_init__(self) -> None:
        for name, m in effect_fields(type(self)):
            v = getattr(self, name)
            if v is None and name != "range":
                continue
            if not isinstance(v, m["types"]):
                want = " or ".join(t.__name__ for t in m["types"])
                if name == "range":
                    raise TypeError(f"range: expected a ConductanceRange, got {type(v).__name__}")
                raise TypeError(f"{name}: expected {want} or None, got {type(v).__name__}")
            if name == "range" and self.mapping is None:
                object.__setattr__(self, "mapping", DifferentialPair(self.range))
        if not isinstance(self.mapping, (DifferentialPair, ReferenceColumn)):
            raise TypeError(f"mapping: expected DifferentialPair or ReferenceColumn, got {type(self.mapping).__name__}")
        if self.mapping.range != self.range:
            raise ValueError(f"mapping: its range {self.mapping.range} differs from range={self.range}")
        check_params(self)
        if self.w_max_per_column:
            for name, bad, why in (
                ("w_max", self.w_max is not None, "must be None (the maximum per column is used)"),
                (
                    "output_units",
                    self.output_units != "weight",
                    "must be 'weight' (noise and ADC range in raw weight units per column)",
                ),
                (
                    "ir_drop",
                    self.ir_drop is not None,
                    "must be None (the circuit solve reads conductances without the per-column gain)",
                ),
                ("update", self.update is not None, "must be None (pulsed writes assume one w_max per array)"),
            ):
                if bad:
                    raise ValueError(f"{name}={getattr(self, name)!r}: with w_max_per_column=True it {why}")
        if self.bound_management and self.adc is None:
            raise ValueError("bound_management=True needs an adc (it reacts to ADC saturation)")

    # ------------------------------------------------------------------------------------------
    def replace(self, **changes: Any) -> "CrossbarConfig":
        """A copy with ``changes`` (``dataclasses.replace``; the mapping follows a new range)."""
        if "range" in changes and "mapping" not in changes:
            # (never None after __post_init__)
            mapping = cast("DifferentialPair | ReferenceColumn", self.mapping)
            changes["mapping"] = type(mapping)(changes["range"])
        return replace(self, **changes)

    def without(self, *effects: str) -> "CrossbarConfig":
        """A copy with the named effects switched off (``"out_noise"`` -> 0, ``"drift_compensation"`` -> False)."""
        known = {f.name for f in fields(self)}
        changes: dict[str, Any] = {}
        for e in effects:
            if e not in known or e in ("range", "mapping"):
                raise ValueError(f"effects: {e!r} is not a switchable effect of CrossbarConfig")
            default = {
                "out_noise": 0.0,
                "drift_compensation": False,
                "bound_management": False,
                "t_inference": 0.0,
                "input_scaling": "fixed",
                "w_max_per_column": False,
            }.get(e, None)
            changes[e] = default
        return replace(self, **changes)

    @property
    def is_ideal(self) -> bool:
        """True when no nonideality is on (the layer then equals ``nn.Linear`` up to round-off).

        Every field declared with an ``ideal`` (:func:`~physnn.crossbar.params.param`,
        :func:`~physnn.crossbar.params.effect`) must be at it: each effect off (or ideal itself,
        as ``LinearIV`` and an analog ``range``), ``weight_clip`` None, ``out_noise`` 0.
        """
        return is_ideal(self)

    # ------------------------------------------------------------------------------------------
    @classmethod
    def from_card(cls, card: Any, **overrides: Any) -> "CrossbarConfig":
        """Device effects of a card (every section it has), periphery off unless overridden.

        Parameters
        ----------
        card : str, path or DeviceCard
            E.g. ``"pcm_aihwkit"``.
        **overrides
            Any field of :class:`CrossbarConfig` (``dac=DAC(8)``, ``read_noise=None``, ...).
        """
        from ..cards import load_card

        card = load_card(card)
        kw: dict[str, Any] = {}
        for name, m in effect_fields(cls):
            if m["section"] is not None and m["section"] in card:
                build = m["build"] if m["build"] is not None else m["types"][0].from_card
                v = build(card)
                if v is not None:
                    kw[name] = v
        kw.update(params_from_card(cls, card))
        if "range" in overrides and "mapping" not in overrides:
            overrides["mapping"] = DifferentialPair(overrides["range"])
        kw.update(overrides)
        return cls(**kw)

    @classmethod
    def ideal(cls, **overrides: Any) -> "CrossbarConfig":
        """No nonideality: differential pair on a 0-25 uS window, no converters, no noise."""
        kw: dict[str, Any] = {"range": ConductanceRange(0.0, 25e-6), "drift_compensation": False}
        if "range" in overrides and "mapping" not in overrides:
            overrides["mapping"] = DifferentialPair(overrides["range"])
        kw.update(overrides)
        return cls(**kw)


def aihwkit_preset(
    card: Any = "pcm_aihwkit",
    *,
    t_inference: float = 0.0,
    out_noise: float = 0.04,
    bits: int = 8,
    out_bound: float = 12.0,
    **overrides: Any,
) -> CrossbarConfig:
    """The read protocol of aihwkit's ``TorchInferenceRPUConfig`` with ``PCMLikeNoiseModel``.

    8-bit DAC on inputs scaled to their largest magnitude (``inp_res = 1/254``, noise management
    ``ABS_MAX``), additive output noise ``out_noise``, 8-bit ADC saturating at ``±out_bound``
    (``out_res = 1/254``) with iterative bound management, global drift compensation, PCM
    programming noise, drift and accumulated 1/f noise from ``card``, ``w_max`` = largest ``|w|``.
    Output noise and ADC bound are in raw weight units (``output_units="weight"``), as aihwkit's
    default ``weight_scaling_omega = 0``.
    """
    kw: dict[str, Any] = dict(
        dac=DAC(bits, 1.0),
        adc=ADC(bits, out_bound),
        out_noise=out_noise,
        input_scaling="abs_max",
        bound_management=True,
        drift_compensation=True,
        t_inference=t_inference,
        w_max=None,
        output_units="weight",
    )
    kw.update(overrides)
    return CrossbarConfig.from_card(card, **kw)


def _bits_from_res(res: float, name: str) -> int:
    """aihwkit resolution (step as a fraction of the full range, or number of states) -> bits."""
    r = 1.0 / res if res > 1.0 else res
    n_levels = 1.0 / r + 1.0  # e.g. 1/254 -> 255 levels = 2**8 - 1
    bits = math.log2(n_levels + 1.0)
    if abs(bits - round(bits)) > 1e-6:
        raise ValueError(
            f"{name}={res!r}: {n_levels:g} levels is not 2**bits - 1 (physnn's DAC/ADC use "
            f"2**bits - 1 symmetric levels, e.g. 1/254 for 8 bits)"
        )
    return int(round(bits))


def from_aihwkit(rpu_config: Any) -> CrossbarConfig:
    """Convert an aihwkit ``TorchInferenceRPUConfig`` (or ``InferenceRPUConfig``) to a config.

    Converted: ``noise_model`` (``PCMLikeNoiseModel`` with a ``SinglePairConductanceConverter``:
    range, programming-noise polynomial and scale, drift fit and ``drift_scale``, 1/f read
    noise, ``t_0``, ``t_read``), ``forward`` (``is_perfect``, ``inp_res``, ``inp_bound``,
    ``out_res``, ``out_bound``, ``out_noise``, noise management ``NONE``/``ABS_MAX``, bound
    management ``NONE``/``ITERATIVE``), ``drift_compensation`` (None or global),
    ``clip`` (``NONE``/``FIXED_VALUE``), ``mapping.weight_scaling_omega`` (0: output noise and
    bound in raw weight units, ``output_units="weight"``; > 0: normalised units divided by it).

    Not converted: the training-time weight ``modifier`` (physnn's ``train()`` mode injects the
    device model's own noise instead).

    Raises
    ------
    ValueError
        Naming the aihwkit field whose setting has no physnn equivalent.
    """
    try:
        from aihwkit.inference.noise.pcm import PCMLikeNoiseModel
        from aihwkit.inference.converter.conductance import SinglePairConductanceConverter
        from aihwkit.inference.compensation.drift import GlobalDriftCompensation
        from aihwkit.simulator.parameters.enums import BoundManagementType, NoiseManagementType, WeightClipType
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("from_aihwkit needs aihwkit (pip install aihwkit)") from exc

    nm = getattr(rpu_config, "noise_model", None)
    if not isinstance(nm, PCMLikeNoiseModel) or type(nm) is not PCMLikeNoiseModel:
        raise ValueError(f"rpu_config.noise_model: only PCMLikeNoiseModel is supported, got {type(nm).__name__}")
    conv = nm.g_converter
    if type(conv) is not SinglePairConductanceConverter:
        raise ValueError(
            f"rpu_config.noise_model.g_converter: only SinglePairConductanceConverter is supported, "
            f"got {type(conv).__name__}"
        )

    def us(v: float) -> float:  # microsiemens -> S without binary round-off (25 -> 2.5e-05)
        return float(f"{float(v)!r}e-6")

    rng = ConductanceRange(us(conv.g_min), us(conv.g_max))
    g_max = us(nm.g_max)
    ref = us(nm.prog_coeff_g_max_reference)
    prog = ProgrammingNoise(
        model="polynomial",
        coefficients=tuple(us(c) for c in nm.prog_coeff),
        g_max=g_max,
        g_max_reference=ref,
        scale=float(nm.prog_noise_scale),
    )
    # the drift and 1/f fit coefficients are constants of PCMLikeNoiseModel; the card copies them
    base = CrossbarConfig.from_card("pcm_aihwkit")
    # (the card has both sections)
    drift = replace(cast(Drift, base.drift), t0=float(nm.t_0), g_ref=g_max, scale=float(nm.drift_scale))
    read = replace(
        cast(ReadNoise, base.read_noise),
        t_read=float(nm.t_read),
        g_ref=g_max,
        t0=float(nm.t_0),
        scale=float(nm.read_noise_scale),
    )

    f = rpu_config.forward
    kw: dict[str, Any] = {}
    omega = float(getattr(getattr(rpu_config, "mapping", None), "weight_scaling_omega", 0.0) or 0.0)
    unit = omega if omega > 0 else 1.0
    kw["output_units"] = "normalized" if omega > 0 else "weight"
    if f.is_perfect:
        kw.update(dac=None, adc=None, out_noise=0.0, input_scaling="fixed", bound_management=False)
    else:
        for name in (
            "inp_noise",
            "inp_asymmetry",
            "out_asymmetry",
            "w_noise",
            "ir_drop",
            "out_nonlinearity",
            "slope_calibration",
            "v_offset_std",
            "r_series",
            "w_read_asymmetry_dtod",
            "out_noise_std",
        ):
            v = float(getattr(f, name, 0.0) or 0.0)
            if v > 0:
                raise ValueError(f"rpu_config.forward.{name}={v!r}: not supported by physnn (must be 0)")
        if getattr(f, "inp_sto_round", False) or getattr(f, "out_sto_round", False):
            raise ValueError("rpu_config.forward.inp_sto_round/out_sto_round: stochastic rounding is not supported")
        if f.inp_res > 0:
            kw["dac"] = DAC(
                _bits_from_res(f.inp_res, "rpu_config.forward.inp_res"), f.inp_bound if f.inp_bound > 0 else 1.0
            )
        if f.out_res > 0:
            if not f.out_bound > 0:
                raise ValueError(f"rpu_config.forward.out_bound={f.out_bound!r}: an ADC needs a finite bound > 0")
            kw["adc"] = ADC(_bits_from_res(f.out_res, "rpu_config.forward.out_res"), f.out_bound / unit)
        kw["out_noise"] = float(f.out_noise) / unit
        if f.noise_management == NoiseManagementType.ABS_MAX:
            kw["input_scaling"] = "abs_max"
        elif f.noise_management == NoiseManagementType.NONE:
            kw["input_scaling"] = "fixed"
        else:
            raise ValueError(
                f"rpu_config.forward.noise_management={f.noise_management}: only NONE and ABS_MAX are supported"
            )
        if f.bound_management == BoundManagementType.ITERATIVE:
            kw["bound_management"] = "adc" in kw
        elif f.bound_management == BoundManagementType.NONE:
            kw["bound_management"] = False
        else:
            raise ValueError(
                f"rpu_config.forward.bound_management={f.bound_management}: only NONE and ITERATIVE are supported"
            )
    dc = getattr(rpu_config, "drift_compensation", None)
    if dc is None:
        kw["drift_compensation"] = False
    elif type(dc) is GlobalDriftCompensation:
        kw["drift_compensation"] = True
    else:
        raise ValueError(
            f"rpu_config.drift_compensation: only None or GlobalDriftCompensation are supported, "
            f"got {type(dc).__name__}"
        )
    clip = getattr(rpu_config, "clip", None)
    if clip is not None and clip.type != WeightClipType.NONE:
        if clip.type != WeightClipType.FIXED_VALUE or not clip.fixed_value > 0:
            raise ValueError(f"rpu_config.clip.type={clip.type}: only NONE and FIXED_VALUE (> 0) are supported")
        kw["weight_clip"] = float(clip.fixed_value)
    pre_post = getattr(rpu_config, "pre_post", None)
    if pre_post is not None and getattr(getattr(pre_post, "input_range", None), "enable", False):
        raise ValueError("rpu_config.pre_post.input_range.enable=True: learned input ranges are not supported")
    return CrossbarConfig(
        range=rng, programming_noise=prog, drift=drift, read_noise=read, w_max=None, v_read=base.v_read, **kw
    )
