// The CPU backend: the kernels read every operand in place, with any strides.
#include <cstring>

#include "backend.h"
#include "validate.h"

namespace flash_sigmoid {

size_t byte_size(const Tensor& t) {
    const int32_t dtype = t.dtype();
    size_t element =
        dtype == aoti_torch_dtype_float32() || dtype == aoti_torch_dtype_int32() ? 4 : 2;
    return static_cast<size_t>(t.numel()) * element;
}

Tensor contiguous_copy(const Tensor& t) {
    Tensor copy = Tensor::empty(t.sizes(), t.dtype(), t.device_type(), t.device_index());
    check_shim(aoti_torch_copy_(copy.get(), t.get(), 0), "aoti_torch_copy_");
    return copy;
}

Tensor unit_stride_vector(AtenTensorHandle h) {
    if (is_empty(h)) return Tensor();
    Tensor t = Tensor::alias(h);
    if (t.sizes()[0] == 1 || t.strides()[0] == 1) return t;
    return contiguous_copy(t);
}

namespace {

class CpuBackend final : public Backend {
public:
    Tensor operand_tensor(AtenTensorHandle h) const override { return Tensor::alias(h); }

    fs_operand operand(const Tensor& t) const override {
        fs_operand o;
        o.data = t.data();
        std::vector<int64_t> s = t.strides();
        for (int i = 0; i < 4; ++i) o.stride[i] = s[i];
        return o;
    }

    Tensor head_vector(AtenTensorHandle h) const override { return unit_stride_vector(h); }

    Tensor key_lengths(AtenTensorHandle h) const override {
        if (is_empty(h)) return Tensor();
        std::vector<int32_t> values = key_length_values(h);
        Tensor t = empty({static_cast<int64_t>(values.size())}, aoti_torch_dtype_int32());
        std::memcpy(t.data(), values.data(), values.size() * sizeof(int32_t));
        return t;
    }

    Tensor empty(const std::vector<int64_t>& sizes, int32_t dtype) const override {
        return Tensor::empty(sizes, dtype, aoti_torch_device_type_cpu(), 0);
    }

    void zero(const Tensor& t) const override {
        if (t.defined() && t.numel() > 0) std::memset(t.data(), 0, byte_size(t));
    }

    int forward(const fs_attention& a, fs_operand out, char* message, size_t size) const override {
        return fs_cpu_forward(&a, out, message, size);
    }

    int backward(const fs_attention& a, fs_operand dout, fs_operand dq, fs_operand dk,
                 fs_operand dv, float* d_head_bias, char* message, size_t size) const override {
        return fs_cpu_backward(&a, dout, dq, dk, dv, d_head_bias, message, size);
    }
};

}  // namespace

std::unique_ptr<Backend> cpu_backend() {
    return std::make_unique<CpuBackend>();
}

}  // namespace flash_sigmoid
