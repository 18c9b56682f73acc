"""Reliability of physnn.sweep under the faults a user causes (issue 27). Last line: one JSON object.

Every trial runs a tiny sweep (the ``toy`` task; the ``crossbar_linear`` task for the edited
card), injects one fault at a random moment (``--seed``), then checks the folder:

``kill_inprocess`` / ``kill_processes`` / ``kill_dask``
    ``physnn sweep`` in a subprocess with that executor, ``kill -9`` after a random delay (from
    before the journal exists to after the end, snapshots every 0.05 s so kills land in netCDF
    rewrites too); then: ``sweep.nc`` opens, every process the run started is gone within 10 s
    (else ``orphans``), the sweep resumed (in this process) equals an uninterrupted run.
``killed_worker``
    The process-pool executor, one worker ``kill -9``-ed after a random number of commits.
``killed_dask_worker``
    A dask ``LocalCluster`` worker process ``kill -9``-ed after a random number of commits.
``copied_folder``
    A run killed at random; ``journal.sqlite`` and ``sweep.nc`` copied without the ``-wal``:
    the copy resumes to the full sweep, or is refused with one line (journal behind its
    dataset) and ``sweep.nc`` untouched, after which the copy made with the ``-wal`` resumes.
``edited_card``
    A ``crossbar_linear`` run stopped at a random commit, its device card edited: the resume
    must be refused naming the card hash, ``sweep.nc`` untouched (a resume that runs is a
    ``mixed_results``); the card restored, the resume equals an uninterrupted run.
``read_only``
    A finished folder made read-only (a read-only tmpfs mount when run as root, else chmod):
    ``open_results`` equals the run, ``physnn sweep --resume`` into it is a one-line error.
``full_disk``
    ``physnn sweep`` into a tmpfs of a random small size (a real full disk, ENOSPC) when this
    process may mount one, else under a random ``RLIMIT_FSIZE`` (EFBIG) set in the child (the
    ``full_disk_mode`` figure says which): a one-line error, the committed points kept, the
    folder copied to a roomy disk resumes to the full sweep.
``concurrent``
    Two ``physnn sweep --resume`` into one folder at once: one may be refused (the lock, one
    line naming the holder); a final resume equals the uninterrupted run, nothing computed twice.
``lost_scheduler``
    A dask scheduler (with one worker) in another process group, killed after a random number
    of commits: a one-line ``SweepError`` within the worker time-out, the journal intact and
    resumable.
``no_workers``
    A scheduler without workers: refused within the stated time-out (``--worker-timeout``).

Per trial: ``lost`` = points not done after the recovery, ``duplicated`` = points committed
twice, ``identical`` = the trial ended as it must (results equal to an uninterrupted run's, or a
clear one-line refusal with the results untouched, then equal after the recovery),
``mixed_results`` = a resume that accepted changed inputs, ``tracebacks`` = a ``Traceback`` in
any stderr of the command or an unexpected exception here, ``orphans`` = processes left alive,
``hangs`` = a command past its time limit. Load average recorded (2 shared cores).

Usage: ``python experiments/bench_sweep_faults.py [--quick] [--seed N]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _publish import publish  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
CARD = ROOT / "devices" / "pcm_aihwkit.toml"

import psutil  # noqa: E402
import xarray as xr  # noqa: E402

from physnn.sweep import Axis, SweepError, SweepSpec, open_results, run_sweep  # noqa: E402
from physnn.sweep.store import JOURNAL, points_done  # noqa: E402

N_POINTS = 24
TOY = SweepSpec(
    task="toy",
    replicates=3,
    task_params={"work": 120_000},
    axes=(Axis(field="task.x", start=0.0, stop=1.0, num=12), Axis(field="task.y", values=(0.0, 0.5))),
)
#: commands past this are hangs
LIMIT_S = 120.0


def _log_counts(folder: Path) -> tuple[int, int]:
    con = sqlite3.connect(f"file:{folder / JOURNAL}?mode=ro", uri=True)
    try:
        return con.execute("SELECT count(*), count(DISTINCT idx) FROM log").fetchone()
    finally:
        con.close()


class Trial:
    """Outcome of one trial (see module doc)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.lost = self.duplicated = self.orphans = 0
        self.identical = True
        self.mixed = self.traceback = self.hang = False
        self.note = ""

    def fail(self, why: str) -> None:
        self.identical = False
        self.note += why + "; "

    def check_stderr(self, err: str) -> None:
        if "Traceback" in err:
            self.traceback = True
            self.fail("traceback: " + err.strip().splitlines()[-1][:200])

    def one_line(self, proc: subprocess.CompletedProcess, must: tuple[str, ...] = ()) -> None:
        """A refusal: rc 2, one line 'Error: ...' containing one of ``must``."""
        err = proc.stderr.strip()
        self.check_stderr(err)
        if proc.returncode != 2 or len(err.splitlines()) != 1 or not err.startswith("Error: "):
            self.fail(f"not a one-line error (rc {proc.returncode}): {err[-200:]!r}")
        elif must and not any(m in err for m in must):
            self.fail(f"error does not say {must}: {err!r}")

    def complete(self, ds, ref, folder: Path) -> None:
        """Results equal the reference, nothing lost or duplicated, sweep.nc agrees."""
        n = ref.attrs["points_total"]
        self.lost += int(n - int(ds.attrs["points_done"]))
        tot, distinct = _log_counts(folder)
        self.duplicated += int(tot - distinct)
        metrics = [v for v in ref.data_vars if "replicate" in ref[v].dims]
        try:
            for m in metrics:
                xr.testing.assert_identical(ds[m], ref[m])
            with xr.open_dataset(folder / "sweep.nc") as disk:
                for m in metrics:
                    xr.testing.assert_identical(disk[m].load(), ref[m])
                if disk.attrs.get("identity_digest") != ref.attrs.get("identity_digest"):
                    self.fail("sweep.nc identity differs")
        except AssertionError as exc:
            self.fail(f"results differ: {str(exc)[:200]}")
        if list(folder.glob(".sweep.nc.*.tmp")):
            self.fail("temporary files left")

    def figures(self) -> dict:
        return {
            "kind": self.kind,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "identical": self.identical,
            "mixed": self.mixed,
            "traceback": self.traceback,
            "orphans": self.orphans,
            "hang": self.hang,
            "note": self.note,
        }


