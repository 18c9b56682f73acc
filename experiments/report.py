"""Render the published figures: ``results/*/latest.json`` → README.md's figure table and
RESULTS.md's tables (issue 21, item 3: every published figure is generated).

Each benchmark ends with ``publish(name, figures)`` (``experiments/_publish.py``), which writes
``results/<name>/latest.json`` (the figures and their provenance) and appends the run it replaces
to ``results/<name>/history.jsonl``. This script renders those files into marked blocks of the two
documents; everything outside the markers is hand-written prose and stays as it is::

    <!-- report:begin NAME -->
    ... generated, do not edit ...
    <!-- report:end NAME -->

Block names:

``figures``
    One table of the headline figures of every benchmark: figure, value, target, met, source
    (the JSON file, with the date and load average of its run): the README's "Measured figures".
``summary``
    One line per benchmark: date, commit, targets met, source.
``benchmark:NAME``
    One benchmark's section: provenance (date, commit, command, machine, threads, load) and a table
    of *all* its figures (nested dicts flattened to ``key.sub``), targets first. Keys this script
    does not know are rendered too, without a target.
``history``
    The earlier runs of every benchmark, from ``history.jsonl``, newest first.

A benchmark without a ``latest.json`` and a figure missing from one render as "not measured".

Usage::

    python experiments/report.py            # rewrite the blocks of README.md and RESULTS.md
    python experiments/report.py --check    # exit 1 naming each block that differs, with the lines

Targets (``TARGETS``, keyed by figure name) are the bounds of the issues that ask for the figure;
``DERIVED`` figures are computed from others (e.g. a difference that a target bounds).
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "RESULTS.md")


@dataclass(frozen=True)
class Target:
    """A bound on a figure: ``value OP bound``, asked for by ``issue``, reported by ``benchmarks``."""

    op: str  # "<=", ">=" or "=="
    bound: float
    issue: str
    benchmarks: tuple[str, ...]


def _t(op: str, bound: float, issue: str, *benchmarks: str) -> Target:
    return Target(op, bound, issue, benchmarks)


#: figure name -> its target (figure names of nested dicts are flattened: ``digits_acc.phyll``)
TARGETS: dict[str, Target] = {
    # crossbar reads (issue 2; issue 12 tightened aihwkit_ratio from 0.8 to 0.5)
    "linear_ratio": _t("<=", 1.5, "#2, #12", "bench_crossbar"),
    "aihwkit_ratio": _t("<=", 0.5, "#12; #2 had 0.8", "bench_crossbar"),
    "ensemble_ratio": _t("<=", 1.3, "#2, #12", "bench_crossbar"),
    "aihwkit_loop_speedup_small": _t(">=", 10.0, "#2, #12", "bench_crossbar"),
    "aihwkit_loop_speedup_large": _t(">=", 1.5, "#2", "bench_crossbar"),
    # crossbar RNNs and the ramp ADC (issue 3)
    "lstm_ratio": _t("<=", 3.0, "#3, #12", "bench_rnn", "ramp_adc_rnn"),
    "tanh_max_err_lsb": _t("<=", 1.0, "#3", "ramp_adc_rnn"),
    "sigmoid_max_err_lsb": _t("<=", 1.0, "#3", "ramp_adc_rnn"),
    "kws_ramp5_minus_ideal_act": _t(">=", -1.0, "#3", "ramp_adc_rnn"),
    "bpc_ramp5_minus_ideal_act": _t("<=", 0.05, "#3", "ramp_adc_rnn"),
    # Josephson vs JoSIM (issues 15, 21)
    "josim_ratio_single": _t("<=", 1.0, "#15", "bench_josephson"),
    "josim_ratio_jtl_string": _t("<=", 0.6, "#15", "bench_josephson"),
    "josim_ratio_large": _t("<=", 0.8, "#15", "bench_josephson"),
    "josim_ratio_batch1024": _t("<=", 0.03, "#21, vs parallel JoSIM; #15 had 0.02", "bench_josephson"),
    "switch_count_mismatches": _t("==", 0, "#21", "bench_josephson"),
    # JoSIM conformance corpus (issue 26): every event counted alike, every time within max(0.3 ps, 1 %)
    "corpus_count_mismatches": _t("==", 0, "#26", "josim_conformance"),
    "corpus_worst_err_over_tol": _t("<=", 1.0, "#26", "josim_conformance"),
    "corpus_files": _t(">=", 20, "#26", "josim_conformance"),
    "largest_file_junctions": _t(">=", 1000, "#26", "josim_conformance"),
    # reservoirs (issue 5)
    "nmnist_like_acc": _t(">=", 0.89, "#5", "lsm_zero_shot"),
    "spoken_digit_acc": _t(">=", 0.70, "#5", "lsm_zero_shot"),
    "zero_shot_unseen_acc": _t(">=", 0.80, "#5", "lsm_zero_shot"),
    "narma10_nrmse": _t("<=", 0.20, "#5", "reservoir_bench"),
    "single_time_ratio_vs_reservoirpy": _t("<=", 2.0, "#5", "reservoir_bench"),
    "ensemble_time_ratio_vs_reservoirpy": _t("<=", 0.3, "#5", "reservoir_bench"),
    # sweeps (issues 13, 21: the speed-up over the point-by-point loop replaces vectorized_ratio)
    "speedup_vs_point_loop": _t(">=", 20.0, "#21", "bench_sweep"),
    "dask_speedup_2w": _t(">=", 1.6, "#13", "bench_sweep"),
    "resume_lost_points": _t("==", 0, "#13", "bench_sweep"),
    "resume_duplicate_points": _t("==", 0, "#13", "bench_sweep"),
    "demo_seconds": _t("<=", 300.0, "#13", "bench_sweep"),
    # sweeps under faults (issue 27)
    "trials": _t(">=", 50, "#27", "bench_sweep_faults"),
    "lost": _t("==", 0, "#27", "bench_sweep_faults"),
    "duplicated": _t("==", 0, "#27", "bench_sweep_faults"),
    "fault_trials_not_identical": _t("==", 0, "#27: identical = trials", "bench_sweep_faults"),
    "mixed_results": _t("==", 0, "#27", "bench_sweep_faults"),
    "tracebacks": _t("==", 0, "#27", "bench_sweep_faults"),
    "orphans": _t("==", 0, "#27", "bench_sweep_faults"),
    "hangs": _t("==", 0, "#27", "bench_sweep_faults"),
    # SFQ networks (issue 14)
    "circuit_correct": _t(">=", 4, "#14", "sfq_xor"),
    "bias_margin_pct": _t(">=", 10.0, "#14", "sfq_xor"),
    "network_rate_inside_circuit_ci": _t(">=", 4, "#14", "sfq_xor"),
    "iris_acc_minus_float": _t(">=", -0.05, "#14", "sfq_xor"),
    "synapse_simulate_calls": _t("<=", 1, "#14", "sfq_xor"),
    # training physical systems (issue 11)
    "digits_acc.phyll": _t(">=", 0.95, "#11", "train_physical"),
    "digits_acc.mono_forward": _t(">=", 0.95, "#11", "train_physical"),
    "digits_acc.spsa": _t(">=", 0.95, "#11", "train_physical"),
    "digits_acc.pat": _t(">=", 0.95, "#11", "train_physical"),
    "mnist1d_acc.backprop": _t(">=", 0.65, "#11", "train_physical"),
    "mnist1d_phyll_over_frozen": _t(">=", 0.05, "#11", "train_physical"),
    "mnist1d_mono_forward_over_frozen": _t(">=", 0.05, "#11", "train_physical"),
    "mnist1d_pat_over_frozen": _t(">=", 0.05, "#11", "train_physical"),
    "hwa_drift_1y_minus_1s": _t(">=", -0.02, "#11", "train_physical"),
    "mezo_mem_ratio": _t("<=", 1.2, "#11", "train_physical"),
    # issue 21: a method that trains the physical parameters beats the digital-equivalent baseline
    # (the same frozen crossbars with backprop-trained digital blocks) by >= 2 points on MNIST-1D
    "mnist1d_pat_over_digital_equivalent": _t(">=", 0.02, "#21", "train_physical"),
    # your own network on crossbar tiles (issue 22)
    "mnist1d_cnn_acc.float": _t(">=", 0.90, "#22", "bench_convert"),
    "mnist1d_cnn_hwa_1y_minus_float": _t(">=", -0.03, "#22", "bench_convert"),
    "digits_cnn_hwa_1y_minus_float": _t(">=", -0.02, "#22", "bench_convert"),
    "char_lm_hwa_1d_minus_float_bpc": _t("<=", 0.1, "#22", "bench_convert"),
    "conv2d_ratio": _t("<=", 2.0, "#22", "bench_convert"),
    "cnn_ratio": _t("<=", 2.0, "#22", "bench_convert"),
    "aihwkit_convert_ratio": _t("<=", 0.5, "#22", "bench_convert"),
    # chip cost vs DNN+NeuroSim's published VGG-8 breakdown (issue 25): "within k x" is a factor
    # max(r, 1/r) of the physnn / NeuroSim ratio r (DERIVED below)
    "neurosim_energy_factor": _t("<=", 1.5, "#25", "bench_cost"),
    "neurosim_latency_factor": _t("<=", 1.5, "#25", "bench_cost"),
    **{f"neurosim_energy_factor_{c}": _t("<=", 2.0, "#25", "bench_cost") for c in ("adc", "accumulation", "other")},
    **{f"neurosim_latency_factor_{c}": _t("<=", 2.0, "#25", "bench_cost") for c in ("adc", "accumulation", "other")},
    "cost_overhead": _t("<=", 0.10, "#25", "bench_cost"),
    # crossbars that learn in place (issue 23)
    "asym30_float_minus_analog_sgd": _t(">=", 0.05, "#23", "train_insitu"),
    "asym30_tiki_taka_minus_float": _t(">=", -0.03, "#23", "train_insitu"),
    "digits_tiki_taka_minus_float": _t(">=", -0.02, "#23", "train_insitu"),
    "digits_mixed_precision_minus_float": _t(">=", -0.02, "#23", "train_insitu"),
    "update_ratio": _t("<=", 3.0, "#23", "train_insitu"),
}


@dataclass(frozen=True)
class Derived:
    """A figure computed from a benchmark's figures (``inputs`` are flattened figure names)."""

    benchmark: str
    inputs: tuple[str, ...]
    fn: Callable[..., float]
    meaning: str


