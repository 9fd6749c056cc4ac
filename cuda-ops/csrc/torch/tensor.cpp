#include "tensor.h"

#include <string>

namespace flash_sigmoid {

void throw_invalid(const std::string& message) {
    throw OpError(message, true);
}

void check_shim(AOTITorchError status, const char* what) {
    if (status != AOTI_TORCH_SUCCESS) {
        throw OpError(std::string("PyTorch call failed: ") + what, false);
    }
}

Tensor Tensor::alias(AtenTensorHandle borrowed) {
    AtenTensorHandle h = nullptr;
    check_shim(aoti_torch_new_tensor_handle(borrowed, &h), "aoti_torch_new_tensor_handle");
    return Tensor(h);
}

Tensor Tensor::empty(const std::vector<int64_t>& sizes, int32_t dtype, int32_t device_type,
                     int32_t device_index) {
    std::vector<int64_t> strides(sizes.size());
    int64_t stride = 1;
    for (size_t i = sizes.size(); i-- > 0;) {
        strides[i] = stride;
        stride *= sizes[i] > 0 ? sizes[i] : 1;
    }
    AtenTensorHandle h = nullptr;
    check_shim(aoti_torch_empty_strided(static_cast<int64_t>(sizes.size()), sizes.data(),
                                        strides.data(), dtype, device_type, device_index, &h),
               "aoti_torch_empty_strided (out of memory?)");
    return Tensor(h);
}

void Tensor::reset() {
    if (handle_) {
        aoti_torch_delete_tensor_object(handle_);
        handle_ = nullptr;
    }
}

int64_t Tensor::dim() const {
    int64_t d = 0;
    check_shim(aoti_torch_get_dim(handle_, &d), "aoti_torch_get_dim");
    return d;
}

int64_t Tensor::numel() const {
    int64_t n = 0;
    check_shim(aoti_torch_get_numel(handle_, &n), "aoti_torch_get_numel");
    return n;
}

std::vector<int64_t> Tensor::sizes() const {
    int64_t* p = nullptr;
    check_shim(aoti_torch_get_sizes(handle_, &p), "aoti_torch_get_sizes");
    return std::vector<int64_t>(p, p + dim());
}

std::vector<int64_t> Tensor::strides() const {
    int64_t* p = nullptr;
    check_shim(aoti_torch_get_strides(handle_, &p), "aoti_torch_get_strides");
    return std::vector<int64_t>(p, p + dim());
}

int32_t Tensor::dtype() const {
    int32_t t = 0;
    check_shim(aoti_torch_get_dtype(handle_, &t), "aoti_torch_get_dtype");
    return t;
}

int32_t Tensor::device_type() const {
    int32_t t = 0;
    check_shim(aoti_torch_get_device_type(handle_, &t), "aoti_torch_get_device_type");
    return t;
}

int32_t Tensor::device_index() const {
    int32_t i = 0;
    check_shim(aoti_torch_get_device_index(handle_, &i), "aoti_torch_get_device_index");
    return i;
}

void* Tensor::data() const {
    void* p = nullptr;
    check_shim(aoti_torch_get_data_ptr(handle_, &p), "aoti_torch_get_data_ptr");
    return p;
}

// Plain string building, no iostreams: a copy of this library built on the GPU machine (its
// /opt/gcc g++ 13) crashed under that machine's torch in the one call whose message went through
// std::ostringstream here (cause not established; copies built with g++ 12 ran it fine).
std::string format_sizes(const std::vector<int64_t>& sizes) {
    std::string s = "[";
    for (size_t i = 0; i < sizes.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(sizes[i]);
    }
    return s + "]";
}

std::string dtype_name(int32_t dtype) {
    if (dtype == aoti_torch_dtype_float32()) return "float32";
    if (dtype == aoti_torch_dtype_float16()) return "float16";
    if (dtype == aoti_torch_dtype_bfloat16()) return "bfloat16";
    if (dtype == aoti_torch_dtype_float64()) return "float64";
    if (dtype == aoti_torch_dtype_bool()) return "bool";
    if (dtype == aoti_torch_dtype_uint8()) return "uint8";
    if (dtype == aoti_torch_dtype_int8()) return "int8";
    if (dtype == aoti_torch_dtype_int16()) return "int16";
    if (dtype == aoti_torch_dtype_int32()) return "int32";
    if (dtype == aoti_torch_dtype_int64()) return "int64";
    return "dtype code " + std::to_string(dtype);
}

std::string device_name(const Tensor& t) {
    int32_t type = t.device_type();
    if (type == aoti_torch_device_type_cpu()) return "cpu";
    std::string name =
        type == aoti_torch_device_type_cuda() ? "cuda" : "device type " + std::to_string(type);
    return name + ":" + std::to_string(t.device_index());
}

}  // namespace flash_sigmoid
