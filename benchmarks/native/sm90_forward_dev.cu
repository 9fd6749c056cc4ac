// Development driver for the Hopper forward kernel, without PyTorch: checks one problem against
// a float64 CPU reference (small shapes) or a naive float32 GPU reference (large ones) and times
// the kernel with CUDA events (median of many launches).
//
//   sm90_forward_dev B H G Tq Tk D causal(0/1) bf16|fp16 [iterations] [bwd]
// With "bwd", the backward instead: checked when iterations is 0, timed otherwise.
//   sm90_forward_dev sigmoid-rate
// The sigmoid forms' throughput alone, without products (KERNEL_NOTES: is the MUFU unit as fast
// as modelled?).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "flash_sigmoid/cuda/generic/sigmoid.h"
#include "flash_sigmoid/cuda/launch.h"

using namespace flash_sigmoid::cuda;

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        cudaError_t e = (x);                                                                       \
        if (e != cudaSuccess) {                                                                    \
            std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e)); \
            std::exit(2);                                                                          \
        }                                                                                          \
    } while (0)

template <typename T>
__global__ void naive_forward(FwdParams p) {
    int row = blockIdx.x * blockDim.x + threadIdx.x;
    int h = blockIdx.y, b = blockIdx.z, g = h / p.group;
    if (row >= p.q_len) return;
    const T* q = static_cast<const T*>(p.q) + b * p.q_batch_stride + row * p.q_row_stride +
                 h * p.q_head_stride;
    float acc[256];
    for (int d = 0; d < p.head_dim; ++d) acc[d] = 0.f;
    for (int j = 0; j < p.k_len; ++j) {
        if (p.causal && j > row + p.k_len - p.q_len) break;
        const T* k = static_cast<const T*>(p.k) + b * p.k_batch_stride + j * p.k_row_stride +
                     g * p.k_head_stride;
        const T* v = static_cast<const T*>(p.v) + b * p.v_batch_stride + j * p.v_row_stride +
                     g * p.v_head_stride;
        float s = 0.f;
        for (int d = 0; d < p.head_dim; ++d) s += float(q[d]) * float(k[d]);
        float w = 1.f / (1.f + expf(-(s * p.scale + p.bias)));
        for (int d = 0; d < p.head_dim; ++d) acc[d] += w * float(v[d]);
    }
    float* o = static_cast<float*>(p.o) + ((int64_t(b) * p.q_len + row) * p.heads + h) * p.head_dim;
    for (int d = 0; d < p.head_dim; ++d) o[d] = acc[d];
}

