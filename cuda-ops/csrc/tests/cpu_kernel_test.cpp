// Checks the CPU kernels through their C ABI against a double-precision loop, on random shapes,
// options and data, for every instruction set this CPU supports. Runs without PyTorch, so it also
// runs under the sanitizers. Exit status 0 on success.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../flash_sigmoid/cpu/convert.h"
#include "../flash_sigmoid/flash_sigmoid.h"

namespace {

struct Case {
    int64_t B, Tq, Tk, H, G, D;
    bool causal, alibi, head_bias;
    int mask;  // 0 none, 1 dense (B, H, Tq, Tk), 2 key padding (B, 1, 1, Tk), 3 per head (B, H, 1,
               // Tk)
    bool varlen;  // key lengths per sequence
    fs_dtype dtype;
    float scale, bias;
};

struct Data {
    std::vector<float> q, k, v, dout;  // values as stored (rounded to the dtype)
    std::vector<float> slopes, hbias;
    std::vector<uint8_t> keep;
    int64_t keep_stride[4];
    std::vector<int32_t> key_lengths;
};

double sigmoid(double x) {
    return 1.0 / (1.0 + std::exp(-x));
}

float round_to(fs_dtype t, float x) {
    if (t == FS_FLOAT16) return half_to_float(float_to_half(x));
    if (t == FS_BFLOAT16) return bf16_to_float(float_to_bf16(x));
    return x;
}

std::vector<uint16_t> to_storage16(fs_dtype t, const std::vector<float>& x) {
    std::vector<uint16_t> r(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        r[i] = t == FS_FLOAT16 ? float_to_half(x[i]) : float_to_bf16(x[i]);
    }
    return r;
}

bool visible(const Case& c, const Data& d, int64_t b, int64_t h, int64_t i, int64_t j) {
    if (c.causal && j > i + c.Tk - c.Tq) return false;
    if (c.varlen && j >= d.key_lengths[b]) return false;
    if (c.mask) {
        const int64_t* s = d.keep_stride;
        if (!d.keep[b * s[0] + h * s[1] + i * s[2] + j * s[3]]) return false;
    }
    return true;
}

double score(const Case& c, const Data& d, int64_t b, int64_t h, int64_t i, int64_t j) {
    int64_t g = h / (c.H / c.G);
    double acc = 0;
    for (int64_t e = 0; e < c.D; ++e) {
        acc += (double)d.q[((b * c.Tq + i) * c.H + h) * c.D + e] *
               d.k[((b * c.Tk + j) * c.G + g) * c.D + e];
    }
    double s = c.scale * acc + c.bias + (c.head_bias ? d.hbias[h] : 0.0);
    if (c.alibi) s -= d.slopes[h] * std::fabs((double)(i + c.Tk - c.Tq - j));
    return s;
}

// Reference forward and backward in double. dbias_scale[h] = sum |dS| of head h: the scale the
// head-bias gradient's error is measured against, since the gradient is a sum that can cancel.
void reference(const Case& c, const Data& d, std::vector<double>& out, std::vector<double>& dq,
               std::vector<double>& dk, std::vector<double>& dv, std::vector<double>& dbias,
               std::vector<double>& dbias_scale) {
    out.assign(c.B * c.Tq * c.H * c.D, 0);
    dq.assign(c.B * c.Tq * c.H * c.D, 0);
    dk.assign(c.B * c.Tk * c.G * c.D, 0);
    dv.assign(c.B * c.Tk * c.G * c.D, 0);
    dbias.assign(c.H, 0);
    dbias_scale.assign(c.H, 0);
    for (int64_t b = 0; b < c.B; ++b)
        for (int64_t h = 0; h < c.H; ++h)
            for (int64_t i = 0; i < c.Tq; ++i)
                for (int64_t j = 0; j < c.Tk; ++j) {
                    if (!visible(c, d, b, h, i, j)) continue;
                    int64_t g = h / (c.H / c.G);
                    double p = sigmoid(score(c, d, b, h, i, j));
                    int64_t qo = ((b * c.Tq + i) * c.H + h) * c.D;
                    int64_t ko = ((b * c.Tk + j) * c.G + g) * c.D;
                    double dp = 0;
                    for (int64_t e = 0; e < c.D; ++e) {
                        out[qo + e] += p * d.v[ko + e];
                        dp += (double)d.dout[qo + e] * d.v[ko + e];
                        dv[ko + e] += p * d.dout[qo + e];
                    }
                    double ds = dp * p * (1 - p);
                    dbias[h] += ds;
                    dbias_scale[h] += std::fabs(ds);
                    for (int64_t e = 0; e < c.D; ++e) {
                        dq[qo + e] += c.scale * ds * d.k[ko + e];
                        dk[ko + e] += c.scale * ds * d.q[qo + e];
                    }
                }
}

double rel_error(const std::vector<float>& got, const std::vector<double>& want) {
    double diff = 0, ref = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        if (!std::isfinite(got[i])) return INFINITY;
        diff = std::max(diff, std::fabs(got[i] - want[i]));
        ref = std::max(ref, std::fabs(want[i]));
    }
    return ref > 0 ? diff / ref : diff;
}

