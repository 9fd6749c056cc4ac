// Development driver for the Hopper forward kernel, without PyTorch: checks one problem against
// a float64 CPU reference (small shapes) or a naive float32 GPU reference (large ones) and times
// the kernel with CUDA events (median of many launches).
//
//   sm90_forward_dev B H G Tq Tk D causal(0/1) bf16|fp16 [iterations]
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

#include "../flash_sigmoid/cuda/launch.h"

using namespace flash_sigmoid::cuda;

#define CHECK(x)                                                                       \
    do {                                                                               \
        cudaError_t e = (x);                                                           \
        if (e != cudaSuccess) {                                                        \
            std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x,            \
                         cudaGetErrorString(e));                                       \
            std::exit(2);                                                              \
        }                                                                              \
    } while (0)

template <typename T>
__global__ void naive_forward(FwdParams p) {
    int row = blockIdx.x * blockDim.x + threadIdx.x;
    int h = blockIdx.y, b = blockIdx.z, g = h / p.group;
    if (row >= p.q_len) return;
    const T* q = static_cast<const T*>(p.q) + b * p.q_batch_stride + row * p.q_row_stride + h * p.q_head_stride;
    float acc[256];
    for (int d = 0; d < p.head_dim; ++d) acc[d] = 0.f;
    for (int j = 0; j < p.k_len; ++j) {
        if (p.causal && j > row + p.k_len - p.q_len) break;
        const T* k = static_cast<const T*>(p.k) + b * p.k_batch_stride + j * p.k_row_stride + g * p.k_head_stride;
        const T* v = static_cast<const T*>(p.v) + b * p.v_batch_stride + j * p.v_row_stride + g * p.v_head_stride;
        float s = 0.f;
        for (int d = 0; d < p.head_dim; ++d) s += float(q[d]) * float(k[d]);
        float w = 1.f / (1.f + expf(-(s * p.scale + p.bias)));
        for (int d = 0; d < p.head_dim; ++d) acc[d] += w * float(v[d]);
    }
    float* o = static_cast<float*>(p.o) + ((int64_t(b) * p.q_len + row) * p.heads + h) * p.head_dim;
    for (int d = 0; d < p.head_dim; ++d) o[d] = acc[d];
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
    p.q = q; p.k = k; p.v = v; p.o = o;
    p.q_row_stride = int64_t(H) * D; p.q_head_stride = D; p.q_batch_stride = int64_t(Tq) * H * D;
    p.k_row_stride = int64_t(G) * D; p.k_head_stride = D; p.k_batch_stride = int64_t(Tk) * G * D;
    p.v_row_stride = p.k_row_stride; p.v_head_stride = D; p.v_batch_stride = p.k_batch_stride;
    p.o_row_stride = p.q_row_stride; p.o_head_stride = D; p.o_batch_stride = p.q_batch_stride;
    p.batch = B; p.q_len = Tq; p.k_len = Tk; p.heads = H; p.kv_heads = G; p.head_dim = D;
    p.group = H / G; p.scale = 1.f / std::sqrt(float(D)); p.bias = -std::log(float(Tk));
    p.causal = causal; p.is_bf16 = std::is_same_v<T, __nv_bfloat16>;
    auto launch = [&] {
        if (D == 64) run_forward_sm90<T, 64>(p, nullptr);
        else run_forward_sm90<T, 128>(p, nullptr);
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

    double ms = 0;
    if (iters > 0) {
        std::vector<float> times;
        cudaEvent_t a, z;
        CHECK(cudaEventCreate(&a));
        CHECK(cudaEventCreate(&z));
        for (int i = 0; i < 10; ++i) launch();
        for (int i = 0; i < iters; ++i) {
            CHECK(cudaEventRecord(a));
            launch();
            CHECK(cudaEventRecord(z));
            CHECK(cudaEventSynchronize(z));
            float t;
            CHECK(cudaEventElapsedTime(&t, a, z));
            times.push_back(t);
        }
        std::sort(times.begin(), times.end());
        ms = times[times.size() / 2];
    }
    double flops = 4.0 * B * H * double(Tq) * Tk * D * (causal ? 0.5 : 1.0);
    std::printf("%s B=%d H=%d G=%d Tq=%d Tk=%d D=%d causal=%d rel_err=%.2e nonfinite=%zu %s",
                p.is_bf16 ? "bf16" : "fp16", B, H, G, Tq, Tk, D, int(causal), rel, bad,
                ok ? "OK" : "FAIL");
    if (iters > 0) std::printf(" time=%.3f ms %.1f TFLOP/s", ms, flops / ms / 1e9);
    std::printf("\n");
    cudaFree(q); cudaFree(k); cudaFree(v); cudaFree(o); cudaFree(ref);
    return ok ? 0 : 1;
}

int main(int argc, char** argv) {
    if (argc < 9) {
        std::fprintf(stderr, "usage: %s B H G Tq Tk D causal bf16|fp16 [iterations]\n", argv[0]);
        return 2;
    }
    int B = std::atoi(argv[1]), H = std::atoi(argv[2]), G = std::atoi(argv[3]);
    int Tq = std::atoi(argv[4]), Tk = std::atoi(argv[5]), D = std::atoi(argv[6]);
    bool causal = std::atoi(argv[7]) != 0;
    int iters = argc > 9 ? std::atoi(argv[9]) : 0;
    try {
        if (std::strcmp(argv[8], "bf16") == 0) return run<__nv_bfloat16>(B, H, G, Tq, Tk, D, causal, iters);
        return run<__half>(B, H, G, Tq, Tk, D, causal, iters);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 3;
    }
}
