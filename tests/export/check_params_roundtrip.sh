#!/bin/sh
# check_params_roundtrip.sh PPQ_CALIB [SOURCE_DIR]: `ppq-calib calibrate --params` on the
# digits example config.
#   1. calibrate -> a/quant.json; calibrate --params a/quant.json -> b/: the JSON is byte for
#      byte a's apart from provenance (params_compare.py), the QDQ ONNX and the TensorRT
#      cache are a's bytes;
#   2. the comparison can fail: one scale moved by one float32 ulp is reported, and
#      --params on that file exports it (its JSON round-trips, its QDQ model differs);
#   3. under mpirun -n 2 (when present) --params gives b's bytes;
#   4. bad files (a variable the graph lacks, a channel-count mismatch, another policy, an
#      uncalibrated TQC, a missing file, --params with --resume): exit code, a message naming
#      the file and the variable, and no output file.
# Needs /usr/bin/python3 with numpy (exit 77 = skipped without it).
set -u
BIN=${1:?usage: check_params_roundtrip.sh PPQ_CALIB [SOURCE_DIR]}
SRC=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
CFG="$SRC/configs/example.yaml"
PY=/usr/bin/python3
CMP="$PY $SRC/tests/export/params_compare.py"
$PY -c "import numpy" 2>/dev/null || { echo "skipped: /usr/bin/python3 lacks numpy"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# calib OUT_DIR ARGS...: the digits config with every export, outputs in OUT_DIR.
calib() {
    out=$1; shift
    "$BIN" calibrate --config "$CFG" --set export.dir="$out" --quiet --set analysis.enabled=false \
        --set 'export.formats=[qdq_onnx,trt_cache,json,report]' "$@" >"$TMP/stdout" 2>"$TMP/stderr"
}
same_bytes() { cmp -s "$1" "$2" || fail "$1 and $2 differ"; }

# 1. The round trip.
calib "$TMP/a" || fail "calibrate: $(cat "$TMP/stderr")"
calib "$TMP/b" --params "$TMP/a/quant.json" || fail "calibrate --params: $(cat "$TMP/stderr")"
$CMP "$TMP/a/quant.json" "$TMP/b/quant.json" || fail "JSON round trip"
same_bytes "$TMP/a/model.qdq.onnx" "$TMP/b/model.qdq.onnx"
same_bytes "$TMP/a/calib.cache" "$TMP/b/calib.cache"
$PY - "$TMP/b/quant.json" "$TMP/a/quant.json" <<'PY' || fail "provenance of the --params run"
import json, sys
p = json.load(open(sys.argv[1]))["provenance"]
a = json.load(open(sys.argv[2]))["provenance"]
assert p["params"]["file"] == sys.argv[2], p["params"]
assert p["params"]["provenance"] == a, "the file's own provenance is kept"
PY
grep -q "parameters from" "$TMP/b/report.md" || fail "the report does not name the parameter file"

# 2. One activation scale moved by one float32 ulp (text edit: the rest stays byte-equal).
$PY - "$TMP/a/quant.json" "$TMP/p.json" <<'PY' || fail "perturbing a scale"
import re, sys
import numpy as np
text = open(sys.argv[1]).read()
m = re.search(r'"scale": \[\n\s*([0-9.e+-]+)\n', text)   # the first per-tensor scale
v = np.float32(float(m.group(1)))
w = np.nextafter(v, np.float32(np.inf))
new = "%.9g" % w
assert np.float32(float(new)) == w and new != m.group(1)
open(sys.argv[2], "w").write(text[:m.start(1)] + new + text[m.end(1):])
print("perturbed %s -> %s" % (m.group(1), new))
PY
if $CMP "$TMP/a/quant.json" "$TMP/p.json" >/dev/null; then fail "params_compare missed a one-ulp scale change"; fi
calib "$TMP/c" --params "$TMP/p.json" || fail "calibrate --params p.json: $(cat "$TMP/stderr")"
$CMP "$TMP/p.json" "$TMP/c/quant.json" || fail "the perturbed file does not round-trip"
if $CMP "$TMP/a/quant.json" "$TMP/c/quant.json" >/dev/null; then fail "--params ignored the perturbed scale"; fi
if cmp -s "$TMP/a/model.qdq.onnx" "$TMP/c/model.qdq.onnx"; then fail "the QDQ model ignores the perturbed scale"; fi

# 3. Two ranks.
MPIRUN=$(command -v mpirun || true)
if [ -n "$MPIRUN" ]; then
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$MPIRUN" --allow-run-as-root \
        --oversubscribe -n 2 "$BIN" calibrate --config "$CFG" --set export.dir="$TMP/d" --quiet \
        --set 'export.formats=[qdq_onnx,trt_cache,json,report]' --params "$TMP/a/quant.json" \
        >"$TMP/stdout" 2>"$TMP/stderr" || fail "mpirun -n 2 --params: $(cat "$TMP/stderr")"
    $CMP "$TMP/b/quant.json" "$TMP/d/quant.json" || fail "JSON at 2 ranks"
    same_bytes "$TMP/b/model.qdq.onnx" "$TMP/d/model.qdq.onnx"
else
    echo "skipped the 2-rank case: no mpirun"
fi

# 4. Bad parameter files: each edit of a.json, the message it must give.
bad() {
    name=$1; want=$2; code=$3
    "$BIN" calibrate --config "$CFG" --set export.dir="$TMP/bad.$name" \
        --set 'export.formats=[qdq_onnx,trt_cache,json,report]' --params "$TMP/$name.json" \
        >"$TMP/stdout" 2>"$TMP/stderr"
    rc=$?
    [ "$rc" = 1 ] || fail "$name: exit $rc, expected 1 ($(cat "$TMP/stderr"))"
    grep -q -- "$TMP/$name.json" "$TMP/stderr" || fail "$name: the message does not name the file: $(cat "$TMP/stderr")"
    grep -q -- "$want" "$TMP/stderr" || fail "$name: no '$want' in: $(cat "$TMP/stderr")"
    if [ -d "$TMP/bad.$name" ] && [ -n "$(ls -A "$TMP/bad.$name")" ]; then
        fail "$name: output left: $(ls "$TMP/bad.$name")"
    fi
    : "$code"
}
$PY - "$TMP/a/quant.json" "$TMP" <<'PY' || fail "making the bad files"
import json, sys
src, d = sys.argv[1], sys.argv[2]
def edit(name, fn):
    doc = json.load(open(src))
    fn(doc)
    json.dump(doc, open("%s/%s.json" % (d, name), "w"), indent=2)
def tqcs(doc):
    for op in doc["operations"]:
        for t in op["inputs"] + op["outputs"]:
            yield op, t
def first(doc, pred):
    return next(t for op, t in tqcs(doc) if pred(t))
def rename(doc):   # a variable the graph lacks (in every op that lists it)
    for op, t in tqcs(doc):
        if t["variable"] == "/stem/stem.2/Relu_output_0":
            t["variable"] = "no_such_tensor"
def channels(doc): # a per-channel weight with one scale too few
    t = first(doc, lambda t: "PER_CHANNEL" in t["policy"])
    t["scale"].pop(); t["offset"].pop()
def policy(doc):   # another policy on an activation
    t = first(doc, lambda t: t["state"] == "ACTIVATED" and "PER_TENSOR" in t["policy"])
    t["policy"] = ["PER_TENSOR", "ASYMMETRIC", "LINEAR"]
def initial(doc):  # an activation left uncalibrated
    t = first(doc, lambda t: t["state"] == "ACTIVATED" and "PER_TENSOR" in t["policy"])
    t["state"] = "INITIAL"; t["scale"] = []; t["offset"] = []
edit("rename", rename)
edit("channels", channels)
edit("policy", policy)
edit("initial", initial)
PY
bad rename "variable mismatch: the file has 'no_such_tensor', the graph '/stem/stem.2/Relu_output_0'" 1
bad channels "variable 'stem.0.weight'): channel count mismatch: the file has 15 scales, the variable has 16" 1
bad policy "variable 'images'): policy mismatch" 1
bad initial "(variable 'images'): the TQC is not calibrated in the file" 1
bad missing "missing.json" 1
"$BIN" calibrate --config "$CFG" --params "$TMP/a/quant.json" --resume "$TMP/x.h5" >"$TMP/stdout" 2>"$TMP/stderr"
[ $? = 2 ] || fail "--params with --resume: expected usage exit 2"
grep -q -- "--params does not calibrate" "$TMP/stderr" || fail "--params with --resume: $(cat "$TMP/stderr")"

[ "$fails" = 0 ] && echo "check_params_roundtrip: all passed"
[ "$fails" = 0 ]
