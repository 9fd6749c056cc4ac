package io.github.sigmoidattention.nn.util;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;
import io.github.sigmoidattention.ops.PtArrays;

/**
 * Data type conversions that autograd records. DJL 0.36's {@link NDArray#toType} converts without
 * gradient (its JNI holds a {@code NoGradGuard}), so a float16 block that computes in float32 and
 * converts back would train with no gradient through the conversion; PyTorch's copy, through
 * cuda-ops, passes it.
 */
public final class Casts {

    private Casts() {}

    /**
     * Returns {@code x} in {@code type}, with the gradient flowing back through the conversion
     * where the native library is loaded (DJL's conversion, without gradient, otherwise).
     *
     * @param x a floating-point array
     * @param type float16, bfloat16, float32 or float64
     * @return x itself when it has the type already, else a converted copy
     */
    public static NDArray to(NDArray x, DataType type) {
        if (x.getDataType() == type) {
            return x;
        }
        if (x instanceof PtNDArray && FlashSigmoidLibrary.isAvailable()) {
            return PtArrays.toDataType(x, type);
        }
        return x.toType(type, false);
    }
}
