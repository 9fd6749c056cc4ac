// FlashSigmoid forward for Hopper: one CTA computes 128 query rows of one (batch, head).
// Warp group 0 is the producer (one thread issues TMA loads of Q once and of K/V tiles into a
// ring of stages guarded by mbarriers); warp groups 1 and 2 each own 64 query rows and run
//   S = Q K^T (wgmma, both operands in shared memory),
//   P = sigmoid(scale S + bias) with the causal mask (registers, converted in place into the
//       A-operand layout of the next product),
//   O += P V  (wgmma, P from registers, V transposed from shared memory),
// issuing S of the next key tile before P V of the current one, so that the sigmoid of one tile
// overlaps the tensor cores' work on the other. Sigmoid needs no running max or row sum, so O is
// written once at the end with no rescaling.
#pragma once

#include "../params.h"
#include "kernel_traits.h"
#include "sm90_primitives.h"

namespace flash_sigmoid::cuda::sm90 {

// Each group's P tile for kPInSmem: 64 rows x kBlockN keys, K-major in 64-key chunks with the
// 128-byte swizzle; nothing without it.
template <typename Traits, typename Element, bool = Traits::kPInSmem>
struct FwdWeightTiles {};
template <typename Traits, typename Element>
struct FwdWeightTiles<Traits, Element, true> {
    alignas(1024) Element p[Traits::kConsumerGroups][64 * Traits::kBlockN];
};

template <typename Traits, typename Element>
struct alignas(1024) FwdShared : FwdWeightTiles<Traits, Element> {
    Element q[Traits::kBlockM * Traits::kHeadDim];
    Element k[Traits::kStages][Traits::kBlockN * Traits::kHeadDim];
    Element v[Traits::kStages][Traits::kBlockN * Traits::kHeadDim];
    uint64_t q_full;
    uint64_t k_full[Traits::kStages], k_empty[Traits::kStages];
    uint64_t v_full[Traits::kStages], v_empty[Traits::kStages];
};

// The key tiles a query block reads: [0, n_blocks), processed from the last (the masked diagonal
// under causal) down to 0.
__device__ __forceinline__ int key_blocks(const FwdParams& p, int m0, int block_m, int block_n) {
    int n_blocks = (p.k_len + block_n - 1) / block_n;
    if (p.causal) {
        int last_key = min(p.k_len - 1, m0 + block_m - 1 + p.k_len - p.q_len);
        n_blocks = last_key < 0 ? 0 : last_key / block_n + 1;
    }
    return n_blocks;
}

template <typename Element, typename Traits>
__device__ __forceinline__ void issue_scores(float (&s)[Traits::kBlockN / 2], uint32_t q_addr,
                                             uint32_t k_addr) {
#pragma unroll
    for (int kk = 0; kk < Traits::kHeadDim / 16; ++kk) {
        uint64_t a =
            make_desc(q_addr + (kk / 4) * (Traits::kBlockM * 128) + (kk % 4) * 32, 16, 1024);
        uint64_t b =
            make_desc(k_addr + (kk / 4) * (Traits::kBlockN * 128) + (kk % 4) * 32, 16, 1024);
        mma_ss<Element, Traits::kBlockN>(s, a, b, kk > 0);
    }
}

template <typename Element, typename Traits>
__device__ __forceinline__ void issue_values(float (&o)[Traits::kHeadDim / 2],
                                             const uint32_t (&pa)[Traits::kBlockN / 16][4],
                                             uint32_t v_addr) {
#pragma unroll
    for (int kk = 0; kk < Traits::kBlockN / 16; ++kk) {
        uint64_t b = make_desc(v_addr + kk * 16 * 128, Traits::kBlockN * 128, 1024);
        mma_rs_transposed_b<Element, Traits::kHeadDim>(o, pa[kk], b, 1);
    }
}

// P V with P from a group's shared-memory tile (kPInSmem).
template <typename Element, typename Traits>
__device__ __forceinline__ void issue_values_from_tile(float (&o)[Traits::kHeadDim / 2],
                                                       uint32_t p_addr, uint32_t v_addr) {
#pragma unroll
    for (int kk = 0; kk < Traits::kBlockN / 16; ++kk) {
        uint64_t a = make_desc(p_addr + (kk / 4) * (64 * 128) + (kk % 4) * 32, 16, 1024);
        uint64_t b = make_desc(v_addr + kk * 16 * 128, Traits::kBlockN * 128, 1024);
        mma_ss_transposed_b<Element, Traits::kHeadDim>(o, a, b, 1);
    }
}

// S becomes P = sigmoid(scale S + bias) x kWeightScale in place (float32), with the causal mask.
template <typename Traits>
__device__ __forceinline__ void scores_to_weights(float (&s)[Traits::kBlockN / 2], float scale_in,
                                                  float bias_in, bool mask, int row0, int col0,
                                                  int diagonal) {
#pragma unroll
    for (int j = 0; j < Traits::kBlockN / 8; ++j) {
        // This thread's four elements of n-tile j: rows row0 + 8 (e / 2), columns col0 + 8 j +
        // (e % 2).
        float w[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) w[e] = fmaf(s[4 * j + e], scale_in, bias_in);
#if defined(FS_DEV_SIGMOID) && FS_DEV_SIGMOID == 0
            // Kernel development only: no sigmoid at all, the ceiling any sigmoid form can reach.
#pragma unroll
        for (int e = 0; e < 4; ++e) w[e] = fmaf(w[e], 1e-4f, 1.f);
#else
        // Weights x kWeightScale (generic/sigmoid.h).
        if constexpr (Traits::kSigmoidWidth == 4) {
            sigmoid4_of_scaled<Traits::kRcpOnFma, Traits::kFmaExps>(w[0], w[1], w[2], w[3]);
        } else {
            static_assert(Traits::kFmaExps == 0, "the paired sigmoid has its exponentials on MUFU");
            sigmoid2_of_scaled<Traits::kRcpOnFma>(w[0], w[1], kWeightUnit);
            sigmoid2_of_scaled<Traits::kRcpOnFma>(w[2], w[3], kWeightUnit);
        }
#endif
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            if (mask && col0 + 8 * j + (e % 2) > row0 + 8 * (e / 2) + diagonal) w[e] = 0.f;
            s[4 * j + e] = w[e];
        }
    }
}

