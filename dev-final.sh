#!/usr/bin/env bash
R=$OUT; export OUT=/tmp/fsgpu; mkdir -p $OUT
cuda-ops/gpu-tests/run_all.sh --library cuda-ops/target/classes/native/linux-x86_64/libflash_sigmoid.so --quick 2>&1 | tail -c 9000
for f in BENCHMARKS.md bench.md decode.md sanitizers.log autograd.log kernel_test.log test_cuda_ops.log long-context.log; do cp $OUT/$f $R/ 2>/dev/null; done
