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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from .._compat import tomllib
from .cells import cell_sha256

__all__ = [
    "Logistic",
    "CellCurves",
    "ContextCurves",
    "TransferCurves",
    "curves_from_context",
    "fit_context_entry",
    "TransferFileError",
    "fit_logistic",
    "fit_two_step",
    "fit_floor_ceiling",
    "pooled_floor_ceiling",
    "curves_from_synapse",
    "curves_from_neuron",
    "save_transfer",
    "load_transfer",
    "default_transfer_path",
    "WIDTH_10_90",
]

#: 10-90 % width of a logistic in units of its scale s: 2 ln 9
WIDTH_10_90 = 2 * math.log(9.0)


class TransferFileError(ValueError):
    """A transfer-curve file is malformed or does not match its cell (names the file and field)."""


@dataclass(frozen=True, kw_only=True)
class Logistic:
    """Two-step logistic between a floor and a ceiling,
    ``P(I) = floor + (1 - floor - ceiling) [w s((I - i50_A)/scale_A) + (1 - w) s((I - i50_2_A)/scale_2_A)]``
    (s the logistic sigmoid; one entry per input pattern). ``w = 1`` is a plain S-curve; ``w < 1``
    describes a plateau (e.g. a pulse pair that the merger passes with probability ~w). ``floor``
    is the probability of a background event in the slot whatever the bias (e.g. a late or
    spontaneous firing carried into the slot), ``ceiling`` that of a missed one (default 0)."""

    i50_A: np.ndarray
    scale_A: np.ndarray
    weight: np.ndarray | None = None
    i50_2_A: np.ndarray | None = None
    scale_2_A: np.ndarray | None = None
    floor: np.ndarray | None = None
    ceiling: np.ndarray | None = None

    def __post_init__(self):
        n = np.shape(self.i50_A)
        if self.weight is None:
            object.__setattr__(self, "weight", np.ones(n))
            object.__setattr__(self, "i50_2_A", np.asarray(self.i50_A, float).copy())
            object.__setattr__(self, "scale_2_A", np.asarray(self.scale_A, float).copy())
        for k in ("floor", "ceiling"):
            if getattr(self, k) is None:
                object.__setattr__(self, k, np.zeros(n))

    def __call__(self, bias_A):
        b = np.asarray(bias_A)[..., None]
        s1 = 1.0 / (1.0 + np.exp(-(b - self.i50_A) / self.scale_A))
        s2 = 1.0 / (1.0 + np.exp(-(b - self.i50_2_A) / self.scale_2_A))
        return self.floor + (1 - self.floor - self.ceiling) * (self.weight * s1 + (1 - self.weight) * s2)


@dataclass(frozen=True, kw_only=True)
class CellCurves:
    """Fitted curves of one cell: ``curve`` has one entry per input pattern (1 for the synapse)."""

    cell: str
    fan_in: int
    bias_range_A: tuple[float, float]
    curve: Logistic
    cell_sha256: str
    data: dict = field(default_factory=dict)


def latest_line(context: int) -> int:
    """The latest (highest) line set in a context bit mask; -1 for the empty context."""
    return int(context).bit_length() - 1


def piecewise_linear(x, knots, values):
    """Linear interpolation of ``values`` (..., n_knots) at ``x`` (clamped to the knot range), numpy."""
    xc = np.clip(x, knots[0], knots[-1])
    j = np.clip(np.searchsorted(knots, xc, side="right") - 1, 0, len(knots) - 2)
    f = (xc - knots[j]) / (knots[j + 1] - knots[j])
    return values[..., j] * (1 - f) + values[..., j + 1] * f


