"""Every printed trace of physnn against josim-cli's, at t = 0, t = h and after (issue 26).

    PYTHONPATH=$PWD python experiments/josim_print_check.py --josim ../shared/tools/josim/josim-cli \
        tests/josephson/data/corpus/startup_dc_jtl.cir ...

Each netlist gets a ``.print`` of the current and voltage of every R, L and C and of the voltage
and phase of its first six nodes; both simulators run it (JoSIM v2.7 in phase mode, CSV output)
and each column is compared row by row, matched by time (JoSIM's print grid accumulates
``prevPoint + prstep`` and can skip a row). Differences are relative to the column's largest
|value|. Node and element voltages at t = 0 and t = h are listed apart: JoSIM's output starts the
BDF2 look-back of a voltage at the first printed point (its phase taken as the two earlier ones),
so it prints 0 at t = 0 whatever the state; physnn prints the voltage of the step itself.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from physnn.josephson import parse_netlist, simulate  # noqa: E402


def with_prints(text: str) -> str:
    net = parse_netlist(text)
    lines = []
    for e in net.elements:
        if e.kind in "RCL":
            lines += [f".print i({e.name})", f".print v({e.name})"]
    for n in sorted({n for e in net.elements for n in e.nodes if n != "0"})[:6]:
        lines += [f".print v({n})", f".print p({n})"]
    body = text.rstrip()
    if body.lower().endswith(".end"):
        body = body[:-4]
    return body + "\n" + "\n".join(lines) + "\n.end\n"


def josim_columns(josim: Path, text: str, work: Path) -> tuple[list[str], np.ndarray]:
    cir, out = work / "net.cir", work / "out.csv"
    cir.write_text(text)
    subprocess.run([str(josim), "-m", "-o", str(out), str(cir)], check=True, capture_output=True)
    rows = list(csv.reader(out.open()))
    return [h.strip('"').upper() for h in rows[0]], np.array([[float(x) for x in r] for r in rows[1:]])


def compare(josim: Path, path: Path) -> dict:
    text = with_prints(path.read_text())
    with tempfile.TemporaryDirectory() as d:
        hdr, a = josim_columns(josim, text, Path(d))
    ds = simulate(text)
    t = ds["time"].values
    h = t[1] - t[0]
    idx = np.clip(np.searchsorted(t, a[:, 0] - 0.1 * h), 0, len(t) - 1)
    ok = np.abs(t[idx] - a[:, 0]) < 0.1 * h
    names = {v.upper(): v for v in ds.data_vars}
    res = {"columns": 0, "t0_h_max_rel": 0.0, "t0_h_voltage_max_rel": 0.0, "rest_max_rel": 0.0}
    for k, col in enumerate(hdr[1:], 1):
        if col not in names:
            continue
        ours, ref = ds[names[col]].values[idx[ok]], a[ok, k]
        d = np.abs(ours - ref) / max(float(np.abs(ref).max()), 1e-30)
        res["columns"] += 1
        key = "t0_h_voltage_max_rel" if col.startswith("V(") else "t0_h_max_rel"
        res[key] = max(res[key], float(d[:2].max()))
        res["rest_max_rel"] = max(res["rest_max_rel"], float(d[2:].max()))
        print(f"  {col:12s} t=0 {d[0]:.2e}  t=h {d[1]:.2e}  t>=2h {d[2:].max():.2e}")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--josim", type=Path, required=True, help="JoSIM v2.7 josim-cli binary")
    ap.add_argument("netlists", type=Path, nargs="+")
    args = ap.parse_args(argv)
    out = {}
    for p in args.netlists:
        print(f"== {p}")
        out[str(p)] = compare(args.josim, p)
        print(f"   {out[str(p)]}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
