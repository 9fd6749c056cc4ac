package io.github.sigmoidattention.nn;

/**
 * The normalisation of a {@link SigmoidTransformerEncoderBlock} over the embedding axis.
 *
 * <p>The ordinals are part of the saved parameter format: add new constants at the end.
 */
public enum NormKind {
    /** DJL's {@link ai.djl.nn.norm.LayerNorm} over the last axis, with gain and bias. */
    LAYER_NORM,
    /** {@link RmsNorm}, with a gain. */
    RMS_NORM
}
