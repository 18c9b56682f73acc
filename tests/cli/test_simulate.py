"""``physnn simulate NETLIST --out FILE.nc`` writes the dataset and a plot."""

import xarray as xr

from physnn.josephson.cli import cli_main

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


def test_cli_writes_netcdf_and_png(tmp_path):
    cir = tmp_path / "cell.cir"
    cir.write_text(TEXT)
    out = tmp_path / "res" / "cell.nc"
    assert cli_main([str(cir), "--out", str(out)]) == 0
    assert out.is_file() and out.with_suffix(".png").is_file()
    ds = xr.open_dataset(out)
    assert set(ds["junction"].values) == {"B1", "B2"}
    for name in list(ds.data_vars) + list(ds.coords):
        assert "units" in ds[name].attrs and "long_name" in ds[name].attrs, name
    assert float(ds["phase"].sel(junction="B2").isel(time=-1)) > 6.0  # one SFQ pulse passed
    ds.close()


def test_cli_reports_netlist_error(tmp_path, capsys):
    cir = tmp_path / "bad.cir"
    cir.write_text("* bad\nZ1 1 0 3\n.tran 1p 10p\n")
    assert cli_main([str(cir), "--out", str(tmp_path / "x.nc")]) == 2
    assert "line 2" in capsys.readouterr().out
