"""Transfer curves fitted to the circuit-level characterisation, stored as TOML with provenance.

A logistic ``P(I) = 1 / (1 + exp(-(I - I50) / s))`` is fitted by maximum likelihood (binomial
counts of the noisy trials) to the synapse S-curve and to the neuron's firing probability of every
input pattern. The file (default ``circuits/sfq_transfer.toml``, next to the netlists it describes)
records, per cell, the SHA-256 of the cell netlist, the bias range that was characterised (the
physical range the layers accept), the fitted parameters and the measured points with their
confidence intervals, plus how and when it was made. :func:`load_transfer` refuses a file whose
cell hash, fan-in or array lengths do not match the cell.
"""

from __future__ import annotations

import datetime as _dt
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from .cells import cell_sha256

__all__ = ["Logistic", "CellCurves", "TransferCurves", "TransferFileError", "fit_logistic", "fit_two_step", "curves_from_synapse",
           "curves_from_neuron", "save_transfer", "load_transfer", "default_transfer_path", "WIDTH_10_90"]

#: 10-90 % width of a logistic in units of its scale s: 2 ln 9
WIDTH_10_90 = 2 * math.log(9.0)


class TransferFileError(ValueError):
    """A transfer-curve file is malformed or does not match its cell (names the file and field)."""


@dataclass(frozen=True, kw_only=True)
class Logistic:
    """Two-step logistic ``P(I) = w s((I - i50_A)/scale_A) + (1 - w) s((I - i50_2_A)/scale_2_A)``
    (s the logistic sigmoid; one entry per input pattern). ``w = 1`` is a plain S-curve; ``w < 1``
    describes a plateau (e.g. a pulse pair that the merger passes with probability ~w)."""

    i50_A: np.ndarray
    scale_A: np.ndarray
    weight: np.ndarray | None = None
    i50_2_A: np.ndarray | None = None
    scale_2_A: np.ndarray | None = None

    def __post_init__(self):
        n = np.shape(self.i50_A)
        if self.weight is None:
            object.__setattr__(self, "weight", np.ones(n))
            object.__setattr__(self, "i50_2_A", np.asarray(self.i50_A, float).copy())
            object.__setattr__(self, "scale_2_A", np.asarray(self.scale_A, float).copy())

    def __call__(self, bias_A):
        b = np.asarray(bias_A)[..., None]
        s1 = 1.0 / (1.0 + np.exp(-(b - self.i50_A) / self.scale_A))
        s2 = 1.0 / (1.0 + np.exp(-(b - self.i50_2_A) / self.scale_2_A))
        return self.weight * s1 + (1 - self.weight) * s2


@dataclass(frozen=True, kw_only=True)
class CellCurves:
    """Fitted curves of one cell: ``curve`` has one entry per input pattern (1 for the synapse)."""

    cell: str
    fan_in: int
    bias_range_A: tuple[float, float]
    curve: Logistic
    cell_sha256: str
    data: dict = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TransferCurves:
    """Synapse curve and neuron curves per fan-in, with the file's provenance."""

    synapse: CellCurves
    neurons: dict[int, CellCurves]
    provenance: dict
    path: str | None = None

    def neuron(self, fan_in: int) -> CellCurves:
        if fan_in not in self.neurons:
            raise ValueError(f"fan_in={fan_in}: no neuron characterisation for this fan-in in "
                             f"{self.path or 'the transfer curves'} (have {sorted(self.neurons)})")
        return self.neurons[fan_in]


def _nll_two(x, k, n, i1, s1, w, i2, s2):
    from scipy.special import expit

    p = w * expit((x - i1) / s1) + (1 - w) * expit((x - i2) / s2)
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return -float(np.sum(k * np.log(p) + (n - k) * np.log1p(-p))) / max(n.sum(), 1)


def fit_logistic(bias_A, k, n, *, lo_A: float, hi_A: float) -> tuple[float, float]:
    """Maximum-likelihood (I50, s) of a logistic to ``k`` successes of ``n`` trials at ``bias_A``.

    I50 is bounded to the swept range widened by its width; s to [0.2 uA, 40 uA] (curves that never
    or always switch inside the range end on a bound, i.e. far outside the range)."""
    from scipy.optimize import minimize

    x = np.asarray(bias_A, float)
    k = np.asarray(k, float)
    n = np.asarray(n, float)
    span = hi_A - lo_A
    p = k / np.maximum(n, 1)
    guess_i = float(np.interp(0.5, np.maximum.accumulate(p), x)) if p.max() > 0.5 > p.min() else (
        hi_A + span if p.max() <= 0.5 else lo_A - span)
    best = None
    for s0 in (1e-6, 3e-6, 10e-6):
        r = minimize(lambda th: _nll_two(x, k, n, th[0], math.exp(th[1]), 1.0, th[0], 1.0), [guess_i, math.log(s0)],
                     method="L-BFGS-B", bounds=[(lo_A - span, hi_A + span), (math.log(0.2e-6), math.log(40e-6))])
        if best is None or r.fun < best.fun:
            best = r
    return float(best.x[0]), float(math.exp(best.x[1]))


