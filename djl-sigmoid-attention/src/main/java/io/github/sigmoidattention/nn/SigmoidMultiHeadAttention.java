package io.github.sigmoidattention.nn;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import ai.djl.util.PairList;

import io.github.sigmoidattention.ops.FlashSigmoid;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Multi-head attention with an element-wise sigmoid in place of the row softmax: {@code out_i =
 * Σ_j sigmoid(q_i·k_j / √D + b) · v_j}, with no normalisation over j (Ramapuram et al., 2024,
 * "Theory, Analysis, and Best Practices for Sigmoid Self-Attention").
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
 * query may attend and 0 where not; a masked key contributes exactly zero. A 4-D mask (B, 1, T, F)
 * is read as DJL's additive offset, as {@link ai.djl.nn.transformer.BertBlock} passes it: 0 attends,
 * a negative value masks. The output has shape (B, T, E) and the data type of the input.
 *
 * <p>Children, in order: the {@link Linear} blocks {@code keyProjection}, {@code queryProjection},
 * {@code valueProjection} (G·D units each), {@code resultProjection} (E units), the {@link Dropout}
 * {@code probabilityDropout} (as in DJL's block), then, when enabled, {@code queryNorm} and {@code
 * keyNorm}, {@code headBias} and {@code layerScale}. Parameters saved by DJL's {@code
 * ScaledDotProductAttentionBlock} load into a block with G = H; the extra children keep their
 * initial values.
 *
 * <p>Forward parameter {@link #POSITION_OFFSET}: an integer added to every RoPE position, for
 * decoding with a cache.
 *
 * <p>Forward parameter {@link #KV_CACHE}: a {@link KvCache} of this block, for autoregressive
 * decoding. The call takes {@code [X]} with the T new positions only; their keys and values are
 * appended to the cache, and the queries attend over every cached position (F = cache length
 * after the append), read in place. Queries and new keys sit at RoPE positions {@code offset +
 * cached + i}, and causal masking and ALiBi see the cached keys before them, so a prompt run at
 * once and then one position per call gives the outputs of running the whole sequence at once.
 * T = 1 is a decode step; small T serves speculative decoding. With the cache the call may also
 * take {@code [X, mask]}, a key-padding mask (B, T) of the new positions: a batch of left-padded
 * prompts, whose padding every later call masks (see {@link KvCache}); the sequence-length bias
 * -ln F refuses a mask with the cache, since F would count the padding.
 */
// Tensor dimensions are named as in the paper: B, T, F, E, H, G, D.
@SuppressWarnings({"LocalVariableName", "ParameterName"})
public final class SigmoidMultiHeadAttention extends AbstractBlock {

    /** Name of the forward parameter that shifts RoPE positions (a non-negative integer). */
    public static final String POSITION_OFFSET = "positionOffset";

    /** Forward parameter: a {@link KvCache} to append to and attend over (inference only). */
    public static final String KV_CACHE = "kvCache";

    private static final Logger logger = LoggerFactory.getLogger(SigmoidMultiHeadAttention.class);

    private static final String NAME = "SigmoidMultiHeadAttention";
    private static final byte VERSION = 2;
    /** The format version of DJL's ScaledDotProductAttentionBlock, which this block also reads. */
    private static final byte DJL_SOFTMAX_VERSION = 1;
    /** DJL's block has four projections and a dropout. */
    private static final int DJL_CHILD_COUNT = 5;

    private final int embeddingSize;
    private final int headCount;
    private final int kvHeadCount;
    private final int headDim;
    private final SigmoidBias bias;
    private final boolean causal;
    private final AttentionKernel kernel;
    private final QkNorm qkNorm;
    private final float qkNormEpsilon;
    private final boolean layerScaleEnabled;
    private final boolean alibi;
    private final double[] alibiSlopes;
    private final boolean rope;
    private final float ropeBase;
    private final float dropoutRate;
    private boolean trainingNoticeLogged;

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
        super(VERSION);
        embeddingSize = builder.embeddingSize;
        headCount = builder.headCount;
        kvHeadCount = builder.kvHeadCount > 0 ? builder.kvHeadCount : builder.headCount;
        headDim = embeddingSize / headCount;
        bias = builder.bias;
        causal = builder.causal;
        kernel = builder.kernel;
        qkNorm = builder.qkNorm;
        qkNormEpsilon = builder.qkNormEpsilon;
        layerScaleEnabled = builder.layerScale;
        alibi = builder.alibi;
        alibiSlopes = alibi ? Positions.alibiSlopes(headCount) : null;
        rope = builder.rope;
        ropeBase = builder.ropeBase;
        dropoutRate = builder.dropoutRate;

        int kvUnits = kvHeadCount * headDim;
        keyProjection = addChildBlock("keyProjection", projection(kvUnits));
        queryProjection = addChildBlock("queryProjection", projection(embeddingSize));
        valueProjection = addChildBlock("valueProjection", projection(kvUnits));
        resultProjection = addChildBlock("resultProjection", projection(embeddingSize));
        probabilityDropout =
                addChildBlock(
                        "probabilityDropout", Dropout.builder().optRate(dropoutRate).build());
        if (qkNorm != QkNorm.NONE) {
            queryNorm = addChildBlock("queryNorm", headNorm());
            keyNorm = addChildBlock("keyNorm", headNorm());
        } else {
            queryNorm = null;
            keyNorm = null;
        }
        headBias =
                bias.isLearned()
                        ? addChildBlock("headBias", new HeadBias(headCount, bias.getValue()))
                        : null;
        layerScale =
                layerScaleEnabled
                        ? addChildBlock(
                                "layerScale",
                                LayerScale.builder().optInitValue(builder.layerScaleInit).build())
                        : null;
    }

    private static Linear projection(int units) {
        return Linear.builder().setUnits(units).optBias(true).build();
    }

    private Block headNorm() {
        if (qkNorm == QkNorm.LAYER_NORM) {
            return LayerNorm.builder().optEpsilon(qkNormEpsilon).build();
        }
        return RmsNorm.builder().optEpsilon(qkNormEpsilon).build();
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
     * Returns the bias added to the scores.
     *
     * @return the bias
     */
    public SigmoidBias getBias() {
        return bias;
    }

    /**
     * Returns whether the attention is causal.
     *
     * @return true if causal
     */
    public boolean isCausal() {
        return causal;
    }

    /**
     * Returns the requested kernel.
     *
     * @return the kernel
     */
    public AttentionKernel getKernel() {
        return kernel;
    }

    /**
     * Returns the query/key normalisation.
     *
     * @return the normalisation
     */
    public QkNorm getQkNorm() {
        return qkNorm;
    }

    /**
     * Returns the ALiBi slopes, one per head, or null without ALiBi.
     *
     * @return a copy of the slopes, or null
     */
    public double[] getAlibiSlopes() {
        return alibiSlopes == null ? null : alibiSlopes.clone();
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        switch (inputShapes.length) {
            case 1:
            case 2:
                return new Shape[] {inputShapes[0]};
            case 3:
            case 4:
                return new Shape[] {inputShapes[1]};
            default:
                throw new IllegalArgumentException(
                        "inputShapes: expected 1 to 4 shapes ([X], [X, mask], [K, Q, V] or [K, Q,"
                                + " V, mask]), got "
                                + inputShapes.length);
        }
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        requireUsableDataType(manager, dataType, "dataType");
        int sequenceInputs = inputShapes.length <= 2 ? 1 : 3;
        for (int i = 0; i < sequenceInputs && i < inputShapes.length; i++) {
            Shape s = inputShapes[i];
            if (s.dimension() != 3 || s.get(2) != embeddingSize) {
                throw new IllegalArgumentException(
                        "inputShapes["
                                + i
                                + "]: expected (B, S, "
                                + embeddingSize
                                + "), got "
                                + s);
            }
        }
        Shape projectionShape = new Shape(-1, embeddingSize);
        keyProjection.initialize(manager, dataType, projectionShape);
        queryProjection.initialize(manager, dataType, projectionShape);
        valueProjection.initialize(manager, dataType, projectionShape);
        resultProjection.initialize(manager, dataType, projectionShape);
        probabilityDropout.initialize(manager, dataType, projectionShape);
        initializeExtras(manager, dataType);
    }

    private void initializeExtras(NDManager manager, DataType dataType) {
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

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        ValidatedInputs in = validate(inputs);
        KvCache cache = kvCache(params, in, training);
        if (cache == null) {
            return attend(parameterStore, in, null, training, params);
        }
        // A refused or failed call leaves the cache as it was.
        int cachedLength = cache.getLength();
        boolean cachedPadding = cache.hasPadding();
        try {
            return attend(parameterStore, in, cache, training, params);
        } catch (RuntimeException e) {
            cache.truncate(cachedLength, cachedPadding);
            throw e;
        }
    }

    private NDList attend(
            ParameterStore parameterStore,
            ValidatedInputs in,
            KvCache cache,
            boolean training,
            PairList<String, Object> params) {
        long B = in.batch;
        long T = in.queryLength;
        long F = in.keyLength;

        // A key the mask pads contributes nothing, not even a NaN or Inf it holds (0 * NaN is
        // NaN): its rows of the key and value inputs are zeroed before the projections, which
        // also keeps them out of the projections' gradients. Queries keep their input.
        NDArray keyInput = in.key;
        NDArray valueInput = in.value;
        if (in.mask != null && in.mask.getShape().dimension() == 2) {
            keyInput = zeroPaddedRows(in.key, in.mask);
            valueInput = in.value == in.key ? keyInput : zeroPaddedRows(in.value, in.mask);
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
        if (rope) {
            long offset = positionOffset(params) + cached;
            q = Positions.applyRope(q, offset + F - T, ropeBase);
            k = Positions.applyRope(k, offset, ropeBase);
        }
        NDArray mask = in.mask;
        if (cache != null) {
            cache.append(k, v, in.mask);
            k = cache.keys();
            v = cache.values();
            F = cache.getLength();
            mask = cache.keep();
        }

        NDArray perHeadBias =
                headBias == null
                        ? null
                        : headBias.forward(parameterStore, new NDList(q), training).head();
        double scalarBias = headBias == null ? bias.valueFor(F) : 0;
        AttentionCall call =
                new AttentionCall(
                        q,
                        k,
                        v,
                        1.0 / Math.sqrt(headDim),
                        scalarBias,
                        perHeadBias,
                        causal,
                        alibiSlopes,
                        keepMask(mask, B, T, F));
        NDArray heads =
                useFusedKernel(call, training)
                        ? FusedSigmoidAttention.attend(call)
                        : ReferenceSigmoidAttention.attend(
                                call, w -> dropWeights(parameterStore, w, training));

        NDArray merged = heads.reshape(B, T, embeddingSize);
        NDList out = resultProjection.forward(parameterStore, new NDList(merged), training);
        if (layerScale != null) {
            out = layerScale.forward(parameterStore, out, training);
        }
        return out;
    }

    /** x (B, S, E) with the rows where the key-padding mask (B or 1, S) is 0 set to 0. */
    private static NDArray zeroPaddedRows(NDArray x, NDArray mask) {
        Shape shape = mask.getShape();
        NDArray keep = mask.neq(0).reshape(shape.get(0), shape.get(1), 1).broadcast(x.getShape());
        return NDArrays.where(keep, x, x.getManager().zeros(new Shape(), x.getDataType()));
    }

    /**
     * AUTO and FUSED run the fused kernel in inference. Training runs the reference kernel, because
     * DJL offers no way to attach the native backward to its autograd; FUSED refuses a call it
     * cannot run rather than silently running something else.
     */
    private boolean useFusedKernel(AttentionCall call, boolean training) {
        if (!training) {
            return FusedSigmoidAttention.selected(kernel, call);
        }
        if (kernel == AttentionKernel.FUSED && !trainingNoticeLogged) {
            trainingNoticeLogged = true;
            logger.info(
                    "AttentionKernel.FUSED: training runs the reference kernel, whose gradients"
                            + " DJL's autograd computes; inference runs the fused kernel");
        }
        return false;
    }

    private NDArray dropWeights(ParameterStore parameterStore, NDArray weights, boolean training) {
        if (!training || dropoutRate == 0f) {
            return weights;
        }
        return probabilityDropout
                .forward(parameterStore, new NDList(weights), true)
                .singletonOrThrow();
    }

    /** Projects (B, S, E) and splits the heads: (B, S, heads, D). */
    private NDArray project(
            ParameterStore parameterStore,
            Linear projection,
            NDArray x,
            boolean training,
            long length,
            int heads) {
        NDArray y = projection.forward(parameterStore, new NDList(x), training).head();
        return y.reshape(x.getShape().get(0), length, heads, headDim);
    }

    private NDArray normalizeHeads(
            ParameterStore parameterStore, Block norm, NDArray x, boolean training) {
        Shape shape = x.getShape();
        NDArray flat = x.reshape(-1, headDim);
        return norm.forward(parameterStore, new NDList(flat), training).head().reshape(shape);
    }

    /** The cache of the call, after checking that it fits; null without one. */
    private KvCache kvCache(PairList<String, Object> params, ValidatedInputs in, boolean training) {
        Object value = params == null ? null : params.get(KV_CACHE);
        if (value == null) {
            return null;
        }
        if (!(value instanceof KvCache)) {
            throw new IllegalArgumentException(
                    KV_CACHE + ": expected a KvCache, got " + value.getClass().getName());
        }
        KvCache cache = (KvCache) value;
        if (cache.isClosed()) {
            throw new IllegalArgumentException(KV_CACHE + ": the cache has been closed");
        }
        if (training) {
            throw new IllegalArgumentException(
                    KV_CACHE + ": the cache serves inference only, not training");
        }
        if (in.key != in.query) {
            throw new IllegalArgumentException(
                    KV_CACHE + ": the cache takes self-attention inputs [X] or [X, mask]");
        }
        if (in.mask != null && in.mask.getShape().dimension() != 2) {
            throw new IllegalArgumentException(
                    KV_CACHE
                            + ": with the cache a mask is a key-padding mask (B, T) of the new"
                            + " positions, got shape "
                            + in.mask.getShape());
        }
        // Checked before anything is appended, so that a refused call leaves the cache as it was.
        if (in.mask != null && headBias == null && bias.getKind() == SigmoidBias.Kind.NEG_LOG_LENGTH) {
            throw new IllegalArgumentException(
                    KV_CACHE
                            + ": the sequence-length bias -ln F would count the padding of a"
                            + " padded batch; decode padded batches with a constant, negLog(n)"
                            + " or learned bias");
        }
        if (cache.getBatch() != in.batch) {
            throw new IllegalArgumentException(
                    KV_CACHE + ": the cache holds " + cache.getBatch() + " sequences, X has "
                            + in.batch);
        }
        if (cache.getKvHeadCount() != kvHeadCount || cache.getHeadDim() != headDim) {
            throw new IllegalArgumentException(
                    KV_CACHE
                            + ": the cache holds "
                            + cache.getKvHeadCount()
                            + " kv heads of dimension "
                            + cache.getHeadDim()
                            + ", this block has "
                            + kvHeadCount
                            + " of dimension "
                            + headDim);
        }
        DataType inputType = in.query.getDataType();
        if (cache.getDataType() != inputType) {
            throw new IllegalArgumentException(
                    KV_CACHE
                            + ": the cache is "
                            + cache.getDataType()
                            + " but X is "
                            + inputType
                            + "; create the cache with the data type of the block's inputs");
        }
        if (!cache.getDevice().equals(in.query.getDevice())) {
            throw new IllegalArgumentException(
                    KV_CACHE
                            + ": the cache is on "
                            + cache.getDevice()
                            + " but X is on "
                            + in.query.getDevice());
        }
        if (cache.getLength() + in.queryLength > cache.getMaxLength()) {
            throw new IllegalArgumentException(
                    KV_CACHE
                            + ": appending "
                            + in.queryLength
                            + " positions to "
                            + cache.getLength()
                            + " exceeds the capacity "
                            + cache.getMaxLength()
                            + "; reset the cache or create a larger one");
        }
        return cache;
    }

    private static long positionOffset(PairList<String, Object> params) {
        Object value = params == null ? null : params.get(POSITION_OFFSET);
        if (value == null) {
            return 0;
        }
        if (!(value instanceof Integer || value instanceof Long)
                || ((Number) value).longValue() < 0) {
            throw new IllegalArgumentException(
                    POSITION_OFFSET + ": expected a non-negative Integer or Long, got " + value);
        }
        return ((Number) value).longValue();
    }

    /** Turns the user's mask into a 0/1 array broadcastable to (B, H, T, F), or null. */
    private NDArray keepMask(NDArray mask, long B, long T, long F) {
        if (mask == null) {
            return null;
        }
        switch (mask.getShape().dimension()) {
            case 2:
                return mask.neq(0).reshape(mask.getShape().get(0), 1, 1, F);
            case 3:
                return mask.neq(0).reshape(mask.getShape().get(0), 1, T, F);
            default:
                // DJL's additive offset: 0 keeps, a large negative value masks.
                return mask.gte(0);
        }
    }

    private ValidatedInputs validate(NDList inputs) {
        int n = inputs.size();
        if (n < 1 || n > 4) {
            throw new IllegalArgumentException(
                    "inputs: expected 1 to 4 arrays ([X], [X, mask], [K, Q, V] or [K, Q, V,"
                            + " mask]), got "
                            + n);
        }
        NDArray key;
        NDArray query;
        NDArray value;
        String[] names;
        if (n <= 2) {
            key = inputs.get(0);
            query = key;
            value = key;
            names = new String[] {"X", "X", "X"};
        } else {
            key = inputs.get(0);
            query = inputs.get(1);
            value = inputs.get(2);
            names = new String[] {"K", "Q", "V"};
        }
        NDArray mask = n == 2 || n == 4 ? inputs.get(n - 1) : null;

        NDArray[] sequences = {key, query, value};
        for (int i = 0; i < 3; i++) {
            requireOpen(sequences[i], names[i]);
        }
        if (mask != null) {
            requireOpen(mask, "mask");
        }
        requireOpenParameters();
        for (int i = 0; i < 3; i++) {
            Shape s = sequences[i].getShape();
            if (s.dimension() != 3 || s.get(2) != embeddingSize) {
                throw new IllegalArgumentException(
                        names[i] + ": expected shape (B, S, " + embeddingSize + "), got " + s);
            }
            if (s.get(0) < 1 || s.get(1) < 1) {
                throw new IllegalArgumentException(
                        names[i] + ": batch and sequence length must be >= 1, got shape " + s);
            }
            DataType type = FlashSigmoid.dataType(sequences[i]);
            if (!type.isFloating()) {
                throw new IllegalArgumentException(
                        names[i] + ": expected a floating-point array, got " + type);
            }
            if (type != FlashSigmoid.dataType(key)) {
                throw new IllegalArgumentException(
                        "inputs: mixed data types, "
                                + names[0]
                                + " is "
                                + FlashSigmoid.dataType(key)
                                + " but "
                                + names[i]
                                + " is "
                                + type);
            }
            if (!sequences[i].getDevice().equals(key.getDevice())) {
                throw new IllegalArgumentException(
                        "inputs: mixed devices, "
                                + names[0]
                                + " is on "
                                + key.getDevice()
                                + " but "
                                + names[i]
                                + " is on "
                                + sequences[i].getDevice());
            }
        }
        requireUsableDataType(key.getManager(), FlashSigmoid.dataType(key), names[0]);
        DataType paramType = getParameterDataType();
        if (paramType != null) {
            if (paramType != key.getDataType()) {
                throw new IllegalArgumentException(
                        "inputs: "
                                + names[0]
                                + " is "
                                + key.getDataType()
                                + " but the block's parameters are "
                                + paramType
                                + "; initialize the block with the input's data type");
            }
        }
        long B = query.getShape().get(0);
        long T = query.getShape().get(1);
        long F = key.getShape().get(1);
        if (key.getShape().get(0) != B || value.getShape().get(0) != B) {
            throw new IllegalArgumentException(
                    "inputs: batch sizes differ, K "
                            + key.getShape()
                            + ", Q "
                            + query.getShape()
                            + ", V "
                            + value.getShape());
        }
        if (value.getShape().get(1) != F) {
            throw new IllegalArgumentException(
                    "inputs: K and V lengths differ, K " + key.getShape() + ", V " + value.getShape());
        }
        if (mask != null) {
            validateMask(mask, B, T, F, key);
        }
        return new ValidatedInputs(key, query, value, mask, B, T, F);
    }

    private static void requireOpen(NDArray array, String name) {
        if (array == null) {
            throw new IllegalArgumentException(name + ": must not be null");
        }
        if (array.isReleased()) {
            throw new IllegalArgumentException(name + ": the NDArray has been closed");
        }
    }

    /** Parameters freed with their NDManager would otherwise fail deep inside DJL, unnamed. */
    private void requireOpenParameters() {
        for (Pair<String, Parameter> p : getParameters()) {
            Parameter parameter = p.getValue();
            if (parameter.isInitialized() && parameter.getArray().isReleased()) {
                throw new IllegalArgumentException(
                        "parameter "
                                + p.getKey()
                                + ": its NDArray has been closed (was the NDManager that owns the"
                                + " block's parameters closed?)");
            }
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

    private void validateMask(NDArray mask, long B, long T, long F, NDArray reference) {
        Shape s = mask.getShape();
        boolean batchOk = s.dimension() > 0 && (s.get(0) == B || s.get(0) == 1);
        boolean ok;
        switch (s.dimension()) {
            case 2:
                ok = batchOk && s.get(1) == F;
                break;
            case 3:
                ok = batchOk && s.get(1) == T && s.get(2) == F;
                break;
            case 4:
                ok =
                        batchOk
                                && (s.get(1) == 1 || s.get(1) == headCount)
                                && s.get(2) == T
                                && s.get(3) == F;
                break;
            default:
                ok = false;
        }
        if (!ok) {
            throw new IllegalArgumentException(
                    "mask: expected shape (B, T, F) = ("
                            + B
                            + ", "
                            + T
                            + ", "
                            + F
                            + "), a key-padding mask (B, F) or DJL's offset mask (B, 1, T, F),"
                            + " got "
                            + s);
        }
        DataType maskType = FlashSigmoid.dataType(mask);
        if (maskType == DataType.BFLOAT16 || maskType == DataType.UNKNOWN) {
            throw new IllegalArgumentException(
                    "mask: expected a boolean, integer or float32/float16 mask, got " + maskType);
        }
        if (!mask.getDevice().equals(reference.getDevice())) {
            throw new IllegalArgumentException(
                    "mask: on "
                            + mask.getDevice()
                            + " but the inputs are on "
                            + reference.getDevice());
        }
        if (s.dimension() == 4 && !mask.getDataType().isFloating()) {
            throw new IllegalArgumentException(
                    "mask: a 4-D mask is DJL's additive offset and must be floating-point, got "
                            + mask.getDataType());
        }
    }

    /**
     * DJL 0.36's PyTorch JNI aborts the whole JVM when asked to create or convert a bfloat16 array
     * (its dtype table stops before bfloat16), so refuse before DJL is asked to.
     */
    static void requireUsableDataType(NDManager manager, DataType type, String name) {
        if (type == DataType.BFLOAT16 && "PyTorch".equals(manager.getEngine().getEngineName())) {
            throw new IllegalArgumentException(
                    name
                            + ": bfloat16 is not usable with DJL's PyTorch engine 0.36 (its JNI"
                            + " aborts the JVM when it creates or converts bfloat16 arrays); use"
                            + " float16 or float32 (SigmoidAttention.attend and FlashSigmoid take"
                            + " bfloat16 arrays made by FlashSigmoid.toDataType)");
        }
        if (!type.isFloating()) {
            throw new IllegalArgumentException(
                    name + ": expected a floating-point data type, got " + type);
        }
    }

    /** {@inheritDoc} */
    @Override
    protected void saveMetadata(DataOutputStream os) throws IOException {
        saveInputShapes(os);
        os.writeInt(embeddingSize);
        os.writeInt(headCount);
        os.writeInt(kvHeadCount);
        os.writeByte(qkNorm.ordinal());
        os.writeBoolean(layerScaleEnabled);
        os.writeByte(bias.getKind().ordinal());
        os.writeFloat(bias.getValue());
        os.writeInt(bias.getLength());
        os.writeBoolean(causal);
        os.writeBoolean(alibi);
        os.writeBoolean(rope);
        os.writeFloat(ropeBase);
    }

    /** {@inheritDoc} */
    @Override
    public void loadMetadata(byte loadVersion, DataInputStream is)
            throws IOException, MalformedModelException {
        if (loadVersion == DJL_SOFTMAX_VERSION) {
            if (kvHeadCount != headCount) {
                throw new MalformedModelException(
                        "Parameters of DJL's ScaledDotProductAttentionBlock have as many key/value"
                                + " heads as query heads, but this block has kvHeadCount="
                                + kvHeadCount
                                + " and headCount="
                                + headCount);
            }
            readInputShapes(is);
            return;
        }
        if (loadVersion != VERSION) {
            throw BlockFormat.unsupportedVersion(NAME, loadVersion, DJL_SOFTMAX_VERSION, VERSION);
        }
        readInputShapes(is);
        requireSame("embeddingSize", embeddingSize, is.readInt());
        requireSame("headCount", headCount, is.readInt());
        requireSame("kvHeadCount", kvHeadCount, is.readInt());
        byte norm = is.readByte();
        requireSame("qkNorm", qkNorm.name(), BlockFormat.enumValue(QkNorm.values(), norm).name());
        requireSame("layerScale", layerScaleEnabled, is.readBoolean());
        byte biasKind = is.readByte();
        float biasValue = is.readFloat();
        int biasLength = is.readInt();
        String savedKind = BlockFormat.enumValue(SigmoidBias.Kind.values(), biasKind).name();
        requireSame("learned bias", bias.isLearned(), SigmoidBias.Kind.LEARNED.name().equals(savedKind));
        List<String> differences = new ArrayList<>();
        if (!bias.isLearned()) {
            SigmoidBias saved = SigmoidBias.of(SigmoidBias.Kind.valueOf(savedKind), biasValue, biasLength);
            noteDifference(differences, "bias", bias, saved);
        }
        noteDifference(differences, "causal", causal, is.readBoolean());
        noteDifference(differences, "alibi", alibi, is.readBoolean());
        noteDifference(differences, "rope", rope, is.readBoolean());
        noteDifference(differences, "ropeBase", ropeBase, is.readFloat());
        if (!differences.isEmpty()) {
            logger.warn(
                    "Loaded parameters were saved with other attention options; this block keeps"
                            + " its own: {}",
                    differences);
        }
    }

    private static void requireSame(String name, Object expected, Object saved)
            throws MalformedModelException {
        BlockFormat.requireSame(NAME, name, expected, saved);
    }

    private static void noteDifference(
            List<String> differences, String name, Object mine, Object saved) {
        if (!mine.equals(saved)) {
            differences.add(name + ": saved " + saved + ", here " + mine);
        }
    }

    /**
     * Loads parameters saved by this block, or by DJL's {@code ScaledDotProductAttentionBlock} (its
     * projections; the extra children keep their initial values).
     *
     * @param manager the manager of the loaded arrays
     * @param is the stream
     * @throws IOException when reading fails
     * @throws MalformedModelException when the stream does not fit this block
     */
    @Override
    public void loadParameters(NDManager manager, DataInputStream is)
            throws IOException, MalformedModelException {
        byte loadVersion = is.readByte();
        loadMetadata(loadVersion, is);
        List<Block> children = getChildren().values();
        int count = loadVersion == DJL_SOFTMAX_VERSION ? DJL_CHILD_COUNT : children.size();
        BlockFormat.loadChildren(manager, is, children, count);
        if (loadVersion == DJL_SOFTMAX_VERSION) {
            DataType type =
                    queryProjection.getParameters().get("weight").getArray().getDataType();
            initializeExtras(manager, type);
        }
    }

    private static final class ValidatedInputs {
        final NDArray key;
        final NDArray query;
        final NDArray value;
        final NDArray mask;
        final long batch;
        final long queryLength;
        final long keyLength;

        ValidatedInputs(
                NDArray key,
                NDArray query,
                NDArray value,
                NDArray mask,
                long batch,
                long queryLength,
                long keyLength) {
            this.key = key;
            this.query = query;
            this.value = value;
            this.mask = mask;
            this.batch = batch;
            this.queryLength = queryLength;
            this.keyLength = keyLength;
        }
    }

    /** The builder of a {@link SigmoidMultiHeadAttention}: {@code set*} required, {@code opt*} optional. */
    public static final class Builder {

        private int embeddingSize;
        private int headCount;
        private int kvHeadCount;
        private SigmoidBias bias = SigmoidBias.negLogLength();
        private boolean causal;
        private AttentionKernel kernel = AttentionKernel.AUTO;
        private QkNorm qkNorm = QkNorm.NONE;
        private float qkNormEpsilon = 1e-5f;
        private boolean layerScale;
        private float layerScaleInit = 1e-4f;
        private boolean alibi;
        private boolean rope;
        private float ropeBase = 10000f;
        private float dropoutRate;

        private Builder() {}

        /**
         * Sets the embedding size E of the input and output.
         *
         * @param embeddingSize E, a multiple of the head count
         * @return this builder
         */
        public Builder setEmbeddingSize(int embeddingSize) {
            this.embeddingSize = embeddingSize;
            return this;
        }

        /**
         * Sets the number of query heads H; the head dimension is D = E / H.
         *
         * @param headCount H
         * @return this builder
         */
        public Builder setHeadCount(int headCount) {
            this.headCount = headCount;
            return this;
        }

        /**
         * Sets the number of key/value heads G for grouped-query (1 &lt; G &lt; H) or multi-query
         * (G = 1) attention; query head h reads key/value head h / (H / G). Default: H.
         *
         * @param kvHeadCount G, a divisor of H
         * @return this builder
         */
        public Builder optKvHeadCount(int kvHeadCount) {
            if (kvHeadCount < 1) {
                throw new IllegalArgumentException("kvHeadCount must be >= 1, got " + kvHeadCount);
            }
            this.kvHeadCount = kvHeadCount;
            return this;
        }

        /**
         * Sets the bias added to every score (default {@link SigmoidBias#negLogLength()}).
         *
         * @param bias the bias
         * @return this builder
         */
        public Builder optBias(SigmoidBias bias) {
            this.bias = Arguments.requireNonNull("bias", bias);
            return this;
        }

        /**
         * Sets causal masking: key j is masked for query i when j &gt; i + F - T (aligned at the
         * bottom right, as FlashAttention does when T ≠ F). Default false.
         *
         * @param causal whether to mask future keys
         * @return this builder
         */
        public Builder optCausal(boolean causal) {
            this.causal = causal;
            return this;
        }

        /**
         * Sets the kernel (default {@link AttentionKernel#AUTO}).
         *
         * @param kernel the kernel
         * @return this builder
         */
        public Builder optKernel(AttentionKernel kernel) {
            this.kernel = Arguments.requireNonNull("kernel", kernel);
            return this;
        }

        /**
         * Sets the normalisation of queries and keys over the head dimension (default none).
         *
         * @param qkNorm the normalisation
         * @return this builder
         */
        public Builder optQkNorm(QkNorm qkNorm) {
            this.qkNorm = Arguments.requireNonNull("qkNorm", qkNorm);
            return this;
        }

        /**
         * Sets the epsilon of the query/key normalisation (default 1e-5).
         *
         * @param epsilon a positive number
         * @return this builder
         */
        public Builder optQkNormEpsilon(float epsilon) {
            this.qkNormEpsilon = epsilon;
            return this;
        }

        /**
         * Enables a per-channel learned gain on the output, initialised to 1e-4.
         *
         * @param layerScale whether to scale the output
         * @return this builder
         */
        public Builder optLayerScale(boolean layerScale) {
            this.layerScale = layerScale;
            return this;
        }

        /**
         * Enables LayerScale with the given initial gain.
         *
         * @param initValue the initial gain, finite
         * @return this builder
         */
        public Builder optLayerScale(float initValue) {
            this.layerScale = true;
            this.layerScaleInit = initValue;
            return this;
        }

        /**
         * Enables ALiBi: {@code -slope_h · |i + F - T - j|} added to every score, with the
         * geometric slopes of Press et al. (2022).
         *
         * @param alibi whether to add ALiBi offsets
         * @return this builder
         */
        public Builder optAlibi(boolean alibi) {
            this.alibi = alibi;
            return this;
        }

        /**
         * Enables rotary position embeddings on queries and keys (the "rotate half" layout).
         *
         * @param rope whether to rotate queries and keys
         * @return this builder
         */
        public Builder optRope(boolean rope) {
            this.rope = rope;
            return this;
        }

        /**
         * Enables RoPE with the given base (default 10000).
         *
         * @param base the base of the rotation frequencies, &gt; 1
         * @return this builder
         */
        public Builder optRopeBase(float base) {
            this.rope = true;
            this.ropeBase = base;
            return this;
        }

        /**
         * Sets the dropout rate applied to the attention weights in training (default 0). Named as
         * in DJL's {@code ScaledDotProductAttentionBlock}. Dropout runs on the reference kernel.
         *
         * @param rate the rate, in [0, 1]
         * @return this builder
         */
        public Builder optAttentionProbsDropoutProb(float rate) {
            this.dropoutRate = rate;
            return this;
        }

        /**
         * Builds the block after checking the configuration.
         *
         * @return a new block
         */
        public SigmoidMultiHeadAttention build() {
            Arguments.requirePositive("embeddingSize", embeddingSize);
            Arguments.requirePositive("headCount", headCount);
            if (embeddingSize % headCount != 0) {
                throw new IllegalArgumentException(
                        "embeddingSize ("
                                + embeddingSize
                                + ") must be divisible by headCount ("
                                + headCount
                                + ")");
            }
            int g = kvHeadCount > 0 ? kvHeadCount : headCount;
            if (headCount % g != 0) {
                throw new IllegalArgumentException(
                        "headCount (" + headCount + ") must be divisible by kvHeadCount (" + g + ")");
            }
            if (!(qkNormEpsilon > 0) || !Float.isFinite(qkNormEpsilon)) {
                throw new IllegalArgumentException(
                        "qkNormEpsilon must be a positive finite number, got " + qkNormEpsilon);
            }
            if (!Float.isFinite(layerScaleInit)) {
                throw new IllegalArgumentException(
                        "layerScale initial value must be finite, got " + layerScaleInit);
            }
            if (rope && (embeddingSize / headCount) % 2 != 0) {
                throw new IllegalArgumentException(
                        "RoPE needs an even head dimension, got D = "
                                + embeddingSize
                                + " / "
                                + headCount
                                + " = "
                                + embeddingSize / headCount);
            }
            if (!(ropeBase > 1) || !Float.isFinite(ropeBase)) {
                throw new IllegalArgumentException(
                        "ropeBase must be a finite number > 1, got " + ropeBase);
            }
            Arguments.requireRate("attentionProbsDropoutProb", dropoutRate);
            if (kernel == AttentionKernel.FUSED && !FlashSigmoid.isAvailable()) {
                throw new IllegalStateException(
                        "AttentionKernel.FUSED needs the FlashSigmoid native library of cuda-ops,"
                                + " which is unavailable: "
                                + FlashSigmoid.getUnavailableReason());
            }
            return new SigmoidMultiHeadAttention(this);
        }
    }
}
