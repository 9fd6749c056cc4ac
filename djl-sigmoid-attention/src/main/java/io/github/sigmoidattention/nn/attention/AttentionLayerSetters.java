package io.github.sigmoidattention.nn.attention;

import io.github.sigmoidattention.nn.util.Arguments;

/**
 * The setters every builder of a layer with sigmoid attention shares beyond the options: its width
 * E, its query heads H and LayerScale (on the attention output for {@link
 * SigmoidMultiHeadAttention}, on both residual branches for an encoder layer).
 *
 * @param <B> the builder
 */
public abstract class AttentionLayerSetters<B extends AttentionLayerSetters<B>>
        extends AttentionOptions.Setters<B> {

    private int embeddingSize;
    private int headCount;
    private boolean layerScale;
    private float layerScaleInit = 1e-4f;

    /** Creates setters with the defaults. */
    protected AttentionLayerSetters() {}

    /**
     * Sets the embedding size E of the input and output.
     *
     * @param embeddingSize E, a multiple of the head count
     * @return this builder
     */
    public B setEmbeddingSize(int embeddingSize) {
        this.embeddingSize = embeddingSize;
        return self();
    }

    /**
     * Sets the number of query heads H; the head dimension is D = E / H.
     *
     * @param headCount H
     * @return this builder
     */
    public B setHeadCount(int headCount) {
        this.headCount = headCount;
        return self();
    }

    /**
     * Enables a per-channel learned LayerScale gain, initialised to 1e-4.
     *
     * @param layerScale whether to scale
     * @return this builder
     */
    public B optLayerScale(boolean layerScale) {
        this.layerScale = layerScale;
        return self();
    }

    /**
     * Enables LayerScale with the given initial gain.
     *
     * @param initValue the initial gain, finite
     * @return this builder
     */
    public B optLayerScale(float initValue) {
        this.layerScaleInit = Arguments.requireFinite("layerScale initial value", initValue);
        this.layerScale = true;
        return self();
    }

    /**
     * Returns E as set.
     *
     * @return E, or 0 when not set
     */
    protected int embeddingSize() {
        return embeddingSize;
    }

    /**
     * Returns H as set.
     *
     * @return H, or 0 when not set
     */
    protected int headCount() {
        return headCount;
    }

    /**
     * Returns whether LayerScale is on.
     *
     * @return true with LayerScale
     */
    protected boolean layerScale() {
        return layerScale;
    }

    /**
     * Returns the initial LayerScale gain.
     *
     * @return the gain
     */
    protected float layerScaleInit() {
        return layerScaleInit;
    }
}
