// Argument checks of the op, made once per call: shapes, dtypes, devices, optional arguments and
// scalars, with messages that name flash_sigmoid::<op>, the argument and the values seen.
#include "validate.h"

#include <cmath>
#include <string>
#include <vector>

namespace flash_sigmoid {
namespace {

constexpr int64_t kMaxExtent = (int64_t{1} << 31) - 1;
#ifdef FS_WITH_CUDA
constexpr const char* kDevices = "cpu and cuda";
#else
constexpr const char* kDevices = "cpu only";
#endif

}  // namespace

std::string prefix(const char* op, const char* arg) {
    return std::string("flash_sigmoid::") + op + ": " + arg;
}

bool is_empty(AtenTensorHandle h) {
    if (!h) return true;
    int64_t n = 0;
    check_shim(aoti_torch_get_numel(h, &n), "aoti_torch_get_numel");
    return n == 0;
}

fs_dtype kernel_dtype(int32_t dtype) {
    if (dtype == aoti_torch_dtype_float16()) return FS_FLOAT16;
    if (dtype == aoti_torch_dtype_bfloat16()) return FS_BFLOAT16;
    return FS_FLOAT32;
}

// The values of k_lens as int32 on the host (copied from the device when it lives there).
std::vector<int32_t> key_length_values(AtenTensorHandle h) {
    Tensor t = Tensor::alias(h);
    if (t.device_type() != aoti_torch_device_type_cpu()) {
        Tensor host = Tensor::empty(t.sizes(), t.dtype(), aoti_torch_device_type_cpu(), 0);
        check_shim(aoti_torch_copy_(host.get(), t.get(), 0), "aoti_torch_copy_");
        t = std::move(host);
    }
    const int64_t n = t.sizes()[0], stride = t.strides()[0];
    std::vector<int32_t> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        int64_t value = t.dtype() == aoti_torch_dtype_int64()
                            ? static_cast<const int64_t*>(t.data())[i * stride]
                            : static_cast<const int32_t*>(t.data())[i * stride];
        // Clamped so that a value past int32 still fails the range check below.
        if (value > kMaxExtent) value = kMaxExtent;
        if (value < -1) value = -1;
        out[i] = static_cast<int32_t>(value);
    }
    return out;
}

namespace {

// A borrowed view with the metadata, for validation.
struct Info {
    Tensor t;
    std::vector<int64_t> sizes;
    std::vector<int64_t> strides;
    int32_t dtype;
    int32_t device_type;
    int32_t device_index;

