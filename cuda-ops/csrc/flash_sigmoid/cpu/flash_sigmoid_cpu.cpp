// The C ABI of the CPU kernels: argument checks, the choice of instruction set, and the
// translation of C++ failures into status codes and messages.
#include <atomic>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

#include "../flash_sigmoid.h"
#include "../status.h"
#include "thread_pool.h"

namespace fs_avx512 {
void run_forward(const fs_attention* a, fs_operand out);
void run_backward(const fs_attention* a, fs_operand dout, fs_operand dq, fs_operand dk,
                  fs_operand dv, float* d_head_bias);
}  // namespace fs_avx512
namespace fs_avx2 {
void run_forward(const fs_attention* a, fs_operand out);
void run_backward(const fs_attention* a, fs_operand dout, fs_operand dq, fs_operand dk,
                  fs_operand dv, float* d_head_bias);
}  // namespace fs_avx2
namespace fs_generic {
void run_forward(const fs_attention* a, fs_operand out);
void run_backward(const fs_attention* a, fs_operand dout, fs_operand dq, fs_operand dk,
                  fs_operand dv, float* d_head_bias);
}  // namespace fs_generic

namespace {

enum Isa { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };
const char* const kIsaNames[] = {"generic", "avx2", "avx512"};

bool supported(Isa isa) {
    switch (isa) {
        case kAvx512:
            return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                   __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
        case kAvx2:
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                   __builtin_cpu_supports("f16c");
        default:
            return true;
    }
}

int parse_isa(const char* name) {
    for (int i = 0; i < 3; ++i) {
        if (name && std::strcmp(name, kIsaNames[i]) == 0) return i;
    }
    return -1;
}

Isa initial_isa() {
    __builtin_cpu_init();
    int forced = parse_isa(std::getenv("FLASH_SIGMOID_CPU_ISA"));
    if (forced >= 0 && supported(static_cast<Isa>(forced))) return static_cast<Isa>(forced);
    if (supported(kAvx512)) return kAvx512;
    if (supported(kAvx2)) return kAvx2;
    return kGeneric;
}

std::atomic<int>& split_kv_enabled() {
    static std::atomic<int> enabled{1};
    return enabled;
}

std::atomic<int>& current_isa() {
    static std::atomic<int> isa{initial_isa()};
    return isa;
}

using flash_sigmoid::fail;

// The kernels index with int64 throughout; these bounds keep every product of two of them and
// the per-thread scratch far from overflow.
constexpr int64_t kMaxExtent = int64_t{1} << 31;
constexpr int64_t kMaxHeadDim = 1024;

int check(const fs_attention* a, char* message, size_t size) {
    if (!a) return fail(FS_INVALID_ARGUMENT, message, size, "attention parameters are NULL");
    // Read as an int: a C caller may store any int in the enum, and loading a value outside its
    // range as fs_dtype is undefined behaviour in C++ (UBSan reports it).
    int dtype;
    std::memcpy(&dtype, &a->dtype, sizeof dtype);
    if (dtype != FS_FLOAT32 && dtype != FS_FLOAT16 && dtype != FS_BFLOAT16) {
        return fail(FS_INVALID_ARGUMENT, message, size, "unknown dtype code %d", dtype);
    }
    if (!a->q.data || !a->k.data || !a->v.data) {
        return fail(FS_INVALID_ARGUMENT, message, size, "q, k or v data pointer is NULL");
    }
    const int64_t dims[] = {a->batch, a->q_len, a->k_len, a->heads, a->kv_heads, a->head_dim};
    const char* names[] = {"batch", "q_len", "k_len", "heads", "kv_heads", "head_dim"};
    for (int i = 0; i < 6; ++i) {
        if (dims[i] < 1 || dims[i] >= kMaxExtent) {
            return fail(FS_INVALID_ARGUMENT, message, size, "%s = %lld is outside [1, 2^31)",
                        names[i], static_cast<long long>(dims[i]));
        }
    }
    if (!std::isfinite(a->scale) || !std::isfinite(a->bias)) {
        return fail(FS_INVALID_ARGUMENT, message, size, "scale (%g) and bias (%g) must be finite",
                    static_cast<double>(a->scale), static_cast<double>(a->bias));
    }
    if (a->heads % a->kv_heads != 0) {
        return fail(FS_INVALID_ARGUMENT, message, size,
                    "heads (%lld) is not a multiple of kv_heads (%lld)",
                    static_cast<long long>(a->heads), static_cast<long long>(a->kv_heads));
    }
    if (a->head_dim > kMaxHeadDim) {
        return fail(FS_INVALID_ARGUMENT, message, size, "head_dim = %lld exceeds %lld",
                    static_cast<long long>(a->head_dim), static_cast<long long>(kMaxHeadDim));
    }
    if (a->key_lengths) {
        for (int64_t b = 0; b < a->batch; ++b) {
            if (a->key_lengths[b] < 0 || a->key_lengths[b] > a->k_len) {
                return fail(FS_INVALID_ARGUMENT, message, size,
                            "key_lengths[%lld] = %lld is outside [0, k_len = %lld]",
                            static_cast<long long>(b), static_cast<long long>(a->key_lengths[b]),
                            static_cast<long long>(a->k_len));
            }
        }
    }
    return FS_OK;
}

template <typename Fn>
int guarded(Fn fn, char* message, size_t size) {
    try {
        fn();
        return FS_OK;
    } catch (const std::bad_alloc&) {
        return fail(FS_OUT_OF_MEMORY, message, size, "out of memory for the kernel's buffers");
    } catch (const std::exception& e) {
        return fail(FS_INTERNAL_ERROR, message, size, "%s", e.what());
    } catch (...) {
        return fail(FS_INTERNAL_ERROR, message, size, "unknown C++ exception");
    }
}

}  // namespace

