package io.github.sigmoidattention.nn.transformer;

import io.github.sigmoidattention.nn.norm.NormKind;

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
    DJL_POST;

    /**
     * Returns the norm an encoder with this placement uses: the one asked for (default {@link
     * NormKind#LAYER_NORM}), or none for {@link #DJL_POST}, which uses DJL's BatchNorm and
     * PointwiseFeedForwardBlock.
     *
     * @param requested the norm the builder was given, or null
     * @param feedForward the feed-forward the builder was given
     * @return the norm, or null for DJL_POST
     * @throws IllegalArgumentException for a norm or a SwiGLU feed-forward with DJL_POST
     */
    NormKind resolveNorm(NormKind requested, FeedForward feedForward) {
        if (this != DJL_POST) {
            return requested == null ? NormKind.LAYER_NORM : requested;
        }
        if (requested != null) {
            throw new IllegalArgumentException(
                    "norm: NormPlacement.DJL_POST uses DJL's BatchNorm over axis 2, so it takes no"
                            + " norm, got "
                            + requested);
        }
        if (feedForward == FeedForward.SWIGLU) {
            throw new IllegalArgumentException(
                    "feedForward: NormPlacement.DJL_POST uses DJL's PointwiseFeedForwardBlock (GELU"
                            + " or RELU), got SWIGLU");
        }
        return null;
    }
}
