#!/usr/bin/env bash
# Builds sm90_forward_dev on the GPU machine, checks a set of shapes (forward and backward) and
# times the benchmark shapes. From the repository root:
#   [FS_VARIANTS="name=-DFLAG=1,-DOTHER=2 ..."] benchmarks/native/run_sm90_dev.sh [--time-only]
set -u
S=cuda-ops/csrc
OUTDIR=${OUT:-/tmp/fs-sm90}
mkdir -p "$OUTDIR"
VARIANTS=${FS_VARIANTS:-"default="}
# Every source of every variant compiles as its own nvcc process, nproc at a time (one nvcc
# compiles its files one after the other: minutes for a variant), then each variant links.
SOURCES="benchmarks/native/sm90_forward_dev.cu $(ls $S/flash_sigmoid/cuda/instantiations/*_sm90.cu) \
  $(ls $S/flash_sigmoid/cuda/instantiations/bwd_hdim{64,128}_{bf16,fp16}.cu)"
compile() {  # variant name, flags, source
  nvcc -std=c++17 -O3 -gencode arch=compute_90a,code=sm_90a -Xptxas -v $2 -I $S -c \
    -o /tmp/sm90_dev_obj_$1/$(basename $3 .cu).o $3 >/tmp/sm90_dev_obj_$1/$(basename $3 .cu).log 2>&1
}
start=$SECONDS
for spec in $VARIANTS; do
  name=${spec%%=*}; flags=${spec#*=}
  rm -rf /tmp/sm90_dev_obj_$name /tmp/sm90_dev_$name && mkdir -p /tmp/sm90_dev_obj_$name
  for src in $SOURCES; do
    while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n; done
    compile "$name" "${flags//,/ }" "$src" &
  done
done
wait
for spec in $VARIANTS; do
  name=${spec%%=*}
  cat /tmp/sm90_dev_obj_$name/*.log > "$OUTDIR/build_$name.log"
  nvcc -gencode arch=compute_90a,code=sm_90a -o /tmp/sm90_dev_$name /tmp/sm90_dev_obj_$name/*.o \
    >>"$OUTDIR/build_$name.log" 2>&1
done
echo "built in $((SECONDS - start)) s"
for spec in $VARIANTS; do
  name=${spec%%=*}
  [ -x /tmp/sm90_dev_$name ] || { echo "build $name failed"; tail -40 "$OUTDIR/build_$name.log"; exit 1; }
  grep -E "C75|spill" "$OUTDIR/build_$name.log" | grep -v " 0 bytes spill stores" | sort | uniq -c | sed "s/^/$name: /"
done
first=${VARIANTS%% *}; BIN=/tmp/sm90_dev_${first%%=*}
cuobjdump -sass $BIN > "$OUTDIR/sass.txt" 2>/dev/null && \
  echo "SASS: $(grep -c HGMMA "$OUTDIR/sass.txt") HGMMA"
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
2 3 1 511 2049 64 0 bf16
1 1 1 1 1 64 0 bf16 0 bwd
1 2 1 7 13 64 1 bf16 0 bwd
2 4 2 65 129 128 0 bf16 0 bwd
2 4 2 129 65 128 1 bf16 0 bwd
1 8 1 300 300 128 1 fp16 0 bwd
3 6 3 257 511 64 1 fp16 0 bwd
2 4 4 1 1000 128 0 bf16 0 bwd
2 4 4 1000 1 128 1 bf16 0 bwd
2 3 1 511 700 64 0 bf16 0 bwd
1 4 2 1024 1024 128 1 bf16 0 bwd
1 4 2 1024 1024 128 0 fp16 0 bwd
CASES
fi
# Timing: FS_TIME="fwd bwd" (default both), FS_REPS rounds over the variants, interleaved so that
# clock drift hits every variant alike.
for rep in $(seq 1 ${FS_REPS:-1}); do
  for spec in $VARIANTS; do
    name=${spec%%=*}; B=/tmp/sm90_dev_$name
    for c in ${FS_CAUSAL:-0 1}; do
      for what in ${FS_TIME:-fwd bwd}; do
        extra=""; iters=100; [ $what = bwd ] && { extra=bwd; iters=30; }
        echo "$name $(timeout 120 $B 4 16 16 4096 4096 128 $c bf16 $iters $extra)" || fail=1
        [ -n "${FS_D128_ONLY:-}" ] || echo "$name $(timeout 120 $B 8 16 16 2048 2048 64 $c bf16 $iters $extra)" || fail=1
      done
    done
  done
done
exit $fail
