"""Crash-safe storage of a sweep: a SQLite journal of finished points plus a netCDF snapshot.

A results folder holds

* ``journal.sqlite`` — the spec (canonical JSON), the *identity* of its points (everything that
  defines a point's numbers: the design in SI units, seeds, replicates, the task's parameters,
  the SHA-256 of the device card's contents, the physnn version; :func:`physnn.sweep.run.identity`)
  and one row per finished point (metrics per replicate as JSON, or the error of a failed point).
  Each batch of points is one transaction in write-ahead-log mode, so a process killed at any
  instant leaves every committed point and nothing half-written; the point index is the primary
  key, so a point is never stored twice. The log is checkpointed into ``journal.sqlite`` at every
  snapshot and on exit, so a copy of the folder taken then is complete; for a consistent copy of
  a *running* sweep use ``physnn sweep --export DEST`` (SQLite's online backup). SQLite (Python's
  standard library) is the well-kept transactional store here; a hand-written append log would
  have to re-invent its recovery. A new journal is written beside its final name and linked into
  place complete, so a journal that exists always holds its spec.
* ``sweep.nc`` — the labelled :class:`xarray.Dataset` of everything finished so far, rewritten
  every few seconds and at the end by writing a temporary file and ``os.replace``-ing it (an
  atomic rename), so the file on disk is always a complete netCDF file.
* ``.lock`` — held (``flock``) by the run using the folder; it names the process. The kernel
  drops the lock of a process that died, so a stale lock is taken over by the next run.

A folder that holds a sweep with another identity is refused (never overwritten), naming the
fields that differ; so is a journal that is empty, damaged or not a sweep journal, a ``sweep.nc``
without its journal, and a ``sweep.nc`` that holds more finished points than its journal.
"""

from __future__ import annotations

import errno
import json
import math
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

from .._io import atomic_write
from .spec import SweepError, SweepSpec

__all__ = [
    "Journal",
    "FolderLock",
    "JOURNAL",
    "DATASET",
    "LOCK",
    "points_done",
    "read_journal",
    "export",
    "describe_os_error",
    "identity_diff",
]

JOURNAL = "journal.sqlite"
DATASET = "sweep.nc"
LOCK = ".lock"
_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE points (idx INTEGER PRIMARY KEY, status TEXT NOT NULL, metrics TEXT, error TEXT, "
    "seconds REAL, finished REAL)",
    "CREATE TABLE log (idx INTEGER NOT NULL, finished REAL)",
    "CREATE TABLE retried (idx INTEGER NOT NULL, error TEXT, at REAL)",
)


def describe_os_error(exc: BaseException, what: str) -> str:
    """One line for an ordinary OS or SQLite condition (read-only folder, disk full, ...)."""
    if isinstance(exc, sqlite3.Error):
        msg = str(exc)
        if "full" in msg:
            return f"{what}: the disk is full ({msg})"
        if "disk I/O" in msg:
            return f"{what}: a write failed: the disk is full or a file size limit was reached? ({msg})"
        if "readonly" in msg or "read-only" in msg:
            return f"{what}: the folder or file is read-only ({msg})"
        return f"{what}: {type(exc).__name__}: {msg}"
    if isinstance(exc, OSError):
        code = exc.errno
        reason = (
            {
                errno.ENOSPC: "the disk is full",
                errno.EFBIG: "file size limit reached (disk quota)",
                errno.EDQUOT: "disk quota exceeded",
                errno.EACCES: "permission denied (read-only?)",
                errno.EPERM: "permission denied",
                errno.EROFS: "read-only file system",
                errno.ENOTDIR: "a path component is a file, not a folder",
                errno.EEXIST: "exists and is not a folder",
            }.get(code)
            if code
            else None
        )
        detail = exc.strerror or str(exc)
        fn = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return f"{what}: {reason + ': ' if reason else ''}{detail}{fn}"
    return f"{what}: {type(exc).__name__}: {exc}"


