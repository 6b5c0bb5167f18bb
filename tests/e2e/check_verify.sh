#!/bin/sh
# check_verify.sh PPQ_CALIB MPIEXEC [SOURCE_DIR]: `ppq-calib verify` end to end on copies of
# the digits example (config, model, data in a temporary folder):
#   - calibrate, then verify: exit 0, every input "match"; the recorded digests equal
#     hashlib's (config and model bytes; data: SHA-256 over the per-batch SHA-256 of the
#     512 samples calibration read, batches of 64, computed by numpy/h5py here);
#   - a changed model / config / one byte of a sample that calibration read: exit 1 naming
#     what changed, with the recorded and the current digest (hashlib's);
#   - one byte changed in a sample beyond the sample limit: still a match (verify reads
#     exactly the bytes calibration read);
#   - a missing model: "missing", exit 1; bad JSON / no provenance: exit 2 naming the file;
#   - a `calibrate --params` output: data "not used" (no data read), exit 0;
#   - calibrated with 2 ranks, verified with 1: match;
#   - analysis.enabled false: no evaluation runs (a bad --labels dataset is not even opened),
#     the summary and the report say so;
#   - a checkpoint resumes into another export folder (export.* is not in its digest), but
#     not with another calibration.bins (a key that changes results).
# Needs /usr/bin/python3 with h5py and numpy (exit 77 = skipped without them).
set -u
BIN=${1:?usage: check_verify.sh PPQ_CALIB MPIEXEC [SOURCE_DIR]}
MPIEXEC=${2:?usage: check_verify.sh PPQ_CALIB MPIEXEC [SOURCE_DIR]}
SRC=${3:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
$PY -c "import h5py, numpy" 2>/dev/null || { echo "skipped: $PY lacks h5py/numpy"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
sha() { $PY -c "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())" "$1"; }

# The run: copies of the model and the data, a config next to them with relative paths
# (written through "sub/.." so that the printed paths must be normalised).
mkdir -p "$TMP/run/sub"
cp "$SRC/tests/fixtures/digits/digits_cnn.onnx" "$TMP/run/model.onnx"
cp "$SRC/tests/fixtures/digits/digits.h5" "$TMP/run/data.h5"
cp "$TMP/run/model.onnx" "$TMP/model.orig"
cp "$TMP/run/data.h5" "$TMP/data.orig"
cat >"$TMP/run/run.yaml" <<'EOF'
model: sub/../model.onnx
calibration:
  activation: minmax
  batch_size: 64
  samples: 512
data:
  file: ./sub/../data.h5
  inputs:
    images: /train/images
export:
  dir: out
  formats: [json, report]
analysis:
  enabled: false
EOF
cp "$TMP/run/run.yaml" "$TMP/run.orig"
JSON="$TMP/run/out/quant.json"

# verify_expect CODE [SUBSTRING...]: runs verify on $JSON.
verify_expect() {
    code=$1; shift
    "$BIN" verify "$JSON" >"$TMP/stdout" 2>"$TMP/stderr"
    rc=$?
    [ "$rc" = "$code" ] || fail "verify exit $rc, expected $code ($(cat "$TMP/stdout" "$TMP/stderr"))"
    for want in "$@"; do
        grep -q -- "$want" "$TMP/stdout" "$TMP/stderr" ||
            fail "no '$want' in the verify output: $(cat "$TMP/stdout" "$TMP/stderr")"
    done
}

calibrate() {
    "$@" calibrate --config "$TMP/run/run.yaml" --quiet >"$TMP/cal.out" 2>&1 ||
        fail "calibrate failed: $(cat "$TMP/cal.out")"
}

# 1. calibrate, verify: all match; recorded digests are hashlib's.
calibrate "$BIN"
$PY - "$TMP/data.orig" >"$TMP/data.sha" <<'PY'
import hashlib, sys, h5py
x = h5py.File(sys.argv[1], "r")["/train/images"][:512]
d = b"".join(hashlib.sha256(x[i:i + 64].tobytes()).digest() for i in range(0, 512, 64))
print(hashlib.sha256(d).hexdigest())
PY
DATA_SHA=$(cat "$TMP/data.sha")
MODEL_SHA=$(sha "$TMP/model.orig")
CONFIG_SHA=$(sha "$TMP/run.orig")
$PY - "$JSON" "$CONFIG_SHA" "$MODEL_SHA" "$DATA_SHA" "$TMP/run/run.yaml" <<'PY' || fail "recorded provenance differs from hashlib's"
import json, sys
p = json.load(open(sys.argv[1]))["provenance"]
want = {"config": sys.argv[2], "model": sys.argv[3], "data": sys.argv[4]}
for k, v in want.items():
    if p["sha256"][k] != v:
        sys.exit("sha256.%s: %s, hashlib %s" % (k, p["sha256"][k], v))
if p["config_path"] != sys.argv[5]:
    sys.exit("config_path %s, expected %s" % (p["config_path"], sys.argv[5]))
if "/sub/.." in p["config"] or "/./" in p["config"]:
    sys.exit("paths in the effective config are not normalised")
PY
verify_expect 0 "config  match      $TMP/run/run.yaml" "model   match      $TMP/run/model.onnx" \
    "data    match      $TMP/run/data.h5" "all inputs match"
grep -q "| analysis | off (analysis.enabled: false) |" "$TMP/run/out/report.md" || fail "the report does not say analysis is off"

# 2. the model changed
printf 'x' >>"$TMP/run/model.onnx"
verify_expect 1 "model   CHANGED    $TMP/run/model.onnx" "recorded   sha256 $MODEL_SHA" \
    "now        sha256 $(sha "$TMP/run/model.onnx")" "config  match" "data    match" "1 of 3 inputs"
cp "$TMP/model.orig" "$TMP/run/model.onnx"

# 3. the config changed (a comment is a change of the file's bytes)
printf '# edited\n' >>"$TMP/run/run.yaml"
verify_expect 1 "config  CHANGED" "recorded   sha256 $CONFIG_SHA" "now        sha256 $(sha "$TMP/run/run.yaml")"
cp "$TMP/run.orig" "$TMP/run/run.yaml"

# 4. one byte of a sample calibration read (sample 3), then one beyond the limit (sample 1000)
poke() {
    $PY - "$TMP/run/data.h5" "$1" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    d = f["/train/images"]
    s = int(sys.argv[2])
    x = d[s]
    b = x.view(np.uint8).reshape(-1)
    b[5] ^= 0x01
    d[s] = x
PY
}
poke 3
verify_expect 1 "data    CHANGED    $TMP/run/data.h5" "recorded   sha256 $DATA_SHA" "model   match"
cp "$TMP/data.orig" "$TMP/run/data.h5"
poke 1000
verify_expect 0 "data    match"
cp "$TMP/data.orig" "$TMP/run/data.h5"

# 5. a missing model; a dataset gone from the file
mv "$TMP/run/model.onnx" "$TMP/model.away"
verify_expect 1 "model   missing    $TMP/run/model.onnx"
mv "$TMP/model.away" "$TMP/run/model.onnx"
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); f.move('/train/images','/train/moved')" "$TMP/run/data.h5"
verify_expect 1 "data    unreadable" "/train/images"
cp "$TMP/data.orig" "$TMP/run/data.h5"
verify_expect 0 "all inputs match"

# 6. unusable JSON: exit 2 naming the file
cp "$JSON" "$TMP/good.json"
printf '{"provenance": ' >"$JSON"
verify_expect 2 "$JSON:1:" "not valid JSON"
printf '{"format": 1}' >"$JSON"
verify_expect 2 "$JSON: no \"provenance\" object"
"$BIN" verify >/dev/null 2>&1; [ $? = 2 ] || fail "verify without a file: expected exit 2"
cp "$TMP/good.json" "$JSON"

# 6b. a --params run reads no data: verify says so and checks config and model
"$BIN" calibrate --config "$TMP/run/run.yaml" --quiet --params "$JSON" --set export.dir="$TMP/p" \
    >"$TMP/o" 2>&1 || fail "calibrate --params failed: $(cat "$TMP/o")"
JSON_SAVED=$JSON
JSON="$TMP/p/quant.json"
verify_expect 0 "data    not used" "model   match" "loaded from $JSON_SAVED" "all inputs match"
JSON=$JSON_SAVED

# 7. calibrated with 2 ranks, verified with 1
rm -rf "$TMP/run/out"
calibrate "$MPIEXEC" --allow-run-as-root --oversubscribe -n 2 "$BIN"
grep -q '"world_size": 2' "$JSON" || fail "the 2-rank run did not record world size 2"
verify_expect 0 "world size 2" "data    match" "all inputs match"

# 8. analysis disabled: no evaluation (a bad labels dataset is never opened)
"$BIN" calibrate --config "$TMP/run/run.yaml" --labels /test/nope >"$TMP/stdout" 2>"$TMP/stderr" ||
    fail "analysis disabled: calibrate failed: $(cat "$TMP/stderr")"
grep -q "evaluation: analysis disabled" "$TMP/stdout" || fail "no 'analysis disabled' in the summary"
grep -q "evaluation on" "$TMP/stdout" && fail "an evaluation ran with analysis disabled"
grep -q "are ignored" "$TMP/stderr" || fail "no note that --labels is ignored"
# ...and enabled, the same flag is used (and fails on the missing dataset)
"$BIN" calibrate --config "$TMP/run/run.yaml" --labels /test/nope --set analysis.enabled=true \
    >"$TMP/stdout" 2>"$TMP/stderr" && fail "analysis enabled with a missing labels dataset succeeded"
grep -q "/test/nope: dataset not found" "$TMP/stderr" || fail "no dataset-not-found message: $(cat "$TMP/stderr")"
# analysis.labels from the config, overridden by --labels
"$BIN" calibrate --config "$TMP/run/run.yaml" --set analysis.enabled=true \
    --set analysis.labels=/train/labels --set 'analysis.eval_inputs={images: /train/images}' \
    >"$TMP/stdout" 2>"$TMP/stderr" || fail "analysis.labels run failed: $(cat "$TMP/stderr")"
grep -q "top-1 accuracy over 512 samples" "$TMP/stdout" || fail "analysis.labels gave no accuracy: $(cat "$TMP/stdout")"
"$BIN" calibrate --config "$TMP/run/run.yaml" --set analysis.enabled=true \
    --set analysis.labels=/train/labels --set 'analysis.eval_inputs={images: /nope}' \
    --eval-input images=/test/images --labels /test/labels --set analysis.eval_batches=0 \
    >"$TMP/stdout" 2>"$TMP/stderr" || fail "flags over analysis keys failed: $(cat "$TMP/stderr")"
grep -q "top-1 accuracy over 360 samples" "$TMP/stdout" || fail "flags did not override: $(cat "$TMP/stdout")"
"$BIN" calibrate --config "$TMP/run/run.yaml" --set analysis.enabled=true \
    --set 'analysis.eval_inputs={pixels: /train/images}' >"$TMP/stdout" 2>"$TMP/stderr" &&
    fail "an eval input that is not a graph input was accepted"
grep -q "analysis.eval_inputs.pixels: .* has no graph input of that name" "$TMP/stderr" ||
    fail "no message naming analysis.eval_inputs.pixels: $(cat "$TMP/stderr")"

# 9. checkpoints: resume into another export folder; refuse another calibration.bins
CK="$TMP/ck.h5"
PQ_TEST_STOP_AFTER_PASS=1 "$BIN" calibrate --config "$TMP/run/run.yaml" --quiet \
    --set calibration.activation=kl --set export.dir="$TMP/a" --checkpoint "$CK" >"$TMP/o" 2>&1
[ $? = 3 ] || fail "stopped run: expected exit 3: $(cat "$TMP/o")"
"$BIN" calibrate --config "$TMP/run/run.yaml" --set calibration.activation=kl \
    --set calibration.bins=1024 --set export.dir="$TMP/b" --resume "$CK" >"$TMP/o" 2>&1 &&
    fail "resumed with another calibration.bins"
grep -q "config digest differs" "$TMP/o" || fail "no config digest message: $(cat "$TMP/o")"
"$BIN" calibrate --config "$TMP/run/run.yaml" --set calibration.activation=kl \
    --set export.dir="$TMP/b" --set 'export.formats=[json]' --resume "$CK" >"$TMP/o" 2>&1 ||
    fail "resume into another export folder failed: $(cat "$TMP/o")"
grep -q "resuming from $CK: 1 of 2" "$TMP/o" || fail "did not resume: $(cat "$TMP/o")"
"$BIN" calibrate --config "$TMP/run/run.yaml" --quiet --set calibration.activation=kl \
    --set export.dir="$TMP/c" --set 'export.formats=[json]' >"$TMP/o" 2>&1 || fail "uninterrupted kl run failed"
$PY - "$TMP/b/quant.json" "$TMP/c/quant.json" <<'PY' || fail "the resumed parameters differ from the uninterrupted run"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
a.pop("provenance"); b.pop("provenance")
sys.exit(0 if a == b else 1)
PY

[ "$fails" = 0 ] && echo "check_verify: all passed"
[ "$fails" = 0 ]
