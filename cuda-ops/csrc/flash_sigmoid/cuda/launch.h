// Entry points of the kernel families, one instantiation per (dtype, head dim) in
// instantiations/. The API layer (flash_sigmoid_cuda.cu) picks one; each launcher checks its
// launches and throws std::runtime_error with the CUDA error string on failure.
#pragma once

#include <cuda_runtime.h>

#include "params.h"

namespace flash_sigmoid::cuda {

// mma.sync kernels (sm_80 and newer): every feature of FwdParams/BwdParams.
template <typename Element, int kHeadDim>
void run_forward_generic(const FwdParams& params, cudaStream_t stream);
template <typename Element, int kHeadDim>
void run_backward_generic(const BwdParams& params, cudaStream_t stream);
// dq = scale * workspace in dq's dtype: the last step of every backward. Compiled with the
// generic instantiations, for every architecture in the build.
template <typename Element, int kHeadDim>
void run_dq_conversion(const BwdParams& params, cudaStream_t stream);

// Split-KV decoding (sm_80+, mma.sync): few query rows per kv head against many keys.
template <typename Element, int kHeadDim>
void run_decode(const FwdParams& params, cudaStream_t stream);

// Problems the decode kernel takes: Tq * (H / G) <= 16 query rows per kv head and at least 256
// keys (a threshold chosen, not tuned), head dim 64 or 128, no keep mask (key lengths,
// causal, ALiBi and head bias are fine). Its 16-byte loads need 16-byte aligned rows, which the
// API layer guarantees for every operand.
inline bool decode_supports(const FwdParams& p) {
    return p.q_len * p.group <= 16 && p.q_len > 0 && p.k_len >= 256 && p.keep == nullptr &&
           (p.head_dim == 64 || p.head_dim == 128);
}

// Hopper kernels (sm_90a: wgmma, TMA, warp specialisation): scalar bias, head_bias, causal, GQA.
template <typename Element, int kHeadDim>
void run_forward_sm90(const FwdParams& params, cudaStream_t stream);

template <typename Element, int kHeadDim>
void run_backward_sm90(const BwdParams& params, cudaStream_t stream);

// Problems the Hopper forward and backward take (the rest go to the generic kernels). TMA needs
// 16-byte aligned bases and strides, which the API layer guarantees for every operand.
inline bool sm90_forward_supports(const FwdParams& params) {
    // TMA cannot broadcast: a dimension of size > 1 needs a positive stride.
    auto steps = [](int size, int64_t stride) { return size <= 1 || stride > 0; };
    const FwdParams& p = params;
    const bool strided = steps(p.q_len, p.q_row_stride) && steps(p.heads, p.q_head_stride) &&
                         steps(p.batch, p.q_batch_stride) && steps(p.k_len, p.k_row_stride) &&
                         steps(p.kv_heads, p.k_head_stride) && steps(p.batch, p.k_batch_stride) &&
                         steps(p.k_len, p.v_row_stride) && steps(p.kv_heads, p.v_head_stride) &&
                         steps(p.batch, p.v_batch_stride);
    return strided && !has_extended_features(p) && (p.head_dim == 64 || p.head_dim == 128) &&
           p.q_len > 0 && p.k_len > 0;  // empty problems: the generic kernels
}
// The backward also reads dout through TMA.
inline bool sm90_backward_supports(const BwdParams& params) {
    auto steps = [](int size, int64_t stride) { return size <= 1 || stride > 0; };
    return sm90_forward_supports(params) && steps(params.q_len, params.do_row_stride) &&
           steps(params.heads, params.do_head_stride) &&
           steps(params.batch, params.do_batch_stride);
}

}  // namespace flash_sigmoid::cuda
