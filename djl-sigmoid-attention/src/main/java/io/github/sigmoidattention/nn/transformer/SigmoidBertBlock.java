package io.github.sigmoidattention.nn.transformer;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.transformer.BertBlock;
import ai.djl.nn.transformer.IdEmbedding;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.sigmoidattention.nn.attention.AttentionOptions;
import io.github.sigmoidattention.nn.util.Arguments;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * DJL's {@link BertBlock} with sigmoid attention: the same children, parameters, forward and mask
 * conventions, with each {@code TransformerEncoderBlock} replaced by a {@link
 * SigmoidTransformerEncoderBlock} in the {@link NormPlacement#DJL_POST} layout.
 *
 * <p>Inputs {@code [tokenIds, typeIds, mask]}, each (B, T), the mask 1 for tokens and 0 for
 * padding; outputs {@code [sequence, pooled]}: the last encoder's output (B, T, E) and {@code
 * tanh(poolingProjection(sequence[:, 1, :]))}, squeezed, as DJL's block computes it.
 *
 * <p>Children, in DJL's order: {@code tokenEmbedding}, {@code typeEmbedding}, {@code
 * embeddingNorm}, {@code embeddingDropout}, {@code transformer_0} ... {@code transformer_{n-1}},
 * {@code poolingProjection}; and the parameter {@code positionEmbedding}. A parameter stream saved
 * by a {@code BertBlock} of the same configuration ({@code block.saveParameters}, or a model's
 * {@code .params} file) loads with {@link #loadParameters}; {@link SigmoidConversions#convert(
 * BertBlock, NDManager, AttentionOptions)} builds the twin of an existing {@code BertBlock}.
 *
 * <p>DJL's {@code BertPretrainingBlock} and {@code BertMaskedLanguageModelBlock} take DJL's final
 * {@code BertBlock} class itself, so this twin cannot go inside them; feed its outputs to heads of
 * your own.
 */
// Tensor dimensions are named as in DJL's BertBlock: B, T, E.
@SuppressWarnings("LocalVariableName")
public final class SigmoidBertBlock extends AbstractBlock {

    /** DJL's BertBlock puts this dropout rate on every encoder's branches and attention weights. */
    private static final float DJL_ENCODER_DROPOUT = 0.1f;

    private final BertFormat.Sizes sizes;
    private final AttentionOptions attentionOptions;

    private final IdEmbedding tokenEmbedding;
    private final Parameter positionEmbedding;
    private final IdEmbedding typeEmbedding;
    private final BatchNorm embeddingNorm;
    private final Dropout embeddingDropout;
    private final List<SigmoidTransformerEncoderBlock> encoders;
    private final Linear pooling;

    private SigmoidBertBlock(Builder builder) {
        super(BertFormat.VERSION);
        sizes =
                new BertFormat.Sizes(
                        builder.embeddingSize,
                        builder.tokenDictionarySize,
                        builder.typeDictionarySize,
                        builder.maxSequenceLength,
                        builder.transformerBlockCount,
                        builder.attentionHeadCount,
                        builder.hiddenSize);
        int embeddingSize = sizes.embedding();
        attentionOptions = builder.attentionOptions;
        tokenEmbedding = addChildBlock("tokenEmbedding", idEmbedding(sizes.tokens()));
        positionEmbedding =
                addParameter(
                        Parameter.builder()
                                .setName("positionEmbedding")
                                .setType(Parameter.Type.WEIGHT)
                                .optShape(new Shape(sizes.maxLength(), embeddingSize))
                                .build());
        typeEmbedding = addChildBlock("typeEmbedding", idEmbedding(sizes.types()));
        embeddingNorm = addChildBlock("embeddingNorm", BatchNorm.builder().optAxis(2).build());
        embeddingDropout =
                addChildBlock(
                        "embeddingDropout",
                        Dropout.builder().optRate(builder.hiddenDropoutProbability).build());
        List<SigmoidTransformerEncoderBlock> blocks = new ArrayList<>();
        for (int i = 0; i < builder.transformerBlockCount; i++) {
            SigmoidTransformerEncoderBlock.Builder encoder =
                    SigmoidTransformerEncoderBlock.builder()
                            .setEmbeddingSize(embeddingSize)
                            .setHeadCount(sizes.heads())
                            .setHiddenSize(sizes.hidden())
                            .optNormPlacement(NormPlacement.DJL_POST)
                            .optFeedForward(FeedForward.GELU)
                            .optDropout(DJL_ENCODER_DROPOUT)
                            .optAttentionOptions(attentionOptions)
                            .optAttentionDropout(DJL_ENCODER_DROPOUT);
            blocks.add(addChildBlock("transformer_" + i, encoder.build()));
        }
        encoders = Collections.unmodifiableList(blocks);
        pooling =
                addChildBlock(
                        "poolingProjection",
                        Linear.builder().setUnits(embeddingSize).optBias(true).build());
    }

