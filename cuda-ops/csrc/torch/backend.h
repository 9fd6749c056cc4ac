// Where the kernels of one call run: the CPU, or a CUDA device. attention.cpp prepares the
// operands and runs the forward or the backward once, over either backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "../flash_sigmoid/flash_sigmoid.h"
#include "tensor.h"

namespace flash_sigmoid {

class Backend {
public:
    virtual ~Backend() = default;

    // A (B, T, heads, D) operand as the kernels read it: the tensor itself, or a copy in a
    // layout they take.
    virtual Tensor operand_tensor(AtenTensorHandle h) const = 0;
    virtual fs_operand operand(const Tensor& t) const = 0;
    // A float32 (H) vector contiguous on the kernels' device; undefined for "none".
    virtual Tensor head_vector(AtenTensorHandle h) const = 0;
    // k_lens as int32, contiguous, on the kernels' device; undefined for "none".
    virtual Tensor key_lengths(AtenTensorHandle h) const = 0;
    // A new contiguous tensor on the kernels' device.
    virtual Tensor empty(const std::vector<int64_t>& sizes, int32_t dtype) const = 0;
    virtual void zero(const Tensor& t) const = 0;

    // The kernels' C ABI; status codes with the message, as flash_sigmoid.h defines them.
    virtual int forward(const fs_attention& a, fs_operand out, char* message,
                        size_t size) const = 0;
    virtual int backward(const fs_attention& a, fs_operand dout, fs_operand dq, fs_operand dk,
                         fs_operand dv, float* d_head_bias, char* message, size_t size) const = 0;
};

std::unique_ptr<Backend> cpu_backend();
#ifdef FS_WITH_CUDA
// For the device of q: sets it current for the backend's lifetime and runs on PyTorch's current
// stream of that device. `op` names the caller in messages.
std::unique_ptr<Backend> cuda_backend(const char* op, int32_t device_index);
#endif

// Bytes of a float32, float16 or bfloat16 tensor's elements.
size_t byte_size(const Tensor& t);
// A contiguous copy on the same device.
Tensor contiguous_copy(const Tensor& t);
// A (H) vector with unit stride: the tensor itself, or a contiguous copy; undefined for "none".
Tensor unit_stride_vector(AtenTensorHandle h);

}  // namespace flash_sigmoid