@dataclass(frozen=True, kw_only=True)
class ContextCurves:
    """Pass curves of the synapses *inside* a neuron cell of fan-in K, per (line, context).

    Entry ``e = 2**i - 1 + c`` (:func:`physnn.sfq.characterise.context_code`) describes line i
    when the lines of bit mask ``c`` (all < i) passed a pulse earlier in the same slot:
    ``P = sigmoid((I_i - I50_e(I_j)) / s_e)``, where ``I_j`` is the gate bias of the latest line
    j in ``c`` (its bias sets when its pulse reaches the merger tree) and ``I50_e`` is linear
    between ``knots_A`` (``i50_A[e]`` holds its values there; constant for the empty context).
    """

    fan_in: int
    knots_A: np.ndarray
    i50_A: np.ndarray  # (entries, knots)
    scale_A: np.ndarray  # (entries,)
    cell_sha256: str  # the synapse netlist
    data: dict = field(default_factory=dict)

    def entry(self, line: int, context: int) -> int:
        return (1 << line) - 1 + context

    def pass_prob(self, line: int, context: int, bias_A, prev_bias_A=None):
        """Pass probability of ``line`` in ``context`` at gate bias ``bias_A`` (A); ``prev_bias_A``
        is the gate bias of the latest passed line of the context (ignored for context 0)."""
        from scipy.special import expit

        e = self.entry(line, context)
        if context:
            i50 = piecewise_linear(np.asarray(prev_bias_A, float), self.knots_A, self.i50_A[e])
        else:
            i50 = self.i50_A[e, 0]
        return expit((np.asarray(bias_A, float) - i50) / self.scale_A[e])


@dataclass(frozen=True, kw_only=True)
class TransferCurves:
    """Synapse curve, neuron curves per fan-in and (optionally) the synapse-in-neuron context
    curves per fan-in, with the file's provenance."""

    synapse: CellCurves
    neurons: dict[int, CellCurves]
    provenance: dict
    path: str | None = None
    contexts: dict = field(default_factory=dict)

    def neuron(self, fan_in: int) -> CellCurves:
        if fan_in not in self.neurons:
            raise ValueError(
                f"fan_in={fan_in}: no neuron characterisation for this fan-in in "
                f"{self.path or 'the transfer curves'} (have {sorted(self.neurons)})"
            )
        return self.neurons[fan_in]

    def context(self, fan_in: int) -> "ContextCurves | None":
        """Context curves of the synapses in a neuron cell of ``fan_in``, or None if not characterised."""
        return self.contexts.get(fan_in)


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
    guess_i = (
        float(np.interp(0.5, np.maximum.accumulate(p), x))
        if p.max() > 0.5 > p.min()
        else (hi_A + span if p.max() <= 0.5 else lo_A - span)
    )
    best = None
    for s0 in (1e-6, 3e-6, 10e-6):
        r = minimize(
            lambda th: _nll_two(x, k, n, th[0], math.exp(th[1]), 1.0, th[0], 1.0),
            [guess_i, math.log(s0)],
            method="L-BFGS-B",
            bounds=[(lo_A - span, hi_A + span), (math.log(0.2e-6), math.log(40e-6))],
        )
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
        for a, b in (
            (lo_A + 0.2 * span, lo_A + 0.7 * span),
            (lo_A + 0.1 * span, lo_A + 0.5 * span),
            (lo_A + 0.4 * span, lo_A + 0.9 * span),
        ):
            th0 = [a, math.log(3e-6), math.log(w0 / (1 - w0)), b - a, math.log(3e-6)]

            def f(th):
                return _nll_two(
                    x, k, n, th[0], math.exp(th[1]), 1 / (1 + math.exp(-th[2])), th[0] + th[3], math.exp(th[4])
                )

            r = minimize(
                f,
                th0,
                method="L-BFGS-B",
                bounds=[
                    (lo_A - span, hi_A + span),
                    (math.log(0.2e-6), math.log(40e-6)),
                    (-8, 8),
                    (0, 2 * span),
                    (math.log(0.2e-6), math.log(40e-6)),
                ],
            )
            if best is None or r.fun < best.fun:
                best = r
    # likelihood-ratio test (3 extra parameters): keep the plateau only where the data demand it
    if (one - best.fun) * n.sum() < 8.0:
        return i1, s1, 1.0, i1, s1
    t = best.x
    return (
        float(t[0]),
        float(math.exp(t[1])),
        float(1 / (1 + math.exp(-t[2]))),
        float(t[0] + t[3]),
        float(math.exp(t[4])),
    )


def curves_from_synapse(ds: xr.Dataset, bias_range_A: tuple[float, float]) -> CellCurves:
    """Fit the synapse S-curve (from :func:`physnn.sfq.synapse_scurve`)."""
    b = ds["bias"].values
    i50, s = fit_logistic(b, ds["n_passed"].values, ds["n_trials"].values, lo_A=float(b.min()), hi_A=float(b.max()))
    data = {k: ds[k].values.tolist() for k in ("pass_prob", "ci_low", "ci_high", "n_trials")}
    data["bias_A"] = b.tolist()
    return CellCurves(
        cell="synapse",
        fan_in=1,
        bias_range_A=tuple(map(float, bias_range_A)),
        curve=Logistic(i50_A=np.array([i50]), scale_A=np.array([s])),
        cell_sha256=cell_sha256("synapse"),
        data=data,
    )


