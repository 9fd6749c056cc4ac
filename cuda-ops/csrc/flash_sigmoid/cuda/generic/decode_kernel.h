// Split-KV decoding (flash-decoding style): the few query rows of one (batch, kv head), Tq times
// the group size, at most 16, against a long key range. The key range is split across CTAs and
// each CTA's warps take 16-key steps in turn. Sigmoid attention is a plain sum over keys, so the
// splits' partial outputs are simply added (decode_combine_kernel, in a fixed order); there is no
// row max or log-sum-exp to carry.
//
// The work is reading K and V once, so the kernel is built to keep many bytes in flight. On sm_90
// each warp streams its steps through a private ring of kDecodeStages shared-memory stages filled
// by bulk copies (one 1-D copy of a whole K or V row per lane, completion on an mbarrier), so
// two steps are on their way while one is computed, without holding registers. Before sm_90, K
// and V go straight from global memory into registers, the next step's loads issued before this
// step's products. (A ring of 16-byte cp.async copies streamed 28% slower, with a third of its
// L2 requests hitting, as if each sector were asked for twice: KERNEL_NOTES.) Both products run
// on mma.sync with the query rows padded to the tile:
//   S   = Q K^T   (m16n8k16: rows x 8 keys, two n-tiles a step)
//   O^T = V^T P^T (m16n8k16: 16 head-dim rows x rows, 16 keys a k-step)
// The head dimension is permuted freely inside each product (a dot product does not care about
// order), which lets every lane load 16 contiguous bytes: for S, lane (g, t) holds key g's
// elements 32 m + 8 t .. + 7; for O^T, lane g holds V's elements 64 c + 8 g .. + 7 of keys
// 2t, 2t + 1, 8 + 2t, 9 + 2t, paired by key with byte permutes.
#pragma once

#include <algorithm>
#include <atomic>
#include <climits>
#include <stdexcept>
#include <string>

#include "../launch.h"
#include "../mbarrier.h"
#include "../params.h"
#include "utils.h"

namespace flash_sigmoid::cuda::generic {

constexpr int kDecodeWarps = 4;
constexpr int kDecodeStepKeys = 16;

// Resident CTAs per multiprocessor the launch bounds ask for (registers before sm_90, the ring's
// shared memory on sm_90); the launcher asks the occupancy API for the real count.
constexpr int decode_ctas_per_sm(int head_dim) {
    return head_dim >= 128 ? 2 : 3;
}
constexpr int kDecodeStages = 3;

// The sm_90 ring: per warp, kDecodeStages stages of 16 K rows then 16 V rows. Row strides are
// padded (K by 64 bytes, V by 16) so that the fragment reads below hit eight distinct 16-byte
// bank groups in every quarter warp. The mbarriers follow the stages.
template <int D>
struct DecodeRing {
    static constexpr int kKStride = 2 * D + 64;
    static constexpr int kVStride = 2 * D + 16;
    static constexpr int kStageBytes = 16 * kKStride + 16 * kVStride;
    static constexpr int kWarpBytes = kDecodeStages * kStageBytes;
    static constexpr int kBytes = kDecodeWarps * (kWarpBytes + kDecodeStages * 8);
};

__device__ __forceinline__ void load_stream(uint32_t (&r)[4], const void* p) {
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];\n"
        : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
        : "l"(p));
}

// One warp's K and V registers for one 16-key step.
template <int D>
struct DecodeStep {
    uint32_t k[2][D / 32][4];  // keys g and 8 + g: elements 32 m + 8 t .. + 7
    uint32_t v[4][D / 64][4];  // keys 2t, 2t + 1, 8 + 2t, 9 + 2t: elements 64 c + 8 g .. + 7
};

