// The run layer: one forward and one backward, over the backend of q's device.
#include "attention.h"

#include <string>
#include <vector>

#include "backend.h"
#include "validate.h"

namespace flash_sigmoid {
namespace {

bool on_cuda(AtenTensorHandle h) {
    int32_t type = 0;
    check_shim(aoti_torch_get_device_type(h, &type), "aoti_torch_get_device_type");
    return type == aoti_torch_device_type_cuda();
}

std::unique_ptr<Backend> backend_for(const char* op, AtenTensorHandle q) {
#ifdef FS_WITH_CUDA
    if (on_cuda(q)) return cuda_backend(op, Tensor::alias(q).device_index());
#else
    (void)op;
    (void)on_cuda;
#endif
    (void)q;
    return cpu_backend();
}

// Everything the kernels need, with the storage it points into kept alive.
struct Prepared {
    Tensor q, k, v, head_bias, slopes, keep, key_lengths;
    fs_attention attn{};
};

void prepare(const AttentionArgs& a, const Backend& backend, Prepared& p) {
    p.q = backend.operand_tensor(a.q);
    p.k = backend.operand_tensor(a.k);
    p.v = backend.operand_tensor(a.v);
    fs_attention& at = p.attn;
    std::vector<int64_t> qs = p.q.sizes(), ks = p.k.sizes();
    at.dtype = kernel_dtype(p.q.dtype());
    at.q = backend.operand(p.q);
    at.k = backend.operand(p.k);
    at.v = backend.operand(p.v);
    at.batch = qs[0];
    at.q_len = qs[1];
    at.heads = qs[2];
    at.head_dim = qs[3];
    at.k_len = ks[1];
    at.kv_heads = ks[2];
    at.scale = static_cast<float>(a.scale);
    at.bias = static_cast<float>(a.bias);
    at.causal = a.causal ? 1 : 0;
    p.head_bias = backend.head_vector(a.head_bias);
    p.slopes = backend.head_vector(a.alibi_slopes);
    at.head_bias = p.head_bias.defined() ? static_cast<const float*>(p.head_bias.data()) : nullptr;
    at.alibi_slopes = p.slopes.defined() ? static_cast<const float*>(p.slopes.data()) : nullptr;
    if (!is_empty(a.keep)) {
        p.keep = Tensor::alias(a.keep);
        std::vector<int64_t> size = p.keep.sizes(), stride = p.keep.strides();
        at.keep = static_cast<const uint8_t*>(p.keep.data());
        for (int i = 0; i < 4; ++i) at.keep_stride[i] = size[i] == 1 ? 0 : stride[i];
    }
    p.key_lengths = backend.key_lengths(a.key_lengths);
    at.key_lengths =
        p.key_lengths.defined() ? static_cast<const int32_t*>(p.key_lengths.data()) : nullptr;
}

void check_kernel(int status, const char* op, const char* message) {
    if (status == FS_OK) return;
    throw OpError(prefix(op, message), status == FS_INVALID_ARGUMENT);
}

}  // namespace

Tensor attention_forward(const char* op, const AttentionArgs& args) {
    validate(op, args, nullptr);
    std::unique_ptr<Backend> backend = backend_for(op, args.q);
    Prepared p;
    prepare(args, *backend, p);
    const fs_attention& a = p.attn;
    Tensor out = backend->empty({a.batch, a.q_len, a.heads, a.head_dim}, p.q.dtype());
    if (out.numel() == 0) return out;
    if (a.k_len == 0) {
        backend->zero(out);  // a sum over no keys
        return out;
    }
    char message[512] = {0};
    check_kernel(backend->forward(a, backend->operand(out), message, sizeof message), op, message);
    return out;
}

Gradients attention_backward(const char* op, AtenTensorHandle grad_out, const AttentionArgs& args,
                             bool head_bias_grad) {
    if (!grad_out) throw_invalid(prefix(op, "grad_out") + " is missing");
    validate(op, args, grad_out);
    std::unique_ptr<Backend> backend = backend_for(op, args.q);
    Prepared p;
    prepare(args, *backend, p);
    Tensor g = backend->operand_tensor(grad_out);
    const fs_attention& a = p.attn;
    Gradients r;
    r.dq = backend->empty(p.q.sizes(), p.q.dtype());
    r.dk = backend->empty(p.k.sizes(), p.k.dtype());
    r.dv = backend->empty(p.k.sizes(), p.k.dtype());
    if (head_bias_grad) r.d_head_bias = backend->empty({a.heads}, aoti_torch_dtype_float32());
    if (a.batch == 0 || a.q_len == 0 || a.k_len == 0 || a.head_dim == 0) {
        for (Tensor* t : {&r.dq, &r.dk, &r.dv, &r.d_head_bias}) backend->zero(*t);
        return r;
    }
    float* d_head_bias =
        r.d_head_bias.defined() ? static_cast<float*>(r.d_head_bias.data()) : nullptr;
    char message[512] = {0};
    check_kernel(
        backend->backward(a, backend->operand(g), backend->operand(r.dq), backend->operand(r.dk),
                          backend->operand(r.dv), d_head_bias, message, sizeof message),
        op, message);
    return r;
}

}  // namespace flash_sigmoid
