"""The flash_sigmoid ops on CUDA tensors against a float64 reference, in the PyTorch of the GPU
machine (torch 2.11), through the very library the build made:

    python3 cuda-ops/gpu-tests/test_cuda_ops.py <libflash_sigmoid.so> [--expect-dims 32,64,96,128,256]
                                                [--seed N] [--quick] [--random N]

Fresh random inputs on every run (the seed is printed). Covers forward, backward, forward_extended
and backward_extended over odd lengths, Tq != Tk, Tq = 1, GQA/MQA, causal, head dims 32..256,
bfloat16 and float16, non-contiguous inputs (strides the kernels take, and strides that need a
copy), head_bias/ALiBi/keep; outputs land in memory poisoned with NaN first and must be fully
written. Also: bad inputs raise RuntimeError naming the argument, a non-default stream is honoured,
the CPU ops still pass in the same process. Prints a summary table; exit status 1 on any failure.

Tolerances (relative Frobenius error against float64): bfloat16 1e-2, float16 3e-3, for the
outputs and the gradients. A head dim whose kernels were not compiled (the op says so) is skipped,
unless --expect-dims lists it.
"""
import argparse
import math
import sys
import traceback

import torch

from reference import alibi_slopes, cpu_checks, reference_grads, rel_error, score_grad_magnitude

TOL = {torch.bfloat16: 1e-2, torch.float16: 3e-3}
DIMS = [32, 64, 96, 128, 256]
NAN = float("nan")


class Report:
    def __init__(self):
        self.rows = []  # (group, name, status, error, tolerance, note)

    def add(self, group, name, status, error=None, tol=None, note=""):
        self.rows.append((group, name, status, error, tol, note))
        if status != "ok":
            err = "" if error is None else f" err={error:.3g} tol={tol:.3g}"
            print(f"{status.upper():5s} [{group}] {name}{err} {note}", flush=True)

    def failures(self):
        return [r for r in self.rows if r[2] == "fail"]

    def summary(self):
        groups = {}
        for g, _, status, err, tol, _ in self.rows:
            s = groups.setdefault(g, {"ok": 0, "fail": 0, "skip": 0, "worst": 0.0})
            s[status] += 1
            if err is not None and tol:
                s["worst"] = max(s["worst"], err / tol if math.isfinite(err) else math.inf)
        print()
        print(f"{'group':28s} {'passed':>7s} {'failed':>7s} {'skipped':>8s} {'worst err/tol':>14s}")
        for g, s in groups.items():
            print(f"{g:28s} {s['ok']:7d} {s['fail']:7d} {s['skip']:8d} {s['worst']:14.3f}")
        total_fail = sum(s["fail"] for s in groups.values())
        total = len(self.rows)
        print(f"{'total':28s} {total - total_fail - sum(s['skip'] for s in groups.values()):7d} "
              f"{total_fail:7d} {sum(s['skip'] for s in groups.values()):8d}")


def poison(specs, device):
    """Fills fresh blocks of the caching allocator with NaN and frees them, so that the next
    allocations of these sizes (the op's outputs) reuse poisoned memory."""
    blobs = [torch.full(shape, NAN, dtype=dtype, device=device) for shape, dtype in specs for _ in range(2)]
    blobs.append(torch.full((16 << 20,), NAN, dtype=torch.float32, device=device))  # 64 MB
    del blobs


def not_compiled(e):
    m = str(e).lower()
    return "head dim" in m or "head_dim" in m or "hdim" in m or "not compiled" in m


