#!/usr/bin/env bash
# Creates .tools/python-venv with what the Python suite needs (requirements.txt, every transitive version
# pinned by constraints.txt), reinstalling when a pin changes, and prints the venv's python. The paywire
# package itself is installed by scripts/test.sh with `pip install ./python`, as a user would.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/python/tests"
venv="$root/.tools/python-venv"
stamp=$(cat "$here/requirements.txt" "$here/constraints.txt" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$venv/.paywire-stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$venv"
    else
      echo "python3 -m venv failed; install python3-venv" >&2
      exit 1
    fi
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" -c "$here/constraints.txt"
  echo "$stamp" > "$venv/.paywire-stamp"
fi
echo "$venv/bin/python"