#: largest background (floor) or miss (ceiling) probability per slot a neuron fit may take
FLOOR_MAX = 0.05


def fit_floor_ceiling(
    bias_A, k, n, *, lo_A: float, hi_A: float, floor: float | None = None, ceiling: float | None = None
):
    """Maximum-likelihood two-step logistic with a floor and a ceiling (:class:`Logistic`):
    (i50, s, w, i50_2, s_2, floor, ceiling). The rare background events of a neuron (a firing in
    a slot without enough input, or none in a slot with plenty) are bias independent to first
    order; floor and ceiling lie in [0, FLOOR_MAX] (or are held at the given ``floor`` /
    ``ceiling``). The plateau (w < 1) is kept only where a likelihood-ratio margin demands it, as
    in :func:`fit_two_step`."""
    from scipy.optimize import minimize
    from scipy.special import expit

    x = np.asarray(bias_A, float) * 1e6
    k = np.asarray(k, float)
    n = np.asarray(n, float)
    lo, hi = lo_A * 1e6, hi_A * 1e6
    span = hi - lo

    def nll(i1, s1, w, i2, s2, fl, ce):
        p = fl + (1 - fl - ce) * (w * expit((x - i1) / s1) + (1 - w) * expit((x - i2) / s2))
        p = np.clip(p, 1e-12, 1 - 1e-12)
        return -float(np.sum(k * np.log(p) + (n - k) * np.log1p(-p)))

    fb = (0.0, FLOOR_MAX) if floor is None else (float(floor), float(floor))
    cb = (0.0, FLOOR_MAX) if ceiling is None else (float(ceiling), float(ceiling))
    f0 = 1e-4 if floor is None else float(floor)
    c0 = 1e-4 if ceiling is None else float(ceiling)
    sb = (math.log(0.2), math.log(40.0))
    i1, s1 = fit_logistic(bias_A, k, n, lo_A=lo_A, hi_A=hi_A)
    best1 = None
    for th0 in (
        [i1 * 1e6, math.log(s1 * 1e6), f0, c0],
        [i1 * 1e6, math.log(3.0), max(f0, 1e-3 * (floor is None)), max(c0, 1e-3 * (ceiling is None))],
    ):
        r = minimize(
            lambda t: nll(t[0], math.exp(t[1]), 1.0, t[0], 1.0, t[2], t[3]),
            th0,
            method="L-BFGS-B",
            bounds=[(lo - span, hi + span), sb, fb, cb],
        )
        if best1 is None or r.fun < best1.fun:
            best1 = r
    t1 = best1.x
    one = (t1[0], math.exp(t1[1]), 1.0, t1[0], math.exp(t1[1]), t1[2], t1[3])
    two = fit_two_step(bias_A, k, n, lo_A=lo_A, hi_A=hi_A)
    best2 = None
    starts = [
        [
            two[0] * 1e6,
            math.log(two[1] * 1e6),
            math.log(min(max(two[2], 0.02), 0.98) / (1 - min(max(two[2], 0.02), 0.98))),
            max(two[3] - two[0], 0) * 1e6,
            math.log(two[4] * 1e6),
            t1[2],
            t1[3],
        ]
    ]
    for w0 in (0.3, 0.6, 0.85):
        for a, b in ((lo + 0.2 * span, lo + 0.7 * span), (lo + 0.1 * span, lo + 0.5 * span)):
            starts.append([a, math.log(3.0), math.log(w0 / (1 - w0)), b - a, math.log(3.0), t1[2], t1[3]])
    for th0 in starts:
        r = minimize(
            lambda t: nll(t[0], math.exp(t[1]), expit(t[2]), t[0] + t[3], math.exp(t[4]), t[5], t[6]),
            th0,
            method="L-BFGS-B",
            bounds=[(lo - span, hi + span), sb, (-8, 8), (0, 2 * span), sb, fb, cb],
        )
        if best2 is None or r.fun < best2.fun:
            best2 = r
    if best1.fun - best2.fun < 8.0:  # likelihood-ratio test (3 extra parameters)
        res = one
    else:
        t = best2.x
        res = (t[0], math.exp(t[1]), float(expit(t[2])), t[0] + t[3], math.exp(t[4]), t[5], t[6])
    i1, s1, w, i2, s2, fl, ce = map(float, res)
    return i1 * 1e-6, s1 * 1e-6, w, i2 * 1e-6, s2 * 1e-6, fl, ce


