package io.github.sigmoidattention.nn.attention;

/**
 * Normalisation applied to queries and keys over the head dimension, per head, after projection and
 * before RoPE and scaling. It bounds the attention logits, which the sigmoid-attention paper
 * recommends for stable early training.
 */
public enum QkNorm {
    /** No normalisation. */
    NONE,
    /** {@link ai.djl.nn.norm.LayerNorm} over the head dimension: learned gain and offset. */
    LAYER_NORM,
    /** {@link RmsNorm} over the head dimension: learned gain. */
    RMS_NORM
}
