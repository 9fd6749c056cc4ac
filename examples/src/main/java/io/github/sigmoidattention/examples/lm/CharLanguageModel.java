package io.github.sigmoidattention.examples.lm;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.nn.transformer.PointwiseFeedForwardBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.sigmoidattention.nn.attention.KvCache;
import io.github.sigmoidattention.nn.attention.SigmoidMultiHeadAttention;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A character-level causal language model: token ids (B, T) in, logits (B, T, V) out. Token and
 * learned position embeddings, then pre-norm encoder layers (LayerNorm, causal self-attention,
 * residual; LayerNorm, GELU feed-forward, residual), a final LayerNorm and the output projection.
 * The attention of every layer comes from an {@link AttentionVariant}, so softmax and sigmoid
 * variants differ in that block alone.
 */
public final class CharLanguageModel extends AbstractBlock {

    private static final byte VERSION = 1;

    private final LanguageModelConfig config;
    private final float dropout;
    private final Parameter tokenEmbedding;
    private final Parameter positionEmbedding;
    private final List<Layer> layers = new ArrayList<>();
    private final LayerNorm finalNorm;
    private final Linear output;

    /** One pre-norm encoder layer. */
    private static final class Layer {
        LayerNorm attentionNorm;
        Block attention;
        LayerNorm feedForwardNorm;
        Block feedForward;
    }

    /**
     * Builds the model.
     *
     * @param config the sizes and the attention variant
     */
    public CharLanguageModel(LanguageModelConfig config) {
        this(config, null);
    }

    /**
     * Builds the model with the sigmoid attention's core computed in {@code computeType} (see
     * {@code optComputeType}): a choice of the run, not saved with the model.
     *
     * @param config the sizes and the attention variant
     * @param computeType the attention core's type, or null for the inputs' own
     */
    public CharLanguageModel(LanguageModelConfig config, DataType computeType) {
        this(config, computeType, 0f);
    }

    /**
     * Builds the model with the attention core's type and a dropout rate for training, both choices
     * of the run, not saved with the model.
     *
     * @param config the sizes and the attention variant
     * @param computeType the attention core's type, or null for the inputs' own
     * @param dropout the rate of dropout on the embeddings and on each residual branch in training
     *     (not on the attention weights, which the fused kernels do not drop), in [0, 1)
     */
    public CharLanguageModel(LanguageModelConfig config, DataType computeType, float dropout) {
        super(VERSION);
        if (!(dropout >= 0f && dropout < 1f)) {
            throw new IllegalArgumentException(
                    "dropout: expected a rate in [0, 1), got " + dropout);
        }
        this.config = config;
        this.dropout = dropout;
        // A plain table looked up with PyTorch's embedding op: DJL's IdEmbedding temporarily
        // re-attaches the shared table to a scope, which breaks concurrent predictors.
        tokenEmbedding =
                addParameter(
                        Parameter.builder()
                                .setName("tokenEmbedding")
                                .setType(Parameter.Type.WEIGHT)
                                .optShape(
                                        new Shape(config.vocabularySize(), config.embeddingSize()))
                                .build());
        positionEmbedding =
                addParameter(
                        Parameter.builder()
                                .setName("positionEmbedding")
                                .setType(Parameter.Type.WEIGHT)
                                .optShape(
                                        new Shape(config.sequenceLength(), config.embeddingSize()))
                                .build());
        for (int i = 0; i < config.layers(); i++) {
            Layer layer = new Layer();
            layer.attentionNorm = addChildBlock("attentionNorm" + i, norm());
            layer.attention =
                    addChildBlock(
                            "attention" + i,
                            config.variant()
                                    .attention(
                                            config.embeddingSize(),
                                            config.headCount(),
                                            config.sequenceLength(),
                                            computeType));
            layer.feedForwardNorm = addChildBlock("feedForwardNorm" + i, norm());
            layer.feedForward =
                    addChildBlock(
                            "feedForward" + i,
                            new PointwiseFeedForwardBlock(
                                    Collections.singletonList(4 * config.embeddingSize()),
                                    config.embeddingSize(),
                                    ai.djl.nn.Activation::gelu));
            layers.add(layer);
        }
        finalNorm = addChildBlock("finalNorm", norm());
        output =
                addChildBlock("output", Linear.builder().setUnits(config.vocabularySize()).build());
    }

    private static LayerNorm norm() {
        return LayerNorm.builder()
                .axis(2)
                .build(); // over the embedding only (DJL's default is all)
    }

    /**
     * Returns the sizes and the attention variant.
     *
     * @return the configuration
     */
    public LanguageModelConfig getConfig() {
        return config;
    }

