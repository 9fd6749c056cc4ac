// The ceilings behind the CPU kernels' numbers, on one core: the float32 FMA peak (a register-only
// loop), the two tile GEMMs of the kernels on cache-resident tiles, and the vectorised sigmoid.
// Prints each as a ratio to the measured peak. AVX-512 machines only.
//
//   cmake --build <build> --target cpu_ceilings && <build>/cpu_ceilings
#define FS_ISA_AVX512 1

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>
#include <immintrin.h>

#include "flash_sigmoid/flash_sigmoid.h"

namespace ceil_avx512 {
#include "flash_sigmoid/cpu/convert.h"
#include "flash_sigmoid/cpu/simd.h"
#include "flash_sigmoid/cpu/gemm.h"
}  // namespace ceil_avx512

using namespace ceil_avx512;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <typename Fn>
double median_seconds(Fn fn, int reps = 7) {
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        fn();
        t.push_back(seconds_since(t0));
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

// 24 independent FMA chains: the FMA units' throughput, no memory.
__attribute__((noinline)) float fma_chains(long iters) {
    __m512 acc[24];
    for (int i = 0; i < 24; ++i) acc[i] = _mm512_set1_ps(1.0f + i * 1e-7f);
    const __m512 b = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
    for (long k = 0; k < iters; ++k) {
#pragma GCC unroll 24
        for (int i = 0; i < 24; ++i) acc[i] = _mm512_fmadd_ps(acc[i], b, c);
    }
    float sum = 0;
    for (int i = 0; i < 24; ++i) sum += _mm512_reduce_add_ps(acc[i]);
    return sum;
}

double peak_gflops() {
    const long iters = 20000000;
    float sink = 0;
    double s = median_seconds([&] { sink += fma_chains(iters); });
    if (sink == 42.0f) std::puts("");
    return iters * 24.0 * 32 / s / 1e9;
}

}  // namespace

int main() {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) {
        std::puts("cpu_ceilings: this CPU has no AVX-512; nothing measured");
        return 0;
    }
    const int n = 4000;
    double peak = peak_gflops();
    // The forward's tiles: S^T (128 x 64) = K (128 x 64, rows 2 KiB apart as in a (T, 8, 64)
    // tensor) Q^T (64 x 64); O (64 x 64) += P (64 x 128, read transposed) V (128 x 64).
    std::vector<float> k(128 * 512, 0.01f), qt(64 * 64, 0.02f), st(128 * 64), p(128 * 64, 0.5f),
        v(128 * 64, 0.1f), o(64 * 64, 0.0f);
    double scores = median_seconds([&] {
        for (int i = 0; i < n; ++i)
            gemm<12, 2>(128, 64, 64, k.data(), 512, 1, qt.data(), 64, st.data(), 64, false);
    });
    double pv = median_seconds([&] {
        for (int i = 0; i < n; ++i)
            gemm<6, 4>(64, 64, 128, p.data(), 1, 64, v.data(), 64, o.data(), 64, true);
    });
    std::vector<float> x(8192);
    for (int i = 0; i < 8192; ++i) x[i] = (i % 200 - 100) * 0.1f;
    double sig = median_seconds([&] {
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < 8192; j += 16)
                sigmoid(VecF::load(x.data() + j)).store(x.data() + j);
    });
    const double tile_flop = 2.0 * 128 * 64 * 64;
    double g_scores = n * tile_flop / scores / 1e9, g_pv = n * tile_flop / pv / 1e9;
    double ns_per_16 = sig / n / 512 * 1e9;
    // At D = 64 a score costs 4 D = 256 flops of GEMM: 16 scores, 4096 flops.
    double gemm_ns_per_16 = 4096.0 / ((g_scores + g_pv) / 2);
    std::printf("| measure (one core, float32, AVX-512) | value | vs peak |\n|---|---|---|\n");
    std::printf("| FMA peak, 24 register chains | %.1f GFLOP/s | 1.00 |\n", peak);
    std::printf("| scores tile GEMM 128x64x64 (K rows 2 KiB apart) | %.1f GFLOP/s | %.2f |\n",
                g_scores, g_scores / peak);
    std::printf("| output tile GEMM 64x64x128 (P read transposed) | %.1f GFLOP/s | %.2f |\n", g_pv,
                g_pv / peak);
    std::printf(
        "| sigmoid, 16 lanes | %.2f ns | %.0f%% of the GEMM time of 16 scores at D = 64 |\n",
        ns_per_16, 100 * ns_per_16 / gemm_ns_per_16);
    if (o[7] == 42.0f || st[3] == 42.0f || x[5] == 42.0f) std::puts("");
    return 0;
}
