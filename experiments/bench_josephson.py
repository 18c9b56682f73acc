"""Benchmark of physnn.josephson against JoSIM v2.7 reference switching times, plus wall times.

python experiments/bench_josephson.py [--ref-dir ../shared/reference/josim] [--quick] [--seed N] [--out DIR]

Figures (last printed line, one JSON object; also results/bench_josephson/latest.json):
  max_switch_err_ps              max |t_physnn - t_JoSIM| over every switching event of every junction
                                 compared in the run: all junctions of ex_jtl_basic, ex_dcsfq_jtl_sink,
                                 comp_jj and (full run) ex_jtl_string against the reference JSON, and
                                 with --josim every junction of every batch member against JoSIM's run
                                 of that member (same step as JoSIM)
  switch_count_mismatches        number of junctions (batch: member x junction) whose number of
                                 switching events differs from JoSIM's; such junctions are reported
                                 here (and listed in switch_count_mismatch_junctions), never skipped,
                                 and their events are not in max_switch_err_ps
  max_switch_err_ps_<circuit>, switch_count_mismatches_reference: the same per reference circuit
  jtl_string_cell_delay_err_pct  mean delay per JTL cell on ex_jtl_string vs JoSIM's 3.148 ps
  single_run_s                   simulate(ex_dcsfq_jtl_sink) wall time (1 ns at 0.25 ps, median of 5)
  batch1024_s                    one simulate() call of ex_dcsfq_jtl_sink with 1024 variants, each
                                 junction's Ic scaled by its own uniform +-5 % factor (median of the
                                 calls after the process's first one). Both sides produce the same
                                 outputs: every junction's phase and the netlist's .print traces
                                 (physnn: junction_voltage=False; JoSIM: the variant netlists add a
                                 .print phase line per junction), see batch_outputs
  batch1024_cpu_s                CPU time (time.process_time, all threads) of such a call
  batch1024_sys_s                of which kernel time (getrusage ru_stime): page faults of the
                                 0.5 GB result (fresh 4 KiB pages of its own, physnn.buffers.empty_pages)
  batch_outputs                  the time-resolved variables of the batch's Dataset
  batch1024_first_call_s         the first such call of the process (numba start-up included)
  batch1024_float32_s            batch1024_s with the phases stored as float32 (phase_dtype)
  batch_compiled_loop            1 if the compiled (numba) ensemble loop was used, 0 for numpy only
  batch_kernel_threads           threads of the compiled ensemble loop (member groups run concurrently)
  jtl_string_s                   simulate(ex_jtl_string) wall time (2006 junctions, 8000 steps)
  torch_threads                  torch (and BLAS) threads used
With --josim PATH (JoSIM v2.7 command-line binary), JoSIM runs on the same netlists in the same
process run, side by side (wall time of ``josim-cli -m -o out.csv NETLIST``, the process included,
against the wall time of one ``simulate()`` call, parsing and the Dataset included). Each
comparison is one untimed warm-up round of EACH side, then alternating timed rounds (physnn, JoSIM),
and compares the medians (--repeats rounds, 2 * repeats + 1 for the single run):
  josim_ratio_single             physnn / JoSIM on ex_dcsfq_jtl_sink
  josim_ratio_jtl_string         physnn / JoSIM on ex_jtl_string (2,006 junctions)
  josim_ratio_large              physnn / JoSIM on a >= 3,000-junction circuit built here from
                                 the JTL, splitter and DFF cells with PTL (T) links between stages
  josim_ratio_batch1024_cpu      CPU seconds of one simulate() call with the 1,024 variants (the
                                 physnn process, all its threads) / CPU seconds (user + system, from
                                 getrusage(RUSAGE_CHILDREN)) of the 1,024 JoSIM processes that run
                                 the SAME 1,024 variants (one netlist per variant: every junction its
                                 own .model with icrit scaled by the variant's factor, so that only
                                 Ic changes, as in physnn's ensemble)
  josim_ratio_batch1024          the same in wall seconds, JoSIM's 1,024 runs launched
                                 josim_parallel_procs at a time (= physnn's kernel threads,
                                 batch_kernel_threads), so both sides use as many cores
  josim_parallel_procs           JoSIM processes run at once for the batch
  physnn_batch1024_sys_s         kernel share of physnn's CPU seconds in those rounds
  josim_ratio_batch1024_back_to_back  batch1024_s (back-to-back physnn calls) / josim_batch1024_s:
                                 the best case of a warm library, beside the headline
  batch1024_max_switch_err_ps, batch1024_switch_count_mismatches: every junction of every member of
                                 physnn's warm-up call against JoSIM's warm-up run of that member,
                                 both sides' events by physnn's rule (crossings undone within
                                 batch1024_min_dwell_ps = two output steps are no events: such
                                 grazing excursions fall between printed samples, and JoSIM prints
                                 other samples than physnn's batch once a member halves its step);
                                 *_every_crossing: the same with every crossing counted (the
                                 reference JSON's rule), reported beside it
  The reference circuits are compared with the JSON's own rule (every crossing) on both sides.
  josim_ratio_*_cpu              the same ratios in CPU seconds for the other comparisons
                                 (process_time of the call / user+system of the JoSIM process)
  josim_*_runs_s, physnn_*_runs_s  the wall seconds of every timed round
  load_avg_*_start, load_avg_*   os.getloadavg() (1 min) before and after each comparison (the
                                 machine is shared: ratios are side by side, absolute times are not
                                 comparable between runs)
Warm-up: both sides get one untimed round before every comparison (physnn: numba start-up, cache
load; JoSIM: binary and netlists in the page cache); nothing is excluded on one side only.
The reference netlists and JSON are read from --ref-dir (the project's shared reference folder).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _publish import publish, save_netcdf  # noqa: E402  (imported first: it records the load average at the start)

THREADS = 2


def _limit_threads():
    import torch

    torch.set_num_threads(THREADS)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(THREADS)
    except ImportError:  # pragma: no cover
        pass


def cell_delay(ds, first_cell: int = 10) -> tuple[float, int]:
    """Slope of the first switching time of each JTL cell's B01 vs cell index (ex_jtl_string)."""
    from physnn.josephson import switch_times

    idx, ts = [], []
    for j in ds["junction"].values:
        parts = str(j).split("|")
        if parts[0] != "B01" or len(parts) != 5 or parts[-1] != "X02":
            continue
        t = switch_times(ds, str(j))
        if t.size == 0:
            continue
        c, b, a = (int(p[1:]) - 1 for p in parts[1:4])
        idx.append(a * 100 + b * 10 + c)
        ts.append(t[0])
    idx, ts = np.array(idx), np.array(ts)
    order = np.argsort(idx)
    idx, ts = idx[order], ts[order]
    m = idx >= first_cell
    return float(np.polyfit(idx[m], ts[m], 1)[0]), int(len(idx))


