// Tile shapes and choices of the Hopper kernels per head dim and dtype. Each choice that was
// measured against another (cuda-ops/KERNEL_NOTES.md) keeps a compile flag, FS_SM90_*, so that the
// development driver (benchmarks/native/run_sm90_dev.sh) can build the alternatives side by side;
// every build of the library uses the defaults.
#pragma once

namespace flash_sigmoid::cuda::sm90 {

template <typename Element, int kHeadDim_>
struct FwdTraits {
    static constexpr int kHeadDim = kHeadDim_;
    // Consumer warp groups of 64 query rows each: two at D = 128 (240 registers each), three
    // at D = 64, where the accumulators are half as large (160 registers each).
#ifndef FS_SM90_FWD_D64_GROUPS
#define FS_SM90_FWD_D64_GROUPS 3
#endif
#ifndef FS_SM90_FWD_D128_GROUPS
#define FS_SM90_FWD_D128_GROUPS 2
#endif
    static constexpr int kConsumerGroups =
        kHeadDim == 64 ? FS_SM90_FWD_D64_GROUPS : FS_SM90_FWD_D128_GROUPS;
    static constexpr int kBlockM = 64 * kConsumerGroups;
#ifndef FS_SM90_FWD_BLOCK_N
#define FS_SM90_FWD_BLOCK_N 128
#endif
#ifndef FS_SM90_FWD_PINGPONG
#define FS_SM90_FWD_PINGPONG 1
#endif
    static constexpr int kBlockN = kHeadDim == 128 ? FS_SM90_FWD_BLOCK_N : 128;
    // The two consumer warp groups take turns issuing their products (FlashAttention-3's
    // ping-pong), so that one group's sigmoid runs while the other's products occupy the tensor
    // cores.
    static constexpr bool kPingPong = FS_SM90_FWD_PINGPONG;
#ifndef FS_SM90_FWD_STAGES
#define FS_SM90_FWD_STAGES 2
#endif
#ifndef FS_SM90_FWD_WARP_RELEASE
#define FS_SM90_FWD_WARP_RELEASE 1
#endif
    static constexpr int kStages = FS_SM90_FWD_STAGES;
    // Releases of K/V stages: one arrival per consumer warp (after its lanes' wgmma waits) rather
    // than one per thread.
    static constexpr bool kWarpRelease = FS_SM90_FWD_WARP_RELEASE;
    // The sigmoid's form (generic/sigmoid.h): how many weights share one reciprocal (four at
    // D = 64, 2-3% faster there in three interleaved runs; two at D = 128, where four were not
    // faster), the reciprocal on the FMA pipe, and how many of every four exponentials go there
    // (both slower wherever measured: KERNEL_NOTES.md; kept for kernel development).
#ifdef FS_SM90_FWD_SIGMOID_WIDTH
    static constexpr int kSigmoidWidth = FS_SM90_FWD_SIGMOID_WIDTH;
#else
    static constexpr int kSigmoidWidth = kHeadDim == 64 ? 4 : 2;
#endif
#ifndef FS_SM90_FWD_RCP_ON_FMA
#define FS_SM90_FWD_RCP_ON_FMA 0
#endif
#ifndef FS_SM90_FWD_FMA_EXPS
#define FS_SM90_FWD_FMA_EXPS 0
#endif
    static constexpr bool kRcpOnFma = FS_SM90_FWD_RCP_ON_FMA;
    static constexpr int kFmaExps = FS_SM90_FWD_FMA_EXPS;
    // kTmaStore (development: FS_SM90_FWD_TMA_STORE): each group writes O into its rows of the Q
    // tile (free once its last S product completed) and one thread stores them by TMA, instead of
    // 4-byte stores from every thread.
#ifndef FS_SM90_FWD_TMA_STORE
#define FS_SM90_FWD_TMA_STORE 0
#endif
    static constexpr bool kTmaStore = FS_SM90_FWD_TMA_STORE;
    // kPInSmem (development: FS_SM90_FWD_P_IN_SMEM): P goes through a shared-memory tile of the
    // group for an SS product instead of registers (RS), to test whether P V from registers slows
    // down while the other group's sigmoid works the register file (KERNEL_NOTES).
#ifndef FS_SM90_FWD_P_IN_SMEM
#define FS_SM90_FWD_P_IN_SMEM 0
#endif
    static constexpr bool kPInSmem = FS_SM90_FWD_P_IN_SMEM;
    static_assert(!kPInSmem || kBlockN % 64 == 0, "the P tile is made of 64-key chunks");
    static constexpr int kChunks = kHeadDim / 64;  // 128-byte swizzle atoms across the head dim
    static constexpr int kThreads = 128 * (1 + kConsumerGroups);
    static constexpr int kConsumerThreads = 128 * kConsumerGroups;
    static constexpr int kQBytes = kBlockM * kHeadDim * 2;
    static constexpr int kKVBytes = kBlockN * kHeadDim * 2;
    static constexpr int kProducerRegisters = 24;
    static constexpr int kConsumerRegisters = kConsumerGroups == 2 ? 240 : 160;
    static_assert(kProducerRegisters * 128 + kConsumerRegisters * kConsumerThreads <= 65536,
                  "register file");
    static_assert(kHeadDim % 64 == 0, "head dim must be a multiple of 64");
};

template <typename Element, int kHeadDim_>
struct BwdTraits {
    static constexpr int kHeadDim = kHeadDim_;
    static constexpr int kBlockM = 64;   // query rows per iteration
    static constexpr int kBlockN = 128;  // keys per CTA, 64 per consumer warp group
    static constexpr int kStages = 2;
    static constexpr int kChunks = kHeadDim / 64;
    static constexpr int kThreads = 384;
    static constexpr int kConsumerThreads = 256;
    static constexpr int kQBytes = kBlockM * kHeadDim * 2;
    static constexpr int kKBytes = kBlockN * kHeadDim * 2;
    // kOwnDq (development: FS_SM90_BWD_OWN_DQ): each group computes the share of dQ from its own
    // 64 keys, 64 columns at a time, and adds it, so that the groups never wait for each other
    // (twice the atomics); otherwise they exchange dS^T and each computes half of dQ's columns
    // over all 128 keys.
#ifndef FS_SM90_BWD_OWN_DQ
#define FS_SM90_BWD_OWN_DQ 0
#endif
    static constexpr bool kOwnDq = FS_SM90_BWD_OWN_DQ;
    // kTmaDq (FS_SM90_BWD_TMA_DQ, default on): each group's dQ tile goes into shared memory and
    // one thread adds it into the workspace by TMA reduce-add (a few bulk operations in L2)
    // instead of 16 float2 atomics a thread: 15% faster at D=128, equal at D=64 (KERNEL_NOTES).
#ifndef FS_SM90_BWD_TMA_DQ
#define FS_SM90_BWD_TMA_DQ 1
#endif
    static constexpr bool kTmaDq = FS_SM90_BWD_TMA_DQ;
    // kEarlyDv (FS_SM90_BWD_EARLY_DV = 0, 1, 2 or 4 parts; default 2): dV += P^T dO is issued
    // before waiting for dP^T, each part of its query columns as soon as their P^T is, so that
    // the sigmoid's rest and dS^T's arithmetic and stores run under dV's product instead of with
    // the tensor cores idle; 0: dV and dK together once dS^T is stored. With the paired sigmoid,
    // 2 parts are 2% faster than 0 at both head dims (KERNEL_NOTES, backward variant 5).
#ifndef FS_SM90_BWD_EARLY_DV
#define FS_SM90_BWD_EARLY_DV 2
#endif
    static constexpr int kEarlyDv = FS_SM90_BWD_EARLY_DV;
    static_assert(kEarlyDv == 0 || kEarlyDv == 1 || kEarlyDv == 2 || kEarlyDv == 4,
                  "dV's four 16-query steps in 1, 2 or 4 parts");
    // The sigmoid's form: two weights per reciprocal (FS_SM90_BWD_SIGMOID_WIDTH = 1: one each,
    // which D = 128 needed before early dV, when the paired form spilled there).
#ifdef FS_SM90_BWD_SIGMOID_WIDTH
    static constexpr int kSigmoidWidth = FS_SM90_BWD_SIGMOID_WIDTH;
#else
    static constexpr int kSigmoidWidth = 2;
#endif
    static_assert(kSigmoidWidth == 1 || kSigmoidWidth == 2, "one or two weights a reciprocal");
    // kDqFirst (development: FS_SM90_BWD_DQ_FIRST): dQ's product is issued before dK's, so that
    // dQ's staging in shared memory runs under dK's product instead of with the tensor cores
    // idle: 2% faster at D = 64 in the development driver, not yet through run_all.sh; at D = 128
    // it spills 68 bytes and is 3-5% slower (KERNEL_NOTES, backward variant 7). Needs kTmaDq and
    // not kOwnDq.
#ifndef FS_SM90_BWD_DQ_FIRST
#define FS_SM90_BWD_DQ_FIRST 0
#endif
    static constexpr bool kDqFirst = FS_SM90_BWD_DQ_FIRST;
    static_assert(!kDqFirst || (kTmaDq && !kOwnDq), "dQ first needs the TMA reduce-add path");
    static constexpr int kDqColumns = kOwnDq ? 64 : kHeadDim / 2;          // per product
    static constexpr int kDqTileColumns = kOwnDq ? kHeadDim : kDqColumns;  // per group and block
    static constexpr int kProducerRegisters = 24;
    static constexpr int kConsumerRegisters = 240;
};

}  // namespace flash_sigmoid::cuda::sm90