    explicit Info(AtenTensorHandle h) : t(Tensor::alias(h)) {
        sizes = t.sizes();
        strides = t.strides();
        dtype = t.dtype();
        device_type = t.device_type();
        device_index = t.device_index();
    }
};

bool floating_storage(int32_t dtype) {
    return dtype == aoti_torch_dtype_float32() || dtype == aoti_torch_dtype_float16() ||
           dtype == aoti_torch_dtype_bfloat16();
}

void require_4d(const char* op, const char* arg, const Info& x, const char* layout) {
    if (!x.t.defined()) throw_invalid(prefix(op, arg) + " is missing");
    if (x.sizes.size() != 4) {
        throw_invalid(prefix(op, arg) + " must be 4-D " + layout + ", got " +
                      std::to_string(x.sizes.size()) + "-D " + format_sizes(x.sizes));
    }
    if (!floating_storage(x.dtype)) {
        throw_invalid(prefix(op, arg) + " must be float32, float16 or bfloat16, got " +
                      dtype_name(x.dtype));
    }
    for (int64_t s : x.sizes) {
        if (s > kMaxExtent) {
            throw_invalid(prefix(op, arg) + " has a dimension of " + std::to_string(s) +
                          ", above the 2^31 - 1 these kernels support, in " +
                          format_sizes(x.sizes));
        }
    }
}

void require_same_place(const char* op, const char* arg, const Info& x, const Info& q) {
    if (x.dtype != q.dtype) {
        throw_invalid(prefix(op, arg) + " is " + dtype_name(x.dtype) + " but q is " +
                      dtype_name(q.dtype) + "; all inputs need one dtype");
    }
    if (x.device_type != q.device_type || x.device_index != q.device_index) {
        throw_invalid(prefix(op, arg) + " is on " + device_name(x.t) + " but q is on " +
                      device_name(q.t));
    }
}

void require_on_device_of(const char* op, const char* arg, const Info& x, const Info& q) {
    if (x.device_type != q.device_type || x.device_index != q.device_index) {
        throw_invalid(prefix(op, arg) + " is on " + device_name(x.t) + " but q is on " +
                      device_name(q.t));
    }
}

void require_head_vector(const char* op, const char* arg, AtenTensorHandle h, const Info& q) {
    if (is_empty(h)) return;
    Info x(h);
    int64_t heads = q.sizes[2];
    if (x.sizes.size() != 1 || x.sizes[0] != heads) {
        throw_invalid(prefix(op, arg) + " must have shape [" + std::to_string(heads) +
                      "] (one value per query head), got " + format_sizes(x.sizes));
    }
    if (x.dtype != aoti_torch_dtype_float32()) {
        throw_invalid(prefix(op, arg) + " must be float32, got " + dtype_name(x.dtype));
    }
    require_on_device_of(op, arg, x, q);
}

// "No mask" is a null handle or a 1-D empty tensor; a 4-D mask with no elements (Tq or Tk of 0)
// is still a mask and must have a matching shape.
bool is_none(AtenTensorHandle h) {
    if (!h) return true;
    int64_t dim = 0;
    check_shim(aoti_torch_get_dim(h, &dim), "aoti_torch_get_dim");
    return dim == 1 && is_empty(h);
}

void require_keep(const char* op, AtenTensorHandle h, const Info& q, int64_t tk) {
    if (is_none(h)) return;
    Info x(h);
    const int64_t full[4] = {q.sizes[0], q.sizes[2], q.sizes[1], tk};
    bool ok = x.sizes.size() == 4;
    for (int i = 0; ok && i < 4; ++i) ok = x.sizes[i] == 1 || x.sizes[i] == full[i];
    if (!ok) {
        throw_invalid(
            prefix(op, "keep") + " must be 4-D with each dimension 1 or (B, H, Tq, Tk) = " +
            format_sizes({full[0], full[1], full[2], full[3]}) + ", got " + format_sizes(x.sizes));
    }
    if (x.dtype != aoti_torch_dtype_bool() && x.dtype != aoti_torch_dtype_uint8()) {
        throw_invalid(prefix(op, "keep") + " must be bool or uint8, got " + dtype_name(x.dtype));
    }
    require_on_device_of(op, "keep", x, q);
}

// The values of k_lens as int32 on the host (copied from the device when it lives there).

void require_key_lengths(const char* op, AtenTensorHandle h, const Info& q, int64_t tk) {
    if (is_empty(h)) return;
    Info x(h);
    if (x.sizes.size() != 1 || x.sizes[0] != q.sizes[0]) {
        throw_invalid(prefix(op, "k_lens") + " must have shape [" + std::to_string(q.sizes[0]) +
                      "] (one key length per sequence), got " + format_sizes(x.sizes));
    }
    if (x.dtype != aoti_torch_dtype_int32() && x.dtype != aoti_torch_dtype_int64()) {
        throw_invalid(prefix(op, "k_lens") + " must be int32 or int64, got " + dtype_name(x.dtype));
    }
    if (x.device_type != aoti_torch_device_type_cpu() &&
        (x.device_type != q.device_type || x.device_index != q.device_index)) {
        throw_invalid(prefix(op, "k_lens") + " is on " + device_name(x.t) +
                      "; it must be on the CPU or on the device of q, " + device_name(q.t));
    }
    // Values on a GPU are not read back (that would wait for the device on every call): the CUDA
    // kernels clamp them to [0, Tk]. Values on the CPU are checked.
    if (x.device_type != aoti_torch_device_type_cpu()) return;
    std::vector<int32_t> lens = key_length_values(h);
    for (size_t b = 0; b < lens.size(); ++b) {
        if (lens[b] < 0 || lens[b] > tk) {
            throw_invalid(
                prefix(op, "k_lens") + "[" + std::to_string(b) + "] = " +
                (lens[b] == kMaxExtent ? std::string(">= 2^31 - 1") : std::to_string(lens[b])) +
                " is outside [0, Tk = " + std::to_string(tk) + "]");
        }
    }
}

// The kernels compute in float32: a scalar must be finite there. A NaN or infinite scale or bias
// would turn every weight into NaN (0 * inf where q.k = 0), not into a defined limit.
void require_finite_scalar(const char* op, const char* name, double value) {
    if (!std::isfinite(static_cast<float>(value))) {
        throw_invalid(prefix(op, name) + " must be a finite float32 value, got " +
                      std::to_string(value));
    }
}

}  // namespace

