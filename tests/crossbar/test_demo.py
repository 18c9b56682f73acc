"""Smoke test of ``physnn demo --quick``: files, attributes, JSON and the physics it shows."""

import json

import pytest
import xarray as xr


def test_demo_quick(tmp_path, capsys):
    pytest.importorskip("sklearn")
    from physnn.crossbar.demo import cli_main

    assert cli_main(["--quick", "--out", str(tmp_path), "--seed", "1"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    res = json.loads(last)
    assert {p.name for p in tmp_path.iterdir()} >= {"demo.nc", "demo.png", "summary.md"}
    ds = xr.open_dataset(tmp_path / "demo.nc")
    for name in list(ds.data_vars) + list(ds.coords):
        assert "units" in ds[name].attrs and "long_name" in ds[name].attrs, name
    assert res["float_accuracy"] > 0.9
    # uncompensated PCM drift costs accuracy after a year; compensation recovers most of it
    assert res["pcm_accuracy_1y_uncompensated"] < res["pcm_accuracy_1y_compensated"]
    ideal = ds.accuracy_by_effect.sel(card="pcm_aihwkit", effect="ideal")
    assert float(abs(ideal - ds.float_accuracy).max()) < 1e-6   # ideal crossbar == float net
    ds.close()
