#!/usr/bin/env bash
# Builds ppq-calib and runs the whole test suite twice: a warnings-as-errors release build,
# then the same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
#   scripts/test.sh            both
#   scripts/test.sh --quick    release build only
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Test binaries run the OpenBLAS kernels ppq-calib itself selects (it re-executes with
# SkylakeX kernels on AVX-512 CPUs, which Debian's OpenBLAS 0.3.21 may not recognise).
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -q avx512f /proc/cpuinfo && grep -q avx512bw /proc/cpuinfo \
   && grep -q avx512vl /proc/cpuinfo && grep -q avx512dq /proc/cpuinfo; then
  export OPENBLAS_CORETYPE=SkylakeX
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPQ_WERROR=ON > build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build -j"$jobs" 2>&1 | grep -E "error|warning|Error" || true
cmake --build build -j"$jobs" > /dev/null
ctest --test-dir build --output-on-failure -j"$jobs"

if [ "${1:-}" != "--quick" ]; then
  # The ONNX reader under libFuzzer for a bounded time (clang builds it; see tests/fuzz).
  if command -v clang > /dev/null; then
    cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DPQ_FUZZ=ON > build-fuzz.log 2>&1 || { cat build-fuzz.log; exit 1; }
    cmake --build build-fuzz -j"$jobs" --target fuzz_onnx_read > /dev/null
    ctest --test-dir build-fuzz --output-on-failure -L fuzz
  fi

  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPQ_WERROR=ON \
        -DPQ_SANITIZE=address,undefined > build-asan.log 2>&1 || { cat build-asan.log; exit 1; }
  cmake --build build-asan -j"$jobs" > /dev/null
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs"
fi