def identity_diff(stored: dict, now: dict, prefix: str = "") -> list[str]:
    """``"key (stored X, now Y)"`` for every leaf of two identity dicts that differs."""
    out = []
    for k in sorted(set(stored) | set(now)):
        a, b = stored.get(k, "<absent>"), now.get(k, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += identity_diff(a, b, f"{prefix}{k}.")
        elif a != b:
            fa, fb = (json.dumps(x, default=str) for x in (a, b))
            fa, fb = (t if len(t) <= 40 else t[:37] + "..." for t in (fa, fb))
            out.append(f"{prefix}{k} (stored {fa}, now {fb})")
    return out


class FolderLock:
    """An exclusive ``flock`` on ``folder/.lock``, held while a run uses the folder.

    A second run gets a :class:`SweepError` naming the holder (process id, host, start time). The
    kernel releases the lock of a process that ends in any way (``kill -9`` included), so a lock
    left by a dead process is simply taken over.
    """

    def __init__(self, folder: Path):
        import fcntl

        self.path = Path(folder) / LOCK
        try:
            self.fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SweepError(describe_os_error(exc, f"output {str(folder)!r}: cannot create its lock file")) from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = json.loads(os.pread(self.fd, 4096, 0).decode() or "{}")
            except (OSError, ValueError):
                holder = {}
            os.close(self.fd)
            who = (
                (
                    f"process {holder.get('pid', '?')} on {holder.get('host', '?')}, running since "
                    f"{holder.get('started', '?')}"
                )
                if holder
                else "another process"
            )
            raise SweepError(
                f"output {str(folder)!r} is in use by another sweep ({who}); wait for it to "
                f"finish or choose another folder"
            ) from None
        info = json.dumps(
            {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        ).encode()
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, info, 0)
        except OSError:
            pass  # the lock holds; only the note is missing

    def release(self) -> None:
        import fcntl

        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _inspect(path: Path) -> dict[str, str]:
    """The meta table of an existing journal, or :class:`SweepError` (empty, damaged, foreign)."""
    folder = path.parent
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SweepError(describe_os_error(exc, f"output {str(folder)!r}: cannot read {JOURNAL}")) from None
    if size == 0:
        raise SweepError(
            f"output {str(folder)!r}: {JOURNAL} is empty (0 bytes; a truncated or half-copied "
            f"journal?): refusing to use it or to overwrite {DATASET}; restore the journal "
            f"(with its {JOURNAL}-wal if there is one) or choose another folder"
        )
    try:
        con = _connect_ro(path)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall()) if "meta" in tables else {}
            if "points" in tables:
                con.execute("SELECT count(*) FROM points").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise SweepError(
            f"output {str(folder)!r}: {JOURNAL} is damaged ({exc}): refusing to use it or to "
            f"overwrite {DATASET}; restore it or choose another folder"
        ) from None
    if "spec" not in meta or "points" not in tables:
        raise SweepError(
            f"output {str(folder)!r}: {JOURNAL} is not a physnn sweep journal (no spec recorded"
            f"{'' if tables else '; no tables'}): refusing to use it or to overwrite {DATASET}; "
            f"choose another folder"
        )
    return meta


def _connect_ro(path: Path) -> sqlite3.Connection:
    """A read-only connection; in a folder that cannot be written (no room for the WAL's
    shared-memory file) the journal is read as an immutable file."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return con
    except sqlite3.OperationalError:
        con.close()
        if _writable(path.parent):
            raise
        return sqlite3.connect(f"file:{path}?immutable=1", uri=True)


def _writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried: ``os.access`` says yes to root on a
    read-only mount)."""
    probe = folder / f".probe.{os.getpid()}"
    try:
        probe.touch()
        probe.unlink()
        return True
    except OSError:
        return False