def pooled_floor_ceiling(bias_A, k, n, shapes) -> tuple[float, float]:
    """Maximum-likelihood floor and ceiling shared by all input patterns of a cell, the patterns'
    curves ``shapes`` (rows (i50, s, w, i50_2, s_2), A) held fixed. ``k``, ``n``: (pattern, bias)."""
    from scipy.optimize import minimize
    from scipy.special import expit

    x = np.asarray(bias_A, float)[None, :]
    sh = np.asarray(shapes, float)
    mix = sh[:, 2:3] * expit((x - sh[:, 0:1]) / sh[:, 1:2]) + (1 - sh[:, 2:3]) * expit((x - sh[:, 3:4]) / sh[:, 4:5])
    k = np.asarray(k, float)
    n = np.asarray(n, float)

    def nll(t):
        p = np.clip(t[0] + (1 - t[0] - t[1]) * mix, 1e-12, 1 - 1e-12)
        return -float(np.sum(k * np.log(p) + (n - k) * np.log1p(-p))) / n.sum()

    r = minimize(nll, [1e-4, 1e-4], method="L-BFGS-B", bounds=[(0.0, FLOOR_MAX)] * 2)
    return float(r.x[0]), float(r.x[1])


def curves_from_neuron(ds: xr.Dataset, bias_range_A: tuple[float, float]) -> CellCurves:
    """Fit the neuron's firing probability per input pattern (from :func:`physnn.sfq.neuron_response`):
    a two-step logistic per pattern between a floor and a ceiling shared by all patterns of the
    cell (background firings and misses: rare read-out events of the cell, whatever the pattern;
    pooling uses every saturated trial of the cell). Fitted in two rounds: shapes with no floor
    and ceiling, the pooled floor and ceiling (:func:`pooled_floor_ceiling`), the shapes again
    with those held (:func:`fit_floor_ceiling`)."""
    b = ds["bias"].values
    k = np.rint(ds["fire_prob"].values * ds["n_trials"].values)
    n = ds["n_trials"].values
    rng = dict(lo_A=float(b.min()), hi_A=float(b.max()))
    first = np.array(
        [fit_floor_ceiling(b, k[p], n[p], floor=0.0, ceiling=0.0, **rng) for p in range(ds.sizes["pattern"])]
    )
    fl, ce = pooled_floor_ceiling(b, k, n, first[:, :5])
    fits = np.array([fit_floor_ceiling(b, k[p], n[p], floor=fl, ceiling=ce, **rng) for p in range(ds.sizes["pattern"])])
    data = {
        "bias_A": b.tolist(),
        "fire_prob": ds["fire_prob"].values.tolist(),
        "ci_low": ds["ci_low"].values.tolist(),
        "ci_high": ds["ci_high"].values.tolist(),
    }
    return CellCurves(
        cell="neuron",
        fan_in=int(ds.attrs["fan_in"]),
        bias_range_A=tuple(map(float, bias_range_A)),
        curve=Logistic(
            i50_A=fits[:, 0],
            scale_A=fits[:, 1],
            weight=fits[:, 2],
            i50_2_A=fits[:, 3],
            scale_2_A=fits[:, 4],
            floor=fits[:, 5],
            ceiling=fits[:, 6],
        ),
        cell_sha256=cell_sha256("neuron"),
        data=data,
    )


#: knots (A) of the I50 dependence on the bias of the latest earlier passed line
CONTEXT_KNOTS_A = (134e-6, 144e-6, 154e-6, 164e-6, 190e-6, 220e-6)


