// The flash_sigmoid ops, registered with PyTorch through its stable C ABI when the library loads:
//
//   flash_sigmoid::forward(Tensor q, Tensor k, Tensor v, float scale, float bias, bool causal)
//       -> Tensor
//   flash_sigmoid::backward(Tensor grad_out, Tensor q, Tensor k, Tensor v, float scale,
//       float bias, bool causal) -> (Tensor, Tensor, Tensor)
//   flash_sigmoid::forward_extended(Tensor q, Tensor k, Tensor v, float scale, float bias,
//       bool causal, Tensor head_bias, Tensor alibi_slopes, Tensor keep) -> Tensor
//   flash_sigmoid::backward_extended(Tensor grad_out, Tensor q, Tensor k, Tensor v, float scale,
//       float bias, bool causal, Tensor head_bias, Tensor alibi_slopes, Tensor keep)
//       -> (Tensor, Tensor, Tensor, Tensor)
//   flash_sigmoid::forward_varlen(Tensor q, Tensor k, Tensor v, float scale, float bias,
//       bool causal, Tensor head_bias, Tensor alibi_slopes, Tensor keep, Tensor k_lens) -> Tensor
//   flash_sigmoid::backward_varlen(Tensor grad_out, Tensor q, Tensor k, Tensor v, float scale,
//       float bias, bool causal, Tensor head_bias, Tensor alibi_slopes, Tensor keep,
//       Tensor k_lens) -> (Tensor, Tensor, Tensor, Tensor)
//
// q (B, Tq, H, D), k and v (B, Tk, G, D), any strides; float32, float16 or bfloat16 on the CPU,
// float16 or bfloat16 on CUDA (registered for both dispatch keys; the CUDA kernels exist when the
// library was built with nvcc, FS_WITH_CUDA). In the
// extended ops an empty tensor means "none": head_bias and alibi_slopes are float32 (H); keep is
// bool or uint8 of 4 dimensions, each 1 or (B, H, Tq, Tk) respectively. backward_extended also
// returns the gradient of head_bias, (H) float32. The varlen ops add k_lens, int32 or int64 (B)
// on the CPU or the device of q, each in [0, Tk]: sequence b attends to its first k_lens[b] keys
// only (a right-padded batch), and no work is spent on the rest; empty means every key.
#pragma once

#include <string>

#include "tensor.h"

namespace flash_sigmoid {

// Borrowed handles; the optional ones may be null or empty tensors.
struct AttentionArgs {
    AtenTensorHandle q = nullptr;
    AtenTensorHandle k = nullptr;
    AtenTensorHandle v = nullptr;
    double scale = 1.0;
    double bias = 0.0;
    bool causal = false;
    AtenTensorHandle head_bias = nullptr;
    AtenTensorHandle alibi_slopes = nullptr;
    AtenTensorHandle keep = nullptr;
    AtenTensorHandle key_lengths = nullptr;
};

struct Gradients {
    Tensor dq, dk, dv, d_head_bias;
};

// Checks every argument; throws OpError (invalid_argument) naming the op, the argument and the
// values seen. The JNI bridge calls these before dispatching, so bad input never reaches PyTorch.
void validate_forward(const char* op, const AttentionArgs& args);
void validate_backward(const char* op, AtenTensorHandle grad_out, const AttentionArgs& args);

Tensor attention_forward(const char* op, const AttentionArgs& args);
// The CPU kernels always compute d_head_bias; the CUDA path only when head_bias_grad is true.
Gradients attention_backward(const char* op, AtenTensorHandle grad_out, const AttentionArgs& args,
                             bool head_bias_grad = true);

// Empty when the ops registered, else why not.
const std::string& registration_error();

// The message and kind of the last failure of a boxed kernel on this thread, for callers that
// only see the dispatcher's status code.
struct LastError {
    std::string message;
    bool invalid_argument = false;
};
LastError& last_error();

}  // namespace flash_sigmoid
