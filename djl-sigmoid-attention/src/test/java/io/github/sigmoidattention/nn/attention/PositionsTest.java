package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.sigmoidattention.testing.TestArrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link Positions}: ALiBi slopes and offsets, and RoPE, against direct double-precision formulas.
 */
class PositionsTest {

    @Test
    void alibiSlopesFollowPressEtAl() {
        // A power of two: 2^(-8 (h + 1) / n).
        double[] eight = Positions.alibiSlopes(8);
        for (int h = 0; h < 8; h++) {
            assertEquals(Math.pow(2, -(h + 1)), eight[h], 1e-15);
        }
        // Otherwise those of the largest power of two below, then every other slope of twice it.
        double[] six = Positions.alibiSlopes(6);
        double[] four = Positions.alibiSlopes(4);
        double[] eightAgain = Positions.alibiSlopes(8);
        assertEquals(four[0], six[0], 0);
        assertEquals(four[3], six[3], 0);
        assertEquals(eightAgain[0], six[4], 0);
        assertEquals(eightAgain[2], six[5], 0);
        assertEquals(1, Positions.alibiSlopes(1).length);
        assertEquals(Math.pow(2, -8), Positions.alibiSlopes(1)[0], 1e-15);
    }

    @Test
    void alibiOffsetsAreMinusSlopeTimesDistance() {
        Random r = new Random();
        int t = 1 + r.nextInt(6);
        int f = t + r.nextInt(6);
        int h = 1 + r.nextInt(5);
        double[] slopes = Positions.alibiSlopes(h);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray offsets = Positions.alibiOffsets(m.create(slopes), t, f, DataType.FLOAT64);
            assertEquals(new Shape(1, h, t, f), offsets.getShape());
            double[] got = offsets.toDoubleArray();
            for (int hh = 0; hh < h; hh++) {
                for (int i = 0; i < t; i++) {
                    for (int j = 0; j < f; j++) {
                        // Query i sits at position i + F - T (bottom-right alignment).
                        double expected = -slopes[hh] * Math.abs(i + f - t - j);
                        assertEquals(expected, got[(hh * t + i) * f + j], 1e-12);
                    }
                }
            }
        }
    }

    @Test
    void ropeRotatesEachPairByItsAngle() {
        Random r = new Random();
        int b = 1 + r.nextInt(2);
        int s = 1 + r.nextInt(7);
        int n = 1 + r.nextInt(3);
        int d = 2 * (1 + r.nextInt(8));
        long first = r.nextInt(1000);
        float base = 100 + r.nextInt(20000);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.randomNormal(0, 1, new Shape(b, s, n, d), DataType.FLOAT64);
            double[] xs = x.toDoubleArray();
            double[] got = Positions.applyRope(x, first, base).toDoubleArray();
            double[] expected = new double[xs.length];
            int half = d / 2;
            for (int bi = 0; bi < b; bi++) {
                for (int p = 0; p < s; p++) {
                    for (int hh = 0; hh < n; hh++) {
                        int at = ((bi * s + p) * n + hh) * d;
                        for (int k = 0; k < half; k++) {
                            double angle = (first + p) * Math.pow(base, -2.0 * k / d);
                            double x1 = xs[at + k];
                            double x2 = xs[at + k + half];
                            expected[at + k] = x1 * Math.cos(angle) - x2 * Math.sin(angle);
                            expected[at + k + half] = x2 * Math.cos(angle) + x1 * Math.sin(angle);
                        }
                    }
                }
            }
            double error = TestArrays.relativeError(got, expected);
            assertTrue(error < 1e-12, "relative error " + error);
        }
    }
}