// P into the register layout of wgmma's A operand: key columns 16 kk .. 16 kk + 15 of this
// thread's two rows become pa[kk][0..3]. Done only once the previous product that read `pa` has
// completed, so that no register an in-flight wgmma reads is redefined.
template <typename Element, typename Traits>
__device__ __forceinline__ void weights_to_operand(const float (&s)[Traits::kBlockN / 2],
                                                   uint32_t (&pa)[Traits::kBlockN / 16][4]) {
#pragma unroll
    for (int j = 0; j < Traits::kBlockN / 8; ++j) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            pa[j / 2][(j % 2) * 2 + half] =
                pack2<Element>(s[4 * j + 2 * half], s[4 * j + 2 * half + 1]);
        }
    }
}

// A group's accumulator block (64 rows: this thread's `row` and row + 8, columns 8 j +
// col_in_tile and + 1) times `mul`, packed to 16 bits, into a shared-memory tile in the 128-byte
// swizzle of wgmma and TMA: column c of row r at chunk c / 64 (`chunk_bytes` apart), r * 128 +
// 16 ((c % 64) / 8 ^ r % 8) + 2 (c % 8). P for kPInSmem, O for kTmaStore.
template <typename Element, int kColumns>
__device__ __forceinline__ void accumulators_to_tile(const float (&x)[kColumns / 2], float mul,
                                                     uint8_t* tile, int chunk_bytes, int row,
                                                     int col_in_tile) {
    uint8_t* base = tile + row * 128 + col_in_tile * 2;  // rows row and row + 8: same swizzle
    const int swizzle = row % 8;
#pragma unroll
    for (int j = 0; j < kColumns / 8; ++j) {
        uint8_t* chunk = base + (j / 8) * chunk_bytes + (((j % 8) ^ swizzle) << 4);
        *reinterpret_cast<uint32_t*>(chunk) = pack2<Element>(x[4 * j] * mul, x[4 * j + 1] * mul);
        *reinterpret_cast<uint32_t*>(chunk + 8 * 128) =
            pack2<Element>(x[4 * j + 2] * mul, x[4 * j + 3] * mul);
    }
}

