#!/usr/bin/env bash
# Set-up: a virtual environment in .venv holding the CPU build of torch and socius with its
# development extras. Safe to run again. `--if-needed` (what scripts/test.sh and
# scripts/league.sh call) does nothing when .venv was set up from this very pyproject.toml and
# this script; otherwise (a fresh clone, new dependencies) it sets up.
set -euo pipefail
cd "$(dirname "$0")/.."
STAMP=.venv/.socius-setup
wanted=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "${1:-}" = "--if-needed" ] && [ -x .venv/bin/socius ] && [ -f "$STAMP" ] \
    && [ "$(cat "$STAMP")" = "$wanted" ]; then
  exit 0
fi
PYTHON=${PYTHON:-python3}
# CPU torch goes in first: left to the resolver, an unpinned torch pulls a CUDA build of several GB.
# On other machines set TORCH_SPEC (and PIP_INDEX_URL, e.g. PyTorch's CPU wheel index) as needed.
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "socius needs Python 3.11+"'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet "$TORCH_SPEC"
.venv/bin/python -m pip install --quiet -e ".[dev]"
# Debian's chromium: the dashboard test opens the page in it (skipped where it is missing).
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
    && [ -z "${SOCIUS_NO_CHROMIUM:-}" ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
    >/dev/null || echo "setup: could not install chromium; the dashboard test will skip" >&2
fi
.venv/bin/python -c 'import torch, socius; print(f"socius {socius.__version__}, torch {torch.__version__}: ready")'
echo "$wanted" > "$STAMP"