void validate(const char* op, const AttentionArgs& a, AtenTensorHandle grad_out) {
    if (!a.q) throw_invalid(prefix(op, "q") + " is missing");
    if (!a.k) throw_invalid(prefix(op, "k") + " is missing");
    if (!a.v) throw_invalid(prefix(op, "v") + " is missing");
    Info q(a.q), k(a.k), v(a.v);
    require_4d(op, "q", q, "(B, Tq, H, D)");
    require_4d(op, "k", k, "(B, Tk, G, D)");
    require_4d(op, "v", v, "(B, Tk, G, D)");
    require_same_place(op, "k", k, q);
    require_same_place(op, "v", v, q);
    if (k.sizes != v.sizes) {
        throw_invalid(prefix(op, "v") + " must have the shape of k " + format_sizes(k.sizes) +
                      ", got " + format_sizes(v.sizes));
    }
    if (k.sizes[0] != q.sizes[0]) {
        throw_invalid(prefix(op, "k") + " has batch " + std::to_string(k.sizes[0]) + " but q has " +
                      std::to_string(q.sizes[0]) + " (q " + format_sizes(q.sizes) + ", k " +
                      format_sizes(k.sizes) + ")");
    }
    if (k.sizes[3] != q.sizes[3]) {
        throw_invalid(prefix(op, "k") + " has head dim " + std::to_string(k.sizes[3]) +
                      " but q has " + std::to_string(q.sizes[3]) + " (q " + format_sizes(q.sizes) +
                      ", k " + format_sizes(k.sizes) + ")");
    }
    int64_t heads = q.sizes[2], kv_heads = k.sizes[2];
    if (kv_heads == 0 || heads % kv_heads != 0) {
        throw_invalid(prefix(op, "k") + " has " + std::to_string(kv_heads) +
                      " heads, which must divide the " + std::to_string(heads) +
                      " heads of q (GQA/MQA)");
    }
    if (q.sizes[3] > 1024) {
        throw_invalid(prefix(op, "q") + " head dim " + std::to_string(q.sizes[3]) +
                      " exceeds the supported 1024");
    }
    if (q.device_type == aoti_torch_device_type_cuda()) {
#ifdef FS_WITH_CUDA
        if (q.dtype != aoti_torch_dtype_float16() && q.dtype != aoti_torch_dtype_bfloat16()) {
            throw_invalid(prefix(op, "q") + " is " + dtype_name(q.dtype) + " on " +
                          device_name(q.t) + "; the CUDA kernels take float16 or bfloat16");
        }
#else
        throw_invalid(prefix(op, "q") + " is on " + device_name(q.t) +
                      ", but this build has only the CPU kernels (built without nvcc)");
#endif
    } else if (q.device_type != aoti_torch_device_type_cpu()) {
        throw_invalid(prefix(op, "q") + " is on " + device_name(q.t) +
                      "; the kernels of this build run on " + kDevices);
    }
    require_finite_scalar(op, "scale", a.scale);
    require_finite_scalar(op, "bias", a.bias);
    require_head_vector(op, "head_bias", a.head_bias, q);
    require_head_vector(op, "alibi_slopes", a.alibi_slopes, q);
    require_keep(op, a.keep, q, k.sizes[1]);
    require_key_lengths(op, a.key_lengths, q, k.sizes[1]);
    if (grad_out) {
        Info g(grad_out);
        require_4d(op, "grad_out", g, "(B, Tq, H, D)");
        require_same_place(op, "grad_out", g, q);
        if (g.sizes != q.sizes) {
            throw_invalid(prefix(op, "grad_out") + " must have the shape of q " +
                          format_sizes(q.sizes) + ", got " + format_sizes(g.sizes));
        }
    }
}

}  // namespace flash_sigmoid
