#!/usr/bin/env bash
# Creates .tools/python-venv with what the Python suite needs (requirements.txt, every transitive version
# pinned by constraints.txt) and prints its python. The paywire package itself is installed by
# scripts/test.sh with `pip install ./python`, as a user would.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
exec "$root/scripts/venv.sh" "$root/.tools/python-venv" "$root/python/tests/requirements.txt" \
  "$root/python/tests/constraints.txt"