def make_inputs(c, gen, device):
    """q, k, v, grad_out for case c, in the layout c['layout'] asks for."""
    b, tq, tk, h, g, d, dtype = c["b"], c["tq"], c["tk"], c["h"], c["g"], c["d"], c["dtype"]

    def rnd(*shape):
        return torch.randn(*shape, generator=gen, device=device, dtype=torch.float32).to(dtype)

    layout = c.get("layout", "contiguous")
    if layout == "contiguous":
        q, k, v, go = rnd(b, tq, h, d), rnd(b, tk, g, d), rnd(b, tk, g, d), rnd(b, tq, h, d)
    elif layout == "bhtd":  # (B, H, T, D) memory seen as (B, T, H, D): strides the kernels take
        q = rnd(b, h, tq, d).transpose(1, 2)
        k = rnd(b, g, tk, d).transpose(1, 2)
        v = rnd(b, g, tk, d).transpose(1, 2)
        go = rnd(b, h, tq, d).transpose(1, 2)
    elif layout == "packed":  # slices of a packed qkv-like buffer: kernels read in place
        kv = rnd(b, tk, 2, g, d)
        k, v = kv[:, :, 0], kv[:, :, 1]
        q = rnd(b, tq, h, d + 8)[..., :d]
        go = rnd(b, tq, h, d)
    elif layout == "odd":  # row strides not multiples of 8 elements: the op copies
        q = rnd(b, tq, h, d + 3)[..., :d]
        k = rnd(b, tk, g, d + 1)[..., :d]
        v = rnd(b, tk, g, d + 5)[..., :d]
        go = rnd(b, tq, h, d + 3)[..., :d]
    elif layout == "misaligned":  # data 2 bytes off 16-byte alignment: the op copies
        q = rnd(b * tq * h * d + 1)[1:].view(b, tq, h, d)
        k = rnd(b * tk * g * d + 1)[1:].view(b, tk, g, d)
        v = rnd(b, tk, g, d)
        go = rnd(b * tq * h * d + 1)[1:].view(b, tq, h, d)
    elif layout == "expanded":  # k, v broadcast over the batch (stride 0): the op copies
        k = rnd(1, tk, g, d).expand(b, tk, g, d)
        v = rnd(1, tk, g, d).expand(b, tk, g, d)
        q, go = rnd(b, tq, h, d), rnd(b, tq, h, d)
    else:
        raise ValueError(layout)
    return q, k, v, go


def extras(c, gen, device):
    b, tq, tk, h = c["b"], c["tq"], c["tk"], c["h"]
    hb = slopes = keep = None
    if c.get("head_bias"):
        hb = torch.randn(h, generator=gen, device=device)
        if c.get("strided_vectors"):
            hb = torch.randn(h, 3, generator=gen, device=device)[:, 1]
    if c.get("alibi"):
        slopes = alibi_slopes(h, device)
        if c.get("strided_vectors"):
            slopes = torch.stack([slopes, slopes], 1)[:, 0]
    kind = c.get("keep")
    if kind == "keys":
        keep = torch.rand(b, 1, 1, tk, generator=gen, device=device) > 0.25
    elif kind == "full":
        keep = (torch.rand(b, h, tq, tk, generator=gen, device=device) > 0.3).to(torch.uint8)
    elif kind == "queries":
        keep = torch.rand(1, h, tq, 1, generator=gen, device=device) > 0.2
    return hb, slopes, keep


