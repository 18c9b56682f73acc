"""experiments/bench_josephson.py helpers and physnn's switching-time comparison: every junction is
compared (a count mismatch is reported, never skipped), JoSIM's variant files realise exactly the
physnn ensemble members, and JoSIM's batch runs several processes at once (a stand-in program
plays JoSIM: tests never call josim-cli)."""

import importlib.util
import math
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from physnn.josephson import cell_library, compare_switch_times, simulate, switch_times

ROOT = Path(__file__).resolve().parents[2]
DCSFQ = Path(__file__).parent / "data" / "josim" / "ex_dcsfq_jtl_sink.cir"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_josephson", ROOT / "experiments" / "bench_josephson.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def two_pulse_jtl():
    text = cell_library("jtl") + """
IIN 0 a pwl(0 0 30p 0 33p 600u 36p 0 80p 0 83p 600u 86p 0)
X1 JTL a b
X2 JTL b c
RL c 0 2.0
.tran 0.25p 130p
"""
    return simulate(text)


def test_compare_reports_a_count_mismatch_instead_of_skipping(two_pulse_jtl):
    ds = two_pulse_jtl
    ref = {str(j): switch_times(ds, str(j)) for j in ds["junction"].values}
    assert all(len(t) == 2 for t in ref.values())
    exact = compare_switch_times(ds, ref)
    assert exact.count_mismatches == () and exact.max_abs_err == 0.0
    assert exact.n_junctions == len(ref) and exact.n_events == 2 * len(ref)
    # one junction with a pulse less, one with a pulse more, one shifted by 1 ps
    names = list(ref)
    ref[names[0]] = ref[names[0]][:1]
    ref[names[1]] = np.append(ref[names[1]], 120e-12)
    ref[names[2]] = ref[names[2]] + 1e-12
    c = compare_switch_times(ds, ref)
    assert c.n_junctions == len(ref)  # every junction counted
    assert c.count_mismatches == ((names[0], 2, 1), (names[1], 2, 3))
    assert set(c.errors) == set(names[2:])
    assert c.max_abs_err == pytest.approx(1e-12, rel=1e-9)
    assert c.n_events == 2 * (len(ref) - 2)
    # only events before tmax count, on both sides: the extra late pulse is then no mismatch
    late = compare_switch_times(ds, ref, tmax=100e-12)
    assert [m[0] for m in late.count_mismatches] == [names[0]]


def test_compare_needs_a_member_for_an_ensemble():
    ds = simulate(DCSFQ, ensemble=np.ones((2, 12)), tstop=250e-12)
    ref = {"B01|X05": switch_times(ds, "B01|X05", member=1)}
    with pytest.raises(ValueError, match="member"):
        compare_switch_times(ds, ref)
    assert compare_switch_times(ds, ref, member=0).count_mismatches == ()


def test_ic_variant_netlist_is_the_physnn_ensemble_member(bench):
    """The JoSIM file of a variant (per-instance subcircuits, one .model per junction with icrit
    scaled) simulates, in physnn, exactly as that member of physnn's Ic-multiplier ensemble."""
    text = DCSFQ.read_text()
    ds_nom = simulate(text, tstop=400e-12)
    labels = [str(j) for j in ds_nom["junction"].values]
    f = 1 + 0.05 * np.random.default_rng(3).uniform(-1, 1, (2, len(labels)))
    ens = simulate(text, ensemble=f, tstop=400e-12)
    for k in range(2):
        vtext = bench.ic_variant_netlist(text, dict(zip(labels, f[k])))
        assert vtext.count(".model jjv_") == len(labels)
        assert all(f".print phase {j}" in vtext for j in labels)
        ds_v = simulate(vtext, tstop=400e-12)
        np.testing.assert_allclose(ds_v["ic"].sel(junction=labels).values, ens["ic"].isel(ensemble=k).values,
                                   rtol=1e-12)
        ref = {j: switch_times(ds_v, j) for j in labels}
        c = compare_switch_times(ens, ref, member=k)
        assert c.count_mismatches == () and c.max_abs_err < 1e-15  # back ends agree to round-off
        assert c.n_events >= 2 * len(labels)


def test_ic_variant_netlist_errors_name_the_parameter(bench):
    text = DCSFQ.read_text()
    labels = [str(j) for j in simulate(text, tstop=10e-12)["junction"].values]
    with pytest.raises(ValueError, match="factors: no factor for junction"):
        bench.ic_variant_netlist(text, dict.fromkeys(labels[1:], 1.0))
    with pytest.raises(ValueError, match="factors: no such junction"):
        bench.ic_variant_netlist(text, {**dict.fromkeys(labels, 1.0), "B99|X01": 1.0})


FAKE_JOSIM = """#!{python}
# stand-in for josim-cli -m -o OUT NETLIST: logs its start and end, sleeps, writes a 2-column CSV
import sys, time, os
out, net = sys.argv[3], sys.argv[4]
with open(os.environ["FAKE_JOSIM_LOG"], "a") as fh:
    fh.write(f"start {{time.time()!r}}\\n")
time.sleep(0.3)
with open(out, "w") as fh:
    fh.write('time,"P(B1)"\\n')
    for i in range(41):
        fh.write(f"{{i * 1e-12}},{{i * 0.5}}\\n")
with open(os.environ["FAKE_JOSIM_LOG"], "a") as fh:
    fh.write(f"end {{time.time()!r}}\\n")
"""


def test_josim_batch_runs_procs_at_a_time_and_collects_every_csv(bench, tmp_path, monkeypatch):
    exe = tmp_path / "fake-josim"
    exe.write_text(FAKE_JOSIM.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "log.txt"
    monkeypatch.setenv("FAKE_JOSIM_LOG", str(log))
    nets = []
    for k in range(6):
        nets.append(tmp_path / f"v{k}.cir")
        nets[-1].write_text("* variant\n")
    got = {}
    wall, cpu = bench.josim_batch(exe, nets, 2, tmp_path,
                                  collect=lambda k, csv: got.__setitem__(k, bench.josim_switch_times(csv, ["B1"])))
    assert sorted(got) == list(range(6))
    # phase 0.5 rad per ps: crossings of pi, 3pi, 5pi, ... at 2pi, 6pi, ... ps
    np.testing.assert_allclose(got[0]["B1"] * 1e12, [2 * math.pi * (2 * i + 1) for i in range(3)], atol=1e-3)
    assert not list(tmp_path.glob("variant_*.csv"))  # read, then deleted
    assert cpu > 0 and wall > 0
    # at most 2 processes at once, and 2 did overlap
    events = sorted((float(t), +1 if e == "start" else -1) for e, t in (ln.split() for ln in log.read_text().splitlines()))
    running = np.cumsum([d for _, d in events])
    assert running.max() == 2
    # without collect, the CSVs go to one file per worker slot
    bench.josim_batch(exe, nets[:2], 2, tmp_path)
    assert 1 <= len(list(tmp_path.glob("slot_*.csv"))) <= 2
    with pytest.raises(ValueError, match="procs"):
        bench.josim_batch(exe, nets, 0, tmp_path)