def read_journal(folder: str | Path) -> tuple[dict[str, str], dict[int, tuple[str, dict | None, str | None]]]:
    """``(meta, rows)`` of the journal of ``folder``, read only (a finished read-only folder, or
    one a sweep is writing: SQLite's WAL gives a consistent snapshot)."""
    path = Path(folder) / JOURNAL
    if not path.is_file():
        raise SweepError(f"{str(folder)!r} holds no sweep journal ({JOURNAL})")
    meta = _inspect(path)
    con = _connect_ro(path)
    try:
        return meta, _rows(con)
    finally:
        con.close()


def _rows(con: sqlite3.Connection) -> dict[int, tuple[str, dict | None, str | None]]:
    out = {}
    for idx, status, m, err in con.execute("SELECT idx, status, metrics, error FROM points"):
        out[int(idx)] = (status, None if m is None else json.loads(m), err)
    return out


def _nc_counts(path: Path) -> tuple[str | None, int] | None:
    """``(identity digest, finished points)`` from the attributes of a ``sweep.nc`` (None if unreadable)."""
    try:
        import netCDF4

        with netCDF4.Dataset(str(path)) as nc:
            attrs = {k: nc.getncattr(k) for k in nc.ncattrs()}
    except (OSError, RuntimeError, ImportError):
        return None
    try:
        n = int(attrs.get("points_done", 0)) + int(attrs.get("points_failed", 0))
    except (TypeError, ValueError):
        n = 0
    return attrs.get("identity_digest"), n


