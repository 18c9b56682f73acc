"""ESN benchmarks against reservoirpy 0.4.2 on the SAME reservoir matrices (issue 5, item 4).

NARMA10 (Atiya & Parlos 2000) with an N=200 echo state network. Every grid point
(spectral radius x input scaling x leak rate x ridge) gets its matrices from
``physnn.reservoir.esn.esn_matrices`` (one seed); the identical ``W`` (as a scipy CSR array, the
format reservoirpy itself generates), ``W_in`` and bias are handed to reservoirpy's
``Reservoir(W=..., Win=..., bias=..., lr=...) >> Ridge(ridge=...)``. Both libraries fit on the
first 4000 steps (200 washout), are scored on the next 1000 (validation: picks the grid point) and
reported on the last 1000 (test), continuing the reservoir state, as reservoirpy does.

Timings (``time.perf_counter``): torch, numba and the BLAS pools that NumPy/SciPy (hence
reservoirpy) use are all limited to ``--threads`` (default 2; ``threadpoolctl``), so both libraries
run under the same thread settings in the same process. The two are alternated run by run
(A/B/A/B, ``k`` repeats after one warm-up each) and the headline ratio is best-of-k: the minimum
of our times over the minimum of reservoirpy's (the least-disturbed run of each on a shared
machine); the median of per-pair ratios and min/median times of both are reported too.
* single: one reservoir (the best grid point), fit on 5000 steps + predict 1000 (6000 steps).
  The CPU-time ratios (``time.process_time``, all threads of the process) are reported too: on a
  shared machine they are less sensitive to other users' load than wall time.
* ensemble: 32 reservoirs with different seeds AND hyperparameters -- physnn: one batched call
  (``ESN`` with E=32, float64); reservoirpy: the 32 fitted and run one after
  another. Warm-up runs (numba compilation) are excluded for both.

Raw-input probes (issue 21): every reservoir score is printed beside the same readout family
(ridge, intercept, the same ``alphas``) trained on the raw input without the reservoir, on the same
train/validation/test steps (washout dropped alike) and with the same selection rule (the grid point
with the best validation NRMSE): ``narma10_probe_nrmse`` on ``u(t)`` alone (the raw input);
``narma10_delay_line_probe_nrmse`` on a tapped delay line ``u(t), ..., u(t-d+1)``, ``d`` picked from
``PROBE_TAPS`` on validation like the ESN's hyper-parameters (the linear memory a reservoir offers,
without its nonlinearity); ``memory_capacity_probe``: the same memory-capacity readouts on ``u(t)``.
``reservoir_gain_over_probe[task]`` > 0 means the reservoir is better (NRMSE: probe - reservoir;
memory capacity: reservoir - probe); the summary says where it is not.

Outputs (``--out``, default ``results/reservoir_bench``): ``reservoir_bench.nc``,
``reservoir_bench.png``, ``summary.md``; the last printed line is one JSON object (also
``results/reservoir_bench/latest.json`` through ``experiments/_publish.py``).

Usage: ``python experiments/reservoir_bench.py [--quick] [--seed N] [--threads T] [--out DIR]``
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _publish import publish, save_netcdf  # noqa: E402  (imported first: it records the load average at the start)

PROBE_TAPS = (1, 2, 5, 10, 20, 50, 100)  #: delay-line lengths tried for the linear NARMA10 probe

TARGETS = {
    "narma10_nrmse": ("<=", 0.20),
    "single_time_ratio_vs_reservoirpy": ("<=", 2.0),
    "ensemble_time_ratio_vs_reservoirpy": ("<=", 0.3),
}


def delay_line(u: np.ndarray, taps: int) -> np.ndarray:
    """``(T, taps)`` features ``[u(t), u(t-1), ..., u(t-taps+1)]`` (zeros before the start)."""
    u = np.asarray(u, float).reshape(-1)
    if not isinstance(taps, (int, np.integer)) or taps < 1:
        raise ValueError(f"taps: must be an int >= 1, got {taps!r}")
    X = np.zeros((len(u), taps))
    for k in range(taps):
        X[k:, k] = u[: len(u) - k]
    return X


def linear_probe(u, y, n_train: int, n_val: int, washout: int, alphas, taps=(1,)):
    """Ridge readout on the raw input (a delay line of ``taps`` steps), without a reservoir.

    Fits on steps ``washout..n_train``, picks ``(taps, alpha)`` by NRMSE on the next ``n_val``
    steps and scores the rest (the split and the rule of the ESN grid). Returns
    (test NRMSE, validation NRMSE, chosen taps, chosen alpha).
    """
    from physnn.reservoir.readout import RidgeReadout
    from physnn.reservoir.tasks import nrmse

    y = np.asarray(y, float)
    best = None
    for d in taps:
        X = delay_line(u, d)
        for a in alphas:
            ro = RidgeReadout(alpha=a).fit(X[washout:n_train], y[washout:n_train])
            v = float(nrmse(y[n_train : n_train + n_val], ro.predict(X[n_train : n_train + n_val])))
            t = float(nrmse(y[n_train + n_val :], ro.predict(X[n_train + n_val :])))
            if best is None or v < best[1]:
                best = (t, v, int(d), float(a))
    return best


def _numba_threads() -> int:
    """Threads of the compiled ESN time loop (ensemble members run in parallel); 0 without numba."""
    try:
        import numba
    except ImportError:
        return 0
    return int(numba.get_num_threads())


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny grid and few repeats (smoke test)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("results/reservoir_bench"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    import scipy.sparse as sps
    from reservoirpy.nodes import Reservoir, Ridge
    from threadpoolctl import threadpool_limits

    from physnn.random import generator_from_seed
    from physnn.reservoir.esn import ESN, ESNParams, esn_matrices
    from physnn.reservoir.tasks import memory_capacity, narma10, nrmse

    N = 200
    n_train, n_val, n_test, washout = 4000, 1000, 1000, 200
    u, y = narma10(n_train + n_val + n_test, seed=args.seed)
    u_tr, y_tr = u[:n_train], y[:n_train]
    u_va, y_va = u[n_train : n_train + n_val], y[n_train : n_train + n_val]
    u_te, y_te = u[n_train + n_val :], y[n_train + n_val :]

    if args.quick:
        srs, ins, lrs, alphas = (0.9,), (0.1, 0.5), (1.0,), (1e-6,)
    else:
        srs, ins, lrs, alphas = (0.8, 0.9, 0.95, 1.0), (0.05, 0.1, 0.3), (1.0, 0.5), (1e-8, 1e-6)
    bias_scaling = 0.2
    hyper = list(itertools.product(srs, ins, lrs))
    grid = [(h, a) for a in alphas for h in hyper]
    E = len(hyper)
    params = ESNParams(
        n_units=N,
        spectral_radius=tuple(h[0] for h in hyper),
        input_scaling=tuple(h[1] for h in hyper),
        leak_rate=tuple(h[2] for h in hyper),
        bias_scaling=bias_scaling,
    )
    W, W_in, b = esn_matrices(1, params, generator=[generator_from_seed(args.seed) for _ in range(E)])

    # ---- accuracy: ours (one ensemble call per ridge value) and reservoirpy (one model per point)
    ours_val, ours_test, rpy_val, rpy_test = [], [], [], []
    ours_pred = {}
    for a in alphas:
        esn = ESN(1, params, W=W, W_in=W_in, bias=b, alpha=a).fit(u_tr, y_tr, washout=washout)
        pv = esn.predict(u_va).numpy()
        pt = esn.predict(u_te).numpy()
        ours_val += list(nrmse(y_va, pv))
        ours_test += list(nrmse(y_te, pt))
        for e in range(E):
            ours_pred[(e, a)] = pt[e]
    rpy_pred = {}
    for (h, a), e in zip(grid, itertools.cycle(range(E))):
        res = Reservoir(W=sps.csr_array(W[e].numpy()), Win=W_in[e].numpy(), bias=b[e].numpy(), lr=h[2])
        model = res >> Ridge(ridge=a)
        model.fit(u_tr[:, None], y_tr[:, None], warmup=washout)
        pv = model.run(u_va[:, None])[:, 0]
        pt = model.run(u_te[:, None])[:, 0]
        rpy_val.append(nrmse(y_va, pv))
        rpy_test.append(nrmse(y_te, pt))
        rpy_pred[(e, a)] = pt
    i_ours, i_rpy = int(np.argmin(ours_val)), int(np.argmin(rpy_val))
    best = grid[i_ours]
    e_best = hyper.index(best[0])

    # ---- timing helpers
    u6, y6 = u[: n_train + n_val], y[: n_train + n_val]
    u_last = u[n_train + n_val :]

    def ours_single():
        esn1.fit(u6, y6, washout=washout).predict(u_last)

    def rpy_run(e: int, lr: float, a: float) -> None:
        res = Reservoir(W=Wcsr[e], Win=Win_np[e], bias=b_np[e], lr=lr)
        model = res >> Ridge(ridge=a)
        model.fit(u6[:, None], y6[:, None], warmup=washout)
        model.run(u_last[:, None])

    Wcsr = [sps.csr_array(W[e].numpy()) for e in range(E)]
    Win_np, b_np = [W_in[e].numpy() for e in range(E)], [b[e].numpy() for e in range(E)]
    esn1 = ESN(1, params.member(e_best), W=W[e_best], W_in=W_in[e_best], bias=b[e_best], alpha=best[1])

    def rpy_single():
        rpy_run(e_best, best[0][2], best[1])

    # ensemble: 32 members, different seeds and hyperparameters
    n_ens = 32
    rng = np.random.default_rng(args.seed + 1)
    ens_params = ESNParams(
        n_units=N,
        spectral_radius=tuple(rng.uniform(0.7, 1.0, n_ens)),
        input_scaling=tuple(rng.uniform(0.05, 0.5, n_ens)),
        leak_rate=tuple(rng.choice([0.5, 1.0], n_ens)),
        bias_scaling=bias_scaling,
    )
    eW, eWin, eb = esn_matrices(
        1, ens_params, generator=[generator_from_seed(args.seed + 100 + k) for k in range(n_ens)]
    )
    ens = ESN(1, ens_params, W=eW, W_in=eWin, bias=eb, alpha=1e-6)
    eWcsr = [sps.csr_array(eW[k].numpy()) for k in range(n_ens)]

    def ours_ens():
        ens.fit(u6, y6, washout=washout).predict(u_last)

    def rpy_ens():
        for k in range(n_ens):
            res = Reservoir(W=eWcsr[k], Win=eWin[k].numpy(), bias=eb[k].numpy(), lr=ens_params.leak_rate[k])
            model = res >> Ridge(ridge=1e-6)
            model.fit(u6[:, None], y6[:, None], warmup=washout)
            model.run(u_last[:, None])

    def ab(fa, fb, repeats):
        """Alternate fa/fb ``repeats`` times after one warm-up each.

        Returns a dict: min and median wall time of each, best-of-k ratio (min/min), median of
        the per-pair wall ratios and of the per-pair CPU-time ratios.
        """
        fa(), fb()  # warm-up (numba compile, caches)
        ta, tb, r, rc = [], [], [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            fa()
            t1, c1 = time.perf_counter(), time.process_time()
            fb()
            t2, c2 = time.perf_counter(), time.process_time()
            ta.append(t1 - t0)
            tb.append(t2 - t1)
            r.append((t1 - t0) / (t2 - t1))
            rc.append((c1 - c0) / (c2 - c1))
        return {
            "ours_min": min(ta),
            "ours_median": statistics.median(ta),
            "rpy_min": min(tb),
            "rpy_median": statistics.median(tb),
            "ratio_best": min(ta) / min(tb),
            "ratio_median": statistics.median(r),
            "cpu_ratio_median": statistics.median(rc),
        }

    reps_single, reps_ens = (3, 2) if args.quick else (11, 7)
    load_timing_start = os.getloadavg()[0]
    with threadpool_limits(limits=args.threads):
        t1 = ab(ours_single, rpy_single, reps_single)
        tE = ab(ours_ens, rpy_ens, reps_ens)
    load_timing_end = os.getloadavg()[0]
    # the batched ensemble must be the same model as reservoirpy's one-by-one fits
    ens.fit(u_tr, y_tr, washout=washout)
    nr_ens = nrmse(y_va, ens.predict(u_va).numpy())
    nr_rpy = []
    for k in range(n_ens):
        res = Reservoir(W=eWcsr[k], Win=eWin[k].numpy(), bias=eb[k].numpy(), lr=ens_params.leak_rate[k])
        model = res >> Ridge(ridge=1e-6)
        model.fit(u_tr[:, None], y_tr[:, None], warmup=washout)
        nr_rpy.append(nrmse(y_va, model.run(u_va[:, None])[:, 0]))
    d_ens = float(np.max(np.abs(nr_ens - np.array(nr_rpy))))

    # ---- memory capacity of the chosen reservoir (i.i.d. input U[-0.5, 0.5])
    umc = (
        torch.rand(
            6000 if not args.quick else 3000, generator=torch.Generator().manual_seed(args.seed), dtype=torch.float64
        )
        - 0.5
    )
    mc_esn = ESN(1, params.member(e_best), W=W[e_best], W_in=W_in[e_best], bias=b[e_best])
    max_delay = 300 if not args.quick else 100
    mc, mc_k = memory_capacity(mc_esn.run(umc), umc, max_delay=max_delay, washout=washout)
    # the same readouts on the raw input alone
    mc_probe, _ = memory_capacity(umc[:, None], umc, max_delay=max_delay, washout=washout)

    # ---- raw-input probes for NARMA10 (same split, washout, ridge grid and selection rule)
    probe_nr, probe_val, _, probe_alpha = linear_probe(u, y, n_train, n_val, washout, alphas)
    dl_nr, dl_val, dl_taps, dl_alpha = linear_probe(u, y, n_train, n_val, washout, alphas, taps=PROBE_TAPS)
    gain = {
        "narma10": float(probe_nr - ours_test[i_ours]),
        "narma10_vs_delay_line": float(dl_nr - ours_test[i_ours]),
        "narma10_reservoirpy": float(probe_nr - rpy_test[i_rpy]),
        "memory_capacity": float(mc - mc_probe),
    }
    not_better = [k for k, v in gain.items() if not v > 0]

    out = {
        "narma10_nrmse": float(ours_test[i_ours]),
        "narma10_probe_nrmse": float(probe_nr),
        "narma10_delay_line_probe_nrmse": float(dl_nr),
        "reservoirpy_narma10_nrmse": float(rpy_test[i_rpy]),
        "reservoirpy_narma10_probe_nrmse": float(probe_nr),
        "memory_capacity": float(mc),
        "memory_capacity_probe": float(mc_probe),
        "reservoir_gain_over_probe": gain,
        "reservoir_not_better_than_probe": not_better,
        "probe_alpha": probe_alpha,
        "delay_line_probe_taps": dl_taps,
        "delay_line_probe_alpha": dl_alpha,
        "single_time_ratio_vs_reservoirpy": float(t1["ratio_best"]),
        "ensemble_time_ratio_vs_reservoirpy": float(tE["ratio_best"]),
        "single_time_ratio_median_pairs": float(t1["ratio_median"]),
        "ensemble_time_ratio_median_pairs": float(tE["ratio_median"]),
        "single_cpu_time_ratio_vs_reservoirpy": float(t1["cpu_ratio_median"]),
        "ensemble_cpu_time_ratio_vs_reservoirpy": float(tE["cpu_ratio_median"]),
        "load_avg_timing_start": float(load_timing_start),
        "load_avg_timing_end": float(load_timing_end),
        "torch_threads": int(torch.get_num_threads()),
        "numba_threads": _numba_threads(),
        "blas_threads_limit": int(args.threads),
        "timing_repeats_single": reps_single,
        "timing_repeats_ensemble": reps_ens,
        "single_time_s": float(t1["ours_min"]),
        "single_time_median_s": float(t1["ours_median"]),
        "reservoirpy_single_time_s": float(t1["rpy_min"]),
        "reservoirpy_single_time_median_s": float(t1["rpy_median"]),
        "ensemble_time_s": float(tE["ours_min"]),
        "ensemble_time_median_s": float(tE["ours_median"]),
        "reservoirpy_ensemble_time_s": float(tE["rpy_min"]),
        "reservoirpy_ensemble_time_median_s": float(tE["rpy_median"]),
        "n_units": N,
        "grid_size": len(grid),
        "max_abs_nrmse_diff_same_point": float(np.max(np.abs(np.array(ours_test) - np.array(rpy_test)))),
        "ensemble_max_abs_nrmse_diff_vs_reservoirpy": d_ens,
        "best_spectral_radius": best[0][0],
        "best_input_scaling": best[0][1],
        "best_leak_rate": best[0][2],
        "best_alpha": best[1],
    }
    _write(
        args.out,
        out,
        grid,
        ours_val,
        ours_test,
        rpy_val,
        rpy_test,
        y_te,
        ours_pred[(e_best, best[1])],
        rpy_pred[(hyper.index(grid[i_rpy][0]), grid[i_rpy][1])],
        mc_k,
        bias_scaling,
    )
    publish("reservoir_bench", out, quick=args.quick)
    return out


def _write(out_dir, out, grid, ov, ot, rv, rt, y_te, p_ours, p_rpy, mc_k, bias_scaling):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xarray as xr

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    g = np.arange(len(grid))
    one = {"units": "1"}
    ds = xr.Dataset(
        {
            "nrmse_val": (
                ("library", "grid_point"),
                np.array([ov, rv]),
                {**one, "long_name": "NARMA10 NRMSE on validation steps"},
            ),
            "nrmse_test": (
                ("library", "grid_point"),
                np.array([ot, rt]),
                {**one, "long_name": "NARMA10 NRMSE on test steps"},
            ),
            "spectral_radius": ("grid_point", [h[0] for h, _ in grid], {**one, "long_name": "spectral radius of W"}),
            "input_scaling": ("grid_point", [h[1] for h, _ in grid], {**one, "long_name": "input scaling"}),
            "leak_rate": ("grid_point", [h[2] for h, _ in grid], {**one, "long_name": "leak rate"}),
            "ridge": ("grid_point", [a for _, a in grid], {**one, "long_name": "ridge penalty"}),
            "target": ("step", y_te, {**one, "long_name": "NARMA10 target (test)"}),
            "prediction": (
                ("library", "step"),
                np.stack([p_ours, p_rpy]),
                {**one, "long_name": "prediction of the best model (test)"},
            ),
            "mc_k": ("delay", mc_k, {**one, "long_name": "squared correlation of delayed-input recall"}),
        },
        coords={
            "library": ("library", ["physnn", "reservoirpy"], {"units": "1", "long_name": "implementation"}),
            "grid_point": ("grid_point", g, {"units": "1", "long_name": "hyperparameter grid index"}),
            "step": ("step", np.arange(len(y_te)), {"units": "1", "long_name": "time step"}),
            "delay": ("delay", np.arange(1, len(mc_k) + 1), {"units": "1", "long_name": "recall delay in steps"}),
        },
        attrs={k: (v if not isinstance(v, bool) else int(v)) for k, v in out.items() if not isinstance(v, (dict, list))}
        | {f"reservoir_gain_over_probe_{k}": v for k, v in out["reservoir_gain_over_probe"].items()}
        | {"bias_scaling": bias_scaling},
    )
    save_netcdf(ds, out_dir / "reservoir_bench.nc")
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.5))
    ax[0].plot(y_te[:200], "k", lw=1.5, label="target")
    ax[0].plot(p_ours[:200], label=f"physnn ({out['narma10_nrmse']:.3f})")
    ax[0].plot(p_rpy[:200], "--", label=f"reservoirpy ({out['reservoirpy_narma10_nrmse']:.3f})")
    ax[0].set(xlabel="test step", ylabel="NARMA10 y", title="NARMA10, N=200 (NRMSE)")
    ax[0].legend(fontsize=8)
    ax[1].plot(np.arange(1, len(mc_k) + 1), mc_k)
    ax[1].set(xlabel="delay k", ylabel="r²", title=f"memory capacity {out['memory_capacity']:.1f}")
    fig.tight_layout()
    fig.savefig(out_dir / "reservoir_bench.png", dpi=110)
    plt.close(fig)
    lines = [
        "# reservoir_bench",
        "",
        "## Reservoir vs its raw-input probe",
        "",
        "Probe = the same ridge readout and selection on the raw input, no reservoir (NARMA10: u(t); delay "
        f"line: u(t..t-d+1), d = {out['delay_line_probe_taps']} picked on validation).",
        "",
        "| task | reservoir | raw-input probe | gain (> 0: reservoir better) |",
        "|---|---|---|---|",
        f"| NARMA10 NRMSE, physnn ESN | {out['narma10_nrmse']:.4f} | {out['narma10_probe_nrmse']:.4f} | "
        f"{out['reservoir_gain_over_probe']['narma10']:+.4f} |",
        f"| NARMA10 NRMSE, physnn ESN vs delay-line probe | {out['narma10_nrmse']:.4f} | "
        f"{out['narma10_delay_line_probe_nrmse']:.4f} | {out['reservoir_gain_over_probe']['narma10_vs_delay_line']:+.4f} |",
        f"| NARMA10 NRMSE, reservoirpy ESN | {out['reservoirpy_narma10_nrmse']:.4f} | "
        f"{out['reservoirpy_narma10_probe_nrmse']:.4f} | {out['reservoir_gain_over_probe']['narma10_reservoirpy']:+.4f} |",
        f"| memory capacity | {out['memory_capacity']:.2f} | {out['memory_capacity_probe']:.2f} | "
        f"{out['reservoir_gain_over_probe']['memory_capacity']:+.2f} |",
        "",
    ]
    nb = out["reservoir_not_better_than_probe"]
    lines += [
        ("**The reservoir does not beat its raw-input probe** on: " + ", ".join(nb) + ".")
        if nb
        else "The reservoir beats its raw-input probes on every task.",
        "",
        "| figure | value | target |",
        "|---|---|---|",
    ]
    for k, v in out.items():
        t = TARGETS.get(k)
        if isinstance(v, (dict, list)):
            continue
        lines.append(
            f"| {k} | {v:.4g} | {t[0] + ' ' + str(t[1]) if t else ''} |" if isinstance(v, float) else f"| {k} | {v} | |"
        )
    (out_dir / "summary.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
