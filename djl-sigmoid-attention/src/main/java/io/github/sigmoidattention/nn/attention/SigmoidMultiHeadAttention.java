package io.github.sigmoidattention.nn.attention;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.sigmoidattention.nn.norm.LayerScale;
import io.github.sigmoidattention.nn.norm.RmsNorm;
import io.github.sigmoidattention.nn.util.Arguments;
import io.github.sigmoidattention.nn.util.FormattedBlock;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;

/**
 * Multi-head attention with an element-wise sigmoid in place of the row softmax: {@code out_i = Σ_j
 * sigmoid(q_i·k_j / √D + b) · v_j}, with no normalisation over j (Ramapuram et al., 2024, "Theory,
 * Analysis, and Best Practices for Sigmoid Self-Attention").
 *
 * <p>It takes the inputs of DJL's {@link ai.djl.nn.transformer.ScaledDotProductAttentionBlock} and
 * has the same first children, so it swaps into existing transformer models:
 *
 * <ul>
 *   <li>{@code [X]}: self-attention, X of shape (B, T, E);
 *   <li>{@code [X, mask]}: masked self-attention;
 *   <li>{@code [K, Q, V]}: K and V of shape (B, F, E), Q of shape (B, T, E);
 *   <li>{@code [K, Q, V, mask]}.
 * </ul>
 *
 * <p>A mask of shape (B, T, F) or a key-padding mask of shape (B, F) holds 1 (or true) where a
 * query may attend and 0 where not; a masked key contributes exactly zero, whatever its inputs
 * hold. Its batch dimension may be 1 for the whole batch. A 4-D mask (B, 1, T, F) is read as DJL's
 * additive offset, as {@link ai.djl.nn.transformer.BertBlock} passes it: 0 attends, a negative
 * value masks. The output has shape (B, T, E) and the data type of the input.
 *
 * <p>Children, in order: the {@link Linear} blocks {@code keyProjection}, {@code queryProjection},
 * {@code valueProjection} (G·D units each), {@code resultProjection} (E units), the {@link Dropout}
 * {@code probabilityDropout} (as in DJL's block), then, when enabled, {@code queryNorm} and {@code
 * keyNorm}, {@code headBias} and {@code layerScale}. Parameters saved by DJL's {@code
 * ScaledDotProductAttentionBlock} load into a block with G = H; the extra children keep their
 * initial values.
 *
 * <p>Forward parameter {@link #POSITION_OFFSET}: an integer added to every RoPE position. Forward
 * parameter {@link #KV_CACHE}: a {@link KvCache} of this block, for autoregressive decoding (see
 * there).
 */
// Tensor dimensions are named as in the paper: B, T, F, E, H, G, D.
@SuppressWarnings({"LocalVariableName", "ParameterName"})
public final class SigmoidMultiHeadAttention extends FormattedBlock<SigmoidMultiHeadAttention> {

    /** Name of the forward parameter that shifts RoPE positions (a non-negative integer). */
    public static final String POSITION_OFFSET = "positionOffset";

    /** Forward parameter: a {@link KvCache} to append to and attend over (inference only). */
    public static final String KV_CACHE = "kvCache";

    private final int embeddingSize;
    private final int headCount;
    private final int kvHeadCount;
    private final int headDim;
    private final AttentionOptions options;
    private final boolean layerScaleEnabled;
    private final AttentionCore core;

    private final Linear keyProjection;
    private final Linear queryProjection;
    private final Linear valueProjection;
    private final Linear resultProjection;
    private final Dropout probabilityDropout;
    private final Block queryNorm;
    private final Block keyNorm;
    private final HeadBias headBias;
    private final LayerScale layerScale;

    private SigmoidMultiHeadAttention(Builder builder) {
        super(AttentionFormat.INSTANCE);
        options = builder.attentionOptions();
        embeddingSize = builder.embeddingSize();
        headCount = builder.headCount();
        kvHeadCount = options.kvHeadsFor(headCount);
        headDim = embeddingSize / headCount;
        layerScaleEnabled = builder.layerScale();

        int kvUnits = kvHeadCount * headDim;
        keyProjection = addChildBlock("keyProjection", projection(kvUnits));
        queryProjection = addChildBlock("queryProjection", projection(embeddingSize));
        valueProjection = addChildBlock("valueProjection", projection(kvUnits));
        resultProjection = addChildBlock("resultProjection", projection(embeddingSize));
        probabilityDropout =
                addChildBlock(
                        "probabilityDropout",
                        Dropout.builder().optRate(options.getAttentionDropout()).build());
        boolean qkNorm = options.getQkNorm() != QkNorm.NONE;
        queryNorm = qkNorm ? addChildBlock("queryNorm", headNorm()) : null;
        keyNorm = qkNorm ? addChildBlock("keyNorm", headNorm()) : null;
        SigmoidBias bias = options.getBias();
        headBias =
                bias.isLearned()
                        ? addChildBlock("headBias", new HeadBias(headCount, bias.getValue()))
                        : null;
        layerScale =
                layerScaleEnabled
                        ? addChildBlock(
                                "layerScale",
                                LayerScale.builder().optInitValue(builder.layerScaleInit()).build())
                        : null;
        core = new AttentionCore(options, headCount, headDim, headBias, probabilityDropout);
    }