def fit_context_entry(
    bias_A, prev_bias_A, passed, *, knots_A=CONTEXT_KNOTS_A, varying: bool = True, smooth: float = 1.0
) -> tuple[np.ndarray, float]:
    """Maximum-likelihood pass curve ``sigmoid((I - I50(I_prev)) / s)`` of one (line, context) entry
    from single trials (gate bias ``bias_A``, bias of the latest passed earlier line ``prev_bias_A``,
    0/1 ``passed``). ``I50`` is linear between ``knots_A`` (a constant if ``varying`` is False);
    ``smooth`` weighs a penalty on its second differences (in uA**2, per trial-free knot region it
    keeps the curve straight). Returns (I50 at the knots, s), A."""
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    x = np.asarray(bias_A, float) * 1e6
    y = np.asarray(passed, float)
    kn = np.asarray(knots_A, float) * 1e6
    nk = len(kn)
    if x.size == 0:
        raise ValueError("fit_context_entry: no trials")
    if varying:
        xp = np.clip(np.asarray(prev_bias_A, float) * 1e6, kn[0], kn[-1])
        j = np.clip(np.searchsorted(kn, xp, side="right") - 1, 0, nk - 2)
        f = (xp - kn[j]) / (kn[j + 1] - kn[j])
        H = np.zeros((x.size, nk))
        H[np.arange(x.size), j] = 1 - f
        H[np.arange(x.size), j + 1] += f
    else:
        H = np.ones((x.size, 1))
    m = H.shape[1]
    guess = float(np.median(x[y > 0])) if y.any() and not y.all() else float(np.median(x))

    def nll(th):
        v, ls = th[:m], th[m]
        sc = math.exp(ls)
        z = (x - H @ v) / sc
        val = -(np.sum(y * log_expit(z) + (1 - y) * log_expit(-z)))
        gz = y - expit(z)  # d loglik / dz
        g_v = -(-(H.T @ gz) / sc)
        g_ls = -float(np.sum(gz * (-z)))
        if m > 2:
            d2 = v[2:] - 2 * v[1:-1] + v[:-2]
            val += smooth * float(np.sum(d2**2))
            gd = 2 * smooth * d2
            g_v[2:] += gd
            g_v[1:-1] -= 2 * gd
            g_v[:-2] += gd
        return val, np.append(g_v, g_ls)

    th0 = np.append(np.full(m, guess), math.log(2.0))
    r = minimize(
        nll,
        th0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(kn[0] - 60, kn[-1] + 60)] * m + [(math.log(0.2), math.log(40.0))],
    )
    v = r.x[:m] if varying else np.full(nk, r.x[0])
    return v * 1e-6, float(math.exp(r.x[m])) * 1e-6


def context_trials(ds: xr.Dataset, line: int, context: int):
    """Single trials of one (line, context) entry from a raw :func:`physnn.sfq.synapse_context_response`
    dataset: (gate bias, bias of the latest passed earlier line or NaN, passed)."""
    P = ds["passes"].values.astype(int)  # (copy, member, line, slot)
    pul = ds["pulses"].values.astype(bool)  # (line, slot)
    sb = ds["copy_synapse_bias"].values  # (copy, line)
    ctx = np.zeros(P.shape[:2] + P.shape[3:], dtype=int)
    for j in range(line):
        ctx |= P[:, :, j] << j
    sel = (ctx == context) & pul[line][None, None, :]
    c_idx = np.nonzero(sel)[0]
    j = latest_line(context)
    prev = sb[c_idx, j] if j >= 0 else np.full(c_idx.size, np.nan)
    return sb[c_idx, line], prev, P[:, :, line][sel]


