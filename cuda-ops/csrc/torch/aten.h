// PyTorch's own operations that the JNI bridge needs and DJL 0.36 does not offer, called through
// PyTorch's dispatcher. Failures throw OpError.
#pragma once

#include <cstdint>

#include "tensor.h"

namespace flash_sigmoid {

// A copy of src converted to dtype (an aoti_torch_dtype_* code), as a new handle: DJL 0.36 aborts
// the JVM when it converts to or from bfloat16.
AtenTensorHandle converted_copy(AtenTensorHandle src, int32_t dtype);

// Whether a tensor is a leaf of autograd's graph (aten::is_leaf): false for the result of an
// operation recorded while a gradient is required. The stable ABI has no requires_grad getter.
bool tensor_is_leaf(AtenTensorHandle t);

// ATen's own fused CPU attention for softmax on (B, H, T, D) inputs: the benchmarks' baseline.
AtenTensorHandle softmax_flash_attention_cpu(AtenTensorHandle q, AtenTensorHandle k,
                                             AtenTensorHandle v, bool causal);

struct AttentionArgs;

// The differentiable op flash_sigmoid::attention_extended of libflash_sigmoid_autograd, called
// through the dispatcher so that autograd records it when a gradient is required; absent optional
// tensors are passed as empty ones. Key lengths are not part of its schema: masks go in `keep`.
AtenTensorHandle differentiable_attention(const AttentionArgs& a);

// Calls an op by name through PyTorch's dispatcher; throws OpError (with the boxed kernel's
// message when one of this library's ops failed).
void call_dispatcher(const char* op, StableIValue* stack);

}  // namespace flash_sigmoid
