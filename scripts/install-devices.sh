#!/usr/bin/env bash
# Installs what the device builds need and prints nothing else on stdout:
# - the Rust targets thumbv7em-none-eabihf (Cortex-M4F) and riscv32imac-unknown-none-elf;
# - Debian's qemu-system-arm, gcc-arm-none-eabi, binutils-arm-none-eabi and libnewlib-arm-none-eabi (apt,
#   when run as root);
# - cbindgen, pinned, into .tools/cbindgen (generates bindings/c/include/paywire.h).
set -euo pipefail
cd "$(dirname "$0")/.."
CBINDGEN_VERSION=0.29.2
rustup target add thumbv7em-none-eabihf riscv32imac-unknown-none-elf >&2
need=()
for tool in qemu-system-arm:qemu-system-arm arm-none-eabi-gcc:gcc-arm-none-eabi arm-none-eabi-size:binutils-arm-none-eabi; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
done
[ -e /usr/lib/arm-none-eabi/newlib/libc_nano.a ] || need+=(libnewlib-arm-none-eabi)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >&2
  else
    echo "missing: ${need[*]} (Debian packages; run as root to install them)" >&2
    exit 1
  fi
fi
if ! [ -x .tools/cbindgen/bin/cbindgen ] || ! .tools/cbindgen/bin/cbindgen --version | grep -q " $CBINDGEN_VERSION$"; then
  cargo install --quiet --locked --root .tools/cbindgen --version "$CBINDGEN_VERSION" cbindgen >&2
fi