def curves_from_context(ds: xr.Dataset, *, knots_A=CONTEXT_KNOTS_A, base: CellCurves | None = None) -> ContextCurves:
    """Fit every (line, context) entry of a raw :func:`physnn.sfq.synapse_context_response` dataset.

    With ``base`` (the synapse's own S-curve, :func:`curves_from_synapse`, measured in the same
    environment with many more trials in its transition), the empty-context entries (no earlier
    line passed: nothing kicks the synapse) take that curve instead of the bench's own fewer
    trials; the bench's fits of those entries stay in ``data`` for comparison."""
    K = int(ds.attrs["fan_in"])
    n_e = 2**K - 1
    i50 = np.zeros((n_e, len(knots_A)))
    sc = np.zeros(n_e)
    own = {}
    for i in range(K):
        for c in range(2**i):
            e = (1 << i) - 1 + c
            b, bp, y = context_trials(ds, i, c)
            i50[e], sc[e] = fit_context_entry(b, bp, y, knots_A=knots_A, varying=c != 0)
            if c == 0 and base is not None:
                own[i] = (float(i50[e, 0]), float(sc[e]))
                i50[e], sc[e] = float(base.curve.i50_A[0]), float(base.curve.scale_A[0])
    data = {
        "bias_A": ds["bias"].values.tolist(),
        "n_trials": ds["n_trials"].values.tolist(),
        "n_passed": ds["n_passed"].values.tolist(),
        "line": ds["line"].values.tolist(),
        "context": ds["context"].values.tolist(),
    }
    if own:
        data["empty_context"] = "synapse S-curve (table [synapse])"
        data["bench_empty_context_i50_A"] = [own[i][0] for i in range(K)]
        data["bench_empty_context_scale_A"] = [own[i][1] for i in range(K)]
    return ContextCurves(
        fan_in=K,
        knots_A=np.asarray(knots_A, float),
        i50_A=i50,
        scale_A=sc,
        cell_sha256=cell_sha256("synapse"),
        data=data,
    )


def default_transfer_path() -> Path:
    from .._resources import search_path

    for folder in search_path("circuits"):
        p = Path(folder) / "sfq_transfer.toml"
        if p.is_file():
            return p
    raise FileNotFoundError(
        "sfq_transfer.toml: no transfer-curve file in the circuits folders "
        f"{[str(p) for p in search_path('circuits')]}; run experiments/sfq_xor.py --characterise"
    )


def _cell_table(c: CellCurves) -> dict:
    return {
        "cell": c.cell,
        "fan_in": c.fan_in,
        "cell_sha256": c.cell_sha256,
        "bias_range_A": list(c.bias_range_A),
        "i50_A": c.curve.i50_A.tolist(),
        "scale_A": c.curve.scale_A.tolist(),
        "weight": c.curve.weight.tolist(),
        "i50_2_A": c.curve.i50_2_A.tolist(),
        "scale_2_A": c.curve.scale_2_A.tolist(),
        "floor": c.curve.floor.tolist(),
        "ceiling": c.curve.ceiling.tolist(),
        "data": c.data,
    }


def _context_table(c: ContextCurves) -> dict:
    return {
        "cell": "synapse",
        "fan_in": c.fan_in,
        "cell_sha256": c.cell_sha256,
        "knots_A": c.knots_A.tolist(),
        "line": [i for i in range(c.fan_in) for _ in range(2**i)],
        "context": [k for i in range(c.fan_in) for k in range(2**i)],
        "i50_A": c.i50_A.tolist(),
        "scale_A": c.scale_A.tolist(),
        "data": c.data,
    }


