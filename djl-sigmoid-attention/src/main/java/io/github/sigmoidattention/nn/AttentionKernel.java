package io.github.sigmoidattention.nn;

/** Which implementation computes the attention core of a {@link SigmoidMultiHeadAttention}. */
public enum AttentionKernel {
    /** The fused kernel when it is available and supports the call, else {@link #REFERENCE}. */
    AUTO,
    /**
     * Plain NDArray operations: every option, any DJL engine, trains through DJL's autograd, and
     * materialises the (T × F) weight matrix.
     */
    REFERENCE,
    /** The native FlashSigmoid op of {@code cuda-ops}; never falls back silently. */
    FUSED
}
