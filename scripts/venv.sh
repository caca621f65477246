#!/usr/bin/env bash
# Usage: scripts/venv.sh VENV REQUIREMENTS CONSTRAINTS
# Makes VENV hold exactly REQUIREMENTS (every transitive version pinned by CONSTRAINTS), rebuilding it when
# either file changes, and prints the venv's python.
set -euo pipefail
venv=$1 requirements=$2 constraints=$3
stamp=$(cat "$requirements" "$constraints" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$venv/.paywire-stamp" 2>/dev/null)" != "$stamp" ]; then
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
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" -c "$constraints"
  echo "$stamp" > "$venv/.paywire-stamp"
fi
echo "$venv/bin/python"
