// JNI bridge for io.github.sigmoidattention.ops.FlashSigmoidNative.
//
// Java passes DJL PtNDArray handles, which are at::Tensor pointers: the AtenTensorHandle of the
// stable ABI. The bridge calls the op layer (torch/attention.h) directly: it validates once and
// runs the kernels, with no round trip through PyTorch's dispatcher. It returns new handles that
// the caller wraps in PtNDArrays owned by its NDManager. Every C++ failure becomes a Java
// exception.
#include <jni.h>

#include <array>
#include <string>
#include <vector>

#include "../flash_sigmoid/flash_sigmoid.h"
#include "../torch/attention.h"
#include "../torch/aten.h"

using flash_sigmoid::AttentionArgs;
using flash_sigmoid::OpError;

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
        throw_java(env,
                   e.invalid_argument() ? "java/lang/IllegalArgumentException"
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

AtenTensorHandle as_handle(jlong h) {
    return reinterpret_cast<AtenTensorHandle>(h);
}

jlong as_jlong(AtenTensorHandle h) {
    return reinterpret_cast<jlong>(h);
}

// The call's tensors, in the order FlashSigmoidNative passes them: q, k, v, head_bias,
// alibi_slopes, keep, key_lengths (0 for "none").
constexpr jsize kTensorCount = 7;

AttentionArgs args(JNIEnv* env, jlongArray tensors, jfloat scale, jfloat bias, jboolean causal) {
    if (!tensors || env->GetArrayLength(tensors) != kTensorCount) {
        throw OpError("flash_sigmoid: expected 7 tensor handles", true);
    }
    jlong h[kTensorCount];
    env->GetLongArrayRegion(tensors, 0, kTensorCount, h);
    AttentionArgs a;
    a.q = as_handle(h[0]);
    a.k = as_handle(h[1]);
    a.v = as_handle(h[2]);
    a.scale = scale;
    a.bias = bias;
    a.causal = causal == JNI_TRUE;
    a.head_bias = as_handle(h[3]);
    a.alibi_slopes = as_handle(h[4]);
    a.keep = as_handle(h[5]);
    a.key_lengths = as_handle(h[6]);
    return a;
}

int32_t dtype_for_code(jint code) {
    switch (code) {
        case 0:
            return aoti_torch_dtype_float32();
        case 1:
            return aoti_torch_dtype_float16();
        case 2:
            return aoti_torch_dtype_bfloat16();
        case 3:
            return aoti_torch_dtype_float64();
        default:
            throw OpError("convert: unknown dtype code " + std::to_string(code), true);
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

JNIEXPORT jboolean JNICALL
Java_io_github_sigmoidattention_ops_FlashSigmoidNative_getCpuSplitKv(JNIEnv*, jclass) {
    return fs_cpu_get_split_kv() != 0 ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT void JNICALL Java_io_github_sigmoidattention_ops_FlashSigmoidNative_setCpuSplitKv(
    JNIEnv*, jclass, jboolean enabled) {
    fs_cpu_set_split_kv(enabled == JNI_TRUE ? 1 : 0);
}

JNIEXPORT jlong JNICALL Java_io_github_sigmoidattention_ops_FlashSigmoidNative_forward(
    JNIEnv* env, jclass, jlongArray tensors, jfloat scale, jfloat bias, jboolean causal) {
    return guarded(
        env,
        [&]() -> jlong {
            return as_jlong(
                flash_sigmoid::attention_forward("forward", args(env, tensors, scale, bias, causal))
                    .release());
        },
        jlong{0});
}

JNIEXPORT jlong JNICALL Java_io_github_sigmoidattention_ops_FlashSigmoidNative_attention(
    JNIEnv* env, jclass, jlongArray tensors, jfloat scale, jfloat bias, jboolean causal) {
    return guarded(
        env,
        [&]() -> jlong {
            return as_jlong(
                flash_sigmoid::differentiable_attention(args(env, tensors, scale, bias, causal)));
        },
        jlong{0});
}

JNIEXPORT jlongArray JNICALL Java_io_github_sigmoidattention_ops_FlashSigmoidNative_backward(
    JNIEnv* env, jclass, jlong grad_out, jlongArray tensors, jfloat scale, jfloat bias,
    jboolean causal) {
    return guarded(
        env,
        [&]() -> jlongArray {
            flash_sigmoid::Gradients g = flash_sigmoid::attention_backward(
                "backward", as_handle(grad_out), args(env, tensors, scale, bias, causal), true);
            jlongArray result = env->NewLongArray(4);
            if (!result) return nullptr;  // OutOfMemoryError pending; g frees the gradients
            jlong handles[4] = {as_jlong(g.dq.release()), as_jlong(g.dk.release()),
                                as_jlong(g.dv.release()), as_jlong(g.d_head_bias.release())};
            env->SetLongArrayRegion(result, 0, 4, handles);
            return result;
        },
        static_cast<jlongArray>(nullptr));
}

JNIEXPORT jintArray JNICALL
Java_io_github_sigmoidattention_ops_FlashSigmoidNative_cudaHeadDims(JNIEnv* env, jclass) {
    int dims[16] = {0};
    int n = 0;
#ifdef FS_WITH_CUDA
    if (fs_cuda_available()) n = fs_cuda_head_dims(dims, 16);
#endif
    if (n > 16) n = 16;
    jintArray result = env->NewIntArray(n);
    if (result && n > 0) {
        jint values[16];
        for (int i = 0; i < n; ++i) values[i] = dims[i];
        env->SetIntArrayRegion(result, 0, n, values);
    }
    return result;
}

JNIEXPORT jboolean JNICALL
Java_io_github_sigmoidattention_ops_FlashSigmoidNative_isLeaf(JNIEnv* env, jclass, jlong handle) {
    return guarded(
        env,
        [&]() -> jboolean {
            return flash_sigmoid::tensor_is_leaf(as_handle(handle)) ? JNI_TRUE : JNI_FALSE;
        },
        static_cast<jboolean>(JNI_TRUE));
}

JNIEXPORT jint JNICALL Java_io_github_sigmoidattention_ops_FlashSigmoidNative_dtypeCode(
    JNIEnv* env, jclass, jlong handle) {
    return guarded(
        env,
        [&]() -> jint {
            if (!handle) throw OpError("dtypeCode: array handle is null", true);
            int32_t dtype = 0;
            flash_sigmoid::check_shim(aoti_torch_get_dtype(as_handle(handle), &dtype),
                                      "aoti_torch_get_dtype");
            for (jint code = 0; code < 4; ++code) {
                if (dtype_for_code(code) == dtype) return code;
            }
            return jint{-1};
        },
        jint{-1});
}

JNIEXPORT jlong JNICALL Java_io_github_sigmoidattention_ops_FlashSigmoidNative_convert(JNIEnv* env,
                                                                                       jclass,
                                                                                       jlong handle,
                                                                                       jint code) {
    return guarded(
        env,
        [&]() -> jlong {
            return as_jlong(flash_sigmoid::converted_copy(as_handle(handle), dtype_for_code(code)));
        },
        jlong{0});
}

// ATen's own fused CPU attention for softmax, the baseline of the benchmarks: q, k, v of shape
// (B, H, T, D).
JNIEXPORT jlong JNICALL
Java_io_github_sigmoidattention_ops_FlashSigmoidNative_softmaxFlashAttentionCpu(JNIEnv* env, jclass,
                                                                                jlong q, jlong k,
                                                                                jlong v,
                                                                                jboolean causal) {
    return guarded(
        env,
        [&]() -> jlong {
            return as_jlong(flash_sigmoid::softmax_flash_attention_cpu(
                as_handle(q), as_handle(k), as_handle(v), causal == JNI_TRUE));
        },
        jlong{0});
}

}  // extern "C"
