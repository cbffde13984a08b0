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
# ./ocr_client is the Python client's own distribution (ADR 0096); the dev extra names it, so
# it is installed from its path in the same command (pip never looks it up in an index).
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ./ocr_client -e ".[${EXTRAS}]"
