#!/bin/sh
# bench_scaling.sh - wall time of the distributed calibration test job (synthetic observers,
# two passes, packed all-reduce) at 1..N ranks, and of the segment all-reduce alone at
# several message bounds. Not a test; numbers go to docs/mpi.md.
#   scripts/bench_scaling.sh [BUILD_DIR] [MAX_RANKS]
set -eu
BUILD=${1:-build}
MAXNP=${2:-4}
EXE=$BUILD/tests/mpi/mpi_calib_synth
[ -x "$EXE" ] || { echo "build $EXE first (cmake --build $BUILD --target mpi_calib_synth)" >&2; exit 2; }
MPIRUN="mpirun --allow-run-as-root --oversubscribe"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
printf "%-6s %-14s %s\n" ranks max_message seconds
for np in $(seq 1 "$MAXNP"); do
  for mm in 67108864 4096 256; do
    t0=$(date +%s.%N)
    $MPIRUN -n "$np" "$EXE" --quiet --out "$OUT/o.txt" --max-message "$mm" >/dev/null
    t1=$(date +%s.%N)
    printf "%-6s %-14s %.3f\n" "$np" "$mm" "$(echo "$t1 - $t0" | bc)"
  done
  if [ "$np" -gt 1 ]; then cmp "$OUT/o.txt" "$OUT/ref.txt"; else cp "$OUT/o.txt" "$OUT/ref.txt"; fi
done
