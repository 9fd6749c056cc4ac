package io.github.sigmoidattention.nn.attention;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Position encodings that act on attention: ALiBi slopes and rotary embeddings (RoPE).
 *
 * <p>Queries and keys are aligned at the bottom right, as FlashAttention does when T ≠ F: query i
 * sits at position {@code offset + i + F - T} and key j at {@code offset + j}.
 */
final class Positions {

    private Positions() {}

    /**
     * Returns the ALiBi slopes of Press et al. (2022): for a power of two n, {@code 2^(-8(h+1)/n)};
     * otherwise the slopes of the largest power of two below n, followed by every other slope of
     * twice that power.
     */
    static double[] alibiSlopes(int headCount) {
        int pow2 = Integer.highestOneBit(headCount);
        double[] slopes = new double[headCount];
        System.arraycopy(geometricSlopes(pow2), 0, slopes, 0, pow2);
        if (pow2 < headCount) {
            double[] extra = geometricSlopes(2 * pow2);
            for (int h = pow2, i = 0; h < headCount; h++, i += 2) {
                slopes[h] = extra[i];
            }
        }
        return slopes;
    }

    private static double[] geometricSlopes(int n) {
        double[] s = new double[n];
        for (int h = 0; h < n; h++) {
            s[h] = Math.pow(2.0, -8.0 * (h + 1) / n);
        }
        return s;
    }

    /** Returns {@code (i + F - T) - j} as a (T, F) int64 array. */
    static NDArray queryKeyDistance(NDManager manager, long t, long f) {
        NDArray queryPos = manager.arange(f - t, f, 1, DataType.INT64).reshape(t, 1);
        NDArray keyPos = manager.arange(0, f, 1, DataType.INT64).reshape(1, f);
        return queryPos.sub(keyPos);
    }

    /** Returns the ALiBi score offsets {@code -slope_h · |i + F - T - j|}, shape (1, H, T, F). */
    static NDArray alibiOffsets(NDArray slopes, long t, long f, DataType type) {
        NDArray distance = queryKeyDistance(slopes.getManager(), t, f).abs().toType(type, false);
        NDArray slope = slopes.toType(type, false).reshape(1, slopes.size(), 1, 1);
        return distance.reshape(1, 1, t, f).mul(slope).neg();
    }

    /**
     * Rotates pairs {@code (x[m], x[m + D/2])} of a (B, S, N, D) array by the angle {@code p ·
     * base^(-2m/D)} at position {@code p = firstPosition + s} (the GPT-NeoX "rotate half" layout).
     */
    static NDArray applyRope(NDArray x, long firstPosition, float base) {
        Shape shape = x.getShape();
        long s = shape.get(1);
        int d = (int) shape.get(3);
        int half = d / 2;
        double[] cos = new double[(int) s * half];
        double[] sin = new double[(int) s * half];
        for (int p = 0; p < s; p++) {
            for (int m = 0; m < half; m++) {
                double angle = (firstPosition + p) * Math.pow(base, -2.0 * m / d);
                cos[p * half + m] = Math.cos(angle);
                sin[p * half + m] = Math.sin(angle);
            }
        }
        NDManager manager = x.getManager();
        DataType type = x.getDataType();
        NDArray c = manager.create(cos, new Shape(1, s, 1, half)).toType(type, false);
        NDArray sn = manager.create(sin, new Shape(1, s, 1, half)).toType(type, false);
        NDArray x1 = x.get(new NDIndex("..., :{}", half));
        NDArray x2 = x.get(new NDIndex("..., {}:", half));
        return NDArrays.concat(
                new ai.djl.ndarray.NDList(x1.mul(c).sub(x2.mul(sn)), x2.mul(c).add(x1.mul(sn))),
                -1);
    }
}