template <typename Element, int kHeadDim>
__global__ void __launch_bounds__(FwdTraits<Element, kHeadDim>::kThreads, 1)
    forward_kernel(const __grid_constant__ CUtensorMap q_map,
                   const __grid_constant__ CUtensorMap k_map,
                   const __grid_constant__ CUtensorMap v_map,
                   const __grid_constant__ CUtensorMap o_map, const FwdParams p) {
    using Traits = FwdTraits<Element, kHeadDim>;
    using Shared = FwdShared<Traits, Element>;
    constexpr int kBlockM = Traits::kBlockM, kBlockN = Traits::kBlockN, kStages = Traits::kStages;

    extern __shared__ uint8_t raw_shared[];
    Shared& sh = *reinterpret_cast<Shared*>((reinterpret_cast<uintptr_t>(raw_shared) + 1023) &
                                            ~uintptr_t(1023));

    const int m_block = p.causal ? gridDim.x - 1 - blockIdx.x : blockIdx.x;  // heavy blocks first
    const int h = blockIdx.y, b = blockIdx.z, g = h / p.group;
    const int m0 = m_block * kBlockM;
    const int n_blocks = key_blocks(p, m0, kBlockM, kBlockN);
    const int warp_group = threadIdx.x / 128;

    if (threadIdx.x == 0) {
        mbar_init(&sh.q_full, 1);
        for (int i = 0; i < kStages; ++i) {
            mbar_init(&sh.k_full[i], 1);
            mbar_init(&sh.v_full[i], 1);
            mbar_init(&sh.k_empty[i], Traits::kWarpRelease ? Traits::kConsumerThreads / 32
                                                           : Traits::kConsumerThreads);
            mbar_init(&sh.v_empty[i], Traits::kWarpRelease ? Traits::kConsumerThreads / 32
                                                           : Traits::kConsumerThreads);
        }
        fence_barrier_init();
    }
    __syncthreads();

    if (warp_group == 0) {
        shrink_registers<Traits::kProducerRegisters>();
        if (threadIdx.x != 0 || n_blocks == 0) return;
        prefetch_tensor_map(&q_map);
        prefetch_tensor_map(&k_map);
        prefetch_tensor_map(&v_map);
        mbar_arrive_expect_tx(&sh.q_full, Traits::kQBytes);
#pragma unroll
        for (int c = 0; c < Traits::kChunks; ++c) {
            tma_load_4d(sh.q + c * kBlockM * 64, &q_map, &sh.q_full, c * 64, m0, h, b);
        }
        for (int i = 0; i < n_blocks; ++i) {
            const int n = n_blocks - 1 - i, stage = i % kStages;
            const uint32_t phase = (i / kStages) & 1;
            mbar_wait(&sh.k_empty[stage], phase ^ 1);
            mbar_arrive_expect_tx(&sh.k_full[stage], Traits::kKVBytes);
#pragma unroll
            for (int c = 0; c < Traits::kChunks; ++c) {
                tma_load_4d(sh.k[stage] + c * kBlockN * 64, &k_map, &sh.k_full[stage], c * 64,
                            n * kBlockN, g, b);
            }
            mbar_wait(&sh.v_empty[stage], phase ^ 1);
            mbar_arrive_expect_tx(&sh.v_full[stage], Traits::kKVBytes);
#pragma unroll
            for (int c = 0; c < Traits::kChunks; ++c) {
                tma_load_4d(sh.v[stage] + c * kBlockN * 64, &v_map, &sh.v_full[stage], c * 64,
                            n * kBlockN, g, b);
            }
        }
        return;
    }

    grow_registers<Traits::kConsumerRegisters>();
    const int wg = warp_group - 1;
    const int lane = threadIdx.x % 32, warp = (threadIdx.x % 128) / 32;
    const int row0 = m0 + wg * 64 + warp * 16 + lane / 4;  // this thread's rows: row0, row0 + 8
    const int col_in_tile = 2 * (lane % 4);
    const int diagonal = p.k_len - p.q_len;
    const float scale_in = kSigmoidInputScale * p.scale;
    const float bias_in = kSigmoidInputScale * (p.bias + (p.head_bias ? p.head_bias[h] : 0.f));

    float o[kHeadDim / 2];
#pragma unroll
    for (int i = 0; i < kHeadDim / 2; ++i) o[i] = 0.f;

    auto release = [&](uint64_t* bar) {
        if constexpr (Traits::kWarpRelease) {
            if (lane == 0) mbar_arrive(bar);
        } else {
            mbar_arrive(bar);
        }
    };
    // Named barrier 1 + w: "consumer group w's turn" to issue products; turns go round robin.
    constexpr int kGroups = Traits::kConsumerGroups;
    auto wait_turn = [&] {
        if constexpr (Traits::kPingPong) named_barrier_sync(1 + wg, 256);
    };
    auto pass_turn = [&] {
        if constexpr (Traits::kPingPong) named_barrier_arrive(1 + (wg + 1) % kGroups, 256);
    };
    if (n_blocks > 0) {
        if (wg == kGroups - 1) pass_turn();  // group 0 goes first
        float s[kBlockN / 2];
        uint32_t pa[kBlockN / 16][4];
        // P for the next P V: into pa, or (kPInSmem) into this group's tile, visible to the
        // group's wgmma once every thread's stores are fenced and the group met.
        auto publish_weights = [&] {
            if constexpr (Traits::kPInSmem) {
                accumulators_to_tile<Element, kBlockN>(s, 1.f, reinterpret_cast<uint8_t*>(sh.p[wg]),
                                                       64 * 128, warp * 16 + lane / 4, col_in_tile);
                fence_async_shared();
                named_barrier_sync(4 + wg, 128);
            } else {
                weights_to_operand<Element, Traits>(s, pa);
            }
        };
        auto fence_weights = [&] {
            if constexpr (!Traits::kPInSmem) fence_registers(pa);
        };
        auto issue_pv = [&](uint32_t v_addr) {
            if constexpr (Traits::kPInSmem) {
                issue_values_from_tile<Element, Traits>(o, smem_addr(sh.p[wg]), v_addr);
            } else {
                issue_values<Element, Traits>(o, pa, v_addr);
            }
        };
        const uint32_t q_addr = smem_addr(sh.q) + wg * 64 * 128;
        // Columns past this warp group's first row's diagonal need the mask.
        const int first_masked = m0 + wg * 64 + diagonal + 1;
        mbar_wait(&sh.q_full, 0);

        int n = n_blocks - 1;
        mbar_wait(&sh.k_full[0], 0);
        wait_turn();
        wgmma_fence();
        issue_scores<Element, Traits>(s, q_addr, smem_addr(sh.k[0]));
        wgmma_commit();
        pass_turn();
        wgmma_wait<0>();
        fence_registers(s);
        release(&sh.k_empty[0]);
        scores_to_weights<Traits>(s, scale_in, bias_in,
                                  p.causal && (n + 1) * kBlockN > first_masked, row0,
                                  n * kBlockN + col_in_tile, diagonal);
        publish_weights();
        for (int i = 1; i < n_blocks; ++i) {
            n = n_blocks - 1 - i;
            const int stage = i % kStages, prev = (i - 1) % kStages;
            mbar_wait(&sh.k_full[stage], (i / kStages) & 1);
            fence_weights();  // the weights must be final before the async product reads them
            fence_registers(o);
            mbar_wait(&sh.v_full[prev], ((i - 1) / kStages) & 1);
            wait_turn();
            wgmma_fence();
            issue_scores<Element, Traits>(s, q_addr, smem_addr(sh.k[stage]));
            wgmma_commit();
            issue_pv(smem_addr(sh.v[prev]));
            wgmma_commit();
            pass_turn();
            wgmma_wait<1>();
            fence_registers(s);
            release(&sh.k_empty[stage]);
            scores_to_weights<Traits>(s, scale_in, bias_in,
                                      p.causal && (n + 1) * kBlockN > first_masked, row0,
                                      n * kBlockN + col_in_tile, diagonal);
            wgmma_wait<0>();
            fence_registers(o);
            fence_weights();
            release(&sh.v_empty[prev]);
            publish_weights();
        }
        const int last = (n_blocks - 1) % kStages;
        mbar_wait(&sh.v_full[last], ((n_blocks - 1) / kStages) & 1);
        fence_weights();
        fence_registers(o);
        wait_turn();
        wgmma_fence();
        issue_pv(smem_addr(sh.v[last]));
        wgmma_commit();
        pass_turn();
        // The last group passed one turn more than group 0 takes (its first); taking it
        // completes every barrier phase before the CTA exits.
        if (wg == 0) wait_turn();
        wgmma_wait<0>();
        fence_registers(o);
        release(&sh.v_empty[last]);
    }

    if constexpr (Traits::kTmaStore) {
        // O into this group's rows of the Q tile, whose layout the O map shares.
        uint8_t* tile = reinterpret_cast<uint8_t*>(sh.q) + wg * 64 * 128;
        accumulators_to_tile<Element, kHeadDim>(o, kWeightUnit, tile, kBlockM * 128,
                                                warp * 16 + lane / 4, col_in_tile);
        fence_async_shared();
        named_barrier_sync(4 + wg, 128);
        if (threadIdx.x % 128 == 0) {
#pragma unroll
            for (int c = 0; c < Traits::kChunks; ++c) {
                tma_store_4d(&o_map, tile + c * kBlockM * 128, c * 64, m0 + wg * 64, h, b);
            }
            bulk_commit();
            bulk_wait_read<0>();  // the tile must stay until read: the CTA's memory goes next
        }
        return;
    }

    // Epilogue: each thread holds pairs of adjacent columns of two rows.
    Element* out = static_cast<Element*>(p.o) + b * p.o_batch_stride + h * p.o_head_stride;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
        const int row = row0 + 8 * half;
        if (row >= p.q_len) continue;
        Element* dst = out + static_cast<int64_t>(row) * p.o_row_stride + col_in_tile;
#pragma unroll
        for (int j = 0; j < kHeadDim / 8; ++j) {
            *reinterpret_cast<uint32_t*>(dst + 8 * j) = pack2<Element>(
                o[4 * j + 2 * half] * kWeightUnit, o[4 * j + 2 * half + 1] * kWeightUnit);
        }
    }
}

}  // namespace flash_sigmoid::cuda::sm90
