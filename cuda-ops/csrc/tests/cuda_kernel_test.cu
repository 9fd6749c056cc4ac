// Checks the CUDA kernels through their C ABI (fs_cuda_*) against a double-precision CPU loop on
// fresh random data: odd lengths, Tq != Tk, GQA/MQA, causal, head_bias, alibi, keep masks,
// strided layouts, every compiled head dim, float16 and bfloat16. Outputs are poisoned with NaN
// bytes first, so an element the kernels leave unwritten fails. Runs without PyTorch.
//
//   cuda_kernel_test [random_cases] [--small] [--bench] [--seed N]
//
// --small: a handful of tiny shapes (for compute-sanitizer); --bench: times the forward and
// backward at B=4 H=16 N=4096 D=128 bf16. Exit status 0 when every check passes.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../flash_sigmoid/flash_sigmoid.h"
#include "../flash_sigmoid/cuda/generic/utils.h"

#define CHECK_CUDA(x)                                                                       \
    do {                                                                                    \
        cudaError_t err_ = (x);                                                             \
        if (err_ != cudaSuccess) {                                                          \
            std::printf("CUDA error %s at %s:%d: %s\n", cudaGetErrorString(err_), __FILE__, \
                        __LINE__, #x);                                                      \
            std::exit(2);                                                                   \
        }                                                                                   \
    } while (0)

namespace {

struct Case {
    int64_t B, Tq, Tk, H, G, D;
    bool causal, alibi, head_bias;
    int mask;      // 0 none, 1 full (B, H, Tq, Tk), 2 key padding broadcast (B, 1, 1, Tk)
    bool strided;  // operands stored as (B, heads, T, D) and passed as (B, T, heads, D) views
    fs_dtype dtype;
    float scale, bias;
};

std::string describe(const Case& c) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "%s D=%lld B=%lld Tq=%lld Tk=%lld H=%lld G=%lld causal=%d alibi=%d hbias=%d "
                  "mask=%d strided=%d",
                  c.dtype == FS_BFLOAT16 ? "bf16" : "fp16", (long long)c.D, (long long)c.B,
                  (long long)c.Tq, (long long)c.Tk, (long long)c.H, (long long)c.G, c.causal,
                  c.alibi, c.head_bias, c.mask, c.strided);
    return buf;
}

uint16_t to_bits(fs_dtype t, float x) {
    if (t == FS_BFLOAT16) return static_cast<__nv_bfloat16_raw>(__float2bfloat16_rn(x)).x;
    return static_cast<__half_raw>(__float2half_rn(x)).x;
}

float from_bits(fs_dtype t, uint16_t b) {
    if (t == FS_BFLOAT16) {
        __nv_bfloat16_raw r;
        r.x = b;
        return __bfloat162float(__nv_bfloat16(r));
    }
    __half_raw r;
    r.x = b;
    return __half2float(__half(r));
}

// A (B, T, heads, D) operand on the device, contiguous or stored as (B, heads, T, D).
struct DevTensor {
    int64_t B = 0, T = 0, Hh = 0, D = 0;
    bool strided = false;
    uint16_t* data = nullptr;
    int64_t stride[4] = {0, 0, 0, 1};
    size_t count() const { return (size_t)(B * T * Hh * D); }
    void init(int64_t b, int64_t t, int64_t h, int64_t d, bool s) {
        B = b, T = t, Hh = h, D = d, strided = s;
        if (s) {
            stride[0] = h * t * d, stride[1] = d, stride[2] = t * d, stride[3] = 1;
        } else {
            stride[0] = t * h * d, stride[1] = h * d, stride[2] = d, stride[3] = 1;
        }
        if (count()) CHECK_CUDA(cudaMalloc(&data, count() * 2));
    }
    ~DevTensor() {
        if (data) cudaFree(data);
    }
    size_t offset(int64_t b, int64_t t, int64_t h, int64_t d) const {
        return (size_t)(b * stride[0] + t * stride[1] + h * stride[2] + d);
    }
    // x is logical (B, T, heads, D) contiguous.
    void upload(fs_dtype dt, const std::vector<float>& x) {
        if (!count()) return;
        std::vector<uint16_t> h(count());
        for (int64_t b = 0; b < B; ++b)
            for (int64_t t = 0; t < T; ++t)
                for (int64_t hh = 0; hh < Hh; ++hh)
                    for (int64_t d = 0; d < D; ++d)
                        h[offset(b, t, hh, d)] = to_bits(dt, x[((b * T + t) * Hh + hh) * D + d]);
        CHECK_CUDA(cudaMemcpy(data, h.data(), count() * 2, cudaMemcpyHostToDevice));
    }
    std::vector<float> download(fs_dtype dt) const {
        std::vector<float> x(count());
        if (!count()) return x;
        std::vector<uint16_t> h(count());
        CHECK_CUDA(cudaMemcpy(h.data(), data, count() * 2, cudaMemcpyDeviceToHost));
        for (int64_t b = 0; b < B; ++b)
            for (int64_t t = 0; t < T; ++t)
                for (int64_t hh = 0; hh < Hh; ++hh)
                    for (int64_t d = 0; d < D; ++d)
                        x[((b * T + t) * Hh + hh) * D + d] = from_bits(dt, h[offset(b, t, hh, d)]);
        return x;
    }
    void poison() {
        if (count()) CHECK_CUDA(cudaMemset(data, 0xff, count() * 2));
    }
    fs_operand operand() const {
        fs_operand o;
        o.data = data;
        std::memcpy(o.stride, stride, sizeof stride);
        return o;
    }
};

