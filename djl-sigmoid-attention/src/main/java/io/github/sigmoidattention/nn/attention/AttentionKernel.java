package io.github.sigmoidattention.nn.attention;

/** Which implementation computes the attention core of a {@link SigmoidMultiHeadAttention}. */
public enum AttentionKernel {
    /**
     * The fused kernel in inference when it is available and supports the call, else {@link
     * #REFERENCE}.
     */
    AUTO,
    /**
     * Plain NDArray operations: every option, any DJL engine, trains through DJL's autograd, and
     * materialises the (T × F) weight matrix.
     */
    REFERENCE,
    /**
     * The native FlashSigmoid op of {@code cuda-ops} in inference: never materialises the weights,
     * and throws for a call it cannot run instead of falling back. Training still runs the
     * reference kernel, whose gradients DJL's autograd computes (DJL cannot attach a native
     * backward to its autograd).
     */
    FUSED
}
