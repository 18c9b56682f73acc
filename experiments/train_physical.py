"""Issue #11 benchmark: training physical networks in a model-free loop.

Methods x substrates on scikit-learn digits and MNIST-1D (standard 4000/1000 split, generated
offline), with a crossbar ``AnalogLinear`` on the PCM card (``aihwkit_preset()``: PCM programming
noise, drift, 1/f read noise, 8-bit DAC/ADC, output noise, global drift compensation) as the main
physical part:

* digits:  64 -> crossbar 256 (ReLU periphery) -> digital readout 10;
* MNIST-1D: 40 -> crossbar 512 -> crossbar 512 (ReLU) -> digital readout 10 (two blocks).

Every method trains the same architecture: the model-free ones (PhyLL, FF, Mono-Forward, CaFo,
SPSA, MeZO, PAT, nevergrad) only *query* the crossbars; ``hwa`` trains through the crossbar's
differentiable training model (noise, converters in the loop) and ``backprop`` through an ideal
crossbar (float). ``frozen_random_baseline`` keeps random crossbars and trains the readout.
The block methods (PhyLL, FF, Mono-Forward, CaFo) use two frozen crossbar blocks on both data
sets (``D -> H -> H``); PhyLL, FF and Mono-Forward add one trainable digital layer per block
(``W [P(h), h]``, PhyLL's recipe), CaFo one linear predictor per block.

Each run executes in its own child process (spawned), whose peak resident memory is measured as
``VmHWM - VmRSS`` at the start of the run (after imports, data and a warm-up of the torch kernels):
torch's CPU tensors are invisible to tracemalloc, the kernel's page accounting sees them.

Also: other substrates (ESN, LIF LSM, analog LSTM, scattering medium, ASIC timing) with the
methods that fit their few knobs; robustness with a system that drifts and is noisy during
training; HWA accuracy after 1 s, 1 h, 1 d, 1 y of drift (8 chips in one call, global drift
compensation); MeZO's peak memory over inference's for a 4.3 M-parameter model.

Usage: ``python experiments/train_physical.py [--quick] [--seed N] [--out DIR]``; last line JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

METHODS = ["phyll", "ff", "mono_forward", "cafo", "spsa", "mezo", "hwa", "pat", "backprop", "frozen_random_baseline"]
DRIFT_TIMES = {"1s": 1.0, "1h": 3600.0, "1d": 86400.0, "1y": 3.15576e7}


# ----------------------------------------------------------------------------------------------
# memory
# ----------------------------------------------------------------------------------------------
def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def _reset_hwm() -> bool:
    """Reset the peak-RSS counter (Linux ``clear_refs`` 5); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _warm_up(crossbar: bool = False) -> None:
    """Touch the code every run uses (torch kernels, autograd, Adam; the crossbar's compiled
    read kernels) on tiny tensors, so that the measured peak is the run's data, not code."""
    import torch

    m = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    x = torch.randn(8, 16)
    m(x).sum().backward()
    torch.optim.Adam(m.parameters()).step()
    if crossbar:
        from physnn.crossbar import AnalogLinear, aihwkit_preset, analog_linear

        lay = AnalogLinear(16, 4, config=aihwkit_preset()).eval()
        lay(x)
        lay2 = AnalogLinear(16, 4, config=aihwkit_preset(), ensemble=2).eval()
        lay2(x)
        w = torch.randn(4, 16, requires_grad=True)
        analog_linear(x, w, None, aihwkit_preset()).sum().backward()


# ----------------------------------------------------------------------------------------------
# one run (child process)
# ----------------------------------------------------------------------------------------------
def _data(name: str, seed: int, quick: bool):
    from physnn.data.digits import build_digits
    from physnn.data.mnist1d import build_mnist1d

    d = build_digits(seed) if name == "digits" else build_mnist1d()
    if quick and name == "mnist1d":
        d = d.subset(1000, 500)
    return d


