#!/bin/sh
# check_calibrate_cli.sh PPQ_CALIB [SOURCE_DIR]: `ppq-calib calibrate` on the digits example
# config, a good run (summary numbers, the four exports) and the bad inputs (missing model,
# missing dataset, NaN in the data under nan: error, a configured input the model lacks,
# usage): each asserts the exit code, the message and that no output file exists.
# Needs /usr/bin/python3 with h5py for the NaN file (exit 77 = skipped without it).
set -u
BIN=${1:?usage: check_calibrate_cli.sh PPQ_CALIB [SOURCE_DIR]}
SRC=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
CFG="$SRC/configs/example.yaml"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
n=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect CODE SUBSTRING ARGS...: runs calibrate with the outputs in a fresh folder.
expect() {
    code=$1; shift; want=$1; shift
    n=$((n + 1)); out="$TMP/out.$n"
    "$BIN" calibrate --config "$CFG" --set export.dir="$out" \
        --set 'export.formats=[qdq_onnx,trt_cache,json,report]' "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    rc=$?
    [ "$rc" = "$code" ] || fail "exit $rc, expected $code for: $* ($(cat "$TMP/stderr"))"
    grep -q -- "$want" "$TMP/stdout" "$TMP/stderr" || fail "no '$want' in the output of: $* ($(cat "$TMP/stderr"))"
    if [ "$code" != 0 ]; then
        if [ -d "$out" ] && [ -n "$(ls -A "$out")" ]; then fail "output left after failure: $(ls "$out")"; fi
    else
        for f in model.qdq.onnx calib.cache quant.json report.md; do
            [ -s "$out/$f" ] || fail "missing $out/$f"
        done
    fi
}

# A good run with labels: the digits accuracy and the exports.
expect 0 "top-1 accuracy over 360 samples: float 0.9972" \
    --eval-input images=/test/images --labels /test/labels --set analysis.eval_batches=0
expect 1 "nope.onnx" --set model=/nonexistent/nope.onnx
expect 1 "/train/nope" --set data.inputs.images=/train/nope
expect 1 "no graph input" --set data.inputs.extra=/train/images
expect 1 "/test/nope: dataset not found" --labels /test/nope
expect 2 "unexpected argument .--config." --config
if /usr/bin/python3 -c "import h5py, numpy" 2>/dev/null; then
    /usr/bin/python3 - "$SRC/tests/fixtures/digits/digits.h5" "$TMP/nan.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    x = f["/train/images"][:256].astype(np.float32)
x[100, 0, 3, 4] = np.nan
with h5py.File(sys.argv[2], "w") as f:
    f["/train/images"] = x
PY
    expect 1 "sample 100" --set data.file="$TMP/nan.h5" --set data.nan=error
else
    echo "skipped the NaN case: /usr/bin/python3 lacks h5py/numpy"
fi
[ "$fails" = 0 ] && echo "check_calibrate_cli: all passed"
[ "$fails" = 0 ]
