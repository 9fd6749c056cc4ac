/**
 * Sigmoid self-attention blocks for DJL.
 *
 * <p>{@link io.github.sigmoidattention.nn.SigmoidMultiHeadAttention} replaces the row softmax of
 * {@link ai.djl.nn.transformer.ScaledDotProductAttentionBlock} with an element-wise {@code
 * sigmoid(q·k/√d + b)} and takes the same inputs, so it swaps into existing DJL transformers.
 */
package io.github.sigmoidattention.nn;
