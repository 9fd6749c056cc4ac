package io.github.sigmoidattention.ops;

/** The JNI entry points of libflash_sigmoid.so. Handles are DJL PtNDArray handles. */
final class FlashSigmoidNative {

    private FlashSigmoidNative() {}

    /** Empty when the ops registered with PyTorch's dispatcher, else the reason. */
    static native String registrationError();

    static native String cpuIsa();

    static native boolean setCpuIsa(String isa);

    static native int getNumThreads();

    static native void setNumThreads(int threads);

    static native boolean getCpuSplitKv();

    static native void setCpuSplitKv(boolean enabled);

    /**
     * Validates the call and runs the forward kernels. tensors: q, k, v, headBias, alibiSlopes,
     * keep, keyLengths; 0 for "none".
     */
    static native long forward(long[] tensors, float scale, float bias, boolean causal);

    /**
     * The differentiable op of libflash_sigmoid_autograd through PyTorch's dispatcher: autograd
     * records it when an input requires a gradient. keyLengths must be 0.
     */
    static native long attention(long[] tensors, float scale, float bias, boolean causal);

    /** The backward: handles of dq, dk, dv and the head-bias gradient. */
    static native long[] backward(
            long gradOut, long[] tensors, float scale, float bias, boolean causal);

    /** The head dims the CUDA kernels were compiled for; empty without CUDA kernels or a GPU. */
    static native int[] cudaHeadDims();

    /** Whether a tensor is a leaf of autograd's graph (aten::is_leaf). */
    static native boolean isLeaf(long handle);

    /** The dtype of a tensor: code 0 float32, 1 float16, 2 bfloat16, 3 float64, -1 another. */
    static native int dtypeCode(long handle);

    /** A converted copy: code 0 float32, 1 float16, 2 bfloat16, 3 float64. */
    static native long convert(long handle, int dtypeCode);

    /** aten::_scaled_dot_product_flash_attention_for_cpu on (B, H, T, D) inputs. */
    static native long softmaxFlashAttentionCpu(long q, long k, long v, boolean causal);
}
