"""Builds cuda-ops/csrc/autograd/flash_sigmoid_autograd.cpp against this PyTorch (torch.utils.
cpp_extension, as a plain library) and checks the differentiable ops it registers,
flash_sigmoid::attention and attention_extended:

- torch.autograd.gradcheck on the CPU (float32: the kernels take no float64, so with loosened
  tolerances) for q, k, v and head_bias, causal and not, GQA, with ALiBi and a key mask;
- on CUDA (bfloat16, float16), the gradients that autograd produces through the op against the
  float64 reference's, and a few optimiser steps of a tiny model whose loss must fall.

    python3 cuda-ops/gpu-tests/test_autograd.py <libflash_sigmoid.so>
"""
import math
import os
import sys

import torch
from torch.utils.cpp_extension import load

from reference import alibi_slopes, reference_grads, rel_error, score_grad_magnitude


def main():
    torch.ops.load_library(sys.argv[1])
    here = os.path.dirname(os.path.abspath(__file__))
    source = os.path.join(here, "..", "csrc", "autograd", "flash_sigmoid_autograd.cpp")
    load(name="flash_sigmoid_autograd", sources=[source], extra_cflags=["-O2"],
         is_python_module=False, verbose=False)
    ops = torch.ops.flash_sigmoid
    failures = 0
    gen = torch.Generator().manual_seed(torch.seed() % (2**31))

    # gradcheck on the CPU.
    for n, (causal, h, g, extended) in enumerate([(False, 2, 2, False), (True, 4, 2, False),
                                                  (False, 2, 1, True), (True, 4, 4, True)]):
        b, tq, tk, d = 1, 3 + n, 5, 8
        q = torch.randn(b, tq, h, d, generator=gen, requires_grad=True)
        k = torch.randn(b, tk, g, d, generator=gen, requires_grad=True)
        v = torch.randn(b, tk, g, d, generator=gen, requires_grad=True)
        scale, bias = d ** -0.5, -math.log(tk)
        if extended:
            hb = torch.randn(h, generator=gen, requires_grad=True)
            slopes = alibi_slopes(h)
            keep = torch.rand(b, 1, 1, tk, generator=gen) > 0.3
            fn = lambda q, k, v, hb: ops.attention_extended(q, k, v, scale, bias, causal, hb, slopes, keep)  # noqa: E731
            inputs = (q, k, v, hb)
        else:
            fn = lambda q, k, v: ops.attention(q, k, v, scale, bias, causal)  # noqa: E731
            inputs = (q, k, v)
        try:
            ok = torch.autograd.gradcheck(fn, inputs, eps=1e-3, atol=2e-3, rtol=2e-2,
                                          check_undefined_grad=True, nondet_tol=1e-5)
        except RuntimeError as e:
            ok = False
            print("gradcheck raised:", str(e)[:400])
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} gradcheck cpu causal={causal} H={h} G={g} extended={extended}")

    if torch.cuda.is_available():
        gen_cuda = torch.Generator(device="cuda").manual_seed(torch.seed() % (2**31))
        for dtype, tol in ((torch.bfloat16, 1e-2), (torch.float16, 3e-3)):
            for d, causal, extended in ((128, False, False), (64, True, False), (96, True, True)):
                b, tq, tk, h, g = 2, 200, 333, 8, 2
                mk = lambda *s: torch.randn(*s, generator=gen_cuda, device="cuda").to(dtype)  # noqa: E731
                q, k, v, go = mk(b, tq, h, d), mk(b, tk, g, d), mk(b, tk, g, d), mk(b, tq, h, d)
                scale, bias = d ** -0.5, -math.log(tk)
                hb = slopes = keep = None
                leaves = [x.clone().requires_grad_() for x in (q, k, v)]
                if extended:
                    hb = torch.randn(h, generator=gen_cuda, device="cuda")
                    slopes = alibi_slopes(h, device="cuda")
                    keep = torch.rand(b, 1, 1, tk, generator=gen_cuda, device="cuda") > 0.2
                    hb_leaf = hb.clone().requires_grad_()
                    out = ops.attention_extended(*leaves, scale, bias, causal, hb_leaf, slopes, keep)
                else:
                    out = ops.attention(*leaves, scale, bias, causal)
                out.backward(go)
                ref = reference_grads(q, k, v, go, scale, bias, causal, hb, slopes, keep)
                errors = [rel_error(out, ref[0])] + [rel_error(x.grad, r) for x, r in zip(leaves, ref[1:4])]
                if extended:  # a per-head sum that can cancel: against the sum of |dS|
                    magnitude = score_grad_magnitude(q, k, v, go, scale, bias, causal, hb, slopes, keep)
                    errors.append((hb_leaf.grad.double() - ref[4]).norm().item() / magnitude.norm().item())
                ok = all(e <= tol for e in errors)
                failures += not ok
                print(f"{'ok  ' if ok else 'FAIL'} cuda autograd {str(dtype)[6:]} D={d} causal={causal} "
                      f"extended={extended} errors(out, dq, dk, dv[, d_head_bias])={[f'{e:.2e}' for e in errors]}")

        # A tiny model trained through the op to reproduce its input: the loss must fall.
        torch.manual_seed(0)
        x = torch.randn(4, 64, 128, device="cuda")
        target = x
        proj = torch.nn.Linear(128, 3 * 128, device="cuda")
        opt = torch.optim.Adam(proj.parameters(), lr=1e-2)
        losses = []
        for _ in range(30):
            qkv = proj(x).to(torch.bfloat16).view(4, 64, 3, 2, 64)
            out = ops.attention(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], 0.125, -math.log(64), True)
            loss = torch.nn.functional.mse_loss(out.float().reshape(4, 64, 128), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        ok = losses[-1] < 0.9 * losses[0]
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} training through the op: loss {losses[0]:.4f} -> {losses[-1]:.4f}")

    print("autograd checks:", "all passed" if failures == 0 else f"{failures} FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
