#!/usr/bin/env bash
# One-shot, idempotent set-up on a fresh Debian machine (Python 3.11): system packages, the CPU
# build of torch, then physnn with its test extras. Safe to run again: it skips what is present.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v espeak-ng >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq espeak-ng >/dev/null
fi
PY=${PYTHON:-python3}
# torch first and pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
if ! $PY -c "import torch, torchvision" >/dev/null 2>&1; then
  $PY -m pip install -q torch==2.13.0 "torchvision==0.28.*"
fi
$PY -m pip install -q -e ".[test]"
