"""The Python side of GpuBlockBenchmark's JNI comparison: times torch.ops.flash_sigmoid.forward on
(B, T, H, D) float16 inputs exactly as the Java benchmark times FlashSigmoid.forward (rounds of
`calls` calls, then one wait for the device; the median per call), and prints "B,T,H,D ms" a shape.

    python3 benchmarks/gpu/op_from_python.py <libflash_sigmoid.so> --shapes 4,4096,16,128;8,2048,16,64
                                             [--rounds 15] [--calls 10]
"""
import argparse
import math
import statistics
import time

import torch


def per_call_ms(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3 / calls


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("library")
    parser.add_argument("--shapes", required=True)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()
    torch.ops.load_library(args.library)
    for shape in args.shapes.split(";"):
        b, t, h, d = (int(x) for x in shape.split(","))
        q, k, v = (torch.randn(b, t, h, d, device="cuda", dtype=torch.float16) for _ in range(3))
        scale, bias = 1 / math.sqrt(d), -math.log(t)

        def call():
            torch.ops.flash_sigmoid.forward(q, k, v, scale, bias, False)

        times = [per_call_ms(call, args.calls) for _ in range(args.rounds + 2)][2:]
        print(f"{shape} {statistics.median(times):.4f}", flush=True)


if __name__ == "__main__":
    main()
