package io.github.sigmoidattention.nn.attention;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.util.PairList;
import io.github.sigmoidattention.nn.util.Arguments;

/**
 * The key/value cache of one {@link SigmoidMultiHeadAttention} layer for autoregressive decoding:
 * keys and values of shape (B, maxLength, G, D), preallocated once, of which the first {@link
 * #getLength()} positions are filled. A forward call with the cache (forward parameter {@link
 * SigmoidMultiHeadAttention#KV_CACHE}) appends its new keys and values and attends over the filled
 * prefix, a view of the preallocated arrays: nothing is copied but the new positions.
 *
 * <p>Keys are cached after QK-norm and RoPE, at their absolute positions; the block places new
 * queries and keys after the cached ones. The cache belongs to the manager it was created with;
 * close it (or that manager) to free it.
 *
 * <p>Sequences of different lengths decode together when their prompts are left-padded: the first
 * call passes {@code [X, mask]} with a key-padding mask (B, T) that is 0 on the padding, the cache
 * remembers which positions hold padding, and every later call masks them. All sequences then end
 * at the same position, so each new token is appended at one position for the whole batch, and
 * RoPE, ALiBi and causal masking, which depend on distances between positions only, give every
 * sequence the outputs it has when decoded alone.
 *
 * <p>A call that is refused or fails leaves the cache as it was. bfloat16 caches are refused (DJL
 * 0.36 cannot allocate them), and so is a data type other than the block's parameters'.
 */
public final class KvCache implements AutoCloseable {

    /** The forward parameter's name, which messages about the cache start with. */
    private static final String KV_CACHE = SigmoidMultiHeadAttention.KV_CACHE;

    private final NDArray keys;
    private final NDArray values;
    private final NDArray keep; // (B, maxLength): 1 where a position holds a token, 0 for padding
    private final long batch;
    private final int maxLength;
    private int length;
    private boolean padded;

    private KvCache(NDArray keys, NDArray values, NDArray keep, int maxLength) {
        this.keys = keys;
        this.values = values;
        this.keep = keep;
        this.batch = keys.getShape().get(0);
        this.maxLength = maxLength;
    }

    /**
     * Preallocates the cache of one layer.
     *
     * @param block the attention layer the cache serves (its G and D size the cache)
     * @param manager the manager that owns the cache's arrays
     * @param batch B, the sequences decoded together (at least 1)
     * @param maxLength the most positions the cache holds (at least 1)
     * @param dataType the data type of the block's parameters and inputs
     * @return an empty cache
     */
    public static KvCache create(
            SigmoidMultiHeadAttention block,
            NDManager manager,
            long batch,
            int maxLength,
            DataType dataType) {
        if (block == null) {
            throw new IllegalArgumentException("block must not be null");
        }
        if (batch < 1) {
            throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        }
        if (maxLength < 1) {
            throw new IllegalArgumentException("maxLength must be >= 1, got " + maxLength);
        }
        if (manager == null) {
            throw new IllegalArgumentException("manager must not be null");
        }
        if (dataType == null) {
            throw new IllegalArgumentException("dataType must not be null");
        }
        Arguments.requireUsableDataType(manager, dataType, "dataType");
        DataType blockType = block.getParameterDataType();
        if (blockType != null && blockType != dataType) {
            throw new IllegalArgumentException(
                    "dataType: the block's parameters are "
                            + blockType
                            + ", the cache must hold the same type, got "
                            + dataType);
        }
        Shape shape = new Shape(batch, maxLength, block.getKvHeadCount(), block.getHeadDim());
        return new KvCache(
                manager.zeros(shape, dataType),
                manager.zeros(shape, dataType),
                manager.zeros(new Shape(batch, maxLength), DataType.FLOAT32),
                maxLength);
    }

    /**
     * Returns the number of filled positions.
     *
     * @return the length, in [0, maxLength]
     */
    public int getLength() {
        return length;
    }

    /**
     * Returns the most positions the cache holds.
     *
     * @return the capacity
     */
    public int getMaxLength() {
        return maxLength;
    }

    /**
     * Returns B.
     *
     * @return the batch size
     */
    public long getBatch() {
        return batch;
    }

    /**
     * Returns the data type of the cached keys and values.
     *
     * @return the data type
     */
    public DataType getDataType() {
        return keys.getDataType();
    }

    /**
     * Returns the device of the cached keys and values.
     *
     * @return the device
     */
    public Device getDevice() {
        return keys.getDevice();
    }

    /**
     * Returns G, the key/value heads the cache holds.
     *
     * @return G
     */
    public long getKvHeadCount() {
        return keys.getShape().get(2);
    }

    /**
     * Returns D, the head dimension of the cached keys.
     *
     * @return D
     */
    public long getHeadDim() {
        return keys.getShape().get(3);
    }

    /**
     * Returns whether the cache's arrays have been freed.
     *
     * @return true after {@link #close()} or once its manager closed
     */
    public boolean isClosed() {
        return keys.isReleased() || values.isReleased() || keep.isReleased();
    }

