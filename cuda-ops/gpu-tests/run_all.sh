#!/usr/bin/env bash
# The one command for a GPU machine (torch with CUDA, nvcc, compute-sanitizer; no JDK needed):
# builds libflash_sigmoid.so with CMake (no JNI bridge), or takes a prebuilt one, then runs
#   1. cuda_kernel_test            the CUDA kernels through their C ABI, no PyTorch
#   2. test_cuda_ops.py            the ops on CUDA tensors against float64, bad inputs, streams, CPU ops
#   3. run_sanitizers.sh           memcheck, racecheck, initcheck, synccheck over cuda_kernel_test --small
#   3b. test_varlen.py             forward_varlen/backward_varlen vs per-sequence runs, NaN-poisoned padding
#   3c. test_decode.py             the split-KV decode kernel vs float64 (GQA, lengths, ALiBi, cache views)
#   3d. test_long_context.py       16k-128k keys vs float64: the sigmoid's accuracy for weights near 1/n
#   4. test_autograd.py            builds csrc/autograd/ against this torch; gradcheck, CUDA gradients
#   5. benchmarks/gpu/bench_attention.py          ours vs SDPA FLASH and cuDNN, bf16 (bench.md, BENCHMARKS.md)
#   6. bench_decode.py             decode step vs SDPA's backends, bf16 (decode.md, BENCHMARKS.md)
#   7. run_java_tests.sh           the Java tests tagged gpu (and with the benchmarks, the Java GPU
#                                  benchmark) from the bundle make_java_bundle.sh made on the CPU
#                                  machine, when there is one (.gpu-bundle, or --java-bundle DIR)
# and prints a short summary last. Logs go to ${OUT:-/tmp/fs-gpu}. Exit status 1 if a step failed.
#
#   cuda-ops/gpu-tests/run_all.sh [options]
#     --library SO        test this library (e.g. the one Maven built on the CPU machine:
#                         cuda-ops/target/classes/native/linux-x86_64/libflash_sigmoid.so) instead of building
#     --kernel-test EXE   the cuda_kernel_test to run (default: next to the build; with --library,
#                         cuda-ops/target/native-build/cuda_kernel_test when present)
#     --archs LIST        FS_CUDA_ARCHS of the build (default: CMake's, 80;90a)
#     --head-dims LIST    FS_CUDA_HEAD_DIMS of the build (default: CMake's, 32;64;96;128;256)
#     --jobs N            parallel compile jobs (default: nproc)
#     --expect-dims LIST  head dims test_cuda_ops.py must find compiled (default when building: the
#                         head dims built; with --library: none, so missing dims are skipped)
#     --build-dir DIR     (default /tmp/fs-gpu-build)
#     --no-bench | --no-sanitizers | --no-autograd | --bench-only | --quick (fewer test cases)
#     --python-sanitizer  also run memcheck over a small PyTorch harness (slow: a minute or more)
#     --java-bundle DIR   the bundle for step 7 (default .gpu-bundle at the repository root)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${OUT:-/tmp/fs-gpu}"
mkdir -p "$out"
rm -f "$out/BENCHMARKS.md"  # the benchmarks rebuild it from the project's, section by section
export PYTHONUNBUFFERED=1

library="" kernel_test="" expect_dims="" archs="" dims="" jobs="$(nproc)" build_dir="/tmp/fs-gpu-build"
bench=1 sanitizers=1 tests=1 autograd=1 quick="" python_sanitizer="" java_bundle="$repo/.gpu-bundle"
while [ $# -gt 0 ]; do
  case "$1" in
    --library) library="$2"; shift 2 ;;
    --kernel-test) kernel_test="$2"; shift 2 ;;
    --archs) archs="$2"; shift 2 ;;
    --head-dims) dims="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --expect-dims) expect_dims="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --no-bench) bench=0; shift ;;
    --no-sanitizers) sanitizers=0; shift ;;
    --no-autograd) autograd=0; shift ;;
    --bench-only) tests=0; sanitizers=0; autograd=0; bench=1; shift ;;
    --quick) quick="--quick"; shift ;;
    --python-sanitizer) python_sanitizer=1; shift ;;
    --java-bundle) java_bundle="$2"; shift 2 ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)"; exit 2 ;;
  esac
done

summary=()
failed=0
step() {  # name, timeout (s), log file, command...
  local name="$1" limit="$2" log="$3"; shift 3
  local start=$SECONDS
  echo "== $name: $*"
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
  local rc=$?
  local took=$((SECONDS - start))
  tail -n "${TAIL_LINES:-12}" "$log"
  if [ $rc -eq 0 ]; then
    summary+=("ok    $name (${took} s)")
  else
    failed=1
    [ $rc -eq 124 ] && summary+=("FAIL  $name: timed out after ${limit} s") \
                    || summary+=("FAIL  $name: exit $rc (${took} s)")
  fi
  return $rc
}

cd "$repo"
echo "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
echo "torch: $(python3 -c 'import torch; print(torch.__version__, torch.version.cuda)' 2>&1 | tail -1); nvcc: $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*')"