def cli(t: Trial, *args, preexec=None, timeout: float = LIMIT_S) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [sys.executable, "-m", "physnn", "sweep", *map(str, args)],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=preexec,
        )
    except subprocess.TimeoutExpired as exc:
        t.hang = True
        t.fail("hang")
        return subprocess.CompletedProcess(exc.cmd, 124, "", str(exc.stderr or ""))


def start(spec_file: Path, out: Path, *extra) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "physnn",
            "sweep",
            str(spec_file),
            "--out",
            str(out),
            "--snapshot",
            "0.05",
            *map(str, extra),
        ],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def descendants(pid: int) -> list:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def kill_at_random(t: Trial, proc: subprocess.Popen, delay: float) -> None:
    """kill -9 ``proc`` after ``delay`` s (or at its end); orphans: its processes alive 10 s on."""
    end = time.monotonic() + delay
    kids: dict[int, psutil.Process] = {}
    while time.monotonic() < end and proc.poll() is None:
        for c in descendants(proc.pid):
            kids[c.pid] = c
        time.sleep(0.02)
    for c in descendants(proc.pid):
        kids[c.pid] = c
    if proc.poll() is None:
        proc.kill()
    try:
        err = proc.communicate(timeout=LIMIT_S)[1] or ""
    except subprocess.TimeoutExpired:
        t.hang = True
        proc.kill()
        err = proc.communicate()[1] or ""
    t.check_stderr(err)
    _, alive = psutil.wait_procs(list(kids.values()), timeout=10)
    alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    t.orphans += len(alive)
    for p in alive:
        p.kill()