DERIVED: dict[str, Derived] = {
    "fault_trials_not_identical": Derived(
        "bench_sweep_faults",
        ("trials", "identical"),
        lambda a, b: a - b,
        "fault trials that did not end as they must (trials - identical)",
    ),
    "kws_ramp5_minus_ideal_act": Derived(
        "ramp_adc_rnn",
        ("kws_acc_ramp5", "kws_acc_ideal_act"),
        lambda a, b: a - b,
        "KWS accuracy, 5-bit ramp − ideal activations (points)",
    ),
    "bpc_ramp5_minus_ideal_act": Derived(
        "ramp_adc_rnn",
        ("bpc_ramp5", "bpc_ideal_act"),
        lambda a, b: a - b,
        "char-LM BPC, 5-bit ramp − ideal activations",
    ),
    "iris_acc_minus_float": Derived(
        "sfq_xor",
        ("task_acc", "task_acc_float"),
        lambda a, b: a - b,
        "iris accuracy, SFQ network − float network of the same shape",
    ),
    "hwa_drift_1y_minus_1s": Derived(
        "train_physical",
        ("hwa_drift_acc.1y", "hwa_drift_acc.1s"),
        lambda a, b: a - b,
        "HWA digits accuracy after 1 year − after 1 s",
    ),
    **{
        f"mnist1d_{m}_over_frozen": Derived(
            "train_physical",
            (f"mnist1d_acc.{m}", "mnist1d_acc.frozen_random_baseline"),
            lambda a, b: a - b,
            f"MNIST-1D accuracy, {m} − frozen random baseline",
        )
        for m in ("phyll", "mono_forward", "pat")
    },
    "mnist1d_cnn_hwa_1y_minus_float": Derived(
        "bench_convert",
        ("mnist1d_cnn_acc.pcm_hwa_1y", "mnist1d_cnn_acc.float"),
        lambda a, b: a - b,
        "MNIST-1D CNN accuracy, PCM + HWA after 1 year (8 chips) − float",
    ),
    "digits_cnn_hwa_1y_minus_float": Derived(
        "bench_convert",
        ("digits_cnn_acc.pcm_hwa_1y", "digits_cnn_acc.float"),
        lambda a, b: a - b,
        "digits CNN accuracy, PCM + HWA after 1 year (8 chips) − float",
    ),
    "char_lm_hwa_1d_minus_float_bpc": Derived(
        "bench_convert",
        ("char_lm_bpc.pcm_hwa_1d", "char_lm_bpc.float"),
        lambda a, b: a - b,
        "char-LM test BPC, PCM + HWA after 1 day − float",
    ),
    "mnist1d_pat_over_digital_equivalent": Derived(
        "train_physical",
        ("mnist1d_acc.pat", "mnist1d_acc.digital_equivalent_baseline"),
        lambda a, b: a - b,
        "MNIST-1D accuracy, PAT (crossbar weights trained) − digital-equivalent baseline",
    ),
    **{
        f"neurosim_{q}_factor{c}": Derived(
            "bench_cost",
            (f"neurosim_{q}_ratio{c}",),
            lambda r: max(r, 1.0 / r),
            f"{q} physnn / NeuroSim as a factor max(r, 1/r)" + (f", component {c[1:]}" if c else ", total"),
        )
        for q in ("energy", "latency")
        for c in ("", "_adc", "_accumulation", "_other")
    },
    "asym30_float_minus_analog_sgd": Derived(
        "train_insitu",
        ("asym30_acc.float_sgd", "asym30_acc.analog_sgd"),
        lambda a, b: a - b,
        "MNIST-1D, soft bounds 30 % asymmetry: float SGD − analog SGD (points lost in place)",
    ),
    "asym30_tiki_taka_minus_float": Derived(
        "train_insitu",
        ("asym30_acc.tiki_taka", "asym30_acc.float_sgd"),
        lambda a, b: a - b,
        "MNIST-1D, soft bounds 30 % asymmetry: Tiki-Taka v2 − float SGD",
    ),
    "digits_tiki_taka_minus_float": Derived(
        "train_insitu",
        ("digits_acc.tiki_taka", "digits_acc.float_sgd"),
        lambda a, b: a - b,
        "digits: Tiki-Taka v2 − float SGD",
    ),
    "digits_mixed_precision_minus_float": Derived(
        "train_insitu",
        ("digits_acc.mixed_precision", "digits_acc.float_sgd"),
        lambda a, b: a - b,
        "digits: mixed precision − float SGD",
    ),
}