// Keys at or past `end` load as zeros: their V rows then add nothing whatever their weight.
template <typename T, int D>
__device__ __forceinline__ void load_step(DecodeStep<D>& st, const T* k, const T* v,
                                          int64_t k_stride, int64_t v_stride, int key0, int end,
                                          int g, int t) {
#pragma unroll
    for (int n = 0; n < 2; ++n) {
        const int j = key0 + 8 * n + g;
        const T* row = k + static_cast<int64_t>(j) * k_stride + 8 * t;
#pragma unroll
        for (int m = 0; m < D / 32; ++m) {
            if (j < end) {
                load_stream(st.k[n][m], row + 32 * m);
            } else {
#pragma unroll
                for (int w = 0; w < 4; ++w) st.k[n][m][w] = 0u;
            }
        }
    }
#pragma unroll
    for (int q = 0; q < 4; ++q) {
        const int j = key0 + (q >> 1) * 8 + 2 * t + (q & 1);
        const T* row = v + static_cast<int64_t>(j) * v_stride + 8 * g;
#pragma unroll
        for (int c = 0; c < D / 64; ++c) {
            if (j < end) {
                load_stream(st.v[q][c], row + 64 * c);
            } else {
#pragma unroll
                for (int w = 0; w < 4; ++w) st.v[q][c][w] = 0u;
            }
        }
    }
}

// The fragments of one step from a ring stage (the layout of load_step, read from shared memory).
template <int D>
__device__ __forceinline__ void read_stage(DecodeStep<D>& st, const unsigned char* stage, int g,
                                           int t) {
    using Ring = DecodeRing<D>;
#pragma unroll
    for (int n = 0; n < 2; ++n)
#pragma unroll
        for (int m = 0; m < D / 32; ++m) {
            const uint4 x = *reinterpret_cast<const uint4*>(stage + (8 * n + g) * Ring::kKStride +
                                                            64 * m + 16 * t);
            st.k[n][m][0] = x.x, st.k[n][m][1] = x.y, st.k[n][m][2] = x.z, st.k[n][m][3] = x.w;
        }
#pragma unroll
    for (int q = 0; q < 4; ++q) {
        const int key = (q >> 1) * 8 + 2 * t + (q & 1);
#pragma unroll
        for (int c = 0; c < D / 64; ++c) {
            const uint4 x = *reinterpret_cast<const uint4*>(
                stage + 16 * Ring::kKStride + key * Ring::kVStride + 128 * c + 16 * g);
            st.v[q][c][0] = x.x, st.v[q][c][1] = x.y, st.v[q][c][2] = x.z, st.v[q][c][3] = x.w;
        }
    }
}

// Per-lane constants of its two fragment rows (g and 8 + g).
struct DecodeRows {
    float bias[2];   // scale and bias as the sigmoid takes them (kSigmoidInputScale folded in)
    float slope[2];  // ALiBi slope, scaled alike, or 0
    int pos[2];      // the query's key position (for ALiBi distances)
    int limit[2];    // last visible key (causal), INT_MAX, or -1 for padding rows
};

// O^T += V^T P^T for one step; S = Q K^T first, its weights become P^T's B fragments directly
// (the accumulator of S's n-tile equals the B layout of one 8-key half of a k-step).
template <typename T, int D, int kRowTiles>
__device__ __forceinline__ void compute_step(const DecodeStep<D>& st,
                                             const uint32_t (&qa)[D / 16][4],
                                             float (&o)[D / 16][kRowTiles][4],
                                             const DecodeRows& rows, float scale_in, int key0,
                                             int t) {
    float s[2][4];
#pragma unroll
    for (int n = 0; n < 2; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) s[n][e] = 0.f;
#pragma unroll
        for (int kt = 0; kt < D / 16; ++kt) {
            const uint32_t(&kw)[4] = st.k[n][kt / 2];
            mma_16816<T>(s[n], qa[kt], kw[2 * (kt % 2)], kw[2 * (kt % 2) + 1]);
        }
    }
    uint32_t pb[kRowTiles][2];
#pragma unroll
    for (int rt = 0; rt < kRowTiles; ++rt) {
#pragma unroll
        for (int n = 0; n < 2; ++n) {
            float w[2];
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                const int j = key0 + 8 * n + 2 * t + e;
                w[e] = fmaf(s[n][2 * rt + e], scale_in, rows.bias[rt]);
                w[e] -= rows.slope[rt] * fabsf(static_cast<float>(rows.pos[rt] - j));
            }
            sigmoid2_of_scaled(w[0], w[1], kWeightUnit);  // weights x kWeightScale (utils.h)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                if (key0 + 8 * n + 2 * t + e > rows.limit[rt]) w[e] = 0.f;
            }
            pb[rt][n] = pack2<T>(w[0], w[1]);
        }
    }