struct HostData {
    std::vector<float> q, k, v, dout, slopes, hbias;
    std::vector<uint8_t> keep;
    int64_t keep_stride[4] = {0, 0, 0, 0};
};

double sigmoid(double x) {
    return 1.0 / (1.0 + std::exp(-x));
}

// dbias_abs[h] = sum |dS| is the scale of d_head_bias's rounding error: the sum cancels, so its
// own norm can be arbitrarily small against the terms.
void reference(const Case& c, const HostData& d, std::vector<double>& out, std::vector<double>& dq,
               std::vector<double>& dk, std::vector<double>& dv, std::vector<double>& dbias,
               std::vector<double>& dbias_abs) {
    out.assign(c.B * c.Tq * c.H * c.D, 0);
    dq.assign(c.B * c.Tq * c.H * c.D, 0);
    dk.assign(c.B * c.Tk * c.G * c.D, 0);
    dv.assign(c.B * c.Tk * c.G * c.D, 0);
    dbias.assign(c.H, 0);
    dbias_abs.assign(c.H, 0);
    const int64_t group = c.G ? c.H / c.G : 1;
    std::vector<double> p(c.Tk), ds(c.Tk);
    for (int64_t b = 0; b < c.B; ++b)
        for (int64_t h = 0; h < c.H; ++h) {
            const int64_t g = h / group;
            for (int64_t i = 0; i < c.Tq; ++i) {
                const float* qi = &d.q[((b * c.Tq + i) * c.H + h) * c.D];
                const float* doi = &d.dout[((b * c.Tq + i) * c.H + h) * c.D];
                for (int64_t j = 0; j < c.Tk; ++j) {
                    p[j] = 0, ds[j] = 0;
                    if (c.causal && j > i + c.Tk - c.Tq) continue;
                    if (c.mask) {
                        const int64_t* s = d.keep_stride;
                        if (!d.keep[b * s[0] + h * s[1] + i * s[2] + j * s[3]]) continue;
                    }
                    const float* kj = &d.k[((b * c.Tk + j) * c.G + g) * c.D];
                    const float* vj = &d.v[((b * c.Tk + j) * c.G + g) * c.D];
                    double acc = 0, dp = 0;
                    for (int64_t e = 0; e < c.D; ++e) {
                        acc += (double)qi[e] * kj[e];
                        dp += (double)doi[e] * vj[e];
                    }
                    double s = c.scale * acc + c.bias + (c.head_bias ? d.hbias[h] : 0.0);
                    if (c.alibi) s -= d.slopes[h] * std::fabs((double)(i + c.Tk - c.Tq - j));
                    p[j] = sigmoid(s);
                    ds[j] = dp * p[j] * (1 - p[j]);
                    dbias[h] += ds[j];
                    dbias_abs[h] += std::fabs(ds[j]);
                }
                double* oi = &out[((b * c.Tq + i) * c.H + h) * c.D];
                double* dqi = &dq[((b * c.Tq + i) * c.H + h) * c.D];
                for (int64_t j = 0; j < c.Tk; ++j) {
                    if (p[j] == 0 && ds[j] == 0) continue;
                    const float* kj = &d.k[((b * c.Tk + j) * c.G + g) * c.D];
                    const float* vj = &d.v[((b * c.Tk + j) * c.G + g) * c.D];
                    double* dkj = &dk[((b * c.Tk + j) * c.G + g) * c.D];
                    double* dvj = &dv[((b * c.Tk + j) * c.G + g) * c.D];
                    for (int64_t e = 0; e < c.D; ++e) {
                        oi[e] += p[j] * vj[e];
                        dvj[e] += p[j] * doi[e];
                        dqi[e] += c.scale * ds[j] * kj[e];
                        dkj[e] += c.scale * ds[j] * qi[e];
                    }
                }
            }
        }
}

