#!/usr/bin/env bash
# Builds sm90_forward_dev on the GPU machine, checks a set of shapes (forward and backward) and
# times the benchmark shapes, interleaving the variants; prints each variant's instruction mix and,
# last, a table of medians. From the repository root:
#   [FS_VARIANTS="name=-DFLAG=1,-DOTHER=2 ..."] [FS_TIME="fwd bwd"] [FS_REPS=N] [FS_CAUSAL="0 1"]
#   [FS_D128_ONLY=1] [FS_CHECK_ALL=1] [FS_CLOCKS=1] [FS_SIGMOID_RATE=1] \
#   benchmarks/native/run_sm90_dev.sh [--time-only]
# (a variant built with -DFS_DEV_SIGMOID=0, no sigmoid, fails the checks by design).
set -u
S=cuda-ops/csrc
OUTDIR=${OUT:-/tmp/fs-sm90}
mkdir -p "$OUTDIR" && rm -f "$OUTDIR/times.txt"
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
# Few files under $OUTDIR (the device tool brings back only a handful): one build log and one
# disassembly (the bf16 Hopper kernels of every variant) for all variants.
: >"$OUTDIR/build.log"; : >"$OUTDIR/sass.txt"
for spec in $VARIANTS; do
  name=${spec%%=*}
  { echo "=== $name"; cat /tmp/sm90_dev_obj_$name/*.log; } > /tmp/sm90_dev_obj_$name/all.txt
  nvcc -gencode arch=compute_90a,code=sm_90a -o /tmp/sm90_dev_$name /tmp/sm90_dev_obj_$name/*.o \
    >>/tmp/sm90_dev_obj_$name/all.txt 2>&1
  cat /tmp/sm90_dev_obj_$name/all.txt >>"$OUTDIR/build.log"
done
echo "built in $((SECONDS - start)) s"
for spec in $VARIANTS; do
  name=${spec%%=*}
  [ -x /tmp/sm90_dev_$name ] || { echo "build $name failed"; tail -40 /tmp/sm90_dev_obj_$name/all.txt; exit 1; }
  grep -E "C75|spill" /tmp/sm90_dev_obj_$name/all.txt | grep -v " 0 bytes spill stores" | sort | uniq -c | sed "s/^/$name: /"
done
first=${VARIANTS%% *}
# Instruction mix of each variant's bf16 forwards (per kernel: MUFU ops, FMA-pipe float ops,
# conversions, integer ops), from the disassembly.
for spec in $VARIANTS; do
  name=${spec%%=*}
  cuobjdump -sass /tmp/sm90_dev_$name 2>/dev/null | awk -v name=$name -v out="$OUTDIR/sass.txt" '
    /Function :/ { f = ($0 ~ /forward_kernelI13__nv_bfloat16Li64E/) ? "D64" : ($0 ~ /forward_kernelI13__nv_bfloat16Li128E/) ? "D128" : ""
                   keep = ($0 ~ /sm90.*(forward|backward)_kernelI13__nv_bfloat16/); if (keep) print "=== " name " " $0 >> out; next }
    keep { print >> out }
    f != "" && /MUFU/ { m[f]++ } f != "" && /FFMA|FMUL|FADD|FMNMX/ { a[f]++ }
    f != "" && /F2FP/ { c[f]++ } f != "" && /IADD|LEA|SHF|IMAD|LOP3/ { i[f]++ } f != "" && /HGMMA/ { g[f]++ }
    END { for (k in m) printf "%s %s: MUFU %d, float %d, F2FP %d, int %d, HGMMA %d\n", name, k, m[k], a[k], c[k], i[k], g[k] }'
done
# Checks against the harness's float32 reference: forward shapes, then backward ones.
CASES="1 1 1 1 1 64 0 bf16
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
1 4 2 1024 1024 128 0 fp16 0 bwd"
fail=0
check() {  # variant name, print every result (1) or failures only
  local n=0 line
  while read -r args; do
    line=$(timeout 60 /tmp/sm90_dev_$1 $args) || { echo "FAILED $1: $args $line"; fail=1; }
    [ "$2" = 1 ] && echo "$line"
    n=$((n + 1))
  done <<<"$CASES"
  echo "$1: $n checks run"
}
# The first variant's checks unless --time-only; FS_CHECK_ALL=1: every variant's.
[ "${1:-}" != "--time-only" ] && check "${first%%=*}" 1
if [ -n "${FS_CHECK_ALL:-}" ]; then
  for spec in $VARIANTS; do
    [ "$spec" = "$first" ] && [ "${1:-}" != "--time-only" ] && continue
    check "${spec%%=*}" 0
  done
fi
# FS_SIGMOID_RATE=1: the sigmoid forms' throughput alone (first variant's binary).
[ -n "${FS_SIGMOID_RATE:-}" ] && { /tmp/sm90_dev_${first%%=*} sigmoid-rate || fail=1; }
# FS_CLOCKS=1: each variant's forward for 3000 launches per shape while nvidia-smi samples the SM
# clock and the board power (the card's power limit can lower the clock under load: work on any
# pipe then costs time); medians over the samples within 70% of the run's peak power.
if [ -n "${FS_CLOCKS:-}" ]; then
  for spec in $VARIANTS; do
    name=${spec%%=*}
    for shape in "4 16 16 4096 4096 128" "8 16 16 2048 2048 64"; do
      nvidia-smi --query-gpu=clocks.sm,power.draw --format=csv,noheader,nounits -lms 50 >"$OUTDIR/smi.csv" &
      smi=$!
      line=$(timeout 120 /tmp/sm90_dev_$name $shape 0 bf16 3000)
      kill $smi; wait $smi 2>/dev/null
      python3 - "$OUTDIR/smi.csv" "$name" "$line" <<'PY'
import statistics, sys
rows = [tuple(float(x) for x in l.split(",")) for l in open(sys.argv[1]) if l.count(",") == 1]
peak = max(w for _, w in rows)
busy = [(c, w) for c, w in rows if w >= 0.7 * peak]
t = sys.argv[3].split("time=")[1].split(" ms")[0]
d = sys.argv[3].split("D=")[1].split()[0]
print(f"clocks {sys.argv[2]} D={d}: {t} ms, SM clock {statistics.median(c for c, _ in busy):.0f} MHz, "
      f"power {statistics.median(w for _, w in busy):.0f} W ({len(busy)} samples)")
PY
    done
  done
fi
# Timing: FS_TIME="fwd bwd" (default both), FS_REPS rounds over the variants, interleaved so that
# clock drift hits every variant alike.
for rep in $(seq 1 ${FS_REPS:-1}); do
  for spec in $VARIANTS; do
    name=${spec%%=*}; B=/tmp/sm90_dev_$name
    for c in ${FS_CAUSAL:-0 1}; do
      for what in ${FS_TIME:-fwd bwd}; do
        extra=""; iters=100; [ $what = bwd ] && { extra=bwd; iters=30; }
        echo "$name $(timeout 120 $B 4 16 16 4096 4096 128 $c bf16 $iters $extra)" | tee -a "$OUTDIR/times.txt" || fail=1
        [ -n "${FS_D128_ONLY:-}" ] || echo "$name $(timeout 120 $B 8 16 16 2048 2048 64 $c bf16 $iters $extra)" | tee -a "$OUTDIR/times.txt" || fail=1
      done
    done
  done
done
# Last, the medians over the rounds: one line per variant, one column per timed shape.
[ -f "$OUTDIR/times.txt" ] && python3 - "$OUTDIR/times.txt" <<'PY'
import re, statistics, sys
times, names, keys = {}, [], []
for line in open(sys.argv[1]):
    m = re.match(r"(\S+) (\S+) .*D=(\d+) causal=(\d).* time=([\d.]+) ms", line)
    if not m:
        continue
    name, key = m[1], f"{m[2]} D={m[3]}{' causal' if m[4] == '1' else ''}"
    names += [name] * (name not in names)
    keys += [key] * (key not in keys)
    times.setdefault((name, key), []).append(float(m[5]))
print("medians, ms".ljust(12) + "".join(f"{k:>20}" for k in keys))
for n in names:
    print(n.ljust(12) + "".join(f"{statistics.median(times[n, k]):>20.3f}" if (n, k) in times else " " * 20 for k in keys))
PY
exit $fail
