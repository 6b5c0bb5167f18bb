#!/usr/bin/env bash
# Installs every system package ppq-calib needs, from Debian's registry.
# Idempotent: packages already installed are skipped; nothing is downloaded from elsewhere.
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --fixtures also the Python packages used to make test fixtures
#                                      and chromium (the report screenshot test)
set -euo pipefail

build_pkgs=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev hdf5-tools
  libprotobuf-c-dev protobuf-c-compiler
  libonnx-dev libonnx-testdata
  libopenblas-dev libcyaml-dev libjansson-dev
)
fixture_pkgs=(python3-numpy python3-onnx python3-h5py python3-torch python3-torchvision python3-sklearn python3-pil
  chromium) # chromium: e2e.report_screenshot renders the HTML report headless

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--fixtures" ]; then want+=("${fixture_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#want[@]} packages present"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ONNX Runtime for the export tests (the CPU build the npm package ships; without the
# variable its install script tries to download a CUDA build, which fails offline).
if [ "${1:-}" = "--fixtures" ] && command -v npm > /dev/null; then
  ort_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/export"
  if [ ! -f "$ort_dir/node_modules/onnxruntime-node/package.json" ]; then
    echo "install-deps: installing onnxruntime-node@1.20.1 into $ort_dir"
    (cd "$ort_dir" && ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install --no-audit --no-fund \
       onnxruntime-node@1.20.1 > /dev/null)
  fi
fi
