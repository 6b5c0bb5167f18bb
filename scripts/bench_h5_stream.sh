#!/bin/sh
# bench_h5_stream.sh - peak memory of streaming calibration data through the HDF5 reader
# does not grow with the dataset: makes a dataset of 1x and of 10x the samples, streams
# each through `ppq-calib config --provenance` (which reads every batch through
# pq_h5_reader, double-buffered, and hashes it) and prints both peak RSS values; they
# should agree within a few MB.
#
#   scripts/bench_h5_stream.sh                  # 1x = PQ_BENCH_MB MiB (default 20), 10x
#   PQ_BENCH_BIG=1 scripts/bench_h5_stream.sh   # 1x = 205 MiB, 10x = 2 GiB
# Environment: PPQ_CALIB (the binary, default build/ppq-calib), PQ_BENCH_DIR (scratch
# folder, default a new one under /tmp, removed at the end), PQ_BENCH_BATCH (default 16),
# PQ_BENCH_GZIP (gzip level of the dataset, default 0 = none).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
BIN=${PPQ_CALIB:-$ROOT/build/ppq-calib}
MB=${PQ_BENCH_MB:-20}
[ "${PQ_BENCH_BIG:-0}" = 1 ] && MB=205
BATCH=${PQ_BENCH_BATCH:-16}
GZ=${PQ_BENCH_GZIP:-0}
[ -x "$BIN" ] || { echo "bench_h5_stream: $BIN not found (set PPQ_CALIB)" >&2; exit 2; }
if [ -n "${PQ_BENCH_DIR:-}" ]; then DIR=$PQ_BENCH_DIR; mkdir -p "$DIR"; KEEP=1
else DIR=$(mktemp -d /tmp/pq_bench_h5.XXXXXX); KEEP=0; fi
cleanup() { [ "$KEEP" = 1 ] || rm -rf "$DIR"; }
trap cleanup EXIT

# samples of float32 [3, 224, 224] (588 KiB each)
N1=$(( MB * 1024 / 588 ))
[ "$N1" -ge 1 ] || N1=1
for mult in 1 10; do
  n=$(( N1 * mult ))
  $PY - "$DIR/data_${mult}x.h5" "$n" "$GZ" <<'PYEOF'
import sys, numpy as np, h5py
path, n, gz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
block = rng.random((16, 3, 224, 224), dtype=np.float32)
opts = dict(compression="gzip", compression_opts=gz) if gz else {}
with h5py.File(path, "w") as f:
    d = f.create_dataset("/calib/images", (n, 3, 224, 224), "f4", chunks=(8, 3, 224, 224), **opts)
    for s in range(0, n, 16):
        k = min(16, n - s)
        d[s:s + k] = block[:k] + np.float32(s)
PYEOF
  cat > "$DIR/run_${mult}x.yaml" <<YEOF
model: $ROOT/tests/fixtures/digits/digits_cnn.onnx
calibration: {batch_size: $BATCH}
data:
  file: data_${mult}x.h5
  inputs:
    images: {dataset: /calib/images, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}
YEOF
done

measure() {
  # prints "<peak RSS KiB> <seconds>"
  $PY - "$BIN" "$1" <<'PYEOF'
import resource, subprocess, sys, time
t = time.time()
r = subprocess.run([sys.argv[1], "config", "--provenance", "--config", sys.argv[2]],
                   stdout=subprocess.DEVNULL)
if r.returncode != 0:
    sys.exit(r.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, round(time.time() - t, 2))
PYEOF
}

set -- $(measure "$DIR/run_1x.yaml"); RSS1=$1; T1=$2
set -- $(measure "$DIR/run_10x.yaml"); RSS10=$1; T10=$2
S1=$(du -m "$DIR/data_1x.h5" | cut -f1); S10=$(du -m "$DIR/data_10x.h5" | cut -f1)
echo "dataset 1x:  $N1 samples, ${S1} MiB, peak RSS $((RSS1 / 1024)) MiB, ${T1} s"
echo "dataset 10x: $((N1 * 10)) samples, ${S10} MiB, peak RSS $((RSS10 / 1024)) MiB, ${T10} s"
DIFF=$(( (RSS10 - RSS1) / 1024 ))
echo "peak RSS difference: ${DIFF} MiB (batch $BATCH)"
