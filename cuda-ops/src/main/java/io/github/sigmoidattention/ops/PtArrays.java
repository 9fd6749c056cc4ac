package io.github.sigmoidattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtGradientCollector;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.JniUtils;
import java.lang.reflect.Field;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * What DJL 0.36 cannot tell or do with arrays of its PyTorch engine, done through PyTorch: the true
 * data type of a bfloat16 array (DJL says {@link DataType#UNKNOWN}), conversions to and from
 * bfloat16 (DJL's JNI aborts the JVM on them), and whether an array is part of the graph a
 * GradientCollector records (DJL sees leaves only).
 */
public final class PtArrays {

    /**
     * DJL's flag of an open PtGradientCollector (one at a time per process), or null if a DJL
     * version renamed it; then grad mode alone decides.
     */
    private static final AtomicBoolean COLLECTING = collectingFlag();

    private PtArrays() {}

    private static AtomicBoolean collectingFlag() {
        try {
            Field field = PtGradientCollector.class.getDeclaredField("isCollecting");
            field.setAccessible(true);
            return (AtomicBoolean) field.get(null);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    /**
     * Returns the data type of an array as PyTorch holds it: {@link DataType#BFLOAT16} where DJL
     * reports {@link DataType#UNKNOWN} for a bfloat16 array.
     *
     * @param x an array
     * @return its data type
     */
    public static DataType dataType(NDArray x) {
        DataType type = x.getDataType();
        if (type != DataType.UNKNOWN
                || !(x instanceof PtNDArray)
                || !FlashSigmoidLibrary.isAvailable()) {
            return type;
        }
        return FlashSigmoidNative.dtypeCode(handle(x, "x")) == 2 ? DataType.BFLOAT16 : type;
    }

    /**
     * Returns a copy of {@code x} converted to {@code type} by PyTorch. Unlike {@link
     * NDArray#toType}, it converts to and from bfloat16.
     *
     * @param x the array
     * @param type float32, float16, bfloat16 or float64
     * @return the converted copy, owned by the manager of x
     */
    public static NDArray toDataType(NDArray x, DataType type) {
        FlashSigmoidLibrary.requireAvailable();
        int code;
        switch (type) {
            case FLOAT32:
                code = 0;
                break;
            case FLOAT16:
                code = 1;
                break;
            case BFLOAT16:
                code = 2;
                break;
            case FLOAT64:
                code = 3;
                break;
            default:
                throw new IllegalArgumentException(
                        "type: expected float32, float16, bfloat16 or float64, got " + type);
        }
        return wrap(x, FlashSigmoidNative.convert(handle(x, "x"), code));
    }

    /**
     * Returns whether DJL's autograd is recording (a {@link ai.djl.training.GradientCollector} is
     * open and this thread's grad mode is on) and any of the arrays is part of the recorded graph:
     * a leaf that requires a gradient or the result of a recorded operation. Such inputs need a
     * differentiable computation, which {@link FlashSigmoid#forward(AttentionCall)} is not.
     *
     * @param arrays arrays; nulls are skipped
     * @return true if a gradient would flow to any of them
     */
    public static boolean isRecordingGradient(NDArray... arrays) {
        // PyTorch's grad mode is per thread and on by default in threads DJL did not set up (a
        // Predictor's worker, for one), so it alone does not mean a collector is recording.
        if (!JniUtils.isGradMode() || (COLLECTING != null && !COLLECTING.get())) {
            return false;
        }
        for (NDArray a : arrays) {
            if (!(a instanceof PtNDArray) || ((PtNDArray) a).isReleased()) {
                continue;
            }
            // DJL's hasGradient sees leaves only; a recorded result is not a leaf. (DJL's
            // getGradientFunctionNames crashes the JVM on arrays without a gradient function.)
            if (a.hasGradient()
                    || (FlashSigmoidLibrary.isAvailable()
                            && !FlashSigmoidNative.isLeaf(((PtNDArray) a).getHandle()))) {
                return true;
            }
        }
        return false;
    }

    /** The PyTorch handle of an open array of DJL's PyTorch engine, else a named refusal. */
    static long handle(NDArray array, String name) {
        if (array == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        if (!(array instanceof PtNDArray)) {
            throw new IllegalArgumentException(
                    name
                            + ": expected an NDArray of DJL's PyTorch engine, got "
                            + array.getClass().getName());
        }
        if (((PtNDArray) array).isReleased()) {
            throw new IllegalArgumentException(name + ": the NDArray has been closed");
        }
        return ((PtNDArray) array).getHandle();
    }

    /** {@link #handle}, or 0 for a null array ("none"). */
    static long optionalHandle(NDArray array, String name) {
        return array == null ? 0L : handle(array, name);
    }

    /** A new array of the manager of {@code owner} around a handle the native side made. */
    static NDArray wrap(NDArray owner, long handle) {
        return new PtNDArray((PtNDManager) owner.getManager(), handle);
    }
}
