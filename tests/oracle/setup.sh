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

venv="$root/.tools/oracle-venv"
py_stamp=$(stamp requirements.txt constraints.txt)
if [ "$(cat "$venv/.paywire-stamp" 2>/dev/null)" != "$py_stamp" ]; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's own python3 ships venv separately.
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$venv"
    else
      echo "python3 -m venv failed; install python3-venv" >&2
      exit 1
    fi
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
  echo "$py_stamp" > "$venv/.paywire-stamp"
fi
echo "$venv/bin/python"
