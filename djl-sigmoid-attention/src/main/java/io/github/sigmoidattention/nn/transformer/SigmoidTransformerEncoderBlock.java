package io.github.sigmoidattention.nn.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.nn.transformer.PointwiseFeedForwardBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.sigmoidattention.nn.attention.AttentionLayerSetters;
import io.github.sigmoidattention.nn.attention.SigmoidMultiHeadAttention;
import io.github.sigmoidattention.nn.norm.LayerScale;
import io.github.sigmoidattention.nn.norm.NormKind;
import io.github.sigmoidattention.nn.norm.RmsNorm;
import io.github.sigmoidattention.nn.util.Arguments;
import io.github.sigmoidattention.nn.util.FormattedBlock;
import java.util.Collections;

/**
 * A transformer encoder layer whose attention is {@link SigmoidMultiHeadAttention}: an attention
 * branch and a feed-forward branch, each with a residual connection, normalised as {@link
 * NormPlacement} says, with optional dropout and LayerScale on both branches.
 *
 * <p>Forward contract of DJL's {@link ai.djl.nn.transformer.TransformerEncoderBlock}: {@code [X]}
 * or {@code [X, mask]} with X of shape (B, T, E) and any mask {@link SigmoidMultiHeadAttention}
 * takes (including DJL's (B, 1, T, T) offset mask); output {@code [Y]}, Y of shape (B, T, E). The
 * forward parameter {@link SigmoidMultiHeadAttention#POSITION_OFFSET} reaches the attention.
 *
 * <p>Children, in forward order: {@code attentionInputNorm} (PRE, HYBRID), {@code selfAttention},
 * {@code attentionOutputNorm} (HYBRID), {@code attentionLayerScale}, {@code attentionResidualNorm}
 * (POST), then the same for the feed-forward branch ({@code feedForwardInputNorm}, {@code
 * feedForward}, ...). With {@link NormPlacement#DJL_POST} the children are DJL's: {@code
 * selfAttention}, {@code attentionNorm}, {@code outputBlock}, {@code outputNorm}, then the two
 * LayerScales when enabled; a parameter stream saved by DJL's {@code TransformerEncoderBlock} then
 * loads with {@link #loadParameters}. Dropout, as in DJL's block, is not a child.
 */