// ||got - want|| / ||want|| (absolute norm when want is all zeros); infinite on any NaN/Inf.
double rel_error(const std::vector<float>& got, const std::vector<double>& want) {
    double diff = 0, ref = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        if (!std::isfinite(got[i])) return INFINITY;
        diff += (got[i] - want[i]) * (got[i] - want[i]);
        ref += want[i] * want[i];
    }
    return ref > 0 ? std::sqrt(diff / ref) : std::sqrt(diff);
}

// d_head_bias: ||got - want|| / ||sum |dS|||, the error relative to the size of the terms.
double bias_error(const std::vector<float>& got, const std::vector<double>& want,
                  const std::vector<double>& scale) {
    double diff = 0, ref = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        if (!std::isfinite(got[i])) return INFINITY;
        diff += (got[i] - want[i]) * (got[i] - want[i]);
        ref += scale[i] * scale[i];
    }
    return ref > 0 ? std::sqrt(diff / ref) : std::sqrt(diff);
}

struct Worst {
    double v[2][5] = {};  // [fp16, bf16][out, dq, dk, dv, dbias]
};

bool run_case(const Case& c, std::mt19937& rng, Worst& worst) {
    std::normal_distribution<float> normal(0, 1);
    std::uniform_int_distribution<int> coin(0, 3);
    HostData d;
    auto fill = [&](std::vector<float>& x, size_t n) {
        x.resize(n);
        for (float& e : x) e = from_bits(c.dtype, to_bits(c.dtype, normal(rng)));
    };
    fill(d.q, c.B * c.Tq * c.H * c.D);
    fill(d.k, c.B * c.Tk * c.G * c.D);
    fill(d.v, c.B * c.Tk * c.G * c.D);
    fill(d.dout, c.B * c.Tq * c.H * c.D);
    d.slopes.resize(c.H);
    d.hbias.resize(c.H);
    for (int64_t h = 0; h < c.H; ++h) {
        d.slopes[h] = std::pow(2.0f, -8.0f * (h + 1) / c.H);
        d.hbias[h] = 0.5f * normal(rng);
    }
    if (c.mask == 1) {
        d.keep.resize(std::max<int64_t>(1, c.B * c.H * c.Tq * c.Tk));
        for (auto& e : d.keep) e = coin(rng) != 0;
        int64_t s[4] = {c.H * c.Tq * c.Tk, c.Tq * c.Tk, c.Tk, 1};
        std::memcpy(d.keep_stride, s, sizeof s);
    } else if (c.mask == 2) {
        d.keep.resize(std::max<int64_t>(1, c.B * c.Tk));
        for (auto& e : d.keep) e = coin(rng) != 0;
        int64_t s[4] = {c.Tk, 0, 0, 1};
        std::memcpy(d.keep_stride, s, sizeof s);
    }

    DevTensor q, k, v, o, go, gq, gk, gv;
    q.init(c.B, c.Tq, c.H, c.D, c.strided);
    k.init(c.B, c.Tk, c.G, c.D, c.strided);
    v.init(c.B, c.Tk, c.G, c.D, false);
    o.init(c.B, c.Tq, c.H, c.D, c.strided);
    go.init(c.B, c.Tq, c.H, c.D, c.strided);
    gq.init(c.B, c.Tq, c.H, c.D, c.strided);
    gk.init(c.B, c.Tk, c.G, c.D, c.strided);
    gv.init(c.B, c.Tk, c.G, c.D, c.strided);
    q.upload(c.dtype, d.q);
    k.upload(c.dtype, d.k);
    v.upload(c.dtype, d.v);
    go.upload(c.dtype, d.dout);
    float *slopes = nullptr, *hbias = nullptr, *dbias = nullptr;
    uint8_t* keep = nullptr;
    CHECK_CUDA(cudaMalloc(&slopes, c.H * 4 + 4));
    CHECK_CUDA(cudaMalloc(&hbias, c.H * 4 + 4));
    CHECK_CUDA(cudaMalloc(&dbias, c.H * 4 + 4));
    CHECK_CUDA(cudaMemcpy(slopes, d.slopes.data(), c.H * 4, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(hbias, d.hbias.data(), c.H * 4, cudaMemcpyHostToDevice));
    if (c.mask) {
        CHECK_CUDA(cudaMalloc(&keep, d.keep.size()));
        CHECK_CUDA(cudaMemcpy(keep, d.keep.data(), d.keep.size(), cudaMemcpyHostToDevice));
    }
    o.poison();
    gq.poison();
    gk.poison();
    gv.poison();
    CHECK_CUDA(cudaMemset(dbias, 0xff, c.H * 4 + 4));

    fs_attention a{};
    a.dtype = c.dtype;
    a.q = q.operand();
    a.k = k.operand();
    a.v = v.operand();
    a.batch = c.B, a.q_len = c.Tq, a.k_len = c.Tk, a.heads = c.H, a.kv_heads = c.G;
    a.head_dim = c.D;
    a.scale = c.scale, a.bias = c.bias, a.causal = c.causal;
    a.head_bias = c.head_bias ? hbias : nullptr;
    a.alibi_slopes = c.alibi ? slopes : nullptr;
    a.keep = keep;
    std::memcpy(a.keep_stride, d.keep_stride, sizeof d.keep_stride);

    bool ok = true;
    char msg[512] = "";
    cudaStream_t stream;
    CHECK_CUDA(cudaStreamCreate(&stream));
    if (fs_cuda_forward(&a, o.operand(), stream, msg, sizeof msg) != FS_OK) {
        std::printf("FAIL %s: forward returned an error: %s\n", describe(c).c_str(), msg);
        ok = false;
    }
    size_t ws_bytes = fs_cuda_backward_workspace_size(&a);
    void* ws = nullptr;
    if (ws_bytes) {
        CHECK_CUDA(cudaMalloc(&ws, ws_bytes));
        CHECK_CUDA(cudaMemset(ws, 0xff, ws_bytes));  // "any content"
    }
    if (ok && fs_cuda_backward(&a, go.operand(), gq.operand(), gk.operand(), gv.operand(), dbias,
                               ws, stream, msg, sizeof msg) != FS_OK) {
        std::printf("FAIL %s: backward returned an error: %s\n", describe(c).c_str(), msg);
        ok = false;
    }
    CHECK_CUDA(cudaStreamSynchronize(stream));
    CHECK_CUDA(cudaGetLastError());
    CHECK_CUDA(cudaStreamDestroy(stream));

    if (ok) {
        std::vector<double> ro, rq, rk, rv, rb, rb_abs;
        reference(c, d, ro, rq, rk, rv, rb, rb_abs);
        std::vector<float> gb(c.H);
        CHECK_CUDA(cudaMemcpy(gb.data(), dbias, c.H * 4, cudaMemcpyDeviceToHost));
        double errs[5] = {rel_error(o.download(c.dtype), ro), rel_error(gq.download(c.dtype), rq),
                          rel_error(gk.download(c.dtype), rk), rel_error(gv.download(c.dtype), rv),
                          bias_error(gb, rb, rb_abs)};
        // Inputs are exact in the dtype; errors come from 16-bit P and dS operands, fp32
        // accumulation, the ex2/rcp sigmoid and the rounding of the outputs.
        const double tol = c.dtype == FS_BFLOAT16 ? 1e-2 : 3e-3;
        const double tols[5] = {tol, tol, tol, tol, tol};
        const char* names[5] = {"out", "dq", "dk", "dv", "dbias"};
        const int ti = c.dtype == FS_BFLOAT16 ? 1 : 0;
        char line[256];
        int n = 0;
        for (int i = 0; i < 5; ++i) {
            worst.v[ti][i] = std::max(worst.v[ti][i], errs[i]);
            if (!(errs[i] <= tols[i])) ok = false;
            n += std::snprintf(line + n, sizeof line - n, " %s %.2e", names[i], errs[i]);
        }
        std::printf("%s %s |%s\n", ok ? "ok  " : "FAIL", describe(c).c_str(), line);
    }
    cudaFree(slopes);
    cudaFree(hbias);
    cudaFree(dbias);
    if (keep) cudaFree(keep);
    if (ws) cudaFree(ws);
    return ok;
}

// The API must refuse what the kernels cannot do, with a message.
int check_bad_inputs() {
    int failures = 0;
    void* buf = nullptr;
    CHECK_CUDA(cudaMalloc(&buf, 1 << 20));
    auto base = [&]() {
        fs_attention a{};
        a.dtype = FS_BFLOAT16;
        int64_t s[4] = {16 * 2 * 64, 2 * 64, 64, 1};
        for (fs_operand* op : {&a.q, &a.k, &a.v}) {
            op->data = buf;
            std::memcpy(op->stride, s, sizeof s);
        }
        a.batch = 1, a.q_len = 16, a.k_len = 16, a.heads = 2, a.kv_heads = 2, a.head_dim = 64;
        a.scale = 0.125f;
        return a;
    };
    struct Bad {
        const char* what;
        fs_attention a;
    };
    std::vector<Bad> bad;
    {
        fs_attention a = base();
        a.dtype = FS_FLOAT32;
        bad.push_back({"float32 dtype", a});
    }
    {
        fs_attention a = base();
        a.head_dim = 80;
        bad.push_back({"head_dim 80", a});
    }
    {
        fs_attention a = base();
        a.q.stride[1] = 2 * 64 + 4;
        bad.push_back({"row stride not a multiple of 8", a});
    }
    {
        fs_attention a = base();
        a.k.data = static_cast<char*>(buf) + 8;
        bad.push_back({"k not 16-byte aligned", a});
    }
    {
        fs_attention a = base();
        a.v.stride[3] = 2;
        bad.push_back({"last stride 2", a});
    }
    {
        fs_attention a = base();
        a.kv_heads = 3;
        bad.push_back({"heads not a multiple of kv_heads", a});
    }
    for (const Bad& b : bad) {
        char msg[256] = "";
        fs_operand out{buf, {16 * 2 * 64, 2 * 64, 64, 1}};
        int st = fs_cuda_forward(&b.a, out, nullptr, msg, sizeof msg);
        bool ok = st == FS_INVALID_ARGUMENT && std::strlen(msg) > 0;
        char msg2[256] = "";
        int st2 =
            fs_cuda_backward(&b.a, out, out, out, out, nullptr, buf, nullptr, msg2, sizeof msg2);
        ok = ok && st2 == FS_INVALID_ARGUMENT && std::strlen(msg2) > 0;
        ok = ok && fs_cuda_forward_kernel(&b.a) == nullptr;
        std::printf("%s bad input (%s): status %d, \"%s\"\n", ok ? "ok  " : "FAIL", b.what, st,
                    msg);
        failures += !ok;
    }
    cudaFree(buf);
    return failures;
}

// The kernels' own sigmoid forms (generic/sigmoid.h) on the device against double precision over
// x in [-80, 40]: relative error everywhere (ALiBi and long contexts reach far into the negative
// tail), not only absolute. Entry i takes form i % kSigmoidForms, with partners from elsewhere in
// the range: 0 the single sigmoid; 1, 2 the paired one (MUFU, FMA-pipe reciprocal); 3, 4, 5 the
// four-way one with the forward's weight unit (MUFU; the reciprocal and the last two exponentials
// on the FMA pipe; the reciprocal and all four exponentials there).
constexpr int kSigmoidForms = 6;
__global__ void sigmoid_probe(const float* x, float* y, int n) {
    using namespace flash_sigmoid::cuda::generic;
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float a = x[i] * kSigmoidInputScale, b = x[n - 1 - i] * kSigmoidInputScale;
    float c = x[(i * 7) % n] * kSigmoidInputScale, d = x[(i * 13) % n] * kSigmoidInputScale;
    switch (i % kSigmoidForms) {
        case 0:
            y[i] = sigmoid_of_scaled(a);
            return;
        case 1:
            sigmoid2_of_scaled(a, b);
            break;
        case 2:
            sigmoid2_of_scaled<true>(a, b);
            break;
        case 3:
            sigmoid4_of_scaled(a, b, c, d);
            break;
        case 4:
            sigmoid4_of_scaled<true, 2>(a, b, c, d);
            break;
        default:
            sigmoid4_of_scaled<true, 4>(a, b, c, d);
            break;
    }
    y[i] = i % kSigmoidForms >= 3 ? a * kWeightUnit : a;
}

int check_sigmoid() {
    const int n = 6 << 18;
    std::vector<float> x(n), y(n);
    for (int i = 0; i < n; ++i) x[i] = -80.0f + 120.0f * i / n;
    float *dx, *dy;
    CHECK_CUDA(cudaMalloc(&dx, n * 4));
    CHECK_CUDA(cudaMalloc(&dy, n * 4));
    CHECK_CUDA(cudaMemcpy(dx, x.data(), n * 4, cudaMemcpyHostToDevice));
    sigmoid_probe<<<n / 256, 256>>>(dx, dy, n);
    CHECK_CUDA(cudaGetLastError());
    CHECK_CUDA(cudaMemcpy(y.data(), dy, n * 4, cudaMemcpyDeviceToHost));
    int failures = 0;
    for (int form = 0; form < kSigmoidForms; ++form) {
        double max_abs = 0, max_rel = 0, at_abs = 0, at_rel = 0;
        for (int i = form; i < n; i += kSigmoidForms) {
            // The paired forms cap e^-x at 2^63 and the four-way ones at 2^46 (sigmoid.h): weights
            // below 1e-19 and 1.4e-14 read those.
            const double cap = form == 0 ? INFINITY : form < 3 ? 0x1p63 : 0x1p46;
            const double r = 1.0 / (1.0 + std::min(std::exp(-(double)x[i]), cap));
            const double e = std::fabs(y[i] - r);
            if (e > max_abs) max_abs = e, at_abs = x[i];
            if (e / r > max_rel) max_rel = e / r, at_rel = x[i];
        }
        // Float rounding of x log2(e) alone moves sigmoid by up to |x| 6e-8 relative (5e-6 at
        // -80).
        const bool ok = max_rel <= 2e-5;
        failures += !ok;
        std::printf(
            "%s sigmoid form %d over [-80, 40]: max abs error %.3g (x=%.2f), max rel error %.3g "
            "(x=%.2f), bound 2e-5\n",
            ok ? "ok  " : "FAIL", form, max_abs, at_abs, max_rel, at_rel);
    }
    cudaFree(dx);
    cudaFree(dy);
    return failures;
}

__global__ void fill_random(uint16_t* p, size_t n, uint32_t seed, bool bf16) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        h ^= h >> 15, h *= 2246822519u, h ^= h >> 13, h *= 3266489917u, h ^= h >> 16;
        float u = (h & 0xffffff) / 16777216.0f * 2.0f - 1.0f;  // uniform [-1, 1)
        if (bf16) {
            __nv_bfloat16 v = __float2bfloat16_rn(u * 1.7f);
            p[i] = *reinterpret_cast<uint16_t*>(&v);
        } else {
            __half v = __float2half_rn(u * 1.7f);
            p[i] = *reinterpret_cast<uint16_t*>(&v);
        }
    }
}