def run_case(c, gen, device, report, skipped_dims, expect_dims):
    dtype, d = c["dtype"], c["d"]
    if d in skipped_dims:
        report.add(f"d={d}", c["name"], "skip", note="head dim not compiled")
        return
    q, k, v, go = make_inputs(c, gen, device)
    hb, slopes, keep = extras(c, gen, device)
    extended = hb is not None or slopes is not None or keep is not None or c.get("force_extended")
    scale, bias = d ** -0.5, -math.log(max(c["tk"], 1))
    causal = c["causal"]
    tol = TOL[dtype]
    group = f"d={d}"

    none = torch.empty(0, device=device)
    ehb = hb if hb is not None else none
    esl = slopes if slopes is not None else none
    ekp = keep if keep is not None else none

    poison([(q.shape, dtype)], device)
    try:
        if extended:
            out = torch.ops.flash_sigmoid.forward_extended(q, k, v, scale, bias, causal, ehb, esl, ekp)
        else:
            out = torch.ops.flash_sigmoid.forward(q, k, v, scale, bias, causal)
        torch.cuda.synchronize()
    except RuntimeError as e:
        if not_compiled(e) and d not in expect_dims:
            skipped_dims[d] = str(e).splitlines()[0]
            report.add(group, c["name"], "skip", note="head dim not compiled: " + skipped_dims[d][:120])
            return
        report.add(group, c["name"] + " forward", "fail", note="raised: " + str(e).splitlines()[0][:300])
        return
    bad = []
    if out.dtype != dtype or out.shape != q.shape or out.device != q.device:
        bad.append(f"output {out.dtype} {tuple(out.shape)} {out.device}")
    if not torch.isfinite(out).all():
        bad.append(f"{int((~torch.isfinite(out)).sum())} non-finite (unwritten?) outputs")
    ref = reference_grads(q, k, v, go, scale, bias, causal, hb, slopes, keep)
    err = rel_error(out, ref[0])
    report.add(group, c["name"] + " forward", "fail" if bad or not err <= tol else "ok", err, tol, "; ".join(bad))

    # The same call again: bit-identical (a race or an unwritten tile shows up here).
    if c.get("repeat"):
        poison([(q.shape, dtype)], device)
        again = (torch.ops.flash_sigmoid.forward_extended(q, k, v, scale, bias, causal, ehb, esl, ekp)
                 if extended else torch.ops.flash_sigmoid.forward(q, k, v, scale, bias, causal))
        same = torch.equal(again, out)
        report.add(group, c["name"] + " forward repeat", "ok" if same else "fail",
                   note="" if same else "a second call differs")

    poison([(q.shape, dtype), (k.shape, dtype), (k.shape, dtype), ((c["h"],), torch.float32)], device)
    try:
        if extended:
            dq, dk, dv, dhb = torch.ops.flash_sigmoid.backward_extended(
                go, q, k, v, scale, bias, causal, ehb, esl, ekp)
        else:
            dq, dk, dv = torch.ops.flash_sigmoid.backward(go, q, k, v, scale, bias, causal)
            dhb = None
        torch.cuda.synchronize()
    except RuntimeError as e:
        report.add(group, c["name"] + " backward", "fail", note="raised: " + str(e).splitlines()[0][:300])
        return
    grads = [("dq", dq, ref[1], q), ("dk", dk, ref[2], k), ("dv", dv, ref[3], v)]
    if dhb is not None:
        grads.append(("d_head_bias", dhb, ref[4], None))
    for name, got, want, like in grads:
        bad = []
        if like is not None and (got.dtype != dtype or got.shape != like.shape):
            bad.append(f"{got.dtype} {tuple(got.shape)}")
        if like is None and (got.dtype != torch.float32 or got.shape != (c["h"],)):
            bad.append(f"{got.dtype} {tuple(got.shape)}")
        if not torch.isfinite(got).all():
            bad.append(f"{int((~torch.isfinite(got)).sum())} non-finite (unwritten?)")
        if like is None:
            # A per-head sum of dS that may cancel: error against the sum of |dS| per head.
            scale_ref = score_grad_magnitude(q, k, v, go, scale, bias, causal, ehb if ehb.numel() else None,
                                             esl if esl.numel() else None, ekp if ekp.numel() else None)
            e = (got.double().to(want.device) - want).norm().item() / max(scale_ref.norm().item(), 1e-300)
        else:
            e = rel_error(got, want)
        report.add(group, f"{c['name']} {name}", "fail" if bad or not e <= tol else "ok", e, tol, "; ".join(bad))


def cases(quick):
    out = []
    for d in DIMS:
        for dtype in (torch.bfloat16, torch.float16):
            t = "bf16" if dtype == torch.bfloat16 else "fp16"
            base = dict(d=d, dtype=dtype)
            cs = [
                dict(b=2, tq=77, tk=77, h=4, g=4, causal=False, repeat=True),
                dict(b=1, tq=131, tk=300, h=8, g=2, causal=True),
                dict(b=3, tq=1, tk=257, h=4, g=1, causal=True),
                dict(b=2, tq=200, tk=65, h=2, g=1, causal=True),
                dict(b=2, tq=129, tk=190, h=4, g=2, causal=False, head_bias=True, alibi=True, keep="keys"),
                dict(b=1, tq=65, tk=97, h=4, g=4, causal=True, head_bias=True, keep="full"),
                dict(b=2, tq=96, tk=96, h=4, g=2, causal=True, layout="bhtd"),
                dict(b=2, tq=70, tk=90, h=2, g=2, causal=False, layout="packed", force_extended=True),
                dict(b=2, tq=45, tk=61, h=6, g=3, causal=True, layout="odd", head_bias=True,
                     strided_vectors=True, alibi=True),
                dict(b=2, tq=33, tk=40, h=2, g=1, causal=False, layout="misaligned", keep="queries"),
                dict(b=2, tq=50, tk=50, h=2, g=2, causal=False, layout="expanded"),
            ]
            if d in (64, 128) and not quick:
                cs.append(dict(b=2, tq=1024, tk=1024, h=4, g=4, causal=True, repeat=True))
                cs.append(dict(b=1, tq=513, tk=2049, h=8, g=1, causal=False))
            if quick:
                cs = cs[:6]
            for c in cs:
                c.update(base)
                extra = "".join(f" {k}" for k in ("head_bias", "alibi") if c.get(k))
                if c.get("keep"):
                    extra += f" keep={c['keep']}"
                c["name"] = (f"{t} B{c['b']} Tq{c['tq']} Tk{c['tk']} H{c['h']} G{c['g']}"
                             f"{' causal' if c['causal'] else ''}{extra} {c.get('layout', 'contiguous')}")
                out.append(c)
    return out


