#!/bin/sh
# Observer throughput vs memcpy (not a CTest test). Builds the library in build-bench-observe
# (Release) and links tests/observe/bench_observe.c against it.
#   tests/observe/bench_observe.sh [threads...]      default: 1 2
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${PQ_BENCH_BUILD:-$ROOT/build-bench-observe}
cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j2 --target ppqcalib >/dev/null
cc -O3 -std=c11 -D_POSIX_C_SOURCE=200809L -fopenmp -I"$ROOT/src/core" -I"$ROOT/src/ir" \
   -I"$ROOT/src/quant" "$ROOT/tests/observe/bench_observe.c" "$B/libppqcalib.a" -lm \
   -o "$B/bench_observe"
for t in ${*:-1 2}; do "$B/bench_observe" "$t"; done
