// The calls the JNI bridge makes, without JNI: check the arguments, then run an op through
// PyTorch's dispatcher on new aliasing handles (the dispatcher consumes what it is given; the
// caller keeps its own handles). Failures throw OpError. tests/op_harness.cpp drives these same
// functions without a JVM, so the sanitizers see the path a Java call takes.
#pragma once

#include <array>

#include "flash_sigmoid_ops.h"

namespace flash_sigmoid {

// flash_sigmoid::forward, forward_extended when head_bias, alibi_slopes or keep is not null, or
// forward_varlen when key_lengths is not null.
// Returns a new handle owned by the caller.
AtenTensorHandle dispatch_forward(const AttentionArgs& args);

// flash_sigmoid::backward_extended (backward_varlen with key_lengths): new handles for dq, dk, dv
// and the head-bias gradient.
std::array<AtenTensorHandle, 4> dispatch_backward(AtenTensorHandle grad_out,
                                                  const AttentionArgs& args);

// Whether a tensor is a leaf of autograd's graph (aten::is_leaf): false for the result of an
// operation recorded while a gradient is required. The stable ABI has no requires_grad getter.
bool tensor_is_leaf(AtenTensorHandle t);

// A copy of src converted to dtype (an aoti_torch_dtype_* code), as a new handle.
AtenTensorHandle converted_copy(AtenTensorHandle src, int32_t dtype);

// ATen's own fused CPU attention for softmax on (B, H, T, D) inputs, the benchmarks' baseline.
AtenTensorHandle dispatch_softmax_flash_attention_cpu(AtenTensorHandle q, AtenTensorHandle k,
                                                      AtenTensorHandle v, bool causal);

}  // namespace flash_sigmoid
