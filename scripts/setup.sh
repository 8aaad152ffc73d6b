#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine with rustup lacks for mote: QEMU for the Cortex-M boards,
# the bundled-data-free Fashion-MNIST package, and the Rust cross targets. Idempotent; run as root
# (or with sudo available).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
need_apt=()
command -v qemu-system-arm >/dev/null 2>&1 || need_apt+=(qemu-system-arm)
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || [ -d /usr/share/datasets/fashion-mnist ] || need_apt+=(dataset-fashion-mnist)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core) # plot labels
command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind) # scripts/memcheck.sh
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
installed=$(rustup target list --installed)
for t in thumbv7em-none-eabihf thumbv7m-none-eabi wasm32-unknown-unknown; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
echo "setup: ok ($(qemu-system-arm --version | head -1))"
