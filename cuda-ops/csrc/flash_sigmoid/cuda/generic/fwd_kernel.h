// Forward mma.sync kernel: one CTA per (query block, head, batch), looping over key blocks with K
// and V double-buffered through cp.async. O = sum_j sigmoid(s_ij) v_j accumulates in registers
// and is written once; sigmoid attention needs no running max, sum or LSE.
#pragma once

#include "../params.h"
#include "kernel_traits.h"

namespace flash_sigmoid::cuda::generic {

// Probability modes of a score block: the plain path pays for nothing but the FMA and the
// sigmoid. Key tails need no mask anywhere: K and V rows past Tk are zero-filled, so their
// products with V are exactly 0.
enum ScoreMode { kPlain = 0, kCausal = 1, kExtended = 2 };

// s <- sigmoid(scale * s + bias) * kWeightScale in place for a warp's kMT x 16 rows and kNT x 8
// columns.
// row0: query row of fragment row g (m-tile 0); n0: first key of the block. Masks are tested
// on block-local column numbers against one per-row limit, so the compile-time column offsets
// stay immediates (64-bit indices per element would cost dozens of registers).
template <int kMode, int kMT, int kNT>
__device__ __forceinline__ void fwd_probabilities(float (&s)[kMT][kNT][4], float scale_h,
                                                  float bias_h, float slope_h, int64_t row0,
                                                  int64_t n0, int lane, const FwdParams& p, int b,
                                                  int h) {
    const int64_t diag = static_cast<int64_t>(p.k_len) - p.q_len;
    const int t2 = 2 * (lane & 3);
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const int64_t i = row0 + mt * 16 + half * 8;
            // Column c = nt * 8 + (r & 1) of this thread is key n0 + t2 + c; causal keeps
            // key <= i + diag, i.e. c <= rel.
            const int64_t rel = i + diag - n0 - t2;
            const int lim = static_cast<int>(rel < -1 ? -1 : (rel > kNT * 8 ? kNT * 8 : rel));
            const uint8_t* keep_row = nullptr;
            int cols_valid = 0;
            if constexpr (kMode == kExtended) {
                if (p.keep && i < p.q_len) {
                    keep_row = p.keep + b * p.keep_stride[0] + h * p.keep_stride[1] +
                               i * p.keep_stride[2] + (n0 + t2) * p.keep_stride[3];
                    cols_valid = static_cast<int>(p.k_len - n0 - t2);
                }
            }
#pragma unroll
            for (int nt = 0; nt < kNT; ++nt) {
                float x[2];
                bool visible[2];
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    const int c = nt * 8 + e;
                    x[e] = fmaf(s[mt][nt][half * 2 + e], scale_h, bias_h);
                    visible[e] = kMode == kPlain || c <= lim;
                    if constexpr (kMode == kExtended) {
                        visible[e] = visible[e] || !p.causal;
                        x[e] -= slope_h * fabsf(static_cast<float>(rel - c));
                        if (p.keep) {
                            visible[e] =
                                visible[e] && c < cols_valid && keep_row[c * p.keep_stride[3]] != 0;
                        }
                    }
                }
                sigmoid2_of_scaled(x[0], x[1], kWeightUnit);  // weights x kWeightScale
#pragma unroll
                for (int e = 0; e < 2; ++e) s[mt][nt][half * 2 + e] = visible[e] ? x[e] : 0.0f;
            }
        }
    }
}