JOSIM_CPU: list[float] = []  #: CPU seconds (user + system) of every JoSIM run, in order


def josim_wall(josim: Path, netlist: Path, workdir: Path) -> float:
    """Wall seconds of one JoSIM run (process start to exit, CSV written); its CPU seconds are
    appended to JOSIM_CPU."""
    import os
    import subprocess

    c0 = os.times()
    t0 = time.perf_counter()
    subprocess.run(
        [str(josim), "-m", "-o", str(workdir / "josim_out.csv"), str(netlist)], check=True, capture_output=True
    )
    wall = time.perf_counter() - t0
    c1 = os.times()
    JOSIM_CPU.append((c1.children_user - c0.children_user) + (c1.children_system - c0.children_system))
    return wall


def ptl_pipeline(lanes: int, blocks: int, *, td: str = "5p") -> str:
    """Netlist text of the large benchmark circuit, from the shipped cells: one input pulse fanned
    out by a splitter tree to ``lanes`` lanes; each lane a chain of ``blocks`` blocks [JTL ->
    splitter -> (data: 1 JTL, clock: 5 JTLs) -> DFF -> 2 JTLs], the blocks joined by 5-ohm passive
    transmission lines (driven by the last JTL, received through 1 pH by the next block's JTL).
    Every block passes the pulse on (the DFF stores it from the data branch and the clock branch
    reads it out): 26 junctions per block, ~42 ps per block."""
    from physnn.josephson import cell_library

    out = [cell_library("jtl", "splitter", "dff"), "IIN 0 in pwl(0 0 30p 0 33p 600u 36p 0)", "XIN JTL in t0_0"]
    level, n = 0, 1
    while n < lanes:
        for i in range(n):
            out.append(f"XT{level}_{i} SPLIT t{level}_{i} u{level}_{2 * i} u{level}_{2 * i + 1}")
            out.append(f"XTJ{level}_{2 * i} JTL u{level}_{2 * i} t{level + 1}_{2 * i}")
            out.append(f"XTJ{level}_{2 * i + 1} JTL u{level}_{2 * i + 1} t{level + 1}_{2 * i + 1}")
        level, n = level + 1, n * 2
    for lane in range(lanes):
        src = f"t{level}_{lane}"
        for b in range(blocks):
            p = f"L{lane}B{b}"
            out += [f"X{p}I JTL {src} {p}a", f"X{p}S SPLIT {p}a {p}d0 {p}c0", f"X{p}D JTL {p}d0 {p}d"]
            out += [f"X{p}C{k} JTL {p}c{k} {p}c{k + 1}" for k in range(5)]
            out += [f"X{p}F DFF {p}d {p}c5 {p}q", f"X{p}O1 JTL {p}q {p}o1", f"X{p}O2 JTL {p}o1 {p}o2"]
            if b + 1 < blocks:
                out += [f"T{p} {p}o2 0 {p}r 0 Z0=5 TD={td}", f"LR{p} {p}r {p}n 1p"]
                src = f"{p}n"
            else:
                out.append(f"RL{p} {p}o2 0 2")
    out.append(f".tran 0.25p {60 + blocks * 50}p")
    out.append(f".print phase B1|XL{lanes - 1}B{blocks - 1}O2")
    return "\n".join(out) + "\n"


