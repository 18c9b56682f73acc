"""A simulated SHA-256 mining ASIC as a reservoir, against a Poisson null (issue 5, item 5).

An i.i.d. input ``s[k] ~ U[0, 1]`` (one value per 1-s window) sets the core voltage of a simulated
BM1366-class chip at 485 MHz near its edge of stability, ``V = 0.885 V + 0.035 V (2 s - 1)``
(850-920 mV; arXiv:2601.01916 runs 300-500 MHz, 850-990 mV). Timing errors (alpha-power-law delay
with Gaussian spread) corrupt hashes; the self-heating temperature (thermal RC, 5 s) carries past
inputs. Valid-share arrivals (statistical mode, exact in distribution to real hashing: see
``tests/asic``) are turned into per-window features (count, CV, Fano, lag-1 autocorrelation,
interval-histogram entropy of valid shares, plus the rejected-share count) with 2 windows of
delay embedding; a ridge readout (trained on the first 2/3 of windows) predicts ``s[k]``.

Honesty checks:
* ``poisson_null_p``: Monte-Carlo test of the window-averaged timing features against the
  count-conditioned Poisson null (``physnn.asic.stats``), Bonferroni-corrected, on the windows of
  this run pooled with 5 independent re-simulations (per-run p-values also reported).
* ``task_score_null``: the same features and readout on a homogeneous Poisson source with the
  same mean valid / rejected rates (no input coupling).

Outputs (``--out``, default ``results/asic_reservoir``): ``asic_reservoir.nc``,
``asic_reservoir.png``, ``summary.md``; the last printed line is one JSON object.

Usage: ``python experiments/asic_reservoir.py [--quick] [--seed N] [--out DIR]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # experiments/_publish.py, also when loaded by path
from _publish import publish, save_netcdf  # noqa: E402


def _design(F: np.ndarray, rej: np.ndarray, lags: int) -> np.ndarray:
    X = np.column_stack([F, rej])
    cols = [np.roll(X, L, axis=0) for L in range(lags + 1)]
    return np.column_stack(cols)[lags:]


def _r2_task(X: np.ndarray, y: np.ndarray, n_train: int, alpha: float) -> float:
    from physnn.reservoir.readout import RidgeReadout

    mu, sd = X[:n_train].mean(0), X[:n_train].std(0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = (X - mu) / sd
    r = RidgeReadout(alpha=alpha).fit(Z[:n_train], y[:n_train])
    return float(r.score(Z[n_train:], y[n_train:]))


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results/asic_reservoir"))
    args = p.parse_args(argv)

    from scipy.stats import ks_2samp

    from physnn.asic import MinerParams, drive_from_signal, poisson_null_test, simulate_shares, window_features
    from physnn.asic.sha256 import target_from_probability
    from physnn.asic.stats import poisson_cv_interval
    from physnn.random import generator_from_seed, numpy_rng

    gen = generator_from_seed(args.seed)  # physics draws (simulate_shares, null tests)
    rng = numpy_rng(gen)  # the experiment's own numpy draws
    K = 150 if args.quick else 900
    window = 1.0
    lags, alpha = 2, 1.0
    s = rng.random(K)
    v, f = drive_from_signal(s, v_center=0.885, v_swing=0.035, f_center=485e6)
    params = MinerParams()  # 894 cores, p = 2.3e-11 per hash -> ~10 shares/s at 485 MHz
    tr = simulate_shares(v, f, window=window, params=params, generator=gen)
    F, D = window_features(tr.valid_times, tr.window_edges)
    rej = np.histogram(tr.rejected_times, bins=tr.window_edges)[0].astype(float)

    # Poisson null source with the same mean rates, no input coupling
    T_end = K * window
    lam_v, lam_r = tr.valid_times.size / T_end, tr.rejected_times.size / T_end
    tv = np.sort(rng.uniform(0, T_end, rng.poisson(lam_v * T_end)))
    trj = np.sort(rng.uniform(0, T_end, rng.poisson(lam_r * T_end)))
    Fn, _ = window_features(tv, tr.window_edges)
    rejn = np.histogram(trj, bins=tr.window_edges)[0].astype(float)

    y = s[lags:]
    n_train = int(2 / 3 * y.size)
    X, Xn = _design(F, rej, lags), _design(Fn, rejn, lags)
    score = _r2_task(X, y, n_train, alpha)
    score_null = _r2_task(Xn, y, n_train, alpha)
    # timing-only readout (no counts): does the inter-arrival shape carry the input?
    timing_cols = [i for i in range(X.shape[1]) if i % 6 in (1, 2, 3, 4)]
    score_timing = _r2_task(X[:, timing_cols], y, n_train, alpha)

    # Poisson test on the timing features. One run of K windows has little power against small
    # deviations and a single p < 0.05 happens 1 time in 20 under the null, so the headline p pools
    # the windows of this run and of independent re-simulations (same input, new hashing
    # randomness); the per-run p-values are reported too.
    n_rep = 2 if args.quick else 5
    n_mc = 300 if args.quick else 2000
    traces = [tr] + [simulate_shares(v, f, window=window, params=params, generator=gen) for _ in range(n_rep)]
    pooled_t = np.concatenate([t_.valid_times + i * T_end for i, t_ in enumerate(traces)])
    pooled_e = np.arange(K * len(traces) + 1) * window
    test = poisson_null_test(pooled_t, pooled_e, n_mc=n_mc, generator=gen)
    reps = [
        poisson_null_test(t_.valid_times, t_.window_edges, n_mc=n_mc // 2, generator=gen)["p_min_bonferroni"]
        for t_ in traces
    ]
    cv_ok = D[:, 1]
    cv_mean = float(F[cv_ok, 1].mean())
    lo, hi = poisson_cv_interval(int(round(F[:, 0].mean())) - 1, generator=gen)

    # small-scale check: real hashing vs statistical mode (same chip, miniature hash rate)
    mini = MinerParams(n_cores=1, target=target_from_probability(1 / 128))
    vv, ff = np.full(8 if args.quick else 20, 0.88), np.full(8 if args.quick else 20, 485e6)
    a = simulate_shares(vv, ff, window=2e-6, params=mini, mode="hashlib", generator=gen)
    b = simulate_shares(vv, ff, window=2e-6, params=mini, mode="statistical", generator=gen)
    ks_p = float(ks_2samp(np.diff(a.valid_hash_index), np.diff(b.valid_hash_index)).pvalue)

    out = {
        "cv_mean": cv_mean,
        "poisson_null_p": float(test["p_min_bonferroni"]),
        "task_score": score,
        "task_score_null": score_null,
        "task_score_timing_features_only": score_timing,
        "signal_detected_vs_poisson": bool(test["signal_detected"]),
        "poisson_null_p_per_run": [float(x) for x in reps],
        "fraction_runs_detected": float(np.mean(np.asarray(reps) < 0.05)),
        "n_windows_poisson_test": int(K * len(traces)),
        "cv_null_mean": test["cv_null_mean"],
        "cv_poisson_95_lo": lo,
        "cv_poisson_95_hi": hi,
        "mean_valid_shares_per_window": float(F[:, 0].mean()),
        "mean_rejected_per_window": float(rej.mean()),
        "count_input_corr": float(np.corrcoef(F[:, 0], s)[0, 1]),
        "p_err_min": float(tr.p_err.min()),
        "p_err_max": float(tr.p_err.max()),
        "temperature_min_K": float(tr.temperature.min()),
        "temperature_max_K": float(tr.temperature.max()),
        "hashlib_vs_statistical_ks_p": ks_p,
        "n_windows": K,
    }
    _write(args.out, out, s, v, tr, F, Fn, rej, test)
    publish("asic_reservoir", out, quick=args.quick)
    return out


def _write(out_dir, out, s, v, tr, F, Fn, rej, test):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xarray as xr

    from physnn.asic.features import FEATURE_NAMES

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    K = s.size
    units = {"count": "1", "cv": "1", "fano": "1", "acf1": "1", "entropy": "bit"}
    data = {
        "signal": ("window", s, {"units": "1", "long_name": "input signal"}),
        "voltage": ("window", v, {"units": "V", "long_name": "core voltage"}),
        "temperature": ("window", tr.temperature, {"units": "K", "long_name": "mean junction temperature"}),
        "p_err": ("window", tr.p_err, {"units": "1", "long_name": "timing-error probability per hash"}),
        "rejected": ("window", rej, {"units": "1", "long_name": "rejected shares per window"}),
    }
    for i, n in enumerate(FEATURE_NAMES):
        data[n] = ("window", F[:, i], {"units": units[n], "long_name": f"valid-share {n} per window"})
        data[n + "_null"] = ("window", Fn[:, i], {"units": units[n], "long_name": f"{n} of the Poisson null source"})
    ds = xr.Dataset(
        data,
        coords={"window": ("window", np.arange(K), {"units": "1", "long_name": "window index (1 s each)"})},
        attrs={
            k: (int(v_) if isinstance(v_, bool) else (str(v_) if isinstance(v_, list) else v_)) for k, v_ in out.items()
        }
        | {"verdict": test["verdict"]},
    )
    save_netcdf(ds, out_dir / "asic_reservoir.nc")
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.5))
    ax[0].scatter(v * 1e3, F[:, 0], s=6, label="simulated ASIC")
    ax[0].scatter(v * 1e3, Fn[:, 0], s=6, alpha=0.5, label="Poisson null")
    ax[0].set(xlabel="core voltage (mV)", ylabel="valid shares / window", title="rate vs voltage @ 485 MHz")
    ax[0].legend(fontsize=8)
    ax[1].hist(F[:, 1], bins=30, alpha=0.7, label="ASIC")
    ax[1].hist(Fn[:, 1], bins=30, alpha=0.5, label="Poisson")
    ax[1].axvspan(out["cv_poisson_95_lo"], out["cv_poisson_95_hi"], color="0.85", zorder=-1, label="Poisson 95 %")
    ax[1].set(xlabel="CV of inter-arrival times", ylabel="windows", title=f"null p = {out['poisson_null_p']:.2f}")
    ax[1].legend(fontsize=8)
    ax[2].plot(tr.temperature - 273.15)
    ax[2].set(xlabel="window", ylabel="junction temperature (°C)", title="self-heating (memory)")
    fig.tight_layout()
    fig.savefig(out_dir / "asic_reservoir.png", dpi=110)
    plt.close(fig)
    lines = ["# asic_reservoir", "", f"Verdict: {test['verdict']}.", "", "| figure | value |", "|---|---|"]
    lines += [f"| {k} | {v_:.4g} |" if isinstance(v_, float) else f"| {k} | {v_} |" for k, v_ in out.items()]
    lines += [
        "",
        "Timing features (CV, Fano, lag-1 autocorrelation, entropy) are tested against a Poisson",
        "null conditioned on each window's count; the input is carried by the share RATE (timing",
        "errors near the edge of stability + self-heating), which a Poisson source with a modulated",
        "rate reproduces. `poisson_null_p` pools all runs; `poisson_null_p_per_run` lists each run's p.",
    ]
    (out_dir / "summary.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
