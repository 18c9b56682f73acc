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
    text = "\n".join(ln for ln in text.splitlines()
                     if not ln.lower().startswith(".print") and ln.strip().lower() != ".end")
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
    vmax = float(np.abs(both["V(N3)"].values).max())
    np.testing.assert_allclose(only_v["V(N3)"].values, both["V(N3)"].values, rtol=0, atol=1e-12 * vmax)
    for ds, node in ((both, "N3"), (only_v, "N5")):
        phi = ds[f"P({node})"].values
        ref = _bdf2_reference(phi.T if ensemble else phi, h)
        np.testing.assert_allclose(ds[f"V({node})"].values, ref.T if ensemble else ref, rtol=0,
                                   atol=1e-12 * np.abs(ref).max())
    assert np.abs(only_v["V(N3)"].values).max() > 1e-4  # an SFQ pulse passed (~0.5 mV)
