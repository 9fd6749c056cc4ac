// Backward mma.sync kernel. One CTA per (key block, kv head, batch) loops over the query blocks of
// every head of its kv group, so dK and dV accumulate in registers and are written once with no
// atomics (GQA for free). Sigmoid needs no LSE and no rowsum(dO * O) pre-pass:
//   S^T = K Q^T, P^T = sigmoid(S^T), dV += P^T dO, dP^T = V dO^T, dS^T = dP^T P^T (1 - P^T),
//   dK += dS^T Q, dQ += dS K (fp32 workspace, atomics), d_head_bias[h] += sum dS.
// Working on the transposes keeps keys on the accumulator rows, so P^T and dS^T feed the dV and
// dK products straight from registers; only dS goes through shared memory (for dQ).
#pragma once

#include "../params.h"
#include "fwd_kernel.h"
#include "kernel_traits.h"

namespace flash_sigmoid::cuda::generic {

// st <- P^T for a warp's 16 keys (rows) x kQT * 8 queries (columns), in place.
// key0: key of fragment row g; m0: first query of the block. As in the forward, masks compare
// block-local column numbers with one limit per row.
template <int kMode, int kQT>
__device__ __forceinline__ void bwd_probabilities(float (&st)[kQT][4], float scale_h, float bias_h,
                                                  float slope_h, int64_t key0, int64_t m0, int lane,
                                                  const BwdParams& p, int b, int h) {
    const int64_t diag = static_cast<int64_t>(p.k_len) - p.q_len;
    const int t2 = 2 * (lane & 3);
#pragma unroll
    for (int half = 0; half < 2; ++half) {
        const int64_t j = key0 + half * 8;
        // Column c = nt * 8 + (r & 1) is query m0 + t2 + c; causal keeps query >= j - diag,
        // i.e. c >= rel. The alibi distance is |query + diag - j| = |c - rel|.
        const int64_t rel = j - diag - m0 - t2;
        const int lim = static_cast<int>(rel < 0 ? 0 : (rel > kQT * 8 + 1 ? kQT * 8 + 1 : rel));
        const uint8_t* keep_col = nullptr;
        int cols_valid = 0;
        if constexpr (kMode == kExtended) {
            if (p.keep && j < p.k_len) {
                keep_col = p.keep + b * p.keep_stride[0] + h * p.keep_stride[1] +
                           (m0 + t2) * p.keep_stride[2] + j * p.keep_stride[3];
                cols_valid = static_cast<int>(p.q_len - m0 - t2);
            }
        }
#pragma unroll
        for (int nt = 0; nt < kQT; ++nt) {
            float x[2];
            bool visible[2];
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                const int c = nt * 8 + e;
                x[e] = fmaf(st[nt][half * 2 + e], scale_h, bias_h);
                visible[e] = kMode == kPlain || c >= lim;
                if constexpr (kMode == kExtended) {
                    visible[e] = visible[e] || !p.causal;
                    x[e] -= slope_h * fabsf(static_cast<float>(c - rel));
                    if (p.keep) {
                        visible[e] =
                            visible[e] && c < cols_valid && keep_col[c * p.keep_stride[2]] != 0;
                    }
                }
            }
            sigmoid2_of_scaled(x[0], x[1]);
#pragma unroll
            for (int e = 0; e < 2; ++e) st[nt][half * 2 + e] = visible[e] ? x[e] : 0.0f;
        }
    }
}

template <int N>
__device__ __forceinline__ void zero_acc(float (&c)[N][4]) {
#pragma unroll
    for (int i = 0; i < N; ++i)
#pragma unroll
        for (int r = 0; r < 4; ++r) c[i][r] = 0.0f;
}

