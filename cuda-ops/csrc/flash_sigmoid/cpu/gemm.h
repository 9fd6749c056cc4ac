// C (+)= A * B on float32 tiles, register-blocked. Requires simd.h (VecF) in the same namespace.
//
//   A: M x K, element (m, k) at a[m * a_rs + k * a_cs]; read by broadcasts, so any layout works
//      (the kernels pass transposed score tiles this way instead of transposing them).
//   B: K x N row-major with row stride ldb; N a multiple of VecF::kWidth (callers pad).
//   C: M x N row-major with row stride ldc.
#pragma once

#include <cstdint>

template <int MR, int NV>
inline void micro_kernel(int64_t k_len, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                         int64_t ldb, float* c, int64_t ldc, bool accumulate) {
    constexpr int W = VecF::kWidth;
    VecF acc[MR][NV];
    for (int r = 0; r < MR; ++r) {
        for (int v = 0; v < NV; ++v) {
            acc[r][v] = accumulate ? VecF::load(c + r * ldc + v * W) : VecF::zero();
        }
    }
    for (int64_t k = 0; k < k_len; ++k) {
        VecF bv[NV];
        for (int v = 0; v < NV; ++v) bv[v] = VecF::load(b + k * ldb + v * W);
        const float* ak = a + k * a_cs;
        for (int r = 0; r < MR; ++r) {
            VecF av = VecF::broadcast(ak[r * a_rs]);
            for (int v = 0; v < NV; ++v) acc[r][v] = fma(av, bv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < MR; ++r) {
        for (int v = 0; v < NV; ++v) acc[r][v].store(c + r * ldc + v * W);
    }
}

// Runs the rows [m0, m0 + rows) with rows < MR through a smaller kernel.
template <int MR, int NV>
inline void row_tail(int rows, int64_t k_len, const float* a, int64_t a_rs, int64_t a_cs,
                     const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
    if constexpr (MR > 1) {
        if (rows == MR - 1) {
            micro_kernel<MR - 1, NV>(k_len, a, a_rs, a_cs, b, ldb, c, ldc, accumulate);
        } else {
            row_tail<MR - 1, NV>(rows, k_len, a, a_rs, a_cs, b, ldb, c, ldc, accumulate);
        }
    }
}

template <int MR, int NV>
inline void gemm_columns(int64_t m, int64_t k_len, const float* a, int64_t a_rs, int64_t a_cs,
                         const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
    int64_t m0 = 0;
    for (; m0 + MR <= m; m0 += MR) {
        micro_kernel<MR, NV>(k_len, a + m0 * a_rs, a_rs, a_cs, b, ldb, c + m0 * ldc, ldc,
                             accumulate);
    }
    if (m0 < m) {
        row_tail<MR, NV>(static_cast<int>(m - m0), k_len, a + m0 * a_rs, a_rs, a_cs, b, ldb,
                         c + m0 * ldc, ldc, accumulate);
    }
}

// Column blocks of NV vectors, then the remaining vectors one at a time.
template <int MR, int NV>
inline void gemm(int64_t m, int64_t n, int64_t k_len, const float* a, int64_t a_rs, int64_t a_cs,
                 const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
    constexpr int W = VecF::kWidth;
    int64_t n0 = 0;
    for (; n0 + NV * W <= n; n0 += NV * W) {
        gemm_columns<MR, NV>(m, k_len, a, a_rs, a_cs, b + n0, ldb, c + n0, ldc, accumulate);
    }
    for (; n0 < n; n0 += W) {
        gemm_columns<MR, 1>(m, k_len, a, a_rs, a_cs, b + n0, ldb, c + n0, ldc, accumulate);
    }
}
