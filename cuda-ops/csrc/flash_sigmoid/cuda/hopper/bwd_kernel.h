// FlashSigmoid backward for Hopper: one CTA owns 128 keys of one (batch, kv head) and loops over
// the query heads of its group and their query blocks of 64 rows, so dK and dV stay in registers
// and are written once (GQA needs no atomics). Warp group 0 is the producer (TMA: K and V once,
// then Q and dO per query block into a ring of stages); warp groups 1 and 2 each own 64 keys:
//   S^T  = K Q^T,  dP^T = V dO^T                   (wgmma, operands in shared memory)
//   P^T  = sigmoid(scale S^T + bias), dS^T = P^T (1 - P^T) dP^T   (registers; causal mask)
//   dV  += P^T dO, dK += dS^T Q                    (wgmma, P^T and dS^T from registers)
//   dQ  += dS K                                    (dS^T staged in shared memory; each group
//                                                   computes half of dQ's columns over all 128
//                                                   keys and adds it into a float32 workspace)
// Sigmoid needs neither the forward's log-sum-exp nor a rowsum(dO * O) pre-pass.
#pragma once

#include "../params.h"
#include "kernel_traits.h"
#include "sm90_primitives.h"

namespace flash_sigmoid::cuda::sm90 {

// Each group's dQ tile for the TMA reduce-add: 64 rows x kDqColumns floats as boxes of 32 columns
// (128 bytes, swizzled); nothing without it.
template <typename Traits, bool = Traits::kTmaDq>
struct BwdDqTiles {};
template <typename Traits>
struct BwdDqTiles<Traits, true> {
    alignas(1024) float dq[2][64 * Traits::kDqTileColumns];
};

template <typename Traits, typename Element>
struct alignas(1024) BwdShared : BwdDqTiles<Traits> {
    Element k[Traits::kBlockN * Traits::kHeadDim];
    Element v[Traits::kBlockN * Traits::kHeadDim];
    Element q[Traits::kStages][Traits::kBlockM * Traits::kHeadDim];
    Element dout[Traits::kStages][Traits::kBlockM * Traits::kHeadDim];
    Element ds[2][Traits::kBlockN * Traits::kBlockM];  // dS^T: key rows of 64 queries (128 B)
    uint64_t kv_full;
    uint64_t full[Traits::kStages], empty[Traits::kStages];
};

// Kernel development only (-DFS_DEV_SIGMOID=0): no sigmoid at all, one FMA per weight instead.
#if defined(FS_DEV_SIGMOID) && FS_DEV_SIGMOID == 0
constexpr bool kNoSigmoid = true;
#else
constexpr bool kNoSigmoid = false;
#endif

// The query blocks that see any of the keys [n0, n0 + 128).
__device__ __forceinline__ int first_query_block(const FwdParams& p, int n0, int block_m) {
    if (!p.causal) return 0;
    const int first_query = n0 - (p.k_len - p.q_len);  // query i sees key j iff j <= i + Tk - Tq
    return first_query <= 0 ? 0 : first_query / block_m;
}

template <typename Element, int kHeadDim>
__global__ void __launch_bounds__(384, 1)
    backward_kernel(const __grid_constant__ CUtensorMap q_map,
                    const __grid_constant__ CUtensorMap k_map,
                    const __grid_constant__ CUtensorMap v_map,
                    const __grid_constant__ CUtensorMap do_map,
                    const __grid_constant__ CUtensorMap dq_map, const BwdParams p) {
    using Traits = BwdTraits<Element, kHeadDim>;
    using Shared = BwdShared<Traits, Element>;
    constexpr int kBlockM = Traits::kBlockM, kBlockN = Traits::kBlockN, kStages = Traits::kStages;

    extern __shared__ uint8_t raw_shared[];
    Shared& sh = *reinterpret_cast<Shared*>((reinterpret_cast<uintptr_t>(raw_shared) + 1023) &
                                            ~uintptr_t(1023));
    const int n_block = blockIdx.x, g = blockIdx.y, b = blockIdx.z;
    const int n0 = n_block * kBlockN;
    const int m_blocks = (p.q_len + kBlockM - 1) / kBlockM;
    const int m_first = first_query_block(p, n0, kBlockM);
    const int warp_group = threadIdx.x / 128;

    if (threadIdx.x == 0) {
        mbar_init(&sh.kv_full, 1);
        for (int i = 0; i < kStages; ++i) {
            mbar_init(&sh.full[i], 1);
            mbar_init(&sh.empty[i], Traits::kConsumerThreads);
        }
        fence_barrier_init();
    }
    __syncthreads();

    if (warp_group == 0) {
        shrink_registers<Traits::kProducerRegisters>();
        if (threadIdx.x != 0) return;
        prefetch_tensor_map(&q_map);
        prefetch_tensor_map(&do_map);
        mbar_arrive_expect_tx(&sh.kv_full, 2 * Traits::kKBytes);
#pragma unroll
        for (int c = 0; c < Traits::kChunks; ++c) {
            tma_load_4d(sh.k + c * kBlockN * 64, &k_map, &sh.kv_full, c * 64, n0, g, b);
            tma_load_4d(sh.v + c * kBlockN * 64, &v_map, &sh.kv_full, c * 64, n0, g, b);
        }
        int count = 0;
        for (int h = g * p.group; h < (g + 1) * p.group; ++h) {
            for (int m = m_first; m < m_blocks; ++m, ++count) {
                const int stage = count % kStages;
                mbar_wait(&sh.empty[stage], ((count / kStages) & 1) ^ 1);
                mbar_arrive_expect_tx(&sh.full[stage], 2 * Traits::kQBytes);
#pragma unroll
                for (int c = 0; c < Traits::kChunks; ++c) {
                    tma_load_4d(sh.q[stage] + c * kBlockM * 64, &q_map, &sh.full[stage], c * 64,
                                m * kBlockM, h, b);
                    tma_load_4d(sh.dout[stage] + c * kBlockM * 64, &do_map, &sh.full[stage], c * 64,
                                m * kBlockM, h, b);
                }
            }
        }
        return;
    }

    grow_registers<Traits::kConsumerRegisters>();
    const int wg = warp_group - 1;
    const int lane = threadIdx.x % 32, warp = (threadIdx.x % 128) / 32;
    const int key_row = wg * 64 + warp * 16 + lane / 4;  // in the CTA's keys: +0 and +8
    const int col_in_tile = 2 * (lane % 4);
    const int diagonal = p.k_len - p.q_len;
    const float scale_in = kSigmoidInputScale * p.scale;

    float dk[kHeadDim / 2], dv[kHeadDim / 2];
#pragma unroll
    for (int i = 0; i < kHeadDim / 2; ++i) dk[i] = dv[i] = 0.f;

    const uint32_t k_rows = smem_addr(sh.k) + wg * 64 * 128;  // this group's 64 keys
    const uint32_t v_rows = smem_addr(sh.v) + wg * 64 * 128;
    mbar_wait(&sh.kv_full, 0);

    // kTmaDq: dQ's 64 x kDqColumns from column `column` of this group's tile into shared
    // memory, element (r, c) of box c / 32 at r * 128 + 16 ((c % 32) / 4 ^ r % 8) +
    // 4 (c % 4): the 128-byte swizzle of the workspace's tensor map.
    auto stage_dq = [&](const float(&dq)[Traits::kDqColumns / 2], int column) {
        if constexpr (Traits::kTmaDq) {
            uint8_t* tile = reinterpret_cast<uint8_t*>(sh.dq[wg]);
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                const int r = warp * 16 + lane / 4 + 8 * half;
#pragma unroll
                for (int j = 0; j < Traits::kDqColumns / 8; ++j) {
                    const int c = column + 8 * j + col_in_tile;
                    *reinterpret_cast<float2*>(tile + (c / 32) * 64 * 128 + r * 128 +
                                               ((((c % 32) / 4) ^ (r % 8)) << 4) + (c % 4) * 4) =
                        make_float2(dq[4 * j + 2 * half], dq[4 * j + 2 * half + 1]);
                }
            }
        }
    };
    // ... then, once the group's stores are fenced and met, one thread adds the tile into the
    // workspace from column `first` on, at query row m0 of head h.
    auto reduce_dq_tile = [&](int first, int m0, int h) {
        if constexpr (Traits::kTmaDq) {
            fence_async_shared();
            named_barrier_sync(2 + wg, 128);
            if (threadIdx.x % 128 == 0) {
#pragma unroll
                for (int box = 0; box < Traits::kDqTileColumns / 32; ++box) {
                    tma_reduce_add_4d(&dq_map,
                                      reinterpret_cast<uint8_t*>(sh.dq[wg]) + box * 64 * 128,
                                      first + box * 32, m0, h, b);
                }
                bulk_commit();
            }
        }
    };
    int count = 0;
    for (int h = g * p.group; h < (g + 1) * p.group; ++h) {
        const float bias_in = kSigmoidInputScale * (p.bias + (p.head_bias ? p.head_bias[h] : 0.f));
        float bias_grad = 0.f;
        for (int m = m_first; m < m_blocks; ++m, ++count) {
            const int stage = count % kStages, buffer = count & 1;
            const int m0 = m * kBlockM;
            const uint32_t q_tile = smem_addr(sh.q[stage]), do_tile = smem_addr(sh.dout[stage]);
            mbar_wait(&sh.full[stage], (count / kStages) & 1);

            float s[kBlockM / 2], dp[kBlockM / 2];
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < kHeadDim / 16; ++kk) {
                const uint32_t off = (kk % 4) * 32;
                mma_ss<Element, kBlockM>(
                    s, make_desc(k_rows + (kk / 4) * (kBlockN * 128) + off, 16, 1024),
                    make_desc(q_tile + (kk / 4) * (kBlockM * 128) + off, 16, 1024), kk > 0);
            }
            wgmma_commit();
#pragma unroll
            for (int kk = 0; kk < kHeadDim / 16; ++kk) {
                const uint32_t off = (kk % 4) * 32;
                mma_ss<Element, kBlockM>(
                    dp, make_desc(v_rows + (kk / 4) * (kBlockN * 128) + off, 16, 1024),
                    make_desc(do_tile + (kk / 4) * (kBlockM * 128) + off, 16, 1024), kk > 0);
            }
            wgmma_commit();

            // P^T while dP^T is still being computed.
            wgmma_wait<1>();
            fence_registers(s);
            const bool mask = p.causal && m0 + diagonal < n0 + kBlockN - 1;
            // Element e of n-tile j (key n0 + key_row + 8 (e / 2), query m0 + 8 j + col + e % 2)
            // lies above the causal diagonal.
            auto masked = [&](int j, int e) {
                return mask &&
                       n0 + key_row + 8 * (e / 2) > m0 + 8 * j + col_in_tile + (e % 2) + diagonal;
            };
            // P^T of queries [8 j0, 8 j1) of the block, in place.
            auto sigmoid_columns = [&](int j0, int j1) {
#pragma unroll
                for (int j = j0; j < j1; ++j) {
                    if constexpr (Traits::kSigmoidWidth == 2 && !kNoSigmoid) {
#pragma unroll
                        for (int e = 0; e < 4; e += 2) {
                            float w[2] = {fmaf(s[4 * j + e], scale_in, bias_in),
                                          fmaf(s[4 * j + e + 1], scale_in, bias_in)};
                            sigmoid2_of_scaled(w[0], w[1]);
#pragma unroll
                            for (int u = 0; u < 2; ++u) {
                                if (masked(j, e + u)) w[u] = 0.f;
                                s[4 * j + e + u] = w[u];
                            }
                        }
                    } else {
#pragma unroll
                        for (int e = 0; e < 4; ++e) {
                            const float x = fmaf(s[4 * j + e], scale_in, bias_in);
                            // kNoSigmoid: development only, the ceiling any sigmoid form can reach.
                            float w = kNoSigmoid ? fmaf(x, 1e-4f, 0.5f) : sigmoid_of_scaled(x);
                            if (masked(j, e)) w = 0.f;
                            s[4 * j + e] = w;
                        }
                    }
                }
            };

            // P^T and dS^T as A fragments (bf16/fp16 pairs in the accumulators' order), of queries
            // [16 kk0, 16 kk1).
            uint32_t pa[kBlockM / 16][4], dsa[kBlockM / 16][4];
            auto pack_fragments = [&](uint32_t(&a)[kBlockM / 16][4], const float(&x)[kBlockM / 2],
                                      int kk0, int kk1) {
#pragma unroll
                for (int j = 2 * kk0; j < 2 * kk1; ++j) {
#pragma unroll
                    for (int half = 0; half < 2; ++half) {
                        a[j / 2][(j % 2) * 2 + half] =
                            pack2<Element>(x[4 * j + 2 * half], x[4 * j + 2 * half + 1]);
                    }
                }
            };
            // dV += P^T dO over queries [16 kk0, 16 kk1) (dO read MN-major: 64-column chunks 8 KB
            // apart).
            auto issue_dv = [&](int kk0, int kk1) {
#pragma unroll
                for (int kk = kk0; kk < kk1; ++kk) {
                    mma_rs_transposed_b<Element, kHeadDim>(
                        dv, pa[kk], make_desc(do_tile + kk * 16 * 128, kBlockM * 128, 1024), 1);
                }
            };
            if constexpr (Traits::kEarlyDv > 0) {
                // In kEarlyDv parts: each part's dV product starts once its columns of P^T are.
                constexpr int kParts = Traits::kEarlyDv, kSteps = kBlockM / 16 / kParts;
#pragma unroll
                for (int part = 0; part < kParts; ++part) {
                    sigmoid_columns(2 * kSteps * part, 2 * kSteps * (part + 1));
                    pack_fragments(pa, s, kSteps * part, kSteps * (part + 1));
                    fence_registers(pa);
                    wgmma_fence();
                    issue_dv(kSteps * part, kSteps * (part + 1));
                    wgmma_commit();
                }
                wgmma_wait<kParts>();  // dP^T; dV still running
            } else {
                sigmoid_columns(0, kBlockM / 8);
                wgmma_wait<0>();
            }
            fence_registers(dp);
#pragma unroll
            for (int i = 0; i < kBlockM / 2; ++i) {
                dp[i] = s[i] * (1.f - s[i]) * dp[i];  // dS^T; masked entries have P = 0
                bias_grad += dp[i];
            }
#pragma unroll
            for (int kk = 0; kk < kBlockM / 16; ++kk) {
                if constexpr (Traits::kEarlyDv == 0) pack_fragments(pa, s, kk, kk + 1);
                pack_fragments(dsa, dp, kk, kk + 1);
            }
            // dS^T into shared memory (128-byte swizzle: 16-byte chunk j of row r at j ^ (r % 8)).
            uint8_t* ds_tile = reinterpret_cast<uint8_t*>(sh.ds[buffer]);
#pragma unroll
            for (int j = 0; j < kBlockM / 8; ++j) {
#pragma unroll
                for (int half = 0; half < 2; ++half) {
                    const int r = key_row + 8 * half;
                    *reinterpret_cast<uint32_t*>(ds_tile + r * 128 + ((j ^ (r & 7)) << 4) +
                                                 (lane % 4) * 4) = dsa[j / 2][(j % 2) * 2 + half];
                }
            }
            fence_async_shared();

            // dK += dS^T Q (Q read MN-major), after dV unless that one is already running.
            auto issue_dk = [&]() {
                if constexpr (Traits::kEarlyDv == 0) fence_registers(pa);
                fence_registers(dsa);
                wgmma_fence();
                if constexpr (Traits::kEarlyDv == 0) issue_dv(0, kBlockM / 16);
#pragma unroll
                for (int kk = 0; kk < kBlockM / 16; ++kk) {
                    mma_rs_transposed_b<Element, kHeadDim>(
                        dk, dsa[kk], make_desc(q_tile + kk * 16 * 128, kBlockM * 128, 1024), 1);
                }
                wgmma_commit();
            };
            if constexpr (!Traits::kDqFirst) issue_dk();

            // Adds 64 rows x kDqColumns of dQ from column `column` into the float32 workspace
            // (B, Tq, H, D); the scale is applied when it is converted to dq's dtype.
            auto add_dq = [&](const float(&dq)[Traits::kDqColumns / 2], int column) {
#pragma unroll
                for (int half = 0; half < 2; ++half) {
                    const int row = m0 + warp * 16 + lane / 4 + 8 * half;
                    if (row >= p.q_len) continue;
                    float* dst =
                        p.workspace +
                        ((static_cast<int64_t>(b) * p.q_len + row) * p.heads + h) * kHeadDim +
                        column + col_in_tile;
#pragma unroll
                    for (int j = 0; j < Traits::kDqColumns / 8; ++j) {
                        atomicAdd(reinterpret_cast<float2*>(dst + 8 * j),
                                  make_float2(dq[4 * j + 2 * half], dq[4 * j + 2 * half + 1]));
                    }
                }
            };
            const uint32_t ds_addr = smem_addr(sh.ds[buffer]);
            if constexpr (Traits::kOwnDq) {
                wgmma_wait<0>();  // dV and dK: Q and dO's stage is free, pa and dsa die
                fence_registers(dk);
                fence_registers(dv);
                mbar_arrive(&sh.empty[stage]);
                // With the TMA reduce-add, the group's previous one must have read its tile.
                if constexpr (Traits::kTmaDq) {
                    if (threadIdx.x % 128 == 0) bulk_wait_read<0>();
                }
                named_barrier_sync(2 + wg, 128);  // this group's rows of dS^T are all written
#pragma unroll
                for (int column = 0; column < kHeadDim; column += 64) {
                    float dq[Traits::kDqColumns / 2];
                    wgmma_fence();
#pragma unroll
                    for (int kk = 0; kk < 64 / 16; ++kk) {
                        const uint32_t row = (wg * 64 + kk * 16) * 128;
                        mma_ss<Element, 64, 1>(
                            dq, make_desc(ds_addr + row, kBlockM * 128, 1024),
                            make_desc(smem_addr(sh.k) + (column / 64) * kBlockN * 128 + row,
                                      kBlockN * 128, 1024),
                            kk > 0);
                    }
                    wgmma_commit();
                    wgmma_wait<0>();
                    fence_registers(dq);
                    if constexpr (Traits::kTmaDq) {
                        stage_dq(dq, column);
                    } else {
                        add_dq(dq, column);
                    }
                }
                if constexpr (Traits::kTmaDq) reduce_dq_tile(0, m0, h);
            } else {
                // dQ (64 x kDqColumns of this group) = dS K over all 128 keys: both groups' dS^T.
                // With the TMA reduce-add, this group's previous one must have read its tile
                // before the barrier lets the group write it again.
                if constexpr (Traits::kTmaDq) {
                    if (threadIdx.x % 128 == 0) bulk_wait_read<0>();
                }
                named_barrier_sync(1, Traits::kConsumerThreads);
                float dq[Traits::kDqColumns / 2];
                // (Otherwise ptxas inserts it: the tile's stores read the last block's dq.)
                if constexpr (Traits::kTmaDq) wgmma_fence();
                // This group's columns of K: chunk wg at D = 128, the wg-th half of the chunk at
                // 64.
                const uint32_t k_columns =
                    smem_addr(sh.k) + (kHeadDim == 128 ? wg * kBlockN * 128 : wg * 64);
#pragma unroll
                for (int kk = 0; kk < kBlockN / 16; ++kk) {
                    mma_ss<Element, Traits::kDqColumns, 1>(
                        dq, make_desc(ds_addr + kk * 16 * 128, kBlockM * 128, 1024),
                        make_desc(k_columns + kk * 16 * 128, kBlockN * 128, 1024), kk > 0);
                }
                wgmma_commit();
                // kDqFirst: dK after dQ, so that dQ's staging runs under dK's product.
                if constexpr (Traits::kDqFirst) issue_dk();
                wgmma_wait<Traits::kDqFirst ? 1 : 0>();
                auto release_stage = [&]() {  // dV and dK done: Q and dO's stage is free
                    fence_registers(dk);
                    fence_registers(dv);
                    mbar_arrive(&sh.empty[stage]);
                };
                if constexpr (!Traits::kDqFirst) release_stage();
                fence_registers(dq);
                if constexpr (Traits::kTmaDq) {
                    stage_dq(dq, 0);
                    reduce_dq_tile(wg * Traits::kDqColumns, m0, h);
                } else {
                    add_dq(dq, wg * Traits::kDqColumns);
                }
                if constexpr (Traits::kDqFirst) {
                    wgmma_wait<0>();
                    release_stage();
                }
            }
        }
        if (p.d_head_bias) {
#pragma unroll
            for (int off = 16; off > 0; off >>= 1)
                bias_grad += __shfl_xor_sync(0xffffffffu, bias_grad, off);
            if (lane == 0) atomicAdd(p.d_head_bias + h, bias_grad);
        }
    }

    if constexpr (Traits::kTmaDq) {
        if (threadIdx.x % 128 == 0) bulk_wait<0>();  // the last reduce-adds, before the CTA ends
    }

    // dK (times the scale) and dV of this thread's two keys.
    const int kvh = g;
    Element* dk_out = static_cast<Element*>(p.dk) + b * p.dk_batch_stride + kvh * p.dk_head_stride;
    Element* dv_out = static_cast<Element*>(p.dv) + b * p.dv_batch_stride + kvh * p.dv_head_stride;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
        const int key = n0 + key_row + 8 * half;
        if (key >= p.k_len) continue;
        Element* dk_row = dk_out + static_cast<int64_t>(key) * p.dk_row_stride + col_in_tile;
        Element* dv_row = dv_out + static_cast<int64_t>(key) * p.dv_row_stride + col_in_tile;
#pragma unroll
        for (int j = 0; j < kHeadDim / 8; ++j) {
            *reinterpret_cast<uint32_t*>(dk_row + 8 * j) =
                pack2<Element>(dk[4 * j + 2 * half] * p.scale, dk[4 * j + 2 * half + 1] * p.scale);
            *reinterpret_cast<uint32_t*>(dv_row + 8 * j) =
                pack2<Element>(dv[4 * j + 2 * half], dv[4 * j + 2 * half + 1]);
        }
    }
}

}  // namespace flash_sigmoid::cuda::sm90