template <typename T, typename Tr>
__global__ void __launch_bounds__(Tr::kNThreads, 1)
    bwd_kernel(const __grid_constant__ BwdParams p) {
    constexpr int D = Tr::kHeadDim, BM = Tr::kBlockM, BN = Tr::kBlockN, S = Tr::kStride;
    constexpr int SS = Tr::kStrideS, QT = BM / 8, DPT = Tr::kDPart / 8, NTH = Tr::kNThreads;
    constexpr int DQT = Tr::kDqCols / 8;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* sK = reinterpret_cast<T*>(smem_raw);
    T* sV = sK + Tr::kSmemK;
    T* sQ = sV + Tr::kSmemK;        // [2][BM][S]
    T* sdO = sQ + 2 * Tr::kSmemQ;   // [2][BM][S]
    T* sdS = sdO + 2 * Tr::kSmemQ;  // [BN][SS], dS^T
    float* sRed = reinterpret_cast<float*>(sdS + Tr::kSmemS);
    const uint32_t sK_u = smem_addr(sK), sV_u = smem_addr(sV), sdS_u = smem_addr(sdS);

    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int n_block = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z;
    const int n0 = n_block * BN;
    const int64_t diag = static_cast<int64_t>(p.k_len) - p.q_len;
    const int key_row = (warp % Tr::kWarpsKey) * 16;  // this warp's keys within the block
    const int dpart = warp / Tr::kWarpsKey;
    const int dcol0 = dpart * Tr::kDPart;            // its slice of dK and dV columns
    const int dq_row = (warp % Tr::kDqWarpsM) * 16;  // its dQ warp tile
    const int dq_col = (warp / Tr::kDqWarpsM) * Tr::kDqCols;

    const T* kg = static_cast<const T*>(p.k) + b * p.k_batch_stride + n0 * p.k_row_stride +
                  kvh * p.k_head_stride;
    const T* vg = static_cast<const T*>(p.v) + b * p.v_batch_stride + n0 * p.v_row_stride +
                  kvh * p.v_head_stride;
    // Varlen: keys past this sequence's length load as zero rows (so they add nothing to dQ,
    // dS or d_head_bias) and their dK, dV are written as zeros; tiles wholly past it do no work.
    const int k_len_b = p.key_lengths ? min(max(p.key_lengths[b], 0), p.k_len) : p.k_len;
    load_tile_async<BN, D, S, NTH>(sK, kg, p.k_row_stride, k_len_b - n0, tid);
    load_tile_async<BN, D, S, NTH>(sV, vg, p.v_row_stride, k_len_b - n0, tid);

    // Causal: query i sees key n0 iff i >= n0 - diag; earlier query blocks are skipped.
    const int64_t first_q = static_cast<int64_t>(n0) - diag;
    const int m_begin = p.causal && first_q > 0 ? static_cast<int>(first_q / BM) : 0;
    const int n_m = max(0, ceil_div(p.q_len, BM) - m_begin);
    const int total = n0 < k_len_b ? p.group * n_m : 0;

    auto load_q_do = [&](int it, int stage) {
        const int hh = it / n_m;
        const int h = kvh * p.group + hh;
        const int m0 = (m_begin + it - hh * n_m) * BM;
        const T* qg = static_cast<const T*>(p.q) + b * p.q_batch_stride + m0 * p.q_row_stride +
                      h * p.q_head_stride;
        const T* dog = static_cast<const T*>(p.dout) + b * p.do_batch_stride +
                       m0 * p.do_row_stride + h * p.do_head_stride;
        load_tile_async<BM, D, S, NTH>(sQ + stage * Tr::kSmemQ, qg, p.q_row_stride, p.q_len - m0,
                                       tid);
        load_tile_async<BM, D, S, NTH>(sdO + stage * Tr::kSmemQ, dog, p.do_row_stride, p.q_len - m0,
                                       tid);
    };
    if (total > 0) load_q_do(0, 0);
    cp_async_commit();

    float acc_dk[DPT][4], acc_dv[DPT][4];
    zero_acc(acc_dk);
    zero_acc(acc_dv);
    float dbias = 0.0f;
    const bool extended = p.alibi_slopes != nullptr || p.keep != nullptr;
    const float scale_h = kSigmoidInputScale * p.scale;
    const int64_t key0 = static_cast<int64_t>(n0) + key_row + (lane >> 2);

    for (int it = 0; it < total; ++it) {
        const int stage = it & 1;
        const int hh = it / n_m;
        const int h = kvh * p.group + hh;
        const int m0 = (m_begin + it - hh * n_m) * BM;
        if (it + 1 < total) load_q_do(it + 1, stage ^ 1);
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        const uint32_t sQs_u = smem_addr(sQ) + stage * Tr::kSmemQ * 2;
        const uint32_t sdOs_u = smem_addr(sdO) + stage * Tr::kSmemQ * 2;
        const float bias_h = kSigmoidInputScale * (p.bias + (p.head_bias ? p.head_bias[h] : 0.0f));
        const float slope_h = p.alibi_slopes ? kSigmoidInputScale * p.alibi_slopes[h] : 0.0f;

        // S^T = K Q^T for this warp's 16 keys.
        float st[QT][4];
        zero_acc(st);
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
            uint32_t a[4];
            ldmatrix_x4(a, lm_a_rowmajor(sK_u, S, key_row, kk * 16, lane));
#pragma unroll
            for (int np = 0; np < BM / 16; ++np) {
                uint32_t bf[4];
                ldmatrix_x4(bf, lm_b_nk(sQs_u, S, np * 16, kk * 16, lane));
                mma_16816<T>(st[2 * np], a, bf[0], bf[1]);
                mma_16816<T>(st[2 * np + 1], a, bf[2], bf[3]);
            }
        }
        if (extended) {
            bwd_probabilities<kExtended>(st, scale_h, bias_h, slope_h, key0, m0, lane, p, b, h);
        } else if (p.causal && static_cast<int64_t>(n0) + key_row + 15 > m0 + diag) {
            bwd_probabilities<kCausal>(st, scale_h, bias_h, slope_h, key0, m0, lane, p, b, h);
        } else {
            bwd_probabilities<kPlain>(st, scale_h, bias_h, slope_h, key0, m0, lane, p, b, h);
        }

        // dV += P^T dO (this warp's column slice).
#pragma unroll
        for (int kk = 0; kk < BM / 16; ++kk) {
            uint32_t pa[4];
            acc_to_a<T>(pa, st[2 * kk], st[2 * kk + 1]);
#pragma unroll
            for (int dp = 0; dp < Tr::kDPart / 16; ++dp) {
                uint32_t bf[4];
                ldmatrix_x4_trans(bf, lm_b_kn_trans(sdOs_u, S, kk * 16, dcol0 + dp * 16, lane));
                mma_16816<T>(acc_dv[2 * dp], pa, bf[0], bf[1]);
                mma_16816<T>(acc_dv[2 * dp + 1], pa, bf[2], bf[3]);
            }
        }

        // P (1 - P) packed as fp16 pairs while dP^T accumulates: 16 registers instead of 32,
        // which keeps the kernel spill-free; fp16 keeps 11 bits (relative 2^-12, far below the
        // rounding of dS to 16 bits that follows), and values under 6e-8 only matter as 0.
        uint32_t pq[QT][2];
#pragma unroll
        for (int nt = 0; nt < QT; ++nt) {
            __half2 lo = __floats2half2_rn(st[nt][0] - st[nt][0] * st[nt][0],
                                           st[nt][1] - st[nt][1] * st[nt][1]);
            __half2 hi = __floats2half2_rn(st[nt][2] - st[nt][2] * st[nt][2],
                                           st[nt][3] - st[nt][3] * st[nt][3]);
            pq[nt][0] = *reinterpret_cast<uint32_t*>(&lo);
            pq[nt][1] = *reinterpret_cast<uint32_t*>(&hi);
        }

        // dP^T = V dO^T, then dS^T = dP^T * P^T (1 - P^T) in place (masked: P = 0, so dS = 0).
        float dpt[QT][4];
        zero_acc(dpt);
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
            uint32_t a[4];
            ldmatrix_x4(a, lm_a_rowmajor(sV_u, S, key_row, kk * 16, lane));
#pragma unroll
            for (int np = 0; np < BM / 16; ++np) {
                uint32_t bf[4];
                ldmatrix_x4(bf, lm_b_nk(sdOs_u, S, np * 16, kk * 16, lane));
                mma_16816<T>(dpt[2 * np], a, bf[0], bf[1]);
                mma_16816<T>(dpt[2 * np + 1], a, bf[2], bf[3]);
            }
        }
