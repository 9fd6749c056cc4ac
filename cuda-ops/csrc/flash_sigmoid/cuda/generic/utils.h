// Warp-level building blocks of the mma.sync kernels (sm_80+): inline PTX for mma, ldmatrix and
// cp.async, packing to 16-bit pairs, and the tile loads and stores shared by the
// forward and backward kernels. Shared-memory tiles are row-major with rows padded by 16 bytes,
// which makes ldmatrix and the accumulator stores conflict-free for every head dim used here.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "sigmoid.h"

namespace flash_sigmoid::cuda::generic {

__host__ __device__ constexpr int ceil_div(int a, int b) {
    return (a + b - 1) / b;
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// D += A * B for one 16x8x16 tile; A row-major 16x16, B "col" 16x8, fp32 accumulators.
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1) {
    if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
            "{%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    } else {
        asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
            "{%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

// Shared-memory byte addresses for ldmatrix.x4 over a 16x16 block at (r0, c0) of a row-major
// tile at smem address `tile` with `stride` elements per row. Pure 32-bit integer arithmetic on
// a shared-window base, so that the lane-dependent part is computed once and (r0, c0) become
// immediate offsets after unrolling (generic pointers here cost registers per address).
// The four 8x8 matrices come back in the register order each operand needs:
//   a_rowmajor: A fragment of a [m][k] tile             (matrices m0k0, m8k0, m0k8, m8k8)
//   b_nk:       two B fragments of an [n][k] tile        (n0k0, n0k8, n8k0, n8k8)
//   b_kn_trans: two B fragments of a [k][n] tile, .trans (k0n0, k8n0, k0n8, k8n8)
//   a_km_trans: A fragment of a [k][m] tile, .trans      (k0m0, k0m8, k8m0, k8m8)
__device__ __forceinline__ uint32_t lm_a_rowmajor(uint32_t tile, int stride, int r0, int c0,
                                                  int lane) {
    int r = r0 + (lane & 7) + ((lane >> 3) & 1) * 8, c = c0 + (lane >> 4) * 8;
    return tile + 2u * static_cast<uint32_t>(r * stride + c);
}
__device__ __forceinline__ uint32_t lm_b_nk(uint32_t tile, int stride, int n0, int k0, int lane) {
    int r = n0 + (lane & 7) + (lane >> 4) * 8, c = k0 + ((lane >> 3) & 1) * 8;
    return tile + 2u * static_cast<uint32_t>(r * stride + c);
}
__device__ __forceinline__ uint32_t lm_b_kn_trans(uint32_t tile, int stride, int k0, int n0,
                                                  int lane) {
    int r = k0 + (lane & 7) + ((lane >> 3) & 1) * 8, c = n0 + (lane >> 4) * 8;
    return tile + 2u * static_cast<uint32_t>(r * stride + c);
}
__device__ __forceinline__ uint32_t lm_a_km_trans(uint32_t tile, int stride, int k0, int m0,
                                                  int lane) {
    int r = k0 + (lane & 7) + (lane >> 4) * 8, c = m0 + ((lane >> 3) & 1) * 8;
    return tile + 2u * static_cast<uint32_t>(r * stride + c);
}

// 16-byte async copy; src_bytes = 0 fills the destination with zeros (tails), so that rows past
// the end hold zeros rather than stale data: 0 * NaN would leak into the products.
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
                 "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::);
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
    uint32_t r;
    if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
        r = *reinterpret_cast<uint32_t*>(&v);
    } else {
        __half2 v = __floats2half2_rn(lo, hi);
        r = *reinterpret_cast<uint32_t*>(&v);
    }
    return r;
}

// Converts two adjacent 16x8 accumulator tiles (n-tiles 2k, 2k+1) into the A fragment of a
// 16x16 operand: the accumulator layout of m16n8 equals the A layout of m16k16, half by half.
template <typename T>
__device__ __forceinline__ void acc_to_a(uint32_t (&a)[4], const float (&c0)[4],
                                         const float (&c1)[4]) {
    a[0] = pack2<T>(c0[0], c0[1]);
    a[1] = pack2<T>(c0[2], c0[3]);
    a[2] = pack2<T>(c1[0], c1[1]);
    a[3] = pack2<T>(c1[2], c1[3]);
}

// Async copy of rows [row0, row0 + kRows) x kCols of a global operand into a padded smem tile;
// rows at or past `rows_valid` are zero-filled. 16-byte chunks, consecutive threads along a row.
template <int kRows, int kCols, int kStride, int kThreads, typename T>
__device__ __forceinline__ void load_tile_async(T* smem, const T* gmem, int64_t row_stride,
                                                int rows_valid, int tid) {
    constexpr int kChunksPerRow = kCols / 8;
    constexpr int kChunks = kRows * kChunksPerRow;
#pragma unroll
    for (int idx0 = 0; idx0 < kChunks; idx0 += kThreads) {
        int idx = idx0 + tid;
        if (kChunks % kThreads == 0 || idx < kChunks) {
            int r = idx / kChunksPerRow, c = (idx % kChunksPerRow) * 8;
            bool ok = r < rows_valid;
            // A valid address even when nothing is read: the start of the operand.
            const T* src = ok ? gmem + r * row_stride + c : gmem;
            cp_async_16(smem_addr(smem + r * kStride + c), src, ok ? 16 : 0);
        }
    }
}

// Writes a warp's 16 x kCols accumulator block (per n-tile of 8: c[0..1] row g, c[2..3] row
// g + 8, columns 2t, 2t + 1) scaled by `mul` into a padded smem tile at rows r0.. and column c0.
template <typename T, int kNTiles>
__device__ __forceinline__ void acc_to_smem(T* tile, int stride, int r0, int c0,
                                            const float (&c)[kNTiles][4], float mul, int lane) {
    int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt) {
        int col = c0 + nt * 8 + 2 * t;
        *reinterpret_cast<uint32_t*>(tile + (r0 + g) * stride + col) =
            pack2<T>(c[nt][0] * mul, c[nt][1] * mul);
        *reinterpret_cast<uint32_t*>(tile + (r0 + g + 8) * stride + col) =
            pack2<T>(c[nt][2] * mul, c[nt][3] * mul);
    }
}

// Copies rows [0, rows_valid) of a kRows x kCols smem tile to global memory, 16 bytes a thread.
template <int kRows, int kCols, int kStride, int kThreads, typename T>
__device__ __forceinline__ void store_tile(T* gmem, int64_t row_stride, const T* smem,
                                           int rows_valid, int tid) {
    constexpr int kChunksPerRow = kCols / 8;
    constexpr int kChunks = kRows * kChunksPerRow;
#pragma unroll
    for (int idx0 = 0; idx0 < kChunks; idx0 += kThreads) {
        int idx = idx0 + tid;
        if (kChunks % kThreads == 0 || idx < kChunks) {
            int r = idx / kChunksPerRow, c = (idx % kChunksPerRow) * 8;
            if (r < rows_valid) {
                *reinterpret_cast<uint4*>(gmem + r * row_stride + c) =
                    *reinterpret_cast<const uint4*>(smem + r * kStride + c);
            }
        }
    }
}

}  // namespace flash_sigmoid::cuda::generic
