package io.github.sigmoidattention.nn.util;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

/** Argument checks whose messages name the argument and the value. */
public final class Arguments {

    private Arguments() {}

    /**
     * Requires a value of at least 1.
     *
     * @param name the argument
     * @param value its value
     * @return the value
     */
    public static int requirePositive(String name, int value) {
        if (value < 1) {
            throw new IllegalArgumentException(
                    name + " must be set to a positive value, got " + value);
        }
        return value;
    }

    /**
     * Requires a rate in [0, 1].
     *
     * @param name the argument
     * @param value its value
     * @return the value
     */
    public static float requireRate(String name, float value) {
        if (!(value >= 0 && value <= 1)) {
            throw new IllegalArgumentException(name + " must be in [0, 1], got " + value);
        }
        return value;
    }

    /**
     * Requires a finite value.
     *
     * @param name the argument
     * @param value its value
     * @return the value
     */
    public static float requireFinite(String name, float value) {
        if (!Float.isFinite(value)) {
            throw new IllegalArgumentException(name + " must be finite, got " + value);
        }
        return value;
    }

    /**
     * Requires a non-null value.
     *
     * @param name the argument
     * @param value its value
     * @param <T> its type
     * @return the value
     */
    public static <T> T requireNonNull(String name, T value) {
        if (value == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        return value;
    }

    /**
     * Requires a floating-point type that DJL can create arrays of. DJL 0.36's PyTorch JNI aborts
     * the whole JVM when asked to create or convert a bfloat16 array (its dtype table stops before
     * bfloat16), so bfloat16 is refused before DJL is asked to.
     *
     * @param manager the manager that would create the arrays
     * @param type the data type
     * @param name the argument, for the message
     */
    public static void requireUsableDataType(NDManager manager, DataType type, String name) {
        if (type == DataType.BFLOAT16 && "PyTorch".equals(manager.getEngine().getEngineName())) {
            throw new IllegalArgumentException(
                    name
                            + ": bfloat16 is not usable with DJL's PyTorch engine 0.36 (its JNI"
                            + " aborts the JVM when it creates or converts bfloat16 arrays); use"
                            + " float16 or float32 (SigmoidAttention.attend and FlashSigmoid take"
                            + " bfloat16 arrays made by PtArrays.toDataType)");
        }
        if (!type.isFloating()) {
            throw new IllegalArgumentException(
                    name + ": expected a floating-point data type, got " + type);
        }
    }
}