def ic_variant_netlist(text: str, factors: dict[str, float]) -> str:
    """Netlist text in which junction ``label`` has its critical current scaled by
    ``factors[label]`` and nothing else changed: the JoSIM file of one physnn ensemble member.

    JoSIM has no ensemble dimension and its ``area=`` scales the capacitance and resistances with
    Ic, so each subcircuit instance gets its own copy of the subcircuit (``NAME__<instance>``) and
    each junction its own ``.model`` whose ``icrit`` is scaled. Handles top-level junctions and
    one level of subcircuit instances (the benchmark's netlists); every junction of the netlist
    must have a factor. A ``.print phase`` line is added for every junction.
    """
    import re

    from physnn.josephson import parse_value

    model_re = re.compile(r"(?i)^\s*\.model\s+(\S+)\s+jj\s*\((.*)\)\s*$")
    subckts: dict[str, tuple[list[str], list[str]]] = {}
    top: list[str] = []
    cur = None
    for line in text.splitlines():
        tok = line.split()
        head = tok[0].lower() if tok else ""
        if head == ".subckt":
            if len(tok) < 2:
                raise ValueError(f"text: .subckt without a name: {line!r}")
            cur = tok[1].lower()
            subckts[cur] = (tok, [])
        elif head == ".ends":
            cur = None
        elif head != ".end":
            (subckts[cur][1] if cur is not None else top).append(line)
    used = set()

    def models_in(body: list[str]) -> dict[str, str]:
        return {m.group(1).lower(): m.group(2) for m in map(model_re.match, body) if m}

    top_scope = models_in(top)

    def rewrite(body: list[str], inst: str, models_out: list[str]) -> list[str]:
        models = {**top_scope, **models_in(body)}  # a subcircuit's own models hide the top level's
        out = []
        for line in body:
            tok = line.split()
            if inst and tok and tok[0][0] in "xX":
                raise ValueError(f"text: nested subcircuit instance {tok[0]} in {inst} is not supported")
            if not tok or tok[0][0] not in "bB":
                out.append(line)
                continue
            label = f"{tok[0]}|{inst}" if inst else tok[0]
            i = next((i for i, t in enumerate(tok[1:], 1) if t.lower() in models), None)
            if i is None:
                raise ValueError(f"text: junction {label} has no .model in its scope")
            if label not in factors:
                raise ValueError(f"factors: no factor for junction {label}")
            used.add(label)
            name = "jjv_" + re.sub(r"\W", "_", label)

            def scale(m, f=float(factors[label])):
                return f"{m.group(1)}{float(parse_value(m.group(2))) * f!r}"

            params, n = re.subn(r"(?i)(icrit\s*=\s*)([^,\s)]+)", scale, models[tok[i].lower()])
            if n != 1:
                raise ValueError(f"text: the model of {label} has no single icrit= value")
            models_out.append(f".model {name} jj({params})")
            tok[i] = name
            out.append(" ".join(tok))
        return out

    out, top_models, top_body = [], [], []
    for line in rewrite(top, "", top_models):
        tok = line.split()
        if tok and tok[0][0] in "xX":
            sub = [k for k, t in enumerate(tok[1:], 1) if t.lower() in subckts]
            if len(sub) != 1:
                raise ValueError(f"text: cannot tell the subcircuit of instance line {line!r}")
            head, body = subckts[tok[sub[0]].lower()]
            new = f"{head[1]}__{tok[0]}"
            inner: list[str] = []
            out += [" ".join([".subckt", new, *head[2:]]), *rewrite(body, tok[0], inner), *inner, f".ends {new}"]
            tok[sub[0]] = new
            line = " ".join(tok)
        top_body.append(line)
    if set(factors) - used:
        raise ValueError(f"factors: no such junction(s) {sorted(set(factors) - used)[:5]}")
    prints = [f".print phase {label}" for label in factors]
    return "\n".join(out + top_models + top_body + prints) + "\n"


