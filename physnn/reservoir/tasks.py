"""Standard reservoir-computing benchmarks: NARMA10, Mackey-Glass, memory capacity, NRMSE.

* NARMA10 -- Atiya & Parlos, IEEE Trans. Neural Netw. 11, 697 (2000), doi:10.1109/72.846741::

      y[t+1] = 0.3 y[t] + 0.05 y[t] sum_{i=0..9} y[t-i] + 1.5 u[t-9] u[t] + 0.1,   u ~ U[0, 0.5]

* Mackey-Glass delay differential equation -- Mackey & Glass, Science 197, 287 (1977),
  doi:10.1126/science.267326::

      dx/dt = beta x(t - tau) / (1 + x(t - tau)^n) - gamma x(t),  beta=0.2, gamma=0.1, n=10, tau=17

  integrated with classical 4th-order Runge-Kutta on a fixed grid ``h`` (``tau/h`` an integer),
  the delayed term at the half step taken as the mean of the two neighbouring grid values
  (linear interpolation), constant history ``x0`` for ``t <= 0``; sampled every ``sample_dt``.
* Memory capacity -- Jaeger, GMD Report 152 (2002): ``MC = sum_k r^2(u[t-k], y_k[t])`` where
  ``y_k`` is a linear readout trained to recall the i.i.d. input ``k`` steps back; ``MC <= N``.

Examples
--------
>>> from physnn.reservoir.tasks import narma10, nrmse
>>> u, y = narma10(1000, seed=0)
>>> u.shape, y.shape, float(u.min()) >= 0.0, float(u.max()) <= 0.5
((1000,), (1000,), True, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..random import check_seed, generator_from_seed, numpy_rng
from .._checks import check_finite, check_int_range, check_positive
from .readout import RidgeReadout

__all__ = ["narma10", "mackey_glass", "memory_capacity", "nrmse"]


def narma10(n_steps: int, *, seed: int | None = None, washout: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """NARMA10 input/target pair (classic definition, see module docstring).

    Parameters
    ----------
    n_steps : int
        Length of the returned series.
    seed : int, optional
        Seed of the input ``u ~ U[0, 0.5]`` (a dataset builder's seed, :mod:`physnn.random`: the
        numpy draws come from ``numpy_rng(generator_from_seed(seed))``); None: drawn from torch's
        global generator.
    washout : int
        Steps simulated (from ``y = 0``) and dropped before the returned series.

    Returns
    -------
    u, y : ndarray (n_steps,)
        ``y[t]`` is the system output after input ``u[t]`` (i.e. ``y[t] = f(u[t-1], u[t-10], ...)``
        -- the target for a reservoir that has seen ``u[..t-1]``; predict ``y[t+1]`` from ``u[..t]``
        by pairing ``u[:-1]`` with ``y[1:]``).
    """
    check_int_range(n_steps, "n_steps", 1)
    check_int_range(washout, "washout", 0)
    total = n_steps + washout
    rng = numpy_rng(None if seed is None else generator_from_seed(check_seed(seed)))
    u = rng.uniform(0.0, 0.5, total)
    y = np.zeros(total + 1)
    # Why a Python loop: the recurrence is sequential; 10^4 steps take a few ms.
    for t in range(9, total):
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * y[t - 9 : t + 1].sum() + 1.5 * u[t - 9] * u[t] + 0.1
    if not np.all(np.isfinite(y)):  # NARMA10 can (rarely) diverge
        raise ValueError(f"seed={seed!r}: NARMA10 diverged; use another seed")
    # pair u[t] with y[t+1] so that y_out[t] depends on u_out[..t]
    return u[washout:], y[washout + 1 : total + 1]


def mackey_glass(
    n_samples: int,
    *,
    tau: float = 17.0,
    beta: float = 0.2,
    gamma: float = 0.1,
    n: float = 10.0,
    x0: float = 1.2,
    h: float = 0.1,
    sample_dt: float = 1.0,
    washout_time: float = 500.0,
) -> np.ndarray:
    """Mackey-Glass series sampled every ``sample_dt`` (time units of the equation).

    Returns
    -------
    ndarray (n_samples,)
        ``x(t0 + k sample_dt)``, after discarding ``washout_time``.
    """
    check_int_range(n_samples, "n_samples", 1)
    for v, nm in ((tau, "tau"), (beta, "beta"), (gamma, "gamma"), (h, "h"), (sample_dt, "sample_dt")):
        check_positive(v, nm)
    check_positive(washout_time, "washout_time", allow_zero=True)
    d = tau / h
    if abs(d - round(d)) > 1e-9:
        raise ValueError(f"h={h}: tau/h must be an integer (tau={tau})")
    d = int(round(d))
    sub = sample_dt / h
    if abs(sub - round(sub)) > 1e-9:
        raise ValueError(f"h={h}: sample_dt/h must be an integer (sample_dt={sample_dt})")
    sub = int(round(sub))
    n_wash = int(round(washout_time / h))
    n_steps = n_wash + (n_samples - 1) * sub + 1
    x = np.empty(d + n_steps)
    x[: d + 1] = x0  # constant history on [-tau, 0]

    def f(xt: float, xd: float) -> float:
        return beta * xd / (1.0 + xd**n) - gamma * xt

    # Why a Python loop: a delay equation integrates sequentially; 10^5 RK4 steps take ~0.3 s.
    for k in range(d, d + n_steps - 1):
        xt = x[k]
        xd0, xd1 = x[k - d], x[k - d + 1]
        xdm = 0.5 * (xd0 + xd1)
        k1 = f(xt, xd0)
        k2 = f(xt + 0.5 * h * k1, xdm)
        k3 = f(xt + 0.5 * h * k2, xdm)
        k4 = f(xt + h * k3, xd1)
        x[k + 1] = xt + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x[d + n_wash :: sub][:n_samples].copy()


def nrmse(y_true: Any, y_pred: Any) -> Any:
    """Normalised RMSE ``sqrt(mean((y - yhat)^2)) / std(y)`` along the last (time) axis.

    Leading (ensemble) dimensions are kept; returns a float for 1-D input.
    """
    yt = y_true.detach().double().cpu().numpy() if isinstance(y_true, torch.Tensor) else np.asarray(y_true, float)
    yp = y_pred.detach().double().cpu().numpy() if isinstance(y_pred, torch.Tensor) else np.asarray(y_pred, float)
    check_finite(yt, "y_true")
    check_finite(yp, "y_pred")
    try:
        np.broadcast_shapes(yt.shape, yp.shape)
    except ValueError:
        raise ValueError(f"y_pred: shape {yp.shape} does not broadcast to y_true's {yt.shape}") from None
    sd = yt.std(axis=-1)
    if np.any(sd == 0):
        raise ValueError("y_true: constant target, NRMSE undefined")
    r = np.sqrt(np.mean((yt - yp) ** 2, axis=-1)) / sd
    return float(r) if np.ndim(r) == 0 else r


def memory_capacity(
    states: Any,
    u: Any,
    *,
    max_delay: int,
    washout: int = 100,
    train_fraction: float = 0.5,
    alpha: float = 1e-8,
) -> tuple[Any, np.ndarray]:
    """Short-term memory capacity ``MC = sum_{k=1..max_delay} r^2(u[t-k], yhat_k[t])``.

    One ridge readout per delay (all delays and all ensemble members in one batched solve), fitted
    on the first ``train_fraction`` of the post-washout samples, squared correlation measured on the
    rest.

    Parameters
    ----------
    states : array ``(T, N)`` or ``(E, T, N)``
        Reservoir states driven by ``u`` (``states[t]`` has seen ``u[..t]``).
    u : array ``(T,)``
        The i.i.d. scalar input.
    max_delay : int
        Largest delay ``k``.

    Returns
    -------
    mc : float or ndarray (E,)
    mc_k : ndarray ``(max_delay,)`` or ``(E, max_delay)``
        Per-delay squared correlations (the forgetting curve).
    """
    X = states.detach().double() if isinstance(states, torch.Tensor) else torch.as_tensor(np.asarray(states, float))
    ens = X.ndim == 3
    if X.ndim == 2:
        X = X.unsqueeze(0)
    if X.ndim != 3:
        raise ValueError(f"states: expected (T, N) or (E, T, N), got {tuple(X.shape)}")
    uu = np.asarray(u.detach().cpu().numpy() if isinstance(u, torch.Tensor) else u, float).reshape(-1)
    T = X.shape[1]
    if uu.shape[0] != T:
        raise ValueError(f"u: {uu.shape[0]} steps but states have {T}")
    check_int_range(max_delay, "max_delay", 1)
    check_int_range(washout, "washout", 0)
    start = max(washout, max_delay)
    n = T - start
    n_train = int(train_fraction * n)
    if n_train < 2 or n - n_train < 2:
        raise ValueError(f"states: too short ({T} steps) for washout={washout}, max_delay={max_delay}")
    idx = np.arange(start, T)
    Y = np.stack([uu[idx - k] for k in range(1, max_delay + 1)], axis=1)  # (n, K)
    Xs = X[:, start:]
    r = RidgeReadout(alpha=alpha).fit(Xs[:, :n_train], torch.from_numpy(Y[:n_train]))
    P = r.predict(Xs[:, n_train:])  # (E, n_test, K)
    Yt = torch.from_numpy(Y[n_train:]).unsqueeze(0)
    Pc = P - P.mean(dim=1, keepdim=True)
    Yc = Yt - Yt.mean(dim=1, keepdim=True)
    cov = (Pc * Yc).sum(dim=1)
    den = (Pc**2).sum(dim=1) * (Yc**2).sum(dim=1)
    r2 = torch.where(den > 0, cov**2 / den, torch.zeros_like(cov)).numpy()  # (E, K)
    mc = r2.sum(axis=-1)
    if not ens:
        return float(mc[0]), r2[0]
    return mc, r2
