// Definitions of run_forward_generic / run_backward_generic, included by the per-(dtype, head dim)
// instantiation files. Every launch is checked; failures throw std::runtime_error.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>

#include "../launch.h"
#include "bwd_kernel.h"
#include "fwd_kernel.h"

namespace flash_sigmoid::cuda {

namespace generic {

inline void check_cuda(cudaError_t err, const char* what) {
    if (err != cudaSuccess) {
        throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
    }
}

// Dynamic shared memory above 48 KB must be opted into, per kernel and device.
template <typename Kernel>
void set_smem(Kernel kernel, int bytes) {
    if (bytes > 48 * 1024) {
        check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
                   "cudaFuncSetAttribute(MaxDynamicSharedMemorySize)");
    }
}

}  // namespace generic

template <typename Element, int kHeadDim>
void run_forward_generic(const FwdParams& params, cudaStream_t stream) {
    using namespace generic;
    using Tr = typename FwdConfig<kHeadDim>::Traits;
    if (params.batch == 0 || params.heads == 0 || params.q_len == 0) return;
    auto kernel = fwd_kernel<Element, Tr>;
    set_smem(kernel, Tr::kSmemBytes);
    dim3 grid(ceil_div(params.q_len, Tr::kBlockM), params.heads, params.batch);
    kernel<<<grid, Tr::kNThreads, Tr::kSmemBytes, stream>>>(params);
    check_cuda(cudaPeekAtLastError(), "flash_sigmoid forward kernel launch");
}

template <typename Element, int kHeadDim>
void run_dq_conversion(const BwdParams& params, cudaStream_t stream) {
    using namespace generic;
    const int64_t chunks =
        static_cast<int64_t>(params.batch) * params.q_len * params.heads * (kHeadDim / 8);
    if (chunks == 0) return;
    constexpr int kThreads = 256;
    // Grid-stride loop: enough blocks to fill the device a few times over.
    const int64_t want = (chunks + kThreads - 1) / kThreads;
    const int blocks = static_cast<int>(std::min<int64_t>(want, std::max(1, params.num_sms) * 16));
    dq_convert_kernel<Element, kHeadDim><<<blocks, kThreads, 0, stream>>>(params);
    check_cuda(cudaPeekAtLastError(), "flash_sigmoid dq conversion kernel launch");
}

template <typename Element, int kHeadDim>
void run_backward_generic(const BwdParams& params, cudaStream_t stream) {
    using namespace generic;
    using Tr = typename BwdConfig<kHeadDim>::Traits;
    if (params.batch == 0 || params.heads == 0) return;
    if (params.k_len > 0) {
        auto kernel = bwd_kernel<Element, Tr>;
        set_smem(kernel, Tr::kSmemBytes);
        dim3 grid(ceil_div(params.k_len, Tr::kBlockN), params.kv_heads, params.batch);
        kernel<<<grid, Tr::kNThreads, Tr::kSmemBytes, stream>>>(params);
        check_cuda(cudaPeekAtLastError(), "flash_sigmoid backward kernel launch");
    }
    run_dq_conversion<Element, kHeadDim>(params, stream);
}

}  // namespace flash_sigmoid::cuda
