/**
 * Sigmoid self-attention blocks for DJL.
 *
 * <p>{@link io.github.sigmoidattention.nn.SigmoidMultiHeadAttention} replaces the row softmax of
 * {@link ai.djl.nn.transformer.ScaledDotProductAttentionBlock} with an element-wise {@code
 * sigmoid(q·k/√d + b)} and takes the same inputs, so it swaps into existing DJL transformers.
 * {@link io.github.sigmoidattention.nn.SigmoidTransformerEncoderBlock} is an encoder layer around
 * it; {@link io.github.sigmoidattention.nn.SigmoidConversions} turns initialised DJL attention,
 * encoder and BERT blocks into sigmoid twins with the same weights, and {@link
 * io.github.sigmoidattention.nn.SigmoidBertBlock} also loads the parameters DJL's {@code BertBlock}
 * saves.
 */
package io.github.sigmoidattention.nn;
