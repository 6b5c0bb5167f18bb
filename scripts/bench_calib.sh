#!/usr/bin/env bash
# Calibration observer overhead: pass 1 and pass 2 of pq_calib_run against the float forward
# alone, on ResNet-18 (scripts/make_models.py: torchvision, seeded random weights) with 256
# synthetic images. A measurement for reports, not a test.
#
#   scripts/bench_calib.sh [--build DIR] [--cache DIR] [--images N] [--batch B] [--algos "..."]
#
#   --build DIR   a configured and built ppq-calib build folder (default build-bench, made with
#                 -DCMAKE_BUILD_TYPE=Release when missing)
#   --cache DIR   where make_models.py writes resnet18.onnx (default /tmp/ppq-bench-models or
#                 $PQ_BENCH_MODELS; made once, reused)
#   --images N    synthetic images (default 256);  --batch B  batch size (default 32)
#   --algos       observers to time (default "minmax percentile kl mse")
#   --threads T   OpenMP threads (sets OMP_NUM_THREADS; default: as configured). With 1, the
#                 "cpu" columns (process CPU time of a pass against the float forward's) are
#                 the figures least disturbed by other jobs on a shared machine.
#
# The bench program (tests/calib/bench_calib.c) is compiled against the build's static
# library with the link line CMake uses for the unit tests. OPENBLAS_CORETYPE=SkylakeX is
# set unless already set (what `ppq-calib` itself selects on AVX-512 machines).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-bench
cache=${PQ_BENCH_MODELS:-/tmp/ppq-bench-models}
images=256
batch=32
algos="minmax percentile kl mse"
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --images) images=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --algos) algos=$2; shift 2 ;;
    --threads) export OMP_NUM_THREADS=$2; shift 2 ;;
    *) echo "bench_calib.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ ! -f "$build/libppqcalib.a" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j2 --target ppqcalib test_calib >/dev/null
fi
link=$(find "$build" -path '*test_calib.dir/link.txt' | head -1)
[ -n "$link" ] || cmake --build "$build" -j2 --target test_calib >/dev/null
link=$(find "$build" -path '*test_calib.dir/link.txt' | head -1)
libs=$(sed 's/.*-o test_calib//' "$link" | sed "s|\.\./lib|$build/lib|g; s|libpq_test_harness.a||")
inc=""
for d in src/core src/ir src/exec src/quant src/passes io/onnx; do inc="$inc -I$root/$d"; done
cc -O2 -std=gnu11 $inc "$root/tests/calib/bench_calib.c" -o "$build/bench_calib" $libs -fopenmp
mkdir -p "$cache"
[ -f "$cache/resnet18.onnx" ] || /usr/bin/python3 "$root/scripts/make_models.py" "$cache" resnet18
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
"$build/bench_calib" "$cache/resnet18.onnx" "$images" "$batch" $algos
