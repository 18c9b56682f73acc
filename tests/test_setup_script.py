"""setup.sh refuses what it cannot set up, says what to do, and installs nothing before its checks pass.

The interpreters here are stand-ins (small shell scripts), so no package is installed by these tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="setup.sh needs bash")


def _fake(path: Path, body: str) -> Path:
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)
    return path


def _run(env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHYSNN_")}
    env.update(env_extra)
    return subprocess.run(["bash", str(ROOT / "setup.sh")], env=env, capture_output=True, text=True, timeout=120)


def test_old_python_is_refused_before_anything_is_installed(tmp_path):
    py = _fake(
        tmp_path / "python3.9",
        """
if [ "$1" = "-" ]; then cat >/dev/null; exit 1; fi          # the version check script: "too old"
if [ "$1" = "-c" ]; then echo "3.9.18"; exit 0; fi
exit 3
""",
    )
    venv = tmp_path / "venv"
    res = _run({"PYTHON": str(py), "PHYSNN_VENV": str(venv)})
    assert res.returncode != 0
    assert "needs Python >= 3.10" in res.stderr and "3.9.18" in res.stderr
    assert "PYTHON=" in res.stderr  # says what to do
    assert not venv.exists()  # nothing half-installed


def test_missing_interpreter_is_named(tmp_path):
    res = _run({"PYTHON": "no-such-python-3.11", "PHYSNN_VENV": str(tmp_path / "venv")})
    assert res.returncode != 0
    assert "no 'no-such-python-3.11' on PATH" in res.stderr


def test_cuda_torch_in_the_venv_is_refused_with_a_way_out(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    _fake(
        venv / "bin" / "python",
        """
if [ "$1" = "-c" ]; then
  case "$2" in
    *"print(torch.__version__"*) echo "2.14.1+cu128 12.8"; exit 0;;
    *"import torch"*) exit 0;;
  esac
fi
echo "unexpected call: $*" >&2; exit 7
""",
    )
    before = sorted(p.name for p in (venv / "bin").iterdir())
    res = _run({"PHYSNN_VENV": str(venv), "PHYSNN_SKIP_ESPEAK": "1"})
    assert res.returncode != 0
    assert "torch '2.14.1+cu128 12.8', not the pinned CPU build torch==2.13.0" in res.stderr
    assert "PHYSNN_KEEP_TORCH=1" in res.stderr and "rm -rf" in res.stderr
    assert "unexpected call" not in res.stderr  # no pip run was attempted
    assert sorted(p.name for p in (venv / "bin").iterdir()) == before
