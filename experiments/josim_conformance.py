"""JoSIM conformance corpus: every testbench run unchanged in JoSIM v2.7 and in physnn, compared
junction by junction.

python experiments/josim_conformance.py --josim ../shared/tools/josim/josim-cli [--no-regenerate] [--quick]

For each netlist of ``tests/josephson/data/corpus/`` and ``tests/josephson/data/scoping/``:

1. (unless --no-regenerate) josim-cli runs it (phase mode, ``-m -o out.csv``); the switching
   times of every printed phase column ``P(label)`` -- the (2k+1)pi crossings of the printed
   samples by a cubic through four samples, crossings undone within two print steps dropped
   (:func:`physnn.josephson.crossings`, ``min_dwell = 2 * PRSTEP``) -- and JoSIM's CSV column
   names are written to ``josim_reference.json`` beside the netlists (numbers only). A JoSIM
   warning about an unknown ``.print`` device in a corpus file is an error here (every label
   of the corpus must be one JoSIM knows).
2. physnn simulates the same file unchanged; every junction of the reference is matched by label
   and compared by :func:`physnn.josephson.compare_switch_times` with the same event rule.

Figures (last printed line, one JSON object; also results/josim_conformance/latest.json):
  corpus_files, corpus_junctions, corpus_events   netlists, junctions and events compared
  corpus_count_mismatches        junctions whose number of events differs (target 0)
  corpus_max_err_ps              largest |t_physnn - t_JoSIM| over every event
  corpus_worst_err_over_tol      largest |error| / max(0.3 ps, 1 % of t) (target <= 1)
  per_file.<name>                junctions, events, max_err_ps of each netlist
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

DIRS = (REPO / "tests" / "josephson" / "data" / "corpus", REPO / "tests" / "josephson" / "data" / "scoping")
REF_NAME = "josim_reference.json"


def tolerance(t_ref: float) -> float:
    """The corpus target: max(0.3 ps, 1 %) of the reference time."""
    return max(0.3e-12, 0.01 * abs(t_ref))


def read_josim_csv(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path) as fh:
        rows = list(csv.reader(fh))
    return rows[0], np.array(rows[1:], dtype=float)


def josim_reference(josim: Path, netlist: Path, prstep: float) -> dict:
    """Run josim-cli on ``netlist``; its column names and per-P(...) column switching times."""
    from physnn.josephson import crossings

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out.csv"
        r = subprocess.run(
            [str(josim), "-m", "-o", str(out), str(netlist)], capture_output=True, text=True, timeout=600
        )
        log = r.stdout + r.stderr
        if r.returncode != 0 or not out.exists():
            raise RuntimeError(f"{netlist.name}: josim-cli failed ({r.returncode}):\n{log[-2000:]}")
        hdr, data = read_josim_csv(out)
    unknown = [ln for ln in log.splitlines() if ln.startswith("Unknown device/node")]
    # a junction with a phase offset (pi junction: JoSIM's PHI) switches at its (2k+1)pi + offset
    # crossings, as physnn.josephson.switch_times counts them
    import warnings

    from physnn.josephson import NetlistWarning, parse_netlist

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetlistWarning)
        offsets = {e.name: e.model.phi for e in parse_netlist(netlist).junctions}
    times = {}
    for i, h in enumerate(hdr[1:], start=1):
        if h.startswith("P(") and h.endswith(")") and "," not in h:
            t, _, _ = crossings(data[:, 0], data[:, i], offset=offsets.get(h[2:-1], 0.0), min_dwell=2 * prstep)
            times[h[2:-1]] = [float(x) for x in t]
    return {
        "columns": hdr,
        "prstep_s": prstep,
        "tstop_s": float(data[-1, 0]),
        "samples": int(data.shape[0]),
        "unknown_print_warnings": unknown,
        "switch_times_s": times,
    }


def junction_reference(netlist: Path, ref: dict) -> dict[str, list[float]]:
    """Reference switching times by junction label. JoSIM prints node phases when a file has no
    ``.print``: the phase of node ``N|X..`` is the phase of the junction from that node to
    ground (scoping/dotted_instances.cir), and is listed under that junction's label."""
    import warnings

    from physnn.josephson import NetlistWarning, parse_netlist

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetlistWarning)
        net = parse_netlist(netlist)
    labels = {e.name for e in net.junctions}
    grounded = {e.nodes[0]: e.name for e in net.junctions if e.nodes[1] == "0"}
    out = {}
    for k, v in ref["switch_times_s"].items():
        if k in labels:
            out[k] = v
        elif k in grounded:
            out[grounded[k]] = v
    return out