def random_cases(n, seed):
    """n configurations drawn at random (sizes, heads, dims, dtypes, options, layouts)."""
    import random
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        h = rng.choice([1, 2, 3, 4, 6, 8])
        g = rng.choice([x for x in range(1, h + 1) if h % x == 0])
        c = dict(b=rng.randint(1, 3), tq=rng.choice([1, rng.randint(1, 64), rng.randint(1, 400)]),
                 tk=rng.choice([1, rng.randint(1, 64), rng.randint(1, 400)]), h=h, g=g,
                 d=rng.choice(DIMS), dtype=rng.choice([torch.bfloat16, torch.float16]),
                 causal=rng.random() < 0.5, head_bias=rng.random() < 0.3, alibi=rng.random() < 0.2,
                 keep=rng.choice([None, None, None, "keys", "full", "queries"]),
                 layout=rng.choice(["contiguous", "contiguous", "bhtd", "packed", "odd", "misaligned", "expanded"]))
        t = "bf16" if c["dtype"] == torch.bfloat16 else "fp16"
        c["name"] = (f"random {t} B{c['b']} Tq{c['tq']} Tk{c['tk']} H{h} G{g}{' causal' if c['causal'] else ''}"
                     f"{' head_bias' if c['head_bias'] else ''}{' alibi' if c['alibi'] else ''}"
                     f"{' keep=' + c['keep'] if c['keep'] else ''} {c['layout']}")
        out.append(c)
    return out


def expect_raise(report, name, fn, must_contain):
    try:
        fn()
        torch.cuda.synchronize()
    except RuntimeError as e:
        msg = str(e).splitlines()[0]
        missing = [w for w in must_contain if w.lower() not in msg.lower()]
        report.add("bad input", name, "fail" if missing else "ok",
                   note=(f"message lacks {missing}: " if missing else "") + msg[:200])
        if not missing:
            print(f"  bad input [{name}] -> {msg[:200]}")
        return
    except Exception as e:  # noqa: BLE001
        report.add("bad input", name, "fail", note=f"raised {type(e).__name__}, not RuntimeError: {e}")
        return
    report.add("bad input", name, "fail", note="no error raised")


def bad_inputs(report, device, gen):
    fs = torch.ops.flash_sigmoid

    def r(*shape, dtype=torch.bfloat16, dev=device):
        return torch.randn(*shape, generator=gen, device=device).to(dtype).to(dev)

    q, k, v = r(2, 16, 4, 64), r(2, 16, 4, 64), r(2, 16, 4, 64)
    none = torch.empty(0, device=device)
    expect_raise(report, "float32 on CUDA", lambda: fs.forward(
        r(2, 16, 4, 64, dtype=torch.float32), r(2, 16, 4, 64, dtype=torch.float32),
        r(2, 16, 4, 64, dtype=torch.float32), 0.125, 0.0, False), ["q", "float32", "float16", "bfloat16"])
    expect_raise(report, "k on the CPU", lambda: fs.forward(q, k.cpu(), v, 0.125, 0.0, False), ["k", "cpu", "cuda"])
    expect_raise(report, "q on the CPU, k on CUDA", lambda: fs.forward(q.cpu(), k, v.cpu(), 0.125, 0.0, False),
                 ["k", "cpu", "cuda"])
    expect_raise(report, "grad_out on the CPU", lambda: fs.backward(q.cpu(), q, k, v, 0.125, 0.0, False),
                 ["grad_out", "cpu"])
    expect_raise(report, "head_bias on the CPU", lambda: fs.forward_extended(
        q, k, v, 0.125, 0.0, False, torch.zeros(4), none, none), ["head_bias", "cpu"])
    expect_raise(report, "alibi_slopes on the CPU", lambda: fs.forward_extended(
        q, k, v, 0.125, 0.0, False, none, torch.zeros(4), none), ["alibi_slopes", "cpu"])
    expect_raise(report, "keep on the CPU", lambda: fs.forward_extended(
        q, k, v, 0.125, 0.0, False, none, none, torch.ones(2, 1, 1, 16, dtype=torch.bool)), ["keep", "cpu"])
    expect_raise(report, "head dim 80", lambda: fs.forward(
        r(2, 16, 4, 80), r(2, 16, 4, 80), r(2, 16, 4, 80), 0.125, 0.0, False), ["80"])
    expect_raise(report, "head dim 80 backward", lambda: fs.backward(
        r(2, 16, 4, 80), r(2, 16, 4, 80), r(2, 16, 4, 80), r(2, 16, 4, 80), 0.125, 0.0, False), ["80"])
    expect_raise(report, "6 query heads, 4 kv heads", lambda: fs.forward(
        r(2, 16, 6, 64), r(2, 16, 4, 64), r(2, 16, 4, 64), 0.125, 0.0, False), ["k", "heads"])
    expect_raise(report, "float16 q, bfloat16 k", lambda: fs.forward(
        q.half(), k, v.half(), 0.125, 0.0, False), ["k", "bfloat16", "float16"])
    expect_raise(report, "3-D q", lambda: fs.forward(q.view(2, 16, -1), k, v, 0.125, 0.0, False), ["q", "4-D"])