    /**
     * Returns whether every layer can decode with a {@link KvCache}: the sigmoid variants.
     *
     * @return true when {@link #newKvCaches} and {@link #forwardCached} can run
     */
    public boolean supportsKvCache() {
        for (Layer layer : layers) {
            if (!(layer.attention instanceof SigmoidMultiHeadAttention)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Preallocates one {@link KvCache} per layer, each holding up to n positions.
     *
     * @param manager the manager that owns the caches
     * @param batch the sequences decoded together
     * @return the caches, layer by layer
     */
    public KvCache[] newKvCaches(NDManager manager, long batch) {
        if (!supportsKvCache()) {
            throw new UnsupportedOperationException(
                    "the " + config.variant().label() + " attention has no KV cache");
        }
        DataType type = tokenEmbedding.getArray().getDataType();
        KvCache[] caches = new KvCache[layers.size()];
        for (int i = 0; i < caches.length; i++) {
            caches[i] =
                    KvCache.create(
                            (SigmoidMultiHeadAttention) layers.get(i).attention,
                            manager,
                            batch,
                            config.sequenceLength(),
                            type);
        }
        return caches;
    }

    /**
     * Runs the next positions with the caches of {@link #newKvCaches}: the ids (B, t) follow the
     * cached positions, whose keys and values are reused rather than recomputed. The logits equal
     * those of the last t positions of a forward pass over the whole sequence.
     *
     * @param parameterStore the parameters
     * @param ids the new token ids (B, t); cached + t must not exceed n
     * @param caches one cache per layer, all of the same length (appended to)
     * @return the logits of the new positions (B, t, V)
     */
    public NDArray forwardCached(ParameterStore parameterStore, NDArray ids, KvCache[] caches) {
        return forwardCached(parameterStore, ids, null, null, caches);
    }

    /**
     * Runs the next positions of a batch of sequences of different lengths with the caches of
     * {@link #newKvCaches}: on the first call (empty caches) the prompts are left-padded to one
     * length and {@code mask} marks their real characters; the caches keep the padding masked in
     * later calls. Each row's characters take the positions of its own sequence.
     *
     * @param parameterStore the parameters
     * @param ids the new token ids (B, t); cached + t must not exceed n
     * @param positions each id's position in its own sequence (B, t), or null for the cached length
     *     onwards (no padding)
     * @param mask (B, t), 1 for a real character and 0 for padding, on the first call only; or null
     * @param caches one cache per layer, all of the same length (appended to)
     * @return the logits of the new positions (B, t, V)
     */
    public NDArray forwardCached(
            ParameterStore parameterStore,
            NDArray ids,
            NDArray positions,
            NDArray mask,
            KvCache[] caches) {
        if (caches == null || caches.length != layers.size()) {
            throw new IllegalArgumentException(
                    "caches: expected one per layer ("
                            + layers.size()
                            + "), got "
                            + (caches == null ? "null" : caches.length));
        }
        long t = ids.getShape().get(1);
        int cached = caches[0].getLength();
        if (cached + t > config.sequenceLength()) {
            throw new IllegalArgumentException(
                    "ids: "
                            + cached
                            + " cached and "
                            + t
                            + " new positions exceed the model's "
                            + config.sequenceLength());
        }
        if (mask != null && cached > 0) {
            throw new IllegalArgumentException(
                    "mask: padding is given on the first call only, but "
                            + cached
                            + " positions are cached");
        }
        NDArray table = parameterStore.getValue(tokenEmbedding, ids.getDevice(), false);
        NDArray x = Embedding.embedding(ids, table, SparseFormat.DENSE).head();
        NDArray positionTable = parameterStore.getValue(positionEmbedding, ids.getDevice(), false);
        if (positions == null) {
            x = x.add(positionTable.get(cached + ":" + (cached + t)));
        } else {
            x = x.add(Embedding.embedding(positions, positionTable, SparseFormat.DENSE).head());
        }
        for (int i = 0; i < layers.size(); i++) {
            Layer layer = layers.get(i);
            if (caches[i].getLength() != cached) {
                throw new IllegalArgumentException(
                        "caches: layer "
                                + i
                                + " holds "
                                + caches[i].getLength()
                                + " positions, layer 0 holds "
                                + cached);
            }
            PairList<String, Object> params = new PairList<>();
            params.add(SigmoidMultiHeadAttention.KV_CACHE, caches[i]);
            NDArray normed =
                    layer.attentionNorm.forward(parameterStore, new NDList(x), false).head();
            NDList attentionInputs = mask == null ? new NDList(normed) : new NDList(normed, mask);
            x =
                    x.add(
                            layer.attention
                                    .forward(parameterStore, attentionInputs, false, params)
                                    .head());
            normed = layer.feedForwardNorm.forward(parameterStore, new NDList(x), false).head();
            x = x.add(layer.feedForward.forward(parameterStore, new NDList(normed), false).head());
        }
        x = finalNorm.forward(parameterStore, new NDList(x), false).head();
        return output.forward(parameterStore, new NDList(x), false).head();
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray ids = inputs.head();
        if (inputs.size() == 2) {
            return new NDList(forwardPadded(parameterStore, ids, inputs.get(1), training));
        }
        long t = ids.getShape().get(1);
        if (t > config.sequenceLength()) {
            throw new IllegalArgumentException(
                    "inputs: sequence length "
                            + t
                            + " exceeds the model's "
                            + config.sequenceLength());
        }
        NDArray table = parameterStore.getValue(tokenEmbedding, ids.getDevice(), training);
        NDArray x = Embedding.embedding(ids, table, SparseFormat.DENSE).head();
        NDArray positions = parameterStore.getValue(positionEmbedding, ids.getDevice(), training);
        x = drop(x.add(positions.get("0:" + t)), training);
        NDArray mask = config.variant().needsCausalMask() ? causalMask(ids) : null;
        for (Layer layer : layers) {
            NDArray normed =
                    layer.attentionNorm.forward(parameterStore, new NDList(x), training).head();
            NDList attentionInputs = mask == null ? new NDList(normed) : new NDList(normed, mask);
            NDArray attended =
                    layer.attention.forward(parameterStore, attentionInputs, training).head();
            x = x.add(drop(attended, training));
            normed = layer.feedForwardNorm.forward(parameterStore, new NDList(x), training).head();
            NDArray fed =
                    layer.feedForward.forward(parameterStore, new NDList(normed), training).head();
            x = x.add(drop(fed, training));
        }
        x = finalNorm.forward(parameterStore, new NDList(x), training).head();
        return output.forward(parameterStore, new NDList(x), training);
    }

    private NDArray drop(NDArray x, boolean training) {
        return training && dropout > 0f ? Dropout.dropout(x, dropout, true).head() : x;
    }

    /**
     * [ids, mask]: left-padded prompts of different lengths (inference, with the KV cache's padding
     * support): the logits of every position, each row at its own positions.
     */
    private NDArray forwardPadded(
            ParameterStore parameterStore, NDArray ids, NDArray mask, boolean training) {
        if (training || !supportsKvCache()) {
            throw new UnsupportedOperationException(
                    "inputs: [ids, mask] (left-padded prompts) runs in inference with the sigmoid"
                            + " variants' KV cache, not "
                            + (training ? "in training" : "with " + config.variant().label()));
        }
        if (!mask.getShape().equals(ids.getShape())) {
            throw new IllegalArgumentException(
                    "inputs: the mask's shape "
                            + mask.getShape()
                            + " differs from the ids' "
                            + ids.getShape());
        }
        try (NDManager scope = NDManager.subManagerOf(ids)) {
            KvCache[] caches = newKvCaches(scope, ids.getShape().get(0));
            NDArray logits =
                    forwardCached(parameterStore, ids, paddedPositions(mask), mask, caches);
            logits.attach(ids.getManager());
            return logits;
        }
    }

    /**
     * The positions of left-padded rows: each real character's index among its row's real
     * characters (padding takes position 0; it is masked).
     *
     * @param mask (B, t), 1 for a real character
     * @return (B, t) int64 positions
     */
    public static NDArray paddedPositions(NDArray mask) {
        NDArray real = mask.toType(DataType.INT64, false);
        return real.cumSum(1).sub(1).maximum(0);
    }

    /** DJL's attention mask for causal self-attention: (B, T, T), 1 where key j <= query i. */
    private static NDArray causalMask(NDArray ids) {
        long b = ids.getShape().get(0);
        long t = ids.getShape().get(1);
        NDManager manager = ids.getManager();
        NDArray query = manager.arange(t).reshape(t, 1);
        NDArray key = manager.arange(t).reshape(1, t);
        return key.lte(query).toType(DataType.FLOAT32, false).broadcast(b, t, t);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape ids = inputShapes[0];
        return new Shape[] {new Shape(ids.get(0), ids.get(1), config.vocabularySize())};
    }

    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape ids = inputShapes[0];
        Shape hidden = new Shape(ids.get(0), ids.get(1), config.embeddingSize());
        // The embedding tables are this block's own parameters: AbstractBlock initializes them.
        for (Layer layer : layers) {
            layer.attentionNorm.initialize(manager, dataType, hidden);
            layer.attention.initialize(manager, dataType, hidden);
            layer.feedForwardNorm.initialize(manager, dataType, hidden);
            layer.feedForward.initialize(manager, dataType, hidden);
        }
        finalNorm.initialize(manager, dataType, hidden);
        output.initialize(manager, dataType, hidden);
    }

    @Override
    protected void saveMetadata(DataOutputStream os) throws IOException {
        super.saveMetadata(os);
        config.write(os);
    }

    @Override
    public void loadMetadata(byte loadVersion, DataInputStream is)
            throws IOException, MalformedModelException {
        if (loadVersion != VERSION) {
            throw new MalformedModelException(
                    "Unsupported CharLanguageModel version " + loadVersion);
        }
        super.loadMetadata(loadVersion, is);
        LanguageModelConfig saved = LanguageModelConfig.read(is);
        if (!saved.equals(config)) {
            throw new MalformedModelException(
                    "the parameters were saved from a model with "
                            + saved
                            + ", this one has "
                            + config);
        }
    }
}
