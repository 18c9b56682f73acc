"""Every file in ``circuits/`` (shipped as package data) either runs or is a cell library.

Rule (README, "Shipped circuits"): a file whose first line starts with ``* physnn`` and names it a
``library`` only defines subcircuits; every other ``.cir`` file is a runnable example that pulls
its cells in with ``.include`` and simulates as it is. Files are found and opened through the
package's own data lookup (:func:`physnn._resources.data_dir`, :func:`cell_path`), as an
installed wheel finds them.
"""

import warnings

import numpy as np
import pytest

from physnn._resources import data_dir
from physnn.josephson import cell_path, parse_netlist, simulate, switch_times

FILES = sorted(p.name for p in data_dir("circuits").glob("*.cir"))


def _is_library(name: str) -> bool:
    first = cell_path(name).read_text().splitlines()[0].lower()
    return first.startswith("* physnn") and "library" in first


LIBS = [f for f in FILES if _is_library(f)]
EXAMPLES = [f for f in FILES if not _is_library(f)]


def test_there_are_examples_and_libraries():
    assert {"example_jtl_chain.cir", "example_splitter_tree.cir", "example_dff.cir"} <= set(EXAMPLES)
    assert {"jtl.cir", "splitter.cir", "dff.cir"} <= set(LIBS)


@pytest.mark.parametrize("name", LIBS)
def test_library_defines_subcircuits_only(name):
    net = parse_netlist(cell_path(name))
    assert net.subcircuits, name
    assert not net.elements, f"{name}: a cell library must not hold top-level elements"


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_without_warnings(name):
    path = cell_path(name)
    net = parse_netlist(path, strict=True)  # no warning of any kind
    assert net.includes, f"{name}: an example pulls its cells in with .include"
    assert net.has_tran
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = simulate(path, strict=True)
    assert ds.sizes["time"] > 10
    # something happens: at least one junction switches
    assert any(switch_times(ds, str(j)).size for j in ds["junction"].values), name


def test_jtl_chain_pulse_travels_at_constant_speed():
    ds = simulate(cell_path("example_jtl_chain.cir"))
    t = np.array([switch_times(ds, f"B1|X{k}") for k in range(1, 9)])
    assert t.shape == (8, 1)  # one pulse through every cell
    d = np.diff(t[:, 0])
    assert np.all(np.abs(d - d.mean()) < 0.1e-12) and 3.0e-12 < d.mean() < 4.0e-12


def test_splitter_tree_reaches_all_four_leaves_together():
    ds = simulate(cell_path("example_splitter_tree.cir"))
    t = [switch_times(ds, f"B2|XO{k}") for k in range(1, 5)]
    assert all(len(x) == 1 for x in t)
    assert np.ptp([x[0] for x in t]) < 1e-15  # symmetric tree


def test_dff_outputs_the_stored_bits_on_the_clock():
    ds = simulate(cell_path("example_dff.cir"))
    q = switch_times(ds, "B2|XJQ")
    # clocks at 120, 200, 320 ps; data stored before the first and the third: two output pulses
    assert len(q) == 2
    assert 120e-12 < q[0] < 140e-12 and 320e-12 < q[1] < 340e-12


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLES)
def test_physnn_simulate_command_runs_example(name, tmp_path):
    # the user's command, on the packaged file: physnn simulate circuits/<example> --out run.nc
    import subprocess
    import sys

    out = tmp_path / "run.nc"
    proc = subprocess.run(
        [sys.executable, "-m", "physnn", "simulate", str(cell_path(name)), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.is_file() and out.stat().st_size > 0