#pragma unroll
        for (int nt = 0; nt < QT; ++nt) {
            const float2 lo = __half22float2(*reinterpret_cast<const __half2*>(&pq[nt][0]));
            const float2 hi = __half22float2(*reinterpret_cast<const __half2*>(&pq[nt][1]));
            dpt[nt][0] *= lo.x;
            dpt[nt][1] *= lo.y;
            dpt[nt][2] *= hi.x;
            dpt[nt][3] *= hi.y;
            dbias += (dpt[nt][0] + dpt[nt][1]) + (dpt[nt][2] + dpt[nt][3]);
        }

        // dK += dS^T Q (unscaled; scale applied once at the end).
#pragma unroll
        for (int kk = 0; kk < BM / 16; ++kk) {
            uint32_t da[4];
            acc_to_a<T>(da, dpt[2 * kk], dpt[2 * kk + 1]);
#pragma unroll
            for (int dp = 0; dp < Tr::kDPart / 16; ++dp) {
                uint32_t bf[4];
                ldmatrix_x4_trans(bf, lm_b_kn_trans(sQs_u, S, kk * 16, dcol0 + dp * 16, lane));
                mma_16816<T>(acc_dk[2 * dp], da, bf[0], bf[1]);
                mma_16816<T>(acc_dk[2 * dp + 1], da, bf[2], bf[3]);
            }
        }

        // dS^T to smem (warps sharing keys hold the same values: one writes).
        if (dpart == 0) acc_to_smem<T, QT>(sdS, SS, key_row, 0, dpt, 1.0f, lane);
        __syncthreads();

        // dQ (BM x D) += dS K, one warp tile each, added into the fp32 workspace.
        {
            float acc_dq[DQT][4];
            zero_acc(acc_dq);
#pragma unroll
            for (int kk = 0; kk < BN / 16; ++kk) {
                uint32_t a[4];
                ldmatrix_x4_trans(a, lm_a_km_trans(sdS_u, SS, kk * 16, dq_row, lane));
#pragma unroll
                for (int dp = 0; dp < Tr::kDqCols / 16; ++dp) {
                    uint32_t bf[4];
                    ldmatrix_x4_trans(bf, lm_b_kn_trans(sK_u, S, kk * 16, dq_col + dp * 16, lane));
                    mma_16816<T>(acc_dq[2 * dp], a, bf[0], bf[1]);
                    mma_16816<T>(acc_dq[2 * dp + 1], a, bf[2], bf[3]);
                }
            }
            const int g = lane >> 2, t = lane & 3;
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                const int i = m0 + dq_row + g + half * 8;
                if (i < p.q_len) {
                    float* row = p.workspace +
                                 ((static_cast<int64_t>(b) * p.q_len + i) * p.heads + h) * D +
                                 dq_col + 2 * t;
#pragma unroll
                    for (int nt = 0; nt < DQT; ++nt) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
                        atomicAdd(reinterpret_cast<float2*>(row + nt * 8),
                                  make_float2(acc_dq[nt][2 * half], acc_dq[nt][2 * half + 1]));
#else
                        atomicAdd(row + nt * 8, acc_dq[nt][2 * half]);
                        atomicAdd(row + nt * 8 + 1, acc_dq[nt][2 * half + 1]);
#endif
                    }
                }
            }
        }

        // d_head_bias: one block reduction and one atomic per head.
        if (p.d_head_bias && (it + 1 == total || (it + 1) % n_m == 0)) {
            float v = dpart == 0 ? dbias : 0.0f;
#pragma unroll
            for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
            if (lane == 0) sRed[warp] = v;
            __syncthreads();
            if (tid == 0) {
                float sum = 0.0f;
#pragma unroll
                for (int w = 0; w < Tr::kNWarps; ++w) sum += sRed[w];
                atomicAdd(p.d_head_bias + h, sum);
            }
            dbias = 0.0f;
        }
    }

    // Stage dK (scaled) and dV through the K and V tiles for 16-byte stores (after every copy
    // into them has landed: with no query block, the K and V loads were never waited for).
    cp_async_wait<0>();
    __syncthreads();
    acc_to_smem<T, DPT>(sK, S, key_row, dcol0, acc_dk, p.scale, lane);
    acc_to_smem<T, DPT>(sV, S, key_row, dcol0, acc_dv, 1.0f, lane);
    __syncthreads();
    if (k_len_b - n0 < BN) {
        // dV = P^T dO is not zero for the zero-filled keys past the sequence: clear those rows.
        const int first = max(k_len_b - n0, 0);
        for (int idx = tid; idx < (BN - first) * D; idx += NTH) {
            sV[(first + idx / D) * S + idx % D] = T(0.0f);
        }
        __syncthreads();
    }
    T* dkg = static_cast<T*>(p.dk) + b * p.dk_batch_stride + n0 * p.dk_row_stride +
             kvh * p.dk_head_stride;
    T* dvg = static_cast<T*>(p.dv) + b * p.dv_batch_stride + n0 * p.dv_row_stride +
             kvh * p.dv_head_stride;
    store_tile<BN, D, S, NTH>(dkg, p.dk_row_stride, sK, p.k_len - n0, tid);
    store_tile<BN, D, S, NTH>(dvg, p.dv_row_stride, sV, p.k_len - n0, tid);
}

