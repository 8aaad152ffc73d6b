#!/usr/bin/env bash
# Counts the guest instructions of a firmware binary under QEMU with the insncount TCG plugin
# (tools/insncount.c): the whole run, and the region between the firmware's bench_start() and
# bench_end() markers (summed over every start/end pair; per-call = region / pairs).
#
# Usage: bench/qemu_insns.sh BIN [BOARD]
#   BIN    firmware binary name (firmware/src/bin/BIN.rs)
#   BOARD  mps2-an386 (Cortex-M4F, default) | lm3s6965evb (Cortex-M3, soft float)
# Env: FIRMWARE_FEATURES (extra cargo features), QEMU_TIMEOUT (s, default 300),
#      INSNCOUNT_VERBOSE=1 (one line per start/end pair).
# Prints the plugin's line: "insncount: total=N region=R pairs=P min=.. max=.." and the per-pair mean.
# The firmware's defmt output is decoded with defmt-print when it is installed, else discarded.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:?usage: bench/qemu_insns.sh BIN [mps2-an386|lm3s6965evb]}"
board="${2:-mps2-an386}"
case "$board" in
  mps2-an386)  target=thumbv7em-none-eabihf; feature=board-mps2-an386 ;;
  lm3s6965evb) target=thumbv7m-none-eabi;    feature=board-lm3s6965 ;;
  *) echo "unknown board '$board' (mps2-an386 | lm3s6965evb)" >&2; exit 2 ;;
esac

plugin="$root/tools/libinsncount.so"
if [[ ! -f "$plugin" || "$root/tools/insncount.c" -nt "$plugin" ]]; then
  gcc -shared -fPIC -O2 -Wall -o "$plugin" "$root/tools/insncount.c"
fi

(cd "$root/firmware" && cargo build --release --quiet --bin "$bin" --target "$target" \
   --no-default-features --features "$feature${FIRMWARE_FEATURES:+,$FIRMWARE_FEATURES}")
elf="$root/firmware/target/$target/release/$bin"

sym() { readelf -sW "$elf" | awk -v s="$1" '$8==s {print $2; exit}'; }
start="$(sym bench_start)"; end="$(sym bench_end)"
if [[ -z "$start" || -z "$end" ]]; then
  echo "$elf: no bench_start/bench_end symbols (does the binary call them?)" >&2; exit 1
fi
pargs="start=0x$start,end=0x$end"
[[ "${INSNCOUNT_VERBOSE:-0}" == 1 ]] && pargs+=",verbose=on"

log="$(mktemp)"; trap 'rm -f "$log"' EXIT
set +e
if command -v defmt-print >/dev/null; then
  timeout "${QEMU_TIMEOUT:-300}" qemu-system-arm -machine "$board" -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -icount shift=0 -plugin "$plugin,$pargs" \
    -kernel "$elf" 2>"$log" | defmt-print -e "$elf"
  rc="${PIPESTATUS[0]}"
else
  timeout "${QEMU_TIMEOUT:-300}" qemu-system-arm -machine "$board" -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -icount shift=0 -plugin "$plugin,$pargs" \
    -kernel "$elf" 2>"$log" >/dev/null
  rc=$?
fi
set -e
cat "$log" >&2
line="$(grep '^insncount: total=' "$log" || true)"
if [[ -z "$line" ]]; then echo "no insncount line (QEMU exit $rc)" >&2; exit 1; fi
echo "$line"
region="$(sed -E 's/.*region=([0-9]+).*/\1/' <<<"$line")"
pairs="$(sed -E 's/.*pairs=([0-9]+).*/\1/' <<<"$line")"
if (( pairs > 0 )); then echo "per pair: $(( region / pairs )) instructions ($bin on $board)"; fi
exit "$rc"
