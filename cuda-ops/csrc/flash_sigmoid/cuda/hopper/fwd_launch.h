// Host side of the Hopper forward: tensor maps for Q, K and V, and the checked launch.
#pragma once

#include <cudaTypedefs.h>

#include <stdexcept>
#include <string>

#include "../launch.h"
#include "fwd_kernel.h"

namespace flash_sigmoid::cuda::sm90 {

inline void check_cuda(cudaError_t status, const char* what) {
    if (status != cudaSuccess) {
        throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
    }
}

// cuTensorMapEncodeTiled from the driver, found through the runtime so that the library links
// against no libcuda.so (it must load on machines without a GPU driver).
inline PFN_cuTensorMapEncodeTiled_v12000 encode_tiled() {
    static PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
        void* f = nullptr;
        cudaDriverEntryPointQueryResult found{};
        cudaError_t status = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000,
                                                              cudaEnableDefault, &found);
        if (status != cudaSuccess || found != cudaDriverEntryPointSuccess || !f) {
            throw std::runtime_error("cuTensorMapEncodeTiled is not available from the driver");
        }
        return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(f);
    }();
    return fn;
}

// A (D, T, heads, B) view of a (B, T, heads, D) tensor of `type`, moved in boxes of box_columns x
// box_rows with the 128-byte swizzle that wgmma's descriptors expect.
inline CUtensorMap make_map(CUtensorMapDataType type, size_t element_size, const void* data,
                            int head_dim, int len, int heads, int batch, int64_t row_stride,
                            int64_t head_stride, int64_t batch_stride, int box_columns,
                            int box_rows) {
    // A dimension of size 1 is never stepped over, so its stride may be anything the caller had;
    // TMA wants multiples of 16 bytes, so such strides become the packed ones.
    if (len == 1) row_stride = head_dim;
    if (heads == 1) head_stride = row_stride * len;
    if (batch == 1) batch_stride = head_stride * heads;
    CUtensorMap map;
    const cuuint64_t dims[4] = {cuuint64_t(head_dim), cuuint64_t(len), cuuint64_t(heads),
                                cuuint64_t(batch)};
    const cuuint64_t strides[3] = {cuuint64_t(row_stride) * element_size,
                                   cuuint64_t(head_stride) * element_size,
                                   cuuint64_t(batch_stride) * element_size};
    const cuuint32_t box[4] = {cuuint32_t(box_columns), cuuint32_t(box_rows), 1, 1};
    const cuuint32_t element_strides[4] = {1, 1, 1, 1};
    CUresult r =
        encode_tiled()(&map, type, 4, const_cast<void*>(data), dims, strides, box, element_strides,
                       CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                       CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) {
        throw std::runtime_error("cuTensorMapEncodeTiled failed with CUresult " +
                                 std::to_string(static_cast<int>(r)));
    }
    return map;
}

// A 16-bit operand in boxes of 64 columns (128 bytes) x rows.
template <typename Element>
CUtensorMap make_map(const void* data, int head_dim, int len, int heads, int batch,
                     int64_t row_stride, int64_t head_stride, int64_t batch_stride, int box_rows) {
    const CUtensorMapDataType type = std::is_same_v<Element, __nv_bfloat16>
                                         ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                         : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
    return make_map(type, sizeof(Element), data, head_dim, len, heads, batch, row_stride,
                    head_stride, batch_stride, 64, box_rows);
}

template <typename Element, int kHeadDim>
void launch_forward(const FwdParams& p, cudaStream_t stream) {
    using Traits = FwdTraits<Element, kHeadDim>;
    CUtensorMap q = make_map<Element>(p.q, kHeadDim, p.q_len, p.heads, p.batch, p.q_row_stride,
                                      p.q_head_stride, p.q_batch_stride, Traits::kBlockM);
    CUtensorMap k = make_map<Element>(p.k, kHeadDim, p.k_len, p.kv_heads, p.batch, p.k_row_stride,
                                      p.k_head_stride, p.k_batch_stride, Traits::kBlockN);
    CUtensorMap v = make_map<Element>(p.v, kHeadDim, p.k_len, p.kv_heads, p.batch, p.v_row_stride,
                                      p.v_head_stride, p.v_batch_stride, Traits::kBlockN);
    // O in boxes of 64 rows, one consumer group's (development variant; unused otherwise).
    CUtensorMap o{};
    if constexpr (Traits::kTmaStore) {
        o = make_map<Element>(p.o, kHeadDim, p.q_len, p.heads, p.batch, p.o_row_stride,
                              p.o_head_stride, p.o_batch_stride, 64);
    }
    const size_t shared = sizeof(FwdShared<Traits, Element>) + 1024;  // + alignment slack
    auto kernel = forward_kernel<Element, kHeadDim>;
    check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(shared)),
               "cudaFuncSetAttribute(forward_kernel sm90)");
    if (p.q_len == 0 || p.heads == 0 || p.batch == 0) return;
    if (p.heads > 65535 || p.batch > 65535) {
        throw std::runtime_error("the sm90 forward takes at most 65535 heads and batch entries");
    }
    dim3 grid((p.q_len + Traits::kBlockM - 1) / Traits::kBlockM, p.heads, p.batch);
    kernel<<<grid, Traits::kThreads, shared, stream>>>(q, k, v, o, p);
    check_cuda(cudaGetLastError(), "launch of forward_kernel sm90");
}

}  // namespace flash_sigmoid::cuda::sm90

#define FS_INSTANTIATE_FORWARD_SM90(Element, kHeadDim)                                       \
    namespace flash_sigmoid::cuda {                                                          \
    template <>                                                                              \
    void run_forward_sm90<Element, kHeadDim>(const FwdParams& params, cudaStream_t stream) { \
        sm90::launch_forward<Element, kHeadDim>(params, stream);                             \
    }                                                                                        \
    }
