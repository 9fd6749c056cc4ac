"""FlashSigmoid on CUDA against PyTorch's softmax SDPA (FlashAttention-2 and cuDNN backends), bf16,
forward and backward, causal and not, in one run on the GPU machine:

    python3 benchmarks/gpu/bench_attention.py <libflash_sigmoid.so> [--shapes 4,16,4096,128;8,16,2048,64]
                                                  [--warmup 25] [--rep 200] [--out bench.md]

Times are medians of triton.testing.do_bench (CUDA events; warm-up and repetitions in ms; L2
flushed before each call) on fresh random inputs. Ours: torch.ops.flash_sigmoid.forward/backward
on (B, N, H, D) contiguous inputs. SDPA: scaled_dot_product_attention on (B, H, N, D) inputs under
sdpa_kernel(FLASH_ATTENTION) or sdpa_kernel(CUDNN_ATTENTION); its backward is timed as
out.backward(g, retain_graph=True) alone. FLOPs: 4*B*H*N^2*D forward (half when causal), 2.5x that
backward. "x FLASH" and "x cuDNN" are their time over ours (above 1: ours is faster). Writes the
markdown table to --out (default $OUT/bench.md, else ./bench.md).
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from triton.testing import do_bench

# The GPU tests' helpers (reference.py) live in cuda-ops/gpu-tests.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "cuda-ops", "gpu-tests"))
from benchmarks_md import record  # noqa: E402

PEAK_TFLOPS = 790.0  # a bf16 8192^3 matrix product on this H200 (FACTS.md)


def flops(b, h, n, d, causal, backward):
    f = 4.0 * b * h * n * n * d
    if causal:
        f /= 2
    return f * 2.5 if backward else f


def bench(fn, args, grad_to_none=None):
    return do_bench(fn, warmup=args.warmup, rep=args.rep, grad_to_none=grad_to_none, return_mode="median")


def time_ours(b, h, n, d, causal, args, gen):
    q, k, v, g = (torch.randn(b, n, h, d, generator=gen, device="cuda").bfloat16() for _ in range(4))
    scale, bias = d ** -0.5, -math.log(n)
    fwd = lambda: torch.ops.flash_sigmoid.forward(q, k, v, scale, bias, causal)  # noqa: E731
    bwd = lambda: torch.ops.flash_sigmoid.backward(g, q, k, v, scale, bias, causal)  # noqa: E731
    out = {}
    for name, fn in (("fwd", fwd), ("bwd", bwd)):
        try:
            fn()
            torch.cuda.synchronize()
            out[name] = bench(fn, args)
        except RuntimeError as e:
            out[name] = None
            print(f"ours {name} B{b} H{h} N{n} D{d}: {str(e).splitlines()[0][:200]}", file=sys.stderr)
    return out


def time_sdpa(backend, b, h, n, d, causal, args, gen):
    q, k, v = (torch.randn(b, h, n, d, generator=gen, device="cuda").bfloat16().requires_grad_() for _ in range(3))
    g = torch.randn(b, h, n, d, generator=gen, device="cuda").bfloat16()
    out = {"fwd": None, "bwd": None}
    try:
        with sdpa_kernel(backend):
            fwd = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # noqa: E731
            fwd()
            torch.cuda.synchronize()
            with torch.no_grad():
                out["fwd"] = bench(fwd, args)
            o = fwd()
            bwd = lambda: o.backward(g, retain_graph=True)  # noqa: E731
            bwd()
            torch.cuda.synchronize()
            out["bwd"] = bench(bwd, args, grad_to_none=[q, k, v])
    except RuntimeError as e:
        print(f"SDPA {backend} B{b} H{h} N{n} D{d}: {str(e).splitlines()[0][:200]}", file=sys.stderr)
    return out


def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def median_of(values):
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


def spread_of(values):
    values = [v for v in values if v is not None]
    return None if len(values) < 2 else 100 * (max(values) - min(values)) / min(values)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("library")
    ap.add_argument("--shapes", default="4,16,4096,128;8,16,2048,64", help="B,H,N,D;B,H,N,D;...")
    ap.add_argument("--causal", default="both", choices=["both", "yes", "no"])
    ap.add_argument("--warmup", type=float, default=25, help="ms")
    ap.add_argument("--rep", type=float, default=200, help="ms")
    ap.add_argument("--out", default=None, help="markdown output (default $OUT/bench.md)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds over all kernels, interleaved; the table gives the median round")
    ap.add_argument("--benchmarks-md", default=None,
                    help="a BENCHMARKS.md whose gpu-attention section to rewrite; the result goes "
                         "to $OUT/BENCHMARKS.md (copy it back over the project's)")
    args = ap.parse_args()

    torch.ops.load_library(args.library)
    gen = torch.Generator(device="cuda").manual_seed(torch.seed() % (2**31))
    shapes = [tuple(int(x) for x in s.split(",")) for s in args.shapes.replace(" ", "").split(";") if s]
    causals = {"both": [False, True], "yes": [True], "no": [False]}[args.causal]
    rows = []
    for b, h, n, d in shapes:
        for causal in causals:
            # Rounds interleave the three kernels, so that clock drift under load hits all alike.
            runs = [(time_ours(b, h, n, d, causal, args, gen),
                     time_sdpa(SDPBackend.FLASH_ATTENTION, b, h, n, d, causal, args, gen),
                     time_sdpa(SDPBackend.CUDNN_ATTENTION, b, h, n, d, causal, args, gen))
                    for _ in range(max(1, args.rounds))]
            ours, fa, cu = ({pas: median_of([r[i][pas] for r in runs]) for pas in ("fwd", "bwd")}
                            for i in range(3))
            spread = {pas: spread_of([r[0][pas] for r in runs]) for pas in ("fwd", "bwd")}
            for pas in ("fwd", "bwd"):
                f = flops(b, h, n, d, causal, pas == "bwd")
                t = ours[pas]
                tflops = None if t is None else f / (t * 1e-3) / 1e12
                rows.append([
                    f"{b}, {h}, {n}, {d}", "yes" if causal else "no", pas,
                    fmt(t, ".3f"), fmt(tflops, ".0f"),
                    fmt(fa[pas], ".3f"), fmt(cu[pas], ".3f"),
                    fmt(None if t is None or fa[pas] is None else fa[pas] / t, ".2f"),
                    fmt(None if t is None or cu[pas] is None else cu[pas] / t, ".2f"),
                    fmt(None if tflops is None else 100 * tflops / PEAK_TFLOPS, ".1f"),
                    fmt(spread[pas], ".1f"),
                ])
            print(f"done B{b} H{h} N{n} D{d} causal={causal}", file=sys.stderr, flush=True)

    header = ["B, H, N, D", "causal", "pass", "ours (ms)", "ours TFLOP/s", "SDPA FLASH (ms)",
              "SDPA cuDNN (ms)", "x FLASH", "x cuDNN", "% of 790 TFLOP/s", "ours spread %"]
    lines = [
        f"FlashSigmoid vs softmax SDPA, bf16, {torch.cuda.get_device_name()}, torch {torch.__version__}; "
        f"do_bench medians (warmup {args.warmup:g} ms, rep {args.rep:g} ms), median of {max(1, args.rounds)} "
        f"interleaved rounds; spread: (slowest - fastest) / fastest of our rounds. x FLASH / x cuDNN: "
        f"their time over ours (above 1: ours faster).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    table = "\n".join(lines) + "\n"
    print(table)
    path = args.out or os.path.join(os.environ.get("OUT") or ".", "bench.md")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(table)
    print("wrote", path)
    if args.benchmarks_md:
        record(args.benchmarks_md, "gpu-attention", "GPU attention core, bf16", "bench_attention.py", table)
    return 0 if all(r[3] != "n/a" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
