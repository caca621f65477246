#!/usr/bin/env bash
# paywire on devices: builds the Cortex-M4F firmware example (Rust, no_std) and the C example on the C API
# (bindings/c), checks that the committed header is what cbindgen generates, checks the RISC-V build, and
# prints flash and RAM figures. The end-to-end tests (tests/e2e/test_devices.py) run the two firmware
# images under QEMU. `--write-header` regenerates bindings/c/include/paywire.h instead of checking it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-devices.sh
root=$PWD
out="${CARGO_TARGET_DIR:-$root/target}/thumbv7em-none-eabihf/release"

(cd devices && cargo fmt --all --check)
(cd devices && cargo clippy --locked --quiet --release --target thumbv7em-none-eabihf -- -D warnings)
(cd devices && cargo build --locked --quiet --release --target thumbv7em-none-eabihf)

header="$out/paywire.h"
.tools/cbindgen/bin/cbindgen --quiet --config bindings/c/cbindgen.toml --crate paywire-c --output "$header" bindings/c
if [ "${1:-}" = --write-header ]; then
  cp "$header" bindings/c/include/paywire.h
elif ! cmp -s "$header" bindings/c/include/paywire.h; then
  diff -u bindings/c/include/paywire.h "$header" >&2 || true
  echo "bindings/c/include/paywire.h is not what cbindgen generates: run scripts/devices.sh --write-header" >&2
  exit 1
fi

# The C example: newlib-nano, console and files over semihosting, the same 64 KiB of RAM.
mkdir -p "$out/c"
arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os -std=c11 -Wall -Wextra -Werror \
  -ffunction-sections -fdata-sections -I bindings/c/include -nostartfiles -T devices/c/mps2-an386.ld \
  --specs=nano.specs --specs=rdimon.specs -Wl,--gc-sections -Wl,--no-warn-execstack \
  devices/c/startup.c devices/c/main.c "$out/libpaywire.a" -o "$out/c/paywire-c-example.elf"

# RISC-V (riscv32imac): the core and the C API build; nothing runs there yet.
(cd devices && cargo build --locked --quiet --release -p paywire-c --target riscv32imac-unknown-none-elf)
cargo build --locked --quiet -p paywire-core --no-default-features --target riscv32imac-unknown-none-elf

echo "flash and static RAM (arm-none-eabi-size; the Rust example's bss holds its 32 KiB heap):"
arm-none-eabi-size "$out/paywire-firmware-example" "$out/c/paywire-c-example.elf"
