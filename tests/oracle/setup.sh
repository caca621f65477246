#!/usr/bin/env bash
# Installs the official x402 SDKs that paywire's tests compare against, at pinned versions: the npm packages
# (package-lock.json) into tests/oracle/node_modules, the PyPI packages (requirements.txt, every transitive
# version pinned by constraints.txt) into .tools/oracle-venv. Reinstalls when a pin changes. Prints the
# venv's python.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root/tests/oracle"

stamp() { cat "$@" | sha256sum | cut -d' ' -f1; }

npm_stamp=$(stamp package-lock.json)
if [ "$(cat node_modules/.paywire-stamp 2>/dev/null)" != "$npm_stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$npm_stamp" > node_modules/.paywire-stamp
fi

exec "$root/scripts/venv.sh" "$root/.tools/oracle-venv" requirements.txt constraints.txt
