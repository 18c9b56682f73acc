"""The ``physnn`` command: help, version, fast errors, cards, sweep, demo --quick, and the
physics subpackages never importing the face layer."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
from click.testing import CliRunner

from physnn import __version__
from physnn.cli import main

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("cmd", [[], ["demo"], ["sweep"], ["simulate"], ["cards"], ["kws"]])
def test_help_everywhere(cmd):
    res = _run(*cmd, "--help")
    assert res.exit_code == 0 and "Usage: " in res.output and "--help" in res.output


def test_version():
    res = _run("--version")
    assert res.exit_code == 0 and __version__ in res.output


def test_python_dash_m_and_fast_failure(tmp_path):
    """A failing command answers before importing torch (lazy heavy imports)."""
    code = (
        "import sys, runpy; sys.argv = ['physnn', 'simulate', 'missing.cir', '--tstop', '100p'];\n"
        "try:\n    runpy.run_module('physnn', run_name='__main__')\n"
        "except SystemExit as e:\n    print('rc', e.code, 'torch' in sys.modules, 'xarray' in sys.modules)"
    )
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, cwd=tmp_path)
    assert "rc 2 False False" in r.stdout, r.stdout + r.stderr
    assert time.perf_counter() - t0 < 4.0
    r = subprocess.run([sys.executable, "-m", "physnn", "--version"], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0 and __version__ in r.stdout


def test_cards_lists_and_validates(tmp_path):
    res = _run("cards")
    assert res.exit_code == 0 and "pcm_aihwkit" in res.output and "rram_hfo2" in res.output
    bad = tmp_path / "mine.toml"
    bad.write_text(
        '[card]\nname = "mine"\nkind = "rram"\ndescription = "x"\nsource = "y"\n'
        '[conductance]\ng_min = { value = 5.0, units = "uS", source = "s" }\n'
        'g_max = { value = 1.0, units = "uS", source = "s" }\n'
    )
    res = _run("cards", "pcm_aihwkit", bad)
    assert res.exit_code == 2 and "g_min" in res.output and "ok       pcm_aihwkit" in res.output


def test_sweep_command_errors_name_the_field(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('[sweep]\ntask = "toy"\n[[axis]]\nfield = "task.z"\nvalues = [1.0]\n')
    res = _run("sweep", spec, "--out", tmp_path / "r")
    assert res.exit_code == 2 and "task.z: unknown field" in res.output
    assert not (tmp_path / "r").exists()
    # a crossbar sweep with a misspelt field fails before torch is imported
    spec.write_text('[sweep]\ntask = "crossbar_mlp"\n[[axis]]\nfield = "config.adc.bitz"\nvalues = [4]\n')
    code = (
        "import sys, runpy; sys.argv = ['physnn', 'sweep', %r];\n"
        "try:\n    runpy.run_module('physnn', run_name='__main__')\n"
        "except SystemExit as e:\n    print('rc', e.code, 'torch' in sys.modules)"
    ) % str(spec)
    r = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, cwd=tmp_path)
    assert "rc 2 False" in r.stdout and "config.adc.bits" in r.stderr, r.stdout + r.stderr
    spec.write_text('[sweep]\ntask = "toy"\n[[axis]]\nfield = "task.x"\nvalues = []\n')
    res = _run("sweep", spec)
    assert res.exit_code == 2 and "task.x: empty range" in res.output


def test_sweep_command_runs_refuses_and_resumes(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('[sweep]\ntask = "toy"\nreplicates = 2\n[[axis]]\nfield = "task.x"\nvalues = [0.0, 1.0]\n')
    res = _run("sweep", spec, "--out", tmp_path / "r")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1])["done"] == 2
    res = _run("sweep", spec, "--out", tmp_path / "r")
    assert res.exit_code == 2 and "--resume" in res.output
    res = _run("sweep", spec, "--out", tmp_path / "r", "--resume")
    assert res.exit_code == 0
    spec.write_text('[sweep]\ntask = "toy"\nreplicates = 3\n[[axis]]\nfield = "task.x"\nvalues = [0.0, 1.0]\n')
    res = _run("sweep", spec, "--out", tmp_path / "r", "--resume")
    assert res.exit_code == 2 and "different spec" in res.output
    res = _run("sweep", spec, "--scheduler", "tcp://127.0.0.1:9", "--timeout", "1", "--out", tmp_path / "r2")
    assert res.exit_code == 2 and "unreachable" in res.output


def test_demo_quick(tmp_path):
    pytest.importorskip("sklearn")
    res = _run("demo", "--quick", "--out", tmp_path, "--seed", "1")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert {p.name for p in tmp_path.iterdir()} >= {"sweep.nc", "heatmaps.png", "lines.png", "summary.md"}
    ds = xr.open_dataset(tmp_path / "sweep.nc")
    assert set(ds.accuracy.dims) == {"read_noise", "adc_bits", "drift_time", "replicate"}
    for name in list(ds.data_vars) + list(ds.coords):
        assert "units" in ds[name].attrs and "long_name" in ds[name].attrs, name
    m = ds.accuracy_mean
    assert out["float_accuracy"] > 0.9
    # physics of the sweep: more read noise, fewer ADC bits and longer drift each cost accuracy
    assert float(m.isel(read_noise=-1).mean()) < float(m.isel(read_noise=0).mean()) - 0.1
    assert float(m.isel(adc_bits=0).mean()) < float(m.isel(adc_bits=-1).mean())
    assert float(m.isel(read_noise=0, adc_bits=-1, drift_time=-1)) < float(
        m.isel(read_noise=0, adc_bits=-1, drift_time=0)
    )
    ds.close()
    res = _run("demo", "--quick", "--card", tmp_path / "nope.toml", "--out", tmp_path / "x")
    assert res.exit_code == 2 and "nope.toml" in res.output


PHYSICS = [
    "physnn.crossbar",
    "physnn.josephson",
    "physnn.reservoir",
    "physnn.asic",
    "physnn.data",
    "physnn.training",
    "physnn.cards",
    "physnn.sweep",
]


@pytest.mark.parametrize("mod", PHYSICS)
def test_physics_does_not_import_the_face(mod):
    code = (
        f"import sys, importlib; importlib.import_module({mod!r}); "
        "print(sorted(m for m in sys.modules if m.startswith(('physnn.cli', 'physnn.plot'))))"
    )
    r = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"{mod} imports {r.stdout.strip()}"