def fit_two_step(bias_A, k, n, *, lo_A: float, hi_A: float) -> tuple[float, float, float, float, float]:
    """Maximum-likelihood two-step logistic (i50, s, w, i50_2, s_2), i50 <= i50_2; kept only if it
    beats the single logistic by a likelihood-ratio margin (else w = 1)."""
    from scipy.optimize import minimize

    x = np.asarray(bias_A, float)
    k = np.asarray(k, float)
    n = np.asarray(n, float)
    i1, s1 = fit_logistic(x, k, n, lo_A=lo_A, hi_A=hi_A)
    one = _nll_two(x, k, n, i1, s1, 1.0, i1, 1.0)
    span = hi_A - lo_A
    best = None
    for w0 in (0.3, 0.6, 0.85):
        for a, b in ((lo_A + 0.2 * span, lo_A + 0.7 * span), (lo_A + 0.1 * span, lo_A + 0.5 * span),
                     (lo_A + 0.4 * span, lo_A + 0.9 * span)):
            th0 = [a, math.log(3e-6), math.log(w0 / (1 - w0)), b - a, math.log(3e-6)]

            def f(th):
                return _nll_two(x, k, n, th[0], math.exp(th[1]), 1 / (1 + math.exp(-th[2])), th[0] + th[3],
                                math.exp(th[4]))

            r = minimize(f, th0, method="L-BFGS-B",
                         bounds=[(lo_A - span, hi_A + span), (math.log(0.2e-6), math.log(40e-6)), (-8, 8),
                                 (0, 2 * span), (math.log(0.2e-6), math.log(40e-6))])
            if best is None or r.fun < best.fun:
                best = r
    # likelihood-ratio test (3 extra parameters): keep the plateau only where the data demand it
    if (one - best.fun) * n.sum() < 8.0:
        return i1, s1, 1.0, i1, s1
    t = best.x
    return float(t[0]), float(math.exp(t[1])), float(1 / (1 + math.exp(-t[2]))), float(t[0] + t[3]), float(math.exp(t[4]))


def curves_from_synapse(ds: xr.Dataset, bias_range_A: tuple[float, float]) -> CellCurves:
    """Fit the synapse S-curve (from :func:`physnn.sfq.synapse_scurve`)."""
    b = ds["bias"].values
    i50, s = fit_logistic(b, ds["n_passed"].values, ds["n_trials"].values, lo_A=float(b.min()), hi_A=float(b.max()))
    data = {k: ds[k].values.tolist() for k in ("pass_prob", "ci_low", "ci_high", "n_trials")}
    data["bias_A"] = b.tolist()
    return CellCurves(cell="synapse", fan_in=1, bias_range_A=tuple(map(float, bias_range_A)),
                      curve=Logistic(i50_A=np.array([i50]), scale_A=np.array([s])), cell_sha256=cell_sha256("synapse"),
                      data=data)


def curves_from_neuron(ds: xr.Dataset, bias_range_A: tuple[float, float]) -> CellCurves:
    """Fit one logistic per input pattern (from :func:`physnn.sfq.neuron_response`)."""
    b = ds["bias"].values
    k = ds["fire_prob"].values * ds["n_trials"].values
    fits = np.array([fit_two_step(b, k[p], ds["n_trials"].values[p], lo_A=float(b.min()), hi_A=float(b.max()))
                     for p in range(ds.sizes["pattern"])])
    data = {"bias_A": b.tolist(), "fire_prob": ds["fire_prob"].values.tolist(),
            "ci_low": ds["ci_low"].values.tolist(), "ci_high": ds["ci_high"].values.tolist()}
    return CellCurves(cell="neuron", fan_in=int(ds.attrs["fan_in"]), bias_range_A=tuple(map(float, bias_range_A)),
                      curve=Logistic(i50_A=fits[:, 0], scale_A=fits[:, 1], weight=fits[:, 2], i50_2_A=fits[:, 3],
                                    scale_2_A=fits[:, 4]),
                      cell_sha256=cell_sha256("neuron"), data=data)