template <typename T, typename Tr>
__global__ void __launch_bounds__(Tr::kNThreads, 1)
    fwd_kernel(const __grid_constant__ FwdParams p) {
    constexpr int D = Tr::kHeadDim, BM = Tr::kBlockM, BN = Tr::kBlockN, S = Tr::kStride;
    constexpr int MT = Tr::kMTiles, NT = BN / 8, DT = D / 8, NTH = Tr::kNThreads;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* sQ = reinterpret_cast<T*>(smem_raw);
    T* sK = sQ + Tr::kSmemQ;       // [2][BN][S]
    T* sV = sK + 2 * Tr::kSmemKV;  // [2][BN][S]
    const uint32_t sQ_u = smem_addr(sQ);

    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    // Causal: the longest query blocks first, so the tail of the grid is short blocks.
    const int m_block = p.causal ? gridDim.x - 1 - blockIdx.x : blockIdx.x;
    const int h = blockIdx.y, b = blockIdx.z, kvh = h / p.group;
    const int m0 = m_block * BM;
    const int64_t diag = static_cast<int64_t>(p.k_len) - p.q_len;
    const int warp_row = warp * 16 * MT;  // first row of this warp within the block

    const T* qg = static_cast<const T*>(p.q) + b * p.q_batch_stride + m0 * p.q_row_stride +
                  h * p.q_head_stride;
    const T* kg = static_cast<const T*>(p.k) + b * p.k_batch_stride + kvh * p.k_head_stride;
    const T* vg = static_cast<const T*>(p.v) + b * p.v_batch_stride + kvh * p.v_head_stride;
    T* og = static_cast<T*>(p.o) + b * p.o_batch_stride + m0 * p.o_row_stride + h * p.o_head_stride;

    // Varlen: keys past this sequence's length are neither loaded nor visited (zero-filled in the
    // last tile, so their products with V vanish); positions still count from the padded Tk.
    const int k_len_b = p.key_lengths ? min(max(p.key_lengths[b], 0), p.k_len) : p.k_len;
    int n_blocks = ceil_div(k_len_b, BN);
    if (p.causal) {
        // Last key visible to the block's last valid row; blocks past it are skipped entirely.
        int64_t last = static_cast<int64_t>(min(m0 + BM, p.q_len)) - 1 + diag;
        n_blocks =
            last < 0 ? 0 : static_cast<int>(last / BN + 1 < n_blocks ? last / BN + 1 : n_blocks);
    }

    float acc_o[MT][DT][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int i = 0; i < DT; ++i)
#pragma unroll
            for (int r = 0; r < 4; ++r) acc_o[mt][i][r] = 0.0f;

    if (n_blocks > 0) {
        load_tile_async<BM, D, S, NTH>(sQ, qg, p.q_row_stride, p.q_len - m0, tid);
        load_tile_async<BN, D, S, NTH>(sK, kg, p.k_row_stride, k_len_b, tid);
        load_tile_async<BN, D, S, NTH>(sV, vg, p.v_row_stride, k_len_b, tid);
        cp_async_commit();

        // The sigmoid's input scale folded into the score's scale, bias and slope.
        const float scale_h = kSigmoidInputScale * p.scale;
        const float bias_h = kSigmoidInputScale * (p.bias + (p.head_bias ? p.head_bias[h] : 0.0f));
        const bool extended = p.alibi_slopes != nullptr || p.keep != nullptr;
        const float slope_h = p.alibi_slopes ? kSigmoidInputScale * p.alibi_slopes[h] : 0.0f;
        const int64_t row0 = static_cast<int64_t>(m0) + warp_row + (lane >> 2);

        constexpr int QR = Tr::kQInRegs ? D / 16 : 1;
        uint32_t qf[MT][QR][4];

        for (int nb = 0; nb < n_blocks; ++nb) {
            const int stage = nb & 1;
            if (nb + 1 < n_blocks) {
                const int64_t next = static_cast<int64_t>(nb + 1) * BN;
                const int rows = k_len_b - (nb + 1) * BN;
                load_tile_async<BN, D, S, NTH>(sK + (stage ^ 1) * Tr::kSmemKV,
                                               kg + next * p.k_row_stride, p.k_row_stride, rows,
                                               tid);
                load_tile_async<BN, D, S, NTH>(sV + (stage ^ 1) * Tr::kSmemKV,
                                               vg + next * p.v_row_stride, p.v_row_stride, rows,
                                               tid);
            }
            cp_async_commit();
            cp_async_wait<1>();
            __syncthreads();
            const uint32_t sKs_u = smem_addr(sK) + stage * Tr::kSmemKV * 2;
            const uint32_t sVs_u = smem_addr(sV) + stage * Tr::kSmemKV * 2;

            if constexpr (Tr::kQInRegs) {
                if (nb == 0) {
#pragma unroll
                    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                        for (int kk = 0; kk < QR; ++kk)
                            ldmatrix_x4(qf[mt][kk],
                                        lm_a_rowmajor(sQ_u, S, warp_row + mt * 16, kk * 16, lane));
                }
            }

            // S = Q K^T
            float acc_s[MT][NT][4];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int i = 0; i < NT; ++i)
#pragma unroll
                    for (int r = 0; r < 4; ++r) acc_s[mt][i][r] = 0.0f;
#pragma unroll
            for (int kk = 0; kk < D / 16; ++kk) {
                uint32_t a[MT][4];
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    if constexpr (Tr::kQInRegs) {
#pragma unroll
                        for (int r = 0; r < 4; ++r) a[mt][r] = qf[mt][kk][r];
                    } else {
                        ldmatrix_x4(a[mt],
                                    lm_a_rowmajor(sQ_u, S, warp_row + mt * 16, kk * 16, lane));
                    }
                }
#pragma unroll
                for (int np = 0; np < BN / 16; ++np) {
                    uint32_t bf[4];
                    ldmatrix_x4(bf, lm_b_nk(sKs_u, S, np * 16, kk * 16, lane));
#pragma unroll
                    for (int mt = 0; mt < MT; ++mt) {
                        mma_16816<T>(acc_s[mt][2 * np], a[mt], bf[0], bf[1]);
                        mma_16816<T>(acc_s[mt][2 * np + 1], a[mt], bf[2], bf[3]);
                    }
                }
            }

            const int64_t n0 = static_cast<int64_t>(nb) * BN;
            if (extended) {
                fwd_probabilities<kExtended>(acc_s, scale_h, bias_h, slope_h, row0, n0, lane, p, b,
                                             h);
            } else if (p.causal && n0 + BN - 1 > m0 + warp_row + diag) {
                fwd_probabilities<kCausal>(acc_s, scale_h, bias_h, slope_h, row0, n0, lane, p, b,
                                           h);
            } else {
                fwd_probabilities<kPlain>(acc_s, scale_h, bias_h, slope_h, row0, n0, lane, p, b, h);
            }

            // O += P V
#pragma unroll
            for (int kk = 0; kk < BN / 16; ++kk) {
                uint32_t pa[MT][4];
#pragma unroll
                for (int mt = 0; mt < MT; ++mt)
                    acc_to_a<T>(pa[mt], acc_s[mt][2 * kk], acc_s[mt][2 * kk + 1]);
#pragma unroll
                for (int dp = 0; dp < D / 16; ++dp) {
                    uint32_t bf[4];
                    ldmatrix_x4_trans(bf, lm_b_kn_trans(sVs_u, S, kk * 16, dp * 16, lane));
#pragma unroll
                    for (int mt = 0; mt < MT; ++mt) {
                        mma_16816<T>(acc_o[mt][2 * dp], pa[mt], bf[0], bf[1]);
                        mma_16816<T>(acc_o[mt][2 * dp + 1], pa[mt], bf[2], bf[3]);
                    }
                }
            }
            __syncthreads();  // the next iteration's loads overwrite this stage
        }
    }

    // Stage O through sQ (free after the last barrier) for 16-byte coalesced stores.
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
        acc_to_smem<T, DT>(sQ, S, warp_row + mt * 16, 0, acc_o[mt], kWeightUnit, lane);
    __syncthreads();
    store_tile<BM, D, S, NTH>(og, p.o_row_stride, sQ, p.q_len - m0, tid);
}

}  // namespace flash_sigmoid::cuda::generic
