"""Checks the split-KV decode kernel behind flash_sigmoid::forward on CUDA (at most 16 query rows
per kv head, 256 keys or more, head dim 64 or 128) against the float64 reference on fresh random
inputs: GQA/MQA/MHA, Tq of 1 to 16, causal (bottom-right), per-sequence key lengths, head bias,
ALiBi over long key ranges (distant keys far in the sigmoid's negative tail), long caches in
float16 (weights near 1/n), and caches read in place from a larger preallocated buffer. Also checks
that the profiler sees the decode kernel run (not a fallback) and that results are bit-identical
between calls (the partial sums are added in a fixed order).

    python3 cuda-ops/gpu-tests/test_decode.py <libflash_sigmoid.so>
"""
import math
import sys

import torch

from reference import alibi_slopes, cuda_kernels_run, reference, rel_error

TOL = {torch.bfloat16: 1e-2, torch.float16: 3e-3}


def main():
    torch.ops.load_library(sys.argv[1])
    ops = torch.ops.flash_sigmoid
    seed = torch.seed() % (2**31)
    gen = torch.Generator(device="cuda").manual_seed(seed)
    print(f"seed {seed}")
    failures = 0
    # (B, Tq, H, G, Tk, D, causal, cache capacity or None)
    cases = [(1, 1, 32, 8, 4000, 128, False, None), (3, 1, 32, 8, 513, 128, True, None),
             (2, 4, 16, 4, 2000, 64, True, None), (2, 2, 8, 8, 1500, 64, False, None),
             (1, 16, 4, 4, 700, 128, True, None), (1, 1, 8, 1, 300, 64, False, None),
             (2, 1, 16, 1, 32768, 128, False, None), (4, 1, 32, 8, 8192, 128, False, 9000),
             (2, 3, 12, 4, 256, 128, True, 1000)]
    for b, tq, h, g, tk, d, causal, capacity in cases:
        for dtype in (torch.bfloat16, torch.float16):
            tol = TOL[dtype]
            mk = lambda *s: torch.randn(*s, generator=gen, device="cuda").to(dtype)  # noqa: E731
            q = mk(b, tq, h, d)
            if capacity is None:
                k, v = mk(b, tk, g, d), mk(b, tk, g, d)
            else:  # the first tk positions of a preallocated cache, read where they are
                k, v = mk(b, capacity, g, d)[:, :tk], mk(b, capacity, g, d)[:, :tk]
            scale, bias = d ** -0.5, -math.log(tk)
            torch.full((64 << 20,), float("nan"), device="cuda")  # poison the allocator's blocks
            out = ops.forward(q, k, v, scale, bias, causal)
            ref = reference(q, k, v, scale, bias, causal)
            e = rel_error(out, ref)
            ok = e <= tol and bool(torch.isfinite(out).all())
            ok = ok and torch.equal(out, ops.forward(q, k, v, scale, bias, causal))
            names = cuda_kernels_run(lambda: ops.forward(q, k, v, scale, bias, causal))
            ran_decode = any("decode_kernel" in n for n in names)
            ok = ok and ran_decode
            # Head bias, ALiBi and per-sequence key lengths (one sequence keeps every key).
            hb = torch.randn(h, generator=gen, device="cuda")
            slopes = alibi_slopes(h, device="cuda")
            lengths = torch.randint(1, tk + 1, (b,), generator=gen, device="cuda").to(torch.int32)
            lengths[0] = tk
            none = torch.empty(0, device="cuda")
            ext = ops.forward_varlen(q, k, v, scale, bias, causal, hb, slopes, none.bool(), lengths)
            keep = (torch.arange(tk, device="cuda").view(1, tk) < lengths.view(b, 1)).view(b, 1, 1, tk)
            ref_ext = reference(q, k, v, scale, bias, causal, hb, slopes, keep)
            e2 = rel_error(ext, ref_ext)
            # The ALiBi rows of the sequence with every key, alone: the output is dominated by
            # near keys, but a steep head's distant keys must not vanish early either.
            e3 = rel_error(ext[0], ref_ext[0])
            ok = ok and e2 <= tol and e3 <= tol and bool(torch.isfinite(ext).all())
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} B={b} Tq={tq} H={h} G={g} Tk={tk} D={d} causal={causal} "
                  f"{'cache view ' if capacity else ''}{str(dtype)[6:]}: plain {e:.2e}, "
                  f"bias+alibi+lengths {e2:.2e} (full sequence {e3:.2e}), tol {tol}"
                  f"{'' if ran_decode else '; decode kernel NOT run: ' + ', '.join(sorted(names))}")
    print("decode checks:", "all passed" if failures == 0 else f"{failures} FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
