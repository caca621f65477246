#!/usr/bin/env bash
# Builds paywire's Android library (kotlin/android/build/outputs/aar/paywire-android-release.aar): the
# native library for each Android ABI with cargo-ndk, then the AAR with Gradle.
#
# Needs the Android SDK and NDK (ANDROID_HOME, ANDROID_NDK_HOME), Gradle 8.9+, and the Rust targets:
#     rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android i686-linux-android
#     cargo install cargo-ndk
# Our CI machines have no Android SDK, so this script is not run there.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the Android NDK}"
jni=kotlin/android/src/main/jniLibs
rm -rf "$jni"
# API 24 matches minSdk; --platform sets the libc the library links against.
cargo ndk --platform 24 -t arm64-v8a -t armeabi-v7a -t x86_64 -t x86 -o "$jni" \
  build --release --locked -p paywire-ffi
(cd kotlin/android && gradle --no-daemon assembleRelease)
ls -l kotlin/android/build/outputs/aar/
