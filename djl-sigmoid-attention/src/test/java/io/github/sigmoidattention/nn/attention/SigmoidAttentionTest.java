package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.sigmoidattention.testing.TestArrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@link SigmoidAttention#attend} on every kernel against a double loop over random shapes. */
class SigmoidAttentionTest {

    @Test
    void everyKernelMatchesTheDoubleLoop() {
        Random r = new Random();
        for (int n = 0; n < 24; n++) {
            int b = 1 + r.nextInt(2);
            int t = 1 + r.nextInt(20);
            int f = r.nextBoolean() ? t : 1 + r.nextInt(150);
            int h = new int[] {1, 2, 3, 4, 6}[r.nextInt(5)];
            int g = h % 2 == 0 && r.nextBoolean() ? h / 2 : h;
            int d = 1 + r.nextInt(40);
            boolean causal = r.nextBoolean();
            float scale = (float) (1 / Math.sqrt(d));
            float bias = (float) (-Math.log(f) + r.nextGaussian());
            AttentionKernel kernel = AttentionKernel.values()[n % 3];
            String what =
                    String.format(
                            "B=%d T=%d F=%d H=%d G=%d D=%d causal=%b %s",
                            b, t, f, h, g, d, causal, kernel);
            try (NDManager m = NDManager.newBaseManager()) {
                NDArray q = m.randomNormal(new Shape(b, t, h, d));
                NDArray k = m.randomNormal(new Shape(b, f, g, d));
                NDArray v = m.randomNormal(new Shape(b, f, g, d));
                NDArray out = SigmoidAttention.attend(q, k, v, scale, bias, causal, kernel);
                assertEquals(new Shape(b, t, h, d), out.getShape(), what);
                double[] qs = q.toType(DataType.FLOAT64, false).toDoubleArray();
                double[] ks = k.toType(DataType.FLOAT64, false).toDoubleArray();
                double[] vs = v.toType(DataType.FLOAT64, false).toDoubleArray();
                double[] expected = new double[b * t * h * d];
                for (int bi = 0; bi < b; bi++) {
                    for (int i = 0; i < t; i++) {
                        for (int hh = 0; hh < h; hh++) {
                            int gg = hh / (h / g);
                            int o = ((bi * t + i) * h + hh) * d;
                            for (int j = 0; j < f; j++) {
                                if (causal && j > i + f - t) {
                                    continue;
                                }
                                int kv = ((bi * f + j) * g + gg) * d;
                                double s = 0;
                                for (int e = 0; e < d; e++) {
                                    s += qs[o + e] * ks[kv + e];
                                }
                                double w = 1 / (1 + Math.exp(-(scale * s + bias)));
                                for (int e = 0; e < d; e++) {
                                    expected[o + e] += w * vs[kv + e];
                                }
                            }
                        }
                    }
                }
                double error = TestArrays.relativeError(TestArrays.values(out), expected);
                assertTrue(error < 1e-5, what + ": relative error " + error);
            }
        }
    }

    @Test
    void refusesMismatchedShapes() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q = m.randomNormal(new Shape(1, 3, 4, 8));
            NDArray k = m.randomNormal(new Shape(1, 5, 3, 8));
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    SigmoidAttention.attend(
                                            q, k, k, 0.3f, -1f, false, AttentionKernel.AUTO));
            assertTrue(e.getMessage().contains("heads"), e.getMessage());
            assertThrows(
                    IllegalArgumentException.class,
                    () ->
                            SigmoidAttention.attend(
                                    q,
                                    q.reshape(1, 3, 32),
                                    q,
                                    0.3f,
                                    -1f,
                                    false,
                                    AttentionKernel.AUTO));
        }
    }
}