#pragma unroll
    for (int i = 0; i < D / 16; ++i) {
        uint32_t a[4];
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const int u = i + (D / 16) * half, c = u / 8, j = u % 8;
            const uint32_t sel = (j & 1) ? 0x7632u : 0x5410u;  // high or low 16 bits of each word
            a[half] = __byte_perm(st.v[0][c][j / 2], st.v[1][c][j / 2], sel);
            a[2 + half] = __byte_perm(st.v[2][c][j / 2], st.v[3][c][j / 2], sel);
        }
#pragma unroll
        for (int rt = 0; rt < kRowTiles; ++rt) mma_16816<T>(o[i][rt], a, pb[rt][0], pb[rt][1]);
    }
}

// grid (splits, kv heads, batch), kDecodeWarps warps. Writes the CTA's partial sum of the
// weighted values, rows x D floats, to partial[((b * G + g) * splits + split)], or the output
// itself when there is one split.
template <typename T, int D, int kRowTiles>
__global__ void __launch_bounds__(kDecodeWarps * 32, decode_ctas_per_sm(D))
    decode_kernel(const __grid_constant__ FwdParams p, float* partial, int keys_per_split) {
#if __CUDA_ARCH__ >= 900
    // Lets the combine kernel (launched with programmatic stream serialisation) be scheduled now;
    // it waits for this grid's completion and memory before it reads the partial sums.
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
    const int split = blockIdx.x, g_kv = blockIdx.y, b = blockIdx.z;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
    const int rows = p.q_len * p.group;  // row r: query r / group of head g_kv * group + r % group
    const int diagonal = p.k_len - p.q_len;
    const int k_len = p.key_lengths ? min(max(p.key_lengths[b], 0), p.k_len) : p.k_len;
    const int begin = split * keys_per_split;
    int end = min(begin + keys_per_split, k_len);
    if (p.causal) end = min(end, p.q_len - 1 + diagonal + 1);  // the last query's last key + 1

    DecodeRows info;
    uint32_t qa[D / 16][4];
#pragma unroll
    for (int rt = 0; rt < 2; ++rt) {
        const int r = g + 8 * rt;
        uint32_t qw[D / 32][4];
        if (r < rows && rt < kRowTiles) {
            const int tq = r / p.group, h = g_kv * p.group + r % p.group;
            const T* q = static_cast<const T*>(p.q) + b * p.q_batch_stride + tq * p.q_row_stride +
                         h * p.q_head_stride + 8 * t;
#pragma unroll
            for (int m = 0; m < D / 32; ++m) load_stream(qw[m], q + 32 * m);
            if (rt < kRowTiles) {
                info.bias[rt] =
                    kSigmoidInputScale * (p.bias + (p.head_bias ? p.head_bias[h] : 0.f));
                info.slope[rt] = p.alibi_slopes ? kSigmoidInputScale * p.alibi_slopes[h] : 0.f;
                info.pos[rt] = tq + diagonal;
                info.limit[rt] = p.causal ? tq + diagonal : INT_MAX;
            }
        } else {
#pragma unroll
            for (int m = 0; m < D / 32; ++m)
#pragma unroll
                for (int w = 0; w < 4; ++w) qw[m][w] = 0u;
            if (rt < kRowTiles) {
                info.bias[rt] = info.slope[rt] = 0.f;
                info.pos[rt] = 0;
                info.limit[rt] = -1;
            }
        }
        // A fragment of k-tile kt = 2 m + hh: a0/a2 (row g) and a1/a3 (row 8 + g).
#pragma unroll
        for (int kt = 0; kt < D / 16; ++kt) {
            qa[kt][rt] = qw[kt / 2][2 * (kt % 2)];
            qa[kt][2 + rt] = qw[kt / 2][2 * (kt % 2) + 1];
        }
    }

    float o[D / 16][kRowTiles][4];
#pragma unroll
    for (int i = 0; i < D / 16; ++i)
#pragma unroll
        for (int rt = 0; rt < kRowTiles; ++rt)
#pragma unroll
            for (int e = 0; e < 4; ++e) o[i][rt][e] = 0.f;

    const T* k = static_cast<const T*>(p.k) + b * p.k_batch_stride + g_kv * p.k_head_stride;
    const T* v = static_cast<const T*>(p.v) + b * p.v_batch_stride + g_kv * p.v_head_stride;
    const float scale_in = kSigmoidInputScale * p.scale;
    constexpr int kStride = kDecodeWarps * kDecodeStepKeys;
    extern __shared__ __align__(128) unsigned char decode_smem[];
    const int first = begin + warp * kDecodeStepKeys;
#if __CUDA_ARCH__ >= 900
    {
        // Steps first, first + kStride, ... through the ring: step i in stage i % kDecodeStages.
        using Ring = DecodeRing<D>;
        unsigned char* ring = decode_smem + warp * Ring::kWarpBytes;
        uint64_t* bars =
            reinterpret_cast<uint64_t*>(decode_smem + kDecodeWarps * Ring::kWarpBytes) +
            warp * kDecodeStages;
        if (lane == 0) {
            for (int s = 0; s < kDecodeStages; ++s) mbar_init(&bars[s], 1);
            fence_barrier_init();
        }
        __syncwarp();
        // Lane l < 16 copies K row key0 + l, lane l >= 16 V row key0 + l - 16; rows past `end` are
        // zeroed instead (their weights meet zero values, and no stale NaN can leak through 0 * x).
        auto issue = [&](int stage, int key0) {
            unsigned char* base = ring + stage * Ring::kStageBytes;
            const int l = lane & 15, j = key0 + l;
            unsigned char* dst = lane < 16 ? base + l * Ring::kKStride
                                           : base + 16 * Ring::kKStride + l * Ring::kVStride;
            __syncwarp();                // every lane is done reading this stage's last step
            fence_proxy_async_shared();  // ... and those reads and zero stores come before the
                                         // copies
            if (lane == 0) {
                const int rows = min(kDecodeStepKeys, end - key0);
                mbar_arrive_expect_tx(&bars[stage],
                                      static_cast<uint32_t>(rows * 2 * D * sizeof(T)));
            }
            if (j < end) {
                const T* src = lane < 16 ? k + static_cast<int64_t>(j) * p.k_row_stride
                                         : v + static_cast<int64_t>(j) * p.v_row_stride;
                bulk_copy_g2s(dst, src, D * sizeof(T), &bars[stage]);
            } else {
#pragma unroll
                for (int off = 0; off < D * static_cast<int>(sizeof(T)); off += 16) {
                    *reinterpret_cast<uint4*>(dst + off) = make_uint4(0u, 0u, 0u, 0u);
                }
            }
        };
#pragma unroll
        for (int s = 0; s < kDecodeStages - 1; ++s) {
            if (first + s * kStride < end) issue(s, first + s * kStride);
        }
        int stage = 0;
        uint32_t parity = 0;
        for (int key0 = first; key0 < end; key0 += kStride) {
            const int ahead = key0 + (kDecodeStages - 1) * kStride;
            if (ahead < end) issue(stage == 0 ? kDecodeStages - 1 : stage - 1, ahead);
            mbar_wait(&bars[stage], parity);
            __syncwarp();  // zeroed rows of other lanes are visible
            DecodeStep<D> st;
            read_stage<D>(st, ring + stage * Ring::kStageBytes, g, t);
            compute_step<T, D, kRowTiles>(st, qa, o, info, scale_in, key0, t);
            if (++stage == kDecodeStages) stage = 0, parity ^= 1u;
        }
    }
#else
    {
        // Two register buffers in turn: the next step's loads are issued before this step's
        // products.
        DecodeStep<D> st0, st1;
        int key0 = first;
        if (key0 < end) load_step<T, D>(st0, k, v, p.k_row_stride, p.v_row_stride, key0, end, g, t);
        while (key0 < end) {
            if (key0 + kStride < end) {
                load_step<T, D>(st1, k, v, p.k_row_stride, p.v_row_stride, key0 + kStride, end, g,
                                t);
            }
            compute_step<T, D, kRowTiles>(st0, qa, o, info, scale_in, key0, t);
            key0 += kStride;
            if (key0 >= end) break;
            if (key0 + kStride < end) {
                load_step<T, D>(st0, k, v, p.k_row_stride, p.v_row_stride, key0 + kStride, end, g,
                                t);
            }
            compute_step<T, D, kRowTiles>(st1, qa, o, info, scale_in, key0, t);
            key0 += kStride;
        }
    }
#endif
    __syncthreads();  // shared memory becomes the warps' sums

    // The warps' sums, added in a fixed order (deterministic results).
    auto& sums = *reinterpret_cast<float(*)[kDecodeWarps][kRowTiles * 8][D]>(decode_smem);
#pragma unroll
    for (int i = 0; i < D / 16; ++i) {
#pragma unroll
        for (int rt = 0; rt < kRowTiles; ++rt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                // c0, c1: element i of slot half 0, rows 2t, 2t + 1; c2, c3: slot half 1.
                const int u = i + (D / 16) * (e / 2);
                const int d = 64 * (u / 8) + 8 * g + u % 8;
                sums[warp][rt * 8 + 2 * t + (e & 1)][d] = o[i][rt][e];
            }
        }
    }
    __syncthreads();
    const bool direct = gridDim.x == 1;
    for (int idx = threadIdx.x; idx < rows * D; idx += blockDim.x) {
        const int r = idx / D, d = idx % D;
        float sum = 0.f;
#pragma unroll
        for (int w = 0; w < kDecodeWarps; ++w) sum += sums[w][r][d];
        if (direct) {
            const int tq = r / p.group, h = g_kv * p.group + r % p.group;
            static_cast<T*>(
                p.o)[b * p.o_batch_stride + tq * p.o_row_stride + h * p.o_head_stride + d] =
                static_cast<T>(sum * kWeightUnit);
        } else {
            const int64_t slot = (static_cast<int64_t>(b) * p.kv_heads + g_kv) * gridDim.x + split;
            partial[(slot * rows + r) * D + d] = sum;
        }
    }
}

