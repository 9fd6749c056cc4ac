// An owning wrapper around AtenTensorHandle with the metadata queries the ops need. Every
// failing shim call throws OpError, so ops read as straight-line code.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "stable_abi.h"

namespace flash_sigmoid {

// A failure of an op. `invalid_argument` marks caller mistakes (bad shapes, dtypes, devices),
// which the JNI bridge reports as IllegalArgumentException.
class OpError : public std::runtime_error {
public:
    OpError(const std::string& message, bool invalid_argument)
        : std::runtime_error(message), invalid_argument_(invalid_argument) {}
    bool invalid_argument() const { return invalid_argument_; }

private:
    bool invalid_argument_;
};

[[noreturn]] void throw_invalid(const std::string& message);
void check_shim(AOTITorchError status, const char* what);

class Tensor {
public:
    Tensor() = default;
    // Takes ownership of `handle`.
    explicit Tensor(AtenTensorHandle handle) : handle_(handle) {}
    ~Tensor() { reset(); }
    Tensor(Tensor&& other) noexcept : handle_(other.release()) {}
    Tensor& operator=(Tensor&& other) noexcept {
        if (this != &other) {
            reset();
            handle_ = other.release();
        }
        return *this;
    }
    Tensor(const Tensor&) = delete;
    Tensor& operator=(const Tensor&) = delete;

    // A new owning handle to the same tensor (the caller keeps `borrowed`).
    static Tensor alias(AtenTensorHandle borrowed);
    // A new contiguous tensor.
    static Tensor empty(const std::vector<int64_t>& sizes, int32_t dtype, int32_t device_type,
                        int32_t device_index);

    AtenTensorHandle get() const { return handle_; }
    AtenTensorHandle release() {
        AtenTensorHandle h = handle_;
        handle_ = nullptr;
        return h;
    }
    void reset();
    bool defined() const { return handle_ != nullptr; }

    int64_t dim() const;
    int64_t numel() const;
    std::vector<int64_t> sizes() const;
    std::vector<int64_t> strides() const;
    int32_t dtype() const;
    int32_t device_type() const;
    int32_t device_index() const;
    void* data() const;

private:
    AtenTensorHandle handle_ = nullptr;
};

// "[2, 5, 8]"
std::string format_sizes(const std::vector<int64_t>& sizes);
// "float32", "bfloat16", ... or "dtype code N"
std::string dtype_name(int32_t dtype);
// "cpu", "cuda:1", ...
std::string device_name(const Tensor& t);

}  // namespace flash_sigmoid