class Journal:
    """The SQLite journal of one results folder (see module doc), opened under its folder lock.

    Parameters
    ----------
    folder : path
        Results folder (created if missing).
    spec : SweepSpec
    identity : dict
        What defines the points (:func:`physnn.sweep.run.identity`); a folder holding another
        identity raises :class:`SweepError` naming the fields that differ.
    resume : bool
        A folder holding this sweep with points already done is continued only with
        ``resume=True`` (otherwise refused, so a finished sweep is never silently re-used).
    retry_failed : bool
        Forget the failed points (their errors are kept in the ``retried`` table) so they run again.

    Attributes
    ----------
    notes : list of str
        Harmless differences from the stored spec (title, chunking) accepted on resume.
    """

    def __init__(
        self,
        folder: str | Path,
        spec: SweepSpec,
        identity: dict[str, Any] | None = None,
        *,
        resume: bool = False,
        retry_failed: bool = False,
    ):

        self.folder = Path(folder)
        self.notes: list[str] = []
        self.con: sqlite3.Connection | None = None
        self.lock: FolderLock | None = None
        where = f"output {str(self.folder)!r}"
        if self.folder.exists() and not self.folder.is_dir():
            raise SweepError(f"{where} exists and is not a folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SweepError(describe_os_error(exc, f"{where}: cannot create the folder")) from None
        self.lock = FolderLock(self.folder)
        try:
            self._open(spec, identity if identity is not None else {"spec": spec.digest}, resume, retry_failed, where)
        except BaseException:
            self.close()
            raise
        self.spec = spec

    def _open(self, spec: SweepSpec, identity: dict, resume: bool, retry_failed: bool, where: str) -> None:
        path = self.folder / JOURNAL
        ident_json = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
        import hashlib

        ident_digest = hashlib.sha256(ident_json.encode()).hexdigest()
        self.identity_digest = ident_digest
        # leftovers of killed runs (this run holds the lock: nobody else is writing them)
        for tmp in list(self.folder.glob(f".{DATASET}.*.tmp")) + list(self.folder.glob(f".{JOURNAL}.*.new")):
            try:
                tmp.unlink()
            except OSError:
                pass
        if path.exists():
            meta = _inspect(path)
        else:
            if (self.folder / DATASET).exists():
                raise SweepError(
                    f"{where} holds a {DATASET} without its {JOURNAL}: refusing to overwrite it (choose another folder)"
                )
            meta = {
                "digest": spec.digest,
                "spec": spec.to_json(),
                "identity": ident_json,
                "identity_digest": ident_digest,
            }
            self._create(path, meta)
        if "identity" not in meta:
            # a journal of an older physnn: its digest covered the spec only
            if meta.get("digest") != spec.digest:
                raise SweepError(
                    f"{where} holds a sweep with a different spec (stored spec: {meta.get('spec')}); "
                    f"refusing to overwrite it: choose another folder or delete it"
                )
            self.notes.append("the folder was written by an older physnn (no card hash recorded)")
        elif meta["identity_digest"] != ident_digest:
            diff = identity_diff(json.loads(meta["identity"]), identity)
            raise SweepError(
                f"{where} holds a sweep with a different spec: {'; '.join(diff) or 'identity'} "
                f"differ(s); refusing to mix or overwrite its results: choose another folder or "
                f"delete it"
            )
        try:
            old = json.loads(meta["spec"])
            now = json.loads(spec.to_json())
            for k in spec.HARMLESS:
                if old.get("sweep", {}).get(k) != now.get("sweep", {}).get(k):
                    self.notes.append(
                        f"{k} differs from the stored spec ({old.get('sweep', {}).get(k)!r} -> "
                        f"{now.get('sweep', {}).get(k)!r}): harmless, accepted"
                    )
        except (ValueError, AttributeError):
            pass
        try:
            self.con = con = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("CREATE TABLE IF NOT EXISTS retried (idx INTEGER NOT NULL, error TEXT, at REAL)")
        except sqlite3.Error as exc:
            raise SweepError(describe_os_error(exc, f"{where}: cannot open {JOURNAL} for writing")) from None
        n = self.n_done()
        if not resume and n > 0:
            raise SweepError(
                f"{where} already holds this sweep with {n} point(s) done: pass resume "
                f"(physnn sweep --resume) to continue it, or choose another folder"
            )
        nc = self.folder / DATASET
        if nc.exists():
            got = _nc_counts(nc)
            if got is not None:
                nc_ident, nc_n = got
                if nc_ident is not None and nc_ident != ident_digest and "identity" in meta:
                    raise SweepError(
                        f"{where}: {DATASET} belongs to another sweep than {JOURNAL} (identity "
                        f"{str(nc_ident)[:12]} vs {ident_digest[:12]}): refusing to overwrite it"
                    )
                if nc_n > n:
                    raise SweepError(
                        f"{where}: {DATASET} holds {nc_n} finished point(s) but {JOURNAL} only {n} "
                        f"(a journal copied without its {JOURNAL}-wal?): refusing to overwrite "
                        f"{DATASET}; restore the complete journal or choose another folder"
                    )
        if retry_failed:
            now_t = time.time()
            con.execute("BEGIN IMMEDIATE")
            failed = con.execute("SELECT idx, error FROM points WHERE status='failed'").fetchall()
            con.executemany("INSERT INTO retried VALUES (?, ?, ?)", [(i, e, now_t) for i, e in failed])
            con.execute("DELETE FROM log WHERE idx IN (SELECT idx FROM points WHERE status='failed')")
            con.execute("DELETE FROM points WHERE status='failed'")
            con.execute("COMMIT")
            self.n_retried = len(failed)

    @staticmethod
    def _create(path: Path, meta: dict[str, str]) -> None:
        """Write a complete new journal beside ``path`` and link it into place (never a partial one)."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
        try:
            con = sqlite3.connect(str(tmp), isolation_level=None)
            try:
                con.execute("BEGIN")
                for stmt in _SCHEMA:
                    con.execute(stmt)
                con.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
                con.execute("COMMIT")
            finally:
                con.close()
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.link(tmp, path)  # fails if a journal appeared: never replaced
        except (OSError, sqlite3.Error) as exc:
            raise SweepError(describe_os_error(exc, f"output {str(path.parent)!r}: cannot create {JOURNAL}")) from None
        finally:
            try:
                tmp.unlink()
            except OSError:
                pass

    # ------------------------------------------------------------------------------------------
    @property
    def _db(self) -> sqlite3.Connection:
        """The connection (open from ``__init__`` until :meth:`close`)."""
        return cast(sqlite3.Connection, self.con)

    def n_done(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM points").fetchone()[0])

    def done(self) -> set[int]:
        """Indices of finished (ok or failed) points."""
        return {int(r[0]) for r in self._db.execute("SELECT idx FROM points")}

    def record(self, rows: list[tuple[int, str, dict | None, str | None, float]]) -> None:
        """Commit ``(index, status, metrics, error, seconds)`` rows in one transaction."""
        now = time.time()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for idx, status, metrics, error, secs in rows:
                m = (
                    None
                    if metrics is None
                    else json.dumps(
                        {
                            k: [None if not math.isfinite(x) else x for x in np.asarray(v, dtype=float).tolist()]
                            for k, v in metrics.items()
                        }
                    )
                )
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO points VALUES (?, ?, ?, ?, ?, ?)",
                    (int(idx), status, m, error, float(secs), now),
                )
                if cur.rowcount:
                    self._db.execute("INSERT INTO log VALUES (?, ?)", (int(idx), now))
            self._db.execute("COMMIT")
        except BaseException:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise

    def rows(self) -> dict[int, tuple[str, dict | None, str | None]]:
        return _rows(self._db)

    def duplicates(self) -> int:
        """Points whose result was committed more than once (0 by construction; measured)."""
        n, d = self._db.execute("SELECT count(*), count(DISTINCT idx) FROM log").fetchone()
        return int(n) - int(d)

    def checkpoint(self) -> None:
        """Move the write-ahead log into ``journal.sqlite`` (a copy of the folder is then complete)."""
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass  # a reader holds the log: the next one moves it

    def close(self) -> None:
        if self.con is not None:
            try:
                self.checkpoint()
                self.con.close()
            except sqlite3.Error:
                pass
            self.con = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def export(folder: str | Path, dest: str | Path) -> Path:
    """A consistent copy of the sweep in ``folder`` (running or not) into the new folder ``dest``:
    the journal through SQLite's online backup, then ``sweep.nc`` rebuilt from it by the caller."""
    src = Path(folder) / JOURNAL
    read_journal(folder)  # refuses empty, damaged, foreign
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise SweepError(f"export destination {str(dest)!r} exists and is not an empty folder")
    try:
        dest.mkdir(parents=True, exist_ok=True)
        con = _connect_ro(src)
        out = sqlite3.connect(str(dest / JOURNAL))
        try:
            con.backup(out)
        finally:
            out.close()
            con.close()
    except (OSError, sqlite3.Error) as exc:
        raise SweepError(describe_os_error(exc, f"export to {str(dest)!r}")) from None
    return dest


def points_done(folder: str | Path) -> int:
    """Finished points in the journal of ``folder``, read without opening it for writing (safe
    while a sweep runs in another process: SQLite's WAL gives a consistent snapshot); 0 when there
    is no journal yet or it cannot be read at this instant."""
    path = Path(folder) / JOURNAL
    if not path.exists():
        return 0
    try:
        con = _connect_ro(path)
        try:
            return int(con.execute("SELECT count(*) FROM points").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def write_atomic(ds: Any, path: Path) -> None:
    """``ds.to_netcdf`` into a temporary file beside ``path``, then an atomic ``os.replace``."""
    try:
        atomic_write(path, ds.to_netcdf, fsync=True)
    except (OSError, RuntimeError) as exc:
        # netCDF/HDF5 report a full disk as "HDF error": say what the file system says
        what = f"writing {path}"
        try:
            st = os.statvfs(path.parent)
            if st.f_bavail * st.f_frsize < (1 << 20):
                raise SweepError(
                    f"{what}: the disk is full ({exc}); the journal keeps every finished point: free space and resume"
                ) from None
        except OSError:
            pass
        if isinstance(exc, OSError) and exc.errno is not None and exc.errno > 0:
            raise SweepError(describe_os_error(exc, what) + "; the journal keeps every finished point") from None
        raise SweepError(
            f"{what}: {type(exc).__name__}: {exc} (disk full or file size limit?); the journal "
            f"keeps every finished point"
        ) from None
