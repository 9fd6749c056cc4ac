#include "dispatch.h"

#include <cstring>
#include <string>

namespace flash_sigmoid {
namespace {

// Handles for a dispatcher call are all made first and handed over together, so that a failure
// while making one leaks none.
StableIValue give(Tensor& t) {
    return static_cast<StableIValue>(reinterpret_cast<uintptr_t>(t.release()));
}

StableIValue pass_double(double d) {
    StableIValue v = 0;
    std::memcpy(&v, &d, sizeof d);
    return v;
}

AtenTensorHandle taken(StableIValue v) {
    return reinterpret_cast<AtenTensorHandle>(static_cast<uintptr_t>(v));
}

// An alias of the array, or an empty float32 CPU tensor: "none" for the extended ops.
Tensor optional_tensor(AtenTensorHandle h) {
    if (h) return Tensor::alias(h);
    return Tensor::empty({0}, aoti_torch_dtype_float32(), aoti_torch_device_type_cpu(), 0);
}

// q, k, v, scale, bias and causal: the arguments every op has, in schema order from stack[0].
void push_common(StableIValue* stack, Tensor& q, Tensor& k, Tensor& v, const AttentionArgs& a) {
    stack[0] = give(q);
    stack[1] = give(k);
    stack[2] = give(v);
    stack[3] = pass_double(a.scale);
    stack[4] = pass_double(a.bias);
    stack[5] = a.causal ? 1 : 0;
}

// Calls an op by name through PyTorch's dispatcher.
void dispatch(const char* op, StableIValue* stack) {
    last_error() = {};
    if (aoti_torch_call_dispatcher(op, "", stack) != AOTI_TORCH_SUCCESS) {
        LastError& e = last_error();
        if (!e.message.empty()) throw OpError(e.message, e.invalid_argument);
        throw OpError(std::string(op) + " failed in PyTorch's dispatcher (its log has the reason)",
                      false);
    }
}

}  // namespace

AtenTensorHandle dispatch_forward(const AttentionArgs& a) {
    validate_forward("forward", a);
    const bool varlen = a.key_lengths != nullptr;
    const bool extended = varlen || a.head_bias || a.alibi_slopes || a.keep;
    Tensor tq = Tensor::alias(a.q), tk = Tensor::alias(a.k), tv = Tensor::alias(a.v);
    Tensor hb, al, kp, kl;
    if (extended) {
        hb = optional_tensor(a.head_bias);
        al = optional_tensor(a.alibi_slopes);
        kp = optional_tensor(a.keep);
    }
    if (varlen) kl = Tensor::alias(a.key_lengths);
    StableIValue stack[10];
    push_common(stack, tq, tk, tv, a);
    if (extended) {
        stack[6] = give(hb);
        stack[7] = give(al);
        stack[8] = give(kp);
    }
    if (varlen) stack[9] = give(kl);
    dispatch(varlen     ? "flash_sigmoid::forward_varlen"
             : extended ? "flash_sigmoid::forward_extended"
                        : "flash_sigmoid::forward",
             stack);
    return taken(stack[0]);
}

std::array<AtenTensorHandle, 4> dispatch_backward(AtenTensorHandle grad_out,
                                                  const AttentionArgs& a) {
    validate_backward("backward", grad_out, a);
    const bool varlen = a.key_lengths != nullptr;
    Tensor tg = Tensor::alias(grad_out);
    Tensor tq = Tensor::alias(a.q), tk = Tensor::alias(a.k), tv = Tensor::alias(a.v);
    Tensor hb = optional_tensor(a.head_bias), al = optional_tensor(a.alibi_slopes),
           kp = optional_tensor(a.keep);
    Tensor kl;
    if (varlen) kl = Tensor::alias(a.key_lengths);
    StableIValue stack[11];
    stack[0] = give(tg);
    push_common(stack + 1, tq, tk, tv, a);
    stack[7] = give(hb);
    stack[8] = give(al);
    stack[9] = give(kp);
    if (varlen) stack[10] = give(kl);
    dispatch(varlen ? "flash_sigmoid::backward_varlen" : "flash_sigmoid::backward_extended", stack);
    return {taken(stack[0]), taken(stack[1]), taken(stack[2]), taken(stack[3])};
}

bool tensor_is_leaf(AtenTensorHandle handle) {
    if (!handle) throw OpError("is_leaf: array handle is null", true);
    Tensor t = Tensor::alias(handle);
    StableIValue stack[1];
    stack[0] = give(t);
    dispatch("aten::is_leaf", stack);
    return (stack[0] & 1) != 0;
}

AtenTensorHandle converted_copy(AtenTensorHandle handle, int32_t dtype) {
    if (!handle) throw OpError("convert: array handle is null", true);
    Tensor src = Tensor::alias(handle);
    Tensor dst = Tensor::empty(src.sizes(), dtype, src.device_type(), src.device_index());
    check_shim(aoti_torch_copy_(dst.get(), src.get(), 0), "aoti_torch_copy_");
    return dst.release();
}

AtenTensorHandle dispatch_softmax_flash_attention_cpu(AtenTensorHandle q, AtenTensorHandle k,
                                                      AtenTensorHandle v, bool causal) {
    if (!q || !k || !v) throw OpError("softmaxFlashAttentionCpu: null handle", true);
    Tensor tq = Tensor::alias(q), tk = Tensor::alias(k), tv = Tensor::alias(v);
    StableIValue stack[7];
    stack[0] = give(tq);
    stack[1] = give(tk);
    stack[2] = give(tv);
    stack[3] = pass_double(0.0);  // dropout_p
    stack[4] = causal ? 1 : 0;
    stack[5] = 0;                 // attn_mask: None
    stack[6] = 0;                 // scale: None (1/sqrt(D))
    if (aoti_torch_call_dispatcher("aten::_scaled_dot_product_flash_attention_for_cpu", "",
                                   stack) != AOTI_TORCH_SUCCESS) {
        throw OpError("aten::_scaled_dot_product_flash_attention_for_cpu failed", false);
    }
    aoti_torch_delete_tensor_object(taken(stack[1]));  // logsumexp
    return taken(stack[0]);
}

}  // namespace flash_sigmoid
