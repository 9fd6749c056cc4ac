package io.github.sigmoidattention.nn.transformer;

/**
 * The feed-forward branch of a {@link SigmoidTransformerEncoderBlock}.
 *
 * <p>Saved blocks hold the constant's name (files of format version 2 its ordinal, read in the
 * order of that version).
 */
public enum FeedForward {
    /**
     * {@code Linear(hidden) -> GELU -> Linear(E)}, as DJL's {@link
     * ai.djl.nn.transformer.PointwiseFeedForwardBlock} with {@link ai.djl.nn.Activation#gelu} (what
     * {@link ai.djl.nn.transformer.BertBlock} uses).
     */
    GELU,
    /** The same with {@link ai.djl.nn.Activation#relu}. */
    RELU,
    /** {@link SwiGluFeedForward}: {@code down(silu(gate(x)) * up(x))}. */
    SWIGLU
}
