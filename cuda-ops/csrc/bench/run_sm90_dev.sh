#!/usr/bin/env bash
# Builds sm90_forward_dev on the GPU machine, checks a set of shapes and times the benchmark
# shapes. Usage (from the repository root): cuda-ops/csrc/bench/run_sm90_dev.sh [--time-only]
set -u
S=cuda-ops/csrc
OUTDIR=${OUT:-/tmp/fs-sm90}
mkdir -p "$OUTDIR"
# Variants: name=compiler flags, given as FS_VARIANTS="a=-DX=1 b=-DY=2" (default: one build).
VARIANTS=${FS_VARIANTS:-"default="}
for spec in $VARIANTS; do
  name=${spec%%=*}; flags=${spec#*=}
  nvcc -std=c++17 -O3 -gencode arch=compute_90a,code=sm_90a -Xptxas -v ${flags//,/ } -I $S \
    -o /tmp/sm90_dev_$name $S/bench/sm90_forward_dev.cu $S/flash_sigmoid/cuda/instantiations/*_sm90.cu \
    >"$OUTDIR/build_$name.log" 2>&1 &
done
wait
for spec in $VARIANTS; do
  name=${spec%%=*}
  [ -x /tmp/sm90_dev_$name ] || { echo "build $name failed"; cat "$OUTDIR/build_$name.log"; exit 1; }
  echo "== $name: $(grep -E "C75|Used|stack" "$OUTDIR/build_$name.log" | sort | uniq -c | tr '\n' ' ')"
done
first=${VARIANTS%% *}; BIN=/tmp/sm90_dev_${first%%=*}
cuobjdump -sass $BIN > "$OUTDIR/sass.txt" 2>/dev/null && \
  echo "SASS: $(grep -c HGMMA "$OUTDIR/sass.txt") HGMMA, $(grep -c 'LDL\|STL' "$OUTDIR/sass.txt") local-memory ops"
fail=0
if [ "${1:-}" != "--time-only" ]; then
  while read -r args; do
    timeout 60 $BIN $args || { echo "FAILED: $args"; fail=1; }
  done <<'CASES'
1 1 1 1 1 64 0 bf16
1 2 1 7 13 64 1 bf16
2 4 2 65 129 128 0 bf16
2 4 2 129 65 128 1 bf16
1 8 1 300 300 128 1 fp16
3 6 3 257 511 64 1 fp16
2 4 4 1 1000 128 0 bf16
2 4 4 1000 1 128 1 bf16
1 2 2 1024 1024 128 1 bf16
2 3 1 511 2049 64 0 bf16
CASES
fi
for spec in $VARIANTS; do
  name=${spec%%=*}; B=/tmp/sm90_dev_$name
  [ "$B" = "$BIN" ] || timeout 60 $B 2 4 2 1000 1500 128 1 bf16 || fail=1
  for d in 128 128 64; do
    for c in 0 1; do
      if [ $d = 128 ]; then echo "$name $(timeout 120 $B 4 16 16 4096 4096 128 $c bf16 100)" || fail=1
      else echo "$name $(timeout 120 $B 8 16 16 2048 2048 64 $c bf16 100)" || fail=1; fi
    done
  done
done
exit $fail
