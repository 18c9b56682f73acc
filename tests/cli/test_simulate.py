"""``physnn simulate NETLIST``: netCDF + plot, SI suffixes, --out folder, --ensemble, errors."""

import xarray as xr
from click.testing import CliRunner

from physnn.cli import main
from physnn.cli._types import parse_si

TEXT = """* one JTL cell driven by a current pulse
.model jm jj(rtype=1, vg=2.8mV, cap=0.07pF, r0=160, rn=16, icrit=0.1mA)
IIN 0 1 pwl(0 0 20p 0 23p 600u 26p 0)
B1 1 0 jm area=2.5
RS1 1 0 2.87
IB1 0 1 pwl(0 0 10p 175u)
L1 1 2 3.3p
B2 2 0 jm area=2.5
RS2 2 0 2.87
IB2 0 2 pwl(0 0 10p 175u)
RL 2 0 4
.tran 0.25p 60p
.print devi RL
"""


def _run(*args):
    return CliRunner().invoke(main, ["simulate", *map(str, args)])


def test_writes_netcdf_and_png(tmp_path):
    cir = tmp_path / "cell.cir"
    cir.write_text(TEXT)
    out = tmp_path / "res" / "cell.nc"
    res = _run(cir, "--out", out)
    assert res.exit_code == 0, res.output
    assert out.is_file() and out.with_suffix(".png").is_file()
    ds = xr.open_dataset(out)
    assert set(ds["junction"].values) == {"B1", "B2"}
    for name in list(ds.data_vars) + list(ds.coords):
        assert "units" in ds[name].attrs and "long_name" in ds[name].attrs, name
    assert float(ds["phase"].sel(junction="B2").isel(time=-1)) > 6.0  # one SFQ pulse passed
    ds.close()


def test_si_suffixes_out_folder_and_ensemble(tmp_path):
    cir = tmp_path / "cell.cir"
    cir.write_text(TEXT)
    res = _run(
        cir, "--tstop", "40p", "--tstep", "0.5ps", "--out", f"{tmp_path / 'outdir'}/", "--ensemble", "2", "--no-plot"
    )
    assert res.exit_code == 0, res.output
    nc = tmp_path / "outdir" / "cell.nc"
    assert nc.is_file() and (tmp_path / "outdir").is_dir()
    ds = xr.open_dataset(nc)
    assert ds.sizes["ensemble"] == 2
    assert abs(float(ds.time[-1]) - 40e-12) < 1e-12  # --tstop 40p, not the .tran's 60p
    ds.close()


def test_parse_si_as_netlists():
    assert parse_si("100p") == 100e-12 and parse_si("100ps") == 100e-12 and parse_si("1e-10") == 1e-10
    assert parse_si("2.5n") == 2.5e-9 and parse_si("1MEG", "") == 1e6 and parse_si("3m") == 3e-3


def test_bad_values_and_netlists_are_named(tmp_path):
    cir = tmp_path / "bad.cir"
    cir.write_text("* bad\nZ1 1 0 3\n.tran 1p 10p\n")
    res = _run(cir, "--out", tmp_path / "x.nc")
    assert res.exit_code == 2 and "line 2" in res.output
    res = _run(cir, "--tstop", "100q")  # (x is mega, as in netlists: the one suffix table)
    assert res.exit_code == 2 and "--tstop" in res.output and "unknown suffix" in res.output
    res = _run(tmp_path / "missing.cir")
    assert res.exit_code == 2 and "does not exist" in res.output