def resume_here(t: Trial, spec: SweepSpec, out: Path, **kw):
    try:
        return run_sweep(spec, out, resume=True, **kw)
    except SweepError as exc:
        t.fail(f"resume refused: {exc}")
    except Exception as exc:  # noqa: BLE001 - counted
        t.traceback = True
        t.fail(f"resume raised {type(exc).__name__}: {exc}")
    return None


# ---------------------------------------------------------------------------------------------
def trial_kill(t: Trial, rng: random.Random, tmp: Path, ref, executor: str, t_full: float) -> None:
    spec_file = tmp / "s.toml"
    spec_file.write_text(TOY.to_toml())
    out = tmp / "r"
    extra = ("--executor", executor, "--workers", "2") if executor != "inprocess" else ()
    proc = start(spec_file, out, *extra)
    kill_at_random(t, proc, rng.uniform(0.0, 1.1 * t_full))
    if (out / "sweep.nc").exists():
        try:
            xr.open_dataset(out / "sweep.nc").close()
        except Exception as exc:  # noqa: BLE001
            t.fail(f"sweep.nc unreadable after the kill: {exc}")
    ds = resume_here(t, TOY, out)
    if ds is not None:
        t.complete(ds, ref, out)


def trial_killed_worker(t: Trial, rng: random.Random, tmp: Path, ref, dask: bool) -> None:
    out = tmp / "r"
    at = rng.randint(1, N_POINTS - 4)
    me = os.getpid()
    killed = []

    def kill(n):
        if n >= at and not killed:
            ws = [
                c
                for c in descendants(me)
                if "resource_tracker" not in " ".join(c.cmdline()) and ("spawn_main" in " ".join(c.cmdline()) or dask)
            ]
            if ws:
                w = rng.choice(ws)
                w.kill()
                killed.append(w.pid)

    try:
        ds = run_sweep(TOY, out, executor="dask" if dask else "processes", workers=2, on_commit=kill)
    except Exception as exc:  # noqa: BLE001
        t.traceback = not isinstance(exc, SweepError)
        t.fail(f"{type(exc).__name__}: {exc}")
        ds = resume_here(t, TOY, out)
    if not killed:
        t.note += "no worker found to kill; "
    if ds is not None:
        t.complete(ds, ref, out)


def trial_copied(t: Trial, rng: random.Random, tmp: Path, ref, t_full: float) -> None:
    spec_file = tmp / "s.toml"
    spec_file.write_text(TOY.to_toml())
    out = tmp / "r"
    proc = start(spec_file, out)
    kill_at_random(t, proc, rng.uniform(0.3 * t_full, 1.1 * t_full))
    two, full = tmp / "copy2", tmp / "copyall"
    two.mkdir()
    for name in (JOURNAL, "sweep.nc"):
        if (out / name).exists():
            shutil.copy(out / name, two / name)
    shutil.copytree(out, full)
    nc_before = (two / "sweep.nc").read_bytes() if (two / "sweep.nc").exists() else None
    p = cli(t, spec_file, "--out", two, "--resume")
    if p.returncode == 0:
        t.check_stderr(p.stderr)
        t.complete(open_results(two), ref, two)
        return
    t.one_line(p, ("journal.sqlite only", "without its journal.sqlite"))
    if nc_before is not None and (two / "sweep.nc").read_bytes() != nc_before:
        t.fail("sweep.nc of the copy overwritten after a refusal")
    ds = resume_here(t, TOY, full)
    if ds is not None:
        t.complete(ds, ref, full)


def trial_edited_card(t: Trial, rng: random.Random, tmp: Path, refs: dict) -> None:
    card = tmp / "pcm_aihwkit.toml"
    shutil.copy(CARD, card)
    spec = _linear_spec(card)
    out = tmp / "r"
    stop_at = rng.randint(1, 5)

    def stop(n):
        if n >= stop_at:
            raise KeyboardInterrupt  # stands for a crash (the journal keeps the points)

    try:
        run_sweep(spec, out, on_commit=stop)
    except KeyboardInterrupt:
        pass
    before = (out / "sweep.nc").read_bytes()
    text = card.read_text()
    card.write_text(text.replace("[card]", f"# edited {rng.random()}\n[card]", 1))
    try:
        run_sweep(spec, out, resume=True)
        t.mixed = True
        t.fail("resumed with an edited card")
    except SweepError as exc:
        if "card_sha256" not in str(exc):
            t.fail(f"refusal does not name the card: {exc}")
    if (out / "sweep.nc").read_bytes() != before:
        t.fail("sweep.nc overwritten")
    card.write_text(text)
    ds = resume_here(t, spec, out)
    if ds is not None:
        if "lin" not in refs:
            refs["lin"] = run_sweep(spec, tmp / "ref")
        t.complete(ds, refs["lin"], out)