def josim_switch_times(csv: Path, labels, min_dwell: float = 0.0) -> dict[str, np.ndarray]:
    """Switching times (s) of each junction from the ``P(label)`` columns of a JoSIM CSV (the
    crossing rule of physnn's :func:`switch_times`; ``min_dwell`` 0: every crossing, as in the
    reference JSON)."""
    import pandas as pd

    from physnn.josephson import crossings

    df = pd.read_csv(csv)
    t = df.iloc[:, 0].to_numpy()
    return {j: crossings(t, df[f"P({j})"].to_numpy(), min_dwell=min_dwell)[0] for j in labels}


def josim_batch(josim: Path, netlists: list[Path], procs: int, outdir: Path, *, collect=None):
    """Run JoSIM once on every netlist, ``procs`` processes at a time.

    Returns (wall seconds of the whole batch, CPU seconds user + system summed over the JoSIM
    processes, from ``getrusage(RUSAGE_CHILDREN)``). Without ``collect`` each process writes a CSV
    per worker slot (overwritten); with ``collect(index, csv_path)`` each writes its own CSV, which
    ``collect`` reads (in the worker thread, after the process ended) and then it is deleted.
    """
    import resource
    import subprocess
    import threading
    from concurrent.futures import ThreadPoolExecutor

    if procs < 1:
        raise ValueError(f"procs: must be >= 1, got {procs}")

    def one(k: int) -> None:
        csv = outdir / (f"variant_{k}.csv" if collect else f"slot_{threading.current_thread().name}.csv")
        subprocess.run([str(josim), "-m", "-o", str(csv), str(netlists[k])], check=True, capture_output=True)
        if collect is not None:
            collect(k, csv)
            csv.unlink()

    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=procs, thread_name_prefix="josim") as pool:
        list(pool.map(one, range(len(netlists))))
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref-dir", type=Path, default=REPO / ".." / "shared" / "reference" / "josim")
    ap.add_argument("--quick", action="store_true", help="small smoke run (no jtl_string, 64 variants)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "results" / "bench_josephson")
    ap.add_argument("--josim", type=Path, default=None, help="JoSIM v2.7 josim-cli binary: side-by-side ratios")
    ap.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="alternating physnn/JoSIM rounds per comparison (single run: 2 * repeats + 1)",
    )
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)
    _limit_threads()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    import xarray as xr

    from physnn.constants import Phi0
    from physnn.josephson import compare_switch_times, parse_netlist, pulse_areas, simulate
    from physnn.josephson.bias_tuning import JTLChain, delay_gradient_check, tune_jtl_bias
    from physnn.plot import plot_phases

    ref_dir = args.ref_dir.resolve()
    ref = json.loads((ref_dir / "josim_reference.json").read_text())["circuits"]
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict = {}

    # ---- agreement: every junction of the reference circuits (a junction whose number of
    # switching events differs from JoSIM's is counted in switch_count_mismatches, never skipped)
    all_names, all_err, all_t, all_circ = [], [], [], []
    per_circuit, mismatched = {}, []
    ds_dcsfq = ds_str = None
    names = ("ex_jtl_basic", "ex_dcsfq_jtl_sink", "comp_jj") + (() if args.quick else ("ex_jtl_string",))
    for name in names:
        net = parse_netlist(ref_dir / f"{name}.cir")
        rsw = ref[name]["switch_times_s"]["phase_mode_default_step"]
        rsw = {jj: entry["switch_times_s"] for jj, entry in rsw.items()}
        tstop, tmax = net.tstop, np.inf
        if args.quick and name == "comp_jj":
            tstop = 60e-12  # a shortened run: only the events well inside it count, on both sides
            tmax = tstop - 2e-12
        t0, c0 = time.perf_counter(), time.process_time()
        ds = simulate(net, tstop=tstop)
        if name == "ex_jtl_string":
            result["jtl_string_s"] = time.perf_counter() - t0
            result["jtl_string_cpu_s"] = time.process_time() - c0
            ds_str = ds
        if name == "ex_dcsfq_jtl_sink":
            ds_dcsfq = ds
        cmp = compare_switch_times(ds, rsw, tmax=tmax, min_dwell=0.0)  # the JSON's rule: every crossing
        per_circuit[name] = cmp
        mismatched += [f"{name}:{jj} ({a} vs JoSIM {b})" for jj, a, b in cmp.count_mismatches]
        for jj, e in cmp.errors.items():
            rt = np.asarray(rsw[jj])
            all_names += [jj] * len(e)
            all_err += list(e)
            all_t += list(rt[rt < tmax])
            all_circ += [name] * len(e)
    # filled below (the batch comparison with --josim adds to them); the place in the JSON is here
    result["max_switch_err_ps"] = max(all_err) * 1e12
    result["switch_count_mismatches"] = len(mismatched)
    result["switch_count_mismatches_reference"] = len(mismatched)
    result["mean_switch_err_ps"] = float(np.mean(all_err)) * 1e12
    result["n_switch_events"] = len(all_err)
    result["n_junctions_compared"] = sum(c.n_junctions for c in per_circuit.values())
    result.update({f"max_switch_err_ps_{k}": c.max_abs_err * 1e12 for k, c in per_circuit.items()})
    result.update({f"switch_count_mismatches_{k}": len(c.count_mismatches) for k, c in per_circuit.items()})

    # ---- timings
    dcsfq = ref_dir / "ex_dcsfq_jtl_sink.cir"
    times, cpu = [], []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        simulate(dcsfq)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    result["single_run_s"] = float(np.median(times))
    result["single_run_cpu_s"] = float(np.median(cpu))
    n_ens = 64 if args.quick else 1024
    key = "batch1024" if not args.quick else "batch64"
    # the batch: n_ens variants of ex_dcsfq_jtl_sink, each junction's Ic times its own uniform
    # +-5 % factor (an (E, J) multiplier array, so that JoSIM can run the very same variants)
    labels = [str(j) for j in ds_dcsfq["junction"].values]
    factors = 1.0 + 0.05 * np.random.default_rng(args.seed).uniform(-1.0, 1.0, (n_ens, len(labels)))
    # the first call of the process pays numba's one-time start and cache load (reported as
    # *_first_call_s); batch*_s is the median of the following calls, as for a warmed-up library
    import resource

    walls, cpus, syss = [], [], []
    for _ in range(3 if not args.quick else 2):
        ds_ens = None
        s0 = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        t0, c0 = time.perf_counter(), time.process_time()
        ds_ens = simulate(dcsfq, ensemble=factors, junction_voltage=False)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        syss.append(resource.getrusage(resource.RUSAGE_SELF).ru_stime - s0)
    result[f"{key}_s"] = float(np.median(walls[1:]))
    result[f"{key}_cpu_s"] = float(np.median(cpus[1:]))
    result[f"{key}_sys_s"] = float(np.median(syss[1:]))
    result[f"{key}_first_call_s"] = walls[0]
    # the same calls storing the phases as float32 (simulate(phase_dtype=float32): 7.2 significant
    # digits, JoSIM's CSV has 7; the integration stays float64), back to back
    w32 = []
    for _ in range(3 if not args.quick else 2):
        ds_ens = None
        t0 = time.perf_counter()
        ds_ens = simulate(dcsfq, ensemble=factors, junction_voltage=False, phase_dtype=np.float32)
        w32.append(time.perf_counter() - t0)
    result[f"{key}_float32_s"] = float(np.median(w32[1:]))
    ds_ens = simulate(dcsfq, ensemble=factors, junction_voltage=False)
    # members whose junction phase moved > 0.2*2pi in one 0.25 ps step (JoSIM's rule) are rerun
    # from t = 0 at 0.125 ps inside the same call
    result["batch_members_step_halved"] = int(np.sum(ds_ens["step_halvings"].values > 0))
    # 1 when the compiled (numba) ensemble loop ran; numba's one-time start (0.35-0.55 s on the test
    # machine at the first compiled call in the process) and the loop's cache load (~0.1 s) are part
    # of batch*_first_call_s only
    from physnn.josephson.backends import get_backend

    tiled = ds_ens.attrs["loop"] == "tiled-compiled"
    result["batch_compiled_loop"] = int(tiled)
    result["batch_outputs"] = sorted(str(k) for k in ds_ens.data_vars if "time" in ds_ens[k].dims)
    result["batch_kernel_threads"] = get_backend("tiled-compiled").threads_for(n_ens) if tiled else 1
    from physnn.josephson import switch_times

    from physnn.josephson import delays

    def _first_delay(e):
        d = delays(ds_ens, "B03|X01", "B01|X05", member=e)
        return d[0] if d.size else np.nan

    d_ens = np.array([_first_delay(e) for e in range(n_ens)])
    ok = np.isfinite(d_ens)
    result["batch_members_with_pulse"] = int(ok.sum())
    result["batch_delay_median_ps"] = float(np.median(d_ens[ok])) * 1e12
    result["batch_delay_iqr_ps"] = float(np.subtract(*np.percentile(d_ens[ok], [75, 25]))) * 1e12

    # ---- ex_jtl_string (its switching times are in the agreement above)
    if ds_str is not None:
        delay, ncells = cell_delay(ds_str)
        jref = ref["ex_jtl_string"]["key_figures"]["delay_per_jtl_cell_s"]["phase_mode_default_step"]
        result["jtl_string_cell_delay_ps"] = delay * 1e12
        result["jtl_string_cell_delay_err_pct"] = abs(delay - jref) / jref * 100
        result["jtl_string_cells_reached"] = ncells
        del ds_str

    # ---- side by side with JoSIM
    if args.josim is not None:
        import os
        import resource

        josim = args.josim.resolve()
        work = args.out / "josim_work"
        work.mkdir(parents=True, exist_ok=True)
        reps = args.repeats

        def side_by_side(key: str, ours, theirs, n: int, *, warm_ours=None, warm_theirs=None) -> None:
            """``n`` alternating rounds (physnn, then JoSIM) after one untimed warm-up round of
            each side (``warm_*``: the warm-up, default the timed callable itself); medians of the
            wall and CPU seconds of each side (other jobs on the shared machine slow both sides of
            a round alike; the median drops rounds that one of them hit). ``theirs`` returns
            (wall, CPU) seconds of the JoSIM side."""
            (warm_ours or ours)()
            (warm_theirs or theirs)()
            w_o, c_o, s_o, w_t, c_t = [], [], [], [], []
            load0 = os.getloadavg()[0]
            for _ in range(n):
                s0 = resource.getrusage(resource.RUSAGE_SELF).ru_stime
                t0, c0 = time.perf_counter(), time.process_time()
                ours()
                w_o.append(time.perf_counter() - t0)
                c_o.append(time.process_time() - c0)
                s_o.append(resource.getrusage(resource.RUSAGE_SELF).ru_stime - s0)
                w, c = theirs()
                w_t.append(w)
                c_t.append(c)
            result[f"josim_ratio_{key}_cpu"] = float(np.median(c_o) / np.median(c_t))
            result[f"josim_ratio_{key}"] = float(np.median(w_o) / np.median(w_t))
            result[f"josim_{key}_s"] = float(np.median(w_t))
            result[f"josim_{key}_cpu_s"] = float(np.median(c_t))
            result[f"physnn_{key}_s"] = float(np.median(w_o))
            result[f"physnn_{key}_cpu_s"] = float(np.median(c_o))
            result[f"physnn_{key}_sys_s"] = float(np.median(s_o))  # of which kernel (page faults)
            result[f"physnn_{key}_runs_s"] = w_o
            result[f"josim_{key}_runs_s"] = w_t
            result[f"load_avg_{key}_start"] = load0
            result[f"load_avg_{key}"] = os.getloadavg()[0]

        def josim_run(netlist):
            def run():
                w = josim_wall(josim, netlist, work)
                return w, JOSIM_CPU[-1]

            return run

        # single run: alternating, medians of 2 * reps + 1 each (one process on each side: the
        # single-run loop of physnn is one thread)
        side_by_side("single", lambda: simulate(dcsfq), josim_run(dcsfq), 2 * reps + 1)
        # batch: one simulate() call with the n_ens variants against JoSIM run on the same n_ens
        # variants (one netlist each), procs processes at a time, procs = physnn's kernel threads
        del ds_ens
        procs = result["batch_kernel_threads"]
        vdir = work / "variants"
        vdir.mkdir(exist_ok=True)
        src_text = dcsfq.read_text()
        variants = []
        for k in range(n_ens):
            variants.append(vdir / f"variant_{k}.cir")
            variants[-1].write_text(ic_variant_netlist(src_text, dict(zip(labels, factors[k]))))
        theirs_times: dict[int, dict] = {}
        theirs_raw: dict[int, dict] = {}
        ours_ds: list = []
        dwell = 2 * ds_dcsfq.attrs["tstep_s"]  # physnn's default_min_dwell: two output steps

        def collect(k, csv):
            theirs_times[k] = josim_switch_times(csv, labels, dwell)
            theirs_raw[k] = josim_switch_times(csv, labels, 0.0)

        def batch_call():
            return simulate(dcsfq, ensemble=factors, junction_voltage=False)

        side_by_side(
            key,
            batch_call,
            lambda: josim_batch(josim, variants, procs, work),
            reps,
            # the warm-up rounds are the ones checked: physnn's Dataset, JoSIM's CSVs
            warm_ours=lambda: ours_ds.append(batch_call()),
            warm_theirs=lambda: josim_batch(josim, variants, procs, work, collect=collect),
        )
        result["josim_parallel_procs"] = procs
        result[f"physnn_{key}_calls_s"] = result.pop(f"physnn_{key}_runs_s")
        # the same JoSIM figure against physnn's back-to-back calls (batch*_s: each call right after
        # another, which frees the memory the next one gets; in the rounds above each call follows
        # a JoSIM round and pays for fresh pages: physnn_*_sys_s)
        result[f"josim_ratio_{key}_back_to_back"] = result[f"{key}_s"] / result[f"josim_{key}_s"]
        # every junction of every member against JoSIM's run of that member
        # (the same event rule on both sides: crossings undone within two output steps are no
        # events; the raw count, every crossing on both sides, is reported beside it)
        b_err, b_mis, b_events, raw_err, raw_mis = 0.0, [], 0, 0.0, []
        for k in range(n_ens):
            c = compare_switch_times(ours_ds[0], theirs_times[k], member=k, min_dwell=dwell)
            b_err = max(b_err, c.max_abs_err)
            b_events += c.n_events
            b_mis += [f"{key}[{k}]:{jj} ({a} vs JoSIM {b})" for jj, a, b in c.count_mismatches]
            c = compare_switch_times(ours_ds[0], theirs_raw[k], member=k, min_dwell=0.0)
            raw_err = max(raw_err, c.max_abs_err)
            raw_mis += [f"{key}[{k}]:{jj} ({a} vs JoSIM {b})" for jj, a, b in c.count_mismatches]
        del ours_ds[:]
        result[f"{key}_max_switch_err_ps"] = b_err * 1e12
        result[f"{key}_switch_count_mismatches"] = len(b_mis)
        result[f"{key}_switch_events_compared"] = b_events
        result[f"{key}_junctions_compared"] = n_ens * len(labels)
        result[f"{key}_min_dwell_ps"] = dwell * 1e12
        result[f"{key}_switch_count_mismatches_every_crossing"] = len(raw_mis)
        result[f"{key}_max_switch_err_ps_every_crossing"] = raw_err * 1e12
        result[f"{key}_count_mismatch_junctions_every_crossing"] = raw_mis[:20]
        mismatched += b_mis
        result["max_switch_err_ps"] = max(result["max_switch_err_ps"], b_err * 1e12)
        result["switch_count_mismatches"] = len(mismatched)
        if not args.quick:
            jstr = ref_dir / "ex_jtl_string.cir"
            side_by_side("jtl_string", lambda: simulate(jstr), josim_run(jstr), reps)
            big = work / "ptl_pipeline.cir"
            big.write_text(ptl_pipeline(8, 15))
            net_big = parse_netlist(big)
            result["large_n_junctions"] = len(net_big.junctions)
            result["large_n_tlines"] = sum(e.kind == "T" for e in net_big.elements)
            del net_big
            side_by_side("large", lambda: simulate(big), josim_run(big), reps)
            # the pulse reached the end of the last lane, at JoSIM's time (JoSIM's CSV is that
            # of its last run)
            ds_big = simulate(big)
            jt = np.loadtxt(work / "josim_out.csv", delimiter=",", skiprows=1)
            from physnn.josephson import crossings

            last = "B1|XL7B14O2"
            result["large_last_switch_ps"] = float(switch_times(ds_big, last)[0]) * 1e12
            result["large_last_switch_josim_ps"] = float(crossings(jt[:, 0], jt[:, 1])[0][0]) * 1e12
            del ds_big

    # ---- analytic checks
    text = """* overdamped RSJ
.model rsj jj(rtype=0, rn=1, cap=1e-18, icrit=100u)
B1 1 0 rsj
I1 0 1 pwl(0 0 20p 300u)
.tran 0.02p 600p
"""
    ds = simulate(text)
    tt, ph = ds["time"].values, ds["phase"].sel(junction="B1").values
    m = tt >= 100e-12
    v_mean = np.polyfit(tt[m], ph[m], 1)[0] * Phi0 / (2 * math.pi)
    v_th = 1.0 * math.sqrt(300e-6**2 - 100e-6**2)
    result["overdamped_mean_v_rel_err"] = abs(v_mean - v_th) / v_th
    areas = np.concatenate([pulse_areas(ds_dcsfq, j) for j in ("B01|X02", "B02|X03", "B01|X04")])
    result["pulse_area_max_rel_err"] = float(np.max(np.abs(areas / Phi0 - 1)))

    # ---- gradient example
    chain = JTLChain(tstop=70e-12)
    g, fd = delay_gradient_check(chain)
    result["grad_vs_fd_rel_err"] = abs(g - fd) / abs(fd)
    tuned = tune_jtl_bias(3.1e-12, chain=chain)
    result["tuned_bias_scale"] = tuned.scale
    result["tuned_delay_ps"] = tuned.delay * 1e12
    result["torch_threads"] = torch.get_num_threads()
    result["switch_count_mismatch_junctions"] = mismatched[:50]

    # ---- outputs: netCDF, PNG, summary
    ev = xr.Dataset(
        {
            "abs_err": ("event", np.array(all_err)),
            "t_josim": ("event", np.array(all_t)),
            "junction": ("event", np.array(all_names, dtype=str)),
            "circuit": ("event", np.array(all_circ, dtype=str)),
        },
        coords={"event": np.arange(len(all_err))},
    )
    ev["event"].attrs.update(units="1", long_name="switching event index")
    ev["abs_err"].attrs.update(units="s", long_name="|physnn - JoSIM| switching time")
    ev["t_josim"].attrs.update(units="s", long_name="JoSIM v2.7 switching time")
    ev["junction"].attrs.update(units="1", long_name="junction label")
    ev["circuit"].attrs.update(units="1", long_name="reference circuit")
    ev["ens_delay"] = ("member", d_ens)
    ev["ens_delay"].attrs.update(units="s", long_name="DC/SFQ B03 -> sink B01 delay per Ic-spread member")
    ev["member"] = np.arange(n_ens)
    ev["member"].attrs.update(units="1", long_name="ensemble member")
    ev.attrs.update({k: v for k, v in result.items() if isinstance(v, (int, float))})
    save_netcdf(ev, args.out / "bench_josephson.nc")
    fig, axs = plt.subplots(1, 3, figsize=(15, 4))
    plot_phases(ds_dcsfq, ax=axs[0])
    axs[0].set_xlim(160, 200)
    axs[1].semilogy(np.array(all_t) * 1e12, np.maximum(np.array(all_err) * 1e12, 1e-6), ".")
    axs[1].set_xlabel("JoSIM switching time (ps)")
    axs[1].set_ylabel("|physnn - JoSIM| (ps)")
    axs[1].axhline(0.3, color="r", lw=0.8)
    axs[2].hist(d_ens[ok] * 1e12, bins=40)
    axs[2].set_xlabel("DC/SFQ -> sink delay (ps), +-5 % Ic spread")
    axs[2].set_ylabel("members")
    fig.tight_layout()
    fig.savefig(args.out / "bench_josephson.png", dpi=110)
    plt.close(fig)
    lines = [
        "# bench_josephson",
        "",
        f"torch/BLAS threads: {THREADS}; quick={args.quick}; seed={args.seed}",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:.6g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in result.items()]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    publish("bench_josephson", result, quick=args.quick)
    return result


if __name__ == "__main__":
    main()
