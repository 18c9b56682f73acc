"""Figure helpers of physnn (the face layer: physics modules never import this).

Every helper takes ``ax=None`` (then makes a new figure with :func:`matplotlib.pyplot.subplots`)
and returns the :class:`matplotlib.axes.Axes` it drew on. Nothing here calls ``show()`` or picks a
matplotlib backend: scripts choose (the ``physnn`` command draws on
:class:`matplotlib.figure.Figure` objects, which need no backend).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_phases", "heatmap", "lines_ci", "pareto"]


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def _label(da: Any, name: str) -> str:
    c = da[name] if name in da.coords else None
    if c is None:
        return name
    ln, u = c.attrs.get("long_name", name), c.attrs.get("units", "")
    return f"{ln} ({u})" if u and u != "1" else ln


def plot_phases(ds: Any, ax: Any = None, *, max_junctions: int = 12) -> Any:
    """Junction phases (in units of 2 pi) of a :func:`physnn.josephson.simulate` Dataset against
    time in ps (first ensemble member); at most ``max_junctions`` evenly chosen junctions."""
    ax = _axes(ax, (8, 4.5))
    ph = ds["phase"]
    if "ensemble" in ph.dims:
        ph = ph.isel(ensemble=0)
    labels = list(ds["junction"].values)
    idx = np.linspace(0, len(labels) - 1, min(max_junctions, len(labels))).astype(int) if labels else []
    for i in dict.fromkeys(idx):
        ax.plot(ds["time"].values * 1e12, ph.isel(junction=int(i)).values / (2 * np.pi), lw=1, label=str(labels[i]))
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("junction phase / 2$\\pi$")
    if labels:
        ax.legend(fontsize=7, ncol=2, loc="upper left")
    ax.set_title(Path(str(ds.attrs.get("source", ""))).name)
    return ax


def heatmap(
    da: Any,
    x: str,
    y: str,
    ax: Any = None,
    *,
    annotate: bool = True,
    fmt: str = "{:.2f}",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
) -> Any:
    """A 2-D :class:`xarray.DataArray` (dims ``y`` x ``x``) as a colour map with one cell per
    coordinate value (evenly spaced, ticks labelled with the values), optionally annotated."""
    ax = _axes(ax, (5, 4))
    a = da.transpose(y, x)
    img = ax.imshow(a.values, origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax)
    xs, ys = a[x].values, a[y].values
    ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
    ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
    ax.set_xlabel(_label(a, x))
    ax.set_ylabel(_label(a, y))
    if annotate:
        lo, hi = np.nanmin(a.values), np.nanmax(a.values)
        mid = (lo + hi) / 2 if np.isfinite(lo) and np.isfinite(hi) else 0.0
        for i in range(len(ys)):
            for j in range(len(xs)):
                v = a.values[i, j]
                if np.isfinite(v):
                    ax.text(
                        j, i, fmt.format(v), ha="center", va="center", fontsize=7, color="black" if v > mid else "white"
                    )
    if colorbar:
        cb = ax.figure.colorbar(img, ax=ax)
        cb.set_label(str(da.name or ""), fontsize=7)
    return ax


def lines_ci(
    ds: Any,
    metric: str,
    x: str,
    hue: str | None = None,
    ax: Any = None,
    *,
    xscale: str | None = None,
    band: bool = True,
    ylabel: str | None = None,
) -> Any:
    """Mean of ``metric`` against ``x`` with its confidence band (``{metric}_ci_low`` /
    ``_ci_high`` of a sweep Dataset), one line per value of ``hue``. Other dimensions must have
    been selected away."""
    ax = _axes(ax, (6, 4))
    mean = ds[f"{metric}_mean"]
    lo, hi = ds.get(f"{metric}_ci_low"), ds.get(f"{metric}_ci_high")
    hues = [None] if hue is None else list(ds[hue].values)
    for h in hues:
        sel = {} if h is None else {hue: h}
        m = mean.sel(sel)
        label = None if h is None else f"{h:g}" if isinstance(h, (int, float, np.number)) else str(h)
        (line,) = ax.plot(ds[x].values, m.transpose(x).values, marker="o", ms=3, label=label)
        if band and lo is not None and hi is not None:
            ax.fill_between(
                ds[x].values,
                lo.sel(sel).transpose(x).values,
                hi.sel(sel).transpose(x).values,
                color=line.get_color(),
                alpha=0.2,
                lw=0,
            )
    if xscale:
        ax.set_xscale(xscale)
    ax.set_xlabel(_label(ds, x))
    ax.set_ylabel(
        ylabel if ylabel is not None else f"{metric} (mean, {100 * float(ds.attrs.get('ci_level', 0.95)):.0f} % CI)"
    )
    if hue is not None:
        ax.legend(title=_label(ds, hue), fontsize=7, title_fontsize=7)
    return ax


def pareto(
    points: Any,
    ax: Any = None,
    *,
    x: str = "energy_J",
    y: str = "accuracy",
    label: str | None = None,
    xscale: str = "log",
    xlabel: str = "energy per inference (J)",
    ylabel: str = "accuracy",
) -> Any:
    """Accuracy against cost of design points (a list of dicts with keys ``x``, ``y`` and, when
    given, ``label``, e.g. the ``pareto_points`` of ``experiments/bench_cost.py``): every point,
    the Pareto front (:func:`physnn.crossbar.cost.pareto_front`) joined by a line and labelled."""
    from .crossbar.cost.pareto import pareto_front

    ax = _axes(ax, (6, 4))
    pts = list(points)
    xs = np.array([float(p[x]) for p in pts])
    ys = np.array([float(p[y]) for p in pts])
    front = pareto_front(xs, ys)
    ax.scatter(xs[~front], ys[~front], s=14, color="0.6", label="design")
    order = np.argsort(xs[front])
    fx, fy = xs[front][order], ys[front][order]
    ax.plot(fx, fy, marker="o", ms=4, color="C3", label="Pareto front")
    if label is not None:
        for i in np.flatnonzero(front):
            ax.annotate(str(pts[i][label]), (xs[i], ys[i]), fontsize=6, xytext=(3, -8), textcoords="offset points")
    ax.set_xscale(xscale)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return ax
