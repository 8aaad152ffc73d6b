#!/usr/bin/env bash
# cargo runner: `cargo run --release --bin selftest` boots the ELF in QEMU and prints the raw defmt
# stream decoded by `mote qemu-log` if available, else the raw bytes to a file.
# BOARD overrides the machine (mps2-an386 for thumbv7em, lm3s6965evb for thumbv7m).
set -uo pipefail
elf="$1"; shift
case "$elf" in
  *thumbv7m-none-eabi*) board="${BOARD:-lm3s6965evb}" ;;
  *)                    board="${BOARD:-mps2-an386}" ;;
esac
exec timeout "${QEMU_TIMEOUT:-120}" qemu-system-arm -machine "$board" -nographic -monitor none -serial none \
  -semihosting-config enable=on,target=native ${QEMU_EXTRA:-} -kernel "$elf"
