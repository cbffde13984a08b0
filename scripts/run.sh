#!/usr/bin/env bash
# Set up and start the service on its embedded defaults: SQLite, local storage, mock
# inference. Prints an admin API key and a working curl for /v1/extract.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export HOST="${HOST:-127.0.0.1}" PORT="${PORT:-8080}"
key_id="admin-$(date -u +%Y%m%d%H%M%S)"
api_key=$(.venv/bin/ocr-orchestrator keys create --key-id "$key_id" --role admin \
  | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
base="http://${HOST}:${PORT}"
cat <<MSG

OCR Orchestrator on ${base} (mock inference, SQLite in ./var/db, artifacts in ./var/artifacts)
Admin API key (shown once, key_id ${key_id}):
  ${api_key}

Try it from another terminal:
  curl -s ${base}/v1/extract \\
    -H "Authorization: Bearer ${api_key}" -H "Content-Type: application/json" \\
    -d "{\"task_id\": \"receipt_fields_v1\", \"image_base64\": \"\$(base64 -w0 examples/receipt.png)\", \"mime_type\": \"image/png\"}"
  curl -s ${base}/v1/tasks -H "Authorization: Bearer ${api_key}"
OpenAPI UI: ${base}/schema

MSG
exec .venv/bin/ocr-orchestrator serve --host "$HOST" --port "$PORT"
