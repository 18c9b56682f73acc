"""Crash-safe storage of a sweep: a SQLite journal of finished points plus a netCDF snapshot.

A results folder holds

* ``journal.sqlite`` — the spec (canonical JSON and its SHA-256) and one row per finished point
  (metrics per replicate as JSON, or the error of a failed point). Each batch of points is one
  transaction in write-ahead-log mode, so a process killed at any instant leaves every
  committed point and nothing half-written; the point index is the primary key, so a point is
  never stored twice. SQLite (Python's standard library) is the well-kept transactional store
  here; a hand-written append log would have to re-invent its recovery.
* ``sweep.nc`` — the labelled :class:`xarray.Dataset` of everything finished so far, rewritten
  every few seconds and at the end by writing a temporary file and ``os.replace``-ing it (an
  atomic rename), so the file on disk is always a complete netCDF file.

A folder that holds a sweep with another spec is refused (never overwritten).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from .spec import SweepError, SweepSpec

__all__ = ["Journal", "JOURNAL", "DATASET", "points_done"]

JOURNAL = "journal.sqlite"
DATASET = "sweep.nc"


class Journal:
    """The SQLite journal of one results folder (see module doc).

    Parameters
    ----------
    folder : path
        Results folder (created if missing).
    spec : SweepSpec
        The sweep; a folder holding another spec raises :class:`SweepError`.
    resume : bool
        A folder holding this spec with points already done is continued only with
        ``resume=True`` (otherwise refused, so a finished sweep is never silently re-used).
    """

    def __init__(self, folder: str | Path, spec: SweepSpec, *, resume: bool = False):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise SweepError(f"output {str(self.folder)!r} exists and is not a folder")
        path = self.folder / JOURNAL
        exists = path.is_file()
        if not exists and self.folder.is_dir() and any(self.folder.iterdir()):
            if (self.folder / DATASET).exists():
                raise SweepError(f"output {str(self.folder)!r} holds a {DATASET} without its {JOURNAL}: "
                                 f"refusing to overwrite it (choose another folder)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.con = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=NORMAL")
        self.con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.con.execute("CREATE TABLE IF NOT EXISTS points (idx INTEGER PRIMARY KEY, status TEXT NOT NULL, "
                         "metrics TEXT, error TEXT, seconds REAL, finished REAL)")
        self.con.execute("CREATE TABLE IF NOT EXISTS log (idx INTEGER NOT NULL, finished REAL)")
        row = self.con.execute("SELECT value FROM meta WHERE key='digest'").fetchone()
        if row is None:
            self.con.execute("BEGIN")
            self.con.execute("INSERT INTO meta VALUES ('digest', ?)", (spec.digest,))
            self.con.execute("INSERT INTO meta VALUES ('spec', ?)", (spec.to_json(),))
            self.con.execute("COMMIT")
        elif row[0] != spec.digest:
            old = self.con.execute("SELECT value FROM meta WHERE key='spec'").fetchone()
            self.con.close()
            raise SweepError(f"output {str(self.folder)!r} holds a sweep with a different spec "
                             f"(digest {row[0][:12]} vs {spec.digest[:12]}; stored spec: {old[0] if old else '?'}); "
                             f"refusing to overwrite it: choose another folder or delete it")
        elif not resume and self.n_done() > 0:
            n = self.n_done()
            self.con.close()
            raise SweepError(f"output {str(self.folder)!r} already holds this sweep with {n} point(s) done: "
                             f"pass resume (physnn sweep --resume) to continue it, or choose another folder")
        self.spec = spec

    # ------------------------------------------------------------------------------------------
    def n_done(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM points").fetchone()[0])

    def done(self) -> set[int]:
        """Indices of finished (ok or failed) points."""
        return {int(r[0]) for r in self.con.execute("SELECT idx FROM points")}

    def record(self, rows: list[tuple[int, str, dict | None, str | None, float]]) -> None:
        """Commit ``(index, status, metrics, error, seconds)`` rows in one transaction."""
        now = time.time()
        self.con.execute("BEGIN IMMEDIATE")
        try:
            for idx, status, metrics, error, secs in rows:
                m = None if metrics is None else json.dumps({k: [None if not math.isfinite(x) else x for x in
                                                                 np.asarray(v, dtype=float).tolist()]
                                                             for k, v in metrics.items()})
                self.con.execute("INSERT OR IGNORE INTO points VALUES (?, ?, ?, ?, ?, ?)",
                                 (int(idx), status, m, error, float(secs), now))
                self.con.execute("INSERT INTO log VALUES (?, ?)", (int(idx), now))
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def rows(self) -> dict[int, tuple[str, dict | None, str | None]]:
        out = {}
        for idx, status, m, err in self.con.execute("SELECT idx, status, metrics, error FROM points"):
            out[int(idx)] = (status, None if m is None else json.loads(m), err)
        return out

    def duplicates(self) -> int:
        """Points whose result was committed more than once (0 by construction; measured)."""
        n, d = self.con.execute("SELECT count(*), count(DISTINCT idx) FROM log").fetchone()
        return int(n) - int(d)

    def close(self) -> None:
        try:
            self.con.close()
        except sqlite3.Error:
            pass


def points_done(folder: str | Path) -> int:
    """Finished points in the journal of ``folder``, read without opening it for writing (safe
    while a sweep runs in another process: SQLite's WAL gives a consistent snapshot); 0 when there
    is no journal yet or it cannot be read at this instant."""
    path = Path(folder) / JOURNAL
    if not path.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return int(con.execute("SELECT count(*) FROM points").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def write_atomic(ds: Any, path: Path) -> None:
    """``ds.to_netcdf`` into a temporary file beside ``path``, then an atomic ``os.replace``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        ds.to_netcdf(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