// out = sum over splits of the partial sums, in the output's dtype. grid (rows, G, B);
// D / 4 x 8 threads: each group of D / 4 threads adds every 8th split, four columns a thread.
constexpr int kCombineGroups = 8;

template <typename T, int D>
__global__ void __launch_bounds__(D / 4 * kCombineGroups)
    decode_combine_kernel(const __grid_constant__ FwdParams p, const float* partial, int splits) {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
    const int r = blockIdx.x, g_kv = blockIdx.y, b = blockIdx.z;
    const int rows = p.q_len * p.group;
    const int col = 4 * (threadIdx.x % (D / 4)), grp = threadIdx.x / (D / 4);
    const int64_t slot0 = (static_cast<int64_t>(b) * p.kv_heads + g_kv) * splits;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int s = grp; s < splits; s += kCombineGroups) {
        const float4 x =
            *reinterpret_cast<const float4*>(partial + ((slot0 + s) * rows + r) * D + col);
        acc.x += x.x, acc.y += x.y, acc.z += x.z, acc.w += x.w;
    }
    __shared__ float4 sums[kCombineGroups][D / 4];
    sums[grp][col / 4] = acc;
    __syncthreads();
    if (grp == 0) {
        for (int w = 1; w < kCombineGroups; ++w) {
            const float4 x = sums[w][col / 4];
            acc.x += x.x, acc.y += x.y, acc.z += x.z, acc.w += x.w;
        }
        const int tq = r / p.group, h = g_kv * p.group + r % p.group;
        T* out = static_cast<T*>(p.o) + b * p.o_batch_stride + tq * p.o_row_stride +
                 h * p.o_head_stride + col;
        out[0] = static_cast<T>(acc.x * kWeightUnit);
        out[1] = static_cast<T>(acc.y * kWeightUnit);
        out[2] = static_cast<T>(acc.z * kWeightUnit);
        out[3] = static_cast<T>(acc.w * kWeightUnit);
    }
}

}  // namespace flash_sigmoid::cuda::generic

