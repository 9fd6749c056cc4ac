// The registered ops: one table of names and schemas (docs/native-op.md explains them), one boxed
// kernel per entry made from a template, and the registration of every entry for the CPU and CUDA
// dispatch keys when the library loads.
#include <array>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "attention.h"

namespace flash_sigmoid {

LastError& last_error() {
    thread_local LastError error;
    return error;
}

namespace {

struct OpSpec {
    const char* name;
    const char* schema;
    bool backward;  // grad_out leads the arguments; the outputs are gradients
    int optional;   // tensors after causal: 0, or head_bias, alibi_slopes, keep (3), and k_lens (4)
};

constexpr OpSpec kOps[] = {
    {"forward",
     "forward(Tensor q, Tensor k, Tensor v, float scale, float bias, bool causal) -> Tensor", false,
     0},
    {"backward",
     "backward(Tensor grad_out, Tensor q, Tensor k, Tensor v, float scale, float bias, bool causal)"
     " -> (Tensor, Tensor, Tensor)",
     true, 0},
    {"forward_extended",
     "forward_extended(Tensor q, Tensor k, Tensor v, float scale, float bias, bool causal, "
     "Tensor head_bias, Tensor alibi_slopes, Tensor keep) -> Tensor",
     false, 3},
    {"backward_extended",
     "backward_extended(Tensor grad_out, Tensor q, Tensor k, Tensor v, float scale, float bias, "
     "bool causal, Tensor head_bias, Tensor alibi_slopes, Tensor keep) -> "
     "(Tensor, Tensor, Tensor, Tensor)",
     true, 3},
    {"forward_varlen",
     "forward_varlen(Tensor q, Tensor k, Tensor v, float scale, float bias, bool causal, "
     "Tensor head_bias, Tensor alibi_slopes, Tensor keep, Tensor k_lens) -> Tensor",
     false, 4},
    {"backward_varlen",
     "backward_varlen(Tensor grad_out, Tensor q, Tensor k, Tensor v, float scale, float bias, "
     "bool causal, Tensor head_bias, Tensor alibi_slopes, Tensor keep, Tensor k_lens) -> "
     "(Tensor, Tensor, Tensor, Tensor)",
     true, 4},
};
constexpr size_t kOpCount = sizeof(kOps) / sizeof(kOps[0]);

// --- The calling convention of aoti_torch_library_impl -----------------------------------------
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

StableIValue from_tensor(Tensor&& t) {
    return static_cast<StableIValue>(reinterpret_cast<uintptr_t>(t.release()));
}

void run_boxed(const OpSpec& op, StableIValue* stack) {
    // Take ownership of every tensor argument first, so that none leaks when a call fails.
    const int first = op.backward ? 1 : 0;  // position of q
    Tensor grad_out = op.backward ? Tensor(handle_at(stack, 0)) : Tensor();
    Tensor q(handle_at(stack, first)), k(handle_at(stack, first + 1)),
        v(handle_at(stack, first + 2));
    std::vector<Tensor> optional;
    for (int i = 0; i < op.optional; ++i) optional.emplace_back(handle_at(stack, first + 6 + i));
    try {
        AttentionArgs a;
        a.q = q.get();
        a.k = k.get();
        a.v = v.get();
        a.scale = double_at(stack, first + 3);
        a.bias = double_at(stack, first + 4);
        a.causal = (stack[first + 5] & 0xff) != 0;
        AtenTensorHandle* slots[] = {&a.head_bias, &a.alibi_slopes, &a.keep, &a.key_lengths};
        for (int i = 0; i < op.optional; ++i) *slots[i] = optional[i].get();
        if (!op.backward) {
            stack[0] = from_tensor(attention_forward(op.name, a));
            return;
        }
        Gradients g = attention_backward(op.name, grad_out.get(), a, op.optional > 0);
        stack[0] = from_tensor(std::move(g.dq));
        stack[1] = from_tensor(std::move(g.dk));
        stack[2] = from_tensor(std::move(g.dv));
        if (op.optional > 0) stack[3] = from_tensor(std::move(g.d_head_bias));
    } catch (const OpError& e) {
        last_error() = {e.what(), e.invalid_argument()};
        throw;
    } catch (const std::exception& e) {
        last_error() = {std::string("flash_sigmoid::") + op.name + ": " + e.what(), false};
        throw;
    }
}

template <size_t I>
void boxed(StableIValue* stack, uint64_t, uint64_t) {
    run_boxed(kOps[I], stack);
}

using BoxedKernel = void (*)(StableIValue*, uint64_t, uint64_t);

template <size_t... I>
constexpr std::array<BoxedKernel, kOpCount> kernels(std::index_sequence<I...>) {
    return {&boxed<I>...};
}

constexpr std::array<BoxedKernel, kOpCount> kKernels =
    kernels(std::make_index_sequence<kOpCount>{});

std::string& registration_error_storage() {
    static std::string error;
    return error;
}

// Registers the schemas and the kernels once, when the library is loaded, for the CPU and the
// CUDA keys: also in a build without CUDA kernels, so that a call with CUDA tensors gets
// validate()'s message ("this build has only the CPU kernels") rather than the dispatcher's.
// The library objects are never freed: freeing them would deregister the ops.
struct Registration {
    Registration() {
        std::string& error = registration_error_storage();
        TorchLibraryHandle def = nullptr;
        if (aoti_torch_library_init_def("flash_sigmoid", __FILE__, __LINE__, &def) != 0) {
            error =
                "the flash_sigmoid namespace could not be defined (is another copy of this "
                "library already loaded?)";
            return;
        }
        for (const OpSpec& op : kOps) {
            if (aoti_torch_library_def(def, op.schema) != 0) {
                error = std::string("could not define flash_sigmoid::") + op.schema;
                return;
            }
        }
        for (const char* key : {"CPU", "CUDA"}) {
            TorchLibraryHandle impl = nullptr;
            if (aoti_torch_library_init_impl("flash_sigmoid", key, __FILE__, __LINE__, &impl) !=
                0) {
                error = std::string("could not register the ") + key + " kernels of flash_sigmoid";
                return;
            }
            for (size_t i = 0; i < kOpCount; ++i) {
                if (aoti_torch_library_impl(impl, kOps[i].name, kKernels[i]) != 0) {
                    error = std::string("could not register flash_sigmoid::") + kOps[i].name +
                            " for " + key;
                    return;
                }
            }
        }
    }
};

const Registration registration;

}  // namespace

const std::string& registration_error() {
    return registration_error_storage();
}

}  // namespace flash_sigmoid