    private IdEmbedding idEmbedding(int dictionarySize) {
        return new IdEmbedding.Builder()
                .setEmbeddingSize(sizes.embedding())
                .setDictionarySize(dictionarySize)
                .build();
    }

    /**
     * Creates a builder, with the defaults of DJL's {@code BertBlock.Builder}.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the token embedding.
     *
     * @return the token embedding
     */
    public IdEmbedding getTokenEmbedding() {
        return tokenEmbedding;
    }

    /**
     * Returns the embedding size E.
     *
     * @return E
     */
    public int getEmbeddingSize() {
        return sizes.embedding();
    }

    /**
     * Returns the size of the token dictionary.
     *
     * @return the number of token ids
     */
    public int getTokenDictionarySize() {
        return sizes.tokens();
    }

    /**
     * Returns the size of the type dictionary.
     *
     * @return the number of type ids
     */
    public int getTypeDictionarySize() {
        return sizes.types();
    }

    /**
     * Returns the longest sequence the position embedding covers.
     *
     * @return the maximum sequence length
     */
    public int getMaxSequenceLength() {
        return sizes.maxLength();
    }

    /**
     * Returns the encoder layers, in order.
     *
     * @return an unmodifiable list of the encoders
     */
    public List<SigmoidTransformerEncoderBlock> getTransformerEncoderBlocks() {
        return encoders;
    }

    /**
     * Returns the options of every attention block (their dropout is DJL's fixed 0.1).
     *
     * @return the options
     */
    public AttentionOptions getAttentionOptions() {
        return attentionOptions;
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        long batch = inputShapes[0].get(0);
        long seqLength = inputShapes[0].get(1);
        return new Shape[] {
            new Shape(batch, seqLength, sizes.embedding()), new Shape(batch, sizes.embedding())
        };
    }

