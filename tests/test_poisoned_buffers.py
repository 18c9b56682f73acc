"""The compiled fast paths never read memory they did not write (issue 21).

Each fast path (crossbar read, ``add_counter_normal``, LSTM loop, ESN kernel, Josephson kernels)
runs against its plain reference in poison mode (``PHYSNN_POISON_BUFFERS``: every buffer a fast
path allocates holds a poison before use, :mod:`physnn.buffers`), with 1 and 2 threads, float32
and float64: each case alone in a fresh process (poison -1e30), and all cases in one process in
two call orders (kernels compiled and specs prepared by earlier calls; poison NaN and -1e30).
The finite poison matters: the issue-21 kernel (float64, 2 threads, AMD Zen 4/5) tested NaN
before using the value it read, and with NaN in the stale buffer took a branch that reloaded the
right one; with -1e30 its read was off by 17,196 (measured with the old kernel restored).
CI also runs the whole suite with NaN poison (``.ci/run``). The cases are
``tests/fastpath_cases.py``. Also: the mode itself poisons, and a kernel reading an unwritten
buffer is caught by it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "fastpath_cases.py"
CASES = [
    "read:float32",
    "read:float64",
    "sliced:float32",
    "sliced:float64",
    "conv:float32",
    "conv:float64",
    "noise:float32",
    "noise:float64",
    "lstm:float32",
    "lstm:float64",
    "esn:float32",
    "esn:float64",
    "josephson:float64",
]


FINITE = "-1e30"  # the issue-21 kernel was NaN-aware: NaN took a branch that hid the stale read


def _run(cases, threads, poison=FINITE):
    env = dict(os.environ, PHYSNN_POISON_BUFFERS=poison)
    p = subprocess.run(
        [sys.executable, str(SCRIPT), "--threads", str(threads), "--cases", ",".join(cases)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert p.returncode == 0, f"{cases} on {threads} threads:\n{p.stdout}\n{p.stderr[-3000:]}"
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res["poison"] is (poison != "0") and res["threads"] == threads
    return res


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CASES)
def test_fast_path_equals_reference_in_a_fresh_poisoned_process(case, threads):
    _run([case], threads)


@pytest.mark.slow
@pytest.mark.parametrize("poison", ["nan", FINITE])
@pytest.mark.parametrize("threads", [1, 2])
def test_fast_paths_equal_references_in_a_reused_poisoned_process(threads, poison):
    # forward, then backward: every case once after all the others have compiled and run
    _run(CASES + CASES[::-1], threads, poison)


def _poisoned_python(code, poison="1", **env_extra):
    """stdout of ``python -c code`` in a fresh process with ``PHYSNN_POISON_BUFFERS=poison``."""
    env = dict(os.environ, PHYSNN_POISON_BUFFERS=poison, **env_extra)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=True
    ).stdout.strip()


def test_poison_mode_fills_every_kind_of_buffer():
    code = (
        "import numpy as np, numba, torch\n"
        "from physnn.buffers import POISON, empty, empty_torch, scratch\n"
        "@numba.njit\n"
        "def k(n):\n"
        "    return scratch(n, np.float32)[0], scratch((2, n), np.float64)[1, 1], scratch(n, np.uint32)[0], "
        "scratch(n, np.int64)[n - 1], scratch(n, np.bool_)[0]\n"
        "print(POISON, *k(3), empty(4, np.float64)[3], empty(2, np.int32)[1], empty_torch((2,), torch.float32)[1].item(), "
        "empty_torch((2,), torch.int64)[0].item())\n"
    )
    out = _poisoned_python(code).split()
    assert out == [
        "True",
        "nan",
        "nan",
        str(2**32 - 1),
        str(2**63 - 1),
        "True",
        "nan",
        str(2**31 - 1),
        "nan",
        str(2**63 - 1),
    ]


def test_poison_catches_a_kernel_that_reads_what_it_did_not_write():
    # a pass that forgets the last element of its output: with plain np.empty it may or may not
    # look right (whatever the allocator hands out); poisoned, that element is NaN every time
    code = (
        "import numpy as np, numba\n"
        "from physnn.buffers import scratch\n"
        "@numba.njit\n"
        "def twice(x):\n"
        "    out = scratch(x.shape[0], np.float64)\n"
        "    for i in range(x.shape[0] - 1):\n"
        "        out[i] = 2.0 * x[i]\n"
        "    return out\n"
        "print(repr(float(twice(np.ones(5))[-1])))\n"
    )
    assert _poisoned_python(code) == "nan"


def test_poisoned_builds_use_their_own_numba_cache(tmp_path):
    code = "import physnn.buffers, numba; print(numba.config.CACHE_DIR)"
    assert Path(_poisoned_python(code, NUMBA_CACHE_DIR=str(tmp_path))) == tmp_path / "physnn-poison-nan"
    # another poison value, another cache
    assert Path(_poisoned_python(code, "-1e30", NUMBA_CACHE_DIR=str(tmp_path))) == tmp_path / "physnn-poison--1e30"
    # a child of a poisoned process inherits its cache folder: mapped back to the folder it was
    # made from, then to the child's own poison value, or to the user's folder without poison
    inherited = str(tmp_path / "physnn-poison-nan")
    assert Path(_poisoned_python(code, "-1e30", NUMBA_CACHE_DIR=inherited)) == tmp_path / "physnn-poison--1e30"
    assert Path(_poisoned_python(code, "0", NUMBA_CACHE_DIR=inherited)) == tmp_path
