#!/usr/bin/env bash
# Runs every ```sh block of README.md, in order, in one shell with the freshly built CLI on PATH (as the
# README tells readers to put it there), so the examples are known to run as written. A command that ends
# in `# exit N` must exit with N; every other command must succeed. The set-up commands at the top are
# ```bash blocks and are not run here: they are what runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --quiet -p paywire-cli
script=$(python3 - <<'PY'
import re, pathlib, shlex
text = pathlib.Path("README.md").read_text(encoding="utf-8")
blocks = re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)
out = []
for i, block in enumerate(blocks, 1):
    out.append(f"echo '--- README example {i}'")
    for command in re.sub(r"\\\n\s*", " ", block).splitlines():
        m = re.match(r"^(.*\S)\s+# exit (\d+)$", command)
        if m:
            cmd, code = m.groups()
            out.append(f"set +e; {cmd}; rc=$?; set -e; "
                       f"[ $rc -eq {code} ] || {{ echo 'README: expected exit {code}, got '$rc' from: '{shlex.quote(cmd)} >&2; exit 1; }}")
        elif command.strip():
            out.append(command)
print("\n".join(out))
PY
)
[ -n "$script" ] || { echo "README.md has no sh examples" >&2; exit 1; }
PATH="${CARGO_TARGET_DIR:-$PWD/target}/debug:$PATH" bash -euo pipefail -c "$script"
echo "README examples: all ran as written"
