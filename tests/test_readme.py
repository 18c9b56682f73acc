"""The README's code blocks run as written (issue #16: docs a new user can trust).

Every ```python block is executed in a fresh interpreter, in a scratch folder that links the
checkout's top-level folders (so repository paths resolve and outputs stay out of the tree). In ```bash
blocks, each line that calls the ``physnn`` command is run as ``python -m physnn ...`` in a
temporary directory (set-up lines — ``setup.sh``, ``pip``, ``git`` — are the CI's job, see
``.ci/run``). A block preceded by ``<!-- readme-test: skip -->`` is shown to readers only.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_BLOCK = re.compile(r"(<!-- readme-test: skip -->\s*\n)?```(python|bash)\n(.*?)```", re.S)


def _blocks() -> list[tuple[str, str, int]]:
    text = README.read_text(encoding="utf-8")
    out = []
    for m in _BLOCK.finditer(text):
        if m.group(1):
            continue
        line = text.count("\n", 0, m.start(2)) + 1
        out.append((m.group(2), m.group(3), line))
    return out


def _physnn_lines(code: str) -> list[str]:
    lines = []
    for raw in code.splitlines():
        cmd = raw.split("#", 1)[0].strip()
        if re.match(r"^physnn(\s|$)", cmd):
            lines.append(cmd)
    return lines


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    return env


PY_BLOCKS = [(code, line) for kind, code, line in _blocks() if kind == "python"]
SH_LINES = [(cmd, line) for kind, code, line in _blocks() if kind == "bash" for cmd in _physnn_lines(code)]


def test_readme_has_runnable_examples():
    assert len(PY_BLOCKS) >= 2, "README lost its Python examples"


@pytest.mark.parametrize("code, line", PY_BLOCKS, ids=[f"python@README:{ln}" for _, ln in PY_BLOCKS])
def test_python_block_runs(code, line, tmp_path):
    for top in ROOT.iterdir():
        if top.is_dir() and not top.name.startswith("."):
            (tmp_path / top.name).symlink_to(top, target_is_directory=True)
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    res = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, f"README line {line}: block failed\n{res.stderr[-3000:]}"


@pytest.mark.parametrize("cmd, line", SH_LINES, ids=[f"bash@README:{ln}" for _, ln in SH_LINES])
def test_physnn_command_runs(cmd, line, tmp_path):
    argv = shlex.split(cmd)[1:]
    # repository-relative paths in the README resolve against the checkout; outputs go to tmp_path
    argv = [str(ROOT / a) if (ROOT / a).exists() and not a.startswith("-") else a for a in argv]
    res = subprocess.run(
        [sys.executable, "-m", "physnn", *argv], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, f"README line {line}: `{cmd}` failed\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
