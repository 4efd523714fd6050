#!/usr/bin/env bash
# A league: sets up .venv first when it is missing (scripts/setup.sh --if-needed), then runs
# `socius league run` with the arguments given (none: the default league, about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --if-needed
exec .venv/bin/socius league run "$@"
