package io.github.sigmoidattention.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

import java.util.function.UnaryOperator;

/**
 * Sigmoid attention as a function of projected heads, without the block's projections: {@code
 * out[b, i, h] = Σ_j sigmoid(scale · q_i·k_j + bias) · v_j}, in FlashAttention's layout (q of shape
 * (B, T, H, D), k and v of shape (B, F, G, D), H a multiple of G).
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
        validate(q, k, v);
        AttentionCall call = new AttentionCall(q, k, v, scale, bias, null, causal, null, null);
        return FusedSigmoidAttention.selected(kernel, call)
                ? FusedSigmoidAttention.attend(call)
                : ReferenceSigmoidAttention.attend(call, UnaryOperator.identity());
    }

    private static void validate(NDArray q, NDArray k, NDArray v) {
        if (q == null || k == null || v == null) {
            throw new IllegalArgumentException("q, k and v must not be null");
        }
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
