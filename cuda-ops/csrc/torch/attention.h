// The FlashSigmoid op on PyTorch tensors, through PyTorch's stable C ABI only:
//
//   validate.cpp      every argument checked once, with messages that name the op and the argument
//   attention.cpp     one forward and one backward over a backend (backend.h: the CPU or CUDA)
//   registration.cpp  the six registered ops (their schemas: docs/native-op.md), boxed for
//                     PyTorch's dispatcher, so TorchScript and Python call the same code
//
// The JNI bridge calls attention_forward and attention_backward directly: no dispatcher round
// trip for Java callers.
#pragma once

#include <string>

#include "tensor.h"

namespace flash_sigmoid {

// Borrowed handles; the optional ones may be null or empty tensors ("none").
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

// Validates the arguments (OpError with invalid_argument for a caller's mistake, naming
// flash_sigmoid::<op> and the argument) and runs the kernels. `op` names the caller in messages.
Tensor attention_forward(const char* op, const AttentionArgs& args);
// d_head_bias is computed only when head_bias_grad is true (it stays undefined otherwise).
Gradients attention_backward(const char* op, AtenTensorHandle grad_out, const AttentionArgs& args,
                             bool head_bias_grad);

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