def _linear_spec(card: Path) -> SweepSpec:
    return SweepSpec(
        task="crossbar_linear",
        replicates=2,
        chunk_points=1,
        task_params={"card": str(card), "in_features": 8, "out_features": 4, "batch": 3},
        axes=(Axis(field="config.out_noise", values=(0.0, 0.05, 0.1, 0.2, 0.3, 0.4)),),
    )


def _can_mount() -> bool:
    if os.geteuid() != 0:
        return False
    d = tempfile.mkdtemp()
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", d], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["umount", d])
    os.rmdir(d)
    return ok


def trial_read_only(t: Trial, rng: random.Random, tmp: Path, ref, mount: bool) -> None:
    out = tmp / "r"
    run_sweep(TOY, out)
    spec_file = tmp / "s.toml"
    spec_file.write_text(TOY.to_toml())
    ro = tmp / "ro"
    ro.mkdir()
    mounted = False
    try:
        if mount:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(ro)], check=True)
            mounted = True
            for f in out.iterdir():
                shutil.copy(f, ro / f.name)
            subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        else:
            for f in out.iterdir():
                shutil.copy(f, ro / f.name)
            for f in [*ro.iterdir(), ro]:
                f.chmod(0o555 if f.is_dir() else 0o444)
        try:
            ds = open_results(ro)
            xr.testing.assert_identical(ds.f, ref.f)
        except Exception as exc:  # noqa: BLE001
            t.traceback = not isinstance(exc, (SweepError, AssertionError))
            t.fail(f"open_results: {type(exc).__name__}: {exc}")
        target = ro if rng.random() < 0.5 else ro / "sub"
        t.one_line(cli(t, spec_file, "--out", target, "--resume"), ("read-only", "ermission"))
    finally:
        if mounted:
            subprocess.run(["umount", str(ro)])
        else:
            for f in [ro, *ro.iterdir()]:
                f.chmod(0o755)


def trial_full_disk(t: Trial, rng: random.Random, tmp: Path, ref, mount: bool) -> None:
    spec = TOY.replace(replicates=40, task_params={"work": 0})
    spec_file = tmp / "s.toml"
    spec_file.write_text(spec.to_toml())
    d = tmp / "disk"
    d.mkdir()
    size = rng.choice([40, 56, 72, 96, 120]) * 1024
    mounted = False
    preexec = None
    try:
        if mount:
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], check=True)
            mounted = True
        else:

            def preexec(lim=size):
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (lim, lim))

        out = d / "r"
        p = cli(t, spec_file, "--out", out, "--snapshot", "0", preexec=preexec)
        if p.returncode == 0:
            t.note += f"fitted in {size} B; "
        else:
            t.one_line(p, ("disk", "file size", "full"))
        if out.exists():
            roomy = tmp / "roomy"
            shutil.copytree(out, roomy)
        else:
            roomy = tmp / "roomy"
    finally:
        if mounted:
            subprocess.run(["umount", str(d)])
    if not hasattr(trial_full_disk, "ref") or trial_full_disk.ref[0] != spec.digest:
        trial_full_disk.ref = (spec.digest, run_sweep(spec, tmp / "ref"))
    try:
        ds = run_sweep(spec, roomy, resume=True)
        t.complete(ds, trial_full_disk.ref[1], roomy)
    except SweepError as exc:
        t.fail(f"resume on the roomy disk refused: {exc}")


