#!/usr/bin/env bash
# Instructions of CMSIS-NN's s8 fully connected kernels on a 256x256 layer (batch 1) under QEMU,
# counted by the same TCG plugin (tools/insncount.c) as `mote bench kernels`, on the Cortex-M4F
# (mps2-an386, DSP path) and the Cortex-M3 (mps2-an385, C path). See README.md beside this file.
#
# CMSIS-NN is not part of mote: it is fetched at a pinned commit into target/cmsis-nn/ (ignored by
# git) and never committed. Not part of the default test run.
#   CMSIS_NN_SRC   git URL or local clone to fetch from (default: GitHub)
#   CMSIS_NN_REV   commit (default: the pinned one below)
# Needs gcc-arm-none-eabi, qemu-system-arm and a host gcc.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
src="${CMSIS_NN_SRC:-https://github.com/ARM-software/CMSIS-NN.git}"
rev="${CMSIS_NN_REV:-99f736a63036613032f9b70de36b493bcd7802d4}"
work="$root/target/cmsis-nn"
mkdir -p "$work"
if [ ! -d "$work/src/.git" ]; then
  git clone --quiet --no-checkout "$src" "$work/src"
fi
git -C "$work/src" cat-file -e "$rev^{commit}" 2>/dev/null || git -C "$work/src" fetch --quiet "$src" "$rev"
git -C "$work/src" -c advice.detachedHead=false checkout --quiet "$rev"

plugin="$work/libinsncount.so"
gcc -shared -fPIC -O2 -o "$plugin" "$root/tools/insncount.c"

nn="$work/src"
sources=(
  "$nn/Source/FullyConnectedFunctions/arm_fully_connected_per_channel_s8.c"
  "$nn/Source/FullyConnectedFunctions/arm_fully_connected_s8.c"
  "$nn/Source/NNSupportFunctions/arm_nn_vec_mat_mult_t_per_ch_s8.c"
  "$nn/Source/NNSupportFunctions/arm_nn_vec_mat_mult_t_s8.c"
)
addr() { arm-none-eabi-nm "$1" | awk -v s="$2" '$3 == s { print "0x" $1 }'; }
printf '| CMSIS-NN %s (256x256, batch 1) | board | instructions | per MAC |\n|---|---|---|---|\n' "${rev:0:12}"
for cpu in m4f m3; do
  case $cpu in
    m4f) flags=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16); machine=mps2-an386 ;;
    m3) flags=(-mcpu=cortex-m3 -mthumb); machine=mps2-an385 ;;
  esac
  elf="$work/fc_$cpu.elf"
  arm-none-eabi-gcc "${flags[@]}" -O2 -nostdlib -nostartfiles -I"$nn/Include" \
    -T "$here/link.ld" -o "$elf" "$here/startup.c" "$here/main.c" "${sources[@]}" -lgcc
  start=$(addr "$elf" bench_start)
  end=$(addr "$elf" bench_end)
  err="$work/fc_$cpu.stderr"
  timeout 120 qemu-system-arm -machine "$machine" -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -icount shift=0 -d plugin \
    -plugin "$plugin,start=$start,end=$end" -kernel "$elf" 2>"$err" >/dev/null
  mapfile -t n < <(sed -n 's/^insncount: region\[[0-9]*\]=//p' "$err")
  [ "${#n[@]}" = 2 ] || { echo "expected 2 regions on $machine:"; cat "$err"; exit 1; }
  names=(arm_fully_connected_per_channel_s8 arm_fully_connected_s8)
  for i in 0 1; do
    printf '| %s | %s | %s | %.2f |\n' "${names[$i]}" "$machine" "${n[$i]}" "$(echo "${n[$i]} / 65536" | bc -l)"
  done
done