def compare(netlist: Path, ref: dict) -> dict:
    """physnn on ``netlist`` against ``ref`` (one file's reference entry)."""
    import warnings

    from physnn.josephson import NetlistWarning, compare_switch_times, simulate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetlistWarning)
        ds = simulate(netlist, junction_voltage=False)
    jref = junction_reference(netlist, ref)
    tmax = ref["tstop_s"] + 0.5 * ref["prstep_s"]
    c = compare_switch_times(ds, jref, min_dwell=2 * ref["prstep_s"], tmax=tmax)
    worst_rel = 0.0
    for jj, err in c.errors.items():
        rt = np.asarray(jref[jj], dtype=float)
        rt = rt[rt < tmax]
        if err.size:
            worst_rel = max(worst_rel, float(np.max(err / np.array([tolerance(t) for t in rt]))))
    return {
        "junctions": c.n_junctions,
        "events": c.n_events,
        "max_err_ps": c.max_abs_err * 1e12,
        "count_mismatches": len(c.count_mismatches),
        "worst_err_over_tol": worst_rel,
        "mismatch_list": [list(m) for m in c.count_mismatches],
        "physnn_junctions": int(ds.sizes["junction"]),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--josim", type=Path, default=REPO / ".." / "shared" / "tools" / "josim" / "josim-cli")
    ap.add_argument("--no-regenerate", action="store_true", help="compare with the stored reference only")
    ap.add_argument("--quick", action="store_true", help="the first 4 files of each folder (smoke run)")
    args = ap.parse_args(argv)
    import torch

    from physnn.josephson import parse_netlist

    torch.set_num_threads(2)
    rows = {}
    t0 = time.perf_counter()
    for folder in DIRS:
        files = sorted(folder.glob("*.cir"))
        if args.quick:
            files = files[:4]
        ref_path = folder / REF_NAME
        refs = json.loads(ref_path.read_text()) if ref_path.exists() else {}
        if not args.no_regenerate:
            import warnings

            for f in files:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    net = parse_netlist(f)
                refs[f.name] = josim_reference(args.josim, f, float(net.prstep or net.tstep))
                if folder.name == "corpus" and refs[f.name]["unknown_print_warnings"]:
                    raise RuntimeError(f"{f.name}: JoSIM does not know {refs[f.name]['unknown_print_warnings']}")
            if not args.quick:
                ref_path.write_text(json.dumps({k: refs[k] for k in sorted(refs)}, indent=1) + "\n")
        for f in files:
            rows[f"{folder.name}/{f.stem}"] = compare(f, refs[f.name])
    wall = time.perf_counter() - t0
    print(f"{'file':42s} {'JJs':>6s} {'events':>7s} {'mism.':>5s} {'max err ps':>10s} {'err/tol':>8s}")
    for name, r in rows.items():
        print(
            f"{name:42s} {r['junctions']:6d} {r['events']:7d} {r['count_mismatches']:5d} "
            f"{r['max_err_ps']:10.4f} {r['worst_err_over_tol']:8.4f}"
        )
        for m in r["mismatch_list"]:
            print(f"    count mismatch: {m[0]}: physnn {m[1]}, JoSIM {m[2]}")
    corpus = {k: v for k, v in rows.items() if k.startswith("corpus/")}
    figures = {
        "corpus_files": len(corpus),
        "corpus_junctions": sum(r["junctions"] for r in corpus.values()),
        "corpus_events": sum(r["events"] for r in corpus.values()),
        "corpus_count_mismatches": sum(r["count_mismatches"] for r in rows.values()),
        "corpus_max_err_ps": max((r["max_err_ps"] for r in rows.values()), default=0.0),
        "corpus_worst_err_over_tol": max((r["worst_err_over_tol"] for r in rows.values()), default=0.0),
        "largest_file_junctions": max((r["physnn_junctions"] for r in corpus.values()), default=0),
        "wall_s": wall,
        "per_file": {
            k: {"junctions": v["junctions"], "events": v["events"], "max_err_ps": v["max_err_ps"]}
            for k, v in rows.items()
        },
    }
    from _publish import publish

    publish("josim_conformance", figures, quick=args.quick)
    return 0 if figures["corpus_count_mismatches"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
