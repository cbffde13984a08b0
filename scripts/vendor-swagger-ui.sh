#!/usr/bin/env bash
# Refreshes the vendored Swagger UI (ADR 0097) from the npm registry: the page at /schema loads
# only these files, so it works without internet. Usage: vendor-swagger-ui.sh VERSION
# Afterwards bump SWAGGER_UI_VERSION in entrypoints/http/explorer.py and run
# `pytest tests -k openapi_explorer`.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${1:?usage: vendor-swagger-ui.sh VERSION (see: npm view swagger-ui-dist version)}"
DEST=entrypoints/http/static/swagger-ui
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "swagger-ui-dist@${VERSION}" >/dev/null && tar xzf swagger-ui-dist-*.tgz)
rm -rf "$DEST" && mkdir -p "$DEST"
for f in swagger-ui-bundle.js swagger-ui-standalone-preset.js swagger-ui.css favicon-32x32.png \
         LICENSE NOTICE package.json; do
  cp "$WORK/package/$f" "$DEST/"
done
echo "vendored swagger-ui-dist@$(sed -n 's/.*"version": "\(.*\)".*/\1/p' "$DEST/package.json") into $DEST"
