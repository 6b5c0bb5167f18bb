#!/bin/sh
# bench_scaling.sh - the scaling benchmark of issue 8: `ppq-calib calibrate` on ResNet-18
# with 512 synthetic images (kl, batch 16, threads 1, analysis disabled) at 1 and 2 ranks;
# prints samples/s of each run, the speedup, the per-phase times of rank 0 and the CPU time
# of the job, and checks that both runs wrote the same QDQ model. Not a test; numbers go to
# docs/mpi.md. Timings are only meaningful on an otherwise idle machine.
#
#   scripts/bench_scaling.sh [--build DIR] [--cache DIR] [--ranks "1 2"] [--repeat N]
#                            [--samples N] [--synthetic [MAX_RANKS]]
#
#   --build DIR    built ppq-calib build folder (default build)
#   --cache DIR    where scripts/make_models.py writes resnet18.onnx and this script the
#                  data (default $PQ_BENCH_MODELS or /tmp/ppq-bench-models; made once)
#   --ranks LIST   world sizes to run (default "1 2"); the speedup is against the first
#   --repeat N     runs per world size, interleaved (default 1); the best wall time counts
#   --samples N    synthetic images (default 512, seeded: numpy default_rng(0))
#   --synthetic    instead: the old synthetic job (tests/mpi/mpi_calib_synth: observers
#                  only, no model) at 1..MAX_RANKS (default 4) and three message bounds
#
# samples/s = samples / wall seconds of the whole command (mpirun start to exit); the
# phase lines (PQ_PHASE_TIMES=1, rank 0's view) show where the rest goes: inputs (config,
# model read, broadcast, digests), graph (load, passes, quantization, executor), data open,
# calibration (both passes and reductions), evaluation (none: analysis is disabled),
# export (rank 0 writes). The MPI launch itself is the difference to the sum of phases.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
cache=${PQ_BENCH_MODELS:-/tmp/ppq-bench-models}
ranks="1 2"
repeat=1
samples=512
synthetic=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --samples) samples=$2; shift 2 ;;
    --synthetic)
      synthetic=4; shift
      case "${1:-}" in [0-9]*) synthetic=$1; shift ;; esac ;;
    *) echo "bench_scaling.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
MPIRUN="mpirun --allow-run-as-root --oversubscribe"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

if [ -n "$synthetic" ]; then
  EXE=$build/tests/mpi/mpi_calib_synth
  [ -x "$EXE" ] || { echo "build $EXE first (cmake --build $build --target mpi_calib_synth)" >&2; exit 2; }
  printf "%-6s %-14s %s\n" ranks max_message seconds
  for np in $(seq 1 "$synthetic"); do
    for mm in 67108864 4096 256; do
      t0=$(date +%s.%N)
      $MPIRUN -n "$np" "$EXE" --quiet --out "$OUT/o.txt" --max-message "$mm" >/dev/null
      t1=$(date +%s.%N)
      printf "%-6s %-14s %.3f\n" "$np" "$mm" "$(echo "$t1 - $t0" | bc)"
    done
    if [ "$np" -gt 1 ]; then cmp "$OUT/o.txt" "$OUT/ref.txt"; else cp "$OUT/o.txt" "$OUT/ref.txt"; fi
  done
  exit 0
fi

BIN=$build/ppq-calib
[ -x "$BIN" ] || { echo "build $BIN first (cmake --build $build --target ppq-calib)" >&2; exit 2; }
mkdir -p "$cache"
[ -f "$cache/resnet18.onnx" ] || /usr/bin/python3 "$root/scripts/make_models.py" "$cache" resnet18
DATA=$cache/bench_images_$samples.h5
if [ ! -f "$DATA" ]; then
  /usr/bin/python3 - "$DATA" "$samples" <<'PY'
import os, sys
import h5py, numpy as np
path, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
tmp = path + ".tmp"
with h5py.File(tmp, "w") as f:
    d = f.create_dataset("/images", shape=(n, 3, 224, 224), dtype="float32", chunks=(16, 3, 224, 224))
    for i in range(0, n, 64):
        k = min(64, n - i)
        d[i:i + k] = rng.standard_normal((k, 3, 224, 224), dtype=np.float32)
os.rename(tmp, path)
PY
fi
cat >"$OUT/run.yaml" <<EOF
model: $cache/resnet18.onnx
calibration:
  activation: kl
  batch_size: 16
data:
  file: $DATA
  inputs:
    input: /images
export:
  formats: [qdq_onnx, json]
analysis:
  enabled: false
threads: 1
EOF

echo "ResNet-18, $samples synthetic images, kl, batch 16, threads 1, analysis disabled"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for k in $(seq 1 "$repeat"); do
  for np in $ranks; do
    dir=$OUT/n$np.$k
    /usr/bin/time -f "%e %U %S" -o "$OUT/time" \
      env PQ_PHASE_TIMES=1 $MPIRUN -n "$np" -x PQ_PHASE_TIMES "$BIN" calibrate \
      --config "$OUT/run.yaml" --set export.dir="$dir" --quiet 2>"$OUT/err" >/dev/null ||
      { cat "$OUT/err" >&2; exit 1; }
    read -r wall user sys <"$OUT/time"
    best=$(cat "$OUT/best.$np" 2>/dev/null || echo 0)
    if [ "$best" = 0 ] || [ "$(echo "$wall < $best" | bc)" = 1 ]; then echo "$wall" >"$OUT/best.$np"; fi
    printf "run %d, %d rank(s): %6.2f s wall, %7.2f s cpu (user+sys, all ranks), %6.2f samples/s\n" \
      "$k" "$np" "$wall" "$(echo "$user + $sys" | bc)" "$(echo "$samples / $wall" | bc -l)"
    grep "phase" "$OUT/err" | sed 's/^ppq-calib: /    /'
    if [ -f "$OUT/ref.onnx" ]; then
      cmp -s "$dir/model.qdq.onnx" "$OUT/ref.onnx" || { echo "model.qdq.onnx of $np rank(s) differs" >&2; exit 1; }
    else
      cp "$dir/model.qdq.onnx" "$OUT/ref.onnx"
    fi
  done
done
first=""
for np in $ranks; do
  w=$(cat "$OUT/best.$np")
  [ -n "$first" ] || first=$w
  printf "%d rank(s): best %6.2f s, %6.2f samples/s, speedup %.2fx\n" "$np" "$w" \
    "$(echo "$samples / $w" | bc -l)" "$(echo "$first / $w" | bc -l)"
done
echo "outputs byte-identical across world sizes"