void bench() {
    const int64_t B = 4, H = 16, N = 4096, D = 128;
    const size_t n = B * N * H * D;
    const int kSets = 3;  // rotate inputs so repeated runs do not measure the cache
    std::vector<uint16_t*> q(kSets), k(kSets), v(kSets), go(kSets);
    uint16_t *o, *gq, *gk, *gv;
    for (int s = 0; s < kSets; ++s) {
        for (uint16_t** p : {&q[s], &k[s], &v[s], &go[s]}) {
            CHECK_CUDA(cudaMalloc(p, n * 2));
            fill_random<<<1024, 256>>>(*p, n, 1234u + 77u * s + (uint32_t)(size_t)p, true);
        }
    }
    for (uint16_t** p : {&o, &gq, &gk, &gv}) CHECK_CUDA(cudaMalloc(p, n * 2));
    CHECK_CUDA(cudaGetLastError());
    float* dbias;
    CHECK_CUDA(cudaMalloc(&dbias, H * 4));
    int64_t s[4] = {N * H * D, H * D, D, 1};
    auto make = [&](int set, bool causal) {
        fs_attention a{};
        a.dtype = FS_BFLOAT16;
        a.q = {q[set], {s[0], s[1], s[2], s[3]}};
        a.k = {k[set], {s[0], s[1], s[2], s[3]}};
        a.v = {v[set], {s[0], s[1], s[2], s[3]}};
        a.batch = B, a.q_len = N, a.k_len = N, a.heads = H, a.kv_heads = H, a.head_dim = D;
        a.scale = 1.0f / std::sqrt((float)D);
        a.bias = -std::log((float)N);
        a.causal = causal;
        return a;
    };
    void* ws;
    fs_attention a0 = make(0, false);
    CHECK_CUDA(cudaMalloc(&ws, fs_cuda_backward_workspace_size(&a0)));
    cudaEvent_t e0, e1;
    CHECK_CUDA(cudaEventCreate(&e0));
    CHECK_CUDA(cudaEventCreate(&e1));
    char msg[256];
    for (int causal = 0; causal < 2; ++causal) {
        for (int bwd = 0; bwd < 2; ++bwd) {
            std::vector<float> times;
            for (int it = 0; it < 23; ++it) {
                fs_attention a = make(it % kSets, causal);
                fs_operand out{o, {s[0], s[1], s[2], s[3]}};
                fs_operand gdo{go[it % kSets], {s[0], s[1], s[2], s[3]}};
                fs_operand fq{gq, {s[0], s[1], s[2], s[3]}}, fk{gk, {s[0], s[1], s[2], s[3]}},
                    fv{gv, {s[0], s[1], s[2], s[3]}};
                CHECK_CUDA(cudaEventRecord(e0));
                int st =
                    bwd ? fs_cuda_backward(&a, gdo, fq, fk, fv, dbias, ws, nullptr, msg, sizeof msg)
                        : fs_cuda_forward(&a, out, nullptr, msg, sizeof msg);
                CHECK_CUDA(cudaEventRecord(e1));
                if (st != FS_OK) {
                    std::printf("bench call failed: %s\n", msg);
                    return;
                }
                CHECK_CUDA(cudaEventSynchronize(e1));
                float ms;
                CHECK_CUDA(cudaEventElapsedTime(&ms, e0, e1));
                if (it >= 3) times.push_back(ms);
            }
            std::sort(times.begin(), times.end());
            double ms = times[times.size() / 2];
            double flops = 4.0 * B * H * N * N * D * (causal ? 0.5 : 1.0) * (bwd ? 2.5 : 1.0);
            std::printf(
                "bench %s %s B=4 H=16 N=4096 D=128 bf16: median %.3f ms, %.1f TFLOP/s "
                "(min %.3f ms)\n",
                bwd ? "backward" : "forward ", causal ? "causal    " : "non-causal", ms,
                flops / ms / 1e9, times.front());
        }
    }
    std::printf("forward kernel family: %s\n", fs_cuda_forward_kernel(&a0));
}

}  // namespace

