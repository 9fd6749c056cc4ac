"""Decode latency: one query per sequence against a KV cache, bf16, H=32 query heads on G=8 kv heads,
D=128, B in {1, 8, 64}, cache lengths {1k, 8k, 32k}: flash_sigmoid::forward (which runs the
split-KV decode kernel at these shapes; checked with the profiler) against PyTorch's softmax SDPA
with each backend that accepts the shape (FLASH, EFFICIENT, CUDNN; GQA through enable_gqa).
Two measures, both with L2 flushed before each call by reading a 256 MB buffer (K and V come from
HBM; a flush that writes, like do_bench's zero_(), leaves ~50 MB of dirty lines whose write-back
then competes with the measured reads): eager, CUDA events around each call (host overhead shows
when a call's host work outlasts the flush), median of 50 calls, median of --rounds interleaved
rounds; and GPU span, from the profiler, first kernel start to last kernel end of one call
(median of 20), which leaves host overhead out. Prints a markdown table (also to --out) and, with --benchmarks-md, writes its BENCHMARKS.md
section.

    python3 benchmarks/gpu/bench_decode.py <libflash_sigmoid.so> [--out decode.md]
                                               [--benchmarks-md BENCHMARKS.md]
"""
import argparse
import math
import os
import statistics
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.profiler import ProfilerActivity, profile

# The GPU tests' helpers (reference.py) live in cuda-ops/gpu-tests.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "cuda-ops", "gpu-tests"))
from benchmarks_md import record  # noqa: E402
from reference import cuda_kernels_run  # noqa: E402

BACKENDS = [("FLASH", SDPBackend.FLASH_ATTENTION), ("EFFICIENT", SDPBackend.EFFICIENT_ATTENTION),
            ("CUDNN", SDPBackend.CUDNN_ATTENTION)]
HBM_TBS = 4.8  # the H200's HBM3e bandwidth


FLUSH = None


def flush_l2():
    global FLUSH
    if FLUSH is None:
        FLUSH = torch.ones(64 << 20, dtype=torch.float32, device="cuda")  # 256 MB
    return FLUSH.sum()


def eager_time(fn, calls=50):
    """Median of CUDA-event times (ms) of single calls, each after an L2 flush."""
    fn()
    times = []
    for _ in range(calls):
        flush_l2()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        times.append((start, end))
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in times)


def gpu_span(fn, calls=20):
    """Median over calls of (last kernel end - first kernel start) of one call, in ms, with the
    L2 flushed (by a kernel left out of the span) before each call."""
    cuda = torch.autograd.DeviceType.CUDA
    flush_l2()
    with profile(activities=[ProfilerActivity.CUDA]) as p0:
        flush_l2()
        torch.cuda.synchronize()
    flush_names = {e.name for e in p0.events() if e.device_type == cuda}
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            flush_l2()
            fn()
        torch.cuda.synchronize()
    events = sorted((e for e in prof.events() if e.device_type == cuda), key=lambda e: e.time_range.start)
    spans, cur = [], None
    for e in events:
        if e.name in flush_names:
            if cur:
                spans.append(cur[1] - cur[0])
            cur = None
            continue
        cur = [e.time_range.start, e.time_range.end] if cur is None else \
            [min(cur[0], e.time_range.start), max(cur[1], e.time_range.end)]
    if cur:
        spans.append(cur[1] - cur[0])
    return statistics.median(spans) / 1e3 if spans else None


