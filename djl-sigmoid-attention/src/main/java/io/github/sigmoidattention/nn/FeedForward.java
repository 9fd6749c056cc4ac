package io.github.sigmoidattention.nn;

/**
 * The feed-forward branch of a {@link SigmoidTransformerEncoderBlock}.
 *
 * <p>The ordinals are part of the saved parameter format: add new constants at the end.
 */
public enum FeedForward {
    /**
     * {@code Linear(hidden) -> GELU -> Linear(E)}, as DJL's {@link
     * ai.djl.nn.transformer.PointwiseFeedForwardBlock} with {@link ai.djl.nn.Activation#gelu}
     * (what {@link ai.djl.nn.transformer.BertBlock} uses).
     */
    GELU,
    /** The same with {@link ai.djl.nn.Activation#relu}. */
    RELU,
    /** {@link SwiGluFeedForward}: {@code down(silu(gate(x)) * up(x))}. */
    SWIGLU
}