#: benchmark -> (script, what it measures); their order is the documents' order
BENCHMARKS: dict[str, str] = {
    "bench_crossbar": "AnalogLinear vs nn.Linear and aihwkit's torch tile (#2, #12)",
    "bench_rnn": "crossbar LSTM/GRU/Elman vs torch.nn (#3, #12)",
    "ramp_adc_rnn": "ramp-ADC activations: approximation error, KWS, char-LM, lstm_ratio (#3)",
    "bench_josephson": "switching times and speed vs JoSIM (#4, #15, #21)",
    "josim_conformance": "conformance corpus: testbenches run unchanged in JoSIM and physnn (#26)",
    "train_physical": "model-free training of physical systems (#11, #21)",
    "lsm_zero_shot": "resistive-memory LSM, zero-shot retrieval (#5, #21)",
    "reservoir_bench": "ESN vs reservoirpy, memory capacity (#5)",
    "asic_reservoir": "SHA-256 ASIC timing reservoir vs a Poisson null (#5)",
    "bench_sweep": "sweeps: batched vs point loop, dask, resume, demo time (#13, #21)",
    "bench_sweep_faults": "sweeps under faults: kill -9, dead workers, copied folder, edited card, full disk (#27)",
    "sfq_xor": "SFQ synapses/neurons, XOR at network and circuit level, iris (#14)",
    "bench_convert": "converted CNNs / char-LM on PCM tiles: HWA, drift, speed vs torch and aihwkit (#22)",
    "bench_cost": "chip cost of VGG-8 on 22 nm RRAM vs DNN+NeuroSim V1.4's published breakdown (#25)",
    "train_insitu": "crossbars that learn in place: analog SGD, Tiki-Taka v2, mixed precision (#23)",
}

