#!/usr/bin/env bash
# The whole test suite. First one pytest invocation for everything that shares a local Ray
# session; then the multi-node tests in an invocation of their own, since they start and stop a
# two-node Ray cluster. Arguments go to both (e.g. -m "not slow"). Sets up .venv first when it
# is missing or older than pyproject.toml (scripts/setup.sh --if-needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --if-needed
.venv/bin/python -m pytest "$@"
status=0
.venv/bin/python -m pytest --cluster tests/cluster "$@" || status=$?
[ "$status" -eq 5 ] && status=0  # 5: nothing selected (e.g. -m "not slow")
exit "$status"
