"""Loads libflash_sigmoid.so, built on the CPU machine against DJL's libtorch 2.7.1 ABI, into the
PyTorch of this machine (2.11 on the GPU machine) and checks the registered ops against a float64
reference on fresh random inputs. Optionally scripts a TorchScript module that calls the op and
saves it, for DJL to load (tests of the djl-sigmoid-attention module).

    python3 cuda-ops/gpu-tests/check_library_in_torch.py <libflash_sigmoid.so> [<out.pt>]
"""
import sys

import torch

# gpu-tests/reference.py, shared with test_cuda_ops.py
from reference import cpu_checks, reference, rel_error


def main():
    torch.ops.load_library(sys.argv[1])
    print("torch", torch.__version__, "loaded", sys.argv[1])
    failures = 0
    for name, err, tol in cpu_checks(cases=40):
        if not err <= tol:
            failures += 1
            print("FAIL", name, f"error {err:.3g} > {tol:.3g}")
    q = torch.randn(2, 7, 4, 32)
    k = v = torch.randn(2, 9, 2, 32)
    try:
        torch.ops.flash_sigmoid.forward(q.view(2, 7, -1), k, v, 1.0, 0.0, False)
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
