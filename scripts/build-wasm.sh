#!/usr/bin/env bash
# Builds paywire's WebAssembly package: the core and its wasm binding (bindings/wasm) for
# wasm32-unknown-unknown with the size-first `wasm` profile, JS bindings by wasm-bindgen-cli (pinned to the
# wasm-bindgen crate's version, installed into .tools/), and the npm package's two bundles (esbuild, see
# node/build/wasm.mjs): node/wasm/paywire.mjs with the wasm inlined, node/wasm/paywire.worker.mjs beside
# node/wasm/paywire_wasm_bg.wasm. Prints the sizes. Run `npm install` in
# node/ first (esbuild is a dev dependency).
set -euo pipefail
cd "$(dirname "$0")/.."
WASM_BINDGEN_VERSION=0.2.130
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
rustup target add wasm32-unknown-unknown >&2
if ! [ -x .tools/wasm-bindgen/bin/wasm-bindgen ] ||
   [ "$(.tools/wasm-bindgen/bin/wasm-bindgen --version)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  # Not --locked: the CLI's own lock names a webpki-roots release the registry no longer serves.
  cargo install --quiet --root .tools/wasm-bindgen --version "$WASM_BINDGEN_VERSION" wasm-bindgen-cli >&2
fi
cargo clippy --locked --quiet -p paywire-wasm --target wasm32-unknown-unknown -- -D warnings
cargo build --locked --quiet --profile wasm -p paywire-wasm --target wasm32-unknown-unknown
.tools/wasm-bindgen/bin/wasm-bindgen --target web --remove-name-section --remove-producers-section \
  --out-dir node/wasm/pkg --out-name paywire_wasm "$target_dir/wasm32-unknown-unknown/wasm/paywire_wasm.wasm"
node node/build/wasm.mjs
for f in node/wasm/paywire.mjs node/wasm/paywire.worker.mjs node/wasm/paywire_wasm_bg.wasm; do
  echo "$f: $(wc -c < "$f") bytes ($(gzip -9 -c "$f" | wc -c) gzipped)"
done