#: figures without a target that the README's table shows as well, by benchmark: names or
#: ``fnmatch`` patterns; a name also takes the figures nested under it (``name.*``)
HEADLINE: dict[str, tuple[str, ...]] = {
    "bench_convert": (
        "mnist1d_cnn_acc",
        "digits_cnn_acc",
        "char_lm_bpc",
        "cnn_ratio_mnist1d",
        "converted_layers",
        "tiles",
    ),
    "bench_rnn": ("gru_ratio", "rnn_ratio", "lstm_ratio_noisy_ramp"),
    "ramp_adc_rnn": ("kws_acc_*", "bpc_*", "lstm_ratio_with_column_adc"),
    "bench_josephson": ("josim_ratio_batch1024_cpu", "josim_parallel_procs", "max_switch_err_ps"),
    "josim_conformance": ("corpus_junctions", "corpus_events", "corpus_max_err_ps"),
    "train_physical": ("validation_split", "*digital_equivalent_baseline", "gain_over_digital_equivalent"),
    "lsm_zero_shot": ("*probe_acc",),
    "reservoir_bench": ("reservoirpy_narma10_nrmse", "memory_capacity", "*probe*"),
    "asic_reservoir": ("task_score", "task_score_null", "poisson_null_p"),
    "bench_sweep": ("demo_quick",),
    "train_insitu": ("digits_acc", "asym30_acc", "pulses_per_device", "spsa_pulsed_acc", "pat_pulsed_acc"),
    "sfq_xor": (
        "task_acc",
        "task_acc_float",
        "synapse_i50_A",
        "synapse_width_10_90_A",
        "stochastic_network_rate_inside_circuit_ci",
        "energy_per_inference_J",
        "latency_s",
    ),
}