    private static Linear projection(int units) {
        return Linear.builder().setUnits(units).optBias(true).build();
    }

    private Block headNorm() {
        float epsilon = options.getQkNormEpsilon();
        return options.getQkNorm() == QkNorm.LAYER_NORM
                ? LayerNorm.builder().optEpsilon(epsilon).build()
                : RmsNorm.builder().optEpsilon(epsilon).build();
    }

    /**
     * Creates a builder for a {@code SigmoidMultiHeadAttention}.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the projection of the keys, (B, F, E) to (B, F, G·D).
     *
     * @return the key projection
     */
    public Linear getKeyProjection() {
        return keyProjection;
    }

    /**
     * Returns the projection of the queries, (B, T, E) to (B, T, E).
     *
     * @return the query projection
     */
    public Linear getQueryProjection() {
        return queryProjection;
    }

    /**
     * Returns the projection of the values, (B, F, E) to (B, F, G·D).
     *
     * @return the value projection
     */
    public Linear getValueProjection() {
        return valueProjection;
    }

    /**
     * Returns the projection of the concatenated heads, (B, T, E) to (B, T, E).
     *
     * @return the result projection
     */
    public Linear getResultProjection() {
        return resultProjection;
    }

    /**
     * Returns the embedding size E.
     *
     * @return E
     */
    public int getEmbeddingSize() {
        return embeddingSize;
    }

    /**
     * Returns the number of query heads H.
     *
     * @return H
     */
    public int getHeadCount() {
        return headCount;
    }

    /**
     * Returns the number of key/value heads G.
     *
     * @return G
     */
    public int getKvHeadCount() {
        return kvHeadCount;
    }

    /**
     * Returns the head dimension D = E / H.
     *
     * @return D
     */
    public int getHeadDim() {
        return headDim;
    }

    /**
     * Returns the attention options.
     *
     * @return the options
     */
    public AttentionOptions getOptions() {
        return options;
    }

    /**
     * Returns whether a LayerScale gain follows the output projection.
     *
     * @return true with LayerScale
     */
    public boolean isLayerScale() {
        return layerScaleEnabled;
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        if (inputShapes.length < 1 || inputShapes.length > 4) {
            throw new IllegalArgumentException(
                    "inputShapes: expected 1 to 4 shapes ([X], [X, mask], [K, Q, V] or [K, Q,"
                            + " V, mask]), got "
                            + inputShapes.length);
        }
        return new Shape[] {inputShapes[inputShapes.length <= 2 ? 0 : 1]};
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        Arguments.requireUsableDataType(manager, dataType, "dataType");
        AttentionInputs.requireInitializationShapes(embeddingSize, inputShapes);
        // DJL's five children first: the projections and the weight dropout.
        for (Block child : getChildren().values().subList(0, 5)) {
            child.initialize(manager, dataType, new Shape(-1, embeddingSize));
        }
        initializeExtras(manager, dataType);
    }

    /** Initialises the children DJL's block does not have. */
    void initializeExtras(NDManager manager, DataType dataType) {
        Shape headShape = new Shape(-1, headDim);
        if (queryNorm != null) {
            queryNorm.initialize(manager, dataType, headShape);
            keyNorm.initialize(manager, dataType, headShape);
        }
        if (headBias != null) {
            headBias.initialize(manager, dataType, headBias.getShape());
        }
        if (layerScale != null) {
            layerScale.initialize(manager, dataType, new Shape(-1, embeddingSize));
        }
    }

    /**
     * Returns the data type of the block's parameters.
     *
     * @return the type, or null before the block is initialized
     */
    DataType getParameterDataType() {
        Parameter weight = queryProjection.getParameters().get("weight");
        return weight != null && weight.isInitialized() ? weight.getArray().getDataType() : null;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        AttentionInputs in = AttentionInputs.validate(this, inputs, params);
        KvCache cache = KvCache.forCall(this, in, params, training);
        if (cache == null) {
            return attend(parameterStore, in, null, training);
        }
        return cache.keepUnlessSuccessful(() -> attend(parameterStore, in, cache, training));
    }

