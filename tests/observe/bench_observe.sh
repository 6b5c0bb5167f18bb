#!/bin/sh
# Observer throughput (not a CTest test). Builds the library in build-bench-observe (Release)
# and links against it:
#   tests/observe/bench_observe.c  every observer on a 16x64x112x112 tensor vs memcpy, per
#                                  thread count (wall time);
#   tests/observe/bench_hist.c     CPU time per element of each kernel on Relu-like, normal
#                                  and leaky data, one thread (usable on a loaded machine).
#   tests/observe/bench_observe.sh [threads...]      default: 1 2
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${PQ_BENCH_BUILD:-$ROOT/build-bench-observe}
cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j2 --target ppqcalib >/dev/null
for prog in bench_observe bench_hist; do
  cc -O3 -std=c11 -D_POSIX_C_SOURCE=200809L -fopenmp -I"$ROOT/src/core" -I"$ROOT/src/ir" \
     -I"$ROOT/src/quant" "$ROOT/tests/observe/$prog.c" "$B/libppqcalib.a" -lm -o "$B/$prog"
done
for t in ${*:-1 2}; do "$B/bench_observe" "$t"; done
"$B/bench_hist"
