#!/usr/bin/env bash
# Checks that libflash_sigmoid.so binds to PyTorch only through the stable C ABI that DJL's
# libtorch_cpu.so exports, so that one binary loads into DJL's CPU libtorch 2.7.1 and into a CUDA
# PyTorch alike (AbiSymbolsTest checks the imports the same way in `mvn verify`):
#   - every aoti_torch_* function declared in csrc/torch/stable_abi.h is exported by libtorch_cpu.so;
#   - every aoti_torch_* function the library imports is, too (CUDA-only ones, such as
#     aoti_torch_get_current_cuda_stream of libtorch_cuda.so, must be looked up at run time);
#   - the library needs no CUDA library at load time (the CUDA runtime is linked statically).
#
#   cuda-ops/scripts/check-abi-symbols.sh [libtorch_cpu.so] [libflash_sigmoid.so]
# Defaults: DJL's extracted libtorch under ~/.djl.ai/pytorch/, and the library Maven built.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
libtorch="${1:-$(ls -d "$HOME"/.djl.ai/pytorch/*/libtorch_cpu.so 2>/dev/null | head -1)}"
library="${2:-$here/target/classes/native/linux-x86_64/libflash_sigmoid.so}"
[ -f "$libtorch" ] || { echo "no libtorch_cpu.so (run the cuda-ops tests once, or pass its path)"; exit 2; }

exports="$(mktemp)"; declared="$(mktemp)"; imported="$(mktemp)"
trap 'rm -f "$exports" "$declared" "$imported"' EXIT
nm -D --defined-only "$libtorch" | awk '{print $NF}' | grep '^aoti_torch_' | sort -u >"$exports"
grep -o 'aoti_torch_[a-z0-9_]*(' "$here/csrc/torch/stable_abi.h" | tr -d '(' | sort -u >"$declared"
status=0
missing="$(comm -23 "$declared" "$exports")"
if [ -n "$missing" ]; then
  echo "declared in stable_abi.h but not exported by $libtorch:"; echo "$missing"; status=1
fi
echo "stable_abi.h: $(wc -l <"$declared") functions, all exported by $(basename "$(dirname "$libtorch")")/libtorch_cpu.so: $([ $status -eq 0 ] && echo yes || echo NO)"

if [ -f "$library" ]; then
  nm -D --undefined-only "$library" | awk '{print $NF}' | grep '^aoti_torch_' | sort -u >"$imported" || true
  missing="$(comm -23 "$imported" "$exports")"
  if [ -n "$missing" ]; then
    echo "imported by $library but not exported by libtorch_cpu.so:"; echo "$missing"; status=1
  fi
  needed="$(readelf -d "$library" | grep NEEDED | grep -Eo 'lib(cuda|cudart|torch_cuda|c10_cuda)[^]]*' || true)"
  if [ -n "$needed" ]; then
    echo "$library needs CUDA libraries at load time: $needed"; status=1
  fi
  echo "$(basename "$library"): $(wc -l <"$imported") aoti_torch_* imports; CUDA device code: $(readelf -S "$library" | grep -c nv_fatbin >/dev/null && echo yes || echo no); no CUDA library needed at load: $([ -z "$needed" ] && echo yes || echo NO)"
else
  echo "no library at $library: checked the header only"
fi
exit $status