    private NDList attend(
            ParameterStore parameterStore, AttentionInputs in, KvCache cache, boolean training) {
        long B = in.batch;
        long T = in.queryLength;
        long F = in.keyLength;
        // A key the mask pads contributes nothing, not even a NaN or Inf it holds (0 * NaN is
        // NaN): its rows of the key and value inputs are zeroed before the projections, which
        // also keeps them out of the projections' gradients. Queries keep their input.
        NDArray keyInput = in.key;
        NDArray valueInput = in.value;
        if (in.isKeyPadding()) {
            keyInput = AttentionMasks.zeroPaddedRows(in.key, in.mask);
            valueInput =
                    in.value == in.key
                            ? keyInput
                            : AttentionMasks.zeroPaddedRows(in.value, in.mask);
        }
        NDArray q = project(parameterStore, queryProjection, in.query, training, T, headCount);
        NDArray k = project(parameterStore, keyProjection, keyInput, training, F, kvHeadCount);
        NDArray v = project(parameterStore, valueProjection, valueInput, training, F, kvHeadCount);
        if (queryNorm != null) {
            q = normalizeHeads(parameterStore, queryNorm, q, training);
            k = normalizeHeads(parameterStore, keyNorm, k, training);
        }
        // With a cache, the new positions follow the cached ones.
        long cached = cache == null ? 0 : cache.getLength();
        if (options.isRope()) {
            long offset = in.positionOffset + cached;
            q = Positions.applyRope(q, offset + F - T, options.getRopeBase());
            k = Positions.applyRope(k, offset, options.getRopeBase());
        }
        NDArray keep;
        NDArray keyLengths = null;
        if (cache != null) {
            cache.append(k, v, in.mask);
            k = cache.keys();
            v = cache.values();
            F = cache.getLength();
            keep = AttentionMasks.keep(cache.keep(), T, F);
        } else {
            keep = AttentionMasks.keep(in.mask, T, F);
            // Right-padded sequences let the fused kernel skip their padding.
            keyLengths = in.isKeyPadding() ? AttentionMasks.keyLengths(in.mask, B) : null;
        }
        NDArray heads = core.attend(parameterStore, q, k, v, keep, keyLengths, training);
        NDArray merged = heads.reshape(B * T, embeddingSize);
        NDList out =
                new NDList(
                        resultProjection
                                .forward(parameterStore, new NDList(merged), training)
                                .head()
                                .reshape(B, T, embeddingSize));
        return layerScale == null ? out : layerScale.forward(parameterStore, out, training);
    }

    /** Projects (B, S, E) and splits the heads: (B, S, heads, D). */
    private NDArray project(
            ParameterStore parameterStore,
            Linear projection,
            NDArray x,
            boolean training,
            long length,
            int heads) {
        // Two dimensions: DJL's Linear runs a (B, S, E) input as a matmul and a separate bias
        // add, a (B·S, E) one as one addmm with the bias fused (a quarter faster on the GPU).
        Shape shape = x.getShape();
        NDArray flat = x.reshape(shape.get(0) * shape.get(1), shape.get(2));
        NDArray y = projection.forward(parameterStore, new NDList(flat), training).head();
        return y.reshape(shape.get(0), length, heads, headDim);
    }

    private NDArray normalizeHeads(
            ParameterStore parameterStore, Block norm, NDArray x, boolean training) {
        Shape shape = x.getShape();
        NDArray flat = x.reshape(-1, headDim);
        return norm.forward(parameterStore, new NDList(flat), training).head().reshape(shape);
    }

    /**
     * The builder of a {@link SigmoidMultiHeadAttention}: {@code set*} required, {@code opt*}
     * optional; the sizes, LayerScale and attention options are those of {@link
     * AttentionLayerSetters}.
     */
    public static final class Builder extends AttentionLayerSetters<Builder> {

        private Builder() {}

        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Sets the dropout rate on the attention weights in training, under the name of DJL's
         * {@code ScaledDotProductAttentionBlock}: {@link #optAttentionDropout(float)}.
         *
         * @param rate the rate, in [0, 1]
         * @return this builder
         */
        public Builder optAttentionProbsDropoutProb(float rate) {
            return optAttentionDropout(rate);
        }

        /**
         * Builds the block after checking the configuration.
         *
         * @return a new block
         */
        public SigmoidMultiHeadAttention build() {
            attentionOptions().requireFits(embeddingSize(), headCount());
            if (attentionOptions().getKernel() == AttentionKernel.FUSED
                    && !FlashSigmoidLibrary.isAvailable()) {
                throw new IllegalStateException(
                        "AttentionKernel.FUSED needs the FlashSigmoid native library of cuda-ops,"
                                + " which is unavailable: "
                                + FlashSigmoidLibrary.getUnavailableReason());
            }
            return new SigmoidMultiHeadAttention(this);
        }
    }
}
