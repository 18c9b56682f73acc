"""Cell library: logic and delay of each shipped cell (circuits/*.cir).

Published figures (RSFQ cells of the MIT-LL library, public facts): JTL 3.5 ps, splitter 6.3 ps,
merger 9.0 ps, DFF 6.3 ps. Delay here: from the cell's first switching junction to the first
junction of the JTL loading its output. The JTL is tuned to the published figure; splitter,
merger and DFF are smaller cells without internal JTL stages and are faster (asserted bands).
"""

import numpy as np
import pytest

from physnn.josephson import cell_library, pulse_count, simulate, switch_times

PULSE = "pwl(0 0 {t}p 0 {t3}p 600u {t6}p 0)"


def pulse(t):
    return PULSE.format(t=t, t3=t + 3, t6=t + 6)


def test_jtl_delay_matches_published_3p5ps():
    ds = simulate(
        cell_library("jtl")
        + f"""
IIN 0 a {pulse(50)}
X1 JTL a b
X2 JTL b c
X3 JTL c d
X4 JTL d e
RL e 0 2.0
.tran 0.25p 150p
"""
    )
    for k in range(1, 5):
        for jj in ("B1", "B2"):
            assert pulse_count(ds, f"{jj}|X{k}") == 1
    d = switch_times(ds, "B1|X3")[0] - switch_times(ds, "B1|X2")[0]
    assert d == pytest.approx(3.5e-12, rel=0.1)


def test_splitter_copies_a_pulse_to_both_outputs():
    ds = simulate(
        cell_library("jtl", "splitter")
        + f"""
IIN 0 a {pulse(50)}
X1 JTL a b
X2 SPLIT b c1 c2
X3 JTL c1 d1
X4 JTL c2 d2
R1 d1 0 2.0
R2 d2 0 2.0
.tran 0.25p 150p
"""
    )
    for jj in ("B1|X2", "B2|X2", "B3|X2", "B1|X3", "B2|X3", "B1|X4", "B2|X4"):
        assert pulse_count(ds, jj) == 1, jj
    d1 = switch_times(ds, "B1|X3")[0] - switch_times(ds, "B1|X2")[0]
    d2 = switch_times(ds, "B1|X4")[0] - switch_times(ds, "B1|X2")[0]
    assert d1 == pytest.approx(d2, abs=0.05e-12)  # symmetric cell
    assert 2.5e-12 < d1 < 6.3e-12


def test_merger_passes_either_input_and_blocks_backflow():
    ds = simulate(
        cell_library("jtl", "merger")
        + f"""
IA 0 a {pulse(50)}
IB 0 b {pulse(120)}
X1 JTL a a2
X2 JTL b b2
X3 MERGE a2 b2 o
X4 JTL o o2
RL o2 0 2.0
.tran 0.25p 200p
"""
    )
    assert pulse_count(ds, "B1|X4") == 2  # one output per input pulse
    assert pulse_count(ds, "B1|X1") == 1 and pulse_count(ds, "B1|X2") == 1  # nothing travels back
    assert pulse_count(ds, "B3|X3") == -1 and pulse_count(ds, "B4|X3") == -1  # escape junctions fired
    t_out = switch_times(ds, "B1|X4")
    d = t_out[0] - switch_times(ds, "B1|X3")[0]
    assert 2.5e-12 < d < 9.0e-12


def test_dff_stores_and_releases_on_clock():
    # clock at 100 ps (empty: no output), data 150 ps, clock 200 ps (output), clock 250 ps (none),
    # data 300 and 330 ps (second one escapes), clock 380 ps (one output)
    def edges(*ts):
        pts = ["0 0"]
        for t in ts:
            pts.append(f"{t}p 0 {t + 5}p 600u {t + 15}p 600u {t + 20}p 0")
        return "pwl(" + " ".join(pts) + ")"

    ds = simulate(
        cell_library("jtl", "dcsfq", "dff")
        + f"""
ID 0 da {edges(150, 300, 330)}
IC 0 ca {edges(100, 200, 250, 380)}
XD DCSFQ da d1
XC DCSFQ ca c1
XJD JTL d1 d2
XJC JTL c1 c2
XF DFF d2 c2 q
XO JTL q q2
XO2 JTL q2 q3
RL q3 0 2.0
.tran 0.25p 450p
"""
    )
    out = switch_times(ds, "B1|XO2")
    assert len(out) == 2
    assert 200e-12 < out[0] < 240e-12 and 380e-12 < out[1] < 420e-12
    clk = switch_times(ds, "B4|XF")
    assert len(clk) == 4
    d = switch_times(ds, "B1|XO")[0] - clk[1]  # clock-to-output of the stored bit
    assert 1.5e-12 < d < 6.3e-12


def test_dcsfq_one_pulse_per_rising_edge():
    ds = simulate(
        cell_library("jtl", "dcsfq")
        + """
IIN 0 a pwl(0 0 50p 0 60p 600u 150p 600u 160p 0 250p 0 260p 600u 350p 600u 360p 0)
X1 DCSFQ a b
X2 JTL b c
RL c 0 2.0
.tran 0.25p 450p
"""
    )
    t = switch_times(ds, "B1|X2")
    assert len(t) == 2 and pulse_count(ds, "B1|X2") == 2
    assert 50e-12 < t[0] < 100e-12 and 250e-12 < t[1] < 300e-12
    assert np.all(np.abs(np.diff(t) - 200e-12) < 1e-12)  # same response to both edges


def test_sfqdc_toggles_dc_level_per_pulse():
    ds = simulate(
        cell_library("jtl", "sfqdc")
        + """
IIN 0 a pwl(0 0 50p 0 53p 600u 56p 0 120p 0 123p 600u 126p 0 190p 0 193p 600u 196p 0 260p 0 263p 600u 266p 0)
X1 JTL a b
XT SFQDC b c
X2 JTL c d
RL d 0 2.0
.tran 0.25p 320p
.print devi L1|XT
"""
    )
    t1, t2 = switch_times(ds, "B1|XT"), switch_times(ds, "B2|XT")
    assert len(t1) == 2 and len(t2) == 2 and t1[0] < t2[0] < t1[1] < t2[1]  # alternate: toggling
    i = ds["I(L1|XT)"]
    lv = np.array([float(i.sel(time=tt, method="nearest")) for tt in (45e-12, 110e-12, 180e-12, 250e-12, 315e-12)])
    # reset level, then state 1 / state 0 alternating with a DC swing of tens of uA
    assert abs(lv[1] - lv[3]) < 1e-6 and abs(lv[2] - lv[4]) < 1e-6 and abs(lv[0] - lv[2]) < 1e-6
    assert abs(lv[1] - lv[2]) > 30e-6
    assert pulse_count(ds, "B1|X2") == 2  # one output pulse per two inputs
