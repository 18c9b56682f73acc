"""Reservoir features from share arrival times, per window.

For every window ``[edges[k], edges[k+1])`` (inter-arrival intervals are taken between arrivals
inside the window):

==========  ==========================================================================
count       number of arrivals
cv          coefficient of variation of the intervals (std/mean, ddof=1); Poisson: 1
fano        Fano factor var/mean of the counts in ``n_sub`` equal sub-windows; Poisson: 1
acf1        lag-1 autocorrelation of the intervals; renewal process: 0
entropy     Shannon entropy (bits) of the histogram of intervals / their mean over
            ``n_bins`` equal bins on [0, 4) plus an overflow bin
==========  ==========================================================================

Where a statistic is undefined (too few arrivals: < 3 for cv/entropy, < 4 for acf1, 0 for fano)
it is set to its Poisson expectation (cv=fano=1, acf1=0, entropy=the null mean) and flagged in the
returned ``defined`` mask -- never NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_finite, check_int_range

__all__ = ["FEATURE_NAMES", "window_features", "window_stats"]

FEATURE_NAMES = ("count", "cv", "fano", "acf1", "entropy")


def _exp_entropy(n_bins: int) -> float:
    e = np.linspace(0.0, 4.0, n_bins + 1)
    pr = np.r_[np.exp(-e[:-1]) - np.exp(-e[1:]), np.exp(-e[-1])]
    pr = pr[pr > 0]
    return float(-(pr * np.log2(pr)).sum())


def _onehot_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """Row-wise counts of integer labels ``idx`` (M, c) in ``range(n)`` -> (M, n)."""
    return (idx[..., None] == np.arange(n)).sum(axis=-2)


def window_stats(
    tk: np.ndarray, e0: float, e1: float, *, n_sub: int = 10, n_bins: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Features of ``M`` replicate windows with the same count: ``tk`` (M, c) sorted times in [e0, e1).

    Vectorised over replicates (the Poisson-null Monte-Carlo calls it with M = n_mc).
    Returns features (M, 5) and the defined mask (5,).
    """
    M, c = tk.shape
    F = np.empty((M, 5))
    F[:, 0] = c
    defined = np.array([True, c >= 3, c > 0, c >= 4, c >= 3])
    sub = np.minimum(((tk - e0) * (n_sub / (e1 - e0))).astype(np.int64), n_sub - 1)
    cnt = _onehot_counts(sub, n_sub)
    mean = c / n_sub
    F[:, 2] = cnt.var(axis=1, ddof=1) / mean if c > 0 else 1.0
    d = np.diff(tk, axis=1)
    if c >= 3:
        m = d.mean(axis=1)
        ms = np.where(m > 0, m, 1.0)
        F[:, 1] = np.where(m > 0, d.std(axis=1, ddof=1) / ms, 0.0)
        x = d / ms[:, None]
        b = np.minimum((x * (n_bins / 4.0)).astype(np.int64), n_bins)  # n_bins bins on [0,4) + overflow
        h = _onehot_counts(b, n_bins + 1) / (c - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            F[:, 4] = -np.where(h > 0, h * np.log2(h), 0.0).sum(axis=1)
    else:
        F[:, 1] = 1.0
        F[:, 4] = _exp_entropy(n_bins)
    if c >= 4:
        cc = d - d.mean(axis=1, keepdims=True)
        den = (cc * cc).sum(axis=1)
        F[:, 3] = np.where(den > 0, (cc[:, :-1] * cc[:, 1:]).sum(axis=1) / np.where(den > 0, den, 1.0), 0.0)
    else:
        F[:, 3] = 0.0
    return F, defined


def window_features(times: Any, edges: Any, *, n_sub: int = 10, n_bins: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(K, 5)`` (columns :data:`FEATURE_NAMES`) and the ``defined`` mask ``(K, 5)``.

    Parameters
    ----------
    times : array
        Sorted arrival times (s).
    edges : array (K+1,)
        Increasing window edges (s).
    """
    t = np.asarray(times, float)
    e = np.asarray(edges, float)
    check_finite(t, "times")
    check_finite(e, "edges")
    if e.ndim != 1 or e.size < 2 or np.any(np.diff(e) <= 0):
        raise ValueError("edges: need at least two strictly increasing window edges")
    if t.ndim != 1 or np.any(np.diff(t) < 0):
        raise ValueError("times: arrival times must be a sorted 1-D array")
    check_int_range(n_sub, "n_sub", 2)
    check_int_range(n_bins, "n_bins", 1)
    K = e.size - 1
    F = np.zeros((K, 5))
    D = np.ones((K, 5), dtype=bool)
    lo = np.searchsorted(t, e[:-1], side="left")
    hi = np.searchsorted(t, e[1:], side="left")
    for k in range(K):
        F[k], D[k] = (
            a[0] if a.ndim == 2 else a
            for a in window_stats(t[lo[k] : hi[k]][None, :], e[k], e[k + 1], n_sub=n_sub, n_bins=n_bins)
        )
    return F, D
