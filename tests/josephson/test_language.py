"""The JoSIM v2.7 input language, construct by construct, on own netlists with analytic results.

(JoSIM v2.7 syntax guide: https://joeydelp.github.io/JoSIM/syntax/; where physnn deliberately
differs, the README's Josephson section lists it.)
"""

import math
import warnings

import numpy as np
import pytest
import torch

from physnn.constants import k_B
from physnn.josephson import NetlistError, NetlistWarning, iv_curves, parse_netlist, simulate, switch_times

JJ = ".model jm jj(rtype=1, vg=2.8mV, cap=0.07pF, r0=160, rn=16, icrit=0.1mA)\n"
JTL_SUB = """.subckt JTL in out
L1 in 1 2p
B1 1 0 jm area=2.5
RB1 1 0 2.87
IB1 0 1 pwl(0 0 10p 175u)
L2 1 out 2p
.ends JTL
"""
BENCH = """IIN 0 a pwl(0 0 30p 0 33p 600u 36p 0)
X1 JTL a b
X2 JTL b c
RL c 0 2
.tran 0.25p 80p
"""


# ---------------------------------------------------------------------------------- .include
def test_include_relative_to_including_file_and_nested(tmp_path):
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / "model.inc").write_text("* model\n" + JJ)
    (tmp_path / "cells" / "jtl.inc").write_text("* jtl\n.include model.inc\n" + JTL_SUB)
    top = tmp_path / "top.cir"
    top.write_text("* top\n.include cells/jtl.inc\n" + BENCH + ".print phase B1.X2\n")
    net = parse_netlist(top)
    assert len(net.includes) == 2 and net.includes[0].endswith("jtl.inc")
    ds = simulate(top)
    assert len(switch_times(ds, "B1|X2")) == 1


def test_include_from_packaged_library():
    ds = simulate("* uses the shipped JTL cell\n.include jtl.cir\n" + BENCH)
    assert len(switch_times(ds, "B2|X2")) == 1


def test_include_cycle_and_missing_file(tmp_path):
    (tmp_path / "a.cir").write_text("* a\n.include b.cir\n")
    (tmp_path / "b.cir").write_text("* b\nR1 1 0 1\n.include a.cir\n")
    with pytest.raises(NetlistError, match="cycle") as exc:
        parse_netlist(tmp_path / "a.cir")
    assert exc.value.line == 3 and exc.value.token == "a.cir" and exc.value.source.endswith("b.cir")
    with pytest.raises(NetlistError, match="not found") as exc:
        parse_netlist("* t\nR1 1 0 1\n.include nosuchfile.cir\n")
    assert exc.value.line == 3 and exc.value.token == "nosuchfile.cir"


def test_error_in_included_file_names_that_file(tmp_path):
    (tmp_path / "bad.inc").write_text("* bad\nR1 1 0 1\nQ9 1 0 3\n")
    (tmp_path / "top.cir").write_text("* top\n.include bad.inc\n")
    with pytest.raises(NetlistError) as exc:
        parse_netlist(tmp_path / "top.cir")
    assert exc.value.source.endswith("bad.inc") and exc.value.line == 3 and exc.value.token == "Q9"


# ----------------------------------------------------------------- warnings, strict, names
def test_print_of_missing_device_warns_and_goes_on():
    text = "* t\n" + JJ + JTL_SUB + BENCH + ".print phase B7.X1\n.print devi RNOPE\n.print phase B1.X2\n"
    with pytest.warns(NetlistWarning) as rec:  # both requests warn (match= would re-emit the other)
        ds = simulate(text)
    assert any("line 15" in str(w.message) and "B7.X1" in str(w.message) for w in rec)
    assert any("RNOPE" in str(w.message) for w in rec)
    assert "P(B1|X2)" in ds and len(switch_times(ds, "B1|X2")) == 1
    with pytest.raises(NetlistError, match="strict") as exc:
        parse_netlist(text, strict=True)
    assert exc.value.line == 15 and exc.value.token == "B7.X1"