// Median time of `iters` launches after `warmup` ones, with CUDA events around each.
template <typename Launch>
double median_ms(Launch launch, int warmup, int iters) {
    cudaEvent_t a, z;
    CHECK(cudaEventCreate(&a));
    CHECK(cudaEventCreate(&z));
    for (int i = 0; i < warmup; ++i) launch();
    std::vector<float> times;
    for (int i = 0; i < iters; ++i) {
        CHECK(cudaEventRecord(a));
        launch();
        CHECK(cudaEventRecord(z));
        CHECK(cudaEventSynchronize(z));
        float t;
        CHECK(cudaEventElapsedTime(&t, a, z));
        times.push_back(t);
    }
    CHECK(cudaEventDestroy(a));
    CHECK(cudaEventDestroy(z));
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

// dq (B, Tq, H, D) and d_head_bias: one thread per (query row, head).
template <typename T>
__global__ void naive_backward_dq(BwdParams p, float* dq, float* dbias) {
    int row = blockIdx.x * blockDim.x + threadIdx.x;
    int h = blockIdx.y, b = blockIdx.z, g = h / p.group;
    if (row >= p.q_len) return;
    const T* q = static_cast<const T*>(p.q) + b * p.q_batch_stride + row * p.q_row_stride +
                 h * p.q_head_stride;
    const T* go = static_cast<const T*>(p.dout) + b * p.do_batch_stride + row * p.do_row_stride +
                  h * p.do_head_stride;
    float acc[256];
    for (int d = 0; d < p.head_dim; ++d) acc[d] = 0.f;
    float bsum = 0.f;
    for (int j = 0; j < p.k_len; ++j) {
        if (p.causal && j > row + p.k_len - p.q_len) break;
        const T* k = static_cast<const T*>(p.k) + b * p.k_batch_stride + j * p.k_row_stride +
                     g * p.k_head_stride;
        const T* v = static_cast<const T*>(p.v) + b * p.v_batch_stride + j * p.v_row_stride +
                     g * p.v_head_stride;
        float s = 0.f, dp = 0.f;
        for (int d = 0; d < p.head_dim; ++d) {
            s += float(q[d]) * float(k[d]);
            dp += float(go[d]) * float(v[d]);
        }
        float w = 1.f / (1.f + expf(-(s * p.scale + p.bias)));
        float ds = w * (1.f - w) * dp;
        bsum += ds;
        for (int d = 0; d < p.head_dim; ++d) acc[d] += ds * float(k[d]);
    }
    float* o = dq + ((int64_t(b) * p.q_len + row) * p.heads + h) * p.head_dim;
    for (int d = 0; d < p.head_dim; ++d) o[d] = acc[d] * p.scale;
    atomicAdd(dbias + h, bsum);
}

// dk, dv (B, Tk, G, D): one thread per (key, kv head), summing over the group's heads.
template <typename T>
__global__ void naive_backward_dkv(BwdParams p, float* dk, float* dv) {
    int key = blockIdx.x * blockDim.x + threadIdx.x;
    int g = blockIdx.y, b = blockIdx.z;
    if (key >= p.k_len) return;
    const T* k = static_cast<const T*>(p.k) + b * p.k_batch_stride + key * p.k_row_stride +
                 g * p.k_head_stride;
    const T* v = static_cast<const T*>(p.v) + b * p.v_batch_stride + key * p.v_row_stride +
                 g * p.v_head_stride;
    float ak[256], av[256];
    for (int d = 0; d < p.head_dim; ++d) ak[d] = av[d] = 0.f;
    for (int h = g * p.group; h < (g + 1) * p.group; ++h) {
        for (int i = 0; i < p.q_len; ++i) {
            if (p.causal && key > i + p.k_len - p.q_len) continue;
            const T* q = static_cast<const T*>(p.q) + b * p.q_batch_stride + i * p.q_row_stride +
                         h * p.q_head_stride;
            const T* go = static_cast<const T*>(p.dout) + b * p.do_batch_stride +
                          i * p.do_row_stride + h * p.do_head_stride;
            float s = 0.f, dp = 0.f;
            for (int d = 0; d < p.head_dim; ++d) {
                s += float(q[d]) * float(k[d]);
                dp += float(go[d]) * float(v[d]);
            }
            float w = 1.f / (1.f + expf(-(s * p.scale + p.bias)));
            float ds = w * (1.f - w) * dp;
            for (int d = 0; d < p.head_dim; ++d) {
                ak[d] += ds * float(q[d]);
                av[d] += w * float(go[d]);
            }
        }
    }
    int64_t base = ((int64_t(b) * p.k_len + key) * p.kv_heads + g) * p.head_dim;
    for (int d = 0; d < p.head_dim; ++d) {
        dk[base + d] = ak[d] * p.scale;
        dv[base + d] = av[d];
    }
}

template <typename T>
double rel_error(const T* dev, const float* ref_dev, size_t n, size_t* nonfinite) {
    std::vector<T> x(n);
    std::vector<float> r(n);
    CHECK(cudaMemcpy(x.data(), dev, n * sizeof(T), cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(r.data(), ref_dev, n * sizeof(float), cudaMemcpyDeviceToHost));
    double num = 0, den = 0;
    for (size_t i = 0; i < n; ++i) {
        double a = double(float(x[i])), b = r[i];
        if (!std::isfinite(a)) ++*nonfinite;
        num += (a - b) * (a - b);
        den += b * b;
    }
    return std::sqrt(num / std::max(den, 1e-30));
}

template <typename T>
int run_backward(int B, int H, int G, int Tq, int Tk, int D, bool causal, int iters) {
    size_t nq = size_t(B) * Tq * H * D, nk = size_t(B) * Tk * G * D;
    std::mt19937 rng(std::random_device{}());
    std::normal_distribution<float> normal(0.f, 1.f);
    auto upload = [&](size_t n) {
        std::vector<T> h(n);
        for (auto& x : h) x = T(normal(rng));
        T* d;
        CHECK(cudaMalloc(&d, n * sizeof(T)));
        CHECK(cudaMemcpy(d, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
        return d;
    };
    T *q = upload(nq), *k = upload(nk), *v = upload(nk), *go = upload(nq);
    T *dq, *dk, *dv;
    float *ws, *dbias, *rdq, *rdk, *rdv, *rdbias;
    CHECK(cudaMalloc(&dq, nq * sizeof(T)));
    CHECK(cudaMalloc(&dk, nk * sizeof(T)));
    CHECK(cudaMalloc(&dv, nk * sizeof(T)));
    CHECK(cudaMalloc(&ws, nq * sizeof(float)));
    CHECK(cudaMalloc(&dbias, H * sizeof(float)));
    CHECK(cudaMemset(dq, 0xFF, nq * sizeof(T)));
    CHECK(cudaMemset(dk, 0xFF, nk * sizeof(T)));
    CHECK(cudaMemset(dv, 0xFF, nk * sizeof(T)));

    BwdParams p{};
    p.q = q;
    p.k = k;
    p.v = v;
    p.dout = go;
    p.dq = dq;
    p.dk = dk;
    p.dv = dv;
    p.q_row_stride = int64_t(H) * D;
    p.q_head_stride = D;
    p.q_batch_stride = int64_t(Tq) * H * D;
    p.k_row_stride = int64_t(G) * D;
    p.k_head_stride = D;
    p.k_batch_stride = int64_t(Tk) * G * D;
    p.v_row_stride = p.k_row_stride;
    p.v_head_stride = D;
    p.v_batch_stride = p.k_batch_stride;
    p.do_row_stride = p.q_row_stride;
    p.do_head_stride = D;
    p.do_batch_stride = p.q_batch_stride;
    p.dq_row_stride = p.q_row_stride;
    p.dq_head_stride = D;
    p.dq_batch_stride = p.q_batch_stride;
    p.dk_row_stride = p.k_row_stride;
    p.dk_head_stride = D;
    p.dk_batch_stride = p.k_batch_stride;
    p.dv_row_stride = p.k_row_stride;
    p.dv_head_stride = D;
    p.dv_batch_stride = p.k_batch_stride;
    p.batch = B;
    p.q_len = Tq;
    p.k_len = Tk;
    p.heads = H;
    p.kv_heads = G;
    p.head_dim = D;
    p.group = H / G;
    p.scale = 1.f / std::sqrt(float(D));
    p.bias = -std::log(float(Tk));
    p.causal = causal;
    p.is_bf16 = std::is_same_v<T, __nv_bfloat16>;
    p.workspace = ws;
    p.d_head_bias = dbias;
    p.num_sms = 132;
    auto launch = [&] {
        CHECK(cudaMemsetAsync(ws, 0, nq * sizeof(float)));
        CHECK(cudaMemsetAsync(dbias, 0, H * sizeof(float)));
        if (D == 64)
            run_backward_sm90<T, 64>(p, nullptr);
        else
            run_backward_sm90<T, 128>(p, nullptr);
    };
    launch();
    CHECK(cudaDeviceSynchronize());
    bool ok = true;
    double e_dq = 0, e_dk = 0, e_dv = 0, e_db = 0;
    size_t bad = 0;
    if (iters == 0) {
        CHECK(cudaMalloc(&rdq, nq * sizeof(float)));
        CHECK(cudaMalloc(&rdk, nk * sizeof(float)));
        CHECK(cudaMalloc(&rdv, nk * sizeof(float)));
        CHECK(cudaMalloc(&rdbias, H * sizeof(float)));
        CHECK(cudaMemset(rdbias, 0, H * sizeof(float)));
        naive_backward_dq<T><<<dim3((Tq + 127) / 128, H, B), 128>>>(p, rdq, rdbias);
        CHECK(cudaGetLastError());
        naive_backward_dkv<T><<<dim3((Tk + 127) / 128, G, B), 128>>>(p, rdk, rdv);
        CHECK(cudaGetLastError());
        CHECK(cudaDeviceSynchronize());
        e_dq = rel_error(dq, rdq, nq, &bad);
        e_dk = rel_error(dk, rdk, nk, &bad);
        e_dv = rel_error(dv, rdv, nk, &bad);
        std::vector<float> a(H), r(H);
        CHECK(cudaMemcpy(a.data(), dbias, H * sizeof(float), cudaMemcpyDeviceToHost));
        CHECK(cudaMemcpy(r.data(), rdbias, H * sizeof(float), cudaMemcpyDeviceToHost));
        double num = 0, den = 0;
        for (int i = 0; i < H; ++i) {
            num += (a[i] - r[i]) * (a[i] - r[i]);
            den += double(r[i]) * r[i];
        }
        e_db = std::sqrt(num / std::max(den, 1e-30));
        double bound = p.is_bf16 ? 1e-2 : 3e-3;
        ok = bad == 0 && e_dq < bound && e_dk < bound && e_dv < bound && e_db < 1e-3;
        cudaFree(rdq);
        cudaFree(rdk);
        cudaFree(rdv);
        cudaFree(rdbias);
    }
    const double ms = iters > 0 ? median_ms(launch, 5, iters) : 0.0;
    double flops = 2.5 * 4.0 * B * H * double(Tq) * Tk * D * (causal ? 0.5 : 1.0);
    std::printf("bwd %s B=%d H=%d G=%d Tq=%d Tk=%d D=%d causal=%d", p.is_bf16 ? "bf16" : "fp16", B,
                H, G, Tq, Tk, D, int(causal));
    if (iters == 0) {
        std::printf(" rel_err dq=%.2e dk=%.2e dv=%.2e dbias=%.2e nonfinite=%zu %s", e_dq, e_dk,
                    e_dv, e_db, bad, ok ? "OK" : "FAIL");
    } else {
        std::printf(" time=%.3f ms %.1f TFLOP/s (incl. workspace clear and dq conversion)", ms,
                    flops / ms / 1e9);
    }
    std::printf("\n");
    cudaFree(q);
    cudaFree(k);
    cudaFree(v);
    cudaFree(go);
    cudaFree(dq);
    cudaFree(dk);
    cudaFree(dv);
    cudaFree(ws);
    cudaFree(dbias);
    return ok ? 0 : 1;
}

template <typename T>
int run(int B, int H, int G, int Tq, int Tk, int D, bool causal, int iters) {
    size_t nq = size_t(B) * Tq * H * D, nk = size_t(B) * Tk * G * D;
    std::vector<T> hq(nq), hk(nk), hv(nk);
    std::mt19937 rng(std::random_device{}());
    std::normal_distribution<float> normal(0.f, 1.f);
    for (auto& x : hq) x = T(normal(rng));
    for (auto& x : hk) x = T(normal(rng));
    for (auto& x : hv) x = T(normal(rng));
    T *q, *k, *v, *o;
    float* ref;
    CHECK(cudaMalloc(&q, nq * sizeof(T)));
    CHECK(cudaMalloc(&k, nk * sizeof(T)));
    CHECK(cudaMalloc(&v, nk * sizeof(T)));
    CHECK(cudaMalloc(&o, nq * sizeof(T)));
    CHECK(cudaMalloc(&ref, nq * sizeof(float)));
    CHECK(cudaMemcpy(q, hq.data(), nq * sizeof(T), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(k, hk.data(), nk * sizeof(T), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(v, hv.data(), nk * sizeof(T), cudaMemcpyHostToDevice));
    CHECK(cudaMemset(o, 0xFF, nq * sizeof(T)));  // NaN poison

    FwdParams p{};
    p.q = q;
    p.k = k;
    p.v = v;
    p.o = o;
    p.q_row_stride = int64_t(H) * D;
    p.q_head_stride = D;
    p.q_batch_stride = int64_t(Tq) * H * D;
    p.k_row_stride = int64_t(G) * D;
    p.k_head_stride = D;
    p.k_batch_stride = int64_t(Tk) * G * D;
    p.v_row_stride = p.k_row_stride;
    p.v_head_stride = D;
    p.v_batch_stride = p.k_batch_stride;
    p.o_row_stride = p.q_row_stride;
    p.o_head_stride = D;
    p.o_batch_stride = p.q_batch_stride;
    p.batch = B;
    p.q_len = Tq;
    p.k_len = Tk;
    p.heads = H;
    p.kv_heads = G;
    p.head_dim = D;
    p.group = H / G;
    p.scale = 1.f / std::sqrt(float(D));
    p.bias = -std::log(float(Tk));
    p.causal = causal;
    p.is_bf16 = std::is_same_v<T, __nv_bfloat16>;
    auto launch = [&] {
        if (D == 64)
            run_forward_sm90<T, 64>(p, nullptr);
        else
            run_forward_sm90<T, 128>(p, nullptr);
    };
    launch();
    CHECK(cudaDeviceSynchronize());

    FwdParams pr = p;
    pr.o = ref;
    naive_forward<T><<<dim3((Tq + 127) / 128, H, B), 128>>>(pr);
    CHECK(cudaGetLastError());
    CHECK(cudaDeviceSynchronize());
    std::vector<T> ho(nq);
    std::vector<float> hr(nq);
    CHECK(cudaMemcpy(ho.data(), o, nq * sizeof(T), cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(hr.data(), ref, nq * sizeof(float), cudaMemcpyDeviceToHost));
    double num = 0, den = 0;
    size_t bad = 0;
    for (size_t i = 0; i < nq; ++i) {
        double x = double(float(ho[i])), r = hr[i];
        if (!std::isfinite(x)) ++bad;
        num += (x - r) * (x - r);
        den += r * r;
    }
    double rel = std::sqrt(num / std::max(den, 1e-30));
    bool ok = bad == 0 && rel < (p.is_bf16 ? 1e-2 : 3e-3);

    const double ms = iters > 0 ? median_ms(launch, 10, iters) : 0.0;
    double flops = 4.0 * B * H * double(Tq) * Tk * D * (causal ? 0.5 : 1.0);
    std::printf("%s B=%d H=%d G=%d Tq=%d Tk=%d D=%d causal=%d rel_err=%.2e nonfinite=%zu %s",
                p.is_bf16 ? "bf16" : "fp16", B, H, G, Tq, Tk, D, int(causal), rel, bad,
                ok ? "OK" : "FAIL");
    if (iters > 0) std::printf(" time=%.3f ms %.1f TFLOP/s", ms, flops / ms / 1e9);
    std::printf("\n");
    cudaFree(q);
    cudaFree(k);
    cudaFree(v);
    cudaFree(o);
    cudaFree(ref);
    return ok ? 0 : 1;
}

// Every thread keeps 32 independent values and replaces each by a function of its sigmoid, `rounds`
// times. Forms: 0 none (one FMA, as FS_DEV_SIGMOID=0), 1 single, 2 pair, 3 quad, 4 pair with the
// FMA-pipe reciprocal. Per weight besides the form: the input FMA and the update FMA (the
// kernels' scale FMA and half a pack).
constexpr int kRateThreads = 256, kRateValues = 32;
template <int kForm>
__global__ void __launch_bounds__(kRateThreads, 4) sigmoid_rate(float* out, int rounds) {
    using namespace flash_sigmoid::cuda::generic;
    float v[kRateValues];
#pragma unroll
    for (int i = 0; i < kRateValues; ++i) {
        v[i] = -20.f + 40.f * ((threadIdx.x * kRateValues + i) % 997) / 997.f;
    }
    for (int r = 0; r < rounds; ++r) {
#pragma unroll
        for (int i = 0; i < kRateValues; i += 4) {
            float w[4];
#pragma unroll
            for (int e = 0; e < 4; ++e) w[e] = fmaf(v[i + e], kSigmoidInputScale, 0.1f);
            if constexpr (kForm == 0) {
#pragma unroll
                for (int e = 0; e < 4; ++e) w[e] = fmaf(w[e], 1e-4f, 1.f);
            } else if constexpr (kForm == 1) {
#pragma unroll
                for (int e = 0; e < 4; ++e) w[e] = sigmoid_of_scaled(w[e], kWeightUnit);
            } else if constexpr (kForm == 2) {
                sigmoid2_of_scaled(w[0], w[1], kWeightUnit);
                sigmoid2_of_scaled(w[2], w[3], kWeightUnit);
            } else if constexpr (kForm == 3) {
                sigmoid4_of_scaled(w[0], w[1], w[2], w[3]);
            } else {
                sigmoid2_of_scaled<true>(w[0], w[1], kWeightUnit);
                sigmoid2_of_scaled<true>(w[2], w[3], kWeightUnit);
            }
#pragma unroll
            for (int e = 0; e < 4; ++e) v[i + e] = fmaf(w[e], 1e-9f, v[i + e]);
        }
    }
    float sum = 0.f;
#pragma unroll
    for (int i = 0; i < kRateValues; ++i) sum += v[i];
    out[blockIdx.x * kRateThreads + threadIdx.x] = sum;
}

int sigmoid_rates() {
    int device = 0, sms = 0, khz = 0;
    CHECK(cudaGetDevice(&device));
    CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device));
    const int blocks = sms * 4, rounds = 2000;
    float* out;
    CHECK(cudaMalloc(&out, sizeof(float) * blocks * kRateThreads));
    const char* names[] = {"none", "single", "pair", "quad", "pair, FMA-pipe reciprocal"};
    auto time_form = [&](int form) {
        auto launch = [&] {
            switch (form) {
                case 0:
                    sigmoid_rate<0><<<blocks, kRateThreads>>>(out, rounds);
                    break;
                case 1:
                    sigmoid_rate<1><<<blocks, kRateThreads>>>(out, rounds);
                    break;
                case 2:
                    sigmoid_rate<2><<<blocks, kRateThreads>>>(out, rounds);
                    break;
                case 3:
                    sigmoid_rate<3><<<blocks, kRateThreads>>>(out, rounds);
                    break;
                default:
                    sigmoid_rate<4><<<blocks, kRateThreads>>>(out, rounds);
                    break;
            }
            CHECK(cudaGetLastError());
        };
        const double ms = median_ms(launch, 2, 9);
        const double weights = double(blocks) * kRateThreads * kRateValues * rounds;
        // Per SM and clock at the device's reported clock (the card may run slower under load).
        std::printf(
            "sigmoid-rate %-26s %.3f ms, %.1f G weights/s, %.2f weights per clock per SM "
            "at %d MHz\n",
            names[form], ms, weights / ms / 1e6, weights / (ms * 1e-3) / sms / (khz * 1e3),
            khz / 1000);
    };
    for (int form = 0; form < 5; ++form) time_form(form);
    cudaFree(out);
    return 0;
}

int main(int argc, char** argv) {
    if (argc == 2 && std::strcmp(argv[1], "sigmoid-rate") == 0) return sigmoid_rates();
    if (argc < 9) {
        std::fprintf(stderr, "usage: %s B H G Tq Tk D causal bf16|fp16 [iterations]\n", argv[0]);
        return 2;
    }
    int B = std::atoi(argv[1]), H = std::atoi(argv[2]), G = std::atoi(argv[3]);
    int Tq = std::atoi(argv[4]), Tk = std::atoi(argv[5]), D = std::atoi(argv[6]);
    bool causal = std::atoi(argv[7]) != 0;
    int iters = argc > 9 ? std::atoi(argv[9]) : 0;
    try {
        if (argc > 10 && std::strcmp(argv[10], "bwd") == 0) {
            if (std::strcmp(argv[8], "bf16") == 0)
                return run_backward<__nv_bfloat16>(B, H, G, Tq, Tk, D, causal, iters);
            return run_backward<__half>(B, H, G, Tq, Tk, D, causal, iters);
        }
        if (std::strcmp(argv[8], "bf16") == 0)
            return run<__nv_bfloat16>(B, H, G, Tq, Tk, D, causal, iters);
        return run<__half>(B, H, G, Tq, Tk, D, causal, iters);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 3;
    }
}
