"""Analytic checks: overdamped <V> = R sqrt(I^2 - Ic^2), SFQ pulse area Phi0, static arcsin phase."""

import math

import numpy as np
import pytest

from physnn.constants import Phi0
from physnn.josephson import cell_library, pulse_areas, simulate, switch_times


def _rsj(ic_ua: float, r: float, i_ua: float, tstop: str = "600p", tstep: str = "0.02p") -> str:
    # rtype=0: constant junction resistance rn; tiny capacitance -> beta_c ~ 1e-7 (overdamped)
    return f"""* overdamped resistively shunted junction
.model rsj jj(rtype=0, rn={r}, cap=1e-18, icrit={ic_ua}u)
B1 1 0 rsj
I1 0 1 pwl(0 0 20p {i_ua}u)
.tran {tstep} {tstop}
"""


@pytest.mark.parametrize("i_over_ic", [1.5, 3.0])
def test_overdamped_mean_voltage(i_over_ic):
    ic, r = 100.0, 1.0
    ds = simulate(_rsj(ic, r, i_over_ic * ic))
    t = ds["time"].values
    ph = ds["phase"].sel(junction="B1").values
    m = t >= 100e-12
    # <V> from the phase slope (Josephson relation V = Phi0/2pi dphi/dt) over the plateau
    slope = np.polyfit(t[m], ph[m], 1)[0]
    v_mean = slope * Phi0 / (2 * math.pi)
    v_theory = r * math.sqrt((i_over_ic * ic * 1e-6) ** 2 - (ic * 1e-6) ** 2)
    assert v_mean == pytest.approx(v_theory, rel=1e-3)


def test_static_phase_is_arcsin():
    ds = simulate(_rsj(100.0, 1.0, 50.0, tstop="200p", tstep="0.1p"))
    ph = float(ds["phase"].sel(junction="B1").isel(time=-1))
    assert ph == pytest.approx(math.asin(0.5), abs=1e-6)
    assert switch_times(ds, "B1").size == 0


def test_sfq_pulse_area_is_phi0():
    text = (
        cell_library("jtl")
        + """
IIN 0 a pwl(0 0 50p 0 53p 600u 56p 0)
X1 JTL a b
X2 JTL b c
X3 JTL c d
RL d 0 2.0
.tran 0.25p 150p
"""
    )
    ds = simulate(text)
    for jj in ("B1|X2", "B2|X2", "B1|X3"):
        areas = pulse_areas(ds, jj)
        assert areas.shape == (1,)
        assert areas[0] == pytest.approx(Phi0, rel=5e-3)


@pytest.mark.parametrize("backend", ["fused", "dense", "sparse"])
def test_external_capacitor_equals_junction_capacitance(backend):
    # BDF2 applied twice to the phase (capacitor) is the same discretisation as the junction's own
    # C dV/dt term: moving the capacitance out of the model must not change the result
    base = """* JTL stage
.model {name} jj(rtype=1, vg=2.8mV, cap={cap}, r0=160, rn=16, icrit=0.1mA)
IIN 0 1 pwl(0 0 20p 0 23p 600u 26p 0)
B1 1 0 {name} area=2.5
RS1 1 0 2.87
IB1 0 1 pwl(0 0 10p 175u)
L1 1 2 3.3p
B2 2 0 {name} area=2.5
RS2 2 0 2.87
IB2 0 2 pwl(0 0 10p 175u)
RL 2 0 4
{extra}.tran 0.25p 60p
"""
    a = simulate(base.format(name="jm", cap="0.07pF", extra=""), backend=backend)
    b = simulate(base.format(name="jm0", cap="1e-30", extra="C1 1 0 0.175pF\nC2 0 2 0.175pF\n"), backend=backend)
    np.testing.assert_allclose(a["phase"].values, b["phase"].values, rtol=0, atol=1e-9)
    assert switch_times(a, "B2").size == 1
