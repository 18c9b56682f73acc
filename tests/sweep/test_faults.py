"""Faults a user can cause, each answered before work with a clear one-line error, or recovered:
no point lost, mixed or computed twice, no results overwritten, no process left behind.

The slow, randomised form (kill -9 at random moments in every executor, 50+ trials) is
``experiments/bench_sweep_faults.py``."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr

from physnn.sweep import Axis, SweepError, SweepSpec, load_spec, open_results, run_sweep, validate
from physnn.sweep.store import JOURNAL, points_done

ROOT = Path(__file__).resolve().parents[2]
CARD = ROOT / "devices" / "pcm_aihwkit.toml"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _toy(**kw):
    base = dict(task="toy", replicates=2, axes=(Axis(field="task.x", values=(0.0, 0.5, 1.0, 1.5)),))
    base.update(kw)
    return SweepSpec(**base)


def _linear(card, **kw):
    base = dict(
        task="crossbar_linear",
        replicates=2,
        task_params={"card": str(card), "in_features": 6, "out_features": 3, "batch": 2},
        axes=(Axis(field="config.out_noise", values=(0.0, 0.1, 0.2)),),
        chunk_points=1,
    )
    base.update(kw)
    return SweepSpec(**base)


def _cli(*args, cwd=None, timeout=120, preexec=None):
    return subprocess.run(
        [sys.executable, "-m", "physnn", "sweep", *map(str, args)],
        env=ENV,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec,
    )


def _one_line_error(proc):
    """rc 2 and one line of stderr starting with 'Error:' (no traceback)."""
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in err and len(err.splitlines()) == 1 and err.startswith("Error: "), err
    return err


# ---------------------------------------------------------------------------------------------
# 1. silent mixing and overwriting
# ---------------------------------------------------------------------------------------------
def test_edited_card_is_refused_on_resume_naming_the_card_hash(tmp_path):
    card = tmp_path / "pcm_aihwkit.toml"
    shutil.copy(CARD, card)
    spec = _linear(card)
    out = tmp_path / "r"
    run_sweep(spec, out)
    before = (out / "sweep.nc").read_bytes()
    text = card.read_text()
    card.write_text(text.replace("[card]", "# edited\n[card]", 1))  # contents change, not the path
    with pytest.raises(SweepError, match=r"different spec: fingerprint\.card_sha256 \(stored"):
        run_sweep(spec, out, resume=True)
    assert (out / "sweep.nc").read_bytes() == before
    card.write_text(text)  # the same contents again
    assert int(run_sweep(spec, out, resume=True).attrs["points_done"]) == 3


def test_relative_card_path_resumed_from_another_directory_is_refused(tmp_path, monkeypatch):
    for d, extra in (("a", ""), ("b", "# another card file at the same relative path\n")):
        (tmp_path / d).mkdir()
        (tmp_path / d / "pcm_aihwkit.toml").write_text(extra + CARD.read_text())
    spec = _linear("pcm_aihwkit.toml")
    out = tmp_path / "r"
    monkeypatch.chdir(tmp_path / "a")
    run_sweep(spec, out)
    monkeypatch.chdir(tmp_path / "b")
    with pytest.raises(SweepError, match=r"card_sha256"):
        run_sweep(spec, out, resume=True)


def test_card_edited_while_the_sweep_runs_stops_it_without_mixing(tmp_path):
    card = tmp_path / "pcm_aihwkit.toml"
    shutil.copy(CARD, card)
    spec = _linear(card)
    out = tmp_path / "r"

    def edit(n):
        if n == 1:
            card.write_text("# edited while running\n" + CARD.read_text())

    with pytest.raises(SweepError, match="changed while the sweep ran"):
        run_sweep(spec, out, on_commit=edit)
    assert points_done(out) == 1  # the point before the edit, kept


def test_task_parameters_and_version_are_part_of_the_identity(tmp_path, monkeypatch):
    out = tmp_path / "r"
    run_sweep(_toy(task_params={"noise": 0.1}), out)
    with pytest.raises(SweepError, match=r"task_params\.noise \(stored 0\.1, now 0\.2\)"):
        run_sweep(_toy(task_params={"noise": 0.2}), out, resume=True)
    with pytest.raises(SweepError, match=r"values\.x"):
        run_sweep(_toy(axes=(Axis(field="task.x", values=(0.0, 0.5, 1.0, 2.5)),)), out, resume=True)
    import physnn

    monkeypatch.setattr(physnn, "__version__", "99.0")
    with pytest.raises(SweepError, match=r"physnn_version \(stored \"0"):
        run_sweep(_toy(task_params={"noise": 0.1}), out, resume=True)


def test_harmless_changes_are_accepted_on_resume_and_said(tmp_path):
    out = tmp_path / "r"
    spec = _toy(task_params={"noise": 0}, name="first title")
    run_sweep(spec, out)
    notes = []
    # title, chunking and 0 vs 0.0 do not change a point
    same = _toy(task_params={"noise": 0.0}, name="second title", chunk_points=3)
    ds = run_sweep(same, out, resume=True, log=notes.append)
    assert int(ds.attrs["points_done"]) == 4 and ds.attrs["title"] == "second title"
    assert any("name differs" in n and "harmless" in n for n in notes)
    assert any("chunk_points differs" in n for n in notes)
    # a [task] value given in axis units or SI is one value too
    a = _toy(axes=(Axis(field="task.x", values=(10, 20), units="%"),))
    b = _toy(axes=(Axis(field="task.x", values=(0.1, 0.2)),))
    run_sweep(a, tmp_path / "u")
    run_sweep(b, tmp_path / "u", resume=True)


@pytest.mark.parametrize(
    "damage, msg",
    [
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_bytes(b"SQLite format 3\x00" + os.urandom(3000)), "damaged"),
        (lambda p: p.write_bytes(b"not a database at all" * 100), "damaged"),
        (
            lambda p: (
                p.unlink(),
                sqlite3.connect(str(p)).executescript("CREATE TABLE t (a); INSERT INTO t VALUES (1);"),
            ),
            "not a physnn sweep journal",
        ),
        (lambda p: sqlite3.connect(str(p)).executescript("DELETE FROM meta WHERE key='spec';"), "no spec recorded"),
    ],
)
def test_empty_damaged_or_foreign_journal_is_refused_and_results_untouched(tmp_path, damage, msg):
    out = tmp_path / "r"
    spec = _toy()
    run_sweep(spec, out)
    before = (out / "sweep.nc").read_bytes()
    for f in out.glob(JOURNAL + "-*"):
        f.unlink()
    damage(out / JOURNAL)
    for resume in (False, True):
        with pytest.raises(SweepError, match=msg):
            run_sweep(spec, out, resume=resume)
        with pytest.raises(SweepError, match=msg):
            run_sweep(_toy(replicates=3), out, resume=resume)  # nor a different spec
    assert (out / "sweep.nc").read_bytes() == before
    with pytest.raises(SweepError, match=msg):
        open_results(out)


def test_a_copy_of_the_journal_taken_while_running_is_complete(tmp_path):
    """The write-ahead log is checkpointed at every snapshot: a copy of journal.sqlite alone, taken
    while the sweep runs, holds every point of the last snapshot."""
    out, copies = tmp_path / "r", []
    spec = _toy(axes=(Axis(field="task.x", start=0.0, stop=1.0, num=8),))

    def copy(n):
        if n in (3, 6):
            d = tmp_path / f"copy{n}"
            d.mkdir()
            shutil.copy(out / JOURNAL, d / JOURNAL)  # not the -wal: "the two files"
            shutil.copy(out / "sweep.nc", d / "sweep.nc")
            copies.append((n, d))

    run_sweep(spec, out, snapshot_s=0.0, on_commit=copy)
    assert not (out / (JOURNAL + "-wal")).exists() or (out / (JOURNAL + "-wal")).stat().st_size == 0
    for n, d in copies:
        assert points_done(d) == n - 1  # the snapshot before commit n
        with xr.open_dataset(d / "sweep.nc") as nc:
            assert int(nc.attrs["points_done"]) == n - 1
        ds = run_sweep(spec, d, resume=True)  # the copy resumes to the full sweep
        assert int(ds.attrs["points_done"]) == 8


def test_a_journal_behind_its_dataset_is_refused(tmp_path):
    """journal.sqlite from early in a run next to the final sweep.nc (a copy without the -wal)."""
    out = tmp_path / "r"
    spec = _toy()
    early = tmp_path / "early.sqlite"
    run_sweep(spec, out, snapshot_s=0.0, on_commit=lambda n: n == 2 and shutil.copy(out / JOURNAL, early))
    shutil.copy(early, out / JOURNAL)
    before = (out / "sweep.nc").read_bytes()
    with pytest.raises(SweepError, match=r"sweep\.nc holds 4 finished point\(s\) but journal\.sqlite only 1"):
        run_sweep(spec, out, resume=True)
    assert (out / "sweep.nc").read_bytes() == before


def test_folder_lock_names_its_holder_and_a_dead_holder_is_taken_over(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from physnn.sweep.store import FolderLock; "
            "FolderLock(sys.argv[1]); print('locked', flush=True); time.sleep(120)",
            str(out),
        ],
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(SweepError, match=rf"in use by another sweep \(process {holder.pid} on "):
            run_sweep(_toy(), out)
        assert not (out / JOURNAL).exists()
    finally:
        holder.kill()  # kill -9: the lock file stays
        holder.wait()
        holder.stdout.close()
    assert (out / ".lock").exists()
    assert int(run_sweep(_toy(), out).attrs["points_done"]) == 4  # the dead holder's lock is taken over


@pytest.mark.slow
def test_two_concurrent_runs_compute_each_point_once(tmp_path):
    spec = _toy(task_params={"work": 200_000}, axes=(Axis(field="task.x", start=0.0, stop=1.0, num=12),))
    toml = tmp_path / "s.toml"
    toml.write_text(spec.to_toml())
    out = tmp_path / "r"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "physnn", "sweep", str(toml), "--out", str(out), "--resume"],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    res = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    ok = [r for r in res if r[0] == 0]
    refused = [r for r in res if r[0] != 0]
    # either one ran while the other was refused naming the holder, or they ran one after the other
    assert len(ok) >= 1
    for rc, err in refused:
        assert rc == 2 and "in use by another sweep" in err and "Traceback" not in err
    con = sqlite3.connect(str(out / JOURNAL))
    n, d = con.execute("SELECT count(*), count(DISTINCT idx) FROM log").fetchone()
    con.close()
    assert n == d == 12


def test_stale_temporary_files_are_removed(tmp_path):
    out = tmp_path / "r"
    run_sweep(_toy(), out)
    (out / ".sweep.nc.12345.tmp").write_bytes(b"half a file")
    (out / ".journal.sqlite.12345.new").write_bytes(b"half a journal")
    run_sweep(_toy(), out, resume=True)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".lock") == []


# ---------------------------------------------------------------------------------------------
# 2. every bad input found before any work, naming file, line and field
# ---------------------------------------------------------------------------------------------
_TOML = """[sweep]
task = "crossbar_mlp"
replicates = 2

