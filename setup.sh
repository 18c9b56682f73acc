#!/usr/bin/env bash
# One-shot, idempotent set-up of physnn on a fresh machine (Debian 12 or similar, Python >= 3.10).
#
#   ./setup.sh                 # project virtualenv in ./.venv, CPU torch, physnn + test and docs extras
#
# It never installs into the system Python: everything goes into a virtualenv (./.venv, or
# $PHYSNN_VENV). It checks everything it needs *before* installing anything, so a failed check
# leaves nothing half-installed. Running it again skips what is already in place.
#
# Environment knobs (all optional):
#   PYTHON=python3.11          interpreter that creates the virtualenv (default: python3)
#   PHYSNN_VENV=DIR            where the virtualenv lives (default: .venv next to this script)
#   PHYSNN_SKIP_ESPEAK=1       set up without Debian's espeak-ng (speech datasets and their tests skip)
#   PHYSNN_KEEP_TORCH=1        accept a torch already in the virtualenv that is not the pinned CPU build
#   PHYSNN_TORCH_INDEX=URL     index for the torch wheels, e.g. https://download.pytorch.org/whl/cpu
#                              where plain `pip install torch==…` would fetch a multi-GB CUDA build
# See README.md, "Troubleshooting set-up".
set -euo pipefail
cd "$(dirname "$0")"
TORCH_PIN="torch==2.13.0"
TORCHVISION_PIN="torchvision==0.28.*"
PY=${PYTHON:-python3}
VENV=${PHYSNN_VENV:-.venv}
VPY="$VENV/bin/python"

say() { printf 'setup.sh: %s\n' "$*"; }
die() { printf 'setup.sh: error: %s\n' "$*" >&2; exit 1; }

# ---- 1. checks (nothing is installed until every check passes) ------------------------------
command -v "$PY" >/dev/null 2>&1 \
  || die "no '$PY' on PATH. Install Python 3.10+ (Debian: apt-get install python3 python3-venv) or point PYTHON at one, e.g. PYTHON=python3.11 ./setup.sh"
"$PY" - <<'EOF' || die "physnn needs Python >= 3.10; '$PY' is $("$PY" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null). Install a newer Python (e.g. via pyenv or uv python install 3.11) and run PYTHON=/path/to/python3.11 ./setup.sh"
import sys
sys.exit(0 if sys.version_info >= (3, 10) else 1)
EOF

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
fi
APT_PKGS=()
if ! command -v espeak-ng >/dev/null 2>&1 && [ "${PHYSNN_SKIP_ESPEAK:-0}" != "1" ]; then
  APT_PKGS+=(espeak-ng)
fi
if [ ! -x "$VPY" ] && ! "$PY" -c "import ensurepip, venv" >/dev/null 2>&1; then
  APT_PKGS+=("python3-venv")
fi
if [ ${#APT_PKGS[@]} -gt 0 ]; then
  if [ "$SUDO" = "none" ] || ! command -v apt-get >/dev/null 2>&1; then
    die "missing system package(s): ${APT_PKGS[*]}, and no root, passwordless sudo or apt-get to install them.
  Ask an administrator for: apt-get install ${APT_PKGS[*]}
  or, for espeak-ng only, run PHYSNN_SKIP_ESPEAK=1 ./setup.sh (speech datasets and their tests are then skipped)."
  fi
fi

if [ -x "$VPY" ] && "$VPY" -c "import torch" >/dev/null 2>&1; then
  have=$("$VPY" -c "import torch; print(torch.__version__, torch.version.cuda or 'cpu')")
  case "$have" in
    "2.13.0+cpu cpu"|"2.13.0 cpu") ;;
    *)
      [ "${PHYSNN_KEEP_TORCH:-0}" = "1" ] \
        || die "the virtualenv $VENV holds torch '$have', not the pinned CPU build $TORCH_PIN.
  Start a clean one (rm -rf $VENV, or PHYSNN_VENV=/new/path ./setup.sh), or keep yours with
  PHYSNN_KEEP_TORCH=1 ./setup.sh (physnn needs torch >= 2.1; results were measured on $TORCH_PIN CPU)." ;;
  esac
fi

# ---- 2. system packages -------------------------------------------------------------------
if [ ${#APT_PKGS[@]} -gt 0 ]; then
  S=""; [ "$SUDO" != "" ] && [ "$SUDO" != "none" ] && S="$SUDO"
  say "installing ${APT_PKGS[*]} with apt-get"
  $S apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $S apt-get install -y -qq "${APT_PKGS[@]}" >/dev/null
fi

# ---- 3. virtualenv ------------------------------------------------------------------------
if [ ! -x "$VPY" ]; then
  say "creating virtualenv $VENV with $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
  "$PY" -m venv "$VENV"
fi
PIP=("$VPY" -m pip install -q --disable-pip-version-check --prefer-binary)

# ---- 4. torch first, pinned CPU build (a bare `torch` requirement pulls a multi-GB CUDA build) --
# (presence by metadata: torchvision 0.28's C++ ops do not load against the CPU torch build, and
#  physnn never imports it -- the pin only stops aihwkit's requirements from pulling another torch)
if ! "$VPY" -c "import importlib.metadata as m, torch; m.version('torchvision')" >/dev/null 2>&1; then
  say "installing $TORCH_PIN (CPU) and $TORCHVISION_PIN"
  IDX=(); [ -n "${PHYSNN_TORCH_INDEX:-}" ] && IDX=(--index-url "$PHYSNN_TORCH_INDEX")
  "${PIP[@]}" "${IDX[@]}" --only-binary=:all: "$TORCH_PIN" "$TORCHVISION_PIN"
fi

# ---- 5. physnn and its test and docs extras, from binary wheels, pinned by constraints.txt --
# --only-binary for the packages whose source builds are slow or broken here (aihwkit's CMake
# build fails; numba/llvmlite/scipy/netCDF4 would compile for minutes): a missing wheel fails
# at once and names the package instead of compiling for half an hour.
if ! "$VPY" -c "import physnn, pytest, aihwkit, sphinx, numpydoc" >/dev/null 2>&1 \
   || [ pyproject.toml -nt "$VENV/.physnn-installed" ] || [ constraints.txt -nt "$VENV/.physnn-installed" ]; then
  say "installing physnn (editable) with its test and docs extras"
  # constraints.txt pins what RESULTS.md was measured with, on CPython 3.11; other Pythons resolve
  # within pyproject.toml's bounds.
  CONS=(); "$VPY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' && CONS=(-c constraints.txt)
  "${PIP[@]}" "${CONS[@]}" \
    --only-binary=aihwkit,torch,torchvision,numba,llvmlite,numpy,scipy,netCDF4,h5py,scikit-learn,matplotlib \
    -e ".[test,docs]"
  touch "$VENV/.physnn-installed"
fi
"$VPY" -c "import torch; assert torch.version.cuda is None, 'CUDA build of torch'" 2>/dev/null \
  || say "note: the torch in $VENV is a CUDA build; physnn runs on it, but it is several GB larger than needed"
say "done. Run the demo with $VENV/bin/physnn demo, the tests with $VENV/bin/python -m pytest -q -n 2"
