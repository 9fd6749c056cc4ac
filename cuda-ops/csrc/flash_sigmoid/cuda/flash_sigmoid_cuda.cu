// The C ABI of the CUDA kernels (fs_cuda_* in flash_sigmoid.h): argument checks, the choice of
// kernel family and head dim, and the translation of CUDA and C++ failures into status codes.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include <type_traits>

#include "../flash_sigmoid.h"
#include "../status.h"
#include "launch.h"
#include "params.h"

namespace fsc = flash_sigmoid::cuda;

namespace {

using flash_sigmoid::fail;

// Head dims compiled into this library (the build defines FS_CUDA_HDIM_<d>).
constexpr int kHeadDims[] = {
#ifdef FS_CUDA_HDIM_32
    32,
#endif
#ifdef FS_CUDA_HDIM_64
    64,
#endif
#ifdef FS_CUDA_HDIM_96
    96,
#endif
#ifdef FS_CUDA_HDIM_128
    128,
#endif
#ifdef FS_CUDA_HDIM_256
    256,
#endif
    0};  // sentinel, so the array is never empty

bool head_dim_compiled(int64_t d) {
    for (int c : kHeadDims)
        if (c != 0 && c == d) return true;
    return false;
}

std::string compiled_list() {
    std::string s;
    for (int c : kHeadDims) {
        if (c == 0) continue;
        if (!s.empty()) s += ", ";
        s += std::to_string(c);
    }
    return s.empty() ? "none" : s;
}

// Per-device properties, queried once per device.
struct DeviceInfo {
    int num_sms = 0;
    int major = 0;
};

cudaError_t device_info(DeviceInfo* out) {
    static std::mutex mutex;
    static std::vector<DeviceInfo> cache;
    static std::vector<bool> known;
    int dev = 0;
    cudaError_t err = cudaGetDevice(&dev);
    if (err != cudaSuccess) return err;
    std::lock_guard<std::mutex> lock(mutex);
    if (dev >= static_cast<int>(cache.size())) {
        cache.resize(dev + 1);
        known.resize(dev + 1, false);
    }
    if (!known[dev]) {
        DeviceInfo info;
        err = cudaDeviceGetAttribute(&info.num_sms, cudaDevAttrMultiProcessorCount, dev);
        if (err != cudaSuccess) return err;
        err = cudaDeviceGetAttribute(&info.major, cudaDevAttrComputeCapabilityMajor, dev);
        if (err != cudaSuccess) return err;
        cache[dev] = info;
        known[dev] = true;
    }
    *out = cache[dev];
    return cudaSuccess;
}

constexpr int64_t kMaxExtent = int64_t{1} << 31;

// Checks one operand: last stride 1, others multiples of 8 elements (16-byte rows for cp.async
// and vector stores), data 16-byte aligned, and the largest offset addressable.
int check_operand(const char* name, const fs_operand& op, int64_t d0, int64_t d1, int64_t d2,
                  int64_t d3, char* message, size_t size) {
    if (d0 == 0 || d1 == 0 || d2 == 0 || d3 == 0) return FS_OK;  // never touched
    if (!op.data) return fail(FS_INVALID_ARGUMENT, message, size, "%s data pointer is NULL", name);
    if (reinterpret_cast<uintptr_t>(op.data) % 16 != 0) {
        return fail(FS_INVALID_ARGUMENT, message, size, "%s data pointer %p is not 16-byte aligned",
                    name, op.data);
    }
    if (op.stride[3] != 1) {
        return fail(FS_INVALID_ARGUMENT, message, size,
                    "%s last stride is %lld; the CUDA kernels need 1 (contiguous head dim)", name,
                    static_cast<long long>(op.stride[3]));
    }
    const int64_t dims[3] = {d0, d1, d2};
    for (int i = 0; i < 3; ++i) {
        if (op.stride[i] < 0 || op.stride[i] % 8 != 0) {
            return fail(FS_INVALID_ARGUMENT, message, size,
                        "%s stride[%d] = %lld is not a non-negative multiple of 8 elements", name,
                        i, static_cast<long long>(op.stride[i]));
        }
        if (dims[i] > 1 && op.stride[i] > (int64_t{1} << 60) / dims[i]) {
            return fail(FS_INVALID_ARGUMENT, message, size, "%s stride[%d] = %lld is too large",
                        name, i, static_cast<long long>(op.stride[i]));
        }
    }
    return FS_OK;
}

int check_common(const fs_attention* a, char* message, size_t size) {
    if (!a) return fail(FS_INVALID_ARGUMENT, message, size, "attention parameters are NULL");
    if (a->dtype != FS_FLOAT16 && a->dtype != FS_BFLOAT16) {
        return fail(FS_INVALID_ARGUMENT, message, size,
                    "dtype %d (%s) is not supported by the CUDA kernels (float16 or bfloat16 only)",
                    static_cast<int>(a->dtype), a->dtype == FS_FLOAT32 ? "float32" : "unknown");
    }
    const int64_t dims[] = {a->batch, a->q_len, a->k_len, a->heads, a->kv_heads, a->head_dim};
    const char* names[] = {"batch", "q_len", "k_len", "heads", "kv_heads", "head_dim"};
    for (int i = 0; i < 6; ++i) {
        if (dims[i] < 0 || dims[i] >= kMaxExtent) {
            return fail(FS_INVALID_ARGUMENT, message, size, "%s = %lld is outside [0, 2^31)",
                        names[i], static_cast<long long>(dims[i]));
        }
    }
    if (!head_dim_compiled(a->head_dim)) {
        return fail(FS_INVALID_ARGUMENT, message, size,
                    "head_dim %lld is not supported by the CUDA kernels (compiled: %s)",
                    static_cast<long long>(a->head_dim), compiled_list().c_str());
    }
    if (!std::isfinite(a->scale) || !std::isfinite(a->bias)) {
        return fail(FS_INVALID_ARGUMENT, message, size, "scale (%g) and bias (%g) must be finite",
                    static_cast<double>(a->scale), static_cast<double>(a->bias));
    }
    if (a->heads > 0 && (a->kv_heads < 1 || a->heads % a->kv_heads != 0)) {
        return fail(FS_INVALID_ARGUMENT, message, size,
                    "heads (%lld) is not a multiple of kv_heads (%lld)",
                    static_cast<long long>(a->heads), static_cast<long long>(a->kv_heads));
    }
    // Grid dimensions y and z carry heads and batch.
    if (a->heads > 65535 || a->batch > 65535) {
        return fail(FS_INVALID_ARGUMENT, message, size,
                    "heads = %lld or batch = %lld exceeds 65535 (CUDA grid limit)",
                    static_cast<long long>(a->heads), static_cast<long long>(a->batch));
    }
    if (a->keep) {
        for (int i = 0; i < 4; ++i) {
            if (a->keep_stride[i] < 0) {
                return fail(FS_INVALID_ARGUMENT, message, size,
                            "keep_stride[%d] = %lld is negative", i,
                            static_cast<long long>(a->keep_stride[i]));
            }
        }
    }
    const int64_t B = a->batch, Tq = a->q_len, Tk = a->k_len, H = a->heads, G = a->kv_heads,
                  D = a->head_dim;
    int status = check_operand("q", a->q, B, Tq, H, D, message, size);
    if (status == FS_OK) status = check_operand("k", a->k, B, Tk, G, D, message, size);
    if (status == FS_OK) status = check_operand("v", a->v, B, Tk, G, D, message, size);
    return status;
}

void fill_fwd(const fs_attention* a, const fs_operand& out, const DeviceInfo& info,
              fsc::FwdParams* p) {
    p->q = a->q.data;
    p->k = a->k.data;
    p->v = a->v.data;
    p->o = out.data;
    p->q_batch_stride = a->q.stride[0];
    p->q_row_stride = a->q.stride[1];
    p->q_head_stride = a->q.stride[2];
    p->k_batch_stride = a->k.stride[0];
    p->k_row_stride = a->k.stride[1];
    p->k_head_stride = a->k.stride[2];
    p->v_batch_stride = a->v.stride[0];
    p->v_row_stride = a->v.stride[1];
    p->v_head_stride = a->v.stride[2];
    p->o_batch_stride = out.stride[0];
    p->o_row_stride = out.stride[1];
    p->o_head_stride = out.stride[2];
    p->batch = static_cast<int>(a->batch);
    p->q_len = static_cast<int>(a->q_len);
    p->k_len = static_cast<int>(a->k_len);
    p->heads = static_cast<int>(a->heads);
    p->kv_heads = static_cast<int>(a->kv_heads);
    p->head_dim = static_cast<int>(a->head_dim);
    p->group = a->kv_heads > 0 ? static_cast<int>(a->heads / a->kv_heads) : 1;
    p->scale = a->scale;
    p->bias = a->bias;
    p->causal = a->causal != 0;
    p->head_bias = a->head_bias;
    p->alibi_slopes = a->alibi_slopes;
    p->keep = a->keep;
    for (int i = 0; i < 4; ++i) p->keep_stride[i] = a->keep ? a->keep_stride[i] : 0;
    p->key_lengths = a->key_lengths;
    p->is_bf16 = a->dtype == FS_BFLOAT16;
    p->num_sms = info.num_sms;
    p->cc_major = info.major;
}

// Calls fn(std::integral_constant<int, D>{}) for the compiled head dim D equal to head_dim;
// false if it is not compiled. One list of head dims for every kernel family.
template <typename Fn>
bool with_head_dim(int head_dim, Fn&& fn) {
    switch (head_dim) {
#ifdef FS_CUDA_HDIM_32
        case 32:
            fn(std::integral_constant<int, 32>{});
            return true;
#endif
#ifdef FS_CUDA_HDIM_64
        case 64:
            fn(std::integral_constant<int, 64>{});
            return true;
#endif
#ifdef FS_CUDA_HDIM_96
        case 96:
            fn(std::integral_constant<int, 96>{});
            return true;
#endif
#ifdef FS_CUDA_HDIM_128
        case 128:
            fn(std::integral_constant<int, 128>{});
            return true;
#endif
#ifdef FS_CUDA_HDIM_256
        case 256:
            fn(std::integral_constant<int, 256>{});
            return true;
#endif
        default:
            return false;
    }
}

// The sm90 family covers head dims 64 and 128 on compute capability 9.x, scalar bias, head_bias,
// causal and GQA (sm90_forward_supports decides the rest).
bool use_sm90(const fsc::FwdParams& p, const DeviceInfo& info) {
#ifdef FS_CUDA_SM90
    return info.major == 9 && fsc::sm90_forward_supports(p);
#else
    (void)p;
    (void)info;
    return false;
#endif
}

template <typename T>
void dispatch_forward(const fsc::FwdParams& p, const DeviceInfo& info, cudaStream_t s) {
    const bool sm90 = use_sm90(p, info);
    const bool decode = fsc::decode_supports(p);
    const bool done = with_head_dim(p.head_dim, [&](auto d) {
        constexpr int D = decltype(d)::value;
        if constexpr (D == 64 || D == 128) {
            if (decode) return fsc::run_decode<T, D>(p, s);
        }
#ifdef FS_CUDA_SM90
        if constexpr (D == 64 || D == 128) {
            if (sm90) return fsc::run_forward_sm90<T, D>(p, s);
        }
#endif
        fsc::run_forward_generic<T, D>(p, s);
    });
    if (!done) throw std::invalid_argument("head dim not compiled");
}

template <typename T>
void dispatch_backward(const fsc::BwdParams& p, const DeviceInfo& info, cudaStream_t s) {
    const bool sm90 = use_sm90(p, info) && fsc::sm90_backward_supports(p);
    const bool done = with_head_dim(p.head_dim, [&](auto d) {
        constexpr int D = decltype(d)::value;
#ifdef FS_CUDA_SM90
        if constexpr (D == 64 || D == 128) {
            if (sm90) return fsc::run_backward_sm90<T, D>(p, s);
        }
#endif
        fsc::run_backward_generic<T, D>(p, s);
    });
    if (!done) throw std::invalid_argument("head dim not compiled");
}

template <typename Fn>
int guarded(Fn fn, char* message, size_t size) {
    try {
        return fn();
    } catch (const std::bad_alloc&) {
        return fail(FS_OUT_OF_MEMORY, message, size, "out of host memory");
    } catch (const std::invalid_argument& e) {
        return fail(FS_INVALID_ARGUMENT, message, size, "%s", e.what());
    } catch (const std::exception& e) {
        return fail(FS_INTERNAL_ERROR, message, size, "%s", e.what());
    } catch (...) {
        return fail(FS_INTERNAL_ERROR, message, size, "unknown C++ exception");
    }
}

int cuda_fail(cudaError_t err, const char* what, char* message, size_t size) {
    return fail(err == cudaErrorMemoryAllocation ? FS_OUT_OF_MEMORY : FS_INTERNAL_ERROR, message,
                size, "%s: %s", what, cudaGetErrorString(err));
}

size_t workspace_bytes(const fs_attention* a) {
    const size_t n = static_cast<size_t>(a->batch) * a->q_len * a->heads * a->head_dim;
    return (n * sizeof(float) + 255) / 256 * 256;
}

}  // namespace

