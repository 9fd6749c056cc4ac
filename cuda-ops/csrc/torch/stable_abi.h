// The part of PyTorch's stable C ABI (the aoti_torch_* shim) that this library calls, declared
// here because no libtorch headers exist for DJL's libtorch 2.7.1. Every symbol is exported by
// libtorch_cpu.so 2.7.1 (the build links with --no-undefined against it, and
// cuda-ops/scripts/check-abi-symbols.sh compares this list with `nm -D`) and by newer releases,
// which keep these signatures stable. CUDA-only functions live in libtorch_cuda.so and are looked
// up at run time instead (see cuda_device.h).
#pragma once

#include <cstdint>

extern "C" {

struct AtenTensorOpaque;
using AtenTensorHandle = AtenTensorOpaque*;  // an at::Tensor* owned by whoever holds it
struct TorchLibraryOpaque;
using TorchLibraryHandle = TorchLibraryOpaque*;
using AOTITorchError = int32_t;  // 0 on success
using StableIValue = uint64_t;   // one slot of a boxed call's stack

constexpr AOTITorchError AOTI_TORCH_SUCCESS = 0;

int32_t aoti_torch_device_type_cpu();
int32_t aoti_torch_device_type_cuda();

int32_t aoti_torch_dtype_float32();
int32_t aoti_torch_dtype_float16();
int32_t aoti_torch_dtype_bfloat16();
int32_t aoti_torch_dtype_float64();
int32_t aoti_torch_dtype_bool();
int32_t aoti_torch_dtype_uint8();
int32_t aoti_torch_dtype_int8();
int32_t aoti_torch_dtype_int16();
int32_t aoti_torch_dtype_int32();
int32_t aoti_torch_dtype_int64();

AOTITorchError aoti_torch_get_data_ptr(AtenTensorHandle tensor, void** ret_data_ptr);
AOTITorchError aoti_torch_get_dim(AtenTensorHandle tensor, int64_t* ret_dim);
AOTITorchError aoti_torch_get_numel(AtenTensorHandle tensor, int64_t* ret_numel);
AOTITorchError aoti_torch_get_sizes(AtenTensorHandle tensor, int64_t** ret_sizes);
AOTITorchError aoti_torch_get_strides(AtenTensorHandle tensor, int64_t** ret_strides);
AOTITorchError aoti_torch_get_dtype(AtenTensorHandle tensor, int32_t* ret_dtype);
AOTITorchError aoti_torch_get_device_type(AtenTensorHandle tensor, int32_t* ret_device_type);
AOTITorchError aoti_torch_get_device_index(AtenTensorHandle tensor, int32_t* ret_device_index);

AOTITorchError aoti_torch_empty_strided(int64_t ndim, const int64_t* sizes_ptr,
                                        const int64_t* strides_ptr, int32_t dtype,
                                        int32_t device_type, int32_t device_index,
                                        AtenTensorHandle* ret_new_tensor);
AOTITorchError aoti_torch_new_tensor_handle(AtenTensorHandle orig_handle,
                                            AtenTensorHandle* new_handle);
AOTITorchError aoti_torch_delete_tensor_object(AtenTensorHandle tensor);
// self.copy_(src): converts dtype and device.
AOTITorchError aoti_torch_copy_(AtenTensorHandle self, AtenTensorHandle src, int32_t non_blocking);

AOTITorchError aoti_torch_library_init_def(const char* ns, const char* file, uint32_t line,
                                           TorchLibraryHandle* ret_new_torch_lib);
AOTITorchError aoti_torch_library_init_impl(const char* ns, const char* dispatch_key,
                                            const char* file, uint32_t line,
                                            TorchLibraryHandle* ret_new_torch_lib);
AOTITorchError aoti_torch_library_def(TorchLibraryHandle self, const char* schema);
// A boxed kernel receives the arguments in stack[0..num_args) (it owns every tensor handle) and
// writes new handles for its outputs into stack[0..num_outputs).
AOTITorchError aoti_torch_library_impl(TorchLibraryHandle self, const char* name,
                                       void (*fn)(StableIValue* stack, uint64_t num_args,
                                                  uint64_t num_outputs));
// Calls an operator by name; consumes the tensor handles on the stack and leaves new handles for
// the outputs in stack[0..].
AOTITorchError aoti_torch_call_dispatcher(const char* op_name, const char* overload_name,
                                          StableIValue* stack);

}  // extern "C"
