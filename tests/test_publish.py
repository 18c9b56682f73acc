"""experiments/_publish.py: every results file says which commit made it (issue 24).

``latest.json`` carries the commit in ``meta``; a benchmark's netCDF files carry it in their attrs
(``save_netcdf``), and no experiment writes a netCDF file around it.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]


def _publish():
    spec = importlib.util.spec_from_file_location("physnn_publish", ROOT / "experiments" / "_publish.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


pub = _publish()


def _head() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout")


def test_netcdf_results_carry_the_commit(tmp_path):
    head = _head()
    ds = xr.Dataset({"acc": ("x", np.arange(3.0), {"units": "1"})}, attrs={"long_name": "accuracy"})
    path = pub.save_netcdf(ds, tmp_path / "r.nc")
    with xr.open_dataset(path) as back:
        assert back.attrs["git_commit"] == head
        assert back.attrs["git_dirty"] in (0, 1)
        assert back.attrs["long_name"] == "accuracy"  # the dataset's own attrs kept
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", back.attrs["date_utc"])
        np.testing.assert_array_equal(back["acc"].values, ds["acc"].values)
    assert "git_commit" not in ds.attrs  # the caller's object is unchanged
    da_path = pub.save_netcdf(ds["acc"], tmp_path / "a.nc")  # a DataArray too
    with xr.open_dataarray(da_path) as back:
        assert back.attrs["git_commit"] == head


def test_json_results_carry_the_commit(tmp_path, capsys):
    head = _head()
    path = pub.publish("unit", {"x": 1.0}, root=tmp_path)
    meta = json.loads(path.read_text())["meta"]
    assert meta["commit"] == head and isinstance(meta["dirty"], bool)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"x": 1.0}


def test_no_experiment_writes_netcdf_without_its_provenance():
    bare = [
        f"{p.name}:{i}"
        for p in sorted((ROOT / "experiments").glob("*.py"))
        if p.name != "_publish.py"
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if ".to_netcdf(" in line
    ]
    assert not bare, f"write these with _publish.save_netcdf (the commit in the attrs): {bare}"