def _build(method: str, dataset: str, d, seed: int, substrate: str, robust: bool, epochs: int):
    import torch

    from physnn.crossbar import CrossbarConfig, aihwkit_preset
    from physnn.training import (AnalogLinearSystem, AnalogLSTMSystem, ASICTimingSystem, BackpropTrainer,
                                 CaFoTrainer, ESNSystem, FrozenReadoutTrainer, HWATrainer, MonoForwardTrainer,
                                 NevergradTrainer, NoisyDriftingSystem, PhyLLTrainer, PhysicsAwareTrainer,
                                 ResistiveLSMSystem, ScatteringMedium, SequentialSystem, ZerothOrderTrainer)

    D, C = d.n_features, d.n_classes
    H = 256 if dataset == "digits" else 512
    n_blocks = 1 if dataset == "digits" else 2
    cfg = aihwkit_preset() if method != "backprop" else CrossbarConfig.ideal()
    base = 1000 * seed

    def xb(i, o, k):
        s = AnalogLinearSystem(i, o, config=cfg, generator=torch.Generator().manual_seed(base + 17 * k + 1))
        if robust:
            s = NoisyDriftingSystem(s, noise=0.05, gain_drift=0.2, offset_walk=0.002,
                                    generator=torch.Generator().manual_seed(base + 17 * k + 2))
        return s

    if substrate != "crossbar":
        g = torch.Generator().manual_seed(base + 5)
        if substrate == "esn":
            sy = ESNSystem(8, 8, n_units=200, generator=g)
        elif substrate == "lsm":
            sy = ResistiveLSMSystem(8, 8, generator=g)
        elif substrate == "lstm":
            sy = AnalogLSTMSystem(8, 64, 8, config=aihwkit_preset(), generator=g)
        elif substrate == "scattering":
            sy = ScatteringMedium(D, 256, generator=g)
        elif substrate == "asic":
            sy = ASICTimingSystem(D, window_s=0.002, generator=g)
        else:
            raise ValueError(substrate)
        tr = {"frozen_random_baseline": lambda: FrozenReadoutTrainer(),
              "nevergrad": lambda: NevergradTrainer("CMA", budget=400),
              "spsa": lambda: ZerothOrderTrainer("spsa", a=0.05, c=0.02, relative=True),
              "pat": lambda: PhysicsAwareTrainer(lr=1e-2)}[method]()
        return tr, sy
    if method in ("phyll", "ff"):
        # label amplitude and learning rate per data set (digits in [0, 1]; MNIST-1D standardised)
        tr = PhyLLTrainer(goodness="phyll" if method == "phyll" else "ff", hidden=H,
                          label_scale=1.0 if dataset == "digits" else 3.0, epochs_per_block=max(1, epochs // 2),
                          lr=3e-3 if dataset == "digits" else 1e-3)
        return tr, [xb(D + C, H, 0), xb(H, H, 1)]
    if method == "mono_forward":
        return MonoForwardTrainer(hidden=H, lr=1e-3), [xb(D, H, 0), xb(H, H, 1)]
    if method == "cafo":
        return CaFoTrainer(), [xb(D, H, 0), xb(H, H, 1)]
    single = xb(D, H, 0) if n_blocks == 1 else SequentialSystem([xb(D, H, 0), xb(H, H, 1)])
    tr = {"spsa": lambda: ZerothOrderTrainer("spsa", a=0.02, c=0.01, A=100),
          "antithetic": lambda: ZerothOrderTrainer("antithetic", a=0.01, c=0.01, directions=4),
          "coordinate": lambda: ZerothOrderTrainer("coordinate", a=0.05, c=0.01, coordinates=16),
          "mezo": lambda: ZerothOrderTrainer("mezo", a=2e-3, c=1e-3),
          "hwa": lambda: HWATrainer(lr=1e-3, input_range=1.0 if dataset == "digits" else 3.0),
          "pat": lambda: PhysicsAwareTrainer(lr=1e-3),
          "backprop": lambda: BackpropTrainer(lr=1e-3),
          "frozen_random_baseline": lambda: FrozenReadoutTrainer()}[method]()
    return tr, single


def run_one(spec: dict) -> dict:
    """Train one (method, dataset, substrate) in this (child) process; returns figures."""
    import torch

    torch.set_num_threads(1)
    from physnn.training import drift_accuracy, fit

    if not spec.get("warm"):
        _warm_up(crossbar=True)
    d = _data(spec["dataset"], spec["seed"], spec["quick"])
    if spec["substrate"] == "asic":   # ~0.1 s of simulated mining per sample: a 300/150 subset
        d = d.subset(300, 150)
    if spec["substrate"] in ("esn", "lsm", "lstm"):           # digits as 8 time steps of 8-pixel rows
        d = d._replace(x_train=d.x_train.view(-1, 8, 8), x_test=d.x_test.view(-1, 8, 8))
    hwm_ok = _reset_hwm()
    rss0 = _status_kib("VmRSS")
    t0 = time.perf_counter()
    tr, sy = _build(spec["method"], spec["dataset"], d, spec["seed"], spec["substrate"], spec["robust"], spec["epochs"])
    h = fit(sy, d, trainer=tr, epochs=spec["epochs"], batch_size=spec["batch_size"], seed=spec["seed"], progress=False)
    wall = time.perf_counter() - t0
    peak = _status_kib("VmHWM") - rss0
    out = {**spec, "test_accuracy": float(h.test_accuracy.values[-1]), "queries": int(h.queries.values[-1]),
           "samples": int(h.samples.values[-1]), "eval_queries": int(h.eval_queries.values[-1]), "wall_time_s": wall,
           "peak_mem_MiB": peak / 1024.0, "hwm_reset": hwm_ok, "curve_acc": h.test_accuracy.values.tolist(),
           "curve_queries": h.queries.values.tolist(), "loadavg": os.getloadavg()[0]}
    if hasattr(tr, "twin_error_"):
        out["twin_error"] = [float(e) for e in tr.twin_error_]
        out["noise_floor"] = float(tr.noise_floor_)
    if spec.get("drift"):
        res = drift_accuracy(tr, sy, d, tuple(DRIFT_TIMES.values()), ensemble=8,
                             generator=torch.Generator().manual_seed(spec["seed"] + 99))
        out["drift"] = {k: res[t] for k, t in DRIFT_TIMES.items()}
    return out


# ----------------------------------------------------------------------------------------------
# MeZO memory (child processes)
# ----------------------------------------------------------------------------------------------
def mem_one(spec: dict) -> dict:
    """Peak RSS growth of ``steps`` inference / MeZO / Adam-backprop steps of a 4.3 M-parameter MLP."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    from physnn.training import mezo_perturb

    _warm_up()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(spec["batch"], 64, generator=g)
    y = torch.randint(0, 10, (spec["batch"],), generator=g)
    ok = _reset_hwm()
    rss0 = _status_kib("VmRSS")
    W = spec["width"]
    model = torch.nn.Sequential(torch.nn.Linear(64, W), torch.nn.ReLU(), torch.nn.Linear(W, W), torch.nn.ReLU(),
                                torch.nn.Linear(W, 10))
    n_params = sum(p.numel() for p in model.parameters())
    params = [p for p in model.parameters()]
    mode = spec["mode"]
    if mode == "adam":
        opt = torch.optim.Adam(params, lr=1e-4)
    for k in range(spec["steps"]):
        if mode == "inference":
            with torch.no_grad():
                F.cross_entropy(model(x), y)
        elif mode == "mezo":
            with torch.no_grad():
                mezo_perturb(params, k, 1e-3)
                lp = float(F.cross_entropy(model(x), y))
                mezo_perturb(params, k, -2e-3)
                lm = float(F.cross_entropy(model(x), y))
                mezo_perturb(params, k, 1e-3)
                mezo_perturb(params, k, -1e-4 * (lp - lm) / 2e-3)
        else:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return {"mode": mode, "peak_MiB": (_status_kib("VmHWM") - rss0) / 1024.0, "n_params": n_params, "hwm_reset": ok,
            "params_MiB": n_params * 4 / 2**20}


# ----------------------------------------------------------------------------------------------
def _pool():
    return ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"), max_tasks_per_child=1)


def _child(fn, spec):
    with _pool() as ex:
        return ex.submit(fn, spec).result()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "train_physical")
    ap.add_argument("--only", default=None, help="comma-separated methods (debugging)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    q = args.quick
    E = {"digits": 3 if q else 25, "mnist1d": 2 if q else 15}
    # zeroth-order methods on digits get twice the epochs (cheap steps); PhyLL/FF train their two
    # blocks greedily one after the other, so they get twice the epochs (each block as many as the others)
    # (on MNIST-1D they get half: a query there programs 283 k devices, and they barely move it)
    mult = lambda m, ds: (2 if (m in ("spsa", "mezo") and ds == "digits") or m in ("phyll", "ff") else
                          0.5 if m in ("spsa", "mezo") else 1)
    specs = []
    only = set(args.only.split(",")) if args.only else None
    for ds in ("digits", "mnist1d"):
        for m in METHODS + ["antithetic", "coordinate"]:
            if only and m not in only:
                continue
            if m in ("antithetic", "coordinate") and (ds != "digits" or (q and m == "coordinate")):
                continue
            ep = max(1, E[ds] // 3) if m in ("antithetic", "coordinate") else max(1, int(E[ds] * mult(m, ds)))
            specs.append(dict(method=m, dataset=ds, substrate="crossbar", robust=False, epochs=ep, batch_size=64,
                              seed=args.seed, quick=q, drift=(m == "hwa" and ds == "digits")))
    # robustness: a drifting, noisy crossbar during training (digits)
    for m in ("frozen_random_baseline", "spsa", "pat", "mono_forward"):
        if (only and m not in only) or (q and m in ("spsa", "mono_forward")):
            continue
        specs.append(dict(method=m, dataset="digits", substrate="crossbar", robust=True,
                          epochs=int(E["digits"] * mult(m, "digits")), batch_size=64, seed=args.seed, quick=q, drift=False))
    # other substrates (digits)
    subs = [("esn", "nevergrad"), ("lsm", "frozen_random_baseline"), ("scattering", "pat")]
    if not q:
        subs += [("esn", "frozen_random_baseline"), ("lsm", "nevergrad"), ("lstm", "frozen_random_baseline"),
                 ("lstm", "spsa"), ("scattering", "frozen_random_baseline"), ("scattering", "spsa"),
                 ("asic", "frozen_random_baseline")]
    for sub, m in subs:
        if only and m not in only:
            continue
        specs.append(dict(method=m, dataset="digits", substrate=sub, robust=False,
                          epochs=3 if sub == "asic" else (2 if q else 10),
                          batch_size=64, seed=args.seed, quick=q, drift=False))

    # full runs: one spawned child per run (its own peak memory); --quick: all in this process,
    # the peak counter reset before each run (faster; a freed heap reused by a later run can hide growth)
    in_process = q and _reset_hwm()
    if in_process:
        import torch

        torch.set_num_threads(1)
        _warm_up(crossbar=True)
    results = []
    t_all = time.perf_counter()
    for i, spec in enumerate(specs):
        r = run_one(spec) if in_process else _child(run_one, spec)
        results.append(r)
        print(f"[{i + 1}/{len(specs)}] {spec['dataset']:8s} {spec['substrate']:10s} {spec['method']:23s}"
              f"{' robust' if spec['robust'] else '':7s} acc {r['test_accuracy']:.3f} queries {r['queries']:7d} "
              f"wall {r['wall_time_s']:6.1f} s peak {r['peak_mem_MiB']:7.1f} MiB load {r['loadavg']:.1f}", flush=True)

    mem = {}
    for mode in ("inference", "mezo", "adam"):
        mem[mode] = _child(mem_one, dict(mode=mode, width=1024 if q else 2048, batch=256, steps=3 if q else 20))
    mezo_ratio = mem["mezo"]["peak_MiB"] / mem["inference"]["peak_MiB"]
    print(f"memory ({mem['inference']['n_params']} params, {mem['inference']['params_MiB']:.1f} MiB): "
          + ", ".join(f"{k} {v['peak_MiB']:.1f} MiB" for k, v in mem.items()), flush=True)

    summary = _write(results, mem, args, time.perf_counter() - t_all)
    summary["mezo_mem_ratio"] = round(mezo_ratio, 4)
    return summary


def _write(results, mem, args, wall_total) -> dict:
    import xarray as xr

    main_ = [r for r in results if r["substrate"] == "crossbar" and not r["robust"]]
    get = lambda ds, m: next((r for r in main_ if r["dataset"] == ds and r["method"] == m), None)
    runs = xr.Dataset(
        {"test_accuracy": ("run", [r["test_accuracy"] for r in results], {"units": "1", "long_name": "test accuracy"}),
         "queries": ("run", [r["queries"] for r in results], {"units": "1", "long_name": "physical queries of training (calls)"}),
         "samples": ("run", [r["samples"] for r in results], {"units": "1", "long_name": "input vectors sent to the physical systems"}),
         "wall_time": ("run", [r["wall_time_s"] for r in results], {"units": "s", "long_name": "wall-clock time of the run"}),
         "peak_memory": ("run", [r["peak_mem_MiB"] * 2**20 for r in results],
                         {"units": "B", "long_name": "peak resident memory growth of the run's process (VmHWM - VmRSS at start)"}),
         "epochs": ("run", [r["epochs"] for r in results], {"units": "1", "long_name": "epochs"}),
         "loadavg": ("run", [r["loadavg"] for r in results], {"units": "1", "long_name": "1-min load average at the end of the run"})},
        coords={"run": ("run", np.arange(len(results)), {"units": "1", "long_name": "run index"}),
                "method": ("run", [r["method"] for r in results], {"units": "1", "long_name": "training method"}),
                "dataset": ("run", [r["dataset"] for r in results], {"units": "1", "long_name": "dataset"}),
                "substrate": ("run", [r["substrate"] for r in results], {"units": "1", "long_name": "physical substrate"}),
                "robust": ("run", [int(r["robust"]) for r in results],
                           {"units": "1", "long_name": "1: drifting, noisy system during training"})},
        attrs={"title": "physnn issue 11: training physical networks in a model-free loop", "seed": args.seed,
               "quick": int(args.quick), "cpu_count": os.cpu_count()})
    hwa = get("digits", "hwa")
    if hwa and "drift" in hwa:
        runs["hwa_drift_accuracy"] = xr.DataArray([hwa["drift"][k][0] for k in DRIFT_TIMES], dims="drift_time",
                                                  attrs={"units": "1", "long_name": "HWA digits accuracy after drift, "
                                                         "mean of 8 chips, global drift compensation"})
        runs["hwa_drift_accuracy_std"] = xr.DataArray([hwa["drift"][k][1] for k in DRIFT_TIMES], dims="drift_time",
                                                      attrs={"units": "1", "long_name": "std over the 8 chips"})
        runs = runs.assign_coords(drift_time=("drift_time", list(DRIFT_TIMES.values()),
                                              {"units": "s", "long_name": "time since programming"}))
    runs.to_netcdf(args.out / "train_physical.nc")

    # figure: accuracy vs queries
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, ds in zip(axes, ("digits", "mnist1d")):
        for r in main_:
            if r["dataset"] != ds:
                continue
            qs = np.asarray(r["curve_queries"], float)
            if qs[-1] > 0:
                ax.plot(qs, r["curve_acc"], marker="o", ms=2.5, label=r["method"])
            else:
                ax.axhline(r["test_accuracy"], ls="--", lw=1, label=f"{r['method']} (0 queries: simulation gradient)",
                           color="k" if r["method"] == "backprop" else "gray")
        ax.set_xscale("log")
        ax.set_xlabel("physical queries of training")
        ax.set_ylabel("test accuracy")
        ax.set_title(ds)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "accuracy_vs_queries.png", dpi=120)
    plt.close(fig)

    digits_acc = {m: round(get("digits", m)["test_accuracy"], 4) for m in METHODS if get("digits", m)}
    mnist_acc = {m: round(get("mnist1d", m)["test_accuracy"], 4) for m in METHODS if get("mnist1d", m)}
    drift = {k: round(hwa["drift"][k][0], 4) for k in DRIFT_TIMES} if hwa and "drift" in hwa else {}
    lines = ["# train_physical (issue #11)", "",
             f"seed {args.seed}, quick={args.quick}, total wall {wall_total:.0f} s, load average at the end "
             f"{os.getloadavg()[0]:.1f} (2-core machine shared with other jobs)", "",
             ("Peak memory: growth of the run's child process resident set (`VmHWM` after `clear_refs`, minus "
              "`VmRSS` at the start of the run, after imports, data and a kernel warm-up)." if not args.quick else
              "Peak memory (--quick): runs in one process, `VmHWM` reset before each run, growth over the RSS at "
              "its start (a lower bound: freed heap reused by a later run is not counted)."), "",
             "| dataset | substrate | method | robust | test acc | Δ frozen | Δ backprop | queries | samples | wall s | peak MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        fb = get(r["dataset"], "frozen_random_baseline")
        bp = get(r["dataset"], "backprop")
        d_f = f"{100 * (r['test_accuracy'] - fb['test_accuracy']):+.1f}" if fb and r["substrate"] == "crossbar" else ""
        d_b = f"{100 * (r['test_accuracy'] - bp['test_accuracy']):+.1f}" if bp and r["substrate"] == "crossbar" else ""
        lines.append(f"| {r['dataset']} | {r['substrate']} | {r['method']} | {'yes' if r['robust'] else ''} | "
                     f"{r['test_accuracy']:.3f} | {d_f} | {d_b} | {r['queries']} | {r['samples']} | "
                     f"{r['wall_time_s']:.1f} | {r['peak_mem_MiB']:.1f} |")
    lines += ["", "HWA (digits) after drift, 8 chips, global drift compensation: "
              + ", ".join(f"{k} {v:.3f}" for k, v in drift.items()), ""]
    twin = [(r["dataset"], r["substrate"], r["twin_error"]) for r in results if "twin_error" in r]
    for r in results:
        if "twin_error" in r:
            te = r["twin_error"]
            lines.append(f"PAT twin relative RMS error ({r['dataset']}, {r['substrate']}{', robust' if r['robust'] else ''}): "
                         f"first {te[0]:.3f}, last {te[-1]:.3f} ({len(te)} fits); the system's own noise "
                         f"(a repeated query): {r['noise_floor']:.3f}")
    lines += ["", "MeZO memory (MLP 64-W-W-10, batch 256): " + ", ".join(
        f"{k} {v['peak_MiB']:.1f} MiB" for k, v in mem.items()) + f"; parameters {mem['inference']['n_params']}"]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    summary = {"digits_acc": digits_acc, "mnist1d_acc": mnist_acc, "hwa_drift_acc": drift,
               "mezo_params": mem["inference"]["n_params"],
               "mezo_peak_MiB": round(mem["mezo"]["peak_MiB"], 2), "inference_peak_MiB": round(mem["inference"]["peak_MiB"], 2),
               "adam_peak_MiB": round(mem["adam"]["peak_MiB"], 2), "wall_time_s": round(wall_total, 1),
               "loadavg": round(os.getloadavg()[0], 2)}
    te = [r["twin_error"] for r in main_ if "twin_error" in r]
    if te:
        summary["pat_twin_error"] = {r["dataset"]: round(r["twin_error"][-1], 4) for r in main_ if "twin_error" in r}
        summary["pat_noise_floor"] = {r["dataset"]: round(r["noise_floor"], 4) for r in main_ if "twin_error" in r}
    return summary


if __name__ == "__main__":
    s = main()
    print(json.dumps(s))
