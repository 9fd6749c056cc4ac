package io.github.sigmoidattention.nn.attention;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.sigmoidattention.nn.util.Arguments;
import io.github.sigmoidattention.ops.AttentionCall;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;
import io.github.sigmoidattention.ops.PtArrays;
import java.util.function.UnaryOperator;

/**
 * Sigmoid attention as a function of projected heads, without the block's projections: {@code
 * out[b, i, h] = Σ_j sigmoid(scale · q_i·k_j + bias) · v_j}, in FlashAttention's layout (q of shape
 * (B, T, H, D), k and v of shape (B, F, G, D), H a multiple of G).
 *
 * <p>It takes float32, float16 and bfloat16 arrays (bfloat16 ones made with {@link
 * PtArrays#toDataType}, since DJL 0.36 cannot make them): the fused kernel computes bfloat16
 * directly, the reference kernel in float32, converted by PyTorch, never by DJL.
 */
public final class SigmoidAttention {

    private SigmoidAttention() {}

    /**
     * Computes sigmoid attention with the given kernel.
     *
     * @param q queries (B, T, H, D)
     * @param k keys (B, F, G, D)
     * @param v values (B, F, G, D)
     * @param scale the factor of q·k, usually 1/√D
     * @param bias added to every score, usually -ln F
     * @param causal whether key j is hidden from query i when j &gt; i + F - T
     * @param kernel {@link AttentionKernel#REFERENCE} (NDArray operations, differentiable by DJL's
     *     autograd), {@link AttentionKernel#FUSED} (the native op), or {@link AttentionKernel#AUTO}
     *     (the fused kernel when it can run the call)
     * @return the output (B, T, H, D), in the data type of q
     */
    public static NDArray attend(
            NDArray q,
            NDArray k,
            NDArray v,
            float scale,
            float bias,
            boolean causal,
            AttentionKernel kernel) {
        Arguments.requireNonNull("kernel", kernel);
        DataType type = validate(q, k, v, scale, bias);
        AttentionCall call = AttentionCall.of(q, k, v, scale, bias, causal);
        if (FusedSigmoidAttention.selected(kernel, call, null)) {
            return FusedSigmoidAttention.attend(call, null);
        }
        if (type != DataType.BFLOAT16) {
            return ReferenceSigmoidAttention.attend(call, UnaryOperator.identity());
        }
        // DJL aborts the JVM when it converts bfloat16 arrays: PyTorch converts them here.
        AttentionCall float32 =
                call.withInputs(
                        PtArrays.toDataType(q, DataType.FLOAT32),
                        PtArrays.toDataType(k, DataType.FLOAT32),
                        PtArrays.toDataType(v, DataType.FLOAT32));
        NDArray out = ReferenceSigmoidAttention.attend(float32, UnaryOperator.identity());
        return PtArrays.toDataType(out, DataType.BFLOAT16);
    }

    /** Checks the arguments and returns the data type of q, k and v. */
    private static DataType validate(NDArray q, NDArray k, NDArray v, float scale, float bias) {
        String[] names = {"q", "k", "v"};
        NDArray[] arrays = {q, k, v};
        for (int i = 0; i < 3; i++) {
            if (arrays[i] == null) {
                throw new IllegalArgumentException(names[i] + " must not be null");
            }
            if (arrays[i].isReleased()) {
                throw new IllegalArgumentException(names[i] + ": the NDArray has been closed");
            }
        }
        if (!Float.isFinite(scale)) {
            throw new IllegalArgumentException("scale must be a finite number, got " + scale);
        }
        if (!Float.isFinite(bias)) {
            throw new IllegalArgumentException("bias must be a finite number, got " + bias);
        }
        DataType type = PtArrays.dataType(q);
        for (int i = 0; i < 3; i++) {
            DataType t = PtArrays.dataType(arrays[i]);
            if (!t.isFloating() && t != DataType.BFLOAT16) {
                throw new IllegalArgumentException(
                        names[i] + ": expected a floating-point array, got " + t);
            }
            if (t != type) {
                throw new IllegalArgumentException(
                        "q, k and v must have one data type, q is "
                                + type
                                + " but "
                                + names[i]
                                + " is "
                                + t);
            }
            if (!arrays[i].getDevice().equals(q.getDevice())) {
                throw new IllegalArgumentException(
                        "q, k and v must be on one device, q is on "
                                + q.getDevice()
                                + " but "
                                + names[i]
                                + " is on "
                                + arrays[i].getDevice());
            }
        }
        if (type == DataType.BFLOAT16 && !FlashSigmoidLibrary.isAvailable()) {
            throw new IllegalArgumentException(
                    "q: bfloat16 arrays need the FlashSigmoid native library, which is"
                            + " unavailable: "
                            + FlashSigmoidLibrary.getUnavailableReason());
        }
        validateShapes(q, k, v);
        return type;
    }

    private static void validateShapes(NDArray q, NDArray k, NDArray v) {
        Shape qs = q.getShape();
        Shape ks = k.getShape();
        if (qs.dimension() != 4 || ks.dimension() != 4 || !ks.equals(v.getShape())) {
            throw new IllegalArgumentException(
                    "expected q (B, T, H, D) and k, v (B, F, G, D), got q "
                            + qs
                            + ", k "
                            + ks
                            + ", v "
                            + v.getShape());
        }
        if (qs.get(0) != ks.get(0)
                || qs.get(3) != ks.get(3)
                || ks.get(2) < 1
                || qs.get(2) % ks.get(2) != 0) {
            throw new IllegalArgumentException(
                    "q "
                            + qs
                            + " and k "
                            + ks
                            + " must share B and D, and k's heads must divide q's heads");
        }
    }
}
