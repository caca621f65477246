#!/usr/bin/env bash
# Runs every ```sh block of README.md, in order, in one shell with the freshly built CLI on PATH, so the
# examples are known to run as written. (The set-up commands at the top are ```bash blocks and are not run
# here: they are what runs this.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p paywire-cli
script=$(python3 - <<'PY'
import re, pathlib
text = pathlib.Path("README.md").read_text()
blocks = re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)
print("\n".join(f"echo '--- README example {i + 1}'\n{b}" for i, b in enumerate(blocks)))
PY
)
[ -n "$script" ] || { echo "README.md has no sh examples" >&2; exit 1; }
PATH="$PWD/target/debug:$PATH" bash -euo pipefail -c "$script"
echo "README examples: all ran"
