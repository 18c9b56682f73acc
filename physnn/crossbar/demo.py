"""``physnn demo``: what each crossbar nonideality costs a small classifier, and how drift ages it.

A 64-64-10 MLP is trained in floating point on scikit-learn's 8x8 digits (the csv shipped
inside scikit-learn, no download), then both layers are programmed onto simulated crossbars of every
shipped weight-storage device card (the PCM card, and each RRAM card with device statistics) with
``E`` independent device instances in one batched call. The demo reports test accuracy

* vs time since programming (1 s ... 1 year), with and without global drift compensation;
* with the card's nonidealities switched on one at a time (at 1 day).

Outputs in ``--out`` (default ``results/demo``): ``demo.nc`` (xarray), ``demo.png``,
``summary.md``; the last printed line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

TIMES = (1.0, 60.0, 3600.0, 86400.0, 30 * 86400.0, 365.25 * 86400.0)
TIME_LABELS = ("1 s", "1 min", "1 h", "1 day", "1 month", "1 year")
T_EFFECTS = 86400.0


def _data(seed: int):
    """sklearn's 8x8 digits, read from the csv shipped inside scikit-learn (importing the whole
    package costs seconds; the file is all we need), split 70/30 with a seeded permutation."""
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("physnn demo needs scikit-learn (its bundled digits data set)")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x, y = raw[:, :-1] / 16.0, raw[:, -1].astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(0.3 * len(y)))
    te, tr = perm[:n_test], perm[n_test:]
    t = torch.from_numpy
    return t(x[tr]), t(y[tr]), t(x[te]), t(y[te])


def _train(xtr, ytr, seed: int, epochs: int) -> nn.Sequential:
    """Full-batch Adam written out (torch.optim's first use imports torch._dynamo: seconds)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    params = list(net.parameters())
    m = [torch.zeros_like(q) for q in params]
    v = [torch.zeros_like(q) for q in params]
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
    for step in range(1, epochs + 1):
        loss = nn.functional.cross_entropy(net(xtr), ytr)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for q, g, mi, vi in zip(params, grads, m, v):
                mi.mul_(b1).add_(g, alpha=1 - b1)
                vi.mul_(b2).addcmul_(g, g, value=1 - b2)
                q.sub_(lr * (mi / (1 - b1 ** step)) / ((vi / (1 - b2 ** step)).sqrt() + eps))
    return net.eval()


def _cards() -> list[str]:
    """The PCM card plus every card of kind rram that describes programmable weights."""
    from ..cards import list_cards, load_card

    names = []
    for name in list_cards():
        try:
            c = load_card(name)
        except Exception:  # noqa: BLE001 - a broken user card must not stop the demo
            continue
        if name == "pcm_aihwkit" or (c.kind == "rram" and any(s in c for s in ("programming_noise", "variation", "faults"))):
            names.append(name)
    return names


def _full_config(card: str):
    from .adc import ADC
    from .config import CrossbarConfig, aihwkit_preset
    from .dac import DAC

    if card == "pcm_aihwkit":
        return aihwkit_preset(card)
    periphery = dict(dac=DAC(8, 1.0), adc=ADC(8, 12.0), out_noise=0.04, input_scaling="abs_max",
                     bound_management=True, output_units="weight")
    return CrossbarConfig.from_card(card, **periphery)


def _effect_configs(full) -> dict[str, Any]:
    """The ideal array plus each nonideality of ``full`` alone (and all together)."""
    from .config import CrossbarConfig
    from .mapping import ConductanceRange

    rng = ConductanceRange(full.range.g_min, full.range.g_max)
    ideal = CrossbarConfig.ideal(range=rng, v_read=full.v_read, output_units=full.output_units)
    out: dict[str, Any] = {"ideal": ideal}
    for name in ("programming_noise", "read_noise", "variation", "faults", "iv", "ir_drop"):
        if getattr(full, name) is not None:
            out[name] = ideal.replace(**{name: getattr(full, name)})
    if full.drift is not None:
        out["drift"] = ideal.replace(drift=full.drift, drift_compensation=False)
        out["drift+compensation"] = ideal.replace(drift=full.drift, drift_compensation=True)
    if full.range.levels is not None:
        out["finite_levels"] = ideal.replace(range=full.range)
    if full.dac is not None or full.adc is not None:
        out["dac+adc"] = ideal.replace(dac=full.dac, adc=full.adc, input_scaling=full.input_scaling,
                                       bound_management=full.bound_management)
    if full.out_noise > 0:
        out["out_noise"] = ideal.replace(out_noise=full.out_noise)
    out["all"] = full
    return out


class _AnalogMLP:
    def __init__(self, net: nn.Sequential, cfg, ensemble: int, generator: torch.Generator):
        from .layer import AnalogLinear

        self.l1 = AnalogLinear.from_linear(net[0], config=cfg, ensemble=ensemble, generator=generator).eval()
        self.l2 = AnalogLinear.from_linear(net[2], config=cfg, ensemble=ensemble, generator=generator).eval()
        self.l1.program()
        self.l2.program()

    def set_time(self, t: float) -> None:
        self.l1.set_time(t)
        self.l2.set_time(t)

    @torch.no_grad()
    def accuracy(self, x, y) -> np.ndarray:
        logits = self.l2(torch.relu(self.l1(x)))                    # (E, N, 10)
        return (logits.argmax(-1) == y).float().mean(-1).numpy()    # per device instance


def run(out: Path, *, seed: int, ensemble: int, epochs: int) -> dict[str, Any]:
    import xarray as xr

    t_start = time.perf_counter()
    xtr, ytr, xte, yte = _data(seed)
    net = _train(xtr, ytr, seed, epochs)
    with torch.no_grad():
        float_acc = float((net(xte).argmax(-1) == yte).float().mean())
    cards = _cards()
    gen = torch.Generator().manual_seed(seed)
    acc_t = np.zeros((len(cards), 2, len(TIMES), ensemble))
    effect_names: list[str] = []
    acc_e: dict[tuple[str, str], np.ndarray] = {}
    for ci, card in enumerate(cards):
        full = _full_config(card)
        for ki, comp in enumerate((False, True)):
            mlp = _AnalogMLP(net, full.replace(drift_compensation=comp), ensemble, gen)
            for ti, t in enumerate(TIMES):
                mlp.set_time(t)
                acc_t[ci, ki, ti] = mlp.accuracy(xte, yte)
        for name, cfg in _effect_configs(full).items():
            if name not in effect_names:
                effect_names.append(name)
            mlp = _AnalogMLP(net, cfg.replace(t_inference=T_EFFECTS), ensemble, gen)
            acc_e[(card, name)] = mlp.accuracy(xte, yte)
    acc_eff = np.full((len(cards), len(effect_names), ensemble), np.nan)
    for (card, name), v in acc_e.items():
        acc_eff[cards.index(card), effect_names.index(name)] = v

    ds = xr.Dataset(
        {
            "accuracy_vs_time": (("card", "drift_compensation", "time", "member"), acc_t,
                                 {"units": "1", "long_name": "test accuracy of the analog MLP (fraction correct)"}),
            "accuracy_by_effect": (("card", "effect", "member"), acc_eff,
                                   {"units": "1", "long_name": f"test accuracy with one nonideality on, at t = {T_EFFECTS:g} s (NaN: card lacks it)"}),
            "float_accuracy": ((), float_acc, {"units": "1", "long_name": "test accuracy of the floating-point MLP"}),
        },
        coords={
            "card": ("card", cards, {"units": "1", "long_name": "device card"}),
            "drift_compensation": ("drift_compensation", [0, 1], {"units": "1", "long_name": "global drift compensation on (1) / off (0)"}),
            "time": ("time", list(TIMES), {"units": "s", "long_name": "time since programming"}),
            "member": ("member", np.arange(ensemble), {"units": "1", "long_name": "device instance (Monte-Carlo ensemble member)"}),
            "effect": ("effect", effect_names, {"units": "1", "long_name": "nonideality switched on alone"}),
        },
        attrs={"description": "physnn crossbar nonideality demo: 64-64-10 MLP on sklearn digits",
               "seed": seed, "ensemble": ensemble, "train_epochs": epochs},
    )
    out.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(out / "demo.nc")
    _plot(ds, out / "demo.png")
    summary = _summary(ds, time.perf_counter() - t_start)
    (out / "summary.md").write_text(summary, encoding="utf-8")
    result: dict[str, Any] = {"float_accuracy": round(float_acc, 4), "cards": len(cards), "ensemble": ensemble}
    for card in cards:
        a = ds.accuracy_vs_time.sel(card=card).mean("member")
        key = card.replace("_aihwkit", "")
        result[f"{key}_accuracy_1s"] = round(float(a.sel(drift_compensation=1).isel(time=0)), 4)
        result[f"{key}_accuracy_1y_compensated"] = round(float(a.sel(drift_compensation=1).isel(time=-1)), 4)
        result[f"{key}_accuracy_1y_uncompensated"] = round(float(a.sel(drift_compensation=0).isel(time=-1)), 4)
    result["runtime_s"] = round(time.perf_counter() - t_start, 2)
    return result


def _plot(ds, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for card in ds.card.values:
        for comp, ls in ((1, "-"), (0, "--")):
            a = ds.accuracy_vs_time.sel(card=card, drift_compensation=comp)
            m, s = a.mean("member"), a.std("member")
            ax1.errorbar(ds.time.values, m, yerr=s, ls=ls, marker="o", capsize=3,
                         label=f"{card} ({'compensated' if comp else 'uncompensated'})")
    ax1.axhline(float(ds.float_accuracy), color="k", lw=0.8, label="float")
    ax1.set_xscale("log")
    ax1.set_xticks(list(TIMES), list(TIME_LABELS))
    ax1.set_xlabel("time since programming")
    ax1.set_ylabel("test accuracy")
    ax1.legend(fontsize=7)
    ax1.set_title("drift")
    eff = ds.accuracy_by_effect
    n_card = len(ds.card)
    width = 0.8 / n_card
    ypos = np.arange(len(ds.effect))
    for i, card in enumerate(ds.card.values):
        a = eff.sel(card=card)
        ax2.barh(ypos + i * width, a.mean("member"), xerr=a.std("member"), height=width, label=str(card))
    ax2.set_yticks(ypos + 0.4 - width / 2, list(ds.effect.values))
    ax2.axvline(float(ds.float_accuracy), color="k", lw=0.8)
    lo = float(np.nanmin(eff.mean("member"))) if np.isfinite(eff.values).any() else 0.0
    ax2.set_xlim(max(0.0, lo - 0.05), 1.0)
    ax2.set_xlabel("test accuracy (mean ± std over device instances)")
    ax2.set_title(f"one nonideality at a time (t = 1 day)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _summary(ds, runtime: float) -> str:
    lines = ["# physnn crossbar demo", "",
             f"64-64-10 MLP on sklearn digits, float test accuracy {float(ds.float_accuracy):.3f}; "
             f"{len(ds.member)} device instances per configuration; runtime {runtime:.1f} s.", "",
             "## Accuracy vs time since programming (mean ± std over instances)", "",
             "| card | compensation | " + " | ".join(TIME_LABELS) + " |",
             "|---|---|" + "---|" * len(TIME_LABELS)]
    for card in ds.card.values:
        for comp in (1, 0):
            a = ds.accuracy_vs_time.sel(card=card, drift_compensation=comp)
            cells = [f"{m:.3f} ± {s:.3f}" for m, s in zip(a.mean("member").values, a.std("member").values)]
            lines.append(f"| {card} | {'on' if comp else 'off'} | " + " | ".join(cells) + " |")
    lines += ["", "## One nonideality at a time (t = 1 day)", "", "| effect | " + " | ".join(map(str, ds.card.values)) + " |",
              "|---|" + "---|" * len(ds.card)]
    for eff in ds.effect.values:
        cells = []
        for card in ds.card.values:
            a = ds.accuracy_by_effect.sel(card=card, effect=eff)
            cells.append("—" if np.isnan(a.values).all() else f"{float(a.mean()):.3f} ± {float(a.std()):.3f}")
        lines.append(f"| {eff} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cli_main(argv: list[str] | None = None) -> int:
    """Entry point of ``physnn demo``."""
    p = argparse.ArgumentParser(prog="physnn demo", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("results/demo"), help="output folder (default results/demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ensemble", type=int, default=32, help="device instances per configuration")
    p.add_argument("--epochs", type=int, default=300, help="full-batch Adam steps of the float MLP")
    p.add_argument("--quick", action="store_true", help="8 instances, 100 epochs")
    args = p.parse_args(argv)
    if args.quick:
        args.ensemble, args.epochs = 8, 100
    if args.ensemble < 1:
        p.error("--ensemble must be >= 1")
    result = run(args.out, seed=args.seed, ensemble=args.ensemble, epochs=args.epochs)
    print(f"wrote {args.out / 'demo.nc'}, {args.out / 'demo.png'}, {args.out / 'summary.md'}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli_main())