// dq = scale * workspace, in dq's dtype and strides; 8 elements (16 bytes out) per thread.
template <typename T, int D>
__global__ void dq_convert_kernel(const __grid_constant__ BwdParams p) {
    constexpr int kChunks = D / 8;
    const int64_t rows = static_cast<int64_t>(p.batch) * p.q_len * p.heads;
    const int64_t n = rows * kChunks;
    for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < n;
         idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t row = idx / kChunks;
        const int c = static_cast<int>(idx % kChunks) * 8;
        const int h = static_cast<int>(row % p.heads);
        const int64_t bi = row / p.heads;
        const int i = static_cast<int>(bi % p.q_len);
        const int b = static_cast<int>(bi / p.q_len);
        const float4* src = reinterpret_cast<const float4*>(p.workspace + row * D + c);
        const float4 x0 = src[0], x1 = src[1];
        const float s = p.scale;
        uint4 out;
        out.x = pack2<T>(x0.x * s, x0.y * s);
        out.y = pack2<T>(x0.z * s, x0.w * s);
        out.z = pack2<T>(x1.x * s, x1.y * s);
        out.w = pack2<T>(x1.z * s, x1.w * s);
        *reinterpret_cast<uint4*>(static_cast<T*>(p.dq) + b * p.dq_batch_stride +
                                  i * p.dq_row_stride + h * p.dq_head_stride + c) = out;
    }
}

}  // namespace flash_sigmoid::cuda::generic
