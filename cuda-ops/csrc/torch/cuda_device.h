// What the CUDA path of the ops needs beyond the kernels: PyTorch's current stream and the
// current CUDA device. Compiled (cuda_device.cpp) only when the library has CUDA kernels
// (FS_WITH_CUDA); this header includes no CUDA headers.
//
// aoti_torch_get_current_cuda_stream lives in libtorch_cuda.so, not libtorch_cpu.so, so it is
// looked up at run time and never declared in stable_abi.h: the library must keep loading into
// DJL's CPU-only libtorch, and torch.ops.load_library binds every import eagerly.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flash_sigmoid::cuda_device {

// PyTorch's current stream (a cudaStream_t) on CUDA device `device_index`. Throws OpError naming
// `op` when libtorch_cuda.so is not loaded or the call fails.
void* current_stream(const char* op, int32_t device_index);

// Zeroes `bytes` bytes of device memory at `data`, ordered on `stream`.
void zero_async(const char* op, void* data, size_t bytes, void* stream);

// Makes `device_index` the calling thread's current CUDA device for its lifetime, and restores
// the previous one.
class DeviceScope {
public:
    DeviceScope(const char* op, int32_t device_index);
    ~DeviceScope();
    DeviceScope(const DeviceScope&) = delete;
    DeviceScope& operator=(const DeviceScope&) = delete;

private:
    int previous_ = 0;
    bool changed_ = false;
};

}  // namespace flash_sigmoid::cuda_device
