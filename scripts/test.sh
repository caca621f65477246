#!/usr/bin/env bash
# All of paywire's tests, from a fresh clone: one make target per suite (see the Makefile), in order. Rust
# (both secp256k1 backends), the README examples, the vectors regenerated from the official SDKs, the
# differential suite against them, the Python, Node and Kotlin packages (with their linters), Swift where it
# exists, the firmware for microcontrollers (run under QEMU by the on-chain suite), the demo and the on-chain suite (anvil, Circle's USDC, paywire's facilitator, every client against
# every server, faults, interop with the official SDKs), and a fuzz run of every target. Installs what it
# needs (the official SDKs into tests/oracle and .tools/, cargo-fuzz). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
# One build from scratch reuses no incremental state; without it target/ is 2.5 GB smaller.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

run() {
  local target=$1 title=$2 t0
  t0=$(date +%s)
  printf '\n\033[1m== %s (make %s)\033[0m\n' "$title" "$target"
  make --no-print-directory "$target"
  printf '   (%s s)\n' "$(( $(date +%s) - t0 ))"
}

run rust "Rust: format, lints, tests on both secp256k1 backends, benchmarks and examples build"
run readme "README examples"
run vectors "Official SDKs: install, regenerate the vectors, compare"
run differential "Differential tests against the official TypeScript and Python SDKs"
run python "Python: the package (pip install ./python), ruff, its types, its tests"
run node "Node: build the package (napi-rs), pack it, install the tarball, biome, its types and tests"
run kotlin "Kotlin and Swift (uniffi): regenerate the bindings and compare, then the Kotlin tests"
run swift "Swift"
run devices "Devices: the Cortex-M4F firmware (Rust and C API) built, the C header checked, RISC-V checked"
run e2e "On chain: the demo (the README's first command), then every client against every server, faults, interop"
run fuzz "Fuzz: every target for ${PAYWIRE_FUZZ_SECONDS:-15} s"

printf '\n\033[1m== All tests passed in %s s\033[0m\n' "$(( $(date +%s) - started ))"
