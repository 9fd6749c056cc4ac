// The checks every call of the op passes once (validate.cpp), and the small argument readers the
// run layer shares with them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../flash_sigmoid/flash_sigmoid.h"
#include "attention.h"

namespace flash_sigmoid {

// Throws OpError (invalid_argument) naming flash_sigmoid::<op> and the argument; grad_out may be
// null for a forward.
void validate(const char* op, const AttentionArgs& args, AtenTensorHandle grad_out);

// "flash_sigmoid::<op>: <arg>", the start of every message.
std::string prefix(const char* op, const char* arg);
// A null handle or a tensor with no elements: "none" for the optional arguments.
bool is_empty(AtenTensorHandle h);
// The kernels' dtype code of a float32, float16 or bfloat16 tensor.
fs_dtype kernel_dtype(int32_t dtype);
// The values of k_lens as int32 on the host (copied from the device when it lives there),
// clamped so that a value past int32 still fails the range check.
std::vector<int32_t> key_length_values(AtenTensorHandle h);

}  // namespace flash_sigmoid
