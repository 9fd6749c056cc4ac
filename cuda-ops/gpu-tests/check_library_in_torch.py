"""Loads libflash_sigmoid.so, built on the CPU machine against DJL's libtorch 2.7.1 ABI, into the
PyTorch of this machine (2.11 on the GPU machine) and checks the registered ops against a float64
reference on fresh random inputs. Optionally scripts a TorchScript module that calls the op and
saves it, for DJL to load (tests of the djl-sigmoid-attention module).

    python3 cuda-ops/gpu-tests/check_library_in_torch.py <libflash_sigmoid.so> [<out.pt>]
"""
import math
import sys

import torch

from reference import reference, rel_error  # gpu-tests/reference.py, shared with test_cuda_ops.py


def main():
    torch.ops.load_library(sys.argv[1])
    print("torch", torch.__version__, "loaded", sys.argv[1])
    failures = 0
    gen = torch.Generator().manual_seed(torch.seed() % (2**31))
    for n in range(40):
        h = [1, 2, 4, 8][n % 4]
        g = [1, h // 2 or 1, h][n % 3]
        b, tq, tk, d = 2, 1 + n * 7 % 97, 1 + n * 13 % 131, [16, 32, 64, 80][n % 4]
        dtype = [torch.float32, torch.float16, torch.bfloat16][n % 3]
        causal = n % 2 == 0
        q = torch.randn(b, tq, h, d, generator=gen).to(dtype)
        k = torch.randn(b, tk, g, d, generator=gen).to(dtype)
        v = torch.randn(b, tk, g, d, generator=gen).to(dtype)
        scale, bias = d ** -0.5, -math.log(tk)
        head_bias = torch.randn(h, generator=gen)
        slopes = torch.tensor([2 ** (-8 * (i + 1) / h) for i in range(h)])
        keep = torch.rand(b, 1, 1, tk, generator=gen) > 0.2
        out = torch.ops.flash_sigmoid.forward(q, k, v, scale, bias, causal)
        ext = torch.ops.flash_sigmoid.forward_extended(q, k, v, scale, bias, causal, head_bias, slopes, keep)
        # Gradients of the reference by autograd in float64.
        qd, kd, vd = (x.double().requires_grad_() for x in (q, k, v))
        ref = reference(qd, kd, vd, scale, bias, causal)
        grad = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
        ref.backward(grad)
        dq, dk, dv = torch.ops.flash_sigmoid.backward(grad.to(dtype), q, k, v, scale, bias, causal)
        tol = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.5e-2}[dtype]
        errors = {
            "forward": rel_error(out, ref.detach()),
            "forward_extended": rel_error(ext, reference(q, k, v, scale, bias, causal, head_bias, slopes, keep)),
            "dq": rel_error(dq, qd.grad),
            "dk": rel_error(dk, kd.grad),
            "dv": rel_error(dv, vd.grad),
        }
        bad = {name: e for name, e in errors.items() if not e <= tol}
        if bad or out.dtype != dtype:
            failures += 1
            print("FAIL", dict(b=b, tq=tq, tk=tk, h=h, g=g, d=d, dtype=str(dtype), causal=causal), bad)
    try:
        torch.ops.flash_sigmoid.forward(q.view(b, tq, -1), k, v, 1.0, 0.0, False)
        failures += 1
        print("FAIL: a 3-D q was accepted")
    except RuntimeError as e:
        print("bad input ->", str(e).splitlines()[0][:160])
    print("CPU op checks in torch", torch.__version__, ":", "all passed" if failures == 0 else f"{failures} FAILED")

    if len(sys.argv) > 2:
        class SigmoidAttentionModule(torch.nn.Module):
            def forward(self, q, k, v):
                return torch.ops.flash_sigmoid.forward(q, k, v, 0.125, -2.0, True)

        scripted = torch.jit.script(SigmoidAttentionModule())
        scripted.save(sys.argv[2])
        x = torch.randn(1, 5, 2, 64)
        print("saved", sys.argv[2], "check:", rel_error(scripted(x, x, x), reference(x, x, x, 0.125, -2.0, True)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
