"""Smoke test of experiments/asic_reservoir.py --quick (about 6 CPU-seconds)."""

import importlib.util
import json
from pathlib import Path

import xarray as xr


def test_asic_reservoir_quick(tmp_path, capsys):
    path = Path(__file__).resolve().parents[2] / "experiments" / "asic_reservoir.py"
    spec = importlib.util.spec_from_file_location("asic_reservoir", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(["--quick", "--out", str(tmp_path)])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == out
    for k in ("cv_mean", "poisson_null_p", "task_score", "task_score_null"):
        assert isinstance(out[k], float)
    # the input reaches the readout through the share rate; a Poisson source carries nothing
    assert out["task_score"] > 0.3 > out["task_score_null"]
    assert 0.0 < out["poisson_null_p"] <= 1.0
    ds = xr.open_dataset(tmp_path / "asic_reservoir.nc")
    assert all("units" in ds[v].attrs and "long_name" in ds[v].attrs for v in list(ds.data_vars) + list(ds.coords))
    ds.close()
    assert (tmp_path / "asic_reservoir.png").exists() and (tmp_path / "summary.md").exists()
