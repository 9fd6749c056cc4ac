package io.github.sigmoidattention.nn.norm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import io.github.sigmoidattention.testing.TestArrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@link RmsNorm} against {@code x / sqrt(mean(x²) + eps) · gamma} in double precision. */
class RmsNormTest {

    @Test
    void matchesTheDoubleLoopInEveryPrecision() throws Exception {
        Random r = new Random();
        for (DataType type :
                new DataType[] {DataType.FLOAT64, DataType.FLOAT32, DataType.FLOAT16}) {
            int rows = 1 + r.nextInt(7);
            int c = 1 + r.nextInt(40);
            float epsilon = (float) Math.pow(10, -1 - r.nextInt(6));
            // Large values check that float16 is normalised in float32 (mean(x²) would overflow).
            double scale = type == DataType.FLOAT16 ? 200 : 3;
            double[][] x = new double[rows][c];
            double[] gamma = new double[c];
            for (int j = 0; j < c; j++) {
                gamma[j] = r.nextGaussian();
                for (int i = 0; i < rows; i++) {
                    x[i][j] = scale * r.nextGaussian();
                }
            }
            try (NDManager m = NDManager.newBaseManager()) {
                RmsNorm norm = RmsNorm.builder().optEpsilon(epsilon).build();
                norm.initialize(m, type, new Shape(rows, c));
                norm.getParameters()
                        .get("gamma")
                        .getArray()
                        .set(m.create(gamma).toType(type, false).toByteBuffer());
                NDArray input = m.create(flat(x), new Shape(rows, c)).toType(type, false);
                NDArray y =
                        norm.forward(new ParameterStore(m, false), new NDList(input), false)
                                .singletonOrThrow();
                assertEquals(type, y.getDataType());
                double[] expected = new double[rows * c];
                double[] stored = TestArrays.values(input);
                for (int i = 0; i < rows; i++) {
                    double meanSquare = 0;
                    for (int j = 0; j < c; j++) {
                        meanSquare += stored[i * c + j] * stored[i * c + j] / c;
                    }
                    for (int j = 0; j < c; j++) {
                        expected[i * c + j] =
                                stored[i * c + j] / Math.sqrt(meanSquare + epsilon) * gamma[j];
                    }
                }
                double tol =
                        type == DataType.FLOAT64 ? 1e-12 : type == DataType.FLOAT32 ? 1e-6 : 2e-3;
                double error = TestArrays.relativeError(TestArrays.values(y), expected);
                assertTrue(
                        error < tol,
                        type + " rows=" + rows + " C=" + c + ": relative error " + error);

                RmsNorm loaded = RmsNorm.builder().optEpsilon(epsilon).build();
                loaded.initialize(m, type, new Shape(rows, c));
                TestArrays.load(loaded, m, TestArrays.save(norm));
                NDArray z =
                        loaded.forward(new ParameterStore(m, false), new NDList(input), false)
                                .singletonOrThrow();
                assertEquals(
                        0, TestArrays.relativeError(TestArrays.values(z), TestArrays.values(y)));
            }
        }
    }

    @Test
    void refusesABadEpsilon() {
        for (float bad : new float[] {0f, -1f, Float.NaN, Float.POSITIVE_INFINITY}) {
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> RmsNorm.builder().optEpsilon(bad).build());
            assertTrue(
                    e.getMessage().contains("epsilon")
                            && e.getMessage().contains(String.valueOf(bad)),
                    e.getMessage());
        }
    }

    private static double[] flat(double[][] x) {
        return java.util.Arrays.stream(x).flatMapToDouble(java.util.Arrays::stream).toArray();
    }
}
