""".print node-voltage traces: JoSIM's BDF2 voltage of the node phase, whether the phase column is
turned into the voltage in place (the node is read by that one print) or copied."""

from pathlib import Path

import numpy as np
import pytest
import torch

from physnn.josephson import Ensemble, simulate
from physnn.josephson.circuit import K_JOSEPHSON

DATA = Path(__file__).parent / "data"


def _bdf2_reference(phi, h):
    # ((3 phi_n - 4 phi_{n-1}) + phi_{n-2}) / (2 h K) with zero history before t = 0
    p1 = np.concatenate([np.zeros_like(phi[:1]), phi[:-1]])
    p2 = np.concatenate([np.zeros_like(phi[:2]), phi[:-2]])
    return ((3.0 * phi - 4.0 * p1) + p2) / (2.0 * h * K_JOSEPHSON)


@pytest.mark.parametrize("ensemble", [None, 16])
def test_node_voltage_trace_in_place_equals_bdf2_of_phase(ensemble):
    text = (DATA / "dcsfq_jtl_sink_physnn.cir").read_text()
    text = "\n".join(
        ln for ln in text.splitlines() if not ln.lower().startswith(".print") and ln.strip().lower() != ".end"
    )
    kw = dict(tstop=250e-12)
    if ensemble:
        kw.update(ensemble=Ensemble(n=ensemble, ic_spread=0.05), generator=torch.Generator().manual_seed(1))
    # node n3: voltage only (converted in place); node n5: voltage and phase (copied)
    only_v = simulate(text + "\n.print nodev n3 0\n.print nodev n5 0\n.print nodep n5 0\n", **kw)
    if ensemble:
        kw["generator"] = torch.Generator().manual_seed(1)
    both = simulate(text + "\n.print nodev n3 0\n.print nodep n3 0\n", **kw)
    h = float(only_v["time"][1] - only_v["time"][0])
    # (the observed-node products differ in shape between the two runs: round-off only)
    vmax = float(np.abs(both["V(N3,0)"].values).max())
    np.testing.assert_allclose(only_v["V(N3,0)"].values, both["V(N3,0)"].values, rtol=0, atol=1e-12 * vmax)
    for ds, node in ((both, "N3"), (only_v, "N5")):
        phi = ds[f"P({node},0)"].values
        ref = _bdf2_reference(phi.T if ensemble else phi, h)
        np.testing.assert_allclose(
            ds[f"V({node},0)"].values, ref.T if ensemble else ref, rtol=0, atol=1e-12 * np.abs(ref).max()
        )
    assert np.abs(only_v["V(N3,0)"].values).max() > 1e-4  # an SFQ pulse passed (~0.5 mV)


# JoSIM v2.7 (josim-cli, phase mode) on dcsfq_jtl_sink_physnn.cir with the sink junction's area
# 2.16 -> 2.0088 (x 0.93), .tran 0.25p 300p 0 0.25p, .print phase of the two junctions below:
# switching times (2k+1)pi crossings, s. JoSIM reruns this netlist at 0.125 ps (its 0.2*2pi rule).
JOSIM_HALVED = {
    "B01|X05": [
        5.037615420975749e-11,
        1.0163880517700008e-10,
        1.529014541228039e-10,
        1.8498955544282743e-10,
        2.341695258700182e-10,
        2.854321530049147e-10,
    ],
    "B02|X01": [
        6.460464118133281e-11,
        1.1586734212399577e-10,
        1.6713005850251384e-10,
        1.7244762708535218e-10,
        1.7688493480974331e-10,
        1.8078360074825133e-10,
        2.4839833901208024e-10,
        2.9965506003504805e-10,
    ],
}


def test_step_rule_rerun_at_half_step_is_what_josim_computes(monkeypatch):
    # why ensemble members that break the 0.2*2pi rule are rerun from t = 0 at h/2: JoSIM does
    # the same, and the h/2 run is the one that matches it (the h run is 0.75 ps off on B02|X01)
    import physnn.josephson.transient as tr
    from physnn.josephson import switch_times

    text = (DATA / "dcsfq_jtl_sink_physnn.cir").read_text()
    text = "\n".join(
        ln for ln in text.splitlines() if not ln.lower().startswith(".print") and ln.strip().lower() != ".end"
    )
    text = text.replace("B01 1 4 jj1 area=2.16", "B01 1 4 jj1 area=2.0088") + "\n.tran 0.25p 300p 0 0.25p\n"
    assert "area=2.0088" in text
    ds = simulate(text)
    assert ds.attrs["step_halvings"] == 1
    for jj, ref in JOSIM_HALVED.items():
        t = switch_times(ds, jj)
        assert len(t) == len(ref)
        np.testing.assert_allclose(t, ref, rtol=0, atol=0.02e-12)
    monkeypatch.setattr(tr, "PHASE_JUMP_LIMIT", np.inf)
    coarse = simulate(text)
    assert coarse.attrs["step_halvings"] == 0
    assert np.abs(switch_times(coarse, "B02|X01") - JOSIM_HALVED["B02|X01"]).max() > 0.3e-12


@pytest.mark.parametrize("ensemble", [None, 16])
def test_junction_prints_without_stored_junction_voltages(ensemble):
    # junction_voltage=False drops the Dataset's `voltage`; a .print of a junction's voltage or
    # current still reads the voltages the loop computed: the same numbers as with them kept
    text = (DATA / "dcsfq_jtl_sink_physnn.cir").read_text()
    text = "\n".join(
        ln for ln in text.splitlines() if not ln.lower().startswith(".print") and ln.strip().lower() != ".end"
    )
    text += "\n.print devv B01|X05\n.print devi B01|X05\n.print phase B01|X05\n"
    kw = dict(tstop=250e-12)
    runs = []
    for keep in (True, False):
        if ensemble:
            kw.update(ensemble=Ensemble(n=ensemble, ic_spread=0.05), generator=torch.Generator().manual_seed(2))
        runs.append(simulate(text, junction_voltage=keep, **kw))
    full, lean = runs
    assert "voltage" in full and "voltage" not in lean
    prints = [k for k in full.data_vars if k.startswith(("V(", "I(", "P("))]
    assert len(prints) == 3
    for k in prints:
        np.testing.assert_array_equal(lean[k].values, full[k].values)
    v = full["voltage"].sel(junction="B01|X05").values
    np.testing.assert_array_equal(full[[k for k in prints if k.startswith("V(")][0]].values, v)
    assert np.abs(v).max() > 1e-4  # an SFQ pulse passed