def default_transfer_path() -> Path:
    from .._resources import search_path

    for folder in search_path("circuits"):
        p = Path(folder) / "sfq_transfer.toml"
        if p.is_file():
            return p
    raise FileNotFoundError("sfq_transfer.toml: no transfer-curve file in the circuits folders "
                            f"{[str(p) for p in search_path('circuits')]}; run experiments/sfq_xor.py --characterise")


def _cell_table(c: CellCurves) -> dict:
    return {"cell": c.cell, "fan_in": c.fan_in, "cell_sha256": c.cell_sha256,
            "bias_range_A": list(c.bias_range_A), "i50_A": c.curve.i50_A.tolist(),
            "scale_A": c.curve.scale_A.tolist(), "weight": c.curve.weight.tolist(),
            "i50_2_A": c.curve.i50_2_A.tolist(), "scale_2_A": c.curve.scale_2_A.tolist(), "data": c.data}


def save_transfer(curves: TransferCurves, path) -> Path:
    """Write ``curves`` as TOML (provenance first)."""
    import tomli_w

    doc = {"provenance": {**curves.provenance, "written_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")},
           "synapse": _cell_table(curves.synapse),
           "neuron": {f"fan_in_{k}": _cell_table(v) for k, v in sorted(curves.neurons.items())}}
    path = Path(path)
    path.write_text("# physnn SFQ transfer curves: logistic fits to circuit-level characterisations at "
                    "4.2 K (physnn.sfq).\n# Units: A. Generated file; regenerate with experiments/sfq_xor.py "
                    "--characterise.\n" + tomli_w.dumps(doc))
    return path


def _cell_from(tab: dict, where: str, expect_cell: str, path: str) -> CellCurves:
    def need(key):
        if key not in tab:
            raise TransferFileError(f"{path}: [{where}] lacks field {key!r}")
        return tab[key]

    cell = need("cell")
    if cell != expect_cell:
        raise TransferFileError(f"{path}: [{where}] cell = {cell!r}, expected {expect_cell!r}")
    sha = need("cell_sha256")
    now = cell_sha256(cell)
    if sha != now:
        raise TransferFileError(f"{path}: [{where}] cell_sha256 does not match the current netlist of cell {cell!r} "
                                f"({sha[:12]}... in the file, {now[:12]}... now): the curves were fitted to another "
                                "circuit; re-characterise (experiments/sfq_xor.py --characterise)")
    k = int(need("fan_in"))
    n_pat = 1 if cell == "synapse" else 2 ** k
    arrs = {}
    for key in ("i50_A", "scale_A", "weight", "i50_2_A", "scale_2_A"):
        arrs[key] = np.asarray(need(key), float)
        if arrs[key].shape != (n_pat,):
            raise TransferFileError(f"{path}: [{where}] {key} needs {n_pat} entries (one per input pattern of "
                                    f"fan_in={k}), got {arrs[key].size}")
        if not np.all(np.isfinite(arrs[key])):
            raise TransferFileError(f"{path}: [{where}] {key} must be finite")
    if np.any(arrs["scale_A"] <= 0) or np.any(arrs["scale_2_A"] <= 0) or np.any((arrs["weight"] < 0) | (arrs["weight"] > 1)):
        raise TransferFileError(f"{path}: [{where}] scales must be > 0 and weight in [0, 1]")
    lo, hi = map(float, need("bias_range_A"))
    if not lo < hi:
        raise TransferFileError(f"{path}: [{where}] bias_range_A must be [low, high] with low < high")
    return CellCurves(cell=cell, fan_in=k, bias_range_A=(lo, hi), curve=Logistic(**arrs),
                      cell_sha256=sha, data=tab.get("data", {}))


def load_transfer(path=None) -> TransferCurves:
    """Read and validate a transfer-curve file (default: the shipped ``circuits/sfq_transfer.toml``)."""
    path = Path(path) if path is not None else default_transfer_path()
    try:
        doc = tomllib.loads(Path(path).read_text())
    except tomllib.TOMLDecodeError as e:
        raise TransferFileError(f"{path}: not valid TOML ({e})") from None
    for sec in ("provenance", "synapse", "neuron"):
        if sec not in doc:
            raise TransferFileError(f"{path}: missing section [{sec}]")
    syn = _cell_from(doc["synapse"], "synapse", "synapse", str(path))
    neurons = {}
    for key, tab in doc["neuron"].items():
        c = _cell_from(tab, f"neuron.{key}", "neuron", str(path))
        if key != f"fan_in_{c.fan_in}":
            raise TransferFileError(f"{path}: [neuron.{key}] has fan_in = {c.fan_in}")
        neurons[c.fan_in] = c
    return TransferCurves(synapse=syn, neurons=neurons, provenance=dict(doc["provenance"]), path=str(path))