NOT_MEASURED = "not measured"
_BEGIN = re.compile(r"^<!-- report:begin (\S+) -->$")
_END = re.compile(r"^<!-- report:end (\S+) -->$")


class ReportError(ValueError):
    """A document's markers or a results file is malformed (the message names file and line)."""


# ---- reading -------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not JSON ({exc})") from None
    if not isinstance(rec, dict) or not isinstance(rec.get("figures"), dict):
        raise ReportError(f"{path}: expected an object with a 'figures' object (experiments/_publish.py)")
    return rec


def load_results(results: Path) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """``latest.json`` and ``history.jsonl`` of every benchmark folder under ``results``.

    Returns
    -------
    latest : dict
        benchmark name -> record ``{"name", "figures", "meta"}``.
    history : dict
        benchmark name -> earlier records, oldest first.
    """
    latest: dict[str, dict] = {}
    history: dict[str, list[dict]] = {}
    if not results.is_dir():
        return latest, history
    for folder in sorted(p for p in results.iterdir() if p.is_dir()):
        if (folder / "latest.json").is_file():
            latest[folder.name] = _read_json(folder / "latest.json")
        hist = folder / "history.jsonl"
        if hist.is_file():
            runs = []
            for n, line in enumerate(hist.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    try:
                        runs.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise ReportError(f"{hist}:{n}: not JSON ({exc})") from None
            history[folder.name] = runs
    return latest, history


def flatten(figures: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts of figures as one level, keys joined by dots (lists stay values)."""
    out: dict[str, Any] = {}
    for k, v in figures.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def figures_of(name: str, record: dict | None) -> dict[str, Any]:
    """A benchmark's flattened figures plus its derived ones (missing inputs: derived is absent)."""
    flat = flatten(record["figures"]) if record else {}
    for key, d in DERIVED.items():
        if d.benchmark == name:
            args = [_number(flat.get(i)) for i in d.inputs]
            if all(a is not None for a in args):
                flat[key] = d.fn(*args)
    return flat


# ---- formatting ----------------------------------------------------------------------------


def fmt(v: Any, width: int = 90) -> str:
    """One table cell for a figure value (4 significant digits; long lists cut)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v == int(v) and abs(v) < 1e6:
            return str(int(v))
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        s = "[" + ", ".join(fmt(x, width) for x in v) + "]"
        return s if len(s) <= width else s[: width - 1] + "…]"
    if isinstance(v, dict):
        return fmt(json.dumps(v, sort_keys=True), width)
    s = str(v).replace("|", "\\|").replace("\n", " ")
    return s if len(s) <= width else s[: width - 1] + "…"


_OPS = {"<=": "≤", ">=": "≥", "==": "="}


def target_text(key: str) -> str:
    t = TARGETS.get(key)
    return f"{_OPS[t.op]} {fmt(t.bound)} ({t.issue})" if t else ""


def met(key: str, value: Any) -> str:
    """``yes``, ``**no**`` (a missed target is bold), or ``—`` (no target, or nothing to compare)."""
    if key not in TARGETS:
        return ""
    x = _number(value)
    if x is None:
        return "—"
    t = TARGETS[key]
    ok = x <= t.bound if t.op == "<=" else x >= t.bound if t.op == ">=" else x == t.bound
    return "yes" if ok else "**no**"


def targets_of(name: str) -> list[str]:
    """The target figures a benchmark reports (in ``TARGETS``' order), measured or not."""
    return [k for k, t in TARGETS.items() if name in t.benchmarks]


def headline_of(name: str, flat: dict[str, Any]) -> list[str]:
    """The figures of ``flat`` that ``HEADLINE[name]`` names, in the patterns' order."""
    out: list[str] = []
    for pat in HEADLINE.get(name, ()):
        out += [k for k in flat if k not in out and (fnmatch.fnmatchcase(k, pat) or k.startswith(pat + "."))]
    return out


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _load(meta: dict) -> str:
    """The 1-minute load average at the start and the end of a run."""
    a, b = meta.get("load_avg_start"), meta.get("load_avg_end")
    return f"{fmt(a[0])} → {fmt(b[0])}" if a and b else "?"


def _meta_line(name: str, rec: dict) -> list[str]:
    m = rec.get("meta", {})
    mach = m.get("machine", {})
    threads = []
    for lib in ("torch", "numba"):
        if lib in mach:
            t = mach.get(f"{lib}_threads")
            threads.append(f"{lib} {mach[lib]}" + (f" ({t} thread{'' if t == 1 else 's'})" if t is not None else ""))
    commit = m.get("commit") or "?"
    if m.get("dirty"):
        commit += " (uncommitted changes)"
    machine = ", ".join(
        str(x)
        for x in (
            mach.get("cpu"),
            f"{mach.get('cores')} cores" if mach.get("cores") else None,
            f"{fmt(mach['memory_gib'])} GiB" if mach.get("memory_gib") else None,
        )
        if x
    )
    return [
        f"- run: {m.get('date_utc', '?')}, commit `{commit}`, `{m.get('command', '?')}`",
        f"- machine: {machine or '?'}; Python {mach.get('python', '?')}; {'; '.join(threads) or 'no torch/numba'}",
        f"- load average (1 min) at start → end: {_load(m)}",
        f"- source: `results/{name}/latest.json`",
    ]


def _figure_cells(key: str, flat: dict[str, Any]) -> list[str]:
    if key not in flat:
        return [f"`{key}`", NOT_MEASURED, target_text(key), "—" if key in TARGETS else ""]
    return [f"`{key}`", fmt(flat[key]), target_text(key), met(key, flat[key])]


def render_benchmark(name: str, latest: dict[str, dict], history: dict[str, list[dict]]) -> list[str]:
    rec = latest.get(name)
    if rec is None:
        return [f"{NOT_MEASURED}: no `results/{name}/latest.json` (run `python experiments/{name}.py`)."]
    flat = figures_of(name, rec)
    keys = targets_of(name)
    lines = _meta_line(name, rec) + [""]
    if keys:
        n_met = sum(k in flat and met(k, flat[k]) == "yes" for k in keys)
        lines += [f"Targets met: {n_met} of {len(keys)}.", "", "| figure | value | target | met |", "|---|---|---|---|"]
        lines += [_row(*_figure_cells(k, flat)) for k in keys]
        derived = [k for k in keys if k in DERIVED and DERIVED[k].benchmark == name]
        if derived:
            lines.append("")
            lines += [
                f"- `{k}`: {DERIVED[k].meaning} (from {', '.join(f'`{i}`' for i in DERIVED[k].inputs)})"
                for k in derived
            ]
        lines.append("")
    rest = [k for k in flat if k not in keys]
    lines += [
        "All figures of the run:" if not keys else "Other figures of the run:",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    lines += [_row(f"`{k}`", fmt(flat[k])) for k in rest]
    return lines


def render_figures(latest: dict[str, dict], history: dict[str, list[dict]]) -> list[str]:
    lines = ["| figure | value | target | met | source |", "|---|---|---|---|---|"]
    names = list(BENCHMARKS) + sorted(n for n in latest if n not in BENCHMARKS)
    for name in names:
        rec = latest.get(name)
        if rec:
            m = rec.get("meta", {})
            src = f"`results/{name}/latest.json` ({str(m.get('date_utc', '?'))[:10]}, load {_load(m)})"
        else:
            src = f"{NOT_MEASURED} (`experiments/{name}.py`)"
        flat = figures_of(name, rec)
        keys = targets_of(name)
        keys += [k for k in headline_of(name, flat) if k not in keys]
        if not keys:
            keys = sorted(flat) if rec else []
            if not rec:
                lines.append(_row(f"`{name}`", NOT_MEASURED, "", "", src))
        for k in keys:
            lines.append(_row(*_figure_cells(k, flat), src))
    return lines


def render_summary(latest: dict[str, dict], history: dict[str, list[dict]]) -> list[str]:
    lines = [
        "| benchmark | measures | run (UTC) | commit | load (1 min, start → end) | targets met | source |",
        "|---|---|---|---|---|---|---|",
    ]
    names = list(BENCHMARKS) + sorted(n for n in latest if n not in BENCHMARKS)
    for name in names:
        what = BENCHMARKS.get(name, "")
        rec = latest.get(name)
        if rec is None:
            lines.append(f"| `{name}` | {what} | {NOT_MEASURED} | | | | `experiments/{name}.py` |")
            continue
        m = rec.get("meta", {})
        flat = figures_of(name, rec)
        keys = targets_of(name)
        n_met = sum(k in flat and met(k, flat[k]) == "yes" for k in keys)
        lines.append(
            f"| `{name}` | {what} | {m.get('date_utc', '?')} | `{m.get('commit') or '?'}`"
            f"{' (dirty)' if m.get('dirty') else ''} | {_load(m)} | "
            f"{f'{n_met} of {len(keys)}' if keys else '—'} | `results/{name}/latest.json` |"
        )
    return lines


def render_history(latest: dict[str, dict], history: dict[str, list[dict]]) -> list[str]:
    lines: list[str] = []
    for name in list(BENCHMARKS) + sorted(n for n in history if n not in BENCHMARKS):
        runs = history.get(name, [])
        if not runs:
            continue
        lines += [
            f"`{name}` (`results/{name}/history.jsonl`, newest first):",
            "",
            "| run (UTC) | commit | quick | load (1 min, start → end) | targets met | target figures |",
            "|---|---|---|---|---|---|",
        ]
        for rec in reversed(runs):
            m = rec.get("meta", {})
            flat = figures_of(name, rec)
            keys = [k for k in targets_of(name) if k in flat]
            n_met = sum(met(k, flat[k]) == "yes" for k in keys)
            vals = ", ".join(f"{k} {fmt(flat[k])}" for k in keys) or "—"
            lines.append(
                f"| {m.get('date_utc', '?')} | `{m.get('commit') or '?'}`{' (dirty)' if m.get('dirty') else ''} "
                f"| {'yes' if m.get('quick') else 'no'} | {_load(m)} | {n_met} of {len(keys)} | {vals} |"
            )
        lines.append("")
    if not lines:
        return ["No earlier published runs yet (`results/*/history.jsonl`)."]
    return lines[:-1]


def render(block: str, latest: dict[str, dict], history: dict[str, list[dict]]) -> list[str]:
    """The generated lines of one block (between its markers)."""
    if block == "figures":
        return render_figures(latest, history)
    if block == "summary":
        return render_summary(latest, history)
    if block == "history":
        return render_history(latest, history)
    if block.startswith("benchmark:") and block[len("benchmark:") :]:
        return render_benchmark(block[len("benchmark:") :], latest, history)
    raise KeyError(block)


# ---- documents -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    name: str
    begin: int  # index of the begin marker line
    end: int  # index of the end marker line


def find_blocks(lines: list[str], where: str) -> list[Block]:
    """The marked blocks of a document (``where`` names it in errors)."""
    blocks: list[Block] = []
    open_: tuple[str, int] | None = None
    seen: set[str] = set()
    for i, line in enumerate(lines):
        b, e = _BEGIN.match(line.strip()), _END.match(line.strip())
        if b:
            if open_:
                raise ReportError(
                    f"{where}:{i + 1}: report:begin {b.group(1)} inside block {open_[0]!r} "
                    f"(opened on line {open_[1] + 1})"
                )
            open_ = (b.group(1), i)
        elif e:
            if not open_ or open_[0] != e.group(1):
                raise ReportError(f"{where}:{i + 1}: report:end {e.group(1)} without its report:begin")
            if open_[0] in seen:
                raise ReportError(f"{where}:{open_[1] + 1}: block {open_[0]!r} appears twice")
            try:
                render(open_[0], {}, {})
            except KeyError:
                raise ReportError(
                    f"{where}:{open_[1] + 1}: unknown block {open_[0]!r} (known: figures, summary, "
                    "history, benchmark:NAME)"
                ) from None
            seen.add(open_[0])
            blocks.append(Block(open_[0], open_[1], i))
            open_ = None
    if open_:
        raise ReportError(f"{where}:{open_[1] + 1}: report:begin {open_[0]} is never closed")
    return blocks


def regenerate(
    text: str, where: str, latest: dict[str, dict], history: dict[str, list[dict]]
) -> tuple[str, dict[str, list[str]]]:
    """``text`` with every block rendered anew, and per differing block its diff lines."""
    lines = text.split("\n")
    diffs: dict[str, list[str]] = {}
    out: list[str] = []
    pos = 0
    for blk in find_blocks(lines, where):
        new = render(blk.name, latest, history)
        old = lines[blk.begin + 1 : blk.end]
        if old != new:
            diffs[blk.name] = [
                d
                for d in difflib.unified_diff(old, new, lineterm="", n=0)
                if d[:1] in "+-" and not d.startswith(("---", "+++"))
            ]
        out += lines[pos : blk.begin + 1] + new
        pos = blk.end
    out += lines[pos:]
    return "\n".join(out), diffs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--check",
        action="store_true",
        help="rewrite nothing; exit 1 if a generated block differs from results/*/latest.json",
    )
    p.add_argument("--root", type=Path, default=ROOT, help="repository root (documents and results/)")
    args = p.parse_args(argv)
    try:
        latest, history = load_results(args.root / "results")
        failed = False
        for doc in DOCUMENTS:
            path = args.root / doc
            if not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            new, diffs = regenerate(text, doc, latest, history)
            if args.check:
                for blk, d in diffs.items():
                    failed = True
                    print(
                        f"{doc}: block {blk!r} differs from what results/ gives (run `python experiments/report.py`):",
                        file=sys.stderr,
                    )
                    for line in d[:40]:
                        print(f"    {line}", file=sys.stderr)
                    if len(d) > 40:
                        print(f"    … {len(d) - 40} more lines", file=sys.stderr)
            elif new != text:
                path.write_text(new, encoding="utf-8")
                print(f"report: rewrote {', '.join(diffs)} in {doc}")
    except ReportError as exc:
        print(f"report: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(
            "report: every generated block matches results/" if not failed else "report: check failed",
            file=sys.stderr if failed else sys.stdout,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
