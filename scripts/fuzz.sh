#!/usr/bin/env bash
# Builds the cargo-fuzz targets once, seeds their corpora (from data/ and a few hand-made files),
# then runs each target for SECONDS (default 600) one after another and prints, per target, the
# run time, libFuzzer's executions (stat::number_of_executed_units) and the crash/timeout/OOM
# artifacts it left. Logs: fuzz/logs/<target>.log; artifacts: fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      # default: every target but parse_run
#
# parse_run needs model files for seeds (see fuzz/README.md); name it to run it anyway.
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); the stable toolchain is used with
# RUSTC_BOOTSTRAP=1 for the sanitizer flags. Exits 1 if any target left an artifact.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(safetensors idx ts daphnet_csv ecg samples recording data_file)
fi
export RUSTC_BOOTSTRAP=1
cd "$root/fuzz"

# Little-endian u32 / u64 as printf escapes.
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
le64() { printf '%s\\x00\\x00\\x00\\x00' "$(le32 "$1")"; }
# A safetensors file: header JSON ($1) and data given as printf escapes ($2).
safetensors() { printf "$(le64 ${#1})%s$2" "$1"; }
one_f32='\x00\x00\x80\x3f'

seed() { # seed TARGET NAME: stdin becomes corpus/TARGET/NAME
  mkdir -p "corpus/$1"
  cat > "corpus/$1/$2"
}

seed_all() {
  local t
  # safetensors: nn.Sequential names in f32; a ModuleList in f16/bf16/f32 with metadata.
  safetensors '{"0.weight":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"0.bias":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}' \
    "$one_f32$one_f32$one_f32" | seed safetensors sequential_f32
  safetensors '{"__metadata__":{"format":"pt"},"layers.0.weight":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"layers.0.bias":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},"layers.1.weight":{"dtype":"F32","shape":[1,2],"data_offsets":[12,20]},"layers.1.bias":{"dtype":"F32","shape":[1],"data_offsets":[20,24]}}' \
    '\x00\x3c\x00\xc0\x00\x38\x00\x00\x80\x3f\x00\x3f'"$one_f32$one_f32$one_f32" | seed safetensors layers_mixed
  safetensors '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}' \
    "$one_f32$one_f32$one_f32" | seed safetensors plugin_model
  # IDX: images (rank 3) and labels (rank 1), plain and gzip.
  printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02\x00\xff\x01\x02\x03\x04\x05\x06' | seed idx images3
  printf '\x00\x00\x08\x01\x00\x00\x00\x03\x01\x09\x00' | seed idx labels1
  gzip -n -c corpus/idx/images3 | seed idx images3.gz
  gzip -n -c corpus/idx/labels1 | seed idx labels1.gz
  # .ts: a tiny file and BasicMotions' header with its first two cases.
  printf '# c\n@problemName X\n@timeStamps false\n@dimensions 2\n@seriesLength 3\n@classLabel true A B\n@data\n1,2,3:4,5,6:B\n0.5,-1,2E-1:0,0,0:A\n' | seed ts tiny.ts
  awk 'd { print; if (++n == 2) exit; next } { print } /^@data/ { d = 1 }' \
    "$root/data/basicmotions/BasicMotions_TRAIN.ts" | seed ts basicmotions_head.ts
  # Daphnet CSV: the bundled file's header and first rows, and a tiny one.
  head -n 20 "$root/data/daphnet/S06R02E0.csv" | seed daphnet_csv s06r02e0_head.csv
  printf 'timestamp,ankle_vert,b\n0,1000,-20\n1,500,30\n' | seed daphnet_csv tiny.csv
  # ECG: the first 128 samples of the bundled record.
  head -c 256 "$root/data/ecg/mitbih208_mlii_360hz.u16le" | seed ecg mitbih208_head.u16le
  # Samples blobs: 2 samples of 3 values, and no samples of 5 values.
  printf "MSMP$(le32 2)$(le32 3)$one_f32$one_f32$one_f32$one_f32$one_f32$one_f32\x00\x01" | seed samples n2_d3
  printf "MSMP$(le32 0)$(le32 5)" | seed samples n0_d5
  # Recordings: 2 samples of 3 axes at 10 Hz, and an empty one-channel one.
  printf "MREC$(le32 2)\x03\x00\x01\x00$(le32 10000)\x01\x00\x02\x00\x03\x00\xfc\xff\xfb\xff\xfa\xff" | seed recording n2_c3
  printf "MREC$(le32 0)\x01\x00\x01\x00$(le32 1)" | seed recording n0_c1
  # Data files (first byte: the mode, see fuzz_targets/data_file.rs): CSV with a header and
  # class names, TSV without, and an .npz of x (2, 2) float32 and y (2,) int64 made with Python's
  # zipfile (NumPy's own layout: version 1.0 headers padded to 64 bytes).
  printf '\x00a,b,label\n1,2,x\n3,4,y\n5,,x\n7,8,y\n' | seed data_file csv_header
  printf '\x01 1\t2\t0\n3\t4\t1\n5\t6\t0\n' | seed data_file tsv_plain
  python3 - "$PWD/corpus/data_file/npz_xy" <<'PY'
import io, struct, sys, zipfile
def npy(descr, shape, data):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + data
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("x.npy", npy("<f4", "(2, 2)", struct.pack("<4f", 1, 2, 3, 4)))
    z.writestr("y.npy", npy("<i8", "(2,)", struct.pack("<2q", 0, 1)))
open(sys.argv[1], "wb").write(b"\x02" + buf.getvalue())
PY
  for t in "${targets[@]}"; do mkdir -p "corpus/$t"; done
}

seed_all
echo "fuzz: building ${targets[*]}"
for t in "${targets[@]}"; do cargo fuzz build "$t" >/dev/null; done
mkdir -p logs
printf '%-12s %8s %14s %10s\n' target seconds executions artifacts > logs/summary.txt
failed=0
for t in "${targets[@]}"; do
  mkdir -p "artifacts/$t"
  echo "fuzz: $t for ${secs}s (log: fuzz/logs/$t.log)"
  start=$(date +%s)
  set +e
  cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=4096 \
    -timeout=10 -print_final_stats=1 >"logs/$t.log" 2>&1
  set -e
  took=$(($(date +%s) - start))
  execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "logs/$t.log" | tail -1)
  found=$(find "artifacts/$t" -type f | wc -l)
  [ "$found" -eq 0 ] || failed=1
  printf '%-12s %8s %14s %10s\n' "$t" "$took" "${execs:-?}" "$found" | tee -a logs/summary.txt
done
echo "fuzz: summary in fuzz/logs/summary.txt"
cat logs/summary.txt
exit "$failed"