extern "C" {

int fs_cuda_head_dims(int* out, int capacity) {
    int n = 0;
    for (int c : kHeadDims) {
        if (c == 0) continue;
        if (out && n < capacity) out[n] = c;
        ++n;
    }
    return n;
}

int fs_cuda_available(void) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the error a missing driver or device leaves behind
        return 0;
    }
    return count > 0 ? 1 : 0;
}

int fs_cuda_forward(const fs_attention* a, fs_operand out, void* stream, char* message,
                    size_t size) {
    int status = check_common(a, message, size);
    if (status != FS_OK) return status;
    status = check_operand("out", out, a->batch, a->q_len, a->heads, a->head_dim, message, size);
    if (status != FS_OK) return status;
    if (a->batch == 0 || a->q_len == 0 || a->heads == 0) return FS_OK;
    return guarded(
        [&]() -> int {
            DeviceInfo info;
            cudaError_t err = device_info(&info);
            if (err != cudaSuccess)
                return cuda_fail(err, "querying the CUDA device", message, size);
            fsc::FwdParams p{};
            fill_fwd(a, out, info, &p);
            cudaStream_t s = static_cast<cudaStream_t>(stream);
            // k_len == 0 needs no special case: every query block sees no key block and the
            // kernel writes zeros.
            if (p.is_bf16) {
                dispatch_forward<__nv_bfloat16>(p, info, s);
            } else {
                dispatch_forward<__half>(p, info, s);
            }
            err = cudaGetLastError();
            if (err != cudaSuccess) return cuda_fail(err, "flash_sigmoid forward", message, size);
            return FS_OK;
        },
        message, size);
}

