"""Schema of the device cards in ``devices/*.toml``.

A card is a TOML file made of sections. Every number is a table ``{ value = …, units = "…",
source = "…" }``; strings (model names, descriptions) are bare. This module is data only: the
loader in :mod:`physnn.cards` checks each card against :data:`SECTIONS`. A new physical effect
that needs card data adds its section here (one entry, its fields with units and ranges).

Units are SI. A card may write a prefixed unit (``"uS"``, ``"ns"``, ``"mV"``); the loader converts
it to the SI unit named here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Field", "Section", "SECTIONS", "DEVICE_KINDS"]


@dataclass(frozen=True, kw_only=True)
class Field:
    """One entry of a card section.

    Parameters
    ----------
    units : str
        SI unit of the value (``"1"`` for dimensionless). ``None`` for a string field.
    kind : {"float", "int", "vector", "str"}
        ``vector`` is a list of floats (all in ``units``).
    lo, hi : float, optional
        Physical range, inclusive unless ``lo_open`` / ``hi_open``.
    choices : tuple of str, optional
        Allowed values of a string field.
    required : bool
        Whether a card having the section must give the field.
    doc : str
        What the number is.
    """

    units: str | None = "1"
    kind: str = "float"
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] | None = None
    required: bool = False
    doc: str = ""


@dataclass(frozen=True, kw_only=True)
class Section:
    """A card section: its fields and whether every card must have it."""

    fields: dict[str, Field]
    required: bool = False
    doc: str = ""


DEVICE_KINDS = ("pcm", "rram", "ecram", "fefet", "flash", "mram", "generic")

_nonneg: dict[str, Any] = dict(lo=0.0)
_pos: dict[str, Any] = dict(lo=0.0, lo_open=True)
_frac: dict[str, Any] = dict(lo=0.0, hi=1.0)

SECTIONS: dict[str, Section] = {
    "card": Section(
        required=True,
        doc="identity and provenance of the card",
        fields={
            "name": Field(units=None, kind="str", required=True, doc="card name; must equal the file stem (a copied card gets its new file name here)"),
            "kind": Field(units=None, kind="str", choices=DEVICE_KINDS, required=True),
            "description": Field(units=None, kind="str", required=True),
            "source": Field(units=None, kind="str", required=True, doc="main reference (DOI)"),
        },
    ),
    "sources": Section(doc="named references; a quantity's `source` may name one of these keys", fields={}),
    "conductance": Section(
        required=True,
        doc="programmable conductance range of one device",
        fields={
            "g_min": Field(units="S", required=True, **_nonneg, doc="lowest programmable conductance"),
            "g_max": Field(units="S", required=True, **_pos, doc="highest programmable conductance"),
            "levels": Field(units="1", kind="int", lo=2, doc="distinguishable programmed levels"),
            "v_read": Field(units="V", **_pos, doc="read voltage at which G is defined"),
        },
    ),
    "programming_noise": Section(
        doc="error of a programmed conductance (write-verify residual), drawn once per programming",
        fields={
            "model": Field(units=None, kind="str", choices=("polynomial", "relative", "absolute"), required=True),
            "coefficients": Field(
                units="S", kind="vector",
                doc="polynomial: sigma(g) = sum_k c_k (g/g_max)^k (aihwkit PCMLikeNoiseModel form)",
            ),
            "sigma_rel": Field(units="1", **_nonneg, doc="relative: sigma = sigma_rel * g"),
            "sigma_abs": Field(units="S", **_nonneg, doc="absolute: sigma = sigma_abs"),
        },
    ),
    "drift": Section(
        doc="conductance decay g(t) = g(t0) (t/t0)^-nu after programming",
        fields={
            "model": Field(units=None, kind="str", choices=("power_law", "pcm_lognormal"), required=True),
            "t0": Field(units="s", required=True, **_pos, doc="time of the programming read-out"),
            "nu": Field(units="1", **_nonneg, doc="power_law: mean drift exponent"),
            "nu_std": Field(units="1", **_nonneg, doc="power_law: device-to-device std of nu"),
            "g_ref": Field(units="S", **_pos, doc="pcm_lognormal: conductance unit inside the logs"),
            "nu_mean_coeffs": Field(units="1", kind="vector", doc="mean nu = c0 ln(g/g_ref) + c1"),
            "nu_mean_min": Field(units="1", **_nonneg),
            "nu_mean_max": Field(units="1", **_nonneg),
            "nu_std_coeffs": Field(units="1", kind="vector", doc="std nu = c0 ln(g/g_ref) + c1"),
            "nu_std_min": Field(units="1", **_nonneg),
            "nu_std_max": Field(units="1", **_nonneg),
        },
    ),
    "read_noise": Section(
        doc="noise of one read of a device",
        fields={
            "model": Field(units=None, kind="str", choices=("one_over_f", "gaussian"), required=True),
            "t_read": Field(units="s", **_pos, doc="one_over_f: integration time of a read"),
            "g_ref": Field(units="S", **_pos, doc="one_over_f: conductance unit of Q(g)"),
            "q_coeff": Field(units="1", **_nonneg, doc="one_over_f: Q = q_coeff (g/g_ref)^-q_exponent"),
            "q_exponent": Field(units="1"),
            "q_max": Field(units="1", **_nonneg, doc="one_over_f: upper clamp of Q"),
            "sigma_rel": Field(units="1", **_nonneg, doc="gaussian: sigma = sigma_rel * g"),
        },
    ),
    "variation": Section(
        doc="device-to-device and cycle-to-cycle spread of the programmed conductance",
        fields={
            "device_to_device_rel": Field(units="1", **_nonneg),
            "cycle_to_cycle_rel": Field(units="1", **_nonneg),
        },
    ),
    "faults": Section(
        doc="fraction of devices stuck regardless of programming",
        fields={
            "stuck_on_rate": Field(units="1", **_frac, doc="stuck at g_max (stuck-at-ON / SA1)"),
            "stuck_off_rate": Field(units="1", **_frac, doc="stuck at g_min (stuck-at-OFF / SA0)"),
        },
    ),
    "iv": Section(
        doc="nonlinear current-voltage law I = G V_nl sinh(V / V_nl) scaled so dI/dV(0) = G",
        fields={
            "model": Field(units=None, kind="str", choices=("linear", "sinh"), required=True),
            "v_nl": Field(units="V", **_pos, doc="sinh: voltage scale of the nonlinearity"),
        },
    ),
    "switching": Section(
        doc="stochastic conductance after forming / soft breakdown (random-weight substrates)",
        fields={
            "distribution": Field(units=None, kind="str", choices=("lognormal", "normal"), required=True),
            "g_median": Field(units="S", **_pos, doc="median conductance after forming"),
            "log_sigma": Field(units="1", **_nonneg, doc="lognormal: std of ln(g)"),
            "g_std": Field(units="S", **_nonneg, doc="normal: std of g"),
            "forming_yield": Field(units="1", **_frac, doc="fraction of devices that form"),
        },
    ),
    "update": Section(
        doc="pulsed update of one device (learning in place, physnn.crossbar.update); states and steps in "
            "normalised weight units: conductance change / (g_max - g_min)",
        fields={
            "model": Field(units=None, kind="str", required=True,
                           choices=("constant_step", "linear_step", "soft_bounds", "exp_step", "pow_step")),
            "direction": Field(units=None, kind="str", choices=("bidirectional", "set_only"),
                               doc="set_only: one-sided (PCM SET) devices used as a pair with refresh"),
            "dw_min": Field(units="1", required=True, **_pos, doc="nominal step of one pulse (normalised)"),
            "up_down": Field(units="1", lo=-1.0, hi=1.0, lo_open=True, hi_open=True,
                             doc="up/down imbalance: dw_up = dw_min (1 + up_down), dw_down = dw_min (1 - up_down)"),
            "w_min": Field(units="1", hi=0.0, doc="lower bound of the state (normalised)"),
            "w_max": Field(units="1", **_pos, doc="upper bound of the state (normalised)"),
            "gamma_up": Field(units="1", doc="shape of the up step (slope, rate or exponent by model)"),
            "gamma_down": Field(units="1", doc="shape of the down step"),
            "dw_min_std": Field(units="1", **_nonneg, doc="cycle-to-cycle relative std of a step"),
            "dw_min_dtod": Field(units="1", **_nonneg, doc="device-to-device relative std of dw_min"),
            "up_down_dtod": Field(units="1", **_nonneg, doc="device-to-device std of up_down"),
            "w_max_dtod": Field(units="1", **_nonneg, doc="device-to-device relative std of w_max"),
            "w_min_dtod": Field(units="1", **_nonneg, doc="device-to-device relative std of w_min"),
            "noise": Field(units=None, kind="str", choices=("multiplicative", "additive"),
                           doc="cycle-to-cycle noise: relative to the step (aihwkit mult_noise) or to dw_min"),
            "gamma_dtod": Field(units="1", **_nonneg, doc="device-to-device relative std of gamma_up/down"),
            "reset_value": Field(units="1", doc="state after a RESET (normalised)"),
            "refresh_threshold": Field(units="1", **_pos, doc="set_only: state at which a pair is refreshed"),
            "endurance": Field(units="1", lo=1.0, doc="programming pulses a device survives"),
        },
    ),
    "wire": Section(
        doc="crossbar interconnect",
        fields={
            "r_wire_segment": Field(units="Ohm", **_nonneg, doc="line resistance between adjacent cells"),
        },
    ),
}

# [cost]: technology numbers of the chip-cost model (physnn.crossbar.cost); a separate block so that
# other sections added beside it merge without conflict.
SECTIONS["cost"] = Section(
    doc="technology numbers of the energy / latency / area model (physnn.crossbar.cost)",
    fields={
        "feature_size": Field(units="m", required=True, **_pos, doc="lithographic feature size F (cell area unit F^2)"),
        "cell_area": Field(units="1", required=True, **_pos, doc="area of one memory cell in F^2 (1T1R, crossbar)"),
        "t_read": Field(units="s", required=True, **_pos, doc="read pulse width per input cycle"),
        "clock_period": Field(units="s", required=True, **_pos, doc="digital clock period (ADC steps, adders)"),
        "adc_fom": Field(units="J", required=True, **_pos, doc="Walden figure of merit: energy per conversion step (E = FOM 2^bits)"),
        "adc_area": Field(units="m^2", **_nonneg, doc="area of one ADC"),
        "sense_amp_energy": Field(units="J", **_nonneg, doc="sense amplifier / integrator energy per conversion"),
        "dac_energy": Field(units="J", **_nonneg, doc="row driver / DAC energy per driven row and input cycle"),
        "dac_area": Field(units="m^2", **_nonneg, doc="area of one row driver / DAC"),
        "adder_energy_per_bit": Field(units="J", **_nonneg, doc="digital adder energy per bit of an addition"),
        "adder_area_per_bit": Field(units="m^2", **_nonneg, doc="adder area per bit"),
        "buffer_energy_per_bit": Field(units="J", **_nonneg, doc="buffer (SRAM / register file) access energy per bit"),
        "buffer_area_per_bit": Field(units="m^2", **_nonneg, doc="buffer area per stored bit"),
        "interconnect_energy_per_bit": Field(units="J", **_nonneg, doc="on-chip interconnect energy per toggling bit moved"),
        "programming_energy_per_pulse": Field(units="J", **_nonneg, doc="energy of one programming (write) pulse of one device"),
        "programming_pulse_width": Field(units="s", **_nonneg, doc="duration of one programming pulse"),
    },
)
