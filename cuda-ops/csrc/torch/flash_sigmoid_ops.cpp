// The API layer: validates tensors, maps them onto the kernels' C ABI, and registers the boxed
// ops with PyTorch's dispatcher through the stable C ABI.
#include "flash_sigmoid_ops.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../flash_sigmoid/flash_sigmoid.h"
#ifdef FS_WITH_CUDA
#include "cuda_device.h"
#endif

namespace flash_sigmoid {
namespace {

constexpr int64_t kMaxExtent = (int64_t{1} << 31) - 1;
#ifdef FS_WITH_CUDA
constexpr const char* kDevices = "cpu and cuda";
#else
constexpr const char* kDevices = "cpu only";
#endif

bool is_empty(AtenTensorHandle h) {
    if (!h) return true;
    int64_t n = 0;
    check_shim(aoti_torch_get_numel(h, &n), "aoti_torch_get_numel");
    return n == 0;
}

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

std::string prefix(const char* op, const char* arg) {
    return std::string("flash_sigmoid::") + op + ": " + arg;
}

bool floating_storage(int32_t dtype) {
    return dtype == aoti_torch_dtype_float32() || dtype == aoti_torch_dtype_float16() ||
           dtype == aoti_torch_dtype_bfloat16();
}

fs_dtype kernel_dtype(int32_t dtype) {
    if (dtype == aoti_torch_dtype_float16()) return FS_FLOAT16;
    if (dtype == aoti_torch_dtype_bfloat16()) return FS_BFLOAT16;
    return FS_FLOAT32;
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
        throw_invalid(prefix(op, "keep") + " must be 4-D with each dimension 1 or (B, H, Tq, Tk) = " +
                      format_sizes({full[0], full[1], full[2], full[3]}) + ", got " +
                      format_sizes(x.sizes));
    }
    if (x.dtype != aoti_torch_dtype_bool() && x.dtype != aoti_torch_dtype_uint8()) {
        throw_invalid(prefix(op, "keep") + " must be bool or uint8, got " + dtype_name(x.dtype));
    }
    require_on_device_of(op, "keep", x, q);
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
    std::vector<int32_t> lens = key_length_values(h);
    for (size_t b = 0; b < lens.size(); ++b) {
        if (lens[b] < 0 || lens[b] > tk) {
            throw_invalid(prefix(op, "k_lens") + "[" + std::to_string(b) + "] = " +
                          (lens[b] == kMaxExtent ? std::string(">= 2^31 - 1")
                                                 : std::to_string(lens[b])) +
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
        throw_invalid(prefix(op, "k") + " has batch " + std::to_string(k.sizes[0]) +
                      " but q has " + std::to_string(q.sizes[0]) + " (q " + format_sizes(q.sizes) +
                      ", k " + format_sizes(k.sizes) + ")");
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

fs_operand operand(const Tensor& t) {
    fs_operand o;
    o.data = t.data();
    std::vector<int64_t> s = t.strides();
    for (int i = 0; i < 4; ++i) o.stride[i] = s[i];
    return o;
}

std::vector<float> head_values(AtenTensorHandle h) {
    if (is_empty(h)) return {};
    Tensor t = Tensor::alias(h);
    int64_t n = t.sizes()[0];
    int64_t stride = t.strides()[0];
    const float* p = static_cast<const float*>(t.data());
    std::vector<float> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out[i] = p[i * stride];
    return out;
}

// Everything the kernels need, with the storage it points into kept alive.
struct Prepared {
    Tensor q, k, v, keep;
    std::vector<float> head_bias, slopes;
    std::vector<int32_t> key_lengths;
    fs_attention attn{};
};

// The sizes, scalars and keep mask of the problem (the operands are the caller's).
void describe(const AttentionArgs& a, const Tensor& q, const Tensor& k, Tensor& keep,
              fs_attention& at) {
    std::vector<int64_t> qs = q.sizes(), ks = k.sizes();
    at.dtype = kernel_dtype(q.dtype());
    at.batch = qs[0];
    at.q_len = qs[1];
    at.heads = qs[2];
    at.head_dim = qs[3];
    at.k_len = ks[1];
    at.kv_heads = ks[2];
    at.scale = static_cast<float>(a.scale);
    at.bias = static_cast<float>(a.bias);
    at.causal = a.causal ? 1 : 0;
    if (!is_empty(a.keep)) {
        keep = Tensor::alias(a.keep);
        std::vector<int64_t> size = keep.sizes(), stride = keep.strides();
        at.keep = static_cast<const uint8_t*>(keep.data());
        for (int i = 0; i < 4; ++i) at.keep_stride[i] = size[i] == 1 ? 0 : stride[i];
    }
}

void prepare(const AttentionArgs& a, Prepared& p) {
    p.q = Tensor::alias(a.q);
    p.k = Tensor::alias(a.k);
    p.v = Tensor::alias(a.v);
    fs_attention& at = p.attn;
    describe(a, p.q, p.k, p.keep, at);
    at.q = operand(p.q);
    at.k = operand(p.k);
    at.v = operand(p.v);
    p.head_bias = head_values(a.head_bias);
    p.slopes = head_values(a.alibi_slopes);
    at.head_bias = p.head_bias.empty() ? nullptr : p.head_bias.data();
    at.alibi_slopes = p.slopes.empty() ? nullptr : p.slopes.data();
    if (!is_empty(a.key_lengths)) {
        p.key_lengths = key_length_values(a.key_lengths);
        at.key_lengths = p.key_lengths.data();
    }
}

void check_kernel(int status, const char* op, const char* message) {
    if (status == FS_OK) return;
    throw OpError(std::string("flash_sigmoid::") + op + ": " + message,
                  status == FS_INVALID_ARGUMENT);
}

size_t byte_size(const Tensor& t) {
    size_t element = t.dtype() == aoti_torch_dtype_float32() ? 4 : 2;
    return static_cast<size_t>(t.numel()) * element;
}

void zero_fill(const Tensor& t) {
    if (t.numel() > 0) std::memset(t.data(), 0, byte_size(t));
}

#ifdef FS_WITH_CUDA
bool on_cuda(AtenTensorHandle h) {
    int32_t type = 0;
    check_shim(aoti_torch_get_device_type(h, &type), "aoti_torch_get_device_type");
    return type == aoti_torch_device_type_cuda();
}

// --- The CUDA path -----------------------------------------------------------------------------
// The kernels take the last stride 1, the other strides positive multiples of 8 elements (any
// stride where the size is 1: never used) and data aligned to 16 bytes; other operands are copied
// to contiguous tensors first. Outputs, copies and the backward's workspace come from PyTorch's
// allocator on the device of q, and everything runs on PyTorch's current stream of that device,
// so the caching allocator's stream order covers the temporaries freed right after the launch.

bool cuda_layout_ok(const Tensor& t) {
    std::vector<int64_t> size = t.sizes(), stride = t.strides();
    if (size[3] > 1 && stride[3] != 1) return false;
    for (int i = 0; i < 3; ++i) {
        if (size[i] > 1 && (stride[i] <= 0 || stride[i] % 8 != 0)) return false;
    }
    return reinterpret_cast<uintptr_t>(t.data()) % 16 == 0;
}

Tensor contiguous_copy(const Tensor& t) {
    Tensor copy = Tensor::empty(t.sizes(), t.dtype(), t.device_type(), t.device_index());
    check_shim(aoti_torch_copy_(copy.get(), t.get(), 0), "aoti_torch_copy_");
    return copy;
}

// The operand itself when the kernels can read it as it is, else a contiguous copy.
Tensor cuda_ready(AtenTensorHandle h) {
    Tensor t = Tensor::alias(h);
    if (t.numel() == 0 || cuda_layout_ok(t)) return t;
    return contiguous_copy(t);
}

// Size-1 dimensions get their dense stride (a multiple of 8 when D is), which is never read.
fs_operand cuda_operand(const Tensor& t) {
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

// A float32 (H) vector as a contiguous device tensor; undefined for "none".
Tensor cuda_vector(AtenTensorHandle h) {
    if (is_empty(h)) return Tensor();
    Tensor t = Tensor::alias(h);
    if (t.sizes()[0] == 1 || t.strides()[0] == 1) return t;
    return contiguous_copy(t);
}

// k_lens as a contiguous int32 device tensor; undefined for "none".
Tensor cuda_key_lengths(AtenTensorHandle h, int32_t device) {
    if (is_empty(h)) return Tensor();
    std::vector<int32_t> values = key_length_values(h);
    const int64_t n = static_cast<int64_t>(values.size());
    Tensor host = Tensor::empty({n}, aoti_torch_dtype_int32(), aoti_torch_device_type_cpu(), 0);
    std::memcpy(host.data(), values.data(), values.size() * sizeof(int32_t));
    Tensor dev = Tensor::empty({n}, aoti_torch_dtype_int32(), aoti_torch_device_type_cuda(), device);
    check_shim(aoti_torch_copy_(dev.get(), host.get(), 0), "aoti_torch_copy_");
    return dev;
}

struct CudaPrepared {
    Tensor q, k, v, head_bias, slopes, keep, key_lengths;
    fs_attention attn{};
};

void prepare_cuda(const AttentionArgs& a, CudaPrepared& p) {
    p.q = cuda_ready(a.q);
    p.k = cuda_ready(a.k);
    p.v = cuda_ready(a.v);
    fs_attention& at = p.attn;
    describe(a, p.q, p.k, p.keep, at);
    at.q = cuda_operand(p.q);
    at.k = cuda_operand(p.k);
    at.v = cuda_operand(p.v);
    p.head_bias = cuda_vector(a.head_bias);
    p.slopes = cuda_vector(a.alibi_slopes);
    at.head_bias = p.head_bias.defined() ? static_cast<const float*>(p.head_bias.data()) : nullptr;
    at.alibi_slopes = p.slopes.defined() ? static_cast<const float*>(p.slopes.data()) : nullptr;
    p.key_lengths = cuda_key_lengths(a.key_lengths, p.q.device_index());
    at.key_lengths =
        p.key_lengths.defined() ? static_cast<const int32_t*>(p.key_lengths.data()) : nullptr;
}

Tensor cuda_forward(const char* op, const AttentionArgs& args) {
    int32_t device = Tensor::alias(args.q).device_index();
    cuda_device::DeviceScope scope(op, device);
    void* stream = cuda_device::current_stream(op, device);
    CudaPrepared p;
    prepare_cuda(args, p);
    const fs_attention& a = p.attn;
    Tensor out = Tensor::empty({a.batch, a.q_len, a.heads, a.head_dim}, p.q.dtype(),
                               aoti_torch_device_type_cuda(), device);
    if (out.numel() == 0) return out;
    if (a.k_len == 0) {
        cuda_device::zero_async(op, out.data(), byte_size(out), stream);  // a sum over no keys
        return out;
    }
    char message[512] = {0};
    check_kernel(fs_cuda_forward(&a, cuda_operand(out), stream, message, sizeof message), op,
                 message);
    return out;
}

Gradients cuda_backward(const char* op, AtenTensorHandle grad_out, const AttentionArgs& args,
                        bool head_bias_grad) {
    int32_t device = Tensor::alias(args.q).device_index();
    const int32_t cuda = aoti_torch_device_type_cuda();
    cuda_device::DeviceScope scope(op, device);
    void* stream = cuda_device::current_stream(op, device);
    CudaPrepared p;
    prepare_cuda(args, p);
    Tensor g = cuda_ready(grad_out);
    const fs_attention& a = p.attn;
    Gradients r;
    r.dq = Tensor::empty(p.q.sizes(), p.q.dtype(), cuda, device);
    r.dk = Tensor::empty(p.k.sizes(), p.k.dtype(), cuda, device);
    r.dv = Tensor::empty(p.k.sizes(), p.k.dtype(), cuda, device);
    if (head_bias_grad) r.d_head_bias = Tensor::empty({a.heads}, aoti_torch_dtype_float32(), cuda, device);
    if (a.batch == 0 || a.q_len == 0 || a.k_len == 0 || a.head_dim == 0) {
        for (Tensor* t : {&r.dq, &r.dk, &r.dv, &r.d_head_bias}) {
            if (t->defined() && t->numel() > 0) cuda_device::zero_async(op, t->data(), byte_size(*t), stream);
        }
        return r;
    }
    size_t bytes = fs_cuda_backward_workspace_size(&a);
    Tensor workspace;
    void* scratch = nullptr;
    if (bytes > 0) {
        workspace = Tensor::empty({static_cast<int64_t>((bytes + 3) / 4)},
                                  aoti_torch_dtype_float32(), cuda, device);
        scratch = workspace.data();
        if (reinterpret_cast<uintptr_t>(scratch) % 256 != 0) {
            throw OpError(std::string("flash_sigmoid::") + op +
                              ": PyTorch's allocator returned a workspace not aligned to 256 bytes",
                          false);
        }
    }
    float* d_head_bias =
        r.d_head_bias.defined() ? static_cast<float*>(r.d_head_bias.data()) : nullptr;
    char message[512] = {0};
    check_kernel(fs_cuda_backward(&a, cuda_operand(g), cuda_operand(r.dq), cuda_operand(r.dk),
                                  cuda_operand(r.dv), d_head_bias, scratch, stream, message,
                                  sizeof message),
                 op, message);
    return r;
}
#endif  // FS_WITH_CUDA

}  // namespace

void validate_forward(const char* op, const AttentionArgs& args) { validate(op, args, nullptr); }

void validate_backward(const char* op, AtenTensorHandle grad_out, const AttentionArgs& args) {
    if (!grad_out) throw_invalid(prefix(op, "grad_out") + " is missing");
    validate(op, args, grad_out);
}

Tensor attention_forward(const char* op, const AttentionArgs& args) {
    validate(op, args, nullptr);
#ifdef FS_WITH_CUDA
    if (on_cuda(args.q)) return cuda_forward(op, args);
#endif
    Prepared p;
    prepare(args, p);
    const fs_attention& a = p.attn;
    Tensor out = Tensor::empty({a.batch, a.q_len, a.heads, a.head_dim}, p.q.dtype(),
                               p.q.device_type(), p.q.device_index());
    if (out.numel() == 0) return out;
    if (a.k_len == 0) {
        zero_fill(out);  // a sum over no keys
        return out;
    }
    char message[512] = {0};
    check_kernel(fs_cpu_forward(&a, operand(out), message, sizeof message), op, message);
    return out;
}

Gradients attention_backward(const char* op, AtenTensorHandle grad_out, const AttentionArgs& args,
                             bool head_bias_grad) {
    validate(op, args, grad_out);
#ifdef FS_WITH_CUDA
    if (on_cuda(args.q)) return cuda_backward(op, grad_out, args, head_bias_grad);
#endif
    (void)head_bias_grad;  // the CPU kernels compute it along the way
    Prepared p;
    prepare(args, p);
    const fs_attention& a = p.attn;
    Tensor g = Tensor::alias(grad_out);
    Gradients r;
    r.dq = Tensor::empty(p.q.sizes(), p.q.dtype(), p.q.device_type(), p.q.device_index());
    r.dk = Tensor::empty(p.k.sizes(), p.k.dtype(), p.k.device_type(), p.k.device_index());
    r.dv = Tensor::empty(p.k.sizes(), p.k.dtype(), p.k.device_type(), p.k.device_index());
    r.d_head_bias = Tensor::empty({a.heads}, aoti_torch_dtype_float32(), p.q.device_type(),
                                  p.q.device_index());
    if (a.batch == 0 || a.q_len == 0 || a.k_len == 0 || a.head_dim == 0) {
        zero_fill(r.dq);
        zero_fill(r.dk);
        zero_fill(r.dv);
        zero_fill(r.d_head_bias);
        return r;
    }
    char message[512] = {0};
    check_kernel(fs_cpu_backward(&a, operand(g), operand(r.dq), operand(r.dk), operand(r.dv),
                                 static_cast<float*>(r.d_head_bias.data()), message,
                                 sizeof message),
                 op, message);
    return r;
}

LastError& last_error() {
    thread_local LastError error;
    return error;
}

namespace {

// --- Boxed kernels: the calling convention of aoti_torch_library_impl --------------------------
// Tensor arguments arrive as handles the kernel owns; a float is a double's bits; a bool sits in
// the lowest byte. Outputs go into stack[0..] as new handles that the dispatcher takes over.

AtenTensorHandle handle_at(const StableIValue* stack, int i) {
    return reinterpret_cast<AtenTensorHandle>(static_cast<uintptr_t>(stack[i]));
}

double double_at(const StableIValue* stack, int i) {
    double d;
    std::memcpy(&d, &stack[i], sizeof d);
    return d;
}

bool bool_at(const StableIValue* stack, int i) { return (stack[i] & 0xff) != 0; }

StableIValue from_tensor(Tensor&& t) {
    return static_cast<StableIValue>(reinterpret_cast<uintptr_t>(t.release()));
}

// Takes ownership of the first n tensor handles at the given stack positions.
std::vector<Tensor> own(const StableIValue* stack, std::initializer_list<int> positions) {
    std::vector<Tensor> owned;
    for (int i : positions) owned.emplace_back(handle_at(stack, i));
    return owned;
}

template <typename Fn>
void remember_failure(const char* op, Fn fn) {
    try {
        fn();
    } catch (const OpError& e) {
        last_error() = {e.what(), e.invalid_argument()};
        throw;
    } catch (const std::exception& e) {
        last_error() = {std::string("flash_sigmoid::") + op + ": " + e.what(), false};
        throw;
    }
}

// The arguments of every op: q, k, v at `first`, then scale, bias, causal, then for the extended
// ops head_bias, alibi_slopes and keep, and for the varlen ops k_lens. `in` holds the owned tensors in stack order.
AttentionArgs unpack(const StableIValue* stack, const std::vector<Tensor>& in, int first,
                     bool extended, bool varlen = false) {
    AttentionArgs a;
    a.q = in[first].get();
    a.k = in[first + 1].get();
    a.v = in[first + 2].get();
    a.scale = double_at(stack, first + 3);
    a.bias = double_at(stack, first + 4);
    a.causal = bool_at(stack, first + 5);
    if (extended) {
        a.head_bias = in[first + 3].get();
        a.alibi_slopes = in[first + 4].get();
        a.keep = in[first + 5].get();
    }
    if (varlen) a.key_lengths = in[first + 6].get();
    return a;
}

void boxed_forward(StableIValue* stack, uint64_t, uint64_t) {
    std::vector<Tensor> in = own(stack, {0, 1, 2});
    remember_failure("forward", [&] {
        stack[0] = from_tensor(attention_forward("forward", unpack(stack, in, 0, false)));
    });
}

void boxed_forward_extended(StableIValue* stack, uint64_t, uint64_t) {
    std::vector<Tensor> in = own(stack, {0, 1, 2, 6, 7, 8});
    remember_failure("forward_extended", [&] {
        stack[0] = from_tensor(
            attention_forward("forward_extended", unpack(stack, in, 0, true)));
    });
}

void boxed_backward(StableIValue* stack, uint64_t, uint64_t) {
    // grad_out leads; `in` holds it first, so q, k, v are in[1..3] and the scalars at stack[4..6].
    std::vector<Tensor> in = own(stack, {0, 1, 2, 3});
    remember_failure("backward", [&] {
        Gradients g =
            attention_backward("backward", in[0].get(), unpack(stack, in, 1, false), false);
        stack[0] = from_tensor(std::move(g.dq));
        stack[1] = from_tensor(std::move(g.dk));
        stack[2] = from_tensor(std::move(g.dv));
    });
}

void boxed_backward_extended(StableIValue* stack, uint64_t, uint64_t) {
    std::vector<Tensor> in = own(stack, {0, 1, 2, 3, 7, 8, 9});
    remember_failure("backward_extended", [&] {
        Gradients g =
            attention_backward("backward_extended", in[0].get(), unpack(stack, in, 1, true), true);
        stack[0] = from_tensor(std::move(g.dq));
        stack[1] = from_tensor(std::move(g.dk));
        stack[2] = from_tensor(std::move(g.dv));
        stack[3] = from_tensor(std::move(g.d_head_bias));
    });
}

void boxed_forward_varlen(StableIValue* stack, uint64_t, uint64_t) {
    std::vector<Tensor> in = own(stack, {0, 1, 2, 6, 7, 8, 9});
    remember_failure("forward_varlen", [&] {
        stack[0] = from_tensor(
            attention_forward("forward_varlen", unpack(stack, in, 0, true, true)));
    });
}

void boxed_backward_varlen(StableIValue* stack, uint64_t, uint64_t) {
    std::vector<Tensor> in = own(stack, {0, 1, 2, 3, 7, 8, 9, 10});
    remember_failure("backward_varlen", [&] {
        Gradients g = attention_backward("backward_varlen", in[0].get(),
                                         unpack(stack, in, 1, true, true), true);
        stack[0] = from_tensor(std::move(g.dq));
        stack[1] = from_tensor(std::move(g.dk));
        stack[2] = from_tensor(std::move(g.dv));
        stack[3] = from_tensor(std::move(g.d_head_bias));
    });
}

std::string& registration_error_storage() {
    static std::string error;
    return error;
}

// Registers the schemas and the CPU kernels once, when the library is loaded. The library objects
// are never freed: freeing them would deregister the ops.
struct Registration {
    Registration() {
        std::string& error = registration_error_storage();
        TorchLibraryHandle def = nullptr;
        if (aoti_torch_library_init_def("flash_sigmoid", __FILE__, __LINE__, &def) != 0) {
            error = "the flash_sigmoid namespace could not be defined (is another copy of this "
                    "library already loaded?)";
            return;
        }
        const char* schemas[] = {
            "forward(Tensor q, Tensor k, Tensor v, float scale, float bias, bool causal) -> Tensor",
            "backward(Tensor grad_out, Tensor q, Tensor k, Tensor v, float scale, float bias, "
            "bool causal) -> (Tensor, Tensor, Tensor)",
            "forward_extended(Tensor q, Tensor k, Tensor v, float scale, float bias, bool causal, "
            "Tensor head_bias, Tensor alibi_slopes, Tensor keep) -> Tensor",
            "backward_extended(Tensor grad_out, Tensor q, Tensor k, Tensor v, float scale, "
            "float bias, bool causal, Tensor head_bias, Tensor alibi_slopes, Tensor keep) -> "
            "(Tensor, Tensor, Tensor, Tensor)",
            "forward_varlen(Tensor q, Tensor k, Tensor v, float scale, float bias, bool causal, "
            "Tensor head_bias, Tensor alibi_slopes, Tensor keep, Tensor k_lens) -> Tensor",
            "backward_varlen(Tensor grad_out, Tensor q, Tensor k, Tensor v, float scale, "
            "float bias, bool causal, Tensor head_bias, Tensor alibi_slopes, Tensor keep, "
            "Tensor k_lens) -> (Tensor, Tensor, Tensor, Tensor)",
        };
        for (const char* schema : schemas) {
            if (aoti_torch_library_def(def, schema) != 0) {
                error = std::string("could not define flash_sigmoid::") + schema;
                return;
            }
        }
        TorchLibraryHandle cpu = nullptr;
        if (aoti_torch_library_init_impl("flash_sigmoid", "CPU", __FILE__, __LINE__, &cpu) != 0 ||
            aoti_torch_library_impl(cpu, "forward", &boxed_forward) != 0 ||
            aoti_torch_library_impl(cpu, "backward", &boxed_backward) != 0 ||
            aoti_torch_library_impl(cpu, "forward_extended", &boxed_forward_extended) != 0 ||
            aoti_torch_library_impl(cpu, "backward_extended", &boxed_backward_extended) != 0 ||
            aoti_torch_library_impl(cpu, "forward_varlen", &boxed_forward_varlen) != 0 ||
            aoti_torch_library_impl(cpu, "backward_varlen", &boxed_backward_varlen) != 0) {
            error = "could not register the CPU kernels of flash_sigmoid";
            return;
        }
        // The CUDA key too, also in a build without CUDA kernels: a call with CUDA tensors then
        // gets validate()'s message ("this build has only the CPU kernels") rather than the
        // dispatcher's "could not run with arguments from the 'CUDA' backend". Registering a key
        // works in CPU-only libtorch builds as well (DJL's).
        TorchLibraryHandle cuda = nullptr;
        if (aoti_torch_library_init_impl("flash_sigmoid", "CUDA", __FILE__, __LINE__, &cuda) != 0 ||
            aoti_torch_library_impl(cuda, "forward", &boxed_forward) != 0 ||
            aoti_torch_library_impl(cuda, "backward", &boxed_backward) != 0 ||
            aoti_torch_library_impl(cuda, "forward_extended", &boxed_forward_extended) != 0 ||
            aoti_torch_library_impl(cuda, "backward_extended", &boxed_backward_extended) != 0 ||
            aoti_torch_library_impl(cuda, "forward_varlen", &boxed_forward_varlen) != 0 ||
            aoti_torch_library_impl(cuda, "backward_varlen", &boxed_backward_varlen) != 0) {
            error = "could not register the CUDA kernels of flash_sigmoid";
        }
    }
};

const Registration registration;

}  // namespace

const std::string& registration_error() { return registration_error_storage(); }

}  // namespace flash_sigmoid
