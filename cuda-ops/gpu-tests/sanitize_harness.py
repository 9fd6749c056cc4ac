"""A few small calls of every CUDA op, for compute-sanitizer (run_sanitizers.sh --python)."""
import math
import sys

import torch

torch.ops.load_library(sys.argv[1])
fs = torch.ops.flash_sigmoid
gen = torch.Generator(device="cuda").manual_seed(0)
for d in (64, 128):
    for dtype in (torch.bfloat16, torch.float16):
        b, tq, tk, h, g = 2, 37, 53, 4, 2
        q = torch.randn(b, tq, h, d, generator=gen, device="cuda").to(dtype)
        k = torch.randn(b, tk, g, d, generator=gen, device="cuda").to(dtype)
        v = torch.randn(b, tk, g, d, generator=gen, device="cuda").to(dtype)
        go = torch.randn(b, tq, h, d, generator=gen, device="cuda").to(dtype)
        hb = torch.randn(h, generator=gen, device="cuda")
        sl = torch.rand(h, generator=gen, device="cuda") * 0.1
        keep = torch.rand(b, 1, 1, tk, generator=gen, device="cuda") > 0.2
        for causal in (False, True):
            fs.forward(q, k, v, d ** -0.5, -math.log(tk), causal)
            fs.backward(go, q, k, v, d ** -0.5, -math.log(tk), causal)
            fs.forward_extended(q, k, v, d ** -0.5, 0.0, causal, hb, sl, keep)
            fs.backward_extended(go, q, k, v, d ** -0.5, 0.0, causal, hb, sl, keep)
torch.cuda.synchronize()
print("sanitize harness done")
