#!/usr/bin/env bash
# Runs every check mote has: formatting, clippy (workspace, firmware for both CPUs, plugins) and
# all tests (unit, property, end-to-end in QEMU), then the host's numeric tests under valgrind.
# Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each section prints the seconds since the start, so a CI log shows where the time goes.
section() { echo "== $1 (at ${SECONDS}s)"; }
bash scripts/setup.sh
section fmt
cargo fmt --all -- --check
(cd firmware && cargo fmt -- --check)
if [ -f plugins/Cargo.toml ]; then (cd plugins && cargo fmt --all -- --check); fi
# The no_std core for both Cortex-M targets is compiled by the firmware's clippy runs below
# (thumbv7em and thumbv7m) and built by the QEMU tests.
section "clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
(cd firmware && cargo clippy --release --quiet -- -D warnings)
(cd firmware && cargo clippy --release --quiet --target thumbv7m-none-eabi --no-default-features --features board-lm3s6965 -- -D warnings)
# The real board: the application with the micro:bit's LSM303AGR, and with a replayed one.
(cd firmware && cargo clippy --release --quiet --bin app --no-default-features --features board-microbit-v2,sensor-hardware -- -D warnings)
(cd firmware && cargo clippy --release --quiet --bin app --no-default-features --features board-microbit-v2 -- -D warnings)
if [ -f plugins/Cargo.toml ]; then (cd plugins && cargo clippy --release --quiet -- -D warnings); fi
section "tests"
cargo test --workspace
section "memcheck (valgrind) of the host's numeric code"
bash scripts/memcheck.sh
echo "== all checks passed in ${SECONDS}s"