def save_transfer(curves: TransferCurves, path) -> Path:
    """Write ``curves`` as TOML (provenance first)."""
    import tomli_w

    neurons = {f"fan_in_{k}": _cell_table(v) for k, v in sorted(curves.neurons.items())}
    for k, c in curves.contexts.items():
        neurons[f"fan_in_{k}"]["synapse_context"] = _context_table(c)
    doc = {
        "provenance": {
            **curves.provenance,
            "written_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
        "synapse": _cell_table(curves.synapse),
        "neuron": neurons,
    }
    path = Path(path)
    path.write_text(
        "# physnn SFQ transfer curves: logistic fits to circuit-level characterisations at "
        "4.2 K (physnn.sfq).\n# Units: A. Generated file; regenerate with experiments/sfq_xor.py "
        "--characterise.\n" + tomli_w.dumps(doc)
    )
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
        raise TransferFileError(
            f"{path}: [{where}] cell_sha256 does not match the current netlist of cell {cell!r} "
            f"({sha[:12]}... in the file, {now[:12]}... now): the curves were fitted to another "
            "circuit; re-characterise (experiments/sfq_xor.py --characterise)"
        )
    k = int(need("fan_in"))
    n_pat = 1 if cell == "synapse" else 2**k
    arrs = {}
    for key in ("i50_A", "scale_A", "weight", "i50_2_A", "scale_2_A", "floor", "ceiling"):
        if key in ("floor", "ceiling") and key not in tab:  # files before floors were fitted
            arrs[key] = np.zeros(n_pat)
            continue
        arrs[key] = np.asarray(need(key), float)
        if arrs[key].shape != (n_pat,):
            raise TransferFileError(
                f"{path}: [{where}] {key} needs {n_pat} entries (one per input pattern of "
                f"fan_in={k}), got {arrs[key].size}"
            )
        if not np.all(np.isfinite(arrs[key])):
            raise TransferFileError(f"{path}: [{where}] {key} must be finite")
    if (
        np.any(arrs["scale_A"] <= 0)
        or np.any(arrs["scale_2_A"] <= 0)
        or np.any((arrs["weight"] < 0) | (arrs["weight"] > 1))
    ):
        raise TransferFileError(f"{path}: [{where}] scales must be > 0 and weight in [0, 1]")
    if np.any((arrs["floor"] < 0) | (arrs["ceiling"] < 0) | (arrs["floor"] + arrs["ceiling"] >= 1)):
        raise TransferFileError(f"{path}: [{where}] floor and ceiling must be >= 0 with floor + ceiling < 1")
    lo, hi = map(float, need("bias_range_A"))
    if not lo < hi:
        raise TransferFileError(f"{path}: [{where}] bias_range_A must be [low, high] with low < high")
    return CellCurves(
        cell=cell, fan_in=k, bias_range_A=(lo, hi), curve=Logistic(**arrs), cell_sha256=sha, data=tab.get("data", {})
    )


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
    neurons, contexts = {}, {}
    for key, tab in doc["neuron"].items():
        c = _cell_from(tab, f"neuron.{key}", "neuron", str(path))
        if key != f"fan_in_{c.fan_in}":
            raise TransferFileError(f"{path}: [neuron.{key}] has fan_in = {c.fan_in}")
        neurons[c.fan_in] = c
        if "synapse_context" in tab:
            contexts[c.fan_in] = _context_from(
                tab["synapse_context"], f"neuron.{key}.synapse_context", c.fan_in, str(path)
            )
    return TransferCurves(
        synapse=syn, neurons=neurons, provenance=dict(doc["provenance"]), path=str(path), contexts=contexts
    )


def _context_from(tab: dict, where: str, fan_in: int, path: str) -> ContextCurves:
    def need(key):
        if key not in tab:
            raise TransferFileError(f"{path}: [{where}] lacks field {key!r}")
        return tab[key]

    if need("cell") != "synapse":
        raise TransferFileError(f"{path}: [{where}] cell = {tab['cell']!r}, expected 'synapse'")
    if int(need("fan_in")) != fan_in:
        raise TransferFileError(f"{path}: [{where}] has fan_in = {tab['fan_in']}, its neuron table {fan_in}")
    sha, now = need("cell_sha256"), cell_sha256("synapse")
    if sha != now:
        raise TransferFileError(
            f"{path}: [{where}] cell_sha256 does not match the current netlist of cell 'synapse' "
            f"({sha[:12]}... in the file, {now[:12]}... now); re-characterise "
            "(experiments/sfq_xor.py --characterise)"
        )
    knots = np.asarray(need("knots_A"), float)
    if knots.ndim != 1 or knots.size < 2 or np.any(np.diff(knots) <= 0):
        raise TransferFileError(f"{path}: [{where}] knots_A must be at least two increasing currents (A)")
    n_e = 2**fan_in - 1
    i50 = np.asarray(need("i50_A"), float)
    sc = np.asarray(need("scale_A"), float)
    if i50.shape != (n_e, knots.size) or sc.shape != (n_e,):
        raise TransferFileError(
            f"{path}: [{where}] needs {n_e} (line, context) entries for fan_in={fan_in} "
            f"(i50_A {n_e} x {knots.size}, scale_A {n_e}); got i50_A {i50.shape}, scale_A {sc.shape}"
        )
    want_line = [i for i in range(fan_in) for _ in range(2**i)]
    want_ctx = [k for i in range(fan_in) for k in range(2**i)]
    if list(need("line")) != want_line or list(need("context")) != want_ctx:
        raise TransferFileError(f"{path}: [{where}] line/context must enumerate (line i, context c < 2**i) in order")
    if not (np.all(np.isfinite(i50)) and np.all(np.isfinite(sc)) and np.all(sc > 0)):
        raise TransferFileError(f"{path}: [{where}] i50_A must be finite and scale_A > 0")
    return ContextCurves(fan_in=fan_in, knots_A=knots, i50_A=i50, scale_A=sc, cell_sha256=sha, data=tab.get("data", {}))