def trial_concurrent(t: Trial, rng: random.Random, tmp: Path, ref) -> None:
    spec_file = tmp / "s.toml"
    spec_file.write_text(TOY.to_toml())
    out = tmp / "r"
    procs = []
    for _ in range(2):
        procs.append(start(spec_file, out, "--resume"))
        time.sleep(rng.uniform(0.0, 1.0))
    for p in procs:
        try:
            err = p.communicate(timeout=LIMIT_S)[1]
        except subprocess.TimeoutExpired:
            t.hang = True
            p.kill()
            err = p.communicate()[1]
        t.check_stderr(err)
        if p.returncode not in (0, 2) or (p.returncode == 2 and "in use by another sweep" not in err):
            t.fail(f"rc {p.returncode}: {err[-200:]!r}")
    ds = resume_here(t, TOY, out)
    if ds is not None:
        t.complete(ds, ref, out)


def trial_lost_scheduler(t: Trial, rng: random.Random, tmp: Path, ref) -> None:
    code = (
        "from distributed import LocalCluster; import time; "
        "c = LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None, silence_logs=50); "
        "print(c.scheduler_address, flush=True); time.sleep(600)"
    )
    sched = subprocess.Popen(
        [sys.executable, "-c", code],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    spec_file = tmp / "s.toml"
    spec_file.write_text(TOY.to_toml())
    out = tmp / "r"
    timeout = 5.0
    try:
        addr = sched.stdout.readline().strip()
        at = rng.randint(1, N_POINTS - 4)
        proc = start(spec_file, out, "--scheduler", addr, "--worker-timeout", timeout)
        deadline = time.monotonic() + LIMIT_S
        while proc.poll() is None and points_done(out) < at and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(sched.pid, signal.SIGKILL)
        t0 = time.monotonic()
        try:
            err = proc.communicate(timeout=timeout + 60)[1]
        except subprocess.TimeoutExpired:
            t.hang = True
            t.fail("the run did not stop after its scheduler died")
            proc.kill()
            err = proc.communicate()[1]
        took = time.monotonic() - t0
        if proc.returncode == 0:
            t.note += "finished before the scheduler died; "
            t.check_stderr(err)
        else:
            t.one_line(subprocess.CompletedProcess(proc.args, proc.returncode, "", err), ("lost", "no workers"))
            if os.environ.get("BENCH_DEBUG"):
                print(err, file=sys.stderr)
            t.note += f"stopped {took:.1f} s after the kill; "
    finally:
        try:
            os.killpg(sched.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        sched.wait()
    ds = resume_here(t, TOY, out)
    if ds is not None:
        t.complete(ds, ref, out)


def trial_no_workers(t: Trial, rng: random.Random, tmp: Path, ref) -> None:
    from distributed import LocalCluster

    spec_file = tmp / "s.toml"
    spec_file.write_text(TOY.to_toml())
    timeout = rng.choice([1.0, 2.0, 3.0])
    with LocalCluster(n_workers=0, dashboard_address=None, silence_logs=50, scheduler_port=0) as cluster:
        t0 = time.monotonic()
        p = cli(
            t,
            spec_file,
            "--out",
            tmp / "r",
            "--scheduler",
            cluster.scheduler_address,
            "--worker-timeout",
            timeout,
            timeout=60,
        )
        took = time.monotonic() - t0
    t.one_line(p, ("no workers",))
    if took > timeout + 30:
        t.hang = True
        t.fail(f"took {took:.1f} s for a {timeout} s time-out")
    ds = resume_here(t, TOY, tmp / "r")
    if ds is not None:
        t.complete(ds, ref, tmp / "r")


def timed_run(executor: str, tmp: Path) -> float:
    spec_file = tmp / "s.toml"
    spec_file.write_text(TOY.to_toml())
    t0 = time.monotonic()
    extra = ["--executor", executor] if executor != "inprocess" else []
    subprocess.run(
        [
            sys.executable,
            "-m",
            "physnn",
            "sweep",
            str(spec_file),
            "--out",
            str(tmp / f"t_{executor}"),
            "--snapshot",
            "0.05",
            *extra,
        ],
        env=ENV,
        capture_output=True,
        timeout=LIMIT_S,
        check=True,
    )
    return time.monotonic() - t0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one trial of each kind (not published as latest)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    mount = _can_mount()
    plan = {
        "kill_inprocess": 10,
        "kill_processes": 8,
        "kill_dask": 4,
        "killed_worker": 5,
        "killed_dask_worker": 2,
        "copied_folder": 5,
        "edited_card": 4,
        "read_only": 3,
        "full_disk": 5,
        "concurrent": 4,
        "lost_scheduler": 2,
        "no_workers": 2,
    }
    if args.quick:
        plan = {k: 1 for k in plan}
    t_start = time.monotonic()
    load0 = os.getloadavg()
    trials: list[Trial] = []
    with tempfile.TemporaryDirectory(prefix="bench_sweep_faults_") as base:
        base = Path(base)
        ref = run_sweep(TOY, base / "ref")
        t_full = {e: timed_run(e, base) for e in ("inprocess", "processes", "dask")}
        print(json.dumps({"uninterrupted_cli_seconds": {k: round(v, 2) for k, v in t_full.items()}}), flush=True)
        refs: dict = {}
        order = [k for k, n in plan.items() for _ in range(n)]
        for i, kind in enumerate(order):
            tmp = base / f"t{i:03d}"
            tmp.mkdir()
            t = Trial(kind)
            t0 = time.monotonic()
            try:
                if kind.startswith("kill_"):
                    ex = kind.split("_", 1)[1]
                    trial_kill(t, rng, tmp, ref, ex, t_full[ex])
                elif kind == "killed_worker":
                    trial_killed_worker(t, rng, tmp, ref, dask=False)
                elif kind == "killed_dask_worker":
                    trial_killed_worker(t, rng, tmp, ref, dask=True)
                elif kind == "copied_folder":
                    trial_copied(t, rng, tmp, ref, t_full["inprocess"])
                elif kind == "edited_card":
                    trial_edited_card(t, rng, tmp, refs)
                elif kind == "read_only":
                    trial_read_only(t, rng, tmp, ref, mount)
                elif kind == "full_disk":
                    trial_full_disk(t, rng, tmp, ref, mount)
                elif kind == "concurrent":
                    trial_concurrent(t, rng, tmp, ref)
                elif kind == "lost_scheduler":
                    trial_lost_scheduler(t, rng, tmp, ref)
                elif kind == "no_workers":
                    trial_no_workers(t, rng, tmp, ref)
            except Exception as exc:  # noqa: BLE001 - a harness or library failure, counted
                t.traceback = True
                t.fail(f"trial raised {type(exc).__name__}: {exc}")
            trials.append(t)
            fig = t.figures()
            fig["seconds"] = round(time.monotonic() - t0, 2)
            print(json.dumps({"trial": i, **fig}), flush=True)
            shutil.rmtree(tmp, ignore_errors=True)
    res = {
        "trials": len(trials),
        "lost": sum(t.lost for t in trials),
        "duplicated": sum(t.duplicated for t in trials),
        "identical": sum(t.identical for t in trials),
        "mixed_results": sum(t.mixed for t in trials),
        "tracebacks": sum(t.traceback for t in trials),
        "orphans": sum(t.orphans for t in trials),
        "hangs": sum(t.hang for t in trials),
        "trials_by_kind": {k: sum(t.kind == k for t in trials) for k in plan},
        "failed_trials": [f"{t.kind}: {t.note}" for t in trials if not t.identical][:10],
        "full_disk_mode": "tmpfs (ENOSPC)" if mount else "RLIMIT_FSIZE (EFBIG)",
        "read_only_mode": "read-only tmpfs mount" if mount else "chmod",
        "uninterrupted_cli_seconds": {k: round(v, 2) for k, v in t_full.items()},
        "seconds": round(time.monotonic() - t_start, 1),
        "load_start": [round(v, 2) for v in load0],
        "load_end": [round(v, 2) for v in os.getloadavg()],
        "seed": args.seed,
    }
    publish("bench_sweep_faults", res, quick=args.quick)
    return res


if __name__ == "__main__":
    main()
