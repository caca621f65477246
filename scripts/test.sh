#!/usr/bin/env bash
# All of paywire's tests, from a fresh clone: Rust (both secp256k1 backends), the demo, the README examples,
# the vectors regenerated from the official SDKs, the differential suite against them, and a fuzz smoke run.
# Installs what it needs (the official SDKs into tests/oracle and .tools/, cargo-fuzz). Exits non-zero on
# any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
section() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
started=$(date +%s)

section "Rust: format, lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy -p paywire-core --no-default-features --all-targets --quiet -- -D warnings

section "Rust: tests with the libsecp256k1 backend (default)"
cargo test --workspace --quiet
section "Rust: tests with the pure-Rust k256 backend"
cargo test -p paywire-core --no-default-features --quiet
section "Rust: benchmarks and examples build"
cargo check -p paywire-core --benches --examples --quiet
cargo run --quiet -p paywire-core --example pay_and_verify

section "Demo (the README's first command)"
./scripts/demo.sh >/dev/null
echo "demo: ok"

section "README examples"
./scripts/check-readme.sh

section "Official SDKs: install, regenerate the vectors, compare"
py=$(tests/oracle/setup.sh)
"$py" tests/oracle/generate.py --check

section "Differential tests against the official TypeScript and Python SDKs"
PAYWIRE_BIN="$PWD/target/debug/paywire" "$py" -m pytest -q tests/differential

section "Fuzz smoke (cargo fuzz, ${PAYWIRE_FUZZ_SECONDS:=20} s per target)"
if cargo +nightly --version >/dev/null 2>&1; then
  command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet
  python3 fuzz/seed_corpus.py fuzz/corpus
  (cd fuzz && cargo +nightly fuzz build -O >/dev/null 2>&1)
  for target in $(cd fuzz && cargo +nightly fuzz list); do
    out=$(cd fuzz && cargo +nightly fuzz run -O "$target" "corpus/$target" -- \
      -max_total_time="$PAYWIRE_FUZZ_SECONDS" -rss_limit_mb=2048 2>&1) || { echo "$out" | tail -40; echo "fuzz target $target failed" >&2; exit 1; }
    echo "$target: $(echo "$out" | grep -Eo 'Done [0-9]+ runs' | tail -1)"
  done
else
  echo "NOT RUN: no nightly Rust toolchain here (cargo fuzz needs one); the property tests above cover the decoders"
fi

section "All tests passed in $(( $(date +%s) - started )) s"