def stream_check(report, device, gen):
    """The op must run on PyTorch's current stream: q is written on a side stream after a long
    sleep, and the op, called on that stream, must see the written values."""
    b, t, h, d = 2, 256, 4, 64
    src = [torch.randn(b, t, h, d, generator=gen, device=device).bfloat16() for _ in range(3)]
    go_src = torch.randn(b, t, h, d, generator=gen, device=device).bfloat16()
    torch.cuda.synchronize()
    side = torch.cuda.Stream(device=device)
    with torch.cuda.stream(side):
        poison([((b, t, h, d), torch.bfloat16)], device)
        torch.cuda._sleep(200_000_000)  # ~0.1 s of device time before the inputs are written
        q, k, v = (x * 1 for x in src)
        go = go_src * 1
        out = torch.ops.flash_sigmoid.forward(q, k, v, d ** -0.5, -5.0, True)
        grads = torch.ops.flash_sigmoid.backward(go, q, k, v, d ** -0.5, -5.0, True)
    side.synchronize()
    ref = reference_grads(src[0], src[1], src[2], go_src, d ** -0.5, -5.0, True)
    errs = [rel_error(out, ref[0])] + [rel_error(g, r) for g, r in zip(grads, ref[1:4])]
    e = max(errs)
    report.add("streams", "forward+backward on a side stream", "ok" if e <= TOL[torch.bfloat16] else "fail",
               e, TOL[torch.bfloat16])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("library")
    ap.add_argument("--expect-dims", default="", help="head dims that must be compiled, e.g. 32,64,96,128,256")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="fewer cases per head dim, fewer random cases")
    ap.add_argument("--random", type=int, default=None, help="random configurations (default 80, 20 with --quick)")
    args = ap.parse_args()
    if args.random is None:
        args.random = 20 if args.quick else 80

    torch.ops.load_library(args.library)
    if not torch.cuda.is_available():
        print("no CUDA device visible to torch", torch.__version__)
        return 2
    device = torch.device("cuda", torch.cuda.current_device())
    seed = args.seed if args.seed is not None else torch.seed() % (2**31)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(device)}, library {args.library}, seed {seed}",
          flush=True)
    gen = torch.Generator(device=device).manual_seed(seed)
    expect_dims = {int(x) for x in args.expect_dims.replace(";", ",").split(",") if x.strip()}
    report = Report()
    skipped_dims = {}

    for c in cases(args.quick) + random_cases(args.random, seed):
        try:
            run_case(c, gen, device, report, skipped_dims, expect_dims)
        except Exception as e:  # noqa: BLE001  (a crash of the harness is a failure too)
            report.add(f"d={c['d']}", c["name"], "fail", note="harness: " + repr(e)[:300])
            traceback.print_exc()
    for name, fn in (("bad inputs", bad_inputs), ("streams", stream_check)):
        try:
            fn(report, device, gen)
        except Exception as e:  # noqa: BLE001
            report.add(name, name, "fail", note="harness: " + repr(e)[:300])
            traceback.print_exc()
    try:
        for name, err, tol in cpu_checks(cases=12, seed=seed):
            report.add("cpu ops (same process)", name, "ok" if err <= tol else "fail", err, tol)
    except Exception as e:  # noqa: BLE001
        report.add("cpu ops (same process)", "cpu", "fail", note=repr(e)[:300])
        traceback.print_exc()

    for d, why in skipped_dims.items():
        print(f"head dim {d} skipped: {why[:200]}")
    report.summary()
    failed = report.failures()
    print(f"CUDA op checks: {'all passed' if not failed else f'{len(failed)} FAILED'} (seed {seed})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
