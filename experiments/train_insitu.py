"""Crossbars that learn in place (issue 23): analog SGD vs Tiki-Taka v2 vs mixed precision vs
float SGD, same MLP, soft-bounds devices with up/down asymmetry.

Every weight of the in-situ runs lives on an :class:`~physnn.crossbar.AnalogLinear` array whose
devices are :class:`~physnn.crossbar.update.SoftBounds` (``states`` = (w_max - w_min)/dw_min,
up/down imbalance ``up_down`` = asymmetry, so the symmetry point sits at w = asymmetry; spreads:
dw_min 10 %, up_down 0.01, bounds 5 %, cycle-to-cycle 30 % per pulse). The forward and backward
read the array (ideal periphery); the gradient ``delta^T x`` is written as pulses (stochastic
rounding of ``-lr grad / dw_min``). Biases are a column of devices driven by a constant-1 input
(aihwkit's analog bias), trained by the same method; the float MLP has the same parameters.

Protocol: 20 % of the training split is held out as validation; each method's learning rate
is chosen on it (grid ``LRS``, the accuracy after the last epoch); the test set is read once,
with the chosen rate. ``update_ratio``: one in-situ step of a 512 x 512 layer, batch 64 (forward,
backward, pulsed update) over the float step (nn.Linear forward, backward, SGD), both at 2 torch
threads, same warm-up, median of repeats, run side by side.

States sweep (digits): the three in-situ rules on symmetric soft-bounds devices with 20, 100 and
1,000 states (the 1,000-state point is ``digits_acc``), each rate chosen on validation again.

Model-free trainers writing through pulses (digits, issue 23 item 3): SPSA and PAT train a
64 -> 256 crossbar (:class:`~physnn.training.AnalogLinearSystem`, ideal periphery, ReLU) plus a
digital readout, once with ideal write-verify (:class:`~physnn.training.IdealWrite`: every
changed weight vector is written exactly) and once with every change -- each SPSA perturbation
and update, each PAT step -- written open loop as pulses through the benchmark's soft-bounds
device (:class:`~physnn.training.PulsedWrite`, 1,000 states, the spreads and 30 % cycle-to-cycle
noise above, stochastic rounding of the pulse counts). Same data order, same initial weights, the
step (SPSA ``a``, PAT ``lr``) chosen on validation per write model from the same grid
(``MF_GRID``; SPSA ``c`` = 0.01 and ``A`` = 10 % of the steps as in ``train_physical.py``),
trained on the 80 % development part, accuracy after the last epoch on validation; the chosen
run's trained state reads the test set once. ``pulses_per_device`` of those runs counts every
pulse of training and evaluation per cross-point.

SPSA's pulsed writes, open loop and closed loop. Open loop, each SPSA step writes the round trip
``theta + c d``, ``theta - c d``, next ``theta' + c d'`` (about ``2c / dw_min`` = 10 pulses each
way per device); on soft-bounds devices up and down pulses are not inverse (the up step shrinks
as ``1 - w/w_max``, the down step grows), so every round trip pulls a weight towards the
symmetry point, and the 30 % step noise random-walks it: the features the readout learns drift
under it (``spsa_open_loop_acc``, ``weight_error_mean`` of its run). ``spsa_pulsed_acc`` is the
same device written with program-and-verify (:class:`~physnn.training.WriteVerify`, settings
``VERIFY``, fixed a priori): after each write the array is read back and every device more than
one step off the *requested* weight gets correction pulses, so the held weights stay within one
step of the request whatever the history; every correction pulse is in ``pulses_per_device``
and every read in ``verify_reads``. ``frozen_readout_acc``: the same crossbar never trained
(readout only), the floor both SPSA runs are judged against.

PhyLL with its digital layer on a second, pulsed crossbar (issue 23 item 3): a frozen ideal
crossbar block (random weights) feeds PhyLL's trainable layer ``W [P(h), h]``, which is either
digital (Adam, ``phyll_digital_acc``) or an :class:`~physnn.crossbar.AnalogLinear` array of the
benchmark's soft-bounds device trained in place by analog SGD
(:class:`~physnn.training.PulsedLayers`, ``phyll_pulsed_acc``; its pulses in ``phyll``); the
learning rate of each chosen on validation (``PHYLL_GRID``), the test set read once.

Figure: ``results/train_insitu/accuracy_vs_asymmetry.png`` (``quick_`` prefix with ``--quick``):
MNIST-1D test accuracy against the devices' up/down asymmetry, one line per rule.

Usage: ``python experiments/train_insitu.py [--quick]``; last line: one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved  # noqa: E402

from physnn.crossbar import AnalogLinear, CrossbarConfig  # noqa: E402
from physnn.crossbar.update import (
    AnalogSGD,
    DeterministicPulses,
    MixedPrecision,  # noqa: E402
    SoftBounds,
    TikiTakaV2,
)
from physnn.data.digits import build_digits  # noqa: E402
from physnn.data.mnist1d import build_mnist1d  # noqa: E402

QUICK = "--quick" in sys.argv[1:]
SEED = 0
#: hyperparameter grids, chosen on validation: the lr; for Tiki-Taka (lr of A, transfer_lr)
LRS = {
    "float_sgd": (0.05, 0.1, 0.2, 0.5),
    "analog_sgd": (0.1, 0.2, 0.5),
    "tiki_taka": ((3.0, 0.003), (10.0, 0.003), (3.0, 0.01)),
    "mixed_precision": (0.1, 0.2, 0.5),
}
if QUICK:
    LRS = {k: v[-1:] for k, v in LRS.items()}
EPOCHS = {"digits": 3 if QUICK else 25, "mnist1d": 2 if QUICK else 20}
BATCH = 32
HIDDEN = {"digits": 64, "mnist1d": 128}
TT = dict(transfer_every=1, columns=None, max_transfer_pulses=1)
#: states of Tiki-Taka's fast array A (same device family; TTv2's buffer H lets A have few
#: states, Gokmen 2021; Rasch et al. 2024); C, like the analog-SGD and mixed-precision arrays,
#: has the benchmark's number of states
TT_FAST_STATES = 100
#: number-of-states sweep (digits; 1000 is the digits_acc run)
STATES = (20,) if QUICK else (20, 100)
#: model-free trainers writing through pulses: grid of each (chosen on validation), epochs, width
MF_GRID = {"spsa": ({"a": 0.01}, {"a": 0.03}), "pat": ({"lr": 1e-3}, {"lr": 3e-3})}
if QUICK:
    MF_GRID = {k: v[-1:] for k, v in MF_GRID.items()}
MF_EPOCHS = 2 if QUICK else 20
MF_HIDDEN = 256
MF_BATCH = 64
#: SPSA's write scheme on the pulsed crossbar: program-and-verify after every write (fixed a
#: priori, not tuned: one nominal step is the finest error whole pulses can correct under
#: rounding and 30 % step noise; 3 read-and-correct rounds)
VERIFY = {"tolerance": 1.0, "max_iterations": 3, "read_noise": 0.0}
#: PhyLL's digital layer on a second, pulsed crossbar (issue 23 item 3): grids chosen on
#: validation (digital: Adam lr; pulsed: analog-SGD lr), epochs, widths
PHYLL_GRID = {"digital": (3e-3, 1e-2), "pulsed": (0.1, 0.3)}
if QUICK:
    PHYLL_GRID = {k: v[-1:] for k, v in PHYLL_GRID.items()}
PHYLL_EPOCHS = 2 if QUICK else 10
PHYLL_PHYSICAL, PHYLL_HIDDEN = 128, 64


def device(asym: float, states: int = 1000) -> SoftBounds:
    return SoftBounds(
        dw_min=2.0 / states,
        up_down=asym,
        w_min=-1.0,
        w_max=1.0,
        dw_min_dtod=0.1,
        up_down_dtod=0.01,
        w_max_dtod=0.05,
        w_min_dtod=0.05,
        dw_min_std=0.3,
    )


def standardise(split):
    mu, sd = split.x_train.mean(0), split.x_train.std(0).clamp(min=1e-6)
    return split._replace(x_train=(split.x_train - mu) / sd, x_test=(split.x_test - mu) / sd)


def init_weights(n_in: int, n_hidden: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    l1, l2 = torch.nn.Linear(n_in, n_hidden), torch.nn.Linear(n_hidden, 10)
    for l in (l1, l2):
        b = 1.0 / l.in_features**0.5
        with torch.no_grad():
            l.weight.uniform_(-b, b, generator=g)
            l.bias.zero_()
    return l1, l2


def batches(n: int, epoch: int, seed: int):
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
    return [perm[i : i + BATCH] for i in range(0, n, BATCH)]


def accuracy(fwd, x, y) -> float:
    with torch.no_grad():
        return float((fwd(x).argmax(-1) == y).float().mean())


def train_float(split, hidden, lr, epochs, seed):
    l1, l2 = init_weights(split.n_features, hidden, seed)
    opt = torch.optim.SGD(list(l1.parameters()) + list(l2.parameters()), lr=lr)
    fwd = lambda x: l2(torch.relu(l1(x)))  # noqa: E731
    for ep in range(epochs):
        for idx in batches(len(split.y_train), ep, seed):
            opt.zero_grad()
            F.cross_entropy(fwd(split.x_train[idx]), split.y_train[idx]).backward()
            opt.step()
    return fwd, {}


def with_one(x: torch.Tensor) -> torch.Tensor:
    """Input with a constant-1 column: the bias is a column of devices (aihwkit's analog bias)."""
    return torch.cat((x, torch.ones(*x.shape[:-1], 1, dtype=x.dtype)), -1)


def train_analog(split, hidden, lr, epochs, seed, method, dev):
    f1, f2 = init_weights(split.n_features, hidden, seed)
    cfg = CrossbarConfig.ideal(w_max=1.0, update=dev)
    gen = torch.Generator().manual_seed(seed + 17)
    layers = []
    for f in (f1, f2):  # weights and bias on the array: (out, in + 1)
        l = AnalogLinear(f.in_features + 1, f.out_features, bias=False, config=cfg, generator=gen).eval()
        with torch.no_grad():
            l.weight.copy_(torch.cat((f.weight, f.bias[:, None]), 1))
        layers.append(l.program())
    if method == "analog_sgd":
        opt = AnalogSGD(layers, lr=lr)
    elif method == "tiki_taka":
        fast = dev.replace(dw_min=(dev.w_max - dev.w_min) / TT_FAST_STATES)
        lr, tl = lr
        opt = TikiTakaV2(layers, lr=lr, transfer_lr=tl, generator=gen, fast_model=fast, **TT)
    else:
        opt = MixedPrecision(layers, lr=lr)
    l1, l2 = layers

    def fwd(x):
        return l2(with_one(torch.relu(l1(with_one(x)))))

    for ep in range(epochs):
        for idx in batches(len(split.y_train), ep, seed):
            x, y = with_one(split.x_train[idx]), split.y_train[idx]
            z1 = l1(x).detach().requires_grad_()
            a1 = with_one(torch.relu(z1))
            z2 = l2(a1)
            z2.retain_grad()
            F.cross_entropy(z2, y).backward()
            opt.step([z1.grad.T @ x, z2.grad.T @ a1.detach()])
    pulses = [l.pulses_.float() for l in layers]
    info = {"pulses_per_device": float(sum(p.sum() for p in pulses) / sum(p.numel() for p in pulses))}
    if method == "tiki_taka":
        a = [p.float() for p in opt.a_pulses_]
        info["a_pulses_per_device"] = float(sum(p.sum() for p in a) / sum(p.numel() for p in a))
    return fwd, info


def run(split, name, method, lr, epochs, dev, seed=SEED):
    if method == "float_sgd":
        return train_float(split, HIDDEN[name], lr, epochs, seed)
    return train_analog(split, HIDDEN[name], lr, epochs, seed, method, dev)


def select_and_test(split, name, method, dev, log):
    val = split.validation_split(0.2, generator=torch.Generator().manual_seed(SEED))
    best = None
    for lr in LRS[method]:
        t0 = time.perf_counter()
        fwd, _ = run(val, name, method, lr, EPOCHS[name], dev)
        acc = accuracy(fwd, val.x_test, val.y_test)
        log.append(
            {
                "dataset": name,
                "method": method,
                "asym": None if dev is None else dev.up_down,
                "lr": lr,
                "val_acc": round(acc, 4),
                "s": round(time.perf_counter() - t0, 1),
            }
        )
        print(log[-1], flush=True)
        if best is None or acc > best[0]:
            best = (acc, lr)
    t0 = time.perf_counter()
    fwd, info = run(split, name, method, best[1], EPOCHS[name], dev)
    wall = time.perf_counter() - t0
    test = accuracy(fwd, split.x_test, split.y_test)
    return {
        "test_acc": round(test, 4),
        "lr": best[1],
        "val_acc": round(best[0], 4),
        "wall_time_s": round(wall, 2),
        **info,
    }


def model_free(digits, method: str, write: str, log: list) -> dict:
    """SPSA or PAT on a crossbar system with ideal or pulsed writes (see the module doc)."""
    import math

    from physnn.training import (
        AnalogLinearSystem,
        IdealWrite,
        PhysicsAwareTrainer,
        PulsedWrite,
        WriteVerify,
        ZerothOrderTrainer,
        fit,
    )
    from physnn.training import accuracy as sys_accuracy

    dev = digits.validation_split(0.2, generator=torch.Generator().manual_seed(SEED))
    steps = MF_EPOCHS * math.ceil(dev.x_train.shape[0] / MF_BATCH)
    runs = []
    for hp in MF_GRID[method]:
        rule = DeterministicPulses(stochastic_rounding=True)
        w = (
            IdealWrite()
            if write == "ideal"
            else PulsedWrite(update=device(0.0), rule=rule)
            if write == "pulsed"
            else PulsedWrite(update=device(0.0), rule=rule, verify=WriteVerify(**VERIFY))
        )
        sy = AnalogLinearSystem(
            digits.n_features,
            MF_HIDDEN,
            config=CrossbarConfig.ideal(w_max=1.0),
            write=w,
            generator=torch.Generator().manual_seed(SEED + 23),
        )
        tr = (
            ZerothOrderTrainer("spsa", a=hp["a"], c=0.01, A=0.1 * steps)
            if method == "spsa"
            else PhysicsAwareTrainer(lr=hp["lr"])
        )
        t0 = time.perf_counter()
        h = fit(sy, dev, trainer=tr, epochs=MF_EPOCHS, batch_size=MF_BATCH, seed=SEED, progress=False)
        wall = time.perf_counter() - t0
        val = float(h.test_accuracy.values[-1])
        log.append(
            {"dataset": "digits", "method": method, "write": write, **hp, "val_acc": round(val, 4), "s": round(wall, 1)}
        )
        print(log[-1], flush=True)
        runs.append((val, hp, tr, sy, h, wall))
    val, hp, tr, sy, h, wall = max(runs, key=lambda r: r[0])  # ties: the first
    err = (sy.written_weight.flatten() - sy.parameters.clip(tr.theta)).abs()  # held vs requested, end of training
    test = sys_accuracy(tr, sy, digits.x_test, digits.y_test)
    return {
        "test_acc": round(test, 4),
        "hp": hp,
        "val_acc": round(val, 4),
        "wall_time_s": round(wall, 2),
        "writes": int(sy.writes),
        "queries": int(h.queries.values[-1]),
        "pulses_per_device": round(sy.pulses_per_device, 1),
        "verify_reads": int(sy.verify_reads),
        "weight_error_mean": round(float(err.mean()), 5),
        "weight_error_max": round(float(err.max()), 5),
    }


def frozen_readout(digits) -> float:
    """The frozen-random-crossbar baseline of the model-free runs (same system, readout only)."""
    from physnn.training import AnalogLinearSystem, FrozenReadoutTrainer, fit
    from physnn.training import accuracy as sys_accuracy

    dev = digits.validation_split(0.2, generator=torch.Generator().manual_seed(SEED))
    sy = AnalogLinearSystem(
        digits.n_features,
        MF_HIDDEN,
        config=CrossbarConfig.ideal(w_max=1.0),
        generator=torch.Generator().manual_seed(SEED + 23),
    )
    tr = FrozenReadoutTrainer()
    fit(sy, dev, trainer=tr, epochs=MF_EPOCHS, batch_size=MF_BATCH, seed=SEED, progress=False)
    return round(sys_accuracy(tr, sy, digits.x_test, digits.y_test), 4)


def phyll(digits, layers: str, log: list) -> dict:
    """PhyLL around a frozen crossbar block, its digital layer digital (Adam) or on a second,
    pulsed crossbar (analog SGD through the benchmark's soft-bounds device), lr on validation."""
    from physnn.training import AnalogLinearSystem, PhyLLTrainer, PulsedLayers, fit
    from physnn.training import accuracy as sys_accuracy

    dev = digits.validation_split(0.2, generator=torch.Generator().manual_seed(SEED))
    C = digits.n_classes
    runs = []
    for lr in PHYLL_GRID[layers]:
        ins = (
            None
            if layers == "digital"
            else PulsedLayers(config=CrossbarConfig.ideal(w_max=1.0, update=device(0.0)), lr=lr)
        )
        sy = AnalogLinearSystem(
            digits.n_features + C,
            PHYLL_PHYSICAL,
            config=CrossbarConfig.ideal(w_max=1.0),
            generator=torch.Generator().manual_seed(SEED + 29),
        )
        tr = PhyLLTrainer(hidden=PHYLL_HIDDEN, epochs_per_block=PHYLL_EPOCHS, lr=lr, in_situ=ins)
        t0 = time.perf_counter()
        h = fit(sy, dev, trainer=tr, epochs=PHYLL_EPOCHS, batch_size=BATCH, seed=SEED, progress=False)
        wall = time.perf_counter() - t0
        val = float(h.test_accuracy.values[-1])
        log.append(
            {
                "dataset": "digits",
                "method": "phyll",
                "layers": layers,
                "lr": lr,
                "val_acc": round(val, 4),
                "s": round(wall, 1),
            }
        )
        print(log[-1], flush=True)
        runs.append((val, lr, tr, sy, h, wall))
    val, lr, tr, sy, h, wall = max(runs, key=lambda r: r[0])
    test = sys_accuracy(tr, sy, digits.x_test, digits.y_test)
    out = {"test_acc": round(test, 4), "lr": lr, "val_acc": round(val, 4), "wall_time_s": round(wall, 2)}
    if tr.xbar is not None:
        out.update(
            layer_pulses=int(h.layer_pulses.values[-1]),
            layer_writes=int(h.layer_writes.values[-1]),
            layer_pulses_per_device=round(tr.xbar.pulses_per_device(), 1),
        )
    return out


def figure(acc_by_asym: dict) -> str:
    """Accuracy vs asymmetry, one line per rule (physnn.plot.lines_ci), saved under results/."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import xarray as xr

    from physnn.plot import lines_ci

    keys = sorted(acc_by_asym, key=lambda k: int(k[4:]))
    rules = sorted({m for v in acc_by_asym.values() for m in v})
    acc = np.array([[acc_by_asym[k].get(m, np.nan) or np.nan for k in keys] for m in rules], dtype=float)
    ds = xr.Dataset(
        {"accuracy_mean": (("rule", "asymmetry"), acc)},
        coords={"rule": ("rule", rules), "asymmetry": ("asymmetry", [int(k[4:]) for k in keys])},
    )
    ds["accuracy_mean"].attrs.update(units="1", long_name="MNIST-1D test accuracy")
    ds["asymmetry"].attrs.update(units="%", long_name="up/down asymmetry of the soft-bounds devices")
    ds["rule"].attrs.update(units="1", long_name="rule")
    ax = lines_ci(ds, "accuracy", "asymmetry", hue="rule", band=False, ylabel="MNIST-1D test accuracy")
    ax.set_title("in-situ training on soft-bounds devices (1,000 states)", fontsize=9)
    out = Path(__file__).resolve().parents[1] / "results" / "train_insitu"
    out.mkdir(parents=True, exist_ok=True)
    path = out / (("quick_" if QUICK else "") + "accuracy_vs_asymmetry.png")
    ax.figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(ax.figure)
    return str(path.relative_to(out.parents[1]))


def time_update_ratio(repeats: int = 30) -> dict:
    torch.manual_seed(0)
    n, b = 512, 64
    x = torch.randn(b, n)
    lin = torch.nn.Linear(n, n)
    opt = torch.optim.SGD(lin.parameters(), lr=0.01)
    cfg = CrossbarConfig.ideal(w_max=1.0, update=device(0.3))
    layer = AnalogLinear.from_linear(lin, config=cfg, generator=torch.Generator().manual_seed(0)).eval()
    layer.program()
    sgd = AnalogSGD([layer], lr=0.01)

    def float_step():
        opt.zero_grad()
        xr = x.clone().requires_grad_()
        lin(xr).square().mean().backward()
        opt.step()

    def analog_step():
        xr = x.clone().requires_grad_()
        z = layer(xr)
        z.retain_grad()
        z.square().mean().backward()
        sgd.step([z.grad.T @ x])

    tf, ta = interleaved(float_step, analog_step, repeats=repeats, warmup=5)  # side by side
    f, a = statistics.median(tf), statistics.median(ta)
    return {"float_step_ms": round(f * 1e3, 3), "insitu_step_ms": round(a * 1e3, 3), "update_ratio": round(a / f, 3)}


def main() -> dict:
    torch.set_num_threads(2)
    t_start = time.perf_counter()
    load0 = os.getloadavg()
    log: list = []
    timing = time_update_ratio(10 if QUICK else 40)
    print(timing, flush=True)
    torch.set_num_threads(1)  # training: small layers; 1 thread is faster than 2 on a shared machine
    digits = standardise(build_digits(SEED))
    mnist1d = standardise(build_mnist1d())
    if QUICK:
        mnist1d = mnist1d.subset(1000, 500)
    res: dict = {"digits": {}, "mnist1d": {}}
    methods = ("float_sgd", "analog_sgd", "tiki_taka", "mixed_precision")
    for m in methods:
        res["digits"][m] = select_and_test(digits, "digits", m, device(0.0), log)
    for asym in (0.3,) if QUICK else (0.0, 0.1, 0.3):
        key = f"asym{round(asym * 100)}"
        res["mnist1d"][key] = {}
        for m in ("float_sgd", "analog_sgd", "tiki_taka"):
            if m == "float_sgd" and asym != (0.3 if QUICK else 0.0):
                res["mnist1d"][key][m] = res["mnist1d"][f"asym{0 if not QUICK else 30}"][m] if not QUICK else None
                continue
            res["mnist1d"][key][m] = select_and_test(mnist1d, "mnist1d", m, device(asym), log)
    for key in res["mnist1d"]:
        if res["mnist1d"][key].get("float_sgd") is None:
            res["mnist1d"][key]["float_sgd"] = res["mnist1d"]["asym0"]["float_sgd"]
    by_states: dict = {}
    for n in STATES:
        by_states[n] = {
            m: select_and_test(digits, "digits", m, device(0.0, n), log)
            for m in ("analog_sgd", "tiki_taka", "mixed_precision")
        }
    by_states[1000] = {m: res["digits"][m] for m in ("analog_sgd", "tiki_taka", "mixed_precision")}
    torch.set_num_threads(1)
    digits_raw = build_digits(SEED)
    mf = {(m, w): model_free(digits_raw, m, w, log) for m in ("spsa", "pat") for w in ("ideal", "pulsed")}
    mf[("spsa", "verified")] = model_free(digits_raw, "spsa", "verified", log)
    frozen = frozen_readout(digits_raw)
    ph = {k: phyll(digits_raw, k, log) for k in ("digital", "pulsed")}
    a30 = res["mnist1d"]["asym30"]
    pulses = {m: res["digits"][m].get("pulses_per_device") for m in methods if m != "float_sgd"}
    pulses.update({f"{m}_pulsed": mf[(m, "pulsed")]["pulses_per_device"] for m in ("spsa", "pat")})
    pulses["spsa_verified"] = mf[("spsa", "verified")]["pulses_per_device"]
    pulses["phyll_pulsed_layer"] = ph["pulsed"]["layer_pulses_per_device"]
    fig = figure({k: {m: v[m]["test_acc"] for m in v} for k, v in res["mnist1d"].items()})
    figures = {
        "digits_acc": {m: res["digits"][m]["test_acc"] for m in methods},
        "asym30_acc": {m: a30[m]["test_acc"] for m in ("float_sgd", "analog_sgd", "tiki_taka")},
        "mnist1d_acc_by_asym": {k: {m: v[m]["test_acc"] for m in v} for k, v in res["mnist1d"].items()},
        "pulses_per_device": pulses,
        "tiki_taka_a_pulses_per_device": res["digits"]["tiki_taka"].get("a_pulses_per_device"),
        "update_ratio": timing["update_ratio"],
        "update_timing_ms": {k: timing[k] for k in ("float_step_ms", "insitu_step_ms")},
        "chosen_lr": {
            "digits": {m: res["digits"][m]["lr"] for m in methods},
            "mnist1d": {k: {m: v[m]["lr"] for m in v} for k, v in res["mnist1d"].items()},
        },
        "digits_acc_by_states": {str(n): {m: v[m]["test_acc"] for m in v} for n, v in sorted(by_states.items())},
        "pulses_per_device_by_states": {
            str(n): {m: v[m]["pulses_per_device"] for m in v} for n, v in sorted(by_states.items())
        },
        "spsa_pulsed_acc": mf[("spsa", "verified")]["test_acc"],
        "spsa_ideal_acc": mf[("spsa", "ideal")]["test_acc"],
        "spsa_pulsed_write": f"PulsedWrite + WriteVerify({VERIFY}) (closed loop)",
        "spsa_open_loop_acc": mf[("spsa", "pulsed")]["test_acc"],
        "spsa_verify_reads_per_write": round(
            mf[("spsa", "verified")]["verify_reads"] / max(1, mf[("spsa", "verified")]["writes"] - 1), 3
        ),
        "frozen_readout_acc": frozen,
        "phyll_pulsed_acc": ph["pulsed"]["test_acc"],
        "phyll_digital_acc": ph["digital"]["test_acc"],
        "phyll": ph,
        "pat_pulsed_acc": mf[("pat", "pulsed")]["test_acc"],
        "pat_ideal_acc": mf[("pat", "ideal")]["test_acc"],
        "model_free": {f"{m}_{w}": v for (m, w), v in mf.items()},
        "wall_time_s_by_run": {
            "digits": {m: res["digits"][m]["wall_time_s"] for m in methods},
            "mnist1d_asym30": {m: a30[m]["wall_time_s"] for m in a30},
            "model_free": {f"{m}_{w}": v["wall_time_s"] for (m, w), v in mf.items()},
            "phyll": {k: v["wall_time_s"] for k, v in ph.items()},
        },
        "figure": fig,
        "device": "SoftBounds, 1000 states, dw_min_dtod 0.1, up_down_dtod 0.01, bounds dtod 0.05, c2c 0.3",
        "protocol": "20 % of train held out; lr from the grid chosen on validation; test read once",
        "model_free_protocol": f"digits, 64 -> {MF_HIDDEN} crossbar (ReLU) + readout, {MF_EPOCHS} epochs, batch "
        f"{MF_BATCH}, grid {MF_GRID} on validation, pulsed: device above, stochastic rounding; "
        f"SPSA pulsed = write-verify {VERIFY}, open loop reported as spsa_open_loop_acc",
        "phyll_protocol": f"digits, PhyLL, frozen ideal crossbar {digits_raw.n_features}+10 -> {PHYLL_PHYSICAL}, digital "
        f"layer ({PHYLL_PHYSICAL}+{digits_raw.n_features}+10) -> {PHYLL_HIDDEN} digital (Adam) or "
        f"on a pulsed crossbar (analog SGD, device above), {PHYLL_EPOCHS} epochs, batch {BATCH}, "
        f"lr grid {PHYLL_GRID} on validation",
        "epochs": EPOCHS,
        "hidden": HIDDEN,
        "batch": BATCH,
        "lr_grid": LRS,
        "tiki_taka": TT,
        "states": STATES,
        "tiki_taka_fast_states": TT_FAST_STATES,
        "wall_time_s": round(time.perf_counter() - t_start, 1),
        "loadavg_start": round(load0[0], 2),
        "loadavg_end": round(os.getloadavg()[0], 2),
    }
    (Path(__file__).resolve().parents[1] / "results").mkdir(exist_ok=True)
    print(json.dumps({"runs": log}))
    return figures


if __name__ == "__main__":
    from _publish import publish

    publish("train_insitu", main(), quick=QUICK)
