#!/usr/bin/env bash
# All of paywire's tests, from a fresh clone: Rust (both secp256k1 backends), the README examples, the vectors
# regenerated from the official SDKs, the differential suite against them, the Python, Node and Kotlin
# packages, the demo and the on-chain suite (anvil, Circle's USDC, paywire's facilitator, every client against
# every server, faults, interop with the official SDKs), and a fuzz run of every target. Installs what it needs (the official SDKs into tests/oracle and .tools/, cargo-fuzz).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
section() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
started=$(date +%s)
target_dir=${CARGO_TARGET_DIR:-$PWD/target}

section "Rust: format, lints"
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets --quiet -- -D warnings
cargo clippy --locked -p paywire-core --no-default-features --all-targets --quiet -- -D warnings

section "Rust: tests with the libsecp256k1 backend (default)"
cargo test --locked --workspace --quiet
section "Rust: tests with the pure-Rust k256 backend"
cargo test --locked -p paywire-core --no-default-features --quiet
section "Rust: benchmarks and examples build, the example runs"
cargo check --locked -p paywire-core --benches --examples --quiet
cargo run --locked --quiet -p paywire-core --example pay_and_verify
test -s docs/benchmarks.md || { echo "docs/benchmarks.md is missing" >&2; exit 1; }

section "README examples"
./scripts/check-readme.sh

section "Official SDKs: install, regenerate the vectors, compare"
py=$(tests/oracle/setup.sh)
"$py" tests/oracle/generate.py --check

section "Differential tests against the official TypeScript and Python SDKs"
PAYWIRE_BIN="$target_dir/debug/paywire" "$py" -m pytest -q tests/differential

section "Python: the package (pip install ./python), its types, its tests"
py_tests=$(python/tests/setup.sh)
# As a user installs it: pip builds the wheel with maturin (pyproject.toml) and cargo (Cargo.lock).
"$py_tests" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./python
"$py_tests" -m mypy --strict python/python/paywire python/examples
(cd /tmp && "$py_tests" -m mypy.stubtest paywire._paywire)
"$py_tests" -m pytest -q python/tests
section "Python: the benchmark against the official SDK runs (a smoke run; figures in docs/benchmarks.md)"
"$py_tests" python/bench/compare_official.py --quick

section "Node: build the package (napi-rs), pack it, install the tarball, its types and tests"
# As a user gets it: npm pack's tarball, installed next to the official SDKs the tests compare with.
# npm ci refuses this lock file (npm records @napi-rs/cli's optional per-platform packages without versions),
# so install from it without rewriting it.
(cd node && npm install --no-save --no-audit --no-fund --loglevel=error && npm run --silent build >/dev/null)
# The loader and its types are generated; the committed ones must be what the build makes.
git diff --exit-code -- node/native.js node/native.d.ts \
  || { echo "node/native.js or node/native.d.ts differ from the build's: commit the regenerated files" >&2; exit 1; }
rm -rf node/dist && mkdir node/dist && (cd node && npm pack --silent --pack-destination dist >/dev/null)
(cd node/test && npm ci --no-audit --no-fund --loglevel=error && npm install --no-save --no-audit --no-fund --loglevel=error ../dist/paywire-*.tgz)
(cd node/test && node --test --test-reporter=spec)
section "Node: the benchmark against the official SDK runs (a smoke run; figures in docs/benchmarks.md)"
(cd node/test && node ../bench/compare_official.mjs --quick)

section "Kotlin and Swift (uniffi): regenerate the bindings and compare, then the Kotlin tests"
cargo build --locked --quiet -p paywire-ffi
generated=$(mktemp -d)
scripts/generate-bindings.sh "$target_dir/debug/libpaywire_ffi.so" "$generated"
diff -r "$generated/kotlin/dev/paywire/ffi" kotlin/src/main/kotlin/dev/paywire/ffi ||
  { echo "the committed Kotlin bindings differ from a fresh generation: run scripts/generate-bindings.sh" >&2; exit 1; }
for d in PaywireFFI paywire_ffiFFI; do
  diff -r "$generated/swift/Sources/$d" "swift/Sources/$d" ||
    { echo "the committed Swift bindings differ from a fresh generation: run scripts/generate-bindings.sh" >&2; exit 1; }
