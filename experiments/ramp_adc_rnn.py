"""Ramp-ADC activations in crossbar LSTMs: approximation error, KWS accuracy, char-LM BPC, speed.

Reproduces the study of Yang, Mao, … Li, Basu (arXiv 2411.18271, Nat. Commun. 2025) with physnn:

1. Ramp ADC approximation of tanh and sigmoid at 3/4/5/8 bits: max / RMS error in LSB for ideal
   programming and for PCM programming noise (``pcm_aihwkit`` card, Monte-Carlo ensemble),
   mean conversion latency, and a uniform ADC + digital lookup of the same resolution.
2. Keyword spotting (physnn.data.kws, espeak-ng GSC-12 style, speaker-disjoint test) and
   character-level language modelling (physnn.data.text, CPython's pydoc topics) with one LSTM
   layer: float ``torch.nn.LSTM``; crossbar LSTM (PCM programming noise, 8-bit DAC, output noise,
   ``aihwkit_preset`` without column ADC) with ideal activations; the same with ramp-ADC
   activations at 3/4/5/8 bits.

Protocol (documented choice): the float model is trained first; the crossbar model starts from
its weights and is fine-tuned hardware-aware (noise injection in ``train()`` mode) with ideal
activations; each ramp variant starts from that model and gets the same short hardware-aware
fine-tune with its ramp activations (straight-through gradients), and the reported ideal-
activation model gets that same extra fine-tune with ideal activations (equal training budget).
The "no fine-tune" columns are the models before that last fine-tune. Embedding/readout layers are
digital. Analog models are evaluated over several programming draws (mean reported).

3. ``lstm_ratio`` from ``experiments/bench_rnn.py``.

Usage: ``python experiments/ramp_adc_rnn.py [--quick] [--seed N] [--out DIR]``; the last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # experiments/_publish.py, also when loaded by path
from _publish import publish, save_netcdf  # noqa: E402

BITS = (3, 4, 5, 8)
MODELS = ("float", "ideal_act") + tuple(f"ramp{b}" for b in BITS)


# ---------------------------------------------------------------------------------------------
# 1. ramp ADC approximation
# ---------------------------------------------------------------------------------------------
def ramp_study(seed: int, n_ensemble: int) -> dict:
    from physnn.crossbar.ramp_adc import RampADCActivation, RampDevices, ramp_error, uniform_adc_lut_error
    from physnn.crossbar.rnn import RampActivations

    noisy = RampDevices.from_card("pcm_aihwkit")
    out = {
        k: np.full((2, len(BITS)), np.nan)
        for k in (
            "max_ideal",
            "rms_ideal",
            "max_noisy",
            "rms_noisy",
            "max_noisy_p95",
            "max_lut",
            "rms_lut",
            "cycles_mean",
            "cycles_worst",
            "devices",
        )
    }
    acts = {}
    for j, b in enumerate(BITS):
        for i, dev in enumerate((None, noisy)):
            ra = RampActivations(bits=b) if dev is None else RampActivations(bits=b, devices=dev)
            for fi, cfg in enumerate((ra.tanh_adc(), ra.sigmoid_adc())):
                if dev is None:
                    act = RampADCActivation(cfg)
                    e = ramp_error(act)
                    out["max_ideal"][fi, j] = float(e["max_lsb"])
                    out["rms_ideal"][fi, j] = float(e["rms_lsb"])
                    out["cycles_mean"][fi, j] = float(e["mean_cycles"])
                    out["cycles_worst"][fi, j] = float(e["worst_cycles"])
                    out["devices"][fi, j] = act.design.n_step_devices + cfg.devices.n_calibration
                    lut = uniform_adc_lut_error(cfg)
                    out["max_lut"][fi, j] = lut["max_lsb"]
                    out["rms_lut"][fi, j] = lut["rms_lsb"]
                    acts[(fi, b, "ideal")] = act
                else:
                    act = RampADCActivation(
                        cfg, ensemble=n_ensemble, generator=torch.Generator().manual_seed(seed + 17 * b + fi)
                    )
                    e = ramp_error(act, generator=torch.Generator().manual_seed(seed + 1))
                    out["max_noisy"][fi, j] = float(e["max_lsb"].mean())
                    out["max_noisy_p95"][fi, j] = float(torch.quantile(e["max_lsb"], 0.95))
                    out["rms_noisy"][fi, j] = float(e["rms_lsb"].mean())
                    acts[(fi, b, "noisy")] = act
    out["acts"] = acts
    return out


def plot_approximation(study: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from physnn.crossbar.ramp_adc import uniform_adc_lut

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for fi, (ax, name) in enumerate(zip(axes, ("tanh", "sigmoid"))):
        ideal = study["acts"][(fi, 5, "ideal")]
        noisy = study["acts"][(fi, 5, "noisy")]
        lo, hi = ideal.config.x_range
        x = torch.linspace(lo - 0.5, hi + 0.5, 4001, dtype=torch.float64)
        ax.plot(x, ideal.config.function(x), "k-", lw=1, label=f"{name}")
        ax.step(x, ideal.convert(x).value, where="post", lw=1.2, label="5-bit ramp, ideal programming")
        xn = x.expand(noisy.ensemble, -1)
        ax.step(x, noisy.convert(xn).value[0], where="post", lw=1, alpha=0.8, label="5-bit ramp, PCM noise (1 draw)")
        d = ideal.design
        ax.step(
            x,
            d.levels[uniform_adc_lut(x, ideal.config)],
            where="post",
            lw=1,
            ls="--",
            label="uniform 5-bit ADC + lookup",
        )
        ax.set_xlabel("pre-activation x")
        ax.set_ylabel("activation")
        ax.set_title(f"{name}: ramp-ADC approximation")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------
class KWSNet(nn.Module):
    """LSTM over log-mel frames, digital linear readout of the time-averaged hidden state.

    (Mean pooling: with the last state only, the 98-frame LSTM barely trains in a few epochs.)
    """

    def __init__(self, rnn: nn.Module, hidden: int, n_classes: int, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(hidden, n_classes)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn((x - self.mean) / self.std)
        return self.head(out.mean(-2))


class CharLM(nn.Module):
    """Digital embedding -> LSTM -> digital readout over the vocabulary."""

    def __init__(self, rnn: nn.Module, vocab: int, emb: int, hidden: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = rnn
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x: torch.Tensor, state=None):
        out, state = self.rnn(self.emb(x), state)
        return self.head(out), state


def to_analog(model: nn.Module, config, activations, seed: int) -> nn.Module:
    """Copy of ``model`` whose ``rnn`` (a ``torch.nn.LSTM`` or AnalogLSTM) runs on crossbars."""
    from physnn.crossbar.rnn import AnalogLSTM

    old = model.rnn
    model.rnn = nn.Identity()  # copy everything but the recurrent layer
    try:
        new = copy.deepcopy(model)
    finally:
        model.rnn = old
    if isinstance(old, nn.LSTM):
        new.rnn = AnalogLSTM.from_torch(
            old, config=config, activations=activations, generator=torch.Generator().manual_seed(seed)
        )
    else:
        rnn = AnalogLSTM(
            old.input_size,
            old.hidden_size,
            batch_first=old.batch_first,
            config=config,
            activations=activations,
            generator=torch.Generator().manual_seed(seed),
        )
        rnn.load_state_dict(old.state_dict())
        new.rnn = rnn
    return new


# ---------------------------------------------------------------------------------------------
# 2a. keyword spotting
# ---------------------------------------------------------------------------------------------
def _batches(n: int, bs: int, gen: torch.Generator):
    perm = torch.randperm(n, generator=gen)
    for i in range(0, n, bs):
        yield perm[i : i + bs]


def train_kws(model, x, y, *, epochs: int, lr: float, bs: int, seed: int, log: list) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for ep in range(epochs):
        tot = 0.0
        for idx in _batches(len(y), bs, gen):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            tot += float(loss.detach()) * len(idx)
        log.append(tot / len(y))
    model.eval()


@torch.no_grad()
def over_programmings(model, score, *, n_prog: int, seed: int) -> float:
    """Mean of ``score()`` over ``n_prog`` programmings of an analog model (seeds ``seed + r``);
    a float model is scored once."""
    model.eval()
    analog = hasattr(model.rnn, "program")
    scores = []
    for r in range(n_prog if analog else 1):
        if analog:
            model.rnn.program(torch.Generator().manual_seed(seed + r))
        scores.append(score())
    return float(np.mean(scores))


def eval_kws(model, x, y, *, n_prog: int, seed: int) -> float:
    acc = over_programmings(
        model, lambda: float((model(x).argmax(-1) == y).float().mean()), n_prog=n_prog, seed=seed + 1000
    )
    return 100.0 * acc


def kws_study(args, config, log: dict) -> dict:
    from physnn.crossbar.rnn import IdealActivations, RampActivations
    from physnn.data.kws import KWSConfig, build_kws

    q = args.quick
    ds = build_kws(KWSConfig(n_per_class=60 if q else 300, seed=args.seed), n_jobs=2)
    xtr, ytr = ds.tensors("train")
    xte, yte = ds.tensors("test")
    mean, std = ds.normalization()
    hidden = 48 if q else 128
    ep_f, ep_h, ep_r = (25, 3, 2) if q else (30, 4, 2)
    n_prog = 3 if q else 4
    torch.manual_seed(args.seed)
    net = KWSNet(nn.LSTM(xtr.shape[-1], hidden, batch_first=True), hidden, len(ds.class_names), mean, std)
    t0 = time.perf_counter()
    train_kws(net, xtr, ytr, epochs=ep_f, lr=1e-2, bs=32, seed=args.seed, log=log.setdefault("kws_float", []))
    res = {"float": eval_kws(net, xte, yte, n_prog=1, seed=args.seed)}
    ideal = to_analog(net, config, IdealActivations(), args.seed)
    train_kws(ideal, xtr, ytr, epochs=ep_h, lr=2e-3, bs=32, seed=args.seed + 1, log=log.setdefault("kws_ideal", []))
    # same training budget as the ramp variants: ep_r more epochs with ideal activations
    ideal_ft = to_analog(ideal, config, IdealActivations(), args.seed)
    res["ideal_act_no_finetune"] = eval_kws(ideal_ft, xte, yte, n_prog=n_prog, seed=args.seed)
    train_kws(
        ideal_ft, xtr, ytr, epochs=ep_r, lr=1e-3, bs=32, seed=args.seed + 2, log=log.setdefault("kws_ideal_ft", [])
    )
    res["ideal_act"] = eval_kws(ideal_ft, xte, yte, n_prog=n_prog, seed=args.seed)
    for b in BITS:
        m = to_analog(ideal, config, RampActivations(bits=b), args.seed)
        res[f"ramp{b}_no_finetune"] = eval_kws(m, xte, yte, n_prog=n_prog, seed=args.seed)
        train_kws(m, xtr, ytr, epochs=ep_r, lr=1e-3, bs=32, seed=args.seed + 2, log=log.setdefault(f"kws_ramp{b}", []))
        res[f"ramp{b}"] = eval_kws(m, xte, yte, n_prog=n_prog, seed=args.seed)
    res["_meta"] = {
        "n_train": int(len(ytr)),
        "n_test": int(len(yte)),
        "hidden": hidden,
        "epochs": [ep_f, ep_h, ep_r],
        "n_prog": n_prog,
        "seconds": time.perf_counter() - t0,
    }
    return res


# ---------------------------------------------------------------------------------------------
# 2b. character-level language model
# ---------------------------------------------------------------------------------------------
def _detach(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state)


def train_lm(model, data, *, steps: int, seq: int, bs: int, lr: float, seed: int, log: list) -> None:
    from physnn.data.text import char_lm_batches

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    done = 0
    while done < steps:
        state = None
        for xb, yb in char_lm_batches(data, seq_len=seq, batch_size=bs):
            opt.zero_grad()
            logits, state = model(xb, state)
            state = _detach(state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            log.append(float(loss.detach()) / math.log(2))
            done += 1
            if done >= steps:
                break
    model.eval()


def eval_lm(model, data, *, seq: int, n_prog: int, seed: int) -> float:
    from physnn.data.text import char_lm_batches

    def bpc() -> float:
        state, tot, n = None, 0.0, 0
        for xb, yb in char_lm_batches(data, seq_len=seq, batch_size=8):
            logits, state = model(xb, state)
            tot += float(
                nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1), reduction="sum")
            )
            n += yb.numel()
        return tot / n / math.log(2)

    return over_programmings(model, bpc, n_prog=n_prog, seed=seed + 2000)


def lm_study(args, config, log: dict) -> dict:
    from physnn.crossbar.rnn import IdealActivations, RampActivations
    from physnn.data.text import load_char_corpus

    q = args.quick
    corpus = load_char_corpus()
    train = corpus.train
    test = corpus.test[:12000] if q else corpus.test
    hidden, emb = (64, 24) if q else (256, 64)
    seq, bs = (50, 32) if q else (100, 32)
    st_f, st_h, st_r = (300, 40, 25) if q else (1500, 200, 100)
    n_prog = 2 if q else 3
    torch.manual_seed(args.seed)
    net = CharLM(nn.LSTM(emb, hidden, batch_first=True), corpus.vocab.size, emb, hidden)
    t0 = time.perf_counter()
    train_lm(net, train, steps=st_f, seq=seq, bs=bs, lr=5e-3, seed=args.seed, log=log.setdefault("lm_float", []))
    res = {"float": eval_lm(net, test, seq=seq, n_prog=1, seed=args.seed)}
    ideal = to_analog(net, config, IdealActivations(), args.seed)
    train_lm(ideal, train, steps=st_h, seq=seq, bs=bs, lr=1e-3, seed=args.seed + 1, log=log.setdefault("lm_ideal", []))
    ideal_ft = to_analog(ideal, config, IdealActivations(), args.seed)
    res["ideal_act_no_finetune"] = eval_lm(ideal_ft, test, seq=seq, n_prog=n_prog, seed=args.seed)
    train_lm(
        ideal_ft, train, steps=st_r, seq=seq, bs=bs, lr=5e-4, seed=args.seed + 2, log=log.setdefault("lm_ideal_ft", [])
    )
    res["ideal_act"] = eval_lm(ideal_ft, test, seq=seq, n_prog=n_prog, seed=args.seed)
    for b in BITS:
        m = to_analog(ideal, config, RampActivations(bits=b), args.seed)
        res[f"ramp{b}_no_finetune"] = eval_lm(m, test, seq=seq, n_prog=n_prog, seed=args.seed)
        train_lm(
            m, train, steps=st_r, seq=seq, bs=bs, lr=5e-4, seed=args.seed + 2, log=log.setdefault(f"lm_ramp{b}", [])
        )
        res[f"ramp{b}"] = eval_lm(m, test, seq=seq, n_prog=n_prog, seed=args.seed)
    res["_meta"] = {
        "n_train_chars": int(train.numel()),
        "n_test_chars": int(test.numel()),
        "hidden": hidden,
        "steps": [st_f, st_h, st_r],
        "n_prog": n_prog,
        "seconds": time.perf_counter() - t0,
    }
    return res


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_rnn", Path(__file__).with_name("bench_rnn.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def plot_vs_bits(kws: dict, lm: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, res, name, unit in (
        (axes[0], kws, "KWS test accuracy", "%"),
        (axes[1], lm, "char-LM test BPC", "bit/char"),
    ):
        ax.plot(BITS, [res[f"ramp{b}"] for b in BITS], "o-", label="crossbar + ramp ADC (HWA fine-tuned)")
        ax.plot(
            BITS, [res[f"ramp{b}_no_finetune"] for b in BITS], "s--", label="crossbar + ramp ADC (no last fine-tune)"
        )
        ax.axhline(res["ideal_act"], color="C2", ls=":", label="crossbar + ideal activations")
        ax.axhline(res["float"], color="k", ls="-.", label="float LSTM")
        ax.set_xlabel("ramp ADC bits")
        ax.set_ylabel(f"{name} ({unit})")
        ax.set_xticks(BITS)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small data and models, few epochs (minutes on 2 cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results/ramp_adc_rnn"))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    import xarray as xr

    from physnn.cards import load_card
    from physnn.crossbar.config import aihwkit_preset

    t_start = time.perf_counter()
    study = ramp_study(args.seed, 50 if args.quick else 200)
    plot_approximation(study, args.out / "approximation.png")
    config = aihwkit_preset(adc=None, bound_management=False)  # the ramp ADC is the column converter
    log: dict = {}
    kws = kws_study(args, config, log)
    lm = lm_study(args, config, log)
    plot_vs_bits(kws, lm, args.out / "accuracy_vs_bits.png")
    bench = _bench_module().measure_lstm_ratio(threads=args.threads, repeats=3 if args.quick else 7, seed=args.seed)

    models = list(MODELS)
    ft = [kws[m] for m in models]
    ds = xr.Dataset(
        {
            "ramp_max_err_ideal": (
                ("function", "bits"),
                study["max_ideal"],
                {"units": "LSB", "long_name": "max |code - f/LSB|, ideal programming"},
            ),
            "ramp_rms_err_ideal": (
                ("function", "bits"),
                study["rms_ideal"],
                {"units": "LSB", "long_name": "RMS code error, ideal programming"},
            ),
            "ramp_max_err_noisy": (
                ("function", "bits"),
                study["max_noisy"],
                {"units": "LSB", "long_name": "max code error with PCM programming + read noise (ensemble mean)"},
            ),
            "ramp_max_err_noisy_p95": (
                ("function", "bits"),
                study["max_noisy_p95"],
                {"units": "LSB", "long_name": "95th percentile over instances of the max code error, PCM noise"},
            ),
            "ramp_rms_err_noisy": (
                ("function", "bits"),
                study["rms_noisy"],
                {"units": "LSB", "long_name": "RMS code error with PCM noise (ensemble mean)"},
            ),
            "uniform_lut_max_err": (
                ("function", "bits"),
                study["max_lut"],
                {"units": "LSB", "long_name": "max error of a uniform ADC + digital lookup"},
            ),
            "uniform_lut_rms_err": (
                ("function", "bits"),
                study["rms_lut"],
                {"units": "LSB", "long_name": "RMS error of a uniform ADC + digital lookup"},
            ),
            "latency_mean": (
                ("function", "bits"),
                study["cycles_mean"],
                {"units": "cycles", "long_name": "mean conversion latency, inputs uniform on the ramp range"},
            ),
            "latency_worst": (
                ("function", "bits"),
                study["cycles_worst"],
                {"units": "cycles", "long_name": "worst-case conversion latency (2**bits)"},
            ),
            "column_devices": (
                ("function", "bits"),
                study["devices"],
                {"units": "1", "long_name": "memristors in the ramp column (steps + calibration)"},
            ),
            "kws_accuracy": (
                ("model",),
                ft,
                {"units": "%", "long_name": "KWS test accuracy (mean over programming draws)"},
            ),
            "kws_accuracy_no_finetune": (
                ("model",),
                [kws.get(f"{m}_no_finetune", np.nan) for m in models],
                {"units": "%", "long_name": "KWS test accuracy before the ramp fine-tune"},
            ),
            "bpc": (
                ("model",),
                [lm[m] for m in models],
                {"units": "bit/char", "long_name": "char-LM test bits per character"},
            ),
            "bpc_no_finetune": (
                ("model",),
                [lm.get(f"{m}_no_finetune", np.nan) for m in models],
                {"units": "bit/char", "long_name": "char-LM test BPC before the ramp fine-tune"},
            ),
        },
        coords={
            "function": ("function", ["tanh", "sigmoid"], {"units": "1", "long_name": "activation function"}),
            "bits": ("bits", list(BITS), {"units": "bit", "long_name": "ramp ADC resolution"}),
            "model": ("model", models, {"units": "1", "long_name": "LSTM variant"}),
        },
        attrs={
            "seed": args.seed,
            "quick": int(args.quick),
            "threads": args.threads,
            "lstm_ratio": bench["lstm_ratio"],
            "crossbar_config": "aihwkit_preset(pcm_aihwkit, adc=None, bound_management=False)",
            "kws_meta": json.dumps(kws["_meta"]),
            "lm_meta": json.dumps(lm["_meta"]),
            **load_card("pcm_aihwkit").provenance(),
        },
    )
    save_netcdf(ds, args.out / "ramp_adc_rnn.nc")
    j5 = BITS.index(5)
    summary = {
        "tanh_max_err_lsb": float(study["max_ideal"][0, j5]),
        "sigmoid_max_err_lsb": float(study["max_ideal"][1, j5]),
        "tanh_max_err_lsb_pcm": float(study["max_noisy"][0, j5]),
        "sigmoid_max_err_lsb_pcm": float(study["max_noisy"][1, j5]),
        "uniform_lut_tanh_max_err_lsb": float(study["max_lut"][0, j5]),
        "kws_acc_float": kws["float"],
        "kws_acc_ideal_act": kws["ideal_act"],
        "kws_acc_ramp5": kws["ramp5"],
        "bpc_float": lm["float"],
        "bpc_ideal_act": lm["ideal_act"],
        "bpc_ramp5": lm["ramp5"],
        "lstm_ratio": bench["lstm_ratio"],
        "lstm_ratio_with_column_adc": bench["lstm_ratio_with_column_adc"],
        "threads": args.threads,
        "load_avg_1min": bench.get("load_avg_1min", float("nan")),
        "seconds": time.perf_counter() - t_start,
    }
    rows = [
        "| model | KWS acc (%) | KWS acc, before last fine-tune (%) | BPC | BPC, before last fine-tune |",
        "|---|---|---|---|---|",
    ]
    for m in models:
        rows.append(
            f"| {m} | {kws[m]:.2f} | {kws.get(m + '_no_finetune', float('nan')):.2f} | {lm[m]:.3f} | "
            f"{lm.get(m + '_no_finetune', float('nan')):.3f} |"
        )
    rrows = [
        "| function | bits | max err ideal (LSB) | RMS ideal | max err PCM (mean / p95) | uniform ADC+LUT max | mean latency (cycles) | devices |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fi, fn in enumerate(("tanh", "sigmoid")):
        for j, b in enumerate(BITS):
            rrows.append(
                f"| {fn} | {b} | {study['max_ideal'][fi, j]:.3f} | {study['rms_ideal'][fi, j]:.3f} | "
                f"{study['max_noisy'][fi, j]:.2f} / {study['max_noisy_p95'][fi, j]:.2f} | "
                f"{study['max_lut'][fi, j]:.2f} | {study['cycles_mean'][fi, j]:.1f} | {int(study['devices'][fi, j])} |"
            )
    md = [
        "# Ramp-ADC activations in crossbar LSTMs",
        "",
        f"`python experiments/ramp_adc_rnn.py{' --quick' if args.quick else ''} --seed {args.seed}` "
        f"({args.threads} thread(s), {summary['seconds']:.0f} s).",
        "",
        "## Ramp ADC approximation (ramp columns of the pcm_aihwkit card for the noisy rows)",
        "",
        *rrows,
        "",
        "## LSTM tasks",
        "",
        f"KWS: {kws['_meta']}; char-LM: {lm['_meta']}. Crossbar: aihwkit_preset(pcm_aihwkit, adc=None). "
        "Paper (their data): GSC-12 88.5 %, PTB char 1.349 BPC.",
        "",
        *rows,
        "",
        f"lstm_ratio (AnalogLSTM 5-bit ramp / torch.nn.LSTM, H=128, T=100, B=64, {args.threads} thread): "
        f"{bench['lstm_ratio']:.2f} (1-min load average {bench.get('load_avg_1min', float('nan')):.1f})",
        "",
    ]
    (args.out / "summary.md").write_text("\n".join(md))
    (args.out / "training_log.json").write_text(json.dumps(log))
    print("\n".join(md))
    publish(
        "ramp_adc_rnn", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in summary.items()}, quick=args.quick
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
