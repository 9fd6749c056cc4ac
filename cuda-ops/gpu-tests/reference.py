"""Shared helpers of the GPU tests: the float64 reference of the flash_sigmoid ops, its gradients,
and the error measure. Layout (B, T, heads, D) as the ops take it; GQA by repetition.

The weight of key j for query i of head h is
    sigmoid(scale * q.k + bias + head_bias[h] - alibi_slopes[h] * |i + Tk - Tq - j|)
and 0 where causal hides the key (j > i + Tk - Tq) or keep is 0.
"""
import math

import torch
from torch.profiler import ProfilerActivity, profile


def reference(q, k, v, scale, bias, causal, head_bias=None, slopes=None, keep=None,
              weights_only=False):
    """Sigmoid attention in float64 on the device of q; differentiable (autograd). With
    weights_only, the (B, H, Tq, Tk) weights instead of the output."""
    q, k, v = q.double(), k.double(), v.double()
    b, tq, h, d = q.shape
    tk, g = k.shape[1], k.shape[2]
    k = k.repeat_interleave(h // g, dim=2)
    v = v.repeat_interleave(h // g, dim=2)
    s = torch.einsum("bihd,bjhd->bhij", q, k) * scale + bias
    if head_bias is not None:
        s = s + head_bias.double().view(1, h, 1, 1)
    dev = q.device
    rel = (torch.arange(tq, device=dev).view(tq, 1) + tk - tq - torch.arange(tk, device=dev).view(1, tk))
    if slopes is not None:
        s = s - slopes.double().view(1, h, 1, 1) * rel.abs().double()
    p = torch.sigmoid(s)
    if causal:
        p = p * (rel >= 0).double()
    if keep is not None:
        p = p * keep.to(dev).double()
    if weights_only:
        return p
    return torch.einsum("bhij,bjhd->bihd", p, v)


def score_grad_magnitude(q, k, v, grad_out, scale, bias, causal, head_bias=None, slopes=None,
                         keep=None):
    """Per head, sum |dS| over batch, queries and keys (dS = P (1 - P) dP, the summands of the
    head-bias gradient): the scale its error is measured against, since the gradient itself is a
    sum that can cancel to near zero."""
    p = reference(q, k, v, scale, bias, causal, head_bias, slopes, keep, weights_only=True)
    h, g = q.shape[2], k.shape[2]
    vd = v.double().repeat_interleave(h // g, dim=2)
    dp = torch.einsum("bihd,bjhd->bhij", grad_out.double(), vd)
    return (p * (1 - p) * dp).abs().sum(dim=(0, 2, 3))


def reference_grads(q, k, v, grad_out, scale, bias, causal, head_bias=None, slopes=None, keep=None):
    """Output and gradients (dq, dk, dv, d_head_bias) of the float64 reference; d_head_bias is the
    gradient of a per-head bias (of zeros when head_bias is None), as backward_extended returns."""
    qd, kd, vd = (x.detach().double().requires_grad_() for x in (q, k, v))
    if head_bias is None:
        hb = torch.zeros(q.shape[2], dtype=torch.float64, device=q.device, requires_grad=True)
    else:
        hb = head_bias.detach().double().requires_grad_()
    out = reference(qd, kd, vd, scale, bias, causal, hb, slopes, keep)
    out.backward(grad_out.double())
    return out.detach(), qd.grad, kd.grad, vd.grad, hb.grad


def rel_error(x, ref):
    """||x - ref|| / ||ref|| in float64; inf for NaN, 0 when both are zero."""
    x = x.detach().double().to(ref.device)
    num = (x - ref).norm().item()
    den = ref.norm().item()
    if math.isnan(num):
        return math.inf
    if den == 0.0:
        return 0.0 if num == 0.0 else math.inf
    return num / den


def cuda_kernels_run(fn):
    """Names of the CUDA kernels fn launches (from the profiler)."""
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return {e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA}


def alibi_slopes(h, device=None):
    """The ALiBi paper's geometric slopes (also for h not a power of two)."""
    def powers(n):
        start = 2 ** (-8 / n)
        return [start ** (i + 1) for i in range(n)]
    p = 2 ** math.floor(math.log2(h))
    slopes = powers(p) + (powers(2 * p)[0::2][: h - p] if p < h else [])
    return torch.tensor(slopes, dtype=torch.float32, device=device)


def cpu_checks(cases=12, seed=None):
    """The CPU ops against the reference (float32/16/bf16): [(name, error, tolerance)]."""
    gen = torch.Generator().manual_seed(seed if seed is not None else torch.seed() % (2**31))
    results = []
    for n in range(cases):
        h = [1, 2, 4, 8][n % 4]
        g = [1, max(h // 2, 1), h][n % 3]
        b, tq, tk, d = 2, 1 + n * 7 % 37, 1 + n * 13 % 51, [16, 32, 64, 80][n % 4]
        dtype = [torch.float32, torch.float16, torch.bfloat16][n % 3]
        causal = n % 2 == 0
        q = torch.randn(b, tq, h, d, generator=gen).to(dtype)
        k = torch.randn(b, tk, g, d, generator=gen).to(dtype)
        v = torch.randn(b, tk, g, d, generator=gen).to(dtype)
        scale, bias = d ** -0.5, -math.log(tk)
        hb = torch.randn(h, generator=gen)
        slopes = alibi_slopes(h)
        keep = torch.rand(b, 1, 1, tk, generator=gen) > 0.2
        grad = torch.randn(b, tq, h, d, generator=gen).to(dtype)
        tol = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.5e-2}[dtype]
        out = torch.ops.flash_sigmoid.forward_extended(q, k, v, scale, bias, causal, hb, slopes, keep)
        r = reference_grads(q, k, v, grad, scale, bias, causal, hb, slopes, keep)
        dq, dk, dv, dhb = torch.ops.flash_sigmoid.backward_extended(
            grad, q, k, v, scale, bias, causal, hb, slopes, keep)
        # The plain ops too: no head bias, ALiBi or mask.
        plain = torch.ops.flash_sigmoid.forward(q, k, v, scale, bias, causal)
        p = reference_grads(q, k, v, grad, scale, bias, causal)
        pdq, pdk, pdv = torch.ops.flash_sigmoid.backward(grad, q, k, v, scale, bias, causal)
        name = f"cpu {str(dtype)[6:]} B{b} Tq{tq} Tk{tk} H{h} G{g} D{d}{' causal' if causal else ''}"
        magnitude = score_grad_magnitude(q, k, v, grad, scale, bias, causal, hb, slopes, keep)
        dhb_err = (dhb.double() - r[4]).norm().item() / max(magnitude.norm().item(), 1e-300)
        err = max(rel_error(out, r[0]), rel_error(dq, r[1]), rel_error(dk, r[2]),
                  rel_error(dv, r[3]), dhb_err, rel_error(plain, p[0]), rel_error(pdq, p[1]),
                  rel_error(pdk, p[2]), rel_error(pdv, p[3]))
        if out.dtype != dtype or plain.dtype != dtype:
            err = math.inf
        results.append((name, err, tol))
    return results
