#!/usr/bin/env bash
# Executor benchmark: ppq-calib's float executor vs ONNX Runtime (onnxruntime-node 1.20.1,
# CPU provider), same model, same input, same batch, same number of threads, one process
# each. See bench/README.md.
#
#   scripts/bench_exec.sh [--cache DIR] [--models "resnet18 mobilenet_v2"] [--threads "1 2"]
#                         [--iters N] [--repeat R] [--passes SPEC]
#
#   --cache DIR   where scripts/make_models.py puts the models and their torch references
#                 (default /tmp/ppq-bench-models or $PQ_BENCH_MODELS; made once, reused)
#   --models      any of resnet18 mobilenet_v2 transformer (default resnet18 mobilenet_v2)
#   --threads     thread counts to run (default "1 2")
#   --iters N     timed runs per measurement after one warm-up (default 5)
#   --repeat R    measurements per engine, alternating the two; the best is reported, which
#                 filters out other work on a shared machine (default 2)
#   --passes SPEC graph passes ppq-calib runs before executing (bench_exec --passes); default
#                 "format,fuse", the graph calibration runs (ONNX Runtime likewise runs its own
#                 graph optimisations, level "all"); "none" runs the model as exported, like
#                 `ppq-calib exec`
#
# Every ppq-calib run is checked against the torch output (bench_exec --check, max |err| /
# max |ref| <= 1e-3) and its micro-batched output against a whole-batch run (bit for bit),
# so the table measures a correct executor; a wrong one is marked and the script exits 1.
# The input is the torch reference input (batch 16 for the CNNs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${PQ_BENCH_MODELS:-/tmp/ppq-bench-models}
models="resnet18 mobilenet_v2"
threads="1 2"
iters=5
repeat=2
tol=1e-3
passes="format,fuse"
py=/usr/bin/python3

while [ $# -gt 0 ]; do
  case "$1" in
    --cache) cache=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --passes) passes=$2; [ "$passes" != none ] || passes=""; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_exec.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "[bench] $*" >&2; }

# ---------------------------------------------------------------- models and references
missing=""
for m in $models; do
  for f in "$m.onnx" "${m}_input.npy" "${m}_output.npy"; do
    [ -s "$cache/$f" ] || { missing="$missing $m"; break; }
  done
done
if [ -n "$missing" ]; then
  log "exporting$missing to $cache"
  "$py" "$root/scripts/make_models.py" "$cache" $missing 2>&1 | grep -v -i warning >&2
fi

# ---------------------------------------------------------------- onnxruntime-node
if [ ! -e "$root/bench/node_modules/onnxruntime-node/package.json" ]; then
  log "installing onnxruntime-node 1.20.1 into bench/node_modules"
  (cd "$root/bench" && ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install --no-audit --no-fund \
     --no-save onnxruntime-node@1.20.1 >&2)
fi

# ---------------------------------------------------------------- build
build=${PQ_BENCH_BUILD:-$root/build-bench}
log "building bench_exec in $build"
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release > "$build/bench-cmake.log" 2>&1 ||
  { cat "$build/bench-cmake.log" >&2; exit 1; }
cmake --build "$build" -j"$(nproc)" --target bench_exec > "$build/bench-build.log" 2>&1 ||
  { grep -E "error|Error" "$build/bench-build.log" >&2; exit 1; }
bench_exec=$build/bench/bench_exec

# ---------------------------------------------------------------- runs
# field KEY RESULT-LINE: the value of KEY=... in a RESULT line.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$2"; }
# best A B: the larger of two numbers (A may be empty).
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 > a + 0) ? b : a }'; }