size_t fs_cuda_backward_workspace_size(const fs_attention* a) {
    if (!a || a->batch <= 0 || a->q_len <= 0 || a->heads <= 0 || a->head_dim <= 0) return 0;
    return workspace_bytes(a);
}

int fs_cuda_backward(const fs_attention* a, fs_operand dout, fs_operand dq, fs_operand dk,
                     fs_operand dv, float* d_head_bias, void* workspace, void* stream,
                     char* message, size_t size) {
    int status = check_common(a, message, size);
    if (status != FS_OK) return status;
    const int64_t B = a->batch, Tq = a->q_len, Tk = a->k_len, H = a->heads, G = a->kv_heads,
                  D = a->head_dim;
    status = check_operand("dout", dout, B, Tq, H, D, message, size);
    if (status == FS_OK) status = check_operand("dq", dq, B, Tq, H, D, message, size);
    if (status == FS_OK) status = check_operand("dk", dk, B, Tk, G, D, message, size);
    if (status == FS_OK) status = check_operand("dv", dv, B, Tk, G, D, message, size);
    if (status != FS_OK) return status;
    if (B == 0 || H == 0) return FS_OK;
    const size_t ws_bytes = fs_cuda_backward_workspace_size(a);
    if (ws_bytes > 0 && (!workspace || reinterpret_cast<uintptr_t>(workspace) % 16 != 0)) {
        return fail(FS_INVALID_ARGUMENT, message, size,
                    "workspace %p is NULL or not 16-byte aligned (%zu bytes needed)", workspace,
                    ws_bytes);
    }
    return guarded(
        [&]() -> int {
            DeviceInfo info;
            cudaError_t err = device_info(&info);
            if (err != cudaSuccess)
                return cuda_fail(err, "querying the CUDA device", message, size);
            cudaStream_t s = static_cast<cudaStream_t>(stream);
            fsc::BwdParams p{};
            fill_fwd(a, fs_operand{nullptr, {0, 0, 0, 0}}, info, &p);
            p.dout = dout.data;
            p.dq = dq.data;
            p.dk = dk.data;
            p.dv = dv.data;
            p.do_batch_stride = dout.stride[0];
            p.do_row_stride = dout.stride[1];
            p.do_head_stride = dout.stride[2];
            p.dq_batch_stride = dq.stride[0];
            p.dq_row_stride = dq.stride[1];
            p.dq_head_stride = dq.stride[2];
            p.dk_batch_stride = dk.stride[0];
            p.dk_row_stride = dk.stride[1];
            p.dk_head_stride = dk.stride[2];
            p.dv_batch_stride = dv.stride[0];
            p.dv_row_stride = dv.stride[1];
            p.dv_head_stride = dv.stride[2];
            p.d_head_bias = d_head_bias;
            p.workspace = static_cast<float*>(workspace);
            if (ws_bytes > 0) {
                err = cudaMemsetAsync(workspace, 0, ws_bytes, s);
                if (err != cudaSuccess)
                    return cuda_fail(err, "clearing the dq workspace", message, size);
            }
            if (d_head_bias) {
                err = cudaMemsetAsync(d_head_bias, 0, sizeof(float) * H, s);
                if (err != cudaSuccess)
                    return cuda_fail(err, "clearing d_head_bias", message, size);
            }
            if (p.is_bf16) {
                dispatch_backward<__nv_bfloat16>(p, info, s);
            } else {
                dispatch_backward<__half>(p, info, s);
            }
            err = cudaGetLastError();
            if (err != cudaSuccess) return cuda_fail(err, "flash_sigmoid backward", message, size);
            return FS_OK;
        },
        message, size);
}

const char* fs_cuda_forward_kernel(const fs_attention* a) {
    char buf[8];
    if (check_common(a, buf, sizeof buf) != FS_OK) return nullptr;
    DeviceInfo info;
    if (device_info(&info) != cudaSuccess) {
        cudaGetLastError();
        return nullptr;
    }
    fsc::FwdParams p{};
    fill_fwd(a, fs_operand{nullptr, {0, 0, 0, 0}}, info, &p);
    if (fsc::decode_supports(p)) return "decode";
    return use_sm90(p, info) ? "sm90" : "generic";
}

}  // extern "C"