extern "C" {

int fs_cpu_forward(const fs_attention* a, fs_operand out, char* message, size_t size) {
    int status = check(a, message, size);
    if (status != FS_OK) return status;
    if (!out.data) return fail(FS_INVALID_ARGUMENT, message, size, "out data pointer is NULL");
    return guarded(
        [&] {
            switch (current_isa().load()) {
                case kAvx512:
                    fs_avx512::run_forward(a, out);
                    break;
                case kAvx2:
                    fs_avx2::run_forward(a, out);
                    break;
                default:
                    fs_generic::run_forward(a, out);
            }
        },
        message, size);
}

int fs_cpu_backward(const fs_attention* a, fs_operand dout, fs_operand dq, fs_operand dk,
                    fs_operand dv, float* d_head_bias, char* message, size_t size) {
    int status = check(a, message, size);
    if (status != FS_OK) return status;
    if (!dout.data || !dq.data || !dk.data || !dv.data) {
        return fail(FS_INVALID_ARGUMENT, message, size, "dout, dq, dk or dv data pointer is NULL");
    }
    return guarded(
        [&] {
            switch (current_isa().load()) {
                case kAvx512:
                    fs_avx512::run_backward(a, dout, dq, dk, dv, d_head_bias);
                    break;
                case kAvx2:
                    fs_avx2::run_backward(a, dout, dq, dk, dv, d_head_bias);
                    break;
                default:
                    fs_generic::run_backward(a, dout, dq, dk, dv, d_head_bias);
            }
        },
        message, size);
}

void fs_cpu_set_num_threads(int threads) {
    flash_sigmoid::ThreadPool::instance().set_threads(threads);
}

int fs_cpu_get_num_threads(void) {
    return flash_sigmoid::ThreadPool::instance().threads();
}

const char* fs_cpu_isa(void) {
    return kIsaNames[current_isa().load()];
}

void fs_cpu_set_split_kv(int enabled) {
    split_kv_enabled().store(enabled != 0 ? 1 : 0);
}

int fs_cpu_get_split_kv(void) {
    return split_kv_enabled().load();
}

int fs_cpu_set_isa(const char* isa) {
    int parsed = parse_isa(isa);
    if (parsed < 0 || !supported(static_cast<Isa>(parsed))) return FS_INVALID_ARGUMENT;
    current_isa().store(parsed);
    return FS_OK;
}

}  // extern "C"