if [ -z "$library" ]; then
  cmake_args=(-S "$repo/cuda-ops/csrc" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DFS_BUILD_JNI=OFF -DFS_CUDA=ON)
  [ -n "$archs" ] && cmake_args+=("-DFS_CUDA_ARCHS=$archs")
  [ -n "$dims" ] && cmake_args+=("-DFS_CUDA_HEAD_DIMS=$dims")
  [ -z "$expect_dims" ] && expect_dims="${dims:-32,64,96,128,256}"
  if ! TAIL_LINES=4 step "build (cmake, -j$jobs)" "${BUILD_TIMEOUT:-1200}" "$out/build.log" \
      env FS_JOBS="$jobs" bash -c 'b="$1"; shift; cmake "$@" && cmake --build "$b" -j "$FS_JOBS"' _ \
      "$build_dir" "${cmake_args[@]}"; then
    grep -E "error|Error" "$out/build.log" | head -20
    printf '%s\n' "${summary[@]}"
    exit 1
  fi
  grep -m1 "flash_sigmoid:" "$out/build.log"
  library="$build_dir/lib/libflash_sigmoid.so"
  [ -z "$kernel_test" ] && kernel_test="$build_dir/cuda_kernel_test"
else
  [ -f "$library" ] || { echo "no library at $library"; exit 2; }
  if [ -z "$kernel_test" ]; then
    for c in "$repo/cuda-ops/target/native-build/cuda_kernel_test" "$(dirname "$library")/../cuda_kernel_test"; do
      if [ -x "$c" ]; then kernel_test="$c"; break; fi
    done
  fi
fi
library="$(cd "$(dirname "$library")" && pwd)/$(basename "$library")"
echo "library: $library ($(du -h "$library" | cut -f1)); kernel test: ${kernel_test:-none}"

if [ $tests -eq 1 ]; then
  if [ -n "$kernel_test" ] && [ -x "$kernel_test" ]; then
    step "cuda_kernel_test" "${KERNEL_TEST_TIMEOUT:-300}" "$out/kernel_test.log" "$kernel_test"
  else
    summary+=("skip  cuda_kernel_test: no binary (pass --kernel-test, or build here)")
  fi
  dims_arg=()
  [ -n "$expect_dims" ] && dims_arg=(--expect-dims "$expect_dims")
  TAIL_LINES=24 step "test_cuda_ops.py" "${OPS_TEST_TIMEOUT:-600}" "$out/test_cuda_ops.log" \
    python3 "$here/test_cuda_ops.py" "$library" "${dims_arg[@]}" $quick
fi
if [ $sanitizers -eq 1 ]; then
  if [ -n "$kernel_test" ] && [ -x "$kernel_test" ]; then
    san_args=("$kernel_test")
    [ -n "$python_sanitizer" ] && san_args+=(--python "$library")
    export SANITIZER_LOG="$out/sanitizers.log"
    TAIL_LINES=6 step "sanitizers" "${SANITIZER_TIMEOUT:-900}" \
      "$out/sanitizers-summary.log" "$here/run_sanitizers.sh" "${san_args[@]}"
    cat "$out/sanitizers-summary.log" >>"$out/sanitizers.log" && rm -f "$out/sanitizers-summary.log"
  else
    summary+=("skip  sanitizers: no cuda_kernel_test binary")
  fi
fi
if [ $tests -eq 1 ]; then
  TAIL_LINES=10 step "test_varlen.py" 300 "$out/varlen.log" python3 "$here/test_varlen.py" "$library"
  TAIL_LINES=22 step "test_decode.py" 300 "$out/decode-test.log" python3 "$here/test_decode.py" "$library"
  TAIL_LINES=14 step "test_long_context.py" 300 "$out/long-context.log" python3 "$here/test_long_context.py" "$library"
fi
if [ $autograd -eq 1 ]; then
  TAIL_LINES=14 step "test_autograd.py" "${AUTOGRAD_TIMEOUT:-600}" "$out/autograd.log" \
    python3 "$here/test_autograd.py" "$library"
fi
if [ $bench -eq 1 ]; then
  TAIL_LINES=0 step "bench_attention.py" "${BENCH_TIMEOUT:-600}" "$out/bench.log" \
    python3 "$repo/benchmarks/gpu/bench_attention.py" "$library" --out "$out/bench.md" \
      --benchmarks-md "$repo/BENCHMARKS.md" ${BENCH_ARGS:-}
  [ -f "$out/bench.md" ] && cat "$out/bench.md"
  TAIL_LINES=0 step "bench_decode.py" "${BENCH_TIMEOUT:-600}" "$out/bench-decode.log" \
    python3 "$repo/benchmarks/gpu/bench_decode.py" "$library" --out "$out/decode.md" --benchmarks-md "$repo/BENCHMARKS.md"
  [ -f "$out/decode.md" ] && cat "$out/decode.md"
fi
if [ -d "$java_bundle" ]; then
  java_args=(--bundle "$java_bundle")
  [ $bench -eq 1 ] && java_args+=(--bench)
  [ $tests -eq 0 ] && java_args+=(--no-tests)
  TAIL_LINES=16 step "run_java_tests.sh" "${JAVA_TIMEOUT:-900}" "$out/java.log" \
    env OUT="$out" "$here/run_java_tests.sh" "${java_args[@]}"
else
  summary+=("skip  run_java_tests.sh: no bundle at $java_bundle (make_java_bundle.sh on the CPU machine)")
fi

echo
echo "== summary (logs in $out)"
printf '%s\n' "${summary[@]}"
exit $failed
