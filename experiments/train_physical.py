"""Issue #11/#21 benchmark: training physical networks in a model-free loop, compared fairly.

Methods x substrates on scikit-learn digits and MNIST-1D (standard 4000/1000 split, generated
offline), with a crossbar ``AnalogLinear`` on the PCM card (``aihwkit_preset()``: PCM programming
noise, drift, 1/f read noise, 8-bit DAC/ADC, output noise, global drift compensation) as the main
physical part.

Protocol (issue #21, "every comparison fair"):

* **Validation.** A stratified validation set (``VALIDATION`` = 20 %) is carved from each training
  set (``ClassificationSplit.validation_split``); every method trains on the rest. Every
  hyperparameter in a method's grid (``_grid``) and the epoch count (the best epoch on
  validation, ``BestEpoch``) are chosen on validation accuracy alone; the test set is read
  once, at the end, for the chosen setting of each method (in the parent process, from the
  state the run saved). Scales that are not tuned follow a rule on the training part: the
  label amplitude of PhyLL/FF and HWA's initial input range are the 99th percentile of
  ``|x_train|`` (1.0 on digits, 3.1 on MNIST-1D). Fixed beforehand, tuned on nothing here: the
  architectures, batch size 64, the fixed gains named in ``_grid``, PAT's twin settings (library
  defaults) and the settings of the other substrates (issue #11's; some of issue #11's values
  were picked while looking at test accuracy, and the grids contain them).
* **Budget.** Every method gets the same epoch budget, ``EPOCHS`` (digits 30, MNIST-1D 15
  passes over the training part; PhyLL/FF train their two blocks greedily, half of it each);
  the epoch reported is the best of those on validation. The queries this costs differ by
  method (two per step for SPSA/MeZO, one per block and step for the local methods) and are
  reported.
* **Baselines with the same trainable capacity.** ``frozen_random_baseline``: random frozen
  crossbars, a digital linear readout (the capacity of SPSA, MeZO, PAT, HWA, backprop, which
  train the crossbar weights and that same readout). ``digital_equivalent_baseline``: the
  digital layers Mono-Forward/PhyLL/FF train, ``relu(W_l [P_l(a), a])`` per block plus a linear
  head (~0.8 M digital weights on MNIST-1D), trained by plain backprop around the same frozen
  crossbars (``DigitalEquivalentTrainer("blocks")``); ``digital_equivalent_baseline_cafo``: CaFo's
  per-block predictors trained jointly by backprop. Each method's ``gain_over_digital_equivalent``
  is measured against the baseline of its own architecture (``digital_equivalent_of``): for a
  method that trains the crossbars it is what the physical part adds; for a local method
  (frozen crossbars) what its training rule gives against backprop of the same layers.

Architectures: digits 64 -> crossbar 256 (ReLU periphery) -> readout 10; MNIST-1D 40 ->
crossbar 512 -> crossbar 512 (ReLU) -> readout 10. The block methods and the digital
equivalents use two crossbar blocks ``D -> H -> H`` on both data sets. The model-free methods
(PhyLL, FF, Mono-Forward, CaFo, SPSA, antithetic SPSA, MeZO, PAT) only *query* the crossbars;
``hwa`` trains through the crossbar's differentiable training model and ``backprop`` through an
ideal crossbar (both are references, not model-free). Coordinate-wise differences (16 of the
16 k crossbar weights per step) are left out of the benchmark (unit-tested only).

Each training run executes in its own spawned child process (two at a time), whose peak resident
memory is ``VmHWM - VmRSS`` at the start of the run (after imports, data and a warm-up of the
torch kernels). ``--quick`` runs everything in one process on small budgets.

Also: other substrates (ESN, LIF LSM, analog LSTM, scattering medium, ASIC timing on a
300/150-sample subset of digits, 3 epochs: ~0.1 s of simulated mining per sample) with the
methods that fit their few knobs and fixed settings (epoch on validation); robustness with a
system that drifts and is noisy during training (digits, the settings chosen on the clean
system); HWA accuracy after 1 s, 1 h, 1 d, 1 y of drift (8 chips in one call, global drift
compensation); MeZO's peak memory over inference's for a 4.3 M-parameter model.

Usage: ``python experiments/train_physical.py [--quick] [--seed N] [--out DIR]``; last line JSON
(written to ``results/train_physical/latest.json`` by ``_publish``).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "experiments") not in sys.path:
    sys.path.insert(0, str(ROOT / "experiments"))

METHODS = [
    "phyll",
    "ff",
    "mono_forward",
    "cafo",
    "spsa",
    "antithetic",
    "mezo",
    "pat",
    "hwa",
    "backprop",
    "frozen_random_baseline",
    "digital_equivalent_baseline",
    "digital_equivalent_baseline_cafo",
]
#: the baseline with the same trainable digital capacity as each method (see the docstring)
DIGITAL_EQUIVALENT_OF = {
    "phyll": "digital_equivalent_baseline",
    "ff": "digital_equivalent_baseline",
    "mono_forward": "digital_equivalent_baseline",
    "cafo": "digital_equivalent_baseline_cafo",
    **{m: "frozen_random_baseline" for m in ("spsa", "antithetic", "mezo", "pat", "hwa", "backprop")},
}
#: model-free methods that change the physical (crossbar) parameters
TRAINS_PHYSICAL = ("spsa", "antithetic", "mezo", "pat")
BASELINES = ("frozen_random_baseline", "digital_equivalent_baseline", "digital_equivalent_baseline_cafo")
VALIDATION = 0.2
EPOCHS = {"digits": 30, "mnist1d": 15}
EPOCHS_QUICK = {"digits": 3, "mnist1d": 2}
ADAM_LRS = (1e-3, 3e-3)
DRIFT_TIMES = {"1s": 1.0, "1h": 3600.0, "1d": 86400.0, "1y": 3.15576e7}


def _grid(method: str, quick: bool) -> list[dict]:
    """Hyperparameter candidates of a method (chosen among on validation).

    Adam-trained parts: the learning rate on a generic grid, 1e-3 (Adam's usual) and 3e-3. SPSA: Spall's gains with
    ``A`` = 10 % of the steps (Spall 1998's rule, set in ``_build``), the step ``a`` on a grid,
    ``c`` = 0.01 (1 % of the weight range). MeZO: the step on a grid, ``eps`` = 1e-3 (the MeZO
    paper's). Antithetic (digits only, 8 queries per step): one setting.
    """
    if method == "spsa":
        g = [dict(a=0.01), dict(a=0.03)]
    elif method == "mezo":
        g = [dict(a=1e-3), dict(a=3e-3)]
    elif method == "antithetic":
        g = [dict(a=0.01)]
    else:
        g = [dict(lr=lr) for lr in ADAM_LRS]
    return g[:2] if quick else g


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
# data, systems, trainers
# ----------------------------------------------------------------------------------------------
def _data(spec: dict):
    """``(full split, development split)``: the development split trains on the training set
    minus a stratified validation set, which is its evaluation set; the full split's test set is
    read only by :func:`test_one`."""
    from physnn.data.digits import build_digits
    from physnn.data.mnist1d import build_mnist1d
    from physnn.random import generator_from_seed

    seed = spec["seed"]
    d = build_digits(seed) if spec["dataset"] == "digits" else build_mnist1d()
    if spec["quick"] and spec["dataset"] == "mnist1d":
        d = d.subset(1000, 500)
    if spec["substrate"] == "asic":  # ~0.1 s of simulated mining per sample: a 300/150 subset
        d = d.subset(300, 150)
    if spec["substrate"] in ("esn", "lsm", "lstm"):  # digits as 8 time steps of 8-pixel rows
        d = d._replace(x_train=d.x_train.view(-1, 8, 8), x_test=d.x_test.view(-1, 8, 8))
    dev = d.validation_split(VALIDATION, generator=generator_from_seed(seed + 7))
    return d, dev


def _x_scale(dev) -> float:
    """The input scale rule (training part only): 99th percentile of ``|x_train|``, 2 digits."""
    return float(f"{float(dev.x_train.abs().flatten().quantile(0.99)):.2g}")


def _build(spec: dict, dev):
    import torch

    from physnn.crossbar import CrossbarConfig, aihwkit_preset
    from physnn.training import (
        AnalogLinearSystem,
        AnalogLSTMSystem,
        ASICTimingSystem,
        BackpropTrainer,
        CaFoTrainer,
        DigitalEquivalentTrainer,
        ESNSystem,
        FrozenReadoutTrainer,
        HWATrainer,
        MonoForwardTrainer,
        NevergradTrainer,
        NoisyDriftingSystem,
        PhyLLTrainer,
        PhysicsAwareTrainer,
        ResistiveLSMSystem,
        ScatteringMedium,
        SequentialSystem,
        ZerothOrderTrainer,
    )

    method, dataset, substrate, hp = spec["method"], spec["dataset"], spec["substrate"], spec["hp"]
    D, C = dev.n_features, dev.n_classes
    H = 256 if dataset == "digits" else 512
    n_blocks = 1 if dataset == "digits" else 2
    cfg = aihwkit_preset() if method != "backprop" else CrossbarConfig.ideal()
    base = 1000 * spec["seed"]

    def xb(i, o, k):
        s = AnalogLinearSystem(i, o, config=cfg, generator=torch.Generator().manual_seed(base + 17 * k + 1))
        if spec["robust"]:
            s = NoisyDriftingSystem(
                s,
                noise=0.05,
                gain_drift=0.2,
                offset_walk=0.002,
                generator=torch.Generator().manual_seed(base + 17 * k + 2),
            )
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
            raise ValueError(f"substrate={substrate!r}: unknown")
        tr = {
            "frozen_random_baseline": lambda: FrozenReadoutTrainer(),
            "nevergrad": lambda: NevergradTrainer("CMA", budget=400),
            "spsa": lambda: ZerothOrderTrainer("spsa", a=0.05, c=0.02, relative=True),
            "pat": lambda: PhysicsAwareTrainer(lr=1e-2),
        }[method]()
        return tr, sy
    xs = _x_scale(dev)
    steps = spec["epochs"] * math.ceil(dev.x_train.shape[0] / spec["batch_size"])
    two = [xb(D, H, 0), xb(H, H, 1)]
    if method in ("phyll", "ff"):
        tr = PhyLLTrainer(
            goodness=method, hidden=H, label_scale=xs, epochs_per_block=max(1, spec["epochs"] // 2), lr=hp["lr"]
        )
        return tr, [xb(D + C, H, 0), xb(H, H, 1)]
    if method == "mono_forward":
        return MonoForwardTrainer(hidden=H, lr=hp["lr"]), two
    if method == "cafo":
        return CaFoTrainer(lr=hp["lr"]), two
    if method == "digital_equivalent_baseline":
        return DigitalEquivalentTrainer("blocks", hidden=H, lr=hp["lr"]), two
    if method == "digital_equivalent_baseline_cafo":
        return DigitalEquivalentTrainer("cafo", lr=hp["lr"]), two
    single = xb(D, H, 0) if n_blocks == 1 else SequentialSystem([xb(D, H, 0), xb(H, H, 1)])
    tr = {
        "spsa": lambda: ZerothOrderTrainer("spsa", a=hp["a"], c=0.01, A=0.1 * steps),
        "antithetic": lambda: ZerothOrderTrainer("antithetic", a=hp["a"], c=0.01, directions=4),
        "mezo": lambda: ZerothOrderTrainer("mezo", a=hp["a"], c=1e-3),
        "hwa": lambda: HWATrainer(lr=hp["lr"], input_range=xs),
        "pat": lambda: PhysicsAwareTrainer(lr=hp["lr"]),
        "backprop": lambda: BackpropTrainer(lr=hp["lr"]),
        "frozen_random_baseline": lambda: FrozenReadoutTrainer(lr=hp["lr"]),
    }[method]()
    return tr, single


# ----------------------------------------------------------------------------------------------
# one training run (child process): train on the development split, keep the best epoch
# ----------------------------------------------------------------------------------------------
def run_one(spec: dict) -> dict:
    """Train one (method, dataset, substrate, hyperparameters) on the development split; the
    best epoch on validation is saved to ``spec["state"]``. Never reads the test set."""
    import torch

    torch.set_num_threads(1)
    from physnn.training import BestEpoch, fit

    if not spec.get("warm"):
        _warm_up(crossbar=True)
    _, dev = _data(spec)
    hwm_ok = _reset_hwm()
    rss0 = _status_kib("VmRSS")
    t0 = time.perf_counter()
    tr, sy = _build(spec, dev)
    best = BestEpoch()
    h = fit(
        sy,
        dev,
        trainer=tr,
        epochs=spec["epochs"],
        batch_size=spec["batch_size"],
        seed=spec["seed"],
        progress=False,
        callbacks=[best],
    )
    wall = time.perf_counter() - t0
    peak = _status_kib("VmHWM") - rss0
    torch.save(best.state, spec["state"])
    out = {
        **spec,
        "val_accuracy": best.best_accuracy,
        "best_epoch": best.best_epoch,
        "queries": int(h.queries.values[-1]),
        "samples": int(h.samples.values[-1]),
        "eval_queries": int(h.eval_queries.values[-1]),
        "wall_time_s": wall,
        "peak_mem_MiB": peak / 1024.0,
        "hwm_reset": hwm_ok,
        "curve_val_acc": h.test_accuracy.values.tolist(),
        "curve_queries": h.queries.values.tolist(),
        "loadavg": os.getloadavg()[0],
    }
    if hasattr(tr, "twin_error_"):
        out["twin_error"] = [float(e) for e in tr.twin_error_]
        out["noise_floor"] = float(tr.noise_floor_)
    return out


def test_one(run: dict) -> dict:
    """The test accuracy of a chosen run, read once: the systems and trainer rebuilt as in the
    run, the saved best-epoch state loaded (a changed physical parameter is programmed afresh).
    HWA on digits also gets its drift evaluation (on the test set, after the choice)."""
    import torch

    from physnn.random import generator_from_seed
    from physnn.training import accuracy, drift_accuracy
    from physnn.training.loop import systems_of

    d, dev = _data(run)
    tr, sy = _build(run, dev)
    systems = systems_of(sy)
    tr.setup(systems, dev, generator_from_seed(run["seed"]))
    tr.load_state_dict(torch.load(run["state"], weights_only=False))
    out = {"test_accuracy": accuracy(tr, systems, d.x_test, d.y_test)}
    if run.get("drift"):
        res = drift_accuracy(
            tr,
            sy,
            d,
            tuple(DRIFT_TIMES.values()),
            ensemble=8,
            generator=torch.Generator().manual_seed(run["seed"] + 99),
        )
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
    model = torch.nn.Sequential(
        torch.nn.Linear(64, W), torch.nn.ReLU(), torch.nn.Linear(W, W), torch.nn.ReLU(), torch.nn.Linear(W, 10)
    )
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
    return {
        "mode": mode,
        "peak_MiB": (_status_kib("VmHWM") - rss0) / 1024.0,
        "n_params": n_params,
        "hwm_reset": ok,
        "params_MiB": n_params * 4 / 2**20,
    }


# ----------------------------------------------------------------------------------------------
def _run_all(specs: list[dict], in_process: bool, workers: int, log) -> list[dict]:
    """Train every spec (children, ``workers`` at a time, longest first; or in this process)."""
    if in_process:
        return [log(s, run_one(s)) for s in specs]
    order = sorted(range(len(specs)), key=lambda i: -specs[i].get("cost", 1.0))
    out: list = [None] * len(specs)
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), max_tasks_per_child=1) as ex:
        futs = {i: ex.submit(run_one, specs[i]) for i in order}
        for i in order:
            out[i] = log(specs[i], futs[i].result())
    return out


def _child(fn, spec):
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"), max_tasks_per_child=1) as ex:
        return ex.submit(fn, spec).result()


#: relative cost of a run (an epoch of MNIST-1D, measured), for packing two workers
_COST = {
    "mezo": 9,
    "spsa": 6,
    "hwa": 4,
    "pat": 3,
    "backprop": 2.5,
    "phyll": 2,
    "ff": 2,
    "digital_equivalent_baseline": 2,
    "mono_forward": 1.6,
    "cafo": 0.8,
    "digital_equivalent_baseline_cafo": 0.8,
}


def _choose(runs: list[dict]) -> dict:
    """The run with the highest validation accuracy (ties: the first candidate of the grid)."""
    return max(runs, key=lambda r: (r["val_accuracy"], -r["candidate"]))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "train_physical")
    ap.add_argument("--only", default=None, help="comma-separated methods (debugging)")
    ap.add_argument("--workers", type=int, default=2, help="training runs at a time (full runs)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    q = args.quick
    E = EPOCHS_QUICK if q else EPOCHS
    only = set(args.only.split(",")) if args.only else None
    tmp = Path(tempfile.mkdtemp(prefix="train_physical-"))
    n_spec = [0]

    def spec(**kw):
        n_spec[0] += 1
        base = dict(
            substrate="crossbar",
            robust=False,
            batch_size=64,
            seed=args.seed,
            quick=q,
            hp={},
            candidate=0,
            drift=False,
            state=str(tmp / f"run{n_spec[0]}.pt"),
        )
        return {**base, **kw}

    # stage 1: the main comparison, every candidate of every method's grid
    specs = []
    for ds in ("digits", "mnist1d"):
        for m in METHODS:
            if (only and m not in only) or (m == "antithetic" and ds != "digits"):
                continue
            for c, hp in enumerate(_grid(m, q)):
                specs.append(
                    spec(
                        method=m,
                        dataset=ds,
                        epochs=E[ds],
                        hp=hp,
                        candidate=c,
                        drift=(m == "hwa" and ds == "digits"),
                        cost=_COST.get(m, 1.0) * (1.0 if ds == "mnist1d" else 0.1) * E[ds],
                    )
                )

    import torch

    torch.set_num_threads(1)  # this process: --quick's runs and every test evaluation
    in_process = q and _reset_hwm()
    if in_process:
        _warm_up(crossbar=True)
    t_all = time.perf_counter()
    done = [0]

    def log(s, r):
        done[0] += 1
        print(
            f"[{done[0]}] {s['dataset']:8s} {s['substrate']:10s} {s['method']:32s}{' robust' if s['robust'] else '':7s} "
            f"{str(s['hp']):14s} val {r['val_accuracy']:.3f} (epoch {r['best_epoch']:2d}/{s['epochs']}) "
            f"queries {r['queries']:7d} wall {r['wall_time_s']:6.1f} s peak {r['peak_mem_MiB']:7.1f} MiB "
            f"load {r['loadavg']:.1f}",
            flush=True,
        )
        return r

    main_runs = _run_all(specs, in_process, args.workers, log)
    chosen = {}
    for ds in ("digits", "mnist1d"):
        for m in METHODS:
            rs = [r for r in main_runs if r["dataset"] == ds and r["method"] == m]
            if rs:
                chosen[(ds, m)] = _choose(rs)

    # stage 2: robustness (the settings chosen on the clean system) and other substrates (fixed settings)
    specs2 = []
    for m in ("frozen_random_baseline", "spsa", "pat", "mono_forward"):
        if (only and m not in only) or (q and m in ("spsa", "mono_forward")) or ("digits", m) not in chosen:
            continue
        specs2.append(
            spec(
                method=m,
                dataset="digits",
                robust=True,
                epochs=E["digits"],
                hp=chosen[("digits", m)]["hp"],
                cost=_COST.get(m, 1.0) * 0.1 * E["digits"],
            )
        )
    subs = [("esn", "nevergrad"), ("lsm", "frozen_random_baseline"), ("scattering", "pat")]
    if not q:
        subs += [
            ("esn", "frozen_random_baseline"),
            ("lsm", "nevergrad"),
            ("lstm", "frozen_random_baseline"),
            ("lstm", "spsa"),
            ("scattering", "frozen_random_baseline"),
            ("scattering", "spsa"),
            ("asic", "frozen_random_baseline"),
        ]
    for sub, m in subs:
        if only and m not in only:
            continue
        specs2.append(
            spec(
                method=m,
                dataset="digits",
                substrate=sub,
                epochs=3 if sub == "asic" else (2 if q else 10),
                cost=30.0 if sub == "asic" else 1.0,
            )
        )
    other_runs = _run_all(specs2, in_process, args.workers, log)

    # the test set, once per chosen setting (this process; nothing is chosen after this)
    finals = list(chosen.values()) + other_runs
    for r in finals:
        r.update(test_one(r))
        r["chosen"] = True
    train_wall = time.perf_counter() - t_all

    mem = {}
    for mode in ("inference", "mezo", "adam"):
        mem[mode] = _child(mem_one, dict(mode=mode, width=1024 if q else 2048, batch=256, steps=3 if q else 20))
    mezo_ratio = mem["mezo"]["peak_MiB"] / mem["inference"]["peak_MiB"]
    print(
        f"memory ({mem['inference']['n_params']} params, {mem['inference']['params_MiB']:.1f} MiB): "
        + ", ".join(f"{k} {v['peak_MiB']:.1f} MiB" for k, v in mem.items()),
        flush=True,
    )

    summary = _write(main_runs, chosen, other_runs, mem, args, time.perf_counter() - t_all, train_wall)
    summary["mezo_mem_ratio"] = round(mezo_ratio, 4)
    for p in tmp.glob("*.pt"):
        p.unlink()
    tmp.rmdir()
    return summary


def _pts(a: float, b: float) -> float:
    return round(100.0 * (a - b), 1)


def _write(main_runs, chosen, other_runs, mem, args, wall_total, train_wall) -> dict:
    import xarray as xr

    all_runs = main_runs + other_runs
    E = EPOCHS_QUICK if args.quick else EPOCHS
    nan = float("nan")
    runs = xr.Dataset(
        {
            "val_accuracy": (
                "run",
                [r["val_accuracy"] for r in all_runs],
                {"units": "1", "long_name": "validation accuracy of the best epoch"},
            ),
            "test_accuracy": (
                "run",
                [r.get("test_accuracy", nan) for r in all_runs],
                {
                    "units": "1",
                    "long_name": "test accuracy (read only for the setting chosen on validation; nan otherwise)",
                },
            ),
            "best_epoch": (
                "run",
                [r["best_epoch"] for r in all_runs],
                {"units": "1", "long_name": "epoch chosen on validation"},
            ),
            "epochs": ("run", [r["epochs"] for r in all_runs], {"units": "1", "long_name": "epoch budget"}),
            "chosen": (
                "run",
                [int(r.get("chosen", False)) for r in all_runs],
                {"units": "1", "long_name": "1: chosen on validation"},
            ),
            "queries": (
                "run",
                [r["queries"] for r in all_runs],
                {"units": "1", "long_name": "physical queries of training (calls)"},
            ),
            "samples": (
                "run",
                [r["samples"] for r in all_runs],
                {"units": "1", "long_name": "input vectors sent to the physical systems"},
            ),
            "wall_time": (
                "run",
                [r["wall_time_s"] for r in all_runs],
                {"units": "s", "long_name": "wall-clock time of the run"},
            ),
            "peak_memory": (
                "run",
                [r["peak_mem_MiB"] * 2**20 for r in all_runs],
                {
                    "units": "B",
                    "long_name": "peak resident memory growth of the run's process (VmHWM - VmRSS at start)",
                },
            ),
            "loadavg": (
                "run",
                [r["loadavg"] for r in all_runs],
                {"units": "1", "long_name": "1-min load average at the end of the run"},
            ),
        },
        coords={
            "run": ("run", np.arange(len(all_runs)), {"units": "1", "long_name": "run index"}),
            "method": ("run", [r["method"] for r in all_runs], {"units": "1", "long_name": "training method"}),
            "hyperparameters": ("run", [str(r["hp"]) for r in all_runs], {"units": "1", "long_name": "grid candidate"}),
            "dataset": ("run", [r["dataset"] for r in all_runs], {"units": "1", "long_name": "dataset"}),
            "substrate": ("run", [r["substrate"] for r in all_runs], {"units": "1", "long_name": "physical substrate"}),
            "robust": (
                "run",
                [int(r["robust"]) for r in all_runs],
                {"units": "1", "long_name": "1: drifting, noisy system during training"},
            ),
        },
        attrs={
            "title": "physnn issues 11/21: training physical networks in a model-free loop, compared fairly",
            "seed": args.seed,
            "quick": int(args.quick),
            "cpu_count": os.cpu_count(),
            "validation_split": VALIDATION,
        },
    )
    hwa = chosen.get(("digits", "hwa"))
    if hwa and "drift" in hwa:
        runs["hwa_drift_accuracy"] = xr.DataArray(
            [hwa["drift"][k][0] for k in DRIFT_TIMES],
            dims="drift_time",
            attrs={
                "units": "1",
                "long_name": "HWA digits test accuracy after drift, mean of 8 chips, global drift compensation",
            },
        )
        runs["hwa_drift_accuracy_std"] = xr.DataArray(
            [hwa["drift"][k][1] for k in DRIFT_TIMES],
            dims="drift_time",
            attrs={"units": "1", "long_name": "std over the 8 chips"},
        )
        runs = runs.assign_coords(
            drift_time=("drift_time", list(DRIFT_TIMES.values()), {"units": "s", "long_name": "time since programming"})
        )
    from _publish import save_netcdf

    save_netcdf(runs, args.out / "train_physical.nc")
    # figure: validation accuracy vs queries of the chosen settings
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, ds in zip(axes, ("digits", "mnist1d")):
        for (d_, m), r in chosen.items():
            if d_ != ds:
                continue
            qs = np.asarray(r["curve_queries"], float)
            if qs[-1] > 0:
                ax.plot(qs, r["curve_val_acc"], marker="o", ms=2.5, label=m)
            else:
                ax.axhline(
                    r["val_accuracy"],
                    ls="--",
                    lw=1,
                    label=f"{m} (0 queries: simulation gradient)",
                    color="k" if m == "backprop" else "gray",
                )
        ax.set_xscale("log")
        ax.set_xlabel("physical queries of training")
        ax.set_ylabel("validation accuracy")
        ax.set_title(f"{ds} (setting chosen on validation)")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(args.out / "accuracy_vs_queries.png", dpi=120)
    plt.close(fig)

    acc = {
        ds: {m: round(chosen[(ds, m)]["test_accuracy"], 4) for m in METHODS if (ds, m) in chosen}
        for ds in ("digits", "mnist1d")
    }
    gain_frozen, gain_de, gain_best = {}, {}, {}
    for ds, a in acc.items():
        digital = [a[b] for b in BASELINES if b in a]
        gain_frozen[ds] = {
            m: _pts(v, a["frozen_random_baseline"])
            for m, v in a.items()
            if m not in BASELINES and "frozen_random_baseline" in a
        }
        gain_de[ds] = {
            m: _pts(v, a[DIGITAL_EQUIVALENT_OF[m]])
            for m, v in a.items()
            if m in DIGITAL_EQUIVALENT_OF and DIGITAL_EQUIVALENT_OF[m] in a
        }
        gain_best[ds] = {m: _pts(v, max(digital)) for m, v in a.items() if m not in BASELINES and digital}
    cands = {m: g for m, g in gain_de.get("mnist1d", {}).items() if m in TRAINS_PHYSICAL}
    best_m = max(cands, key=cands.get) if cands else None
    target = {
        "criterion": "MNIST-1D: a model-free method that trains the crossbar weights beats the "
        "digital-equivalent baseline of its architecture by >= 2 points (test, chosen on validation)",
        "method": best_m,
        "gain_points": cands.get(best_m),
        "met": bool(best_m and cands[best_m] >= 2.0),
    }
    chosen_json = {
        ds: {
            m: {
                "hyperparameters": chosen[(ds, m)]["hp"],
                "best_epoch": chosen[(ds, m)]["best_epoch"],
                "val_accuracy": round(chosen[(ds, m)]["val_accuracy"], 4),
            }
            for m in METHODS
            if (ds, m) in chosen
        }
        for ds in ("digits", "mnist1d")
    }
    queries = {
        ds: {m: chosen[(ds, m)]["queries"] for m in METHODS if (ds, m) in chosen} for ds in ("digits", "mnist1d")
    }
    drift = {k: round(hwa["drift"][k][0], 4) for k in DRIFT_TIMES} if hwa and "drift" in hwa else {}
    others = {
        f"{r['substrate']}/{r['method']}{'/robust' if r['robust'] else ''}": round(r["test_accuracy"], 4)
        for r in other_runs
    }

    lines = [
        "# train_physical (issues #11, #21)",
        "",
        f"seed {args.seed}, quick={args.quick}, total wall {wall_total:.0f} s (training {train_wall:.0f} s, "
        f"{args.workers if not args.quick else 1} run(s) at a time), load average at the end {os.getloadavg()[0]:.1f}",
        "",
        f"Validation: {VALIDATION:.0%} of each training set (stratified); every grid candidate and the epoch "
        f"(best of the budget) chosen on validation; test read once for the chosen setting. Epoch budget, "
        f"every method: digits {E['digits']}, MNIST-1D {E['mnist1d']}.",
        "",
        "| dataset | method | chosen | epoch | val acc | test acc | Δ frozen | Δ digital equivalent (which) | queries | wall s | peak MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ds in ("digits", "mnist1d"):
        for m in METHODS:
            r = chosen.get((ds, m))
            if r is None:
                continue
            de = DIGITAL_EQUIVALENT_OF.get(m)
            gf = gain_frozen[ds].get(m)
            gd = gain_de[ds].get(m)
            lines.append(
                f"| {ds} | {m} | {r['hp']} | {r['best_epoch']}/{r['epochs']} | {r['val_accuracy']:.3f} | "
                f"{r['test_accuracy']:.3f} | {'' if gf is None else f'{gf:+.1f}'} | "
                f"{'' if gd is None else f'{gd:+.1f} ({de})'} | {r['queries']} | {r['wall_time_s']:.1f} | "
                f"{r['peak_mem_MiB']:.1f} |"
            )
    lines += [
        "",
        "Other substrates and the robustness runs (digits; fixed settings, epoch on validation):",
        "",
        "| substrate | method | robust | epoch | val acc | test acc | queries | wall s | peak MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in other_runs:
        lines.append(
            f"| {r['substrate']} | {r['method']} | {'yes' if r['robust'] else ''} | {r['best_epoch']}/{r['epochs']} | "
            f"{r['val_accuracy']:.3f} | {r['test_accuracy']:.3f} | {r['queries']} | {r['wall_time_s']:.1f} | "
            f"{r['peak_mem_MiB']:.1f} |"
        )
    lines += [
        "",
        "Every grid candidate (validation only):",
        "",
        "| dataset | method | hyperparameters | epoch | val acc |",
        "|---|---|---|---|---|",
    ]
    for r in main_runs:
        lines.append(
            f"| {r['dataset']} | {r['method']} | {r['hp']} | {r['best_epoch']}/{r['epochs']} | {r['val_accuracy']:.3f} |"
        )
    lines += [
        "",
        f"Target: {target}",
        "",
        "HWA (digits) after drift, 8 chips, global drift compensation: "
        + ", ".join(f"{k} {v:.3f}" for k, v in drift.items()),
        "",
    ]
    for r in list(chosen.values()) + other_runs:
        if "twin_error" in r:
            te = r["twin_error"]
            lines.append(
                f"PAT twin relative RMS error ({r['dataset']}, {r['substrate']}{', robust' if r['robust'] else ''}): "
                f"first {te[0]:.3f}, last {te[-1]:.3f} ({len(te)} fits); the system's own noise "
                f"(a repeated query): {r['noise_floor']:.3f}"
            )
    lines += [
        "",
        "MeZO memory (MLP 64-W-W-10, batch 256): "
        + ", ".join(f"{k} {v['peak_MiB']:.1f} MiB" for k, v in mem.items())
        + f"; parameters {mem['inference']['n_params']}",
    ]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    summary = {
        "validation_split": VALIDATION,
        "epoch_budget": {
            **E,
            "rule": "every method the same number of epochs (passes over the training part); "
            "PhyLL/FF half per block; the epoch reported is the best on validation",
        },
        "digits_acc": acc["digits"],
        "mnist1d_acc": acc["mnist1d"],
        "gain_over_frozen": gain_frozen,
        "gain_over_digital_equivalent": gain_de,
        "gain_over_best_digital_baseline": gain_best,
        "digital_equivalent_of": DIGITAL_EQUIVALENT_OF,
        "target": target,
        "chosen": chosen_json,
        "queries": queries,
        "other_substrates_acc": others,
        "hwa_drift_acc": drift,
        "mezo_params": mem["inference"]["n_params"],
        "mezo_peak_MiB": round(mem["mezo"]["peak_MiB"], 2),
        "inference_peak_MiB": round(mem["inference"]["peak_MiB"], 2),
        "adam_peak_MiB": round(mem["adam"]["peak_MiB"], 2),
        "wall_time_s": round(wall_total, 1),
        "loadavg": round(os.getloadavg()[0], 2),
    }
    te = [r for r in chosen.values() if "twin_error" in r]
    if te:
        summary["pat_twin_error"] = {r["dataset"]: round(r["twin_error"][-1], 4) for r in te}
        summary["pat_noise_floor"] = {r["dataset"]: round(r["noise_floor"], 4) for r in te}
    return summary


if __name__ == "__main__":
    from _publish import publish

    _args = sys.argv[1:]
    figures = main(_args)
    publish("train_physical", figures, quick="--quick" in _args)
