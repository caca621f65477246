#!/usr/bin/env bash
# Builds swift/build/paywire_ffiFFI.xcframework (static libpaywire_ffi for iOS devices, the iOS simulator and
# macOS, with the uniffi C header and module map), zips it and prints the checksum for a release's
# `.binaryTarget(name: "paywire_ffiFFI", url: ..., checksum: ...)`.
#
# Needs macOS with Xcode and the Rust targets:
#     rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin
# Our CI machines run Linux without Xcode, so this script is not run there.
#
# To use the result locally: PAYWIRE_XCFRAMEWORK=build/paywire_ffiFFI.xcframework swift build --package-path swift
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(uname)" = Darwin ] || { echo "build-xcframework.sh needs macOS with Xcode" >&2; exit 1; }
export IPHONEOS_DEPLOYMENT_TARGET=15.0 MACOSX_DEPLOYMENT_TARGET=12.0

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
for target in "${targets[@]}"; do
  cargo build --release --locked -p paywire-ffi --target "$target"
done

out=swift/build
rm -rf "$out" && mkdir -p "$out/headers" "$out/ios-simulator" "$out/macos"
cp swift/Sources/paywire_ffiFFI/include/paywire_ffiFFI.h swift/Sources/paywire_ffiFFI/include/module.modulemap "$out/headers/"
lib=libpaywire_ffi.a
# One library per platform: the simulator and macOS slices are fat (arm64 + x86_64).
lipo -create target/aarch64-apple-ios-sim/release/$lib target/x86_64-apple-ios/release/$lib -output "$out/ios-simulator/$lib"
lipo -create target/aarch64-apple-darwin/release/$lib target/x86_64-apple-darwin/release/$lib -output "$out/macos/$lib"

xcodebuild -create-xcframework \
  -library target/aarch64-apple-ios/release/$lib -headers "$out/headers" \
  -library "$out/ios-simulator/$lib" -headers "$out/headers" \
  -library "$out/macos/$lib" -headers "$out/headers" \
  -output "$out/paywire_ffiFFI.xcframework"

(cd "$out" && ditto -c -k --sequesterRsrc --keepParent paywire_ffiFFI.xcframework paywire_ffiFFI.xcframework.zip)
checksum=$(swift package compute-checksum "$out/paywire_ffiFFI.xcframework.zip")
echo "$out/paywire_ffiFFI.xcframework.zip"
echo "checksum: $checksum"
echo ".binaryTarget(name: \"paywire_ffiFFI\", url: \"<release URL of the zip>\", checksum: \"$checksum\")"
