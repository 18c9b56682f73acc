"""Are share arrivals anything but Poisson? Monte-Carlo tests against a Poisson null.

Null hypothesis: within each window the arrivals form a homogeneous Poisson process (the rate may
differ from window to window -- that is how an input that changes the error rate shows up, and it
is NOT evidence of non-Poissonian timing). Conditional on the count ``n_k`` of window ``k`` the
arrival times are then i.i.d. uniform on the window, so the null is simulated by redrawing every
window's arrivals uniformly with the observed counts, recomputing the window features, and
averaging them over windows. The two-sided Monte-Carlo p-value of each averaged feature is
``(1 + #{|null - mean(null)| >= |obs - mean(null)|}) / (1 + n_mc)``; a signal is declared only if
a p-value survives a Bonferroni correction over the features tested.

Small-sample caution (the issue's note): with ~10 arrivals per window a Poisson source gives a CV
anywhere in roughly 0.5-1.5 (2.5-97.5 % range, :func:`poisson_cv_interval`) -- single windows
with CV far from 1 are expected by chance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..random import numpy_rng
from .._checks import check_int_range, check_probability
from .features import FEATURE_NAMES, window_features, window_stats

__all__ = ["poisson_cv_interval", "poisson_null_test"]


def poisson_cv_interval(
    n_intervals: int, *, level: float = 0.95, n_mc: int = 20000, generator: torch.Generator | None = None
) -> tuple[float, float]:
    """Central ``level`` interval of the sample CV (ddof=1) of ``n_intervals`` exponential intervals."""
    check_int_range(n_intervals, "n_intervals", 2)
    check_probability(level, "level")
    check_int_range(n_mc, "n_mc", 10)
    x = numpy_rng(generator).exponential(size=(n_mc, n_intervals))
    cv = x.std(axis=1, ddof=1) / x.mean(axis=1)
    a = (1 - level) / 2
    lo, hi = np.quantile(cv, [a, 1 - a])
    return float(lo), float(hi)


def poisson_null_test(
    times: Any,
    edges: Any,
    *,
    n_mc: int = 500,
    alpha: float = 0.05,
    features: tuple[str, ...] = ("cv", "fano", "acf1", "entropy"),
    generator: torch.Generator | None = None,
    n_sub: int = 10,
) -> dict:
    """Test window-averaged timing features against the count-conditioned Poisson null.

    Returns
    -------
    dict with, per feature ``f``: ``f"{f}_obs"``, ``f"{f}_null_mean"``, ``f"{f}_null_sd"``,
    ``f"{f}_p"``; and ``p_min_bonferroni`` (smallest p times the number of features, capped at 1),
    ``signal_detected`` (bool) and ``verdict`` (a sentence).
    """
    check_int_range(n_mc, "n_mc", 10)
    check_probability(alpha, "alpha")
    for f in features:
        if f not in FEATURE_NAMES[1:]:
            raise ValueError(f"features: unknown feature {f!r}; choose from {FEATURE_NAMES[1:]}")
    e = np.asarray(edges, float)
    F, _ = window_features(times, e, n_sub=n_sub)
    counts = F[:, 0].astype(int)
    cols = [FEATURE_NAMES.index(f) for f in features]
    obs = F[:, cols].mean(axis=0)
    rng = numpy_rng(generator)
    null = np.zeros((n_mc, len(cols)))
    for k, c in enumerate(counts):  # all replicates of window k at once (vectorised)
        tk = np.sort(e[k] + (e[k + 1] - e[k]) * rng.random((n_mc, c)), axis=1)
        Fk, _ = window_stats(tk, e[k], e[k + 1], n_sub=n_sub)
        null += Fk[:, cols]
    null /= counts.size
    mu, sd = null.mean(axis=0), null.std(axis=0, ddof=1)
    p = (1 + (np.abs(null - mu) >= np.abs(obs - mu)).sum(axis=0)) / (1 + n_mc)
    out: dict = {}
    for i, f in enumerate(features):
        out[f"{f}_obs"] = float(obs[i])
        out[f"{f}_null_mean"] = float(mu[i])
        out[f"{f}_null_sd"] = float(sd[i])
        out[f"{f}_p"] = float(p[i])
    pb = float(min(1.0, p.min() * len(cols)))
    out["p_min_bonferroni"] = pb
    out["signal_detected"] = bool(pb < alpha)
    worst = features[int(np.argmin(p))]
    out["verdict"] = (
        f"non-Poissonian timing detected in {worst} (Bonferroni p = {pb:.3g} < {alpha})"
        if pb < alpha
        else f"no evidence against Poisson timing within windows (smallest Bonferroni p = {pb:.3g}, {worst})"
    )
    out["mean_count"] = float(counts.mean())
    return out
