// Drives the op layer the way the JNI bridge does (torch/attention.h: validation, then the
// kernels), and the registered ops the way TorchScript and Python do (PyTorch's dispatcher, then
// the boxed kernels of registration.cpp), without a JVM, against a real libtorch_cpu.so (DJL's
// extracted 2.7.1). Built with FS_LIBTORCH_DIR; the sanitize profile runs it under
// AddressSanitizer and UBSan, where a JVM cannot run.
//
// Random cases: shapes with 0, 1, primes and odd head dims; contiguous, transposed, padded,
// stride-0 (expanded) and non-unit-last-stride layouts; float32, float16 and bfloat16; every
// optional argument; NaN and Inf values; and hostile arguments (wrong ranks, dtypes, heads, head
// dims, batches, optional shapes, extents of 2^31 as stride-0 views, null handles). A valid call
// must return tensors of the right shapes (finite for finite input); a bad one must throw an
// OpError marked invalid_argument whose message names the op. Exit status 0 on success.
//
//   op_harness [cases [seed]]
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../flash_sigmoid/cpu/convert.h"
#include "../torch/attention.h"
#include "../torch/aten.h"
#include "../torch/backend.h"

using flash_sigmoid::AttentionArgs;
using flash_sigmoid::Gradients;
using flash_sigmoid::OpError;
using flash_sigmoid::Tensor;

