// Host side of the Hopper backward: tensor maps, the checked launch, then dq = scale * workspace
// in dq's dtype (run_dq_conversion, compiled with the generic instantiations).
#pragma once

#include "bwd_kernel.h"
#include "fwd_launch.h"

namespace flash_sigmoid::cuda::sm90 {

template <typename Element, int kHeadDim>
void launch_backward(const BwdParams& p, cudaStream_t stream) {
    using Traits = BwdTraits<Element, kHeadDim>;
    if (p.batch == 0 || p.heads == 0 || p.q_len == 0) return;
    if (p.kv_heads > 65535 || p.batch > 65535) {
        throw std::runtime_error(
            "the sm90 backward takes at most 65535 kv heads and batch entries");
    }
    if (p.k_len > 0) {
        CUtensorMap q = make_map<Element>(p.q, kHeadDim, p.q_len, p.heads, p.batch, p.q_row_stride,
                                          p.q_head_stride, p.q_batch_stride, Traits::kBlockM);
        CUtensorMap dout =
            make_map<Element>(p.dout, kHeadDim, p.q_len, p.heads, p.batch, p.do_row_stride,
                              p.do_head_stride, p.do_batch_stride, Traits::kBlockM);
        CUtensorMap k =
            make_map<Element>(p.k, kHeadDim, p.k_len, p.kv_heads, p.batch, p.k_row_stride,
                              p.k_head_stride, p.k_batch_stride, Traits::kBlockN);
        CUtensorMap v =
            make_map<Element>(p.v, kHeadDim, p.k_len, p.kv_heads, p.batch, p.v_row_stride,
                              p.v_head_stride, p.v_batch_stride, Traits::kBlockN);
        // The float32 workspace (B, Tq, H, D) in boxes of 32 columns x 64 rows, for the TMA
        // reduce-add of dQ (kTmaDq; unused with the atomics variant).
        CUtensorMap dq{};
        if constexpr (Traits::kTmaDq) {
            dq = make_map(CU_TENSOR_MAP_DATA_TYPE_FLOAT32, sizeof(float), p.workspace, kHeadDim,
                          p.q_len, p.heads, p.batch, int64_t(p.heads) * kHeadDim, kHeadDim,
                          int64_t(p.q_len) * p.heads * kHeadDim, 32, Traits::kBlockM);
        }
        const size_t shared = sizeof(BwdShared<Traits, Element>) + 1024;
        auto kernel = backward_kernel<Element, kHeadDim>;
        check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(shared)),
                   "cudaFuncSetAttribute(backward_kernel sm90)");
        dim3 grid((p.k_len + Traits::kBlockN - 1) / Traits::kBlockN, p.kv_heads, p.batch);
        kernel<<<grid, Traits::kThreads, shared, stream>>>(q, k, v, dout, dq, p);
        check_cuda(cudaGetLastError(), "launch of backward_kernel sm90");
    }
    run_dq_conversion<Element, kHeadDim>(p, stream);
}

}  // namespace flash_sigmoid::cuda::sm90

#define FS_INSTANTIATE_BACKWARD_SM90(Element, kHeadDim)                                       \
    namespace flash_sigmoid::cuda {                                                           \
    template <>                                                                               \
    void run_backward_sm90<Element, kHeadDim>(const BwdParams& params, cudaStream_t stream) { \
        sm90::launch_backward<Element, kHeadDim>(params, stream);                             \
    }                                                                                         \
    }
