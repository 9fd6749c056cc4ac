#include "aten.h"

#include <cstring>
#include <string>

#include "attention.h"

namespace flash_sigmoid {
namespace {

// The dispatcher consumes the handles on its stack: it gets new aliasing ones.
StableIValue give(Tensor& t) {
    return static_cast<StableIValue>(reinterpret_cast<uintptr_t>(t.release()));
}

AtenTensorHandle taken(StableIValue v) {
    return reinterpret_cast<AtenTensorHandle>(static_cast<uintptr_t>(v));
}

}  // namespace

void call_dispatcher(const char* op, StableIValue* stack) {
    last_error() = {};
    if (aoti_torch_call_dispatcher(op, "", stack) != AOTI_TORCH_SUCCESS) {
        LastError& e = last_error();
        if (!e.message.empty()) throw OpError(e.message, e.invalid_argument);
        throw OpError(std::string(op) + " failed in PyTorch's dispatcher (its log has the reason)",
                      false);
    }
}

bool tensor_is_leaf(AtenTensorHandle handle) {
    if (!handle) throw OpError("is_leaf: array handle is null", true);
    Tensor t = Tensor::alias(handle);
    StableIValue stack[1];
    stack[0] = give(t);
    call_dispatcher("aten::is_leaf", stack);
    return (stack[0] & 1) != 0;
}

AtenTensorHandle converted_copy(AtenTensorHandle handle, int32_t dtype) {
    if (!handle) throw OpError("convert: array handle is null", true);
    Tensor src = Tensor::alias(handle);
    Tensor dst = Tensor::empty(src.sizes(), dtype, src.device_type(), src.device_index());
    check_shim(aoti_torch_copy_(dst.get(), src.get(), 0), "aoti_torch_copy_");
    return dst.release();
}

AtenTensorHandle differentiable_attention(const AttentionArgs& a) {
    if (!a.q || !a.k || !a.v) throw OpError("attention: q, k and v are required", true);
    if (a.key_lengths) {
        throw OpError(
            "attention: key lengths are not taken by the differentiable op; pass the mask "
            "as keep",
            true);
    }
    Tensor q = Tensor::alias(a.q), k = Tensor::alias(a.k), v = Tensor::alias(a.v);
    auto optional = [&](AtenTensorHandle h, int32_t dtype) {
        return h ? Tensor::alias(h) : Tensor::empty({0}, dtype, q.device_type(), q.device_index());
    };
    Tensor head_bias = optional(a.head_bias, aoti_torch_dtype_float32());
    Tensor slopes = optional(a.alibi_slopes, aoti_torch_dtype_float32());
    Tensor keep = optional(a.keep, aoti_torch_dtype_bool());
    StableIValue stack[9];
    stack[0] = give(q);
    stack[1] = give(k);
    stack[2] = give(v);
    std::memcpy(&stack[3], &a.scale, sizeof a.scale);
    std::memcpy(&stack[4], &a.bias, sizeof a.bias);
    stack[5] = a.causal ? 1 : 0;
    stack[6] = give(head_bias);
    stack[7] = give(slopes);
    stack[8] = give(keep);
    call_dispatcher("flash_sigmoid::attention_extended", stack);
    return taken(stack[0]);
}

AtenTensorHandle softmax_flash_attention_cpu(AtenTensorHandle q, AtenTensorHandle k,
                                             AtenTensorHandle v, bool causal) {
    if (!q || !k || !v) throw OpError("softmaxFlashAttentionCpu: null handle", true);
    Tensor tq = Tensor::alias(q), tk = Tensor::alias(k), tv = Tensor::alias(v);
    StableIValue stack[7];
    stack[0] = give(tq);
    stack[1] = give(tk);
    stack[2] = give(tv);
    const double dropout = 0.0;
    std::memcpy(&stack[3], &dropout, sizeof dropout);
    stack[4] = causal ? 1 : 0;
    stack[5] = 0;  // attn_mask: None
    stack[6] = 0;  // scale: None (1/sqrt(D))
    call_dispatcher("aten::_scaled_dot_product_flash_attention_for_cpu", stack);
    aoti_torch_delete_tensor_object(taken(stack[1]));  // logsumexp
    return taken(stack[0]);
}

}  // namespace flash_sigmoid
