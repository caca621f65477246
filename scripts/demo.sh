#!/usr/bin/env bash
# paywire's main job on this machine: a local chain with Circle's USDC, paywire's facilitator, a paid API in
# Python (paywire's ASGI middleware) and an agent in Node (paywire's fetch) making paid requests that move
# tokens on chain. Installs what it needs first (anvil and the USDC artifacts from npm, the Python and Node
# packages built from this checkout); scripts/demo.py lists the environment variables that point it at
# another chain and facilitator. Exits 0 only if every payment settled on chain, and leaves no process behind.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
target_dir=${CARGO_TARGET_DIR:-$PWD/target}

say "Installing: anvil and Circle's USDC artifacts, the facilitator, the Python and Node packages"
eval "$(scripts/install-chain.sh)"
if [ "${PAYWIRE_DEMO_REPLICAS:-1}" -gt 1 ]; then eval "$(scripts/install-redis.sh)"; fi
cargo build --locked --quiet -p paywire-facilitator
py=$(python/tests/setup.sh)
# scripts/test.sh builds the packages just before running this and sets PAYWIRE_DEMO_PREBUILT=1.
if [ -z "${PAYWIRE_DEMO_PREBUILT:-}" ]; then
  "$py" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./python
  (cd node && npm install --no-save --no-audit --no-fund --loglevel=error && npm run --silent build >/dev/null)
fi
PAYWIRE_FACILITATOR_BIN="$target_dir/debug/paywire-facilitator" exec "$py" scripts/demo.py
