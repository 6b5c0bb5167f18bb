#!/bin/sh
# Runs the given command when Debian's python3 has torch, torchvision and onnx; otherwise
# exits 77 (CTest's skip code) saying what is missing.
if ! /usr/bin/python3 -c "import torch, torchvision, onnx" 2> /dev/null; then
    echo "skipped: /usr/bin/python3 lacks torch/torchvision/onnx (scripts/install-deps.sh --fixtures)"
    exit 77
fi
exec "$@"
