/**
 * Sigmoid attention: the block {@link
 * io.github.sigmoidattention.nn.attention.SigmoidMultiHeadAttention}, a drop-in for DJL's {@link
 * ai.djl.nn.transformer.ScaledDotProductAttentionBlock} with {@code sigmoid(q·k/√d + b)} in place
 * of the row softmax; its options ({@link
 * io.github.sigmoidattention.nn.attention.AttentionOptions}, {@link
 * io.github.sigmoidattention.nn.attention.SigmoidBias}, {@link
 * io.github.sigmoidattention.nn.attention.QkNorm}, {@link
 * io.github.sigmoidattention.nn.attention.AttentionKernel}); the cache of decoding ({@link
 * io.github.sigmoidattention.nn.attention.KvCache}); and the attention core as a function ({@link
 * io.github.sigmoidattention.nn.attention.SigmoidAttention}). The kernels behind it are the
 * reference one (NDArray operations, differentiable) and the fused one of cuda-ops.
 */
package io.github.sigmoidattention.nn.attention;
