package io.github.sigmoidattention.nn.attention;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import io.github.sigmoidattention.nn.util.Casts;
import io.github.sigmoidattention.ops.AttentionCall;
import java.util.function.UnaryOperator;

/**
 * The attention core in plain NDArray operations: {@code out = Σ_j sigmoid(s_ij) · keep_ij · v_j}
 * with {@code s_ij = scale · q_i·k_j + b + b_h - alibi_ij}. It materialises the (B, H, T, F)
 * weights and trains through the engine's autograd. Half-precision inputs are computed in float32.
 * Key lengths need no work here: the mask of the call already hides the keys past them.
 *
 * <p>Masked weights are selected away, not multiplied by 0, so a non-finite score at a masked
 * position gives no NaN; the keys and values of keys a key-padding mask hides are zeroed first, so
 * that nothing they hold reaches the output or the gradients (as in the fused kernels).
 */
final class ReferenceSigmoidAttention {

    private ReferenceSigmoidAttention() {}

    /**
     * Computes the attention core.
     *
     * @param call the inputs
     * @param weightDropout applied to the (B, H, T, F) weights, identity outside training
     * @return the output, (B, T, H, D), in the data type of the query
     */
    static NDArray attend(AttentionCall call, UnaryOperator<NDArray> weightDropout) {
        NDArray q = call.query();
        Shape qs = q.getShape();
        long b = qs.get(0);
        long t = qs.get(1);
        long h = qs.get(2);
        long d = qs.get(3);
        long f = call.key().getShape().get(1);
        long g = call.key().getShape().get(2);
        long r = h / g;
        DataType outType = q.getDataType();
        DataType type = computeType(outType);
        NDManager manager = q.getManager();

        NDArray zero = manager.zeros(new Shape(), type);
        NDArray key = Casts.to(call.key(), type);
        NDArray value = Casts.to(call.value(), type);
        NDArray keep = call.keep();
        if (keep != null && keep.getShape().get(1) == 1 && keep.getShape().get(2) == 1) {
            // A key-padding mask (B or 1, 1, 1, F): padded keys' rows of k and v become 0.
            NDArray keyKept =
                    keep.neq(0).reshape(keep.getShape().get(0), f, 1, 1).broadcast(key.getShape());
            key = NDArrays.where(keyKept, key, zero);
            value = NDArrays.where(keyKept, value, zero);
        }
        // Group the r query heads that share a key head: (B, G, r·T, D) against (B, G, D, F).
        NDArray qg = Casts.to(q, type).mul(call.scale()).transpose(0, 2, 1, 3);
        qg = qg.reshape(b, g, r * t, d);
        NDArray kg = key.transpose(0, 2, 3, 1);
        NDArray vg = value.transpose(0, 2, 1, 3);
        NDArray scores = qg.matMul(kg).reshape(b, h, t, f);

        scores = scores.add(call.bias());
        if (call.headBias() != null) {
            scores = scores.add(Casts.to(call.headBias(), type).reshape(1, h, 1, 1));
        }
        if (call.alibiSlopes() != null) {
            scores = scores.add(Positions.alibiOffsets(call.alibiSlopes(), t, f, type));
        }
        NDArray weights = Activation.sigmoid(scores);
        // A masked weight is exactly 0, in value and gradient.
        Shape weightShape = weights.getShape();
        if (keep != null) {
            weights = NDArrays.where(keep.neq(0).broadcast(weightShape), weights, zero);
        }
        if (call.causal()) {
            NDArray visible = Positions.queryKeyDistance(manager, t, f).gte(0);
            weights = NDArrays.where(visible.broadcast(weightShape), weights, zero);
        }
        weights = weightDropout.apply(weights);

        NDArray out = weights.reshape(b, g, r * t, f).matMul(vg);
        return Casts.to(out.reshape(b, h, t, d).transpose(0, 2, 1, 3), outType);
    }

    /** Float64 stays float64 (for gradient checks); everything else computes in float32. */
    static DataType computeType(DataType input) {
        return input == DataType.FLOAT64 ? DataType.FLOAT64 : DataType.FLOAT32;
    }
}
