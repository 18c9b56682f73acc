"""Benchmark of physnn.josephson against JoSIM v2.7 reference switching times, plus wall times.

python experiments/bench_josephson.py [--ref-dir ../shared/reference/josim] [--quick] [--seed N] [--out DIR]

Figures (last printed line, one JSON object):
  max_switch_err_ps              max |t_physnn - t_JoSIM| over every junction and pulse of ex_jtl_basic,
                                 ex_dcsfq_jtl_sink and comp_jj (same step as JoSIM)
  jtl_string_cell_delay_err_pct  mean delay per JTL cell on ex_jtl_string vs JoSIM's 3.148 ps
  single_run_s                   simulate(ex_dcsfq_jtl_sink) wall time (1 ns at 0.25 ps, median of 5)
  batch1024_s                    one simulate() call, 1024 variants with +-5 % uniform Ic spread
                                 (median of the calls after the process's first one)
  batch1024_cpu_s                CPU time (time.process_time, all threads) of such a call
  batch1024_first_call_s         the first such call of the process (numba start-up included)
  batch_compiled_loop            1 if the compiled (numba) ensemble loop was used, 0 for numpy only
  batch_kernel_threads           threads of the compiled ensemble loop (member groups run concurrently)
  jtl_string_s                   simulate(ex_jtl_string) wall time (2006 junctions, 8000 steps)
  torch_threads                  torch (and BLAS) threads used
With --josim PATH (JoSIM v2.7 command-line binary), JoSIM runs on the same netlists in the same
process run, side by side (wall time of ``josim-cli -m -o out.csv NETLIST``, the process included,
against the wall time of one ``simulate()`` call, parsing and the Dataset included). Each
comparison is one untimed round of each side, then alternating rounds (physnn, JoSIM), and
compares the medians (--repeats rounds, 2 * repeats + 1 for the single run):
  josim_ratio_single             physnn / JoSIM on ex_dcsfq_jtl_sink
  josim_ratio_jtl_string         physnn / JoSIM on ex_jtl_string (2,006 junctions)
  josim_ratio_large              physnn / JoSIM on a >= 3,000-junction circuit built here from
                                 the JTL, splitter and DFF cells with PTL (T) links between stages
  josim_ratio_batch1024          one simulate() call with 1,024 Ic-spread variants (median of the
                                 calls) / (1,024 x the median JoSIM run of --josim-sample variant
                                 netlists, a share of them run after each physnn call)
  josim_ratio_*_cpu              the same ratios in CPU seconds (process_time of the call / user+system
                                 of the JoSIM processes): on a loaded machine the wall ratios of long
                                 calls suffer more than those of short processes
  josim_*_runs_s, physnn_*_runs_s  the wall seconds of every timed round
  load_avg_*_start, load_avg_*   os.getloadavg() (1 min) before and after each comparison (the
                                 machine is shared: ratios are side by side, absolute times are not
                                 comparable between runs)
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

THREADS = 2


def _limit_threads():
    import torch

    torch.set_num_threads(THREADS)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(THREADS)
    except ImportError:  # pragma: no cover
        pass


def switch_errors(ds, ref: dict, tmax: float = np.inf) -> tuple[list[str], list[float], list[float]]:
    from physnn.josephson import switch_times

    names, errs, tref = [], [], []
    for jj, entry in ref.items():
        rt = np.asarray(entry["switch_times_s"])
        rt = rt[rt < tmax]
        ours = switch_times(ds, jj)
        ours = ours[ours < tmax]
        if len(ours) != len(rt):
            raise RuntimeError(f"{jj}: {len(ours)} switching events, JoSIM has {len(rt)}")
        names += [jj] * len(rt)
        errs += list(np.abs(ours - rt))
        tref += list(rt)
    return names, errs, tref


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
    subprocess.run([str(josim), "-m", "-o", str(workdir / "josim_out.csv"), str(netlist)], check=True,
                   capture_output=True)
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


def variant_netlists(src: Path, n: int, spread: float, seed: int, workdir: Path) -> list[Path]:
    """``n`` copies of a netlist with every junction area scaled by its own uniform +-spread factor
    (JoSIM has no ensemble dimension: one run per variant)."""
    import re

    rng = np.random.default_rng(seed)  # file variants for JoSIM only (not physnn physics)
    text = src.read_text()
    paths = []
    for k in range(n):
        def scale(m):
            return f"{m.group(1)}{float(m.group(2)) * (1 + spread * rng.uniform(-1, 1))!r}"

        p = workdir / f"variant_{k}.cir"
        p.write_text(re.sub(r"(?i)(area\s*=\s*)([0-9.]+)", scale, text))
        paths.append(p)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref-dir", type=Path, default=REPO / ".." / "shared" / "reference" / "josim")
    ap.add_argument("--quick", action="store_true", help="small smoke run (no jtl_string, 64 variants)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "results" / "bench_josephson")
    ap.add_argument("--josim", type=Path, default=None, help="JoSIM v2.7 josim-cli binary: side-by-side ratios")
    ap.add_argument("--josim-sample", type=int, default=24, help="JoSIM variant runs measured for the batch ratio")
    ap.add_argument("--repeats", type=int, default=3,
                    help="alternating physnn/JoSIM rounds per comparison (single run: 2 * repeats + 1)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)
    _limit_threads()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    import xarray as xr

    from physnn.constants import Phi0
    from physnn.josephson import Ensemble, parse_netlist, pulse_areas, simulate
    from physnn.josephson.bias_tuning import JTLChain, delay_gradient_check, tune_jtl_bias
    from physnn.plot import plot_phases

    ref_dir = args.ref_dir.resolve()
    ref = json.loads((ref_dir / "josim_reference.json").read_text())["circuits"]
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict = {}

    # ---- agreement on the three short circuits
    all_names, all_err, all_t, all_circ = [], [], [], []
    per_circuit = {}
    ds_dcsfq = None
    for name in ("ex_jtl_basic", "ex_dcsfq_jtl_sink", "comp_jj"):
        net = parse_netlist(ref_dir / f"{name}.cir")
        tstop = net.tstop
        rsw = ref[name]["switch_times_s"]["phase_mode_default_step"]
        if args.quick and name == "comp_jj":
            tstop = 60e-12
        ds = simulate(net, tstop=tstop)
        if name == "ex_dcsfq_jtl_sink":
            ds_dcsfq = ds
        n_, e_, t_ = switch_errors(ds, rsw, tmax=tstop - 2e-12)
        per_circuit[name] = max(e_) * 1e12
        all_names += n_
        all_err += e_
        all_t += t_
        all_circ += [name] * len(e_)
    result["max_switch_err_ps"] = max(all_err) * 1e12
    result["mean_switch_err_ps"] = float(np.mean(all_err)) * 1e12
    result["n_switch_events"] = len(all_err)
    result.update({f"max_switch_err_ps_{k}": v for k, v in per_circuit.items()})

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
    # the first call of the process pays numba's one-time start and cache load (reported as
    # *_first_call_s); batch*_s is the median of the following calls, as for a warmed-up library
    walls, cpus = [], []
    for _ in range(3 if not args.quick else 2):
        gen = torch.Generator().manual_seed(args.seed)
        ds_ens = None
        t0, c0 = time.perf_counter(), time.process_time()
        ds_ens = simulate(dcsfq, ensemble=Ensemble(n=n_ens, ic_spread=0.05, distribution="uniform"), generator=gen)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    result[f"{key}_s"] = float(np.median(walls[1:]))
    result[f"{key}_cpu_s"] = float(np.median(cpus[1:]))
    result[f"{key}_first_call_s"] = walls[0]
    # members whose junction phase moved > 0.2*2pi in one 0.25 ps step (JoSIM's rule) are rerun
    # from t = 0 at 0.125 ps inside the same call
    result["batch_members_step_halved"] = int(np.sum(ds_ens["step_halvings"].values > 0))
    # 1 when the compiled (numba) ensemble loop ran; numba's one-time start (0.35-0.55 s on the test
    # machine at the first compiled call in the process) and the loop's cache load (~0.1 s) are part
    # of batch*_first_call_s only
    from physnn.josephson import _ensemble_kernel

    result["batch_compiled_loop"] = int(_ensemble_kernel.available())
    from physnn.josephson import transient as _tr

    result["batch_kernel_threads"] = _tr._kernel_threads(n_ens) if _ensemble_kernel.available() else 1
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

    # ---- ex_jtl_string
    if not args.quick:
        t0, c0 = time.perf_counter(), time.process_time()
        ds_str = simulate(ref_dir / "ex_jtl_string.cir")
        result["jtl_string_s"] = time.perf_counter() - t0
        result["jtl_string_cpu_s"] = time.process_time() - c0
        delay, ncells = cell_delay(ds_str)
        jref = ref["ex_jtl_string"]["key_figures"]["delay_per_jtl_cell_s"]["phase_mode_default_step"]
        result["jtl_string_cell_delay_ps"] = delay * 1e12
        result["jtl_string_cell_delay_err_pct"] = abs(delay - jref) / jref * 100
        result["jtl_string_cells_reached"] = ncells
        rs = ref["ex_jtl_string"]["switch_times_s"]["phase_mode_default_step"]
        errs = []
        for jj, entry in rs.items():
            ours = switch_times(ds_str, jj)
            if len(ours) == len(entry["switch_times_s"]):
                errs += list(np.abs(ours - np.asarray(entry["switch_times_s"])))
        result["jtl_string_max_switch_err_ps"] = max(errs) * 1e12
        del ds_str

    # ---- side by side with JoSIM
    if args.josim is not None:
        import os

        josim = args.josim.resolve()
        work = args.out / "josim_work"
        work.mkdir(parents=True, exist_ok=True)
        reps = args.repeats

        def side_by_side(key: str, ours, theirs, n: int) -> None:
            """``n`` alternating rounds (physnn, then JoSIM) after one untimed round of each;
            medians of the wall and CPU seconds of each side (other jobs on the shared machine
            slow both sides of a round alike; the median drops rounds that one of them hit)."""
            ours()
            theirs()
            w_o, c_o, w_t, c_t = [], [], [], []
            load0 = os.getloadavg()[0]
            for _ in range(n):
                t0, c0 = time.perf_counter(), time.process_time()
                ours()
                w_o.append(time.perf_counter() - t0)
                c_o.append(time.process_time() - c0)
                w, c = theirs()
                w_t.append(w)
                c_t.append(c)
            result[f"josim_ratio_{key}_cpu"] = float(np.median(c_o) / np.median(c_t))
            result[f"load_avg_{key}"] = os.getloadavg()[0]
            result[f"load_avg_{key}_start"] = load0
            result[f"josim_{key}_s"] = float(np.median(w_t))
            result[f"physnn_{key}_s"] = float(np.median(w_o))
            result[f"physnn_{key}_cpu_s"] = float(np.median(c_o))
            result[f"physnn_{key}_runs_s"] = w_o
            result[f"josim_{key}_runs_s"] = w_t
            result[f"josim_ratio_{key}"] = result[f"physnn_{key}_s"] / result[f"josim_{key}_s"]

        def josim_run(netlist):
            def run():
                w = josim_wall(josim, netlist, work)
                return w, JOSIM_CPU[-1]
            return run

        # single run: alternating, medians of 2 * reps + 1 each
        side_by_side("single", lambda: simulate(dcsfq), josim_run(dcsfq), 2 * reps + 1)
        # batch: one call with 1024 variants against JoSIM run on variant netlists, one after
        # another. Rounds alternate one physnn call with a share of the JoSIM sample (each
        # variant file once); JoSIM's figure is 1024 x the median variant run.
        variants = variant_netlists(dcsfq, args.josim_sample, 0.05, args.seed, work)
        share = -(-len(variants) // reps)
        rounds = [variants[i:i + share] for i in range(0, len(variants), share)]
        sample, sample_cpu = [], []

        def batch_call():
            gen = torch.Generator().manual_seed(args.seed)
            simulate(dcsfq, ensemble=Ensemble(n=1024, ic_spread=0.05, distribution="uniform"), generator=gen)

        def josim_share():
            part = rounds[len(sample_rounds) % len(rounds)]
            sample_rounds.append(part)
            ws = [josim_wall(josim, p, work) for p in part]
            sample.extend(ws)
            sample_cpu.extend(JOSIM_CPU[-len(part):])
            return float(np.median(ws)) * 1024, float(np.median(JOSIM_CPU[-len(part):])) * 1024

        sample_rounds: list = []
        side_by_side("batch1024", batch_call, josim_share, len(rounds))
        # JoSIM's side from the whole sample (the untimed first share included: every variant
        # file once, the first share twice)
        del sample[:len(rounds[0])], sample_cpu[:len(rounds[0])]
        result["josim_batch1024_s"] = float(np.median(sample)) * 1024
        result["josim_ratio_batch1024_cpu"] = result["physnn_batch1024_cpu_s"] / (float(np.median(sample_cpu)) * 1024)
        result["josim_ratio_batch1024"] = result["physnn_batch1024_s"] / result["josim_batch1024_s"]
        result["physnn_batch1024_calls_s"] = result.pop("physnn_batch1024_runs_s")
        result.pop("josim_batch1024_runs_s")
        result["josim_batch_sample_runs"] = len(sample)
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
    v_th = 1.0 * math.sqrt(300e-6 ** 2 - 100e-6 ** 2)
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

    # ---- outputs: netCDF, PNG, summary
    ev = xr.Dataset(
        {"abs_err": ("event", np.array(all_err)), "t_josim": ("event", np.array(all_t)),
         "junction": ("event", np.array(all_names, dtype=str)), "circuit": ("event", np.array(all_circ, dtype=str))},
        coords={"event": np.arange(len(all_err))})
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
    ev.to_netcdf(args.out / "bench_josephson.nc")
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
    lines = ["# bench_josephson", "", f"torch/BLAS threads: {THREADS}; quick={args.quick}; seed={args.seed}", "",
             "| figure | value |", "|---|---|"]
    lines += [f"| {k} | {v:.6g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in result.items()]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
