// JNI bridge for io.github.sigmoidattention.ops.FlashSigmoidNative.
//
// Java passes DJL PtNDArray handles, which are at::Tensor pointers: the AtenTensorHandle of the
// stable ABI. The bridge never hands those to the dispatcher (which consumes what it is given);
// it passes new aliasing handles instead, and returns new handles that the caller wraps in
// PtNDArrays owned by its NDManager. Every C++ failure becomes a Java exception.
#include <jni.h>

#include <cstring>
#include <string>
#include <vector>

#include "../flash_sigmoid/flash_sigmoid.h"
#include "../torch/flash_sigmoid_ops.h"

using flash_sigmoid::AttentionArgs;
using flash_sigmoid::OpError;
using flash_sigmoid::Tensor;

namespace {

void throw_java(JNIEnv* env, const char* class_name, const std::string& message) {
    if (env->ExceptionCheck()) return;
    jclass cls = env->FindClass(class_name);
    if (!cls) {
        env->ExceptionClear();
        cls = env->FindClass("java/lang/RuntimeException");
    }
    env->ThrowNew(cls, message.c_str());
}

void throw_engine(JNIEnv* env, const std::string& message) {
    throw_java(env, "ai/djl/engine/EngineException", message);
}

// Runs fn, turning C++ exceptions into Java exceptions.
template <typename Fn>
auto guarded(JNIEnv* env, Fn fn, decltype(fn()) on_error) -> decltype(fn()) {
    try {
        return fn();
    } catch (const OpError& e) {
        throw_java(env, e.invalid_argument() ? "java/lang/IllegalArgumentException"
                                             : "ai/djl/engine/EngineException",
                   e.what());
    } catch (const std::bad_alloc&) {
        throw_engine(env, "flash_sigmoid: out of native memory");
    } catch (const std::exception& e) {
        throw_engine(env, std::string("flash_sigmoid: ") + e.what());
    } catch (...) {
        throw_engine(env, "flash_sigmoid: unknown native failure");
    }
    return on_error;
}

AtenTensorHandle as_handle(jlong h) { return reinterpret_cast<AtenTensorHandle>(h); }

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

// An alias of the array, or an empty float32 CPU tensor: "none" for the extended ops.
Tensor optional_tensor(jlong h) {
    if (h) return Tensor::alias(reinterpret_cast<AtenTensorHandle>(h));
    return Tensor::empty({0}, aoti_torch_dtype_float32(), aoti_torch_device_type_cpu(), 0);
}

// Calls an op by name through PyTorch's dispatcher.
void dispatch(const char* op, StableIValue* stack) {
    flash_sigmoid::last_error() = {};
    if (aoti_torch_call_dispatcher(op, "", stack) != AOTI_TORCH_SUCCESS) {
        flash_sigmoid::LastError& e = flash_sigmoid::last_error();
        if (!e.message.empty()) throw OpError(e.message, e.invalid_argument);
        throw OpError(std::string(op) + " failed in PyTorch's dispatcher (its log has the reason)",
                      false);
    }
}

AttentionArgs args(jlong q, jlong k, jlong v, jfloat scale, jfloat bias, jboolean causal,
                   jlong head_bias, jlong alibi, jlong keep, jlong key_lengths) {
    AttentionArgs a;
    a.q = as_handle(q);
    a.k = as_handle(k);
    a.v = as_handle(v);
    a.scale = scale;
    a.bias = bias;
    a.causal = causal == JNI_TRUE;
    a.head_bias = as_handle(head_bias);
    a.alibi_slopes = as_handle(alibi);
    a.keep = as_handle(keep);
    a.key_lengths = as_handle(key_lengths);
    return a;
}

int32_t dtype_for_code(jint code) {
    switch (code) {
        case 0: return aoti_torch_dtype_float32();
        case 1: return aoti_torch_dtype_float16();
        case 2: return aoti_torch_dtype_bfloat16();
        case 3: return aoti_torch_dtype_float64();
        default: throw OpError("convert: unknown dtype code " + std::to_string(code), true);
    }
}

}  // namespace