def test_hierarchical_names_in_every_form():
    text = (
        "* t\n"
        + JJ
        + JTL_SUB
        + BENCH
        + ".print phase B1|X1\n.print p(B1.X1)\n.print p(X1.B1)\n.print @B1.X2[p]\n"
        + ".print v(1.X1)\n.print v(X1.1)\n.print nodep 1|X1 0\n.print i(L2.X2)\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = simulate(text)
    assert {"P(B1|X1)", "P(B1|X2)", "V(1|X1)", "P(1|X1,0)", "I(L2|X2)"} <= set(ds.data_vars)
    # node phase of the junction's node equals the junction phase (grounded junction)
    np.testing.assert_allclose(ds["P(1|X1,0)"].values, ds["P(B1|X1)"].values, atol=1e-12)


def test_missing_tran_warns_with_defaults_and_strict_refuses():
    text = "* t\n" + JJ + "B1 1 0 jm\nI1 0 1 pwl(0 0 20p 50u)\n"
    with pytest.warns(NetlistWarning, match=r"no \.tran.*2\.5e-13 s.*1e-09 s"):
        ds = simulate(text)
    assert ds["time"].values[-1] == pytest.approx(1e-9)
    with pytest.raises(NetlistError, match="no .tran"):
        simulate(text, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        simulate(text, tstep=0.5e-12, tstop=10e-12)  # explicit: nothing to warn about


def test_control_block_equals_dot_commands():
    base = "* t\n" + JJ + JTL_SUB + BENCH.replace(".tran 0.25p 80p\n", "")
    a = simulate(base + ".tran 0.25p 80p\n.print phase B1.X2\n")
    b = simulate(base + ".control\ntran 0.25p 80p\nprint phase B1.X2\nrun\n.endc\n")
    np.testing.assert_array_equal(a["P(B1|X2)"].values, b["P(B1|X2)"].values)


def test_save_and_plot_are_print():
    base = "* t\n" + JJ + JTL_SUB + BENCH
    a = simulate(base + ".print v(b)\n")
    for kw in (".save", ".plot", ".print tran"):
        b = simulate(base + f"{kw} v(b)\n")
        np.testing.assert_array_equal(a["V(B)"].values, b["V(B)"].values)


# ------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "text, line, token, msg",
    [
        ("* t\n.subckt A x\nXB B x\n.ends\n.subckt B y\nXA A y\n.ends\nR1 1 0 1\n", 6, "A", "cycle"),
        ("* t\nR1 1 0 {rx*2}\n", 2, "RX", "undefined parameter"),
        ("* t\n.param a=b\nR1 1 0 a\n", 2, "B", "undefined parameter"),
    ],
)
def test_bad_input_names_line_and_token(text, line, token, msg):
    with pytest.raises(NetlistError, match=msg) as exc:
        parse_netlist(text)
    assert exc.value.line == line and exc.value.token == token


def test_node_fed_only_by_a_current_source():
    # a dangling stub simulates (as in JoSIM); a current into a node with nothing else has no solution
    text = "* t\n" + JJ + "B1 1 0 jm\nI1 0 1 pwl(0 0 10p 50u)\nI2 0 9 pwl(0 0 10p 50u)\n.tran 0.25p 20p\n"
    with pytest.raises(NetlistError, match="connected to nothing") as exc:
        simulate(text)
    assert exc.value.line == 5 and exc.value.token == "9"


# --------------------------------------------------------------------------- sources
def _src_in_resistor(fn, tstop="200p", tstep="0.25p", extra=""):
    """Current source into a 2 ohm resistor: the printed voltage is 2 ohm times the source."""
    ds = simulate(f"* source check\nI1 0 1 {fn}\nR1 1 0 2\n.tran {tstep} {tstop}\n.print v(1)\n{extra}")
    return ds["time"].values, ds["V(1)"].values / 2.0


def test_exp_source_matches_formula():
    t, i = _src_in_resistor("exp(0 100u 20p 10p 80p 30p)")
    th = np.where(t >= 20e-12, 100e-6 * (1 - np.exp(-(t - 20e-12) / 10e-12)), 0.0)
    th = th + np.where(t >= 80e-12, -100e-6 * (1 - np.exp(-(t - 80e-12) / 30e-12)), 0.0)
    np.testing.assert_allclose(i, th, atol=1e-12)


def test_pulse_sin_dc_pwl_sources():
    t, i = _src_in_resistor("pulse(0 50u 10p 5p 5p 20p 60p)")
    for t0, val in ((12.5e-12, 25e-6), (20e-12, 50e-6), (37.5e-12, 25e-6), (50e-12, 0.0), (80e-12, 50e-6)):
        assert i[np.argmin(np.abs(t - t0))] == pytest.approx(val, abs=1e-12)
    t, i = _src_in_resistor("sin(10u 40u 25g 20p)")
    np.testing.assert_allclose(
        i, np.where(t >= 20e-12, 10e-6 + 40e-6 * np.sin(2 * np.pi * 25e9 * (t - 20e-12)), 10e-6), atol=1e-12
    )
    _, i = _src_in_resistor("dc 30u")
    np.testing.assert_allclose(i, 30e-6, rtol=1e-12)


def test_custom_waveform_file(tmp_path):
    (tmp_path / "wave.dat").write_text("0 1 3 2\n")
    net_text = "* cus\nI1 0 1 cus(wave.dat 10p 1u 1 5p)\nR1 1 0 2\n.tran 0.25p 60p\n.print v(1)\n"
    (tmp_path / "cus.cir").write_text(net_text)
    ds = simulate(tmp_path / "cus.cir")
    t, i = ds["time"].values, ds["V(1)"].values / 2.0
    th = np.where(t < 5e-12, 0.0, np.interp((t - 5e-12) / 10e-12, [0, 1, 2, 3], [0, 1e-6, 3e-6, 2e-6]))
    np.testing.assert_allclose(i, th, atol=1e-15)


def test_noise_source_is_seeded_white_noise():
    text = "* noise\nI1 0 1 noise(0 1n 0.25p 0)\nR1 1 0 2\n.tran 0.25p 2000p\n.print v(1)\n"
    a = simulate(text, generator=torch.Generator().manual_seed(3))["V(1)"].values / 2
    b = simulate(text, generator=torch.Generator().manual_seed(3))["V(1)"].values / 2
    np.testing.assert_array_equal(a, b)
    # JoSIM's definition: VA * N(0,1) / sqrt(2 h) per step
    assert np.std(a) == pytest.approx(1e-9 / math.sqrt(2 * 0.25e-12), rel=0.06)


# ---------------------------------------------------------------- models, noise, spread
def test_model_accepts_every_josim_parameter():
    net = parse_netlist(
        "* m\n.model full jj(rtype=0, vg=2.5mV, delv=0.2mV, icrit=0.2mA, rn=10, r0=100, "
        "cap=0.1pF, icfct=0.7, phi=pi, t=4.2, tc=9.2, d=0)\n"
        ".model alt jj(vgap=2.6mV, ic=0.3mA, c=0.2pF, icfact=0.5)\nB1 1 0 full\nB2 1 0 alt\n"
    )
    m = net.element("B1").model
    assert (m.rtype, m.vg, m.delv, m.icrit, m.rn, m.r0, m.cap, m.icfct, m.phi, m.t, m.tc) == pytest.approx(
        (0, 2.5e-3, 0.2e-3, 0.2e-3, 10, 100, 0.1e-12, 0.7, math.pi, 4.2, 9.2)
    )
    m2 = net.element("B2").model
    assert (m2.vg, m2.icrit, m2.cap, m2.icfct) == pytest.approx((2.6e-3, 0.3e-3, 0.2e-12, 0.5))
    with pytest.warns(NetlistWarning, match="D"):
        parse_netlist("* m\n.model x jj(d=0.5)\n")


def test_iv_control_gives_rsj_curve():
    net = parse_netlist("* iv\n.model rsj jj(rtype=0, rn=1, cap=1e-18, icrit=100u)\n.iv rsj 300u\n")
    iv = iv_curves(net, n_points=5, dwell=100e-12, tstep=0.05e-12)["RSJ"]
    i = iv["current"].values
    v_th = 1.0 * np.sqrt(np.clip(i**2 - (100e-6) ** 2, 0, None))  # overdamped RSJ: V = R sqrt(I^2 - Ic^2)
    np.testing.assert_allclose(iv["voltage_up"].values, v_th, rtol=0.03, atol=2e-6)


def test_temp_and_neb_set_johnson_noise():
    base = (
        "* johnson\n.model jm jj(icrit=1u)\nR1 1 0 2\nB1 2 0 jm\nR2 2 0 1\nL1 1 2 1n\n.tran 0.25p 2000p\n.print v(1)\n"
    )
    for extra, bw in (("", 1 / (2 * 0.25e-12)), (".neb 100g\n", 100e9)):
        ds = simulate(base + ".temp 4.2\n" + extra, generator=torch.Generator().manual_seed(0))
        std = np.std(ds["V(1)"].values[100:])
        # the 1 nH coupling to the other branch is nearly open at these frequencies: V = R1 i_n
        assert std == pytest.approx(2.0 * math.sqrt(4 * k_B * 4.2 * bw / 2.0), rel=0.1), extra


def test_spread_draws_values_reproducibly():
    lines = "\n".join(f"L{k} {k} {k + 1} 1p" for k in range(1, 301))
    text = f"* spread\n.spread 0.3\n{lines}\nR1 301 0 1\nR2 1 0 1\n.tran 0.25p 2p\n"
    from physnn.josephson import apply_spread

    net = parse_netlist(text)
    a = apply_spread(net, torch.Generator().manual_seed(1))
    b = apply_spread(net, torch.Generator().manual_seed(1))
    la = np.array([e.value for e in a.elements if e.kind == "L"])
    assert np.array_equal(la, [e.value for e in b.elements if e.kind == "L"])
    assert la.mean() == pytest.approx(1e-12, rel=0.02)
    assert la.std() / 1e-12 == pytest.approx(0.1, rel=0.15)  # sigma = spread / 3


def test_option_seed_fixes_the_noise():
    text = "* seed\nI1 0 1 noise(0 1n 0.25p 0)\nR1 1 0 2\n.tran 0.25p 50p\n.print v(1)\n.option seed=7\n"
    a = simulate(text)["V(1)"].values
    b = simulate(text)["V(1)"].values
    np.testing.assert_array_equal(a, b)


def test_tran_fields_start_and_print_step():
    text = "* tran\nI1 0 1 pwl(0 0 100p 100u)\nR1 1 0 2\n.print v(1)\n"
    ds = simulate(text + ".tran 1p 100p 20p 0.25p\n")  # print every 1 ps from 20 ps, simulate at 0.25 ps
    t = ds["time"].values
    assert t[0] == pytest.approx(20e-12) and np.allclose(np.diff(t), 1e-12)
    np.testing.assert_allclose(ds["V(1)"].values, 2.0 * t * 1e-6 / 1e-12 * 1e-12 / 100e-12 * 100, rtol=1e-9)
