#!/bin/sh
# Checks `ppq-calib inspect --json` on ResNet-18 against onnx's Python package: the
# operator histogram (collections.Counter of node op_types), the inputs and outputs with
# their shapes, the opset imports and the parameter count and bytes.
#
# usage: tests/onnx/check_inspect_histogram.sh [PATH/TO/ppq-calib] [MODEL.onnx]
#   ppq-calib defaults to build/ppq-calib; without MODEL.onnx, ResNet-18 is exported with
#   tests/onnx/make_resnet18.py into a temporary folder (needs /usr/bin/python3 with torch,
#   torchvision and onnx). Exit status 0 when everything matches.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/ppq-calib}
model=${2:-}
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ -z "$model" ]; then
    model=$tmp/resnet18.onnx
    "$py" "$here/make_resnet18.py" "$model"
fi
"$bin" inspect --json "$model" > "$tmp/inspect.json"
"$bin" inspect "$model" > "$tmp/inspect.txt"

"$py" - "$model" "$tmp/inspect.json" <<'PY'
import collections
import json
import sys

import numpy as np
import onnx
from onnx import numpy_helper

model = onnx.load(sys.argv[1])
got = json.load(open(sys.argv[2]))
g = model.graph
ok = True


def check(what, want, have):
    global ok
    if want == have:
        print("ok   %s" % what)
    else:
        ok = False
        print("FAIL %s\n  onnx:      %s\n  ppq-calib: %s" % (what, want, have))


def key(n):
    return n.op_type if n.domain in ("", "ai.onnx") else "%s:%s" % (n.domain, n.op_type)


want_hist = collections.Counter(key(n) for n in g.node)
have_hist = collections.Counter({h["op_type"]: h["count"] for h in got["operators"]["histogram"]})
check("operator histogram (%d ops, %d types)" % (sum(want_hist.values()), len(want_hist)),
      dict(want_hist), dict(have_hist))
order = [(h["op_type"], h["count"]) for h in got["operators"]["histogram"]]
check("histogram order (count desc, then name)", sorted(order, key=lambda t: (-t[1], t[0])), order)
check("op count", len(g.node), got["operators"]["count"])


def shape(v):
    t = v.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_param if d.HasField("dim_param") else (d.dim_value if d.HasField("dim_value") else None)
            for d in t.shape.dim]


inits = {t.name for t in g.initializer}
dt = {1: "float32", 7: "int64", 6: "int32", 9: "bool", 10: "float16", 11: "float64"}
check("inputs", [(v.name, dt.get(v.type.tensor_type.elem_type), shape(v)) for v in g.input if v.name not in inits],
      [(v["name"], v["dtype"], v["shape"]) for v in got["inputs"]])
check("outputs", [(v.name, dt.get(v.type.tensor_type.elem_type), shape(v)) for v in g.output],
      [(v["name"], v["dtype"], v["shape"]) for v in got["outputs"]])
check("opset imports", [(o.domain or "ai.onnx", o.version) for o in model.opset_import],
      [(o["domain"], o["version"]) for o in got["opset_imports"]])
arrays = [numpy_helper.to_array(t) for t in g.initializer]
check("parameter tensors", len(arrays), got["parameters"]["tensors"])
check("parameter elements", int(sum(a.size for a in arrays)), got["parameters"]["elements"])
check("parameter bytes", int(sum(a.nbytes for a in arrays)), got["parameters"]["bytes"])
sys.exit(0 if ok else 1)
PY
echo "--- ppq-calib inspect $model"
cat "$tmp/inspect.txt"
