#include "cuda_device.h"

#include <cuda_runtime.h>
#include <dlfcn.h>
#include <link.h>

#include <atomic>
#include <cstring>
#include <string>

#include "tensor.h"

namespace flash_sigmoid::cuda_device {
namespace {

constexpr const char* kStreamFunction = "aoti_torch_get_current_cuda_stream";
using GetStream = AOTITorchError (*)(int32_t device_index, void** ret_stream);

// The path of a loaded object whose file name starts with libtorch_cuda, or empty.
int find_torch_cuda(struct dl_phdr_info* info, size_t, void* data) {
    const char* name = info->dlpi_name;
    if (!name || !*name) return 0;
    const char* base = std::strrchr(name, '/');
    base = base ? base + 1 : name;
    if (std::strncmp(base, "libtorch_cuda", 13) != 0) return 0;
    *static_cast<std::string*>(data) = name;
    return 1;
}

GetStream lookup() {
    // In the global scope when libtorch_cuda.so was loaded RTLD_GLOBAL (a C++ program linked
    // against it, or PyTorch built with USE_RTLD_GLOBAL_WITH_LIBTORCH).
    if (void* p = dlsym(RTLD_DEFAULT, kStreamFunction)) return reinterpret_cast<GetStream>(p);
    // Python's torch loads it as a dependency of its extension, locally: find the loaded copy
    // (never load another one) and look the function up in it.
    void* handle = dlopen("libtorch_cuda.so", RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
    if (!handle) {
        std::string path;
        dl_iterate_phdr(&find_torch_cuda, &path);
        if (!path.empty()) handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
    }
    if (!handle) return nullptr;
    // The reference taken by dlopen is kept: libtorch_cuda.so stays as long as the process.
    return reinterpret_cast<GetStream>(dlsym(handle, kStreamFunction));
}

GetStream stream_function(const char* op) {
    static std::atomic<GetStream> cached{nullptr};
    GetStream fn = cached.load(std::memory_order_acquire);
    if (fn) return fn;
    fn = lookup();
    if (!fn) {
        throw OpError(std::string("flash_sigmoid::") + op + ": " + kStreamFunction +
                          " not found: the CUDA ops need PyTorch's libtorch_cuda.so loaded in "
                          "this process",
                      false);
    }
    cached.store(fn, std::memory_order_release);
    return fn;
}

[[noreturn]] void cuda_failure(const char* op, const char* what, cudaError_t status) {
    throw OpError(std::string("flash_sigmoid::") + op + ": " + what + " failed: " +
                      cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")",
                  false);
}

}  // namespace

void* current_stream(const char* op, int32_t device_index) {
    void* stream = nullptr;
    if (stream_function(op)(device_index, &stream) != AOTI_TORCH_SUCCESS) {
        throw OpError(std::string("flash_sigmoid::") + op + ": " + kStreamFunction + "(" +
                          std::to_string(device_index) + ") failed",
                      false);
    }
    return stream;
}

void zero_async(const char* op, void* data, size_t bytes, void* stream) {
    if (bytes == 0) return;
    cudaError_t status = cudaMemsetAsync(data, 0, bytes, static_cast<cudaStream_t>(stream));
    if (status != cudaSuccess) cuda_failure(op, "cudaMemsetAsync", status);
}

DeviceScope::DeviceScope(const char* op, int32_t device_index) {
    cudaError_t status = cudaGetDevice(&previous_);
    if (status != cudaSuccess) cuda_failure(op, "cudaGetDevice", status);
    if (previous_ != device_index) {
        status = cudaSetDevice(device_index);
        if (status != cudaSuccess) cuda_failure(op, "cudaSetDevice", status);
        changed_ = true;
    }
}

DeviceScope::~DeviceScope() {
    if (changed_) cudaSetDevice(previous_);
}

}  // namespace flash_sigmoid::cuda_device
