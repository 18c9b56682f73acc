"""Current-voltage curve of a junction model (JoSIM's ``.iv`` control).

One transient of a single current-biased junction under a slow staircase of bias currents, up
from zero to ``imax`` and back down, so the hysteresis of an underdamped junction shows; the
voltage of each stair is the mean of the junction voltage over the stair's settled part
(from its phase slope, ``V = Phi0/2pi dphi/dt``).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from .._checks import check_int_range, check_positive
from ..constants import Phi0
from .netlist import JJModel, Netlist

__all__ = ["iv_curve", "iv_curves"]


def iv_curve(
    model: JJModel,
    imax: float,
    *,
    n_points: int = 41,
    area: float = 1.0,
    dwell: float = 200e-12,
    tstep: float = 0.1e-12,
) -> xr.Dataset:
    """IV curve of one junction of ``model`` (area ``area``), bias 0 -> ``imax`` -> 0 (A).

    Returns a Dataset with ``voltage`` (V) over ``current`` (A) for the ``up`` and ``down`` sweeps.
    """
    from .simulate import simulate

    check_positive(imax, "imax")
    check_int_range(n_points, "n_points", 2)
    check_positive(dwell, "dwell")
    currents = np.linspace(0.0, imax, n_points)
    levels = np.concatenate([currents, currents[::-1][1:]])
    ramp = dwell / 20.0
    pts = ["0 0"]
    for k, i in enumerate(levels):
        t0 = k * dwell
        pts.append(f"{float(t0 + ramp)!r} {float(i)!r}")
        pts.append(f"{float(t0 + dwell)!r} {float(i)!r}")
    p = ", ".join(
        f"{k}={float(getattr(model, f))!r}"
        for k, f in (
            ("icrit", "icrit"),
            ("cap", "cap"),
            ("r0", "r0"),
            ("rn", "rn"),
            ("vg", "vg"),
            ("delv", "delv"),
            ("icfct", "icfct"),
            ("rtype", "rtype"),
            ("phi", "phi"),
        )
    )
    text = (
        f"* .iv sweep of model {model.name}\n.model m jj({p})\nB1 1 0 m area={float(area)!r}\n"
        f"I1 0 1 pwl({' '.join(pts)})\n.tran {float(tstep)!r} {float(len(levels) * dwell)!r}\n"
    )
    ds = simulate(text)
    t = ds["time"].values
    ph = ds["phase"].sel(junction="B1").values
    volts = []
    for k in range(len(levels)):
        a, b = k * dwell + 0.4 * dwell, (k + 1) * dwell - tstep
        ia, ib = np.searchsorted(t, [a, b])  # (the run may have halved its step)
        ib = min(int(ib), len(t) - 1)
        volts.append((ph[ib] - ph[ia]) / (t[ib] - t[ia]) * Phi0 / (2 * math.pi))
    volts = np.asarray(volts)
    out = xr.Dataset(coords={"current": ("current", currents)})
    out["current"].attrs.update(units="A", long_name="bias current")
    out["voltage_up"] = ("current", volts[:n_points])
    out["voltage_down"] = ("current", volts[n_points - 1 :][::-1])
    for k, ln in (
        ("voltage_up", "mean junction voltage, bias sweep up"),
        ("voltage_down", "mean junction voltage, bias sweep down"),
    ):
        out[k].attrs.update(units="V", long_name=ln)
    out.attrs.update(model=model.name, area=float(area))
    return out


def iv_curves(net: Netlist, **kwargs) -> dict[str, xr.Dataset]:
    """The IV curves that a netlist's ``.iv MODEL IMAX [FILE]`` lines ask for, by model name."""
    return {name: iv_curve(net.models[name], imax, **kwargs) for name, imax, _file in net.iv}