extern "C" {

JNIEXPORT jstring JNICALL
Java_io_github_sigmoidattention_ops_FlashSigmoidNative_registrationError(JNIEnv* env, jclass) {
    return env->NewStringUTF(flash_sigmoid::registration_error().c_str());
}

JNIEXPORT jstring JNICALL Java_io_github_sigmoidattention_ops_FlashSigmoidNative_cpuIsa(JNIEnv* env,
                                                                                      jclass) {
    return env->NewStringUTF(fs_cpu_isa());
}

JNIEXPORT jboolean JNICALL
Java_io_github_sigmoidattention_ops_FlashSigmoidNative_setCpuIsa(JNIEnv* env, jclass, jstring isa) {
    if (!isa) return JNI_FALSE;
    const char* name = env->GetStringUTFChars(isa, nullptr);
    if (!name) return JNI_FALSE;
    int status = fs_cpu_set_isa(name);
    env->ReleaseStringUTFChars(isa, name);
    return status == FS_OK ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jint JNICALL
Java_io_github_sigmoidattention_ops_FlashSigmoidNative_getNumThreads(JNIEnv*, jclass) {
    return fs_cpu_get_num_threads();
}

JNIEXPORT void JNICALL
Java_io_github_sigmoidattention_ops_FlashSigmoidNative_setNumThreads(JNIEnv*, jclass, jint n) {
    fs_cpu_set_num_threads(n);
}

JNIEXPORT jlong JNICALL Java_io_github_sigmoidattention_ops_FlashSigmoidNative_forward(
    JNIEnv* env, jclass, jlong q, jlong k, jlong v, jfloat scale, jfloat bias, jboolean causal,
    jlong head_bias, jlong alibi, jlong keep, jlong key_lengths) {
    return guarded(
        env,
        [&]() -> jlong {
            AttentionArgs a =
                args(q, k, v, scale, bias, causal, head_bias, alibi, keep, key_lengths);
            flash_sigmoid::validate_forward("forward", a);
            const bool varlen = key_lengths != 0;
            const bool extended = varlen || head_bias || alibi || keep;
            Tensor tq = Tensor::alias(a.q), tk = Tensor::alias(a.k), tv = Tensor::alias(a.v);
            Tensor hb, al, kp, kl;
            if (extended) {
                hb = optional_tensor(head_bias);
                al = optional_tensor(alibi);
                kp = optional_tensor(keep);
            }
            if (varlen) kl = optional_tensor(key_lengths);
            StableIValue stack[10];
            stack[0] = give(tq);
            stack[1] = give(tk);
            stack[2] = give(tv);
            stack[3] = pass_double(scale);
            stack[4] = pass_double(bias);
            stack[5] = causal == JNI_TRUE ? 1 : 0;
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
            return static_cast<jlong>(stack[0]);
        },
        jlong{0});
}

JNIEXPORT jlongArray JNICALL Java_io_github_sigmoidattention_ops_FlashSigmoidNative_backward(
    JNIEnv* env, jclass, jlong grad_out, jlong q, jlong k, jlong v, jfloat scale, jfloat bias,
    jboolean causal, jlong head_bias, jlong alibi, jlong keep, jlong key_lengths) {
    return guarded(
        env,
        [&]() -> jlongArray {
            AttentionArgs a =
                args(q, k, v, scale, bias, causal, head_bias, alibi, keep, key_lengths);
            const bool varlen = key_lengths != 0;
            flash_sigmoid::validate_backward("backward", as_handle(grad_out), a);
            Tensor tg = Tensor::alias(as_handle(grad_out));
            Tensor tq = Tensor::alias(a.q), tk = Tensor::alias(a.k), tv = Tensor::alias(a.v);
            Tensor hb = optional_tensor(head_bias), al = optional_tensor(alibi),
                   kp = optional_tensor(keep);
            Tensor kl;
            if (varlen) kl = optional_tensor(key_lengths);
            StableIValue stack[11];
            stack[0] = give(tg);
            stack[1] = give(tq);
            stack[2] = give(tk);
            stack[3] = give(tv);
            stack[4] = pass_double(scale);
            stack[5] = pass_double(bias);
            stack[6] = causal == JNI_TRUE ? 1 : 0;
            stack[7] = give(hb);
            stack[8] = give(al);
            stack[9] = give(kp);
            if (varlen) stack[10] = give(kl);
            dispatch(varlen ? "flash_sigmoid::backward_varlen" : "flash_sigmoid::backward_extended",
                     stack);
            jlong handles[4];
            for (int i = 0; i < 4; ++i) handles[i] = static_cast<jlong>(stack[i]);
            jlongArray result = env->NewLongArray(4);
            if (!result) {
                for (jlong h : handles) aoti_torch_delete_tensor_object(as_handle(h));
                return nullptr;
            }
            env->SetLongArrayRegion(result, 0, 4, handles);
            return result;
        },
        static_cast<jlongArray>(nullptr));
}

JNIEXPORT jlong JNICALL Java_io_github_sigmoidattention_ops_FlashSigmoidNative_convert(
    JNIEnv* env, jclass, jlong handle, jint code) {
    return guarded(
        env,
        [&]() -> jlong {
            if (!handle) throw OpError("convert: array handle is null", true);
            Tensor src = Tensor::alias(as_handle(handle));
            Tensor dst = Tensor::empty(src.sizes(), dtype_for_code(code), src.device_type(),
                                       src.device_index());
            flash_sigmoid::check_shim(aoti_torch_copy_(dst.get(), src.get(), 0),
                                      "aoti_torch_copy_");
            return reinterpret_cast<jlong>(dst.release());
        },
        jlong{0});
}

// ATen's own fused CPU attention for softmax, the baseline of the benchmarks: q, k, v of shape
// (B, H, T, D).
JNIEXPORT jlong JNICALL
Java_io_github_sigmoidattention_ops_FlashSigmoidNative_softmaxFlashAttentionCpu(
    JNIEnv* env, jclass, jlong q, jlong k, jlong v, jboolean causal) {
    return guarded(
        env,
        [&]() -> jlong {
            if (!q || !k || !v) throw OpError("softmaxFlashAttentionCpu: null handle", true);
            Tensor tq = Tensor::alias(as_handle(q)), tk = Tensor::alias(as_handle(k)),
                   tv = Tensor::alias(as_handle(v));
            StableIValue stack[7];
            stack[0] = give(tq);
            stack[1] = give(tk);
            stack[2] = give(tv);
            stack[3] = pass_double(0.0);         // dropout_p
            stack[4] = causal == JNI_TRUE ? 1 : 0;
            stack[5] = 0;                        // attn_mask: None
            stack[6] = 0;                        // scale: None (1/sqrt(D))
            if (aoti_torch_call_dispatcher("aten::_scaled_dot_product_flash_attention_for_cpu", "",
                                           stack) != AOTI_TORCH_SUCCESS) {
                throw OpError("aten::_scaled_dot_product_flash_attention_for_cpu failed", false);
            }
            aoti_torch_delete_tensor_object(as_handle(static_cast<jlong>(stack[1])));  // logsumexp
            return static_cast<jlong>(stack[0]);
        },
        jlong{0});
}

}  // extern "C"