    /** {@inheritDoc} */
    @Override
    public void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        if (inputShapes.length != 3) {
            throw new IllegalArgumentException(
                    "inputShapes: expected [tokenIds, typeIds, mask], got "
                            + inputShapes.length
                            + " shapes");
        }
        super.beforeInitialize(inputShapes);
        inputNames = Arrays.asList("tokenIds", "typeIds", "masks");
        Shape[] tokenShape = {inputShapes[0]};
        Shape[] embeddingOutput = tokenEmbedding.getOutputShapes(tokenShape);
        tokenEmbedding.initialize(manager, dataType, tokenShape);
        typeEmbedding.initialize(manager, dataType, inputShapes[1]);
        embeddingNorm.initialize(manager, dataType, embeddingOutput);
        embeddingDropout.initialize(manager, dataType, embeddingOutput);
        for (SigmoidTransformerEncoderBlock encoder : encoders) {
            encoder.initialize(manager, dataType, embeddingOutput);
        }
        pooling.initialize(manager, dataType, new Shape(inputShapes[0].get(0), sizes.embedding()));
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        if (inputs.size() != 3) {
            throw new IllegalArgumentException(
                    "inputs: expected [tokenIds, typeIds, mask], got " + inputs.size() + " arrays");
        }
        NDArray tokenIds = inputs.get(0);
        NDArray typeIds = inputs.get(1);
        NDArray masks = inputs.get(2);
        // Scoped as in DJL's BertBlock, so that the intermediate arrays are freed early.
        NDManager initScope = NDManager.subManagerOf(tokenIds);
        initScope.tempAttachAll(inputs);
        NDArray embeddedTokens =
                tokenEmbedding.forward(ps, new NDList(tokenIds), training).singletonOrThrow();
        NDArray embeddedTypes =
                typeEmbedding.forward(ps, new NDList(typeIds), training).singletonOrThrow();
        NDArray embeddedPositions = ps.getValue(positionEmbedding, tokenIds.getDevice(), training);
        NDArray embedding = embeddedTokens.add(embeddedTypes).add(embeddedPositions);
        NDList normalized = embeddingNorm.forward(ps, new NDList(embedding), training);
        NDList lastOutput = embeddingDropout.forward(ps, normalized, training);
        NDArray attentionMask = BertBlock.createAttentionMaskFromInputMask(tokenIds, masks);
        Shape maskShape = attentionMask.getShape();
        // DJL's additive offset (B, 1, T, F): 0 attends, -100000 masks; the attention reads it.
        NDArray offsetMask =
                attentionMask
                        .reshape(maskShape.get(0), 1, maskShape.get(1), maskShape.get(2))
                        .toType(DataType.FLOAT32, false)
                        .mul(-1f)
                        .add(1f)
                        .mul(-100000f);
        initScope.ret(lastOutput);
        initScope.ret(offsetMask);
        initScope.close();
        for (SigmoidTransformerEncoderBlock encoder : encoders) {
            NDList input = new NDList(lastOutput.head(), offsetMask);
            try (NDManager innerScope = NDManager.subManagerOf(input)) {
                innerScope.tempAttachAll(input);
                lastOutput = innerScope.ret(encoder.forward(ps, input, training, params));
            }
        }
        // DJL pools token 1 (not the CLS token 0) and squeezes, so B = 1 gives shape (E); kept so
        // that converted models compute what they computed before.
        NDArray firstToken = lastOutput.head().get(new NDIndex(":,1,:")).squeeze();
        NDArray pooled = pooling.forward(ps, new NDList(firstToken), training).head().tanh();
        lastOutput.add(pooled);
        return lastOutput;
    }

    /** {@inheritDoc} */
    @Override
    protected void saveMetadata(DataOutputStream os) throws IOException {
        saveInputShapes(os);
        BertFormat.writeSizes(sizes, os);
    }

    /** {@inheritDoc} */
    @Override
    public void loadMetadata(byte loadVersion, DataInputStream is)
            throws IOException, MalformedModelException {
        BertFormat.requireReadable(loadVersion);
        readInputShapes(is);
        BertFormat.readSizes(sizes, loadVersion, is);
    }

    /**
     * Loads parameters saved by this block, or by DJL's {@code BertBlock} of the same
     * configuration.
     *
     * @param manager the manager of the loaded arrays
     * @param is the stream
     * @throws IOException when reading fails
     * @throws MalformedModelException when the stream does not fit this block
     */
    @Override
    public void loadParameters(NDManager manager, DataInputStream is)
            throws IOException, MalformedModelException {
        super.loadParameters(manager, is);
        BertFormat.requireLoadedShapes(
                sizes,
                positionEmbedding,
                tokenEmbedding,
                typeEmbedding,
                encoders.get(0).getFeedForward());
    }

    /**
     * The builder of a {@link SigmoidBertBlock}: DJL's {@code BertBlock.Builder} options with the
     * same defaults (including its fixed hidden size 3072 unless set, or set by a preset), plus the
     * attention options.
     */
    public static final class Builder {

        private int tokenDictionarySize;
        private int typeDictionarySize = 16;
        private int embeddingSize = 768;
        private int transformerBlockCount = 12;
        private int attentionHeadCount = 12;
        private int hiddenSize = 4 * embeddingSize;
        private float hiddenDropoutProbability = 0.1f;
        private int maxSequenceLength = 512;
        private AttentionOptions attentionOptions = AttentionOptions.defaults();

        private Builder() {}

        /**
         * Sets the number of tokens in the dictionary.
         *
         * @param tokenDictionarySize the number of token ids
         * @return this builder
         */
        public Builder setTokenDictionarySize(int tokenDictionarySize) {
            this.tokenDictionarySize = tokenDictionarySize;
            return this;
        }

        /**
         * Sets the number of token types (default 16).
         *
         * @param typeDictionarySize the number of type ids
         * @return this builder
         */
        public Builder optTypeDictionarySize(int typeDictionarySize) {
            this.typeDictionarySize =
                    Arguments.requirePositive("typeDictionarySize", typeDictionarySize);
            return this;
        }

        /**
         * Sets the embedding size E (default 768).
         *
         * @param embeddingSize E, a multiple of the head count
         * @return this builder
         */
        public Builder optEmbeddingSize(int embeddingSize) {
            this.embeddingSize = Arguments.requirePositive("embeddingSize", embeddingSize);
            return this;
        }

        /**
         * Sets the number of encoder layers (default 12).
         *
         * @param transformerBlockCount the number of layers
         * @return this builder
         */
        public Builder optTransformerBlockCount(int transformerBlockCount) {
            this.transformerBlockCount =
                    Arguments.requirePositive("transformerBlockCount", transformerBlockCount);
            return this;
        }

        /**
         * Sets the number of attention heads per layer (default 12).
         *
         * @param attentionHeadCount H
         * @return this builder
         */
        public Builder optAttentionHeadCount(int attentionHeadCount) {
            this.attentionHeadCount =
                    Arguments.requirePositive("attentionHeadCount", attentionHeadCount);
            return this;
        }

        /**
         * Sets the hidden width of the feed-forward blocks (default 3072, as DJL's).
         *
         * @param hiddenSize the width
         * @return this builder
         */
        public Builder optHiddenSize(int hiddenSize) {
            this.hiddenSize = Arguments.requirePositive("hiddenSize", hiddenSize);
            return this;
        }

        /**
         * Sets the dropout rate after the embedding norm (default 0.1).
         *
         * @param hiddenDropoutProbability the rate, in [0, 1]
         * @return this builder
         */
        public Builder optHiddenDropoutProbability(float hiddenDropoutProbability) {
            this.hiddenDropoutProbability =
                    Arguments.requireRate("hiddenDropoutProbability", hiddenDropoutProbability);
            return this;
        }

        /**
         * Sets the longest sequence the position embedding covers (default 512).
         *
         * @param maxSequenceLength the maximum length
         * @return this builder
         */
        public Builder optMaxSequenceLength(int maxSequenceLength) {
            this.maxSequenceLength =
                    Arguments.requirePositive("maxSequenceLength", maxSequenceLength);
            return this;
        }

        /**
         * Sets the options of every attention block (default {@link AttentionOptions#defaults()});
         * their dropout stays DJL's fixed 0.1.
         *
         * @param attentionOptions the options
         * @return this builder
         */
        public Builder optAttentionOptions(AttentionOptions attentionOptions) {
            this.attentionOptions = Arguments.requireNonNull("attentionOptions", attentionOptions);
            return this;
        }

        /**
         * DJL's {@code nano()} configuration: E 256, 4 layers, 4 heads, hidden 1024, 2 types,
         * length 128.
         *
         * @return this builder
         */
        public Builder nano() {
            return preset(2, 256, 4, 4, 128);
        }

        /**
         * DJL's {@code micro()} configuration: E 512, 12 layers, 8 heads, hidden 2048, 2 types,
         * length 128.
         *
         * @return this builder
         */
        public Builder micro() {
            return preset(2, 512, 12, 8, 128);
        }

        /**
         * DJL's {@code base()} configuration: E 768, 12 layers, 12 heads, hidden 3072, 16 types,
         * length 256.
         *
         * @return this builder
         */
        public Builder base() {
            return preset(16, 768, 12, 12, 256);
        }

        /**
         * DJL's {@code large()} configuration: E 1024, 24 layers, 16 heads, hidden 4096, 16 types,
         * length 512.
         *
         * @return this builder
         */
        public Builder large() {
            return preset(16, 1024, 24, 16, 512);
        }

        private Builder preset(int types, int embedding, int blocks, int heads, int length) {
            typeDictionarySize = types;
            embeddingSize = embedding;
            transformerBlockCount = blocks;
            attentionHeadCount = heads;
            hiddenSize = 4 * embedding;
            hiddenDropoutProbability = 0.1f;
            maxSequenceLength = length;
            return this;
        }

        /**
         * Builds the block after checking the configuration.
         *
         * @return a new block
         */
        public SigmoidBertBlock build() {
            Arguments.requirePositive("tokenDictionarySize", tokenDictionarySize);
            return new SigmoidBertBlock(this);
        }
    }
}
