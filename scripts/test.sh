#!/usr/bin/env bash
# Set up and run the whole test suite: lint, import contracts, then pytest.
# Needs the local PostgreSQL and Redis (see README); REQUIRE_SERVICES=1 turns a missing
# service into a failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev,llm   # llm: llama.cpp for the site-analysis end-to-end test
.venv/bin/ruff check domain application adapters entrypoints tests
.venv/bin/lint-imports
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
