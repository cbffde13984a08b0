#!/usr/bin/env bash
# Creates .venv and installs the service with the given extras (idempotent).
# Usage: bootstrap.sh [EXTRAS]   e.g. "dev" (default) or "dev,llm"
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
EXTRAS="${1:-dev}"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${EXTRAS}]"
