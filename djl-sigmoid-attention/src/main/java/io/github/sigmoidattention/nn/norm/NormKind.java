package io.github.sigmoidattention.nn.norm;

/**
 * The normalisation of a {@link
 * io.github.sigmoidattention.nn.transformer.SigmoidTransformerEncoderBlock} over the embedding
 * axis.
 *
 * <p>Saved blocks hold the constant's name (files of format version 2 its ordinal, read in the
 * order of that version).
 */
public enum NormKind {
    /** DJL's {@link ai.djl.nn.norm.LayerNorm} over the last axis, with gain and bias. */
    LAYER_NORM,
    /** {@link RmsNorm}, with a gain. */
    RMS_NORM
}
