// Device-side description of one attention problem, shared by the API layer
// (flash_sigmoid_cuda.cu) and every kernel family. Strides are in elements; the last dimension of
// every operand is contiguous.
#pragma once

#include <cstdint>

namespace flash_sigmoid::cuda {

struct FwdParams {
    const void* q;  // (B, Tq, H, D)
    const void* k;  // (B, Tk, G, D)
    const void* v;  // (B, Tk, G, D)
    void* o;        // (B, Tq, H, D)
    int64_t q_batch_stride, q_row_stride, q_head_stride;
    int64_t k_batch_stride, k_row_stride, k_head_stride;
    int64_t v_batch_stride, v_row_stride, v_head_stride;
    int64_t o_batch_stride, o_row_stride, o_head_stride;
    int batch, q_len, k_len, heads, kv_heads, head_dim;
    int group;  // heads / kv_heads
    float scale;
    float bias;
    bool causal;  // bottom-right aligned: key j is visible to query i iff j <= i + Tk - Tq
    const float* head_bias;      // (H) or nullptr
    const float* alibi_slopes;   // (H) or nullptr
    const uint8_t* keep;         // nonzero = attend, or nullptr
    int64_t keep_stride[4];      // over (B, H, Tq, Tk), 0 broadcasts
    const int32_t* key_lengths;  // (B): sequence b attends to keys [0, key_lengths[b]), or nullptr
    bool is_bf16;
    int num_sms;   // of the current device
    int cc_major;  // its compute capability (major)
};

struct BwdParams : FwdParams {
    const void* dout;  // (B, Tq, H, D)
    void* dq;          // (B, Tq, H, D)
    void* dk;          // (B, Tk, G, D)
    void* dv;          // (B, Tk, G, D)
    int64_t do_batch_stride, do_row_stride, do_head_stride;
    int64_t dq_batch_stride, dq_row_stride, dq_head_stride;
    int64_t dk_batch_stride, dk_row_stride, dk_head_stride;
    int64_t dv_batch_stride, dv_row_stride, dv_head_stride;
    float* d_head_bias;  // (H) float32, or nullptr
    float* workspace;    // fs_cuda_backward_workspace_size bytes
};

// True when the problem uses a feature beyond the scalar bias and causal mask (the Hopper
// kernels then hand it to the generic ones).
inline bool has_extended_features(const FwdParams& p) {
    return p.alibi_slopes != nullptr || p.keep != nullptr || p.key_lengths != nullptr;
}

}  // namespace flash_sigmoid::cuda
