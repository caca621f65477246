#!/usr/bin/env bash
# Installs the official x402 SDKs that paywire's tests compare against: npm packages into
# tests/oracle/node_modules, the PyPI package into .tools/oracle-venv. Idempotent and quiet.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root/tests/oracle"
if [ ! -d node_modules/@x402/evm ]; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
venv="$root/.tools/oracle-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import x402, jsonschema, pytest" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt
fi
echo "$venv/bin/python"