int main(int argc, char** argv) {
    int random_cases = 40;
    bool small = false, do_bench = false;
    unsigned seed = (unsigned)std::chrono::high_resolution_clock::now().time_since_epoch().count();
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--small"))
            small = true;
        else if (!std::strcmp(argv[i], "--bench"))
            do_bench = true;
        else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = (unsigned)std::atoll(argv[++i]);
        else
            random_cases = std::atoi(argv[i]);
    }
    if (!fs_cuda_available()) {
        std::printf("no CUDA device\n");
        return 1;
    }
    std::printf("seed %u\n", seed);
    std::mt19937 rng(seed);
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

    // Head dims the library was built with: probe with a valid tiny problem.
    std::vector<int64_t> dims;
    for (int64_t d : {32, 64, 96, 128, 256}) {
        fs_attention a{};
        a.dtype = FS_BFLOAT16;
        a.batch = 1, a.q_len = 0, a.k_len = 0, a.heads = 1, a.kv_heads = 1, a.head_dim = d;
        if (fs_cuda_forward_kernel(&a) != nullptr) dims.push_back(d);
    }
    std::printf("compiled head dims:");
    for (int64_t d : dims) std::printf(" %lld", (long long)d);
    std::printf("\n");

    int failures = check_sigmoid();
    failures += check_bad_inputs();

    std::vector<Case> cases;
    auto add = [&](int64_t D, fs_dtype dt, int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t G,
                   bool causal, bool alibi, bool hb, int mask, bool strided) {
        Case c{B,
               Tq,
               Tk,
               H,
               G,
               D,
               causal,
               alibi,
               hb,
               mask,
               strided,
               dt,
               1.0f / std::sqrt((float)D),
               -std::log((float)std::max<int64_t>(Tk, 2))};
        cases.push_back(c);
    };
    const fs_dtype dtypes[] = {FS_BFLOAT16, FS_FLOAT16};
    if (small) {
        for (fs_dtype dt : dtypes) {
            for (int64_t D : dims) {
                if (D != 64 && D != 128 && dims.size() > 2) continue;
                add(D, dt, 1, 7, 9, 2, 1, true, true, true, 1, false);
                add(D, dt, 2, 17, 5, 2, 2, false, false, true, 2, true);
                add(D, dt, 1, 1, 33, 4, 2, true, false, false, 0, false);
                // Split-KV decode kernel (D 64/128: <= 16 query rows per kv head, >= 256 keys).
                add(D, dt, 2, 1, 300, 8, 2, true, true, true, 0, false);
                add(D, dt, 1, 2, 257, 8, 1, false, false, false, 0, true);
            }
        }
    } else {
        for (fs_dtype dt : dtypes) {
            for (int64_t D : dims) {
                add(D, dt, 1, 1, 1, 1, 1, false, false, false, 0, false);
                add(D, dt, 2, 7, 63, 4, 2, true, false, true, 0, false);
                add(D, dt, 1, 65, 65, 2, 1, true, true, false, 0, false);
                add(D, dt, 2, 127, 129, 4, 4, false, false, false, 1, false);
                add(D, dt, 1, 129, 127, 3, 1, true, false, true, 2, true);
                add(D, dt, 1, 300, 300, 2, 2, true, false, true, 0, true);
                add(D, dt, 1, 300, 300, 2, 1, false, true, true, 1, false);
                add(D, dt, 1, 1, 300, 4, 2, true, false, false, 0, false);
                add(D, dt, 1, 300, 7, 2, 1, true, false, false, 0, false);
                // Decode shapes (the split-KV kernel at D 64/128): 4, 16 and 6 rows per kv head.
                add(D, dt, 1, 1, 1000, 8, 2, false, false, true, 0, false);
                add(D, dt, 2, 4, 700, 8, 2, true, true, true, 0, true);
                add(D, dt, 1, 3, 2049, 6, 3, true, false, false, 0, false);
            }
        }
        // Empty dimensions: Tk = 0 writes zeros, Tq = 0 zero dk and dv.
        add(dims.front(), FS_BFLOAT16, 1, 5, 0, 2, 1, false, false, true, 0, false);
        add(dims.back(), FS_FLOAT16, 1, 0, 9, 2, 1, true, false, false, 0, false);
        const int lens[] = {1, 7, 63, 64, 65, 127, 128, 129, 200, 300};
        for (int n = 0; n < random_cases; ++n) {
            int64_t H = std::vector<int64_t>{1, 2, 3, 4, 6, 8}[uniform(0, 5)];
            int64_t G;
            do G = uniform(1, (int)H);
            while (H % G);
            add(dims[uniform(0, (int)dims.size() - 1)], dtypes[uniform(0, 1)], uniform(1, 2),
                lens[uniform(0, 9)], lens[uniform(0, 9)], H, G, uniform(0, 1), uniform(0, 2) == 0,
                uniform(0, 1), uniform(0, 2), uniform(0, 1));
        }
    }
    Worst worst;
    int passed = 0;
    for (const Case& c : cases) {
        if (run_case(c, rng, worst))
            ++passed;
        else
            ++failures;
    }
    std::printf(
        "worst relative errors (out, dq, dk, dv, dbias vs sum|dS|): fp16 %.2e %.2e %.2e %.2e %.2e; "
        "bf16 %.2e %.2e %.2e %.2e %.2e\n",
        worst.v[0][0], worst.v[0][1], worst.v[0][2], worst.v[0][3], worst.v[0][4], worst.v[1][0],
        worst.v[1][1], worst.v[1][2], worst.v[1][3], worst.v[1][4]);
    if (do_bench) bench();
    std::printf("%d/%zu cases passed; %s (seed %u)\n", passed, cases.size(),
                failures ? "FAILURES" : "all passed", seed);
    return failures ? 1 : 0;
}
