#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs ppq-calib on the bundled example:
# a small CNN trained on the scikit-learn handwritten digits (tests/fixtures/digits/).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" > /dev/null

model=tests/fixtures/digits/digits_cnn.onnx
out=example-out
echo "== ppq-calib inspect $model"
build/ppq-calib inspect "$model"
echo
echo "== ppq-calib exec: float inference of 8 test images (labels: 7 6 3 7 7 3 2 8)"
build/ppq-calib exec "$model" --input images=tests/fixtures/digits/sample_images.npy \
  --out-dir "$out" --summary
echo "wrote $out/logits.npy"
