#!/usr/bin/env bash
# compute-sanitizer's four tools over the native CUDA kernel test (cuda_kernel_test --small), and
# optionally memcheck over a tiny PyTorch harness of the ops. Exit status 1 on any report.
#
#   cuda-ops/gpu-tests/run_sanitizers.sh <cuda_kernel_test> [--python <libflash_sigmoid.so>]
#
# The tools' output goes to one log, ${OUT:-/tmp/fs-gpu}/sanitizers.log (or $SANITIZER_LOG).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
test_bin="${1:?usage: run_sanitizers.sh <cuda_kernel_test> [--python <libflash_sigmoid.so>]}"
shift
library=""
if [ "${1:-}" = "--python" ]; then library="${2:?--python needs the library}"; fi
out="${OUT:-/tmp/fs-gpu}"
mkdir -p "$out"
combined="${SANITIZER_LOG:-$out/sanitizers.log}"
: >"$combined"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sanitizer="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"
if [ ! -x "$sanitizer" ]; then echo "compute-sanitizer not found"; exit 1; fi

status=0
summary=()
run_tool() {  # name, then the command line after the sanitizer's options
  local tool="$1"; shift
  local log="$tmp/$tool${label:-}.log"
  local extra=()
  case "$tool" in
    memcheck) [ -z "${label:-}" ] && extra=(--leak-check full) ;;  # PyTorch keeps its cache to the end
  esac
  local start=$SECONDS
  "$sanitizer" --tool "$tool" "${extra[@]}" --error-exitcode 99 --print-limit 20 "$@" >"$log" 2>&1
  local rc=$?
  local errors
  errors=$(grep -Eo 'ERROR SUMMARY: [0-9]+ error' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
  if [ $rc -ne 0 ] || [ "${errors:-0}" != "0" ]; then
    status=1
    summary+=("FAIL $tool${label:-} (exit $rc, ${errors:-?} errors, $((SECONDS - start)) s): see $combined")
    tail -30 "$log"
  else
    summary+=("ok   $tool${label:-} ($((SECONDS - start)) s)")
  fi
  { echo "===== compute-sanitizer --tool $tool ${extra[*]} $* (exit $rc)"; cat "$log"; } >>"$combined"
}

for tool in memcheck racecheck initcheck synccheck; do
  label="" run_tool "$tool" "$test_bin" --small
done
if [ -n "$library" ]; then
  # The ops through PyTorch: memcheck only (PyTorch's caching allocator defeats initcheck).
  label="-python" run_tool memcheck python3 "$here/sanitize_harness.py" "$library"
fi
printf '%s\n' "${summary[@]}"
exit $status
