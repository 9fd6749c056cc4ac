"""Checks flash_sigmoid::forward_varlen/backward_varlen on CUDA (and the CPU): each sequence of a
right-padded batch must equal a run of that sequence alone on its own keys, with NaN written into
the padded keys and values so that any read of them shows.

    python3 cuda-ops/gpu-tests/test_varlen.py <libflash_sigmoid.so>
"""
import math
import sys

import torch

from reference import reference_grads, rel_error


def main():
    torch.ops.load_library(sys.argv[1])
    ops = torch.ops.flash_sigmoid
    failures = 0
    gen = torch.Generator().manual_seed(torch.seed() % (2**31))
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for n, (d, causal, dtype) in enumerate([(64, False, torch.bfloat16), (128, True, torch.float16),
                                                (96, False, torch.float16), (128, False, torch.bfloat16)]):
            if device == "cpu":
                dtype = torch.float32
            b, tq, tk, h, g = 3, 37 + n, 150 + 7 * n, 4, 2
            lengths = torch.randint(1, tk + 1, (b,), generator=gen)
            lengths[0] = tk
            q = torch.randn(b, tq, h, d, generator=gen).to(dtype)
            k = torch.randn(b, tk, g, d, generator=gen).to(dtype)
            v = torch.randn(b, tk, g, d, generator=gen).to(dtype)
            go = torch.randn(b, tq, h, d, generator=gen).to(dtype)
            for i in range(b):  # poison the padding
                k[i, lengths[i]:] = float("nan")
                v[i, lengths[i]:] = float("nan")
            scale, bias = d ** -0.5, -math.log(tk)
            none = torch.empty(0, device=device)
            args = [x.to(device) for x in (q, k, v)]
            kl = lengths.to(torch.int32).to(device)
            out = ops.forward_varlen(*args, scale, bias, causal, none, none, none.bool(), kl)
            dq, dk, dv, _ = ops.backward_varlen(go.to(device), *args, scale, bias, causal, none, none,
                                                none.bool(), kl)
            tol = {torch.float32: 1e-4, torch.float16: 3e-3, torch.bfloat16: 1e-2}[dtype]
            worst = 0.0
            for i in range(b):
                L = int(lengths[i])
                # Alone on its own keys; bottom-right causal alignment counts from the padded Tk,
                # so the reference keeps Tk and masks the padding instead.
                keep = (torch.arange(tk) < L).view(1, 1, 1, tk)
                ki, vi = k[i:i + 1].clone(), v[i:i + 1].clone()
                ki[:, L:] = 0
                vi[:, L:] = 0
                ref = reference_grads(q[i:i + 1], ki, vi, go[i:i + 1], scale, bias, causal, keep=keep)
                errors = [rel_error(out[i:i + 1].cpu(), ref[0]), rel_error(dq[i:i + 1].cpu(), ref[1]),
                          rel_error(dk[i:i + 1, :L].cpu(), ref[2][:, :L]),
                          rel_error(dv[i:i + 1, :L].cpu(), ref[3][:, :L])]
                pad_grads = torch.cat([dk[i, L:].flatten(), dv[i, L:].flatten()]).float().abs().sum().item()
                worst = max(worst, *errors)
                if not all(e <= tol for e in errors) or pad_grads != 0:
                    failures += 1
                    print(f"FAIL {device} seq {i} L={L}: errors {errors}, |padded grads| {pad_grads}")
            print(f"{'ok  ' if worst <= tol else 'FAIL'} {device} {str(dtype)[6:]} D={d} causal={causal} "
                  f"lengths={lengths.tolist()} worst={worst:.2e} (tol {tol})")
    print("varlen checks:", "all passed" if failures == 0 else f"{failures} FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