    /**
     * Returns whether any cached position holds padding (a left-padded batch).
     *
     * @return true once a key-padding mask with a 0 was appended
     */
    public boolean hasPadding() {
        return padded;
    }

    /** Empties the cache (the arrays stay allocated). */
    public void reset() {
        length = 0;
        padded = false;
    }

    /**
     * Returns the cache a forward call of {@code block} passes, after checking that the call may
     * use it; null without one. Checked before anything is appended, so that a refused call leaves
     * the cache as it was.
     */
    static KvCache forCall(
            SigmoidMultiHeadAttention block,
            AttentionInputs in,
            PairList<String, Object> params,
            boolean training) {
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
        if (in.mask != null
                && block.getOptions().getBias().getKind() == SigmoidBias.Kind.NEG_LOG_LENGTH) {
            throw new IllegalArgumentException(
                    KV_CACHE
                            + ": the sequence-length bias -ln F would count the padding of a"
                            + " padded batch; decode padded batches with a constant, negLog(n)"
                            + " or learned bias");
        }
        if (cache.getBatch() != in.batch) {
            throw new IllegalArgumentException(
                    KV_CACHE
                            + ": the cache holds "
                            + cache.getBatch()
                            + " sequences, X has "
                            + in.batch);
        }
        if (cache.getKvHeadCount() != block.getKvHeadCount()
                || cache.getHeadDim() != block.getHeadDim()) {
            throw new IllegalArgumentException(
                    KV_CACHE
                            + ": the cache holds "
                            + cache.getKvHeadCount()
                            + " kv heads of dimension "
                            + cache.getHeadDim()
                            + ", this block has "
                            + block.getKvHeadCount()
                            + " of dimension "
                            + block.getHeadDim());
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

    /**
     * Runs a forward call that appends to this cache; if it fails, the cache goes back to the
     * length and padding it had, so that a refused or failed call leaves it as it was.
     *
     * @param call the forward call
     * @param <T> its result
     * @return the call's result
     */
    <T> T keepUnlessSuccessful(java.util.function.Supplier<T> call) {
        int cachedLength = length;
        boolean cachedPadding = padded;
        try {
            return call.get();
        } catch (RuntimeException e) {
            length = cachedLength;
            padded = cachedPadding;
            throw e;
        }
    }

    /**
     * Appends keys and values of the next positions.
     *
     * @param newKeys (B, T, G, D)
     * @param newValues (B, T, G, D)
     * @param newKeep (B, T), nonzero where the position holds a token; null when all do
     */
    void append(NDArray newKeys, NDArray newValues, NDArray newKeep) {
        Shape shape = newKeys.getShape();
        long t = shape.get(1);
        if (shape.get(0) != batch
                || shape.get(2) != keys.getShape().get(2)
                || shape.get(3) != keys.getShape().get(3)) {
            throw new IllegalArgumentException(
                    "KV cache: new keys of shape "
                            + shape
                            + " do not fit a cache of shape "
                            + keys.getShape());
        }
        if (length + t > maxLength) {
            throw new IllegalArgumentException(
                    "KV cache: appending "
                            + t
                            + " positions to "
                            + length
                            + " exceeds the capacity "
                            + maxLength
                            + "; reset the cache or create a larger one");
        }
        if (newKeep != null && !newKeep.getShape().equals(new Shape(batch, t))) {
            throw new IllegalArgumentException(
                    "KV cache: the key-padding mask of the new positions must have shape ("
                            + batch
                            + ", "
                            + t
                            + "), got "
                            + newKeep.getShape());
        }
        NDIndex at = new NDIndex(":, {}:{}", length, length + t);
        keys.set(at, newKeys.toType(keys.getDataType(), false));
        values.set(at, newValues.toType(values.getDataType(), false));
        if (newKeep == null) {
            keep.set(at, 1f);
        } else {
            NDArray present = newKeep.neq(0);
            keep.set(at, present.toType(DataType.FLOAT32, false));
            padded |= !present.all().getBoolean();
        }
        length += (int) t;
    }

    /**
     * Returns which filled positions hold tokens, or null when all do.
     *
     * @return (B, length) of 1 and 0, a view of the cache, or null
     */
    NDArray keep() {
        return padded ? keep.get(new NDIndex(":, 0:{}", length)) : null;
    }

    /**
     * Returns the filled keys, a view of the cache.
     *
     * @return (B, length, G, D)
     */
    NDArray keys() {
        return keys.get(new NDIndex(":, 0:{}", length));
    }

    /**
     * Returns the filled values, a view of the cache.
     *
     * @return (B, length, G, D)
     */
    NDArray values() {
        return values.get(new NDIndex(":, 0:{}", length));
    }

    /** Frees the cache's arrays. */
    @Override
    public void close() {
        keys.close();
        values.close();
        keep.close();
    }
}
