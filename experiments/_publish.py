"""Where a benchmark's figures go: ``results/<name>/latest.json``, the one file that
``experiments/report.py`` renders into README.md and RESULTS.md.

Every experiment ends with::

    from _publish import publish
    publish("bench_crossbar", figures, quick=args.quick)   # writes the file, prints the JSON line

``figures`` is the dict whose JSON is the script's last printed line (numbers, lists, nested dicts
of numbers; what the issue's acceptance names). The file adds what a reader needs to judge the
figures: machine (CPU model, cores, memory), torch/numba threads, load average before and after,
versions, the commit and whether the tree was dirty, the UTC date and the command line.

A benchmark's netCDF files carry the same provenance in their attrs: write them with
``save_netcdf(ds, path)`` (``git_commit``, ``git_dirty``, ``physnn_version``, ``date_utc``,
``command``), never with a bare ``ds.to_netcdf``.

A full run replaces ``latest.json`` and appends the run it replaces to ``history.jsonl`` (the
published tables show only the latest; RESULTS.md lists the history). A ``--quick`` run writes
``quick.json`` instead, which git ignores: a smoke run never becomes a published figure.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
_LOAD_AT_IMPORT = os.getloadavg()


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (OSError, ValueError, AttributeError):
        return None


def _script() -> str:
    arg0 = sys.argv[0] if sys.argv and sys.argv[0] else "?"
    try:
        return Path(arg0).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return arg0


def machine() -> dict[str, Any]:
    """What the figures were measured on (and with which thread counts)."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    for mod in ("torch", "numpy", "numba"):
        m = sys.modules.get(mod)
        if m is not None:
            info[mod] = getattr(m, "__version__", "?")
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
    numba = sys.modules.get("numba")
    if numba is not None:
        info["numba_threads"] = numba.get_num_threads()
    return info


def provenance() -> dict[str, Any]:
    """Which code made a result: the commit (12 hex digits; "" outside a git checkout), whether
    ``physnn/`` or ``experiments/`` had uncommitted changes, the UTC date and the command line."""
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": _git("rev-parse", "--short=12", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no", "--", "physnn", "experiments")),
        "command": " ".join(["python", _script(), *sys.argv[1:]]),
    }


def save_netcdf(data: Any, path: str | os.PathLike) -> Path:
    """Write an xarray ``Dataset`` / ``DataArray`` to ``path`` with :func:`provenance` in its attrs
    (``git_commit``, ``git_dirty`` as 0/1: netCDF has no booleans, ``physnn_version``, ``date_utc``,
    ``command``); the caller's object is not changed. Returns the path."""
    import physnn

    p = provenance()
    attrs = {
        "git_commit": p["commit"],
        "git_dirty": int(p["dirty"]),
        "physnn_version": physnn.__version__,
        "date_utc": p["date_utc"],
        "command": p["command"],
    }
    path = Path(path)
    data.assign_attrs(**attrs).to_netcdf(path)
    return path


def publish(name: str, figures: dict[str, Any], *, quick: bool = False, root: Path | None = None) -> Path:
    """Write ``figures`` with their provenance under ``results/<name>/`` and print them as the
    script's last line (one JSON object). Returns the path written."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"publish: name must be a plain benchmark name, got {name!r}")
    json.dumps(figures, allow_nan=False)  # fail before writing anything: figures must be JSON
    folder = (root or RESULTS) / name
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "name": name,
        "figures": figures,
        "meta": {
            **provenance(),
            "quick": bool(quick),
            "load_avg_start": [round(v, 2) for v in _LOAD_AT_IMPORT],
            "load_avg_end": [round(v, 2) for v in os.getloadavg()],
            "machine": machine(),
        },
    }
    path = folder / ("quick.json" if quick else "latest.json")
    if not quick and path.exists():
        with open(folder / "history.jsonl", "a") as fh:
            fh.write(json.dumps(json.loads(path.read_text()), sort_keys=True) + "\n")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)
    print(json.dumps(figures), flush=True)
    return path
