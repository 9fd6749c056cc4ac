#!/usr/bin/env bash
# Formats the C++ and CUDA sources of cuda-ops/csrc with clang-format and the repository's
# .clang-format; --check lists the files that differ and exits 1 instead. Generated files
# (wgmma_ops.inc) are left alone. Needs clang-format 14 (Debian bookworm's; other versions may
# format a few constructs differently).
set -euo pipefail
cd "$(dirname "$0")/../.."
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
mapfile -t files < <(git ls-files -co --exclude-standard 'cuda-ops/csrc/*.cpp' 'cuda-ops/csrc/*.h' \
    'benchmarks/native/*.cpp' 'benchmarks/native/*.cu' \
    'cuda-ops/csrc/*.cu' 'cuda-ops/csrc/*.c')
if [ "${1:-}" = "--check" ]; then
  bad=0
  for f in "${files[@]}"; do
    if ! diff -q <("$CLANG_FORMAT" --style=file "$f") "$f" >/dev/null; then
      echo "not formatted: $f"
      bad=1
    fi
  done
  [ $bad -eq 0 ] && echo "clang-format: ${#files[@]} files formatted"
  exit $bad
fi
"$CLANG_FORMAT" --style=file -i "${files[@]}"
echo "clang-format: formatted ${#files[@]} files"