// Runs the kernels on contiguous storage of the case's dtype and reads the results as float.
bool run(const Case& c, Data& d, std::vector<float>& out, std::vector<float>& dq,
         std::vector<float>& dk, std::vector<float>& dv, std::vector<float>& dbias) {
    size_t nq = c.B * c.Tq * c.H * c.D, nk = c.B * c.Tk * c.G * c.D;
    size_t esize = c.dtype == FS_FLOAT32 ? 4 : 2;
    auto store = [&](const std::vector<float>& x) {
        std::vector<uint8_t> bytes(x.size() * esize);
        if (c.dtype == FS_FLOAT32) {
            std::memcpy(bytes.data(), x.data(), bytes.size());
        } else {
            auto h = to_storage16(c.dtype, x);
            std::memcpy(bytes.data(), h.data(), bytes.size());
        }
        return bytes;
    };
    auto load = [&](const std::vector<uint8_t>& bytes, size_t n) {
        std::vector<float> x(n);
        load_row(c.dtype, bytes.data(), 0, 1, n, x.data());
        return x;
    };
    std::vector<uint8_t> q = store(d.q), k = store(d.k), v = store(d.v), go = store(d.dout);
    // Poison the outputs: every element must be written.
    std::vector<uint8_t> o(nq * esize, 0xff), gq(nq * esize, 0xff), gk(nk * esize, 0xff),
        gv(nk * esize, 0xff);
    auto strides = [&](int64_t T, int64_t heads, int64_t s[4]) {
        s[3] = 1;
        s[2] = c.D;
        s[1] = heads * c.D;
        s[0] = T * heads * c.D;
    };
    fs_attention a{};
    a.dtype = c.dtype;
    a.q.data = q.data();
    strides(c.Tq, c.H, a.q.stride);
    a.k.data = k.data();
    strides(c.Tk, c.G, a.k.stride);
    a.v.data = v.data();
    strides(c.Tk, c.G, a.v.stride);
    a.batch = c.B;
    a.q_len = c.Tq;
    a.k_len = c.Tk;
    a.heads = c.H;
    a.kv_heads = c.G;
    a.head_dim = c.D;
    a.scale = c.scale;
    a.bias = c.bias;
    a.causal = c.causal;
    a.head_bias = c.head_bias ? d.hbias.data() : nullptr;
    a.alibi_slopes = c.alibi ? d.slopes.data() : nullptr;
    a.keep = c.mask ? d.keep.data() : nullptr;
    a.key_lengths = c.varlen ? d.key_lengths.data() : nullptr;
    std::memcpy(a.keep_stride, d.keep_stride, sizeof(d.keep_stride));
    fs_operand fo{o.data(), {}}, fgo{go.data(), {}}, fq{gq.data(), {}}, fk{gk.data(), {}},
        fv{gv.data(), {}};
    strides(c.Tq, c.H, fo.stride);
    strides(c.Tq, c.H, fgo.stride);
    strides(c.Tq, c.H, fq.stride);
    strides(c.Tk, c.G, fk.stride);
    strides(c.Tk, c.G, fv.stride);
    char msg[256];
    if (fs_cpu_forward(&a, fo, msg, sizeof msg) != FS_OK) {
        std::printf("forward failed: %s\n", msg);
        return false;
    }
    dbias.assign(c.H, NAN);
    if (fs_cpu_backward(&a, fgo, fq, fk, fv, dbias.data(), msg, sizeof msg) != FS_OK) {
        std::printf("backward failed: %s\n", msg);
        return false;
    }
    out = load(o, nq);
    dq = load(gq, nq);
    dk = load(gk, nk);
    dv = load(gv, nk);
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    int cases = argc > 1 ? std::atoi(argv[1]) : 150;
    unsigned seed = argc > 2 ? (unsigned)std::atoi(argv[2]) : std::random_device{}();
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0, 1);
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    std::printf("seed %u\n", seed);
    int failures = 0;
    const char* isas[] = {"avx512", "avx2", "generic"};
    for (const char* isa : isas) {
        if (fs_cpu_set_isa(isa) != FS_OK) {
            std::printf("%s: not supported here, skipped\n", isa);
            continue;
        }
        double worst[3] = {0, 0, 0};
        for (int n = 0; n < cases; ++n) {
            Case c;
            c.B = uniform(1, 2);
            int heads[] = {1, 2, 3, 4, 6};
            c.H = heads[uniform(0, 4)];
            do c.G = uniform(1, (int)c.H);
            while (c.H % c.G);
            int dims[] = {1, 7, 16, 32, 40, 64, 96, 128};
            c.D = dims[uniform(0, 7)];
            // Long cases span several key chunks of the backward and several float32 blocks of
            // every sum (forward over keys, backward over keys and queries).
            const int size = uniform(0, 19);
            const bool big = size < 5, long_case = size == 0;
            if (long_case) c.D = dims[uniform(0, 5)];
            c.Tq = long_case ? uniform(250, 700) : big ? uniform(60, 300) : uniform(1, 40);
            c.Tk = uniform(0, 2) == 0 ? c.Tq
                   : long_case        ? uniform(900, 2600)
                   : big              ? uniform(60, 300)
                                      : uniform(1, 40);
            c.causal = uniform(0, 1);
            c.alibi = uniform(0, 2) == 0;
            c.head_bias = uniform(0, 2) == 0;
            c.mask = uniform(0, 3);
            c.varlen = uniform(0, 3) == 0;
            c.dtype = (fs_dtype)uniform(0, 2);
            c.scale = 1.0f / std::sqrt((float)c.D);
            c.bias = -std::log((float)c.Tk) + 0.5f * normal(rng);
            Data d;
            auto fill = [&](std::vector<float>& x, size_t n) {
                x.resize(n);
                for (float& e : x) e = round_to(c.dtype, normal(rng));
            };
            fill(d.q, c.B * c.Tq * c.H * c.D);
            fill(d.k, c.B * c.Tk * c.G * c.D);
            fill(d.v, c.B * c.Tk * c.G * c.D);
            fill(d.dout, c.B * c.Tq * c.H * c.D);
            d.slopes.resize(c.H);
            d.hbias.resize(c.H);
            for (int64_t h = 0; h < c.H; ++h) {
                d.slopes[h] = std::pow(2.0f, -8.0f * (h + 1) / c.H);
                d.hbias[h] = normal(rng);
            }
            if (c.mask == 1) {
                d.keep.resize(c.B * c.H * c.Tq * c.Tk);
                for (auto& e : d.keep) e = uniform(0, 3) != 0;
                int64_t s[4] = {c.H * c.Tq * c.Tk, c.Tq * c.Tk, c.Tk, 1};
                std::memcpy(d.keep_stride, s, sizeof s);
            } else if (c.mask == 2) {
                d.keep.resize(c.B * c.Tk);
                for (auto& e : d.keep) e = uniform(0, 3) != 0;
                int64_t s[4] = {c.Tk, 0, 0, 1};
                std::memcpy(d.keep_stride, s, sizeof s);
            } else if (c.mask == 3) {
                d.keep.resize(c.B * c.H * c.Tk);
                for (auto& e : d.keep) e = uniform(0, 3) != 0;
                int64_t s[4] = {c.H * c.Tk, c.Tk, 0, 1};
                std::memcpy(d.keep_stride, s, sizeof s);
            } else {
                std::memset(d.keep_stride, 0, sizeof d.keep_stride);
            }
            if (c.varlen) {
                d.key_lengths.resize(c.B);
                for (auto& e : d.key_lengths) e = uniform(0, (int)c.Tk);
            }
            std::vector<double> ro, rq, rk, rv, rb, rb_scale;
            reference(c, d, ro, rq, rk, rv, rb, rb_scale);
            std::vector<float> o, gq, gk, gv, gb;
            if (!run(c, d, o, gq, gk, gv, gb)) {
                ++failures;
                continue;
            }
            // Inputs are exact in the dtype; the error is the kernel's float32 arithmetic plus
            // the rounding of the outputs to the dtype.
            double tol = c.dtype == FS_FLOAT32 ? 2e-5 : (c.dtype == FS_FLOAT16 ? 4e-3 : 3e-2);
            double errs[] = {rel_error(o, ro), rel_error(gq, rq), rel_error(gk, rk),
                             rel_error(gv, rv)};
            double eb = 0, scale = 0;
            for (size_t h = 0; h < gb.size(); ++h) {
                eb = std::isfinite(gb[h]) ? std::max(eb, std::fabs(gb[h] - rb[h])) : INFINITY;
                scale = std::max(scale, rb_scale[h]);
            }
            eb = scale > 0 ? eb / scale : eb;
            const char* names[] = {"out", "dq", "dk", "dv"};
            for (int i = 0; i < 4; ++i) {
                worst[c.dtype] = std::max(worst[c.dtype], errs[i]);
                if (!(errs[i] <= tol)) {
                    ++failures;
                    std::printf(
                        "FAIL %s %s: rel err %.3g (tol %.1g) B=%lld Tq=%lld Tk=%lld H=%lld G=%lld "
                        "D=%lld causal=%d alibi=%d head_bias=%d mask=%d varlen=%d dtype=%d\n",
                        isa, names[i], errs[i], tol, (long long)c.B, (long long)c.Tq,
                        (long long)c.Tk, (long long)c.H, (long long)c.G, (long long)c.D, c.causal,
                        c.alibi, c.head_bias, c.mask, c.varlen, c.dtype);
                }
            }
            if (!(eb <= 1e-4 + tol)) {
                ++failures;
                std::printf(
                    "FAIL %s dbias: error %.3g of sum |dS| B=%lld Tq=%lld Tk=%lld H=%lld G=%lld\n",
                    isa, eb, (long long)c.B, (long long)c.Tq, (long long)c.Tk, (long long)c.H,
                    (long long)c.G);
            }
        }
        std::printf("%s: worst relative error float32 %.2g, float16 %.2g, bfloat16 %.2g\n", isa,
                    worst[0], worst[1], worst[2]);
    }
    std::printf(failures ? "%d FAILURES\n" : "all passed\n", failures);
    return failures ? 1 : 0;
}
