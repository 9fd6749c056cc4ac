package io.github.sigmoidattention.nn.attention;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import ai.djl.util.PairList;
import io.github.sigmoidattention.nn.util.Arguments;
import io.github.sigmoidattention.ops.PtArrays;

/**
 * The inputs of one forward call of {@link SigmoidMultiHeadAttention}, checked: arrays open and of
 * the block's width, data type and device, lengths consistent, the mask of a known shape and type,
 * the forward parameters valid. Every refusal is an {@link IllegalArgumentException} naming the
 * input and the values.
 */
// Tensor dimensions are named as in the paper: B, T, F.
@SuppressWarnings({"LocalVariableName", "ParameterName"})
final class AttentionInputs {

    final NDArray key;
    final NDArray query;
    final NDArray value;
    final NDArray mask;
    final long batch;
    final long queryLength;
    final long keyLength;
    final long positionOffset;

    private AttentionInputs(
            NDArray key,
            NDArray query,
            NDArray value,
            NDArray mask,
            long batch,
            long queryLength,
            long keyLength,
            long positionOffset) {
        this.key = key;
        this.query = query;
        this.value = value;
        this.mask = mask;
        this.batch = batch;
        this.queryLength = queryLength;
        this.keyLength = keyLength;
        this.positionOffset = positionOffset;
    }

    /** Checks the input shapes a block of width {@code embeddingSize} is initialised with. */
    static void requireInitializationShapes(int embeddingSize, Shape... inputShapes) {
        int sequenceInputs = inputShapes.length <= 2 ? 1 : 3;
        for (int i = 0; i < sequenceInputs && i < inputShapes.length; i++) {
            Shape s = inputShapes[i];
            if (s.dimension() != 3 || s.get(2) != embeddingSize) {
                throw new IllegalArgumentException(
                        "inputShapes[" + i + "]: expected (B, S, " + embeddingSize + "), got " + s);
            }
        }
    }

    /** Whether the mask is a key-padding mask (B or 1, F). */
    boolean isKeyPadding() {
        return mask != null && mask.getShape().dimension() == 2;
    }

    /**
     * Checks the inputs of a forward call of {@code block} and its forward parameters.
     *
     * @return the inputs, named
     */
    static AttentionInputs validate(
            SigmoidMultiHeadAttention block, NDList inputs, PairList<String, Object> params) {
        int embeddingSize = block.getEmbeddingSize();
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
        requireOpenParameters(block);
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
            DataType type = PtArrays.dataType(sequences[i]);
            if (!type.isFloating()) {
                throw new IllegalArgumentException(
                        names[i] + ": expected a floating-point array, got " + type);
            }
            if (type != PtArrays.dataType(key)) {
                throw new IllegalArgumentException(
                        "inputs: mixed data types, "
                                + names[0]
                                + " is "
                                + PtArrays.dataType(key)
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
        Arguments.requireUsableDataType(key.getManager(), PtArrays.dataType(key), names[0]);
        DataType paramType = block.getParameterDataType();
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
                    "inputs: K and V lengths differ, K "
                            + key.getShape()
                            + ", V "
                            + value.getShape());
        }
        if (mask != null) {
            validateMask(mask, B, T, F, key, block.getHeadCount());
        }
        return new AttentionInputs(key, query, value, mask, B, T, F, positionOffset(params));
    }

    private static long positionOffset(PairList<String, Object> params) {
        Object value =
                params == null ? null : params.get(SigmoidMultiHeadAttention.POSITION_OFFSET);
        if (value == null) {
            return 0;
        }
        if (!(value instanceof Integer || value instanceof Long)
                || ((Number) value).longValue() < 0) {
            throw new IllegalArgumentException(
                    SigmoidMultiHeadAttention.POSITION_OFFSET
                            + ": expected a non-negative Integer or Long, got "
                            + value);
        }
        return ((Number) value).longValue();
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
    private static void requireOpenParameters(SigmoidMultiHeadAttention block) {
        for (Pair<String, Parameter> p : block.getParameters()) {
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

    private static void validateMask(
            NDArray mask, long B, long T, long F, NDArray reference, int headCount) {
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
        DataType maskType = PtArrays.dataType(mask);
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
}