# run_ppq MODEL THREADS: one bench_exec measurement, folded into ppq_* (best so far).
run_ppq() {
  local m=$1 t=$2 out rc res
  set +e
  out=$("$bench_exec" "$cache/$m.onnx" --iters "$iters" --threads "$t" ${passes:+--passes "$passes"} \
          --input "$cache/${m}_input.npy" --check "$cache/${m}_output.npy" --tol "$tol" 2>&1)
  rc=$?
  set -e
  res=$(grep '^RESULT ' <<< "$out" || true)
  if [ -z "$res" ]; then
    note=$(grep -m1 'bench_exec:' <<< "$out" | sed 's/^bench_exec: //' || true)
    [ -n "$note" ] || note="bench_exec exited with $rc"
    log "ppq-calib failed: $note"
    ppq_failed=1
    status=1
    return
  fi
  rel=$(field max_rel "$res")
  core=$(field blas_core "$res")
  if [ $rc -ne 0 ]; then
    note="WRONG OUTPUT: max rel err $rel > $tol"
    log "$note"
    status=1
  fi
  ppq_ips=$(best "$ppq_ips" "$(field img_per_s "$res")")
  ppq_rss=$(best "$ppq_rss" "$(field peak_rss_mib "$res")")
}

# run_ort MODEL THREADS: one ort_bench measurement, folded into ort_* (best so far).
run_ort() {
  local m=$1 t=$2 res ort_rel
  res=$(node "$root/bench/ort_bench.js" "$cache/$m.onnx" --iters "$iters" --threads "$t" \
          --input "$cache/${m}_input.npy" --check "$cache/${m}_output.npy" --tol "$tol" |
          grep '^RESULT ' || true)
  if [ -z "$res" ]; then
    log "ort_bench failed"
    note="$note; ort_bench failed"
    status=1
    return
  fi
  ort_rel=$(field max_rel "$res")
  if awk -v e="$ort_rel" -v t="$tol" 'BEGIN { exit !(e > t) }'; then
    note="$note; ORT disagrees with the torch reference (max rel err $ort_rel)"
    status=1
  fi
  ort_ips=$(best "$ort_ips" "$(field img_per_s "$res")")
  ort_rss=$(best "$ort_rss" "$(field peak_rss_mib "$res")")
}

load=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before: $load"
status=0
rows=()
for m in $models; do
  for t in $threads; do
    ppq_ips="" ort_ips="" ppq_rss="" ort_rss="" rel="" core="" note="" ppq_failed=0
    for ((r = 1; r <= repeat; r++)); do
      if [ $ppq_failed -eq 0 ]; then
        log "$m, $t thread(s), round $r/$repeat: ppq-calib"
        run_ppq "$m" "$t"
      fi
      log "$m, $t thread(s), round $r/$repeat: onnxruntime"
      run_ort "$m" "$t"
    done
    if [ -n "$ppq_ips" ] && [ -n "$ort_ips" ]; then
      ratio=$(awk -v a="$ppq_ips" -v b="$ort_ips" 'BEGIN { printf "%.2f", a / b }')
      rows+=("$(printf '| %-12s | %7s | %15.1f | %9.1f | %9s | %16.0f | %11.0f | %11.2e | %-9s | %s' \
        "$m" "$t" "$ppq_ips" "$ort_ips" "$ratio" "$ppq_rss" "$ort_rss" "$rel" "$core" "$note")")
    else
      rows+=("$(printf '| %-12s | %7s | %15s | %9s | %9s | %16s | %11s | %11s | %-9s | %s' \
        "$m" "$t" "-" "${ort_ips:--}" "-" "-" "${ort_rss:--}" "-" "${core:--}" "$note")")
    fi
  done
done

echo
echo "Executor benchmark: batch from the reference input, $iters timed runs after one warm-up," \
     "best of $repeat; ppq-calib graph passes: ${passes:-none}; $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1));" \
     "load average before: $load"
echo
echo "| model        | threads | ppq-calib img/s | ORT img/s | ppq / ORT | ppq peak RSS MiB | ORT RSS MiB | max rel err | BLAS core | note"
echo "| ------------ | ------- | --------------- | --------- | --------- | ---------------- | ----------- | ----------- | --------- | ----"
for row in "${rows[@]}"; do echo "$row"; done
exit $status
