// Tile shapes of the mma.sync kernels per head dim. Shared-memory rows are padded by 8 elements
// (16 bytes) so that ldmatrix rows and accumulator stores hit distinct banks.
#pragma once

#include "utils.h"

namespace flash_sigmoid::cuda::generic {

// Forward: a CTA owns kBlockM query rows of one head; each warp owns kMTiles x 16 of them, so a
// K or V fragment read from smem feeds kMTiles mma (two halves the smem traffic per flop).
// kQInRegs keeps the warp's Q fragments in registers across key blocks when they fit.
template <int kHeadDim_, int kBlockM_, int kBlockN_, int kNWarps_, int kMTiles_, bool kQInRegs_>
struct FwdTraits {
    static constexpr int kHeadDim = kHeadDim_, kBlockM = kBlockM_, kBlockN = kBlockN_;
    static constexpr int kNWarps = kNWarps_, kNThreads = kNWarps * 32, kMTiles = kMTiles_;
    static constexpr bool kQInRegs = kQInRegs_;
    static constexpr int kStride = kHeadDim + 8;
    static constexpr int kSmemQ = kBlockM * kStride, kSmemKV = kBlockN * kStride;
    // Q, then K and V double-buffered.
    static constexpr int kSmemBytes = (kSmemQ + 4 * kSmemKV) * 2;
    static_assert(kBlockM == kNWarps * 16 * kMTiles, "warps must cover the query block");
    static_assert(kHeadDim % 16 == 0 && kBlockN % 16 == 0, "mma tiles are 16 wide");
};

// Per head dim: Bc shrinks as D grows so that O (MT * D / 2 floats per thread) and S
// (MT * Bc / 2) fit in 255 registers with no spills (ptxas -v, sm_80 and sm_90a).
template <int D>
struct FwdConfig;
template <>
struct FwdConfig<32> {
    using Traits = FwdTraits<32, 128, 64, 4, 2, true>;
};
template <>
struct FwdConfig<64> {
    using Traits = FwdTraits<64, 128, 64, 4, 2, false>;
};
template <>
struct FwdConfig<96> {
    using Traits = FwdTraits<96, 128, 32, 4, 2, false>;
};
template <>
struct FwdConfig<128> {
    using Traits = FwdTraits<128, 128, 32, 4, 2, false>;
};
template <>
struct FwdConfig<256> {
    using Traits = FwdTraits<256, 64, 32, 4, 1, false>;
};

// Backward: a CTA owns kBlockN keys of one kv head and loops over the query blocks of every head
// of its group. Each warp owns 16 keys (computing S^T and dP^T for them over the whole query
// block) and a kHeadDim / kDSplit slice of their dK and dV accumulators; with kDSplit = 2 two
// warps share keys (recomputing S^T) so that D = 256 fits in registers. For dQ = dS K the
// kBlockM x kHeadDim product is split into kDqWarpsM x kDqWarpsN warp tiles.
template <int kHeadDim_, int kBlockM_, int kBlockN_, int kNWarps_, int kDSplit_>
struct BwdTraits {
    static constexpr int kHeadDim = kHeadDim_, kBlockM = kBlockM_, kBlockN = kBlockN_;
    static constexpr int kNWarps = kNWarps_, kNThreads = kNWarps * 32, kDSplit = kDSplit_;
    static constexpr int kWarpsKey = kBlockN / 16;
    static constexpr int kDPart = kHeadDim / kDSplit;
    static constexpr int kDqWarpsM = kNWarps < kBlockM / 16 ? kNWarps : kBlockM / 16;
    static constexpr int kDqWarpsN = kNWarps / kDqWarpsM;
    static constexpr int kDqCols = kHeadDim / kDqWarpsN;
    static constexpr int kStride = kHeadDim + 8, kStrideS = kBlockM + 8;
    static constexpr int kSmemK = kBlockN * kStride, kSmemQ = kBlockM * kStride;
    static constexpr int kSmemS = kBlockN * kStrideS;
    // K, V, Q[2], dO[2], dS^T (16-bit elements), then kNWarps floats for the d_head_bias sum.
    static constexpr int kSmemBytes = (2 * kSmemK + 4 * kSmemQ + kSmemS) * 2 + kNWarps * 4;
    static_assert(kWarpsKey * kDSplit == kNWarps, "warps must cover keys x head-dim slices");
    static_assert(kDPart % 16 == 0 && kDqCols % 16 == 0 && kBlockM % 16 == 0, "16-wide tiles");
    static_assert(kDqWarpsM * kDqWarpsN == kNWarps && kDqWarpsM * 16 == kBlockM,
                  "dQ warp tiling: one 16-row tile per warp row");
};

// Per head dim: dK + dV take D / 2 ... D floats per thread, S^T and dP^T Bm / 2 each; Bm = 64
// is the largest that fits (D = 96 and 128 keep ~10 loop-invariant values in local memory on
// sm_90a, loaded outside the inner products); D = 256 splits dK/dV columns over warp pairs.
template <int D>
struct BwdConfig;
template <>
struct BwdConfig<32> {
    using Traits = BwdTraits<32, 64, 128, 8, 1>;
};
template <>
struct BwdConfig<64> {
    using Traits = BwdTraits<64, 64, 128, 8, 1>;
};
template <>
struct BwdConfig<96> {
    using Traits = BwdTraits<96, 64, 128, 8, 1>;
};
template <>
struct BwdConfig<128> {
    using Traits = BwdTraits<128, 64, 128, 8, 1>;
};
template <>
struct BwdConfig<256> {
    using Traits = BwdTraits<256, 16, 64, 8, 2>;
};

}  // namespace flash_sigmoid::cuda::generic
