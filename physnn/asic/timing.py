"""Timing-error model of a SHA-256 hashing core: path delay vs voltage/temperature, error rate, heat.

Critical-path delay -- alpha-power law MOSFET model (Sakurai & Newton, IEEE J. Solid-State Circuits
25, 584 (1990), doi:10.1109/4.52187), gate delay ``~ C V / (V - V_th)^alpha``, with the usual
temperature dependences of threshold voltage (falls ~1 mV/K) and carrier mobility
(``mu ~ T^-m``, m ~ 1.5; e.g. Kumar & Kursun, IEEE TVLSI 17, 1 (2009)
doi:10.1109/TVLSI.2008.2008810 on temperature inversion)::

    d(V, T) = d_nom * g(V, T) / g(V_nom, T_nom),   g = (T/T_nom)^m * V / (V - V_th(T))^alpha,
    V_th(T) = V_th0 + k_vth (T - T_nom)

Timing errors -- the evaluated path delay varies from hash to hash (data-dependent sensitised
paths, supply noise, jitter) as a Gaussian with relative spread ``sigma_rel``; a hash is corrupted
when the delay exceeds the clock period minus the setup time (razor-style timing-speculation
models, e.g. Ernst et al., MICRO-36 (2003) doi:10.1109/MICRO.2003.1253179)::

    p_err(V, T, f) = 1 - Phi((1/f - t_setup - d(V, T)) / (sigma_rel * d(V, T)))

Self-heating -- first-order thermal RC: ``dT/dt = (T_amb + R_th P - T) / tau_th`` with
``P = C_eff V^2 f + P_static``.

Default numbers: a BM1366-class chip (TSMC 5 nm class) run at 300-500 MHz and 850-990 mV as in
"Toward Thermodynamic Reservoir Computing: Exploring SHA-256 ASICs as Potential Physical
Substrates" (arXiv:2601.01916). ``d_nom`` is chosen so that 500 MHz at 0.90 V / 60 C sits at the
edge of stability (p_err ~ 0.1); C_eff, R_th give ~12 W and ~60 C junction (Bitaxe-class board);
V_th0 = 0.35 V and alpha = 1.3 are generic short-channel values. They are ASSUMPTIONS for a
qualitatively realistic simulation, not measurements of the BM1366.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from .._checks import check_positive

__all__ = ["TimingParams", "path_delay", "error_probability", "power", "thermal_step"]


@dataclass(frozen=True, kw_only=True)
class TimingParams:
    """Parameters of the delay / error / thermal model (SI units)."""

    d_nom: float = 1.90e-9  # s, mean critical-path delay at (v_nom, t_nom)
    v_nom: float = 0.90  # V
    t_nom: float = 333.15  # K (60 C)
    v_th0: float = 0.35  # V, threshold voltage at t_nom
    k_vth: float = -1.0e-3  # V/K, threshold-voltage temperature coefficient
    alpha: float = 1.3  # 1, velocity-saturation index of the alpha-power law
    mobility_exp: float = 1.5  # 1, mobility ~ T^-m
    sigma_rel: float = 0.02  # 1, relative hash-to-hash delay spread
    t_setup: float = 0.05e-9  # s, flip-flop setup time
    c_eff: float = 3.0e-8  # F, effective switched capacitance (whole chip)
    p_static: float = 0.5  # W, leakage + I/O
    r_th: float = 3.0  # K/W, junction-to-ambient thermal resistance
    tau_th: float = 5.0  # s, thermal time constant
    t_amb: float = 298.15  # K

    def __post_init__(self) -> None:
        for name in ("d_nom", "v_nom", "t_nom", "v_th0", "alpha", "sigma_rel", "c_eff", "r_th", "tau_th", "t_amb"):
            check_positive(getattr(self, name), name)
        check_positive(self.t_setup, "t_setup", allow_zero=True)
        check_positive(self.p_static, "p_static", allow_zero=True)
        check_positive(self.mobility_exp, "mobility_exp", allow_zero=True)
        if self.v_nom <= self.v_th0:
            raise ValueError(f"v_nom={self.v_nom}: must exceed v_th0={self.v_th0}")


def _g(v, temp, p: TimingParams):
    vth = p.v_th0 + p.k_vth * (temp - p.t_nom)
    ov = v - vth
    if np.any(ov <= 0):
        raise ValueError(f"voltage: must exceed the threshold voltage (V_th = {np.min(vth):.3f} V)")
    return (temp / p.t_nom) ** p.mobility_exp * v / ov**p.alpha


def path_delay(voltage, temperature, params: TimingParams = TimingParams()):
    """Mean critical-path delay (s) at core voltage (V) and junction temperature (K)."""
    v = np.asarray(voltage, float)
    t = np.asarray(temperature, float)
    if np.any(t <= 0):
        raise ValueError("temperature: must be > 0 K")
    return params.d_nom * _g(v, t, params) / _g(params.v_nom, params.t_nom, params)


def error_probability(voltage, temperature, frequency, params: TimingParams = TimingParams()):
    """Probability that one hash evaluation violates timing (and is corrupted)."""
    f = np.asarray(frequency, float)
    if np.any(f <= 0):
        raise ValueError("frequency: must be > 0 Hz")
    d = path_delay(voltage, temperature, params)
    slack = 1.0 / f - params.t_setup - d
    return 1.0 - ndtr(slack / (params.sigma_rel * d))


def power(voltage, frequency, params: TimingParams = TimingParams()):
    """Chip power (W): dynamic ``C_eff V^2 f`` plus static."""
    return params.c_eff * np.asarray(voltage, float) ** 2 * np.asarray(frequency, float) + params.p_static


def thermal_step(
    temperature: float, voltage: float, frequency: float, dt: float, params: TimingParams = TimingParams()
) -> float:
    """Junction temperature (K) after ``dt`` s of constant V, f (exact solution of the RC model)."""
    t_ss = params.t_amb + params.r_th * float(power(voltage, frequency, params))
    return t_ss + (temperature - t_ss) * math.exp(-dt / params.tau_th)
