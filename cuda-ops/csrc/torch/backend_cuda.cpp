// The CUDA backend. The kernels take the last stride 1, the other strides positive multiples of 8
// elements (any stride where the size is 1: never used) and data aligned to 16 bytes; other
// operands are copied to contiguous tensors first. Outputs, copies and the backward's workspace
// come from PyTorch's allocator on the device of q, and everything runs on PyTorch's current
// stream of that device, so the caching allocator's stream order covers the temporaries freed
// right after the launch. Compiled only with the CUDA kernels (FS_WITH_CUDA).
#include <cstring>
#include <string>

#include "backend.h"
#include "cuda_device.h"
#include "validate.h"

namespace flash_sigmoid {
namespace {

bool cuda_layout_ok(const Tensor& t) {
    std::vector<int64_t> size = t.sizes(), stride = t.strides();
    if (size[3] > 1 && stride[3] != 1) return false;
    for (int i = 0; i < 3; ++i) {
        if (size[i] > 1 && (stride[i] <= 0 || stride[i] % 8 != 0)) return false;
    }
    return reinterpret_cast<uintptr_t>(t.data()) % 16 == 0;
}

class CudaBackend final : public Backend {
public:
    CudaBackend(const char* op, int32_t device)
        : op_(op),
          device_(device),
          scope_(op, device),
          stream_(cuda_device::current_stream(op, device)) {}

    Tensor operand_tensor(AtenTensorHandle h) const override {
        Tensor t = Tensor::alias(h);
        if (t.numel() == 0 || cuda_layout_ok(t)) return t;
        return contiguous_copy(t);
    }

    // Size-1 dimensions get their dense stride (a multiple of 8 when D is), which is never read.
    fs_operand operand(const Tensor& t) const override {
        std::vector<int64_t> size = t.sizes(), stride = t.strides();
        fs_operand o;
        o.data = t.data();
        int64_t dense = 1;
        for (int i = 3; i >= 0; --i) {
            o.stride[i] = size[i] == 1 ? dense : stride[i];
            dense *= size[i] > 0 ? size[i] : 1;
        }
        return o;
    }

    Tensor head_vector(AtenTensorHandle h) const override { return unit_stride_vector(h); }

    // int32 with unit stride on this device, converted there (by PyTorch's copy) when it is not:
    // never read on the host, so no call waits for the device.
    Tensor key_lengths(AtenTensorHandle h) const override {
        if (is_empty(h)) return Tensor();
        Tensor t = Tensor::alias(h);
        if (t.dtype() == aoti_torch_dtype_int32() &&
            t.device_type() == aoti_torch_device_type_cuda() &&
            (t.sizes()[0] == 1 || t.strides()[0] == 1)) {
            return t;
        }
        Tensor dev = empty(t.sizes(), aoti_torch_dtype_int32());
        check_shim(aoti_torch_copy_(dev.get(), t.get(), 0), "aoti_torch_copy_");
        return dev;
    }

    Tensor empty(const std::vector<int64_t>& sizes, int32_t dtype) const override {
        return Tensor::empty(sizes, dtype, aoti_torch_device_type_cuda(), device_);
    }

    void zero(const Tensor& t) const override {
        if (t.defined() && t.numel() > 0)
            cuda_device::zero_async(op_, t.data(), byte_size(t), stream_);
    }

    int forward(const fs_attention& a, fs_operand out, char* message, size_t size) const override {
        return fs_cuda_forward(&a, out, stream_, message, size);
    }

    int backward(const fs_attention& a, fs_operand dout, fs_operand dq, fs_operand dk,
                 fs_operand dv, float* d_head_bias, char* message, size_t size) const override {
        size_t bytes = fs_cuda_backward_workspace_size(&a);
        Tensor workspace;
        void* scratch = nullptr;
        if (bytes > 0) {
            workspace = empty({static_cast<int64_t>((bytes + 3) / 4)}, aoti_torch_dtype_float32());
            scratch = workspace.data();
            if (reinterpret_cast<uintptr_t>(scratch) % 256 != 0) {
                throw OpError(prefix(op_,
                                     "PyTorch's allocator returned a workspace not aligned to "
                                     "256 bytes"),
                              false);
            }
        }
        return fs_cuda_backward(&a, dout, dq, dk, dv, d_head_bias, scratch, stream_, message, size);
    }

private:
    const char* op_;
    int32_t device_;
    cuda_device::DeviceScope scope_;
    void* stream_;
};

}  // namespace

std::unique_ptr<Backend> cuda_backend(const char* op, int32_t device_index) {
    return std::make_unique<CudaBackend>(op, device_index);
}

}  // namespace flash_sigmoid