namespace flash_sigmoid::cuda {

template <typename Element, int kHeadDim>
void run_decode(const FwdParams& p, cudaStream_t stream) {
    using namespace generic;
    static_assert(kHeadDim == 64 || kHeadDim == 128, "decode kernel: head dims 64 and 128");
    auto check = [](cudaError_t e, const char* what) {
        if (e != cudaSuccess) {
            throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
        }
    };
    const int rows = p.q_len * p.group;
    auto kernel =
        rows <= 8 ? decode_kernel<Element, kHeadDim, 1> : decode_kernel<Element, kHeadDim, 2>;
    // Per device: whether the kernel runs its sm_90 path (the ring, in dynamic shared memory) and
    // how many CTAs fit on a multiprocessor; the attribute calls are made once.
    struct Fit {
        std::atomic<int> smem{0}, per_sm{0};
    };
    static Fit fits[2][64];
    int device = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    Fit& fit = fits[rows <= 8 ? 0 : 1][device & 63];
    int smem = fit.smem.load(std::memory_order_acquire),
        per_sm = fit.per_sm.load(std::memory_order_acquire);
    if (per_sm == 0) {
        cudaFuncAttributes attributes{};
        check(cudaFuncGetAttributes(&attributes, kernel), "decode_kernel attributes");
        const int sums =
            kDecodeWarps * (rows <= 8 ? 8 : 16) * kHeadDim * static_cast<int>(sizeof(float));
        smem = attributes.ptxVersion >= 90 ? std::max(DecodeRing<kHeadDim>::kBytes, sums) : sums;
        check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
              "decode_kernel shared memory");
        check(
            cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kDecodeWarps * 32, smem),
            "decode_kernel occupancy");
        fit.smem.store(smem, std::memory_order_release);
        fit.per_sm.store(per_sm, std::memory_order_release);
    }
    // Splits: as many CTAs as fit at once (one wave), each at least one step per warp.
    const int64_t pairs = static_cast<int64_t>(p.kv_heads) * p.batch;
    const int64_t slots = int64_t{std::max(1, per_sm)} * std::max(1, p.num_sms);
    constexpr int kMinKeys = kDecodeWarps * kDecodeStepKeys;
    int64_t splits = std::max<int64_t>(1, slots / pairs);
    splits = std::max<int64_t>(1, std::min<int64_t>(splits, (p.k_len + kMinKeys - 1) / kMinKeys));
    int keys_per_split = static_cast<int>((p.k_len + splits - 1) / splits);
    keys_per_split = (keys_per_split + kDecodeStepKeys - 1) / kDecodeStepKeys * kDecodeStepKeys;
    splits = (p.k_len + keys_per_split - 1) / keys_per_split;

    float* partial = nullptr;
    if (splits > 1) {
        const size_t bytes = static_cast<size_t>(pairs * splits) * rows * kHeadDim * sizeof(float);
        check(cudaMallocAsync(reinterpret_cast<void**>(&partial), bytes, stream),
              "allocating the decode partial sums");
    }
    const dim3 grid(static_cast<unsigned>(splits), p.kv_heads, p.batch);
    kernel<<<grid, kDecodeWarps * 32, smem, stream>>>(p, partial, keys_per_split);
    check(cudaPeekAtLastError(), "launch of decode_kernel");
    if (splits > 1) {
        cudaLaunchConfig_t config = {};
        config.gridDim = dim3(rows, p.kv_heads, p.batch);
        config.blockDim = dim3(kHeadDim / 4 * kCombineGroups);
        config.stream = stream;
        cudaLaunchAttribute overlap[1];
        overlap[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        overlap[0].val.programmaticStreamSerializationAllowed = 1;
        // Programmatic dependent launch (sm_90+): the combine grid is scheduled while the decode
        // grid runs and waits for it in griddepcontrol.wait, so no launch gap between them.
        config.attrs = overlap;
        config.numAttrs = p.cc_major >= 9 ? 1 : 0;
        check(cudaLaunchKernelEx(&config, decode_combine_kernel<Element, kHeadDim>, p,
                                 static_cast<const float*>(partial), static_cast<int>(splits)),
              "launch of decode_combine_kernel");
        check(cudaFreeAsync(partial, stream), "freeing the decode partial sums");
    }
}

}  // namespace flash_sigmoid::cuda
