// Optional: differentiable FlashSigmoid ops for PyTorch's autograd, on top of libflash_sigmoid.
//
//   flash_sigmoid::attention(Tensor q, Tensor k, Tensor v, float scale, float bias, bool causal)
//       -> Tensor
//   flash_sigmoid::attention_extended(Tensor q, Tensor k, Tensor v, float scale, float bias,
//       bool causal, Tensor head_bias, Tensor alibi_slopes, Tensor keep) -> Tensor
//
// The forward calls flash_sigmoid::forward(_extended) and the backward
// flash_sigmoid::backward(_extended) through the dispatcher (so CPU and CUDA tensors both work);
// gradients flow to q, k, v and head_bias. Unlike libflash_sigmoid, this file needs the full
// libtorch C++ headers of the very PyTorch it is loaded into (the autograd API is not part of the
// stable C ABI), so it is built per PyTorch version: see the README, section "Training".
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <tuple>

namespace {

using at::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

Tensor forward_op(const Tensor& q, const Tensor& k, const Tensor& v, double scale, double bias,
                  bool causal, const Tensor& head_bias, const Tensor& slopes, const Tensor& keep) {
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("flash_sigmoid::forward_extended", "")
                         .typed<Tensor(const Tensor&, const Tensor&, const Tensor&, double, double,
                                       bool, const Tensor&, const Tensor&, const Tensor&)>();
    return op.call(q, k, v, scale, bias, causal, head_bias, slopes, keep);
}

std::tuple<Tensor, Tensor, Tensor, Tensor> backward_op(const Tensor& grad, const Tensor& q,
                                                       const Tensor& k, const Tensor& v,
                                                       double scale, double bias, bool causal,
                                                       const Tensor& head_bias,
                                                       const Tensor& slopes, const Tensor& keep) {
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("flash_sigmoid::backward_extended", "")
                         .typed<std::tuple<Tensor, Tensor, Tensor, Tensor>(
                             const Tensor&, const Tensor&, const Tensor&, const Tensor&, double,
                             double, bool, const Tensor&, const Tensor&, const Tensor&)>();
    return op.call(grad, q, k, v, scale, bias, causal, head_bias, slopes, keep);
}

// An empty tensor stands for "none" in the extended ops.
Tensor none_like(const Tensor& q) {
    return at::empty({0}, q.options().dtype(at::kFloat));
}
bool present(const Tensor& t) {
    return t.defined() && t.numel() > 0;
}

class SigmoidAttention : public torch::autograd::Function<SigmoidAttention> {
public:
    static Tensor forward(AutogradContext* ctx, const Tensor& q, const Tensor& k, const Tensor& v,
                          double scale, double bias, bool causal, const Tensor& head_bias,
                          const Tensor& slopes, const Tensor& keep) {
        ctx->save_for_backward({q, k, v, head_bias, slopes, keep});
        ctx->saved_data["scale"] = scale;
        ctx->saved_data["bias"] = bias;
        ctx->saved_data["causal"] = causal;
        at::AutoDispatchBelowADInplaceOrView guard;
        return forward_op(q, k, v, scale, bias, causal, head_bias, slopes, keep);
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads) {
        variable_list s = ctx->get_saved_variables();
        if (!grads[0].defined()) return variable_list(9);  // the output was not used
        auto [dq, dk, dv, d_head_bias] =
            backward_op(grads[0], s[0], s[1], s[2], ctx->saved_data["scale"].toDouble(),
                        ctx->saved_data["bias"].toDouble(), ctx->saved_data["causal"].toBool(),
                        s[3], s[4], s[5]);
        // q, k, v, scale, bias, causal, head_bias, alibi_slopes, keep
        return {dq,
                dk,
                dv,
                Tensor(),
                Tensor(),
                Tensor(),
                present(s[3]) ? d_head_bias : Tensor(),
                Tensor(),
                Tensor()};
    }
};

Tensor attention_extended(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                          double bias, bool causal, const Tensor& head_bias, const Tensor& slopes,
                          const Tensor& keep) {
    return SigmoidAttention::apply(q, k, v, scale, bias, causal, head_bias, slopes, keep);
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale, double bias,
                 bool causal) {
    Tensor none = none_like(q);
    return SigmoidAttention::apply(q, k, v, scale, bias, causal, none, none,
                                   at::empty({0}, q.options().dtype(at::kBool)));
}

// Below autograd (inference mode, or after the autograd kernel): the plain forward.
Tensor attention_extended_plain(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                                double bias, bool causal, const Tensor& head_bias,
                                const Tensor& slopes, const Tensor& keep) {
    return forward_op(q, k, v, scale, bias, causal, head_bias, slopes, keep);
}

Tensor attention_plain(const Tensor& q, const Tensor& k, const Tensor& v, double scale, double bias,
                       bool causal) {
    Tensor none = none_like(q);
    return forward_op(q, k, v, scale, bias, causal, none, none,
                      at::empty({0}, q.options().dtype(at::kBool)));
}

}  // namespace

// A fragment: libflash_sigmoid owns the namespace and its four ops.
TORCH_LIBRARY_FRAGMENT(flash_sigmoid, m) {
    m.def(
        "attention(Tensor q, Tensor k, Tensor v, float scale, float bias, bool causal) -> Tensor");
    m.def(
        "attention_extended(Tensor q, Tensor k, Tensor v, float scale, float bias, bool causal, "
        "Tensor head_bias, Tensor alibi_slopes, Tensor keep) -> Tensor");
}

TORCH_LIBRARY_IMPL(flash_sigmoid, Autograd, m) {
    m.impl("attention", &attention);
    m.impl("attention_extended", &attention_extended);
}

TORCH_LIBRARY_IMPL(flash_sigmoid, CompositeExplicitAutograd, m) {
    m.impl("attention", &attention_plain);
    m.impl("attention_extended", &attention_extended_plain);
}
