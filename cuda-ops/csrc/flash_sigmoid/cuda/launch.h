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

// Hopper kernels (sm_90a: wgmma, TMA, warp specialisation): scalar bias, head_bias, causal, GQA.
template <typename Element, int kHeadDim>
void run_forward_sm90(const FwdParams& params, cudaStream_t stream);

template <typename Element, int kHeadDim>
void run_backward_sm90(const BwdParams& params, cudaStream_t stream);

// Problems the Hopper forward and backward take (the rest go to the generic kernels). TMA needs 16-byte
// aligned bases and strides, which the API layer guarantees for every operand.
inline bool sm90_forward_supports(const FwdParams& params) {
    return !has_extended_features(params) && (params.head_dim == 64 || params.head_dim == 128);
}
inline bool sm90_backward_supports(const FwdParams& params) { return sm90_forward_supports(params); }

}  // namespace flash_sigmoid::cuda
