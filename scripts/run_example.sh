#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs ppq-calib's main job on the
# bundled example: calibrate a small CNN trained on the scikit-learn handwritten digits
# (tests/fixtures/digits/) for TensorRT INT8 from configs/example.yaml, and export the QDQ
# ONNX model, the quantization parameters (JSON) and the report into out/digits/.
#   scripts/run_example.sh          one process
#   scripts/run_example.sh -n 2     the same job on 2 MPI ranks (bitwise the same results)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" > /dev/null

if [ "${1:-}" = "-n" ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  mpirun -n "$2" --oversubscribe build/ppq-calib calibrate --config configs/example.yaml
else
  build/ppq-calib calibrate --config configs/example.yaml
fi
echo
echo "outputs:"
ls -l out/digits/