done
rm -rf "$generated"
(cd kotlin && mvn -q -B test -Dpaywire.native.dir="$target_dir/debug")
python3 - kotlin/target/surefire-reports <<'PY'
import pathlib, re, sys
runs = [re.search(r'tests="(\d+)".*?failures="(\d+)"', p.read_text()) for p in pathlib.Path(sys.argv[1]).glob("TEST-*.xml")]
print(f"Kotlin (mvn -q test): {sum(int(m[1]) for m in runs)} tests, {sum(int(m[2]) for m in runs)} failures")
PY
(cd kotlin && mvn -q -B dependency:build-classpath -Dmdep.outputFile=target/classpath.txt -Dmdep.includeScope=runtime)

if command -v swift >/dev/null 2>&1 && swift --version 2>/dev/null | grep -qi "swift version"; then
  # The debug library is the one just checked; the package links it from PAYWIRE_LIB_DIR.
  lib_ext=so; [ "$(uname)" = Darwin ] && lib_ext=dylib
  [ -f "$target_dir/debug/libpaywire_ffi.$lib_ext" ] || { echo "no libpaywire_ffi.$lib_ext" >&2; exit 1; }
  PAYWIRE_LIB_DIR="$target_dir/debug" swift test --package-path swift
  echo "Swift: swift test passed"
else
  echo "Swift: tests NOT RUN (no Swift toolchain on this machine); the generated bindings were checked above"
fi

section "On chain: the demo (the README's first command), then every client against every server, faults, interop"
# anvil and Circle's USDC from npm, paywire's facilitator; the Python, Node and Kotlin packages built above.
eval "$(scripts/install-chain.sh)"
cargo build --locked --quiet -p paywire-facilitator -p paywire-cli
PAYWIRE_DEMO_PREBUILT=1 ./scripts/demo.sh > /tmp/paywire-demo.log 2>&1 || { cat /tmp/paywire-demo.log; exit 1; }
grep -E '^(agent|payee) |^[0-9]+ paid requests' /tmp/paywire-demo.log | sed 's/\x1b\[[0-9;]*m//g'
PAYWIRE_FACILITATOR_BIN="$target_dir/debug/paywire-facilitator" PAYWIRE_BIN="$target_dir/debug/paywire" \
  PAYWIRE_NODE_DIR="$PWD/node" PAYWIRE_NODE_TEST_DIR="$PWD/node/test" PAYWIRE_NATIVE_DIR="$target_dir/debug" \
  PAYWIRE_KOTLIN_CLASSPATH="$PWD/kotlin/target/classes:$PWD/kotlin/target/test-classes:$(cat kotlin/target/classpath.txt)" \
  "$py_tests" -m pytest -q -p no:cacheprovider tests/e2e

section "Fuzz: every target for ${PAYWIRE_FUZZ_SECONDS:=20} s"
# cargo fuzz needs unstable compiler flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them, so no
# nightly toolchain is needed. libFuzzer itself is C++.
if ! command -v c++ >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then apt-get install -y -qq g++ >/dev/null; fi
fi
command -v c++ >/dev/null 2>&1 || { echo "no C++ compiler (libFuzzer needs one): install g++" >&2; exit 1; }
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz 0.13.2" ]; then
  cargo install cargo-fuzz --version 0.13.2 --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
python3 fuzz/seed_corpus.py fuzz/corpus >/dev/null
(cd fuzz && cargo fuzz build -O >/tmp/paywire-fuzz-build.log 2>&1) || { tail -40 /tmp/paywire-fuzz-build.log; exit 1; }
for target in $(cd fuzz && cargo fuzz list); do
  out=$(cd fuzz && cargo fuzz run -O "$target" "corpus/$target" -- \
    -max_total_time="$PAYWIRE_FUZZ_SECONDS" -rss_limit_mb=2048 2>&1) \
    || { echo "$out" | grep -E -A3 'panicked|ERROR|SUMMARY|Reproduce with' | cut -c1-300; echo "fuzz target $target failed" >&2; exit 1; }
  echo "$target: $(echo "$out" | grep -Eo 'Done [0-9]+ runs' | tail -1)"
done
unset RUSTC_BOOTSTRAP

section "All tests passed in $(( $(date +%s) - started )) s"
