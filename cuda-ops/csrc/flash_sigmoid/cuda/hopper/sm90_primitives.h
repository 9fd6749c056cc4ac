// Hopper (sm_90a) building blocks as inline PTX: shared-memory matrix descriptors and wgmma,
// mbarriers, TMA loads, register reallocation and named barriers. No CUTLASS exists here, and
// CCCL has no wgmma wrapper, so these are written against the PTX ISA directly.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda.h>
#include <cstdint>

#include "../generic/utils.h"
#include "../mbarrier.h"

namespace flash_sigmoid::cuda::sm90 {

// One sigmoid, one 16-bit packing and one shared-memory address for every CUDA kernel
// (generic/utils.h, generic/sigmoid.h).
using generic::kSigmoidInputScale;
using generic::kWeightUnit;
using generic::pack2;
using generic::sigmoid2_of_scaled;
using generic::sigmoid4_of_scaled;
using generic::sigmoid_of_scaled;
using generic::smem_addr;

// --- wgmma ---------------------------------------------------------------------------------------

// Descriptor of a 128-byte-swizzled tile in shared memory (tiles 1024-byte aligned).
// K-major operands: rows of 64 elements (128 B), 8-row atoms `sbo` = 1024 B apart.
// MN-major operands: `lbo` = bytes between 64-element chunks along MN, `sbo` = between 8-row
// groups along K.
__device__ __forceinline__ uint64_t make_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
    uint64_t d = 0;
    d |= static_cast<uint64_t>((addr & 0x3FFFF) >> 4);
    d |= static_cast<uint64_t>((lbo >> 4) & 0x3FFF) << 16;
    d |= static_cast<uint64_t>((sbo >> 4) & 0x3FFF) << 32;
    d |= static_cast<uint64_t>(1) << 62;  // 128-byte swizzle
    return d;
}

__device__ __forceinline__ void wgmma_fence() {
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}

// Keeps the compiler from moving accesses of accumulator registers across async wgmma.
template <int N>
__device__ __forceinline__ void fence_registers(float (&r)[N]) {
#pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N, int M>
__device__ __forceinline__ void fence_registers(uint32_t (&r)[N][M]) {
#pragma unroll
    for (int i = 0; i < N; ++i) {
#pragma unroll
        for (int j = 0; j < M; ++j) asm volatile("" : "+r"(r[i][j])::"memory");
    }
}

// D(64 x N, fp32) (+)= A(64 x 16) B(16 x N). mma_ss: A and B in shared memory, both K-major
// (kTransposed = 0) or both MN-major (1). mma_rs_transposed_b: A in registers (the m16n8k16
// A-fragment layout per warp), B MN-major in shared memory. `accumulate` = 0 overwrites D.
template <typename T, int N, int kTransposed = 0>
__device__ void mma_ss(float (&d)[N / 2], uint64_t desc_a, uint64_t desc_b, int accumulate);
template <typename T, int N>
__device__ void mma_rs_transposed_b(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t desc_b,
                                    int accumulate);
// A K-major and B MN-major, both in shared memory.
template <typename T, int N>
__device__ void mma_ss_transposed_b(float (&d)[N / 2], uint64_t desc_a, uint64_t desc_b,
                                    int accumulate);

#include "wgmma_ops.inc"

// --- TMA -----------------------------------------------------------------------------------------

// Copies the box at (c0, c1, c2, c3) of a 4-D tensor map into shared memory; completion is
// signalled on `bar` as transaction bytes. Out-of-range elements arrive as zeros.
__device__ __forceinline__ void tma_load_4d(void* dst, const CUtensorMap* map, uint64_t* bar,
                                            int c0, int c1, int c2, int c3) {
    asm volatile(
        "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes"
        " [%0], [%1, {%3, %4, %5, %6}], [%2];\n" ::"r"(smem_addr(dst)),
        "l"(reinterpret_cast<uint64_t>(map)), "r"(smem_addr(bar)), "r"(c0), "r"(c1), "r"(c2),
        "r"(c3)
        : "memory");
}
// Orders this thread's ordinary shared-memory stores before later reads by TMA or wgmma.
__device__ __forceinline__ void fence_async_shared() {
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
// Stores a box in shared memory into the box at (c0, c1, c2, c3) of a 4-D tensor map
// (out-of-range elements are skipped), as a bulk operation of this thread's bulk group.
__device__ __forceinline__ void tma_store_4d(const CUtensorMap* map, const void* src, int c0,
                                             int c1, int c2, int c3) {
    asm volatile(
        "cp.async.bulk.tensor.4d.global.shared::cta.bulk_group"
        " [%0, {%2, %3, %4, %5}], [%1];\n" ::"l"(reinterpret_cast<uint64_t>(map)),
        "r"(smem_addr(src)), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
        : "memory");
}
// Adds a box in shared memory into the box at (c0, c1, c2, c3) of a 4-D tensor map (the add
// happens in L2; out-of-range elements are skipped), as a bulk operation of this thread's bulk
// group: bulk_commit closes the group, bulk_wait_read<N> waits until at most N groups still read
// shared memory, bulk_wait<N> until at most N are incomplete.
__device__ __forceinline__ void tma_reduce_add_4d(const CUtensorMap* map, const void* src, int c0,
                                                  int c1, int c2, int c3) {
    asm volatile(
        "cp.reduce.async.bulk.tensor.4d.global.shared::cta.add.tile.bulk_group"
        " [%0, {%2, %3, %4, %5}], [%1];\n" ::"l"(reinterpret_cast<uint64_t>(map)),
        "r"(smem_addr(src)), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
        : "memory");
}
__device__ __forceinline__ void bulk_commit() {
    asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void bulk_wait_read() {
    asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(N) : "memory");
}
template <int N>
__device__ __forceinline__ void bulk_wait() {
    asm volatile("cp.async.bulk.wait_group %0;\n" ::"n"(N) : "memory");
}
__device__ __forceinline__ void prefetch_tensor_map(const CUtensorMap* map) {
    asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(map)) : "memory");
}

// --- registers and barriers ----------------------------------------------------------------------

template <int kRegisters>
__device__ __forceinline__ void grow_registers() {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}
template <int kRegisters>
__device__ __forceinline__ void shrink_registers() {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_barrier_arrive(int id, int threads) {
    asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

}  // namespace flash_sigmoid::cuda::sm90