public final class SigmoidTransformerEncoderBlock
        extends FormattedBlock<SigmoidTransformerEncoderBlock> {

    private final int embeddingSize;
    private final int hiddenSize;
    private final NormPlacement placement;
    private final NormKind norm;
    private final FeedForward feedForwardKind;
    private final float dropoutRate;
    private final boolean layerScaleEnabled;
    private final float layerScaleInit;

    private final SigmoidMultiHeadAttention selfAttention;
    private final Block feedForward;
    private final Branch attentionBranch;
    private final Branch feedForwardBranch;

    private SigmoidTransformerEncoderBlock(
            Builder builder,
            NormKind norm,
            SigmoidMultiHeadAttention attention,
            boolean layerScale,
            float layerScaleInit) {
        super(EncoderFormat.INSTANCE);
        embeddingSize = attention.getEmbeddingSize();
        hiddenSize = builder.hiddenSize;
        placement = builder.placement;
        this.norm = norm;
        feedForwardKind = builder.feedForward;
        dropoutRate = builder.dropout;
        layerScaleEnabled = layerScale;
        this.layerScaleInit = layerScaleInit;
        boolean djl = placement == NormPlacement.DJL_POST;

        selfAttention = attention;
        feedForward = feedForwardBlock();
        attentionBranch = new Branch("attention", "selfAttention", selfAttention, "attentionNorm");
        feedForwardBranch =
                new Branch(
                        "feedForward",
                        djl ? "outputBlock" : "feedForward",
                        feedForward,
                        "outputNorm");
        if (djl && layerScaleEnabled) {
            // After DJL's four children, so that DJL's stream still lines up.
            attentionBranch.layerScale = addChildBlock("attentionLayerScale", layerScale());
            feedForwardBranch.layerScale = addChildBlock("feedForwardLayerScale", layerScale());
        }
    }

    /** The blocks of one residual branch; absent ones are null. */
    private final class Branch {
        Block inputNorm;
        final Block body;
        Block outputNorm;
        Block layerScale;
        Block residualNorm;
        final Dropout dropout = Dropout.builder().optRate(dropoutRate).build();

        /** Adds the branch's children in forward order (DJL's order for DJL_POST). */
        Branch(String prefix, String bodyName, Block body, String djlNormName) {
            boolean pre = placement == NormPlacement.PRE || placement == NormPlacement.HYBRID;
            if (pre) {
                inputNorm = addChildBlock(prefix + "InputNorm", newNorm());
            }
            this.body = addChildBlock(bodyName, body);
            if (placement == NormPlacement.HYBRID) {
                outputNorm = addChildBlock(prefix + "OutputNorm", newNorm());
            }
            if (placement == NormPlacement.DJL_POST) {
                residualNorm = addChildBlock(djlNormName, newNorm());
                return;
            }
            if (layerScaleEnabled) {
                layerScale = addChildBlock(prefix + "LayerScale", layerScale());
            }
            if (placement == NormPlacement.POST) {
                residualNorm = addChildBlock(prefix + "ResidualNorm", newNorm());
            }
        }

        /** {@code residualNorm(residual + layerScale(dropout(outputNorm(body(inputNorm(x))))))}. */
        NDArray apply(
                ParameterStore ps,
                NDArray x,
                NDArray residual,
                NDArray mask,
                boolean training,
                PairList<String, Object> params) {
            NDArray in = applyOptional(inputNorm, ps, x, training);
            NDList bodyInputs = mask == null ? new NDList(in) : new NDList(in, mask);
            NDArray y = body.forward(ps, bodyInputs, training, params).singletonOrThrow();
            y = applyOptional(outputNorm, ps, y, training);
            y = dropout.forward(ps, new NDList(y), training).singletonOrThrow();
            y = applyOptional(layerScale, ps, y, training);
            return applyOptional(residualNorm, ps, y.add(residual), training);
        }
    }

    private static NDArray applyOptional(
            Block block, ParameterStore ps, NDArray x, boolean training) {
        return block == null ? x : block.forward(ps, new NDList(x), training).singletonOrThrow();
    }

    private Block newNorm() {
        if (placement == NormPlacement.DJL_POST) {
            return BatchNorm.builder().optAxis(2).build();
        }
        return norm == NormKind.LAYER_NORM
                ? LayerNorm.builder().axis(2).build()
                : RmsNorm.builder().build();
    }

    private LayerScale layerScale() {
        return LayerScale.builder().optInitValue(layerScaleInit).build();
    }

    private Block feedForwardBlock() {
        switch (feedForwardKind) {
            case SWIGLU:
                return SwiGluFeedForward.builder()
                        .setHiddenSize(hiddenSize)
                        .setOutputSize(embeddingSize)
                        .build();
            case RELU:
                return new PointwiseFeedForwardBlock(
                        Collections.singletonList(hiddenSize), embeddingSize, Activation::relu);
            default:
                return new PointwiseFeedForwardBlock(
                        Collections.singletonList(hiddenSize), embeddingSize, Activation::gelu);
        }
    }

    /**
     * Creates a builder for a {@code SigmoidTransformerEncoderBlock}.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the attention block.
     *
     * @return the attention
     */
    public SigmoidMultiHeadAttention getSelfAttention() {
        return selfAttention;
    }

    /**
     * Returns the feed-forward block: a {@link PointwiseFeedForwardBlock} or a {@link
     * SwiGluFeedForward}.
     *
     * @return the feed-forward block
     */
    public Block getFeedForward() {
        return feedForward;
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
     * Returns the hidden width of the feed-forward block.
     *
     * @return the hidden size
     */
    public int getHiddenSize() {
        return hiddenSize;
    }

    /**
     * Returns where the block normalises.
     *
     * @return the placement
     */
    public NormPlacement getNormPlacement() {
        return placement;
    }

    /**
     * Returns the normalisation, or null for {@link NormPlacement#DJL_POST}, which uses DJL's
     * {@code BatchNorm} over axis 2.
     *
     * @return the normalisation, or null
     */
    public NormKind getNorm() {
        return norm;
    }

    /**
     * Returns the kind of feed-forward block.
     *
     * @return the feed-forward kind
     */
    public FeedForward getFeedForwardKind() {
        return feedForwardKind;
    }

    /**
     * Returns the dropout rate on both residual branches in training.
     *
     * @return the rate
     */
    public float getDropout() {
        return dropoutRate;
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        // Checked here because a norm child may come before the attention, and DJL aborts the JVM
        // when it creates a bfloat16 parameter.
        Arguments.requireUsableDataType(manager, dataType, "dataType");
        if (inputShapes.length < 1 || inputShapes.length > 2) {
            throw new IllegalArgumentException(
                    "inputShapes: expected [X] or [X, mask], got "
                            + inputShapes.length
                            + " shapes");
        }
        Shape x = inputShapes[0];
        requireEmbedding("inputShapes[0]", x);
        for (Block child : getChildren().values()) {
            child.initialize(
                    manager, dataType, child == selfAttention ? inputShapes : new Shape[] {x});
        }
    }

    private void requireEmbedding(String name, Shape x) {
        if (x.dimension() != 3 || x.get(2) != embeddingSize) {
            throw new IllegalArgumentException(
                    name + ": expected shape (B, T, " + embeddingSize + "), got " + x);
        }
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        if (inputs.size() < 1 || inputs.size() > 2) {
            throw new IllegalArgumentException(
                    "inputs: expected [X] or [X, mask], got " + inputs.size() + " arrays");
        }
        NDArray x = inputs.head();
        requireEmbedding("X", x.getShape());
        NDArray mask = inputs.size() == 2 ? inputs.get(1) : null;
        NDArray h = attentionBranch.apply(parameterStore, x, x, mask, training, params);
        // DJL's TransformerEncoderBlock adds the block input, not h, after the feed-forward.
        NDArray residual = placement == NormPlacement.DJL_POST ? x : h;
        return new NDList(
                feedForwardBranch.apply(parameterStore, h, residual, null, training, params));
    }

    /** Whether LayerScale gains sit on both residual branches. */
    boolean isLayerScale() {
        return layerScaleEnabled;
    }

    /**
     * The builder of a {@link SigmoidTransformerEncoderBlock}: {@code set*} required, {@code opt*}
     * optional; the sizes, LayerScale (on both branches here) and attention options are those of
     * {@link AttentionLayerSetters}.
     */
    public static final class Builder extends AttentionLayerSetters<Builder> {

        private int hiddenSize;
        private NormPlacement placement = NormPlacement.PRE;
        private NormKind norm;
        private FeedForward feedForward = FeedForward.GELU;
        private float dropout;

        private Builder() {}

        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Sets the hidden width of the feed-forward block.
         *
         * @param hiddenSize a positive width
         * @return this builder
         */
        public Builder setHiddenSize(int hiddenSize) {
            this.hiddenSize = hiddenSize;
            return this;
        }

        /**
         * Sets the dropout rate on the output of both branches, before the residual sum, in
         * training (default 0).
         *
         * @param rate the rate, in [0, 1]
         * @return this builder
         */
        public Builder optDropout(float rate) {
            this.dropout = Arguments.requireRate("dropout", rate);
            return this;
        }

        /**
         * Sets where the block normalises (default {@link NormPlacement#PRE}).
         *
         * @param placement the placement
         * @return this builder
         */
        public Builder optNormPlacement(NormPlacement placement) {
            this.placement = Arguments.requireNonNull("normPlacement", placement);
            return this;
        }

        /**
         * Sets the normalisation (default {@link NormKind#LAYER_NORM}); not with {@link
         * NormPlacement#DJL_POST}, which uses DJL's {@code BatchNorm} over axis 2.
         *
         * @param norm the normalisation
         * @return this builder
         */
        public Builder optNorm(NormKind norm) {
            this.norm = Arguments.requireNonNull("norm", norm);
            return this;
        }

        /**
         * Sets the feed-forward block (default {@link FeedForward#GELU}).
         *
         * @param feedForward the feed-forward kind
         * @return this builder
         */
        public Builder optFeedForward(FeedForward feedForward) {
            this.feedForward = Arguments.requireNonNull("feedForward", feedForward);
            return this;
        }

        /**
         * Builds the block after checking the configuration.
         *
         * @return a new block
         */
        public SigmoidTransformerEncoderBlock build() {
            Arguments.requirePositive("embeddingSize", embeddingSize());
            Arguments.requirePositive("headCount", headCount());
            Arguments.requirePositive("hiddenSize", hiddenSize);
            NormKind resolvedNorm = placement.resolveNorm(norm, feedForward);
            SigmoidMultiHeadAttention selfAttention =
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(embeddingSize())
                            .setHeadCount(headCount())
                            .optAttentionOptions(attentionOptions())
                            .build();
            return new SigmoidTransformerEncoderBlock(
                    this, resolvedNorm, selfAttention, layerScale(), layerScaleInit());
        }
    }
}