namespace {

std::mt19937_64 rng;

int64_t pick(std::initializer_list<int64_t> values) {
    std::vector<int64_t> v(values);
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
}

bool chance(int percent) {
    return std::uniform_int_distribution<int>(0, 99)(rng) < percent;
}

// Elements of storage a strided view reaches.
int64_t storage_elements(const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides) {
    int64_t n = 1;
    for (size_t i = 0; i < sizes.size(); ++i) {
        if (sizes[i] == 0) return 0;
        n += (sizes[i] - 1) * strides[i];
    }
    return n;
}

// Fills the storage of t with N(0, 1) values; `special` puts a NaN, +Inf or -Inf in one place.
void fill(const Tensor& t, int32_t dtype, const std::vector<int64_t>& sizes,
          const std::vector<int64_t>& strides, int special) {
    int64_t n = storage_elements(sizes, strides);
    if (n == 0) return;
    std::normal_distribution<float> normal(0, 1);
    std::vector<float> values(static_cast<size_t>(n));
    for (float& x : values) x = normal(rng);
    if (special) {
        const float specials[] = {NAN, INFINITY, -INFINITY};
        values[std::uniform_int_distribution<int64_t>(0, n - 1)(rng)] = specials[special - 1];
    }
    void* p = t.data();
    if (dtype == aoti_torch_dtype_float32()) {
        std::memcpy(p, values.data(), sizeof(float) * n);
    } else if (dtype == aoti_torch_dtype_float16() || dtype == aoti_torch_dtype_bfloat16()) {
        uint16_t* h = static_cast<uint16_t*>(p);
        bool half = dtype == aoti_torch_dtype_float16();
        for (int64_t i = 0; i < n; ++i)
            h[i] = half ? float_to_half(values[i]) : float_to_bf16(values[i]);
    } else if (dtype == aoti_torch_dtype_float64()) {
        double* d = static_cast<double*>(p);
        for (int64_t i = 0; i < n; ++i) d[i] = values[i];
    } else if (dtype == aoti_torch_dtype_bool() || dtype == aoti_torch_dtype_uint8()) {
        uint8_t* b = static_cast<uint8_t*>(p);
        for (int64_t i = 0; i < n; ++i) b[i] = values[i] > -0.7f;  // about 3 in 4 kept
    } else {
        std::memset(p, 0, static_cast<size_t>(n) * (dtype == aoti_torch_dtype_int64() ? 8 : 4));
    }
}

Tensor strided(const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides,
               int32_t dtype, int special = 0) {
    AtenTensorHandle h = nullptr;
    flash_sigmoid::check_shim(
        aoti_torch_empty_strided(static_cast<int64_t>(sizes.size()), sizes.data(), strides.data(),
                                 dtype, aoti_torch_device_type_cpu(), 0, &h),
        "aoti_torch_empty_strided");
    Tensor t(h);
    fill(t, dtype, sizes, strides, special);
    return t;
}

std::vector<int64_t> dense_strides(const std::vector<int64_t>& sizes) {
    std::vector<int64_t> s(sizes.size());
    int64_t n = 1;
    for (size_t i = sizes.size(); i-- > 0;) {
        s[i] = n;
        n *= sizes[i] > 0 ? sizes[i] : 1;
    }
    return s;
}

// A (B, T, heads, D) operand in a random layout.
Tensor operand(const std::vector<int64_t>& sizes, int32_t dtype, int special, std::string& layout) {
    int kind = static_cast<int>(pick({0, 0, 1, 2, 3, 4}));
    std::vector<int64_t> st;
    if (kind == 1) {  // allocated (B, heads, T, D), viewed as (B, T, heads, D): transposed
        std::vector<int64_t> t = dense_strides({sizes[0], sizes[2], sizes[1], sizes[3]});
        st = {t[0], t[2], t[1], t[3]};
        layout += "T";
    } else if (kind == 2) {  // padded rows and a gap between heads
        int64_t d = sizes[3] + 3, hd = sizes[2] * d + 5;
        st = {sizes[1] * hd + 7, hd, d, 1};
        layout += "P";
    } else if (kind == 3) {  // every other element of the last dimension
        std::vector<int64_t> t = dense_strides({sizes[0], sizes[1], sizes[2], sizes[3] * 2});
        st = {t[0], t[1], t[2], 2};
        layout += "S";
    } else if (kind == 4) {  // expanded over batch and time: stride 0
        std::vector<int64_t> t = dense_strides(sizes);
        st = {0, 0, t[2], t[3]};
        layout += "E";
    } else {
        st = dense_strides(sizes);
        layout += "C";
    }
    return strided(sizes, st, dtype, special);
}

// The registered op for the arguments given (forward, forward_extended or forward_varlen), called
// through PyTorch's dispatcher on new aliasing handles, as TorchScript would.
Tensor dispatched_forward(const AttentionArgs& a) {
    const bool varlen = a.key_lengths != nullptr;
    const bool extended = varlen || a.head_bias || a.alibi_slopes || a.keep;
    auto give = [](AtenTensorHandle h) -> StableIValue {
        Tensor t =
            h ? Tensor::alias(h)
              : Tensor::empty({0}, aoti_torch_dtype_float32(), aoti_torch_device_type_cpu(), 0);
        return static_cast<StableIValue>(reinterpret_cast<uintptr_t>(t.release()));
    };
    auto scalar = [](double d) {
        StableIValue v = 0;
        std::memcpy(&v, &d, sizeof d);
        return v;
    };
    StableIValue stack[10] = {give(a.q),       give(a.k),      give(a.v),
                              scalar(a.scale), scalar(a.bias), StableIValue{a.causal ? 1u : 0u}};
    if (extended) {
        stack[6] = give(a.head_bias);
        stack[7] = give(a.alibi_slopes);
        stack[8] = give(a.keep);
    }
    if (varlen) stack[9] = give(a.key_lengths);
    flash_sigmoid::call_dispatcher(varlen     ? "flash_sigmoid::forward_varlen"
                                   : extended ? "flash_sigmoid::forward_extended"
                                              : "flash_sigmoid::forward",
                                   stack);
    return Tensor(reinterpret_cast<AtenTensorHandle>(static_cast<uintptr_t>(stack[0])));
}

struct Counts {
    int valid = 0, rejected = 0, failures = 0;
};

bool finite_output(const Tensor& t) {
    int64_t n = t.numel();
    if (n == 0) return true;
    int32_t dtype = t.dtype();
    std::vector<float> row(static_cast<size_t>(n));
    fs_dtype kd = dtype == aoti_torch_dtype_float16()    ? FS_FLOAT16
                  : dtype == aoti_torch_dtype_bfloat16() ? FS_BFLOAT16
                                                         : FS_FLOAT32;
    load_row(kd, t.data(), 0, 1, n, row.data());
    for (float x : row) {
        if (!std::isfinite(x)) return false;
    }
    return true;
}

void fail(Counts& c, const std::string& what) {
    ++c.failures;
    std::printf("FAIL %s\n", what.c_str());
}

// One valid call, forward and backward; special values make non-finite outputs acceptable.
void valid_case(Counts& c, int n) {
    const char* isas[] = {"avx512", "avx2", "generic"};
    fs_cpu_set_isa(isas[pick({0, 1, 2})]);  // refused (and unchanged) where the CPU lacks it
    int64_t B = pick({1, 1, 2, 3}), Tq = pick({0, 1, 1, 2, 5, 13, 31, 64, 67, 129});
    int64_t Tk = chance(30) ? Tq : pick({0, 1, 3, 7, 17, 64, 127, 131});
    int64_t H = pick({1, 2, 3, 4, 6}), G = H;
    if (chance(50)) {
        do G = pick({1, 2, 3});
        while (H % G != 0);
    }
    int64_t D = pick({0, 1, 2, 7, 16, 33, 64, 80, 128});
    if (chance(10)) B = 0;
    int32_t dtypes[] = {aoti_torch_dtype_float32(), aoti_torch_dtype_float16(),
                        aoti_torch_dtype_bfloat16()};
    int32_t dtype = dtypes[pick({0, 0, 1, 2})];
    int special = chance(15) ? static_cast<int>(pick({1, 2, 3})) : 0;
    std::string layout;
    Tensor q = operand({B, Tq, H, D}, dtype, special, layout);
    Tensor k = operand({B, Tk, G, D}, dtype, 0, layout);
    int v_special = chance(10) ? static_cast<int>(pick({1, 2, 3})) : 0;
    Tensor v = operand({B, Tk, G, D}, dtype, v_special, layout);
    Tensor g = operand({B, Tq, H, D}, dtype, 0, layout);
    Tensor head_bias, slopes, keep;
    if (chance(30)) head_bias = strided({H}, {1}, aoti_torch_dtype_float32());
    if (chance(30)) slopes = strided({H}, {chance(50) ? 1 : 0}, aoti_torch_dtype_float32());
    if (chance(30)) {
        std::vector<int64_t> full = {B, H, Tq, Tk}, ks(4);
        for (int i = 0; i < 4; ++i) ks[i] = chance(50) ? full[i] : 1;
        keep = strided(ks, dense_strides(ks),
                       chance(50) ? aoti_torch_dtype_bool() : aoti_torch_dtype_uint8());
    }
    AttentionArgs a;
    a.q = q.get();
    a.k = k.get();
    a.v = v.get();
    a.scale = D > 0 ? 1.0 / std::sqrt(static_cast<double>(D)) : 1.0;
    a.bias = -std::log(static_cast<double>(Tk > 0 ? Tk : 1));
    a.causal = chance(50);
    a.head_bias = head_bias.get();
    a.alibi_slopes = slopes.get();
    a.keep = keep.get();
    char what[256];
    std::snprintf(what, sizeof what,
                  "case %d: B=%lld Tq=%lld Tk=%lld H=%lld G=%lld D=%lld dtype=%s layout=%s "
                  "special=%d causal=%d isa=%s",
                  n, (long long)B, (long long)Tq, (long long)Tk, (long long)H, (long long)G,
                  (long long)D, flash_sigmoid::dtype_name(dtype).c_str(), layout.c_str(), special,
                  a.causal ? 1 : 0, fs_cpu_isa());
    try {
        Tensor out = flash_sigmoid::attention_forward("forward", a);
        if (out.sizes() != std::vector<int64_t>{B, Tq, H, D} || out.dtype() != dtype) {
            fail(c, std::string(what) + ": output " + flash_sigmoid::format_sizes(out.sizes()));
        }
        bool finite_in = special == 0 && v_special == 0;
        if (finite_in && !finite_output(out)) fail(c, std::string(what) + ": non-finite output");
        if (chance(30)) {
            // The registered op, through the dispatcher: the same kernels, the same bits.
            Tensor via = dispatched_forward(a);
            if (via.sizes() != out.sizes() ||
                (out.numel() > 0 &&
                 std::memcmp(via.data(), out.data(), flash_sigmoid::byte_size(out)) != 0)) {
                fail(c, std::string(what) + ": the registered op differs from the direct call");
            }
        }
        Gradients grads = flash_sigmoid::attention_backward("backward", g.get(), a, true);
        Tensor &dq = grads.dq, &dk = grads.dk, &dv = grads.dv, &dhb = grads.d_head_bias;
        if (dq.sizes() != q.sizes() || dk.sizes() != k.sizes() || dv.sizes() != v.sizes() ||
            dhb.sizes() != std::vector<int64_t>{H}) {
            fail(c, std::string(what) + ": gradient shapes");
        }
        if (finite_in && !(finite_output(dq) && finite_output(dk) && finite_output(dv))) {
            fail(c, std::string(what) + ": non-finite gradient");
        }
        ++c.valid;
    } catch (const OpError& e) {
        fail(c, std::string(what) + ": threw " + e.what());
    }
}

// A bad call: must throw an invalid-argument OpError naming the op and `fragment`.
template <typename Fn>
void expect_rejected(Counts& c, const char* name, const char* fragment, Fn call) {
    try {
        call();
        fail(c, std::string(name) + ": no exception");
    } catch (const OpError& e) {
        std::string m = e.what();
        if (!e.invalid_argument() || m.find("flash_sigmoid::") == std::string::npos ||
            m.find(fragment) == std::string::npos) {
            fail(c, std::string(name) + ": unexpected message '" + m + "'");
        } else {
            ++c.rejected;
        }
    }
}

void hostile_cases(Counts& c) {
    const int32_t f32 = aoti_torch_dtype_float32();
    auto dense = [&](std::vector<int64_t> sizes, int32_t dtype) {
        return strided(sizes, dense_strides(sizes), dtype);
    };
    Tensor q = dense({2, 5, 4, 8}, f32), k = dense({2, 7, 2, 8}, f32), v = dense({2, 7, 2, 8}, f32);
    auto args = [&](AtenTensorHandle qq, AtenTensorHandle kk, AtenTensorHandle vv) {
        AttentionArgs a;
        a.q = qq;
        a.k = kk;
        a.v = vv;
        return a;
    };
    auto forward = [&](AttentionArgs a) {
        // Both entries: the JNI bridge's direct call, and the registered op through the dispatcher.
        // (A null handle has no dispatcher form: an empty tensor would stand for it.)
        if (chance(50) || !a.q || !a.k || !a.v) {
            Tensor out = flash_sigmoid::attention_forward("forward", a);
        } else {
            Tensor out = dispatched_forward(a);
        }
    };
    auto backward = [&](AtenTensorHandle g, AttentionArgs a) {
        Gradients drop = flash_sigmoid::attention_backward("backward", g, a, true);
    };
    Tensor r3 = dense({2, 5, 32}, f32), r5 = dense({1, 2, 7, 2, 8}, f32);
    expect_rejected(c, "rank q", "q must be 4-D",
                    [&] { forward(args(r3.get(), k.get(), v.get())); });
    expect_rejected(c, "rank v", "v must be 4-D",
                    [&] { forward(args(q.get(), k.get(), r5.get())); });
    expect_rejected(c, "null q", "q is missing", [&] { forward(args(nullptr, k.get(), v.get())); });
    Tensor k3 = dense({2, 7, 3, 8}, f32);
    expect_rejected(c, "heads", "heads", [&] { forward(args(q.get(), k3.get(), k3.get())); });
    Tensor k0 = dense({2, 7, 0, 8}, f32);
    expect_rejected(c, "zero kv heads", "heads",
                    [&] { forward(args(q.get(), k0.get(), k0.get())); });
    Tensor kd = dense({2, 7, 2, 6}, f32);
    expect_rejected(c, "head dim", "head dim 6",
                    [&] { forward(args(q.get(), kd.get(), kd.get())); });
    Tensor kb = dense({3, 7, 2, 8}, f32);
    expect_rejected(c, "batch", "batch 3", [&] { forward(args(q.get(), kb.get(), kb.get())); });
    Tensor v6 = dense({2, 6, 2, 8}, f32);
    expect_rejected(c, "v shape", "shape of k", [&] { forward(args(q.get(), k.get(), v6.get())); });
    Tensor qbig = dense({1, 1, 1, 1025}, f32), kbig = dense({1, 1, 1, 1025}, f32);
    expect_rejected(c, "head dim 1025", "1024",
                    [&] { forward(args(qbig.get(), kbig.get(), kbig.get())); });
    const int32_t bad_dtypes[] = {aoti_torch_dtype_float64(), aoti_torch_dtype_int32(),
                                  aoti_torch_dtype_int64(), aoti_torch_dtype_bool()};
    for (int32_t dt : bad_dtypes) {
        Tensor qq = dense({2, 5, 4, 8}, dt);
        expect_rejected(c, "dtype q", "q must be float32",
                        [&] { forward(args(qq.get(), k.get(), v.get())); });
    }
    Tensor kh = dense({2, 7, 2, 8}, aoti_torch_dtype_float16());
    expect_rejected(c, "mixed dtypes", "k is float16",
                    [&] { forward(args(q.get(), kh.get(), v.get())); });
    // Extents of 2^31 and more, as stride-0 views of one element: refused before any access.
    const int64_t huge[] = {int64_t{1} << 31, (int64_t{1} << 40) + 3};
    for (int64_t n : huge) {
        for (int dim = 0; dim < 4; ++dim) {
            std::vector<int64_t> qs = {2, 5, 4, 8};
            qs[dim] = n;
            Tensor wide = strided(qs, {0, 0, 0, 0}, f32);
            expect_rejected(c, "huge q", "above the 2^31 - 1",
                            [&] { forward(args(wide.get(), k.get(), v.get())); });
            std::vector<int64_t> ks = {2, 7, 2, 8};
            ks[dim] = n;
            Tensor wk = strided(ks, {0, 0, 0, 0}, f32);
            expect_rejected(c, "huge k", "above the 2^31 - 1",
                            [&] { forward(args(q.get(), wk.get(), wk.get())); });
            Tensor wg = strided(qs, {0, 0, 0, 0}, f32);
            expect_rejected(c, "huge grad_out", "grad_out",
                            [&] { backward(wg.get(), args(q.get(), k.get(), v.get())); });
            std::vector<int64_t> ms = {1, 1, 1, 1};
            ms[dim] = n;
            Tensor wm = strided(ms, {0, 0, 0, 0}, aoti_torch_dtype_bool());
            expect_rejected(c, "huge keep", "keep", [&] {
                AttentionArgs a = args(q.get(), k.get(), v.get());
                a.keep = wm.get();
                forward(a);
            });
        }
    }
    // Optional arguments.
    Tensor hb3 = dense({3}, f32), hb64 = dense({4}, aoti_torch_dtype_float64()),
           hb2d = dense({4, 1}, f32);
    for (Tensor* t : {&hb3, &hb64, &hb2d}) {
        expect_rejected(c, "head_bias", "head_bias", [&] {
            AttentionArgs a = args(q.get(), k.get(), v.get());
            a.head_bias = t->get();
            forward(a);
        });
        expect_rejected(c, "alibi_slopes", "alibi_slopes", [&] {
            AttentionArgs a = args(q.get(), k.get(), v.get());
            a.alibi_slopes = t->get();
            backward(q.get(), a);
        });
    }
    Tensor m3 = dense({2, 5, 7}, aoti_torch_dtype_bool()),
           mw = dense({2, 1, 5, 6}, aoti_torch_dtype_bool()), mf = dense({2, 1, 1, 7}, f32);
    for (Tensor* t : {&m3, &mw, &mf}) {
        expect_rejected(c, "keep", "keep must be", [&] {
            AttentionArgs a = args(q.get(), k.get(), v.get());
            a.keep = t->get();
            forward(a);
        });
    }
    // Non-finite scalars, and doubles that overflow float32.
    const double bad_scalars[] = {NAN, INFINITY, -INFINITY, 1e300};
    for (double x : bad_scalars) {
        expect_rejected(c, "scale", "scale must be a finite float32 value", [&] {
            AttentionArgs a = args(q.get(), k.get(), v.get());
            a.scale = x;
            forward(a);
        });
        expect_rejected(c, "bias", "bias must be a finite float32 value", [&] {
            AttentionArgs a = args(q.get(), k.get(), v.get());
            a.bias = x;
            backward(q.get(), a);
        });
    }
    Tensor g7 = dense({2, 5, 4, 7}, f32);
    expect_rejected(c, "grad_out shape", "grad_out must have the shape of q",
                    [&] { backward(g7.get(), args(q.get(), k.get(), v.get())); });
    expect_rejected(c, "null grad_out", "grad_out is missing",
                    [&] { backward(nullptr, args(q.get(), k.get(), v.get())); });
}

// The C ABI of the kernels refuses what the op layer would never pass.
void kernel_abi_cases(Counts& c) {
    char message[128];
    float x[8] = {0};
    fs_operand out{x, {8, 8, 8, 1}};
    auto expect = [&](const char* name, int status) {
        if (status == FS_INVALID_ARGUMENT) {
            ++c.rejected;
        } else {
            fail(c, std::string("kernel ABI ") + name + ": status " + std::to_string(status));
        }
    };
    expect("null attention", fs_cpu_forward(nullptr, out, message, sizeof message));
    fs_attention a{};
    a.q = a.k = a.v = out;
    a.batch = a.q_len = a.k_len = a.heads = a.kv_heads = a.head_dim = 1;
    a.dtype = static_cast<fs_dtype>(7);
    expect("dtype code", fs_cpu_forward(&a, out, message, sizeof message));
    a.dtype = FS_FLOAT32;
    a.k_len = int64_t{1} << 31;
    expect("k_len 2^31", fs_cpu_forward(&a, out, message, sizeof message));
    a.k_len = -1;
    expect("k_len -1", fs_cpu_forward(&a, out, message, sizeof message));
    a.k_len = 1;
    a.kv_heads = 0;
    expect("kv_heads 0", fs_cpu_backward(&a, out, out, out, out, nullptr, message, sizeof message));
    a.kv_heads = 1;
    a.head_dim = 1025;
    expect("head_dim 1025", fs_cpu_forward(&a, out, message, sizeof message));
    a.head_dim = 1;
    a.scale = NAN;
    expect("scale NaN", fs_cpu_forward(&a, out, message, sizeof message));
    a.scale = 1;
    a.bias = INFINITY;
    expect("bias Inf", fs_cpu_backward(&a, out, out, out, out, nullptr, message, sizeof message));
    a.bias = 0;
    a.q.data = nullptr;
    expect("null q", fs_cpu_forward(&a, out, message, sizeof message));
}

}  // namespace

int main(int argc, char** argv) {
    int cases = argc > 1 ? std::atoi(argv[1]) : 300;
    unsigned long long seed =
        argc > 2 ? std::strtoull(argv[2], nullptr, 10) : std::random_device{}();
    rng.seed(seed);
    std::printf("op_harness: seed %llu (replay: op_harness %d %llu)\n", seed, cases, seed);
    if (!flash_sigmoid::registration_error().empty()) {
        std::printf("FAIL registration: %s\n", flash_sigmoid::registration_error().c_str());
        return 1;
    }
    Counts c;
    for (int n = 0; n < cases; ++n) valid_case(c, n);
    hostile_cases(c);
    kernel_abi_cases(c);
    std::printf(
        "op_harness: %d calls ran (forward and backward), %d bad calls refused, %d failures\n",
        c.valid, c.rejected, c.failures);
    return c.failures ? 1 : 0;
}