def time_sdpa(backend, q, k, v, span=False):
    try:
        with sdpa_kernel(backend):
            fn = lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True)  # noqa: E731
            fn()
            torch.cuda.synchronize()
            return gpu_span(fn) if span else eager_time(fn)
    except RuntimeError:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("library")
    ap.add_argument("--batches", default="1,8,64")
    ap.add_argument("--caches", default="1024,8192,32768")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT") or ".", "decode.md"))
    ap.add_argument("--benchmarks-md", default=None,
                    help="a BENCHMARKS.md whose gpu-decode section to rewrite into $OUT/BENCHMARKS.md")
    args = ap.parse_args()
    torch.ops.load_library(args.library)
    gen = torch.Generator(device="cuda").manual_seed(torch.seed() % (2**31))
    h, g, d = 32, 8, 128
    rows, failed = [], False
    for b in (int(x) for x in args.batches.split(",")):
        for n in (int(x) for x in args.caches.split(",")):
            q = torch.randn(b, 1, h, d, generator=gen, device="cuda").bfloat16()
            k = torch.randn(b, n, g, d, generator=gen, device="cuda").bfloat16()
            v = torch.randn(b, n, g, d, generator=gen, device="cuda").bfloat16()
            ours_fn = lambda: torch.ops.flash_sigmoid.forward(q, k, v, d ** -0.5, -math.log(n), False)  # noqa: E731
            if not any("decode_kernel" in name for name in cuda_kernels_run(ours_fn)):
                print(f"B={b} cache={n}: the decode kernel did not run", file=sys.stderr)
                failed = True
            # SDPA takes (B, heads, T, D).
            qs, ks, vs = (x.transpose(1, 2).contiguous() for x in (q, k, v))
            runs = []
            for _ in range(max(1, args.rounds)):
                ours = eager_time(ours_fn)
                runs.append([ours] + [time_sdpa(backend, qs, ks, vs) for _, backend in BACKENDS])
            med = [None if any(r[i] is None for r in runs) else statistics.median(r[i] for r in runs)
                   for i in range(1 + len(BACKENDS))]
            best = min((t for t in med[1:] if t is not None), default=None)
            spans = [gpu_span(ours_fn)] + [time_sdpa(backend, qs, ks, vs, span=True) for _, backend in BACKENDS]
            best_span = min((t for t in spans[1:] if t is not None), default=None)
            tbs = 2 * b * n * g * d * 2 / (spans[0] * 1e-3) / 1e12
            rows.append([b, n, med[0] * 1e3] + [None if t is None else t * 1e3 for t in med[1:]]
                        + [None if best is None else best / med[0], spans[0] * 1e3,
                           None if best_span is None else best_span * 1e3,
                           None if best_span is None else best_span / spans[0], tbs, 100 * tbs / HBM_TBS])
            print(f"done B={b} cache={n}", file=sys.stderr, flush=True)
    fmt = lambda x, f: "n/a" if x is None else format(x, f)  # noqa: E731
    lines = [f"Decode step (Tq = 1), bf16, H=32 query heads on G=8 kv heads, D=128, b = -ln n, "
             f"{torch.cuda.get_device_name()}, torch {torch.__version__}. Times in microseconds, L2 flushed "
             f"before each call (by reading 256 MB). Eager: CUDA events around each call, median of 50 calls, median of {max(1, args.rounds)} interleaved rounds; "
             f"GPU span: first kernel start to last kernel end of one call (profiler, median of 20). "
             f"x: the fastest SDPA backend's time over ours (above 1: ours faster). TB/s: K and V bytes "
             f"over our GPU span; % of {HBM_TBS} TB/s HBM.", "",
             "| B | cache | ours eager | SDPA FLASH eager | SDPA EFFICIENT eager | SDPA CUDNN eager | x eager "
             "| ours GPU span | best SDPA GPU span | x GPU span | ours TB/s | % of HBM |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {fmt(r[2], '.1f')} | {fmt(r[3], '.1f')} | {fmt(r[4], '.1f')} | "
                     f"{fmt(r[5], '.1f')} | {fmt(r[6], '.2f')} | {fmt(r[7], '.1f')} | {fmt(r[8], '.1f')} | "
                     f"{fmt(r[9], '.2f')} | {fmt(r[10], '.2f')} | {fmt(r[11], '.0f')} |")
    table = "\n".join(lines) + "\n"
    print(table)
    with open(args.out, "w") as f:
        f.write(table)
    if args.benchmarks_md:
        record(args.benchmarks_md, "gpu-decode", "GPU decode step, bf16", "bench_decode.py", table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
