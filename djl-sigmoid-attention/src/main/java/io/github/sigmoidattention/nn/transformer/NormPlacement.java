package io.github.sigmoidattention.nn.transformer;

/**
 * Where a {@link SigmoidTransformerEncoderBlock} normalises, for each of its two residual branches
 * (attention, then feed-forward); {@code f} is the branch, {@code x} its input.
 *
 * <p>Saved blocks hold the constant's name (files of format version 2 its ordinal, read in the
 * order of that version).
 */
public enum NormPlacement {
    /** Pre-norm: {@code x + f(norm(x))}. */
    PRE,
    /** Post-norm: {@code norm(x + f(x))}. */
    POST,
    /** Hybrid-norm: {@code x + norm2(f(norm1(x)))}, two norms per branch. */
    HYBRID,
    /**
     * The layout of DJL's {@link ai.djl.nn.transformer.TransformerEncoderBlock}, so that its saved
     * parameters load: post-norm with {@code BatchNorm} over axis 2, and both residuals add the
     * block's input {@code x} (DJL's feed-forward residual skips the attention output): {@code h =
     * norm1(x + f1(x))}, {@code out = norm2(x + f2(h))}. The feed-forward is DJL's {@link
     * ai.djl.nn.transformer.PointwiseFeedForwardBlock}.
     */
    DJL_POST
}
