#!/usr/bin/env bash
# Generates the Kotlin and Swift bindings from the paywire-ffi library with the workspace's own
# uniffi-bindgen (same uniffi version as the runtime), into kotlin/ and swift/ or into OUT_DIR.
#
#     scripts/generate-bindings.sh [LIBRARY] [OUT_DIR]
#
# LIBRARY defaults to target/debug/libpaywire_ffi.so (built by `cargo build -p paywire-ffi`). With OUT_DIR,
# files go to OUT_DIR/kotlin and OUT_DIR/swift instead (CI compares them with the committed ones).
set -euo pipefail
cd "$(dirname "$0")/.."

lib=${1:-target/debug/libpaywire_ffi.so}
out=${2:-}
[ -f "$lib" ] || { echo "no $lib: run cargo build -p paywire-ffi first" >&2; exit 1; }
cargo build --quiet -p uniffi-bindgen
bindgen=target/debug/uniffi-bindgen

kotlin_dir=${out:+$out/kotlin}; kotlin_dir=${kotlin_dir:-kotlin/src/main/kotlin}
swift_tmp=$(mktemp -d)
trap 'rm -rf "$swift_tmp"' EXIT

"$bindgen" generate --library "$lib" --language kotlin --out-dir "$kotlin_dir" --no-format \
  --config bindings/ffi/uniffi.toml >/dev/null
"$bindgen" generate --library "$lib" --language swift --out-dir "$swift_tmp" --no-format \
  --config bindings/ffi/uniffi.toml >/dev/null

# uniffi writes a Swift source, a C header and a module map; Swift packages want them in two targets.
swift_root=${out:+$out/swift}; swift_root=${swift_root:-swift}
mkdir -p "$swift_root/Sources/PaywireFFI" "$swift_root/Sources/paywire_ffiFFI/include"
cp "$swift_tmp/PaywireFFI.swift" "$swift_root/Sources/PaywireFFI/PaywireFFI.swift"
cp "$swift_tmp/paywire_ffiFFI.h" "$swift_root/Sources/paywire_ffiFFI/include/paywire_ffiFFI.h"
# Without uniffi's `use "Darwin"` lines: newer Xcodes then fail `canImport(paywire_ffiFFI)` for a binary
# target (uniffi-rs#2917), and Linux has no Darwin module.
grep -v '^ *use "' "$swift_tmp/paywire_ffiFFI.modulemap" > "$swift_root/Sources/paywire_ffiFFI/include/module.modulemap"

for f in "$kotlin_dir/dev/paywire/ffi/paywire_ffi.kt" "$swift_root/Sources/PaywireFFI/PaywireFFI.swift"; do
  [ -s "$f" ] || { echo "uniffi-bindgen wrote no $f (a stripped library?)" >&2; exit 1; }
done
