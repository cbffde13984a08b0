#!/usr/bin/env bash
# Set up and start the service on its embedded defaults: SQLite, local storage, mock
# inference, DEBUG_MODE=1 and DATA_ROOT=examples/data (unless set in the environment or .env).
# Prints the admin API key and a working curl for /v1/extract.
#
# Usage: bash scripts/run.sh [--new-key] [--no-serve]
#   --new-key   create another admin key and store it (the previous one stays valid until
#               `.venv/bin/ocr-orchestrator keys revoke --key-id <id>`)
#   --no-serve  set up and print, then exit instead of serving (used by the tests)
#
# .venv is (re)installed only when pyproject.toml (or the client's, or bootstrap.sh) changed
# since the last install, so a restart works without a package index. The admin key is made
# once and kept in var/secrets/admin-api-key (mode 600); later starts print it again.
set -euo pipefail
cd "$(dirname "$0")/.."

new_key=0 serve=1
for arg in "$@"; do
  case "$arg" in
    --new-key) new_key=1 ;;
    --no-serve) serve=0 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

PYTHON="${PYTHON:-python3}"
stamp=.venv/.installed-from
wanted=$("$PYTHON" - <<'PY'
import hashlib, pathlib
digest = hashlib.sha256()
for name in ("pyproject.toml", "ocr_client/pyproject.toml", "scripts/bootstrap.sh"):
    path = pathlib.Path(name)
    digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"") + b"\0")
print(digest.hexdigest())
PY
)
if [ -x .venv/bin/ocr-orchestrator ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
  echo "run.sh: .venv matches pyproject.toml, nothing to install"
else
  echo "run.sh: installing into .venv (pyproject.toml changed since the last install, or no .venv yet)"
  bash scripts/bootstrap.sh
  echo "$wanted" > "$stamp"
fi

# The local defaults apply only when neither the environment nor .env sets the variable.
from_dotenv() { grep -s "^$1=." .env | tail -n 1 | cut -d= -f2- || true; }
for pair in DEBUG_MODE=1 DATA_ROOT=examples/data; do
  name=${pair%%=*}
  if [ -z "${!name:-}" ] && [ -z "$(from_dotenv "$name")" ]; then export "$pair"; fi
done
debug_mode="${DEBUG_MODE:-$(from_dotenv DEBUG_MODE)}"
data_root="${DATA_ROOT:-$(from_dotenv DATA_ROOT)}"
export HOST="${HOST:-127.0.0.1}" PORT="${PORT:-8080}"

key_file=var/secrets/admin-api-key
id_file=var/secrets/admin-api-key-id
active_key_id() {  # the stored key id when the key store still has it active
  [ -s "$key_file" ] && [ -s "$id_file" ] || return 1
  .venv/bin/ocr-orchestrator keys list 2>/dev/null | .venv/bin/python -c '
import json, sys
wanted = sys.argv[1]
rows = [json.loads(line) for line in sys.stdin if line.strip()]
sys.exit(0 if any(r.get("key_id") == wanted and r.get("is_active") for r in rows) else 1)' "$(cat "$id_file")"
}
if [ "$new_key" = 1 ] || ! active_key_id; then
  previous=$(cat "$id_file" 2>/dev/null || true)
  key_id="admin-$(date -u +%Y%m%d%H%M%S)"
  api_key=$(.venv/bin/ocr-orchestrator keys create --key-id "$key_id" --role admin \
    | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
  mkdir -p var/secrets
  (umask 077 && printf '%s\n' "$api_key" > "$key_file" && printf '%s\n' "$key_id" > "$id_file")
  chmod 600 "$key_file" "$id_file"
  key_note="new admin key ${key_id}, stored in ${key_file} (mode 600)"
  if [ -n "$previous" ] && [ "$previous" != "$key_id" ]; then
    key_note="${key_note}; ${previous} stays valid until: .venv/bin/ocr-orchestrator keys revoke --key-id ${previous}"
  fi
else
  key_id=$(cat "$id_file")
  api_key=$(cat "$key_file")
  key_note="admin key ${key_id} from ${key_file} (bash scripts/run.sh --new-key makes another)"
fi

base="http://${HOST}:${PORT}"
debug_note="DEBUG_MODE=${debug_mode:-0}"
if [ "${debug_mode:-0}" = 1 ]; then
  debug_note="${debug_note}: debug routes /v1/debug/* and debug overrides are on (local use; DEBUG_MODE=0 turns them off)"
fi
cat <<MSG

OCR Orchestrator on ${base} (mock inference, SQLite in ./var/db, artifacts in ./var/artifacts)
${debug_note}
DATA_ROOT=${data_root:-./var/data} (folder batches read only under it)
Admin API key (${key_note}):
  ${api_key}

Try it from another terminal:
  export KEY=\$(cat ${key_file})
  curl -s ${base}/v1/extract \\
    -H "Authorization: Bearer \$KEY" -H "Content-Type: application/json" \\
    -d "{\"task_id\": \"receipt_fields_v1\", \"image_base64\": \"\$(base64 -w0 examples/receipt.png)\", \"mime_type\": \"image/png\"}"
  curl -s ${base}/v1/tasks -H "Authorization: Bearer \$KEY"
OpenAPI UI: ${base}/schema

MSG
if [ "$serve" = 0 ]; then
  exit 0
fi
exec .venv/bin/ocr-orchestrator serve --host "$HOST" --port "$PORT"
