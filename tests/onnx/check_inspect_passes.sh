#!/bin/sh
# `ppq-calib inspect --passes format,fuse --save` on the digits CNN: the saved model has no
# BatchNormalization left and gives the same logits as the original (max abs diff <= 1e-4,
# BN folding rounds differently).
#   usage: check_inspect_passes.sh PATH/TO/ppq-calib SOURCE_DIR
set -eu
bin=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
model=$src/tests/fixtures/digits/digits_cnn.onnx
x=$src/tests/fixtures/digits/sample_images.npy

"$bin" inspect --passes format,fuse --save "$tmp/fused.onnx" "$model" > "$tmp/report.txt"
grep -q "^fuse_bn  *6 changed" "$tmp/report.txt" || { cat "$tmp/report.txt"; echo "fuse_bn did not fold 6 BN"; exit 1; }
"$bin" inspect "$tmp/fused.onnx" > "$tmp/fused.txt"
if grep -q BatchNormalization "$tmp/fused.txt"; then echo "BatchNormalization left"; exit 1; fi
"$bin" exec "$model" --input images="$x" --out-dir "$tmp/a"
"$bin" exec "$tmp/fused.onnx" --input images="$x" --out-dir "$tmp/b"
/usr/bin/python3 - "$tmp/a/logits.npy" "$tmp/b/logits.npy" <<'PY'
import sys
import numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
d = float(np.abs(a - b).max())
print(f"max abs diff fused vs original: {d:.3g}")
sys.exit(0 if d <= 1e-4 and a.shape == b.shape else 1)
PY