[task]
card = "pcm_aihwkit"
{task}

[[axis]]
field = "config.out_noise"
values = [0.0, 0.1]
"""


@pytest.mark.parametrize(
    "line, msg",
    [
        ('batch = "eight"', r"unknown parameter"),  # crossbar_mlp has no batch
        ("hidden = 0", r"\[task\] hidden = 0: must be an integer >= 1 \(hidden units\)"),
        ('epochs = "three"', r"\[task\] epochs = 'three': must be an integer >= 0"),
        ('drift_compensation = "no"', r"\[task\] drift_compensation = 'no': must be true or false"),
        ("t_inference = -1.0", r"\[task\] t_inference = -1\.0: must be >= 0 .*in s\)"),
        ('input_scaling = "max"', r"must be one of \['fixed', 'abs_max'\]"),
    ],
)
def test_task_parameters_are_validated_before_any_work_naming_file_and_line(tmp_path, line, msg):
    p = tmp_path / "s.toml"
    p.write_text(_TOML.format(task=line))
    with pytest.raises(SweepError, match=rf"s\.toml:7: .*{msg}"):
        validate(load_spec(p))
    proc = _cli(p, "--out", tmp_path / "r")
    assert "s.toml:7:" in _one_line_error(proc)
    assert not (tmp_path / "r").exists()  # no folder, no journal


def test_crossbar_linear_batch_is_typed(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(_TOML.replace("crossbar_mlp", "crossbar_linear").format(task='batch = "eight"'))
    with pytest.raises(SweepError, match=r"s\.toml:7: \[task\] batch = 'eight': must be an integer >= 1"):
        validate(load_spec(p))


def test_scalar_seeds_and_other_spec_errors_name_their_line(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[sweep]\ntask = "toy"\nseeds = 4\n\n[[axis]]\nfield = "task.x"\nvalues = [0.0, 1.0]\n')
    with pytest.raises(
        SweepError, match=r"s\.toml:3: seeds=4: must be a list of integers >= 0 \(e\.g\. seeds = \[0, 1, 2, 3\]"
    ):
        load_spec(p)
    p.write_text(
        '[sweep]\ntask = "toy"\n\n[[axis]]\nfield = "task.y"\nvalues = [0.0]\n\n'
        '[[axis]]\nfield = "task.x"\nvalues = [0.0, 1.0, 0.0]\n'
    )
    with pytest.raises(SweepError, match=r"s\.toml:10: axis task\.x: value 0\.0 appears twice"):
        load_spec(p)
    p.write_text('[sweep]\ntask = "crossbar_linear"\n\n[[axis]]\nfield = "config.adc.bits"\nvalues = [3.2, 3.4]\n')
    with pytest.raises(
        SweepError, match=r"s\.toml:5: axis config\.adc\.bits: value 3\.0 \(SI, rounded to an integer\) appears twice"
    ):
        validate(load_spec(p))


def test_combinations_are_checked_over_the_whole_design(tmp_path):
    """g_min = 5 uS with g_max = 4 uS is the only bad combination: neither axis end with the first
    point of the other shows it; the error lists the point before any work."""
    spec = SweepSpec(
        task="crossbar_linear",
        task_params={"in_features": 4, "out_features": 2, "batch": 2},
        axes=(
            Axis(field="config.range.g_min", values=(1.0, 5.0), units="uS"),
            Axis(field="config.range.g_max", values=(20.0, 4.0), units="uS"),
        ),
    )
    with pytest.raises(
        SweepError,
        match=r"1 of 4 distinct design point\(s\) cannot be applied .*"
        r"config\.range\.g_min=5e-06, config\.range\.g_max=4e-06",
    ):
        run_sweep(spec, tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_memory_is_estimated_before_allocating(tmp_path):
    big = SweepSpec(
        task="crossbar_linear",
        task_params={"in_features": 10**6, "out_features": 10**6},
        axes=(Axis(field="config.out_noise", values=(0.0,)),),
    )
    with pytest.raises(SweepError, match=r"needs an estimated .* GiB of memory"):
        run_sweep(big, tmp_path / "r")
    huge = _toy(
        axes=(
            Axis(field="task.x", start=0.0, stop=1.0, num=10**6),
            Axis(field="task.y", start=0.0, stop=1.0, num=10**6),
        )
    )
    t0 = time.monotonic()
    with pytest.raises(SweepError, match=r"the design has 1,000,000,000,000 points"):
        run_sweep(huge, tmp_path / "r")
    assert time.monotonic() - t0 < 5 and not (tmp_path / "r").exists()


def test_prefixed_units_give_exact_si_values(tmp_path):
    spec = SweepSpec(
        task="crossbar_linear",
        task_params={"in_features": 4, "out_features": 2, "batch": 2},
        axes=(
            Axis(field="config.range.g_max", values=(10.0, 25.0), units="uS"),
            Axis(field="config.t_inference", start=1.0, stop=3.0, num=3, units="ms"),
        ),
    )
    _, layout = validate(spec)
    assert layout.per_axis[0].tolist() == [1e-05, 2.5e-05] and layout.per_axis[1].tolist() == [0.001, 0.002, 0.003]
    ds = run_sweep(_toy(axes=(Axis(field="task.x", values=(7.0, 10.0), units="%"),)), tmp_path / "r")
    assert float(ds.f_mean.sel(x=0.07)) == float(ds.f_mean[0])  # 7 % is 0.07, not 0.07000000000000001


def test_card_override_errors_name_the_users_card(tmp_path):
    card = tmp_path / "pcm_aihwkit.toml"
    shutil.copy(CARD, card)
    spec = _linear(card, axes=(Axis(field="card.drift.t0", values=(20.0, -1.0)),))
    with pytest.raises(SweepError, match="card.drift.t0") as err:
        validate(spec)
    assert "<card text>" not in str(err.value) and str(card) in str(err.value)


# ---------------------------------------------------------------------------------------------
# 3. faults survived
# ---------------------------------------------------------------------------------------------
def _workers_of(pid):
    import psutil

    try:
        return [
            c for c in psutil.Process(pid).children(recursive=True) if "resource_tracker" not in " ".join(c.cmdline())
        ]
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow
def test_a_killed_pool_worker_costs_only_a_retry(tmp_path):
    spec = _toy(task_params={"work": 300_000}, axes=(Axis(field="task.x", start=0.0, stop=1.0, num=10),))
    out = tmp_path / "r"
    killed = []

    def kill_one(n):
        if n == 2 and not killed:
            w = _workers_of(os.getpid())
            assert w, "no pool workers found"
            w[0].kill()
            killed.append(w[0].pid)

    ds = run_sweep(spec, out, executor="processes", workers=2, on_commit=kill_one)
    assert killed and (ds.status.values == 1).all()
    con = sqlite3.connect(str(out / JOURNAL))
    n, d = con.execute("SELECT count(*), count(DISTINCT idx) FROM log").fetchone()
    con.close()
    assert n == d == 10
    xr.testing.assert_identical(ds.f, run_sweep(spec, tmp_path / "ref").f)


@pytest.mark.slow
def test_a_point_that_keeps_killing_its_worker_is_recorded_failed_with_the_cause(tmp_path):
    spec = _toy(task_params={"crash_above": 1.2})  # x = 1.5 ends its worker every time
    ds = run_sweep(spec, tmp_path / "r", executor="processes", workers=2)
    assert ds.status.values.tolist() == [1, 1, 1, 2]
    err = str(ds.error.sel(x=1.5).values)
    assert "worker process died 3 times" in err and "BrokenProcessPool" in err


@pytest.mark.slow
def test_pool_workers_die_with_their_parent(tmp_path):
    spec = _toy(task_params={"work": 2_000_000}, axes=(Axis(field="task.x", start=0.0, stop=1.0, num=40),))
    toml = tmp_path / "s.toml"
    toml.write_text(spec.to_toml())
    out = tmp_path / "r"
    proc = subprocess.Popen(
        [sys.executable, "-m", "physnn", "sweep", str(toml), "--out", str(out), "--executor", "processes"],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and points_done(out) < 1:
        time.sleep(0.05)
    workers = _workers_of(proc.pid)
    assert workers and proc.poll() is None
    proc.kill()
    proc.wait()
    import psutil

    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"orphaned workers: {[p.pid for p in alive]}"
    assert int(run_sweep(spec.replace(task_params={"work": 0}), tmp_path / "other").attrs["points_done"]) == 40


@pytest.mark.slow
def test_dask_with_no_workers_fails_within_the_timeout_journal_intact(tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, dashboard_address=None, silence_logs=50) as cluster:
        t0 = time.monotonic()
        with pytest.raises(SweepError, match=r"dask: no workers at \S+ for 2 s; the journal keeps"):
            run_sweep(_toy(), tmp_path / "r", scheduler=cluster.scheduler_address, worker_timeout=2.0)
        assert time.monotonic() - t0 < 20
    meta_ok = open_results(tmp_path / "r")
    assert int(meta_ok.attrs["points_done"]) == 0 and int(meta_ok.attrs["points_total"]) == 4


@pytest.mark.slow
def test_lost_dask_scheduler_is_a_one_line_error_journal_intact(tmp_path):
    code = (
        "from distributed import LocalCluster; import time; "
        "c = LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None, silence_logs=50); "
        "print(c.scheduler_address, flush=True); time.sleep(300)"
    )
    sched = subprocess.Popen(
        [sys.executable, "-c", code],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        addr = sched.stdout.readline().strip()
        spec = _toy(task_params={"work": 200_000}, axes=(Axis(field="task.x", start=0.0, stop=1.0, num=30),))
        t0 = []

        def kill_scheduler(n):
            if n == 3:
                os.killpg(sched.pid, signal.SIGKILL)
                t0.append(time.monotonic())

        with pytest.raises(SweepError, match=r"dask scheduler at tcp://.* lost"):
            run_sweep(spec, tmp_path / "r", scheduler=addr, worker_timeout=3.0, on_commit=kill_scheduler)
        assert time.monotonic() - t0[0] < 30
        assert 3 <= points_done(tmp_path / "r") < 30
    finally:
        try:
            os.killpg(sched.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        sched.wait()
        sched.stdout.close()
    ds = run_sweep(spec, tmp_path / "r", resume=True)
    xr.testing.assert_identical(ds.f, run_sweep(spec, tmp_path / "ref").f)


def test_resume_retry_failed_reruns_failed_points(tmp_path, monkeypatch):
    from physnn.sweep.tasks import Toy

    out = tmp_path / "r"
    spec = _toy()
    orig = Toy.evaluate

    def flaky(self, points, replicates):
        if any(p.values["task.x"] == 1.0 for p in points):
            raise MemoryError("transient: out of memory")
        return orig(self, points, replicates)

    monkeypatch.setattr(Toy, "evaluate", flaky)
    assert run_sweep(spec, out).status.values.tolist() == [1, 1, 2, 1]
    monkeypatch.setattr(Toy, "evaluate", orig)
    assert run_sweep(spec, out, resume=True).status.values.tolist() == [1, 1, 2, 1]  # kept without the flag
    notes = []
    ds = run_sweep(spec, out, resume=True, retry_failed=True, log=notes.append)
    assert ds.status.values.tolist() == [1, 1, 1, 1] and any("1 failed point(s) again" in n for n in notes)
    con = sqlite3.connect(str(out / JOURNAL))
    n, d = con.execute("SELECT count(*), count(DISTINCT idx) FROM log").fetchone()
    retried = con.execute("SELECT error FROM retried").fetchall()
    con.close()
    assert n == d == 4 and len(retried) == 1 and "out of memory" in retried[0][0]
    xr.testing.assert_identical(ds.f, run_sweep(spec, tmp_path / "ref").f)
    proc = _cli(tmp_path / "missing.toml", "--retry-failed")
    assert proc.returncode == 2


def _spec_file(tmp_path, spec=None):
    p = tmp_path / "s.toml"
    p.write_text((spec or _toy()).to_toml())
    return p


def test_out_under_a_file_and_damaged_journal_are_one_line_errors(tmp_path):
    p = _spec_file(tmp_path)
    (tmp_path / "afile").write_text("x")
    assert "not a folder" in _one_line_error(_cli(p, "--out", tmp_path / "afile" / "r"))
    assert "not a folder" in _one_line_error(_cli(p, "--out", tmp_path / "afile"))
    out = tmp_path / "r"
    run_sweep(_toy(), out)
    (out / JOURNAL).write_bytes(b"garbage" * 100)
    assert "damaged" in _one_line_error(_cli(p, "--out", out, "--resume"))
    (out / JOURNAL).unlink()
    assert "without its journal.sqlite" in _one_line_error(_cli(p, "--out", out))


def _limit_file_size():
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))


def test_full_disk_is_a_one_line_error_and_resume_completes(tmp_path):
    """A file-size limit (RLIMIT_FSIZE, EFBIG) stands in for a full disk; the benchmark also uses a
    real full tmpfs where it may mount one."""
    spec = _toy(axes=(Axis(field="task.x", start=0.0, stop=1.0, num=60),), replicates=50)
    p = _spec_file(tmp_path, spec)
    out = tmp_path / "r"
    proc = _cli(p, "--out", out, preexec=_limit_file_size)
    err = _one_line_error(proc)
    assert "file size limit" in err or "disk" in err, err
    assert 0 < points_done(out) < 60  # stopped mid-run, the committed points kept
    ds = run_sweep(spec, out, resume=True)
    assert int(ds.attrs["points_done"]) == 60
    xr.testing.assert_identical(ds.f, run_sweep(spec, tmp_path / "ref").f)
    assert not list(out.glob(".sweep.nc.*.tmp"))


@pytest.fixture
def readonly(tmp_path):
    """Make a folder read-only: chmod for ordinary users; a read-only tmpfs for root (who
    ignores permissions), skipped where it cannot be mounted."""
    mounts = []

    def make(folder: Path) -> Path:
        if os.geteuid() != 0:
            for f in [folder, *folder.iterdir()]:
                f.chmod(0o555 if f.is_dir() else 0o444)
            return folder
        ro = folder.with_name(folder.name + "_ro")
        ro.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(ro)], capture_output=True).returncode:
            pytest.skip("cannot make a read-only folder as root here")
        mounts.append(ro)
        for f in folder.iterdir():
            shutil.copy(f, ro / f.name)
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        return ro

    yield make
    for m in mounts:
        r = subprocess.run(["umount", str(m)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    for f in tmp_path.rglob("*"):
        try:
            f.chmod(0o755)
        except OSError:
            pass


def test_finished_read_only_folder_opens_and_refuses_runs_in_one_line(tmp_path, readonly):
    out = tmp_path / "r"
    spec = _toy()
    ref = run_sweep(spec, out)
    ro = readonly(out)
    ds = open_results(ro)
    xr.testing.assert_identical(ds.f, ref.f)
    p = _spec_file(tmp_path, spec)
    err = _one_line_error(_cli(p, "--out", ro, "--resume"))
    assert "read-only" in err or "ermission" in err, err
    err = _one_line_error(_cli(p, "--out", ro / "sub"))
    assert "read-only" in err or "ermission" in err, err


def test_export_copies_a_running_sweep_consistently(tmp_path):
    out, dest = tmp_path / "r", tmp_path / "backup"
    spec = _toy(axes=(Axis(field="task.x", start=0.0, stop=1.0, num=6),))
    from physnn.sweep.run import export_results

    run_sweep(spec, out, on_commit=lambda n: n == 3 and export_results(out, dest))
    ds = open_results(dest)  # the copy as of commit 3, complete
    assert int(ds.attrs["points_done"]) == 3
    with xr.open_dataset(dest / "sweep.nc") as nc:
        assert int(nc.attrs["points_done"]) == 3
    assert int(run_sweep(spec, dest, resume=True).attrs["points_done"]) == 6
    proc = _cli("--out", out, "--export", dest)
    assert "not an empty folder" in _one_line_error(proc)


def test_a_folder_moved_with_its_card_resumes(tmp_path):
    """The card's contents, not its path, define the points: the folder and its card moved
    elsewhere resume (an edited card is refused: test above)."""
    a = tmp_path / "a"
    a.mkdir()
    shutil.copy(CARD, a / "pcm_aihwkit.toml")
    spec_a = _linear(a / "pcm_aihwkit.toml")

    def crash(n):
        if n == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec_a, a / "r", on_commit=crash)
    b = tmp_path / "b"
    shutil.move(a, b)
    ds = run_sweep(_linear(b / "pcm_aihwkit.toml"), b / "r", resume=True)
    ref = run_sweep(_linear(b / "pcm_aihwkit.toml"), tmp_path / "ref")
    xr.testing.assert_identical(ds.rel_error, ref.rel_error)
