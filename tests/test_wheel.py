"""The built wheel carries its data, and every shipped example circuit runs from it (issue #16).

The wheel is built from this checkout, unpacked into a temporary folder with ``pip --target``
(no dependencies: the test environment has them), and used from a working directory outside the
checkout, so nothing is found through the source tree.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("hatchling", reason="building the wheel needs hatchling (test extras)")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(base / "dist"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next((base / "dist").glob("physnn-*.whl"))
    site = base / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PHYSNN_DEVICE_PATH", "PHYSNN_CIRCUIT_PATH")}
    env["PYTHONPATH"] = str(site)
    env["MPLBACKEND"] = "Agg"
    work = base / "work"
    work.mkdir()
    return site, env, work


def _py(installed, code: str) -> str:
    site, env, work = installed
    res = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def _shipped_circuits() -> list[Path]:
    return sorted((ROOT / "circuits").glob("*.cir"))


def _runnable(path: Path) -> bool:
    """Every shipped netlist runs, except cell libraries (first line ``* physnn … library``;
    the rule of tests/josephson/test_circuits.py and the README's "Shipped circuits")."""
    first = path.read_text().splitlines()[0].lower()
    return not (first.startswith("* physnn") and "library" in first)


def test_wheel_is_imported_from_its_install_folder(installed):
    site, _, _ = installed
    out = _py(installed, "import physnn, physnn.cards as c; print(physnn.__file__); print(','.join(c.list_cards()))")
    where, cards = out.strip().splitlines()
    assert where.startswith(str(site))
    assert set(cards.split(",")) >= {p.stem for p in (ROOT / "devices").glob("*.toml")}


def test_wheel_version_is_the_package_version_and_it_is_typed(installed):
    # one version source (physnn/__init__.py, read by hatch); py.typed marks the annotations as
    # the package's public types for users' type checkers (PEP 561)
    site, _, _ = installed
    import physnn

    dist = next(site.glob("physnn-*.dist-info"))
    meta = (dist / "METADATA").read_text()
    assert f"\nVersion: {physnn.__version__}\n" in meta
    assert (site / "physnn" / "py.typed").is_file()


def test_wheel_ships_every_circuit(installed):
    site, _, _ = installed
    shipped = {p.name for p in (site / "physnn" / "_data" / "circuits").glob("*.cir")}
    assert shipped == {p.name for p in _shipped_circuits()}


RUNNABLE = [p.name for p in _shipped_circuits() if _runnable(p)]


def test_there_are_runnable_examples():
    assert len(RUNNABLE) >= 3, f"circuits/ should hold runnable examples (JTL chain, splitter tree, DFF): {RUNNABLE}"


@pytest.mark.parametrize("name", RUNNABLE)
def test_physnn_simulate_runs_each_example_from_the_wheel(installed, name):
    site, env, work = installed
    netlist = site / "physnn" / "_data" / "circuits" / name
    out = work / name.replace(".cir", "")
    res = subprocess.run(
        [sys.executable, "-m", "physnn", "simulate", str(netlist), "--out", f"{out}/"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, f"physnn simulate {name} failed:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    assert list(out.glob("*.nc")), f"no netCDF written into {out}"
