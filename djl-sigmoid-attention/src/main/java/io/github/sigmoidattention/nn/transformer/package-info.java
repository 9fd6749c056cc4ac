/**
 * Transformer layers with sigmoid attention: the encoder layer {@link
 * io.github.sigmoidattention.nn.transformer.SigmoidTransformerEncoderBlock} (the norm placements,
 * norms and feed-forwards the paper studied, and DJL's own layout), the BERT twin {@link
 * io.github.sigmoidattention.nn.transformer.SigmoidBertBlock}, and {@link
 * io.github.sigmoidattention.nn.transformer.SigmoidConversions}, which turns initialised DJL
 * attention, encoder and BERT blocks into sigmoid twins with the same weights.
 */
package io.github.sigmoidattention.nn.transformer;
