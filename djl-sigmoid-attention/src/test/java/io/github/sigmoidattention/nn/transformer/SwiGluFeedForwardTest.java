package io.github.sigmoidattention.nn.transformer;

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

/** {@link SwiGluFeedForward} against {@code down(silu(gate(x)) ⊙ up(x))} in double precision. */
class SwiGluFeedForwardTest {

    @Test
    void matchesTheDoubleLoop() throws Exception {
        Random r = new Random();
        for (int n = 0; n < 5; n++) {
            int rows = 1 + r.nextInt(6);
            int c = 1 + r.nextInt(12);
            int hidden = 1 + r.nextInt(20);
            int out = 1 + r.nextInt(12);
            try (NDManager m = NDManager.newBaseManager()) {
                SwiGluFeedForward ff =
                        SwiGluFeedForward.builder()
                                .setHiddenSize(hidden)
                                .setOutputSize(out)
                                .build();
                ff.setInitializer((mm, s, t) -> mm.randomNormal(0, 0.5f, s, t), p -> true);
                ff.initialize(m, DataType.FLOAT64, new Shape(rows, c));
                assertEquals(
                        new Shape(rows, out),
                        ff.getOutputShapes(new Shape[] {new Shape(rows, c)})[0]);
                double[][] gate = TestArrays.matrix(TestArrays.param(ff, "gate_weight"));
                double[][] up = TestArrays.matrix(TestArrays.param(ff, "up_weight"));
                double[][] down = TestArrays.matrix(TestArrays.param(ff, "down_weight"));
                NDArray x = m.randomNormal(0, 1, new Shape(rows, c), DataType.FLOAT64);
                double[] xs = x.toDoubleArray();
                double[] expected = new double[rows * out];
                for (int i = 0; i < rows; i++) {
                    double[] h = new double[hidden];
                    for (int k = 0; k < hidden; k++) {
                        double g = 0;
                        double u = 0;
                        for (int j = 0; j < c; j++) {
                            g += gate[k][j] * xs[i * c + j];
                            u += up[k][j] * xs[i * c + j];
                        }
                        h[k] = g / (1 + Math.exp(-g)) * u;
                    }
                    for (int o = 0; o < out; o++) {
                        for (int k = 0; k < hidden; k++) {
                            expected[i * out + o] += down[o][k] * h[k];
                        }
                    }
                }
                NDArray y =
                        ff.forward(new ParameterStore(m, false), new NDList(x), false)
                                .singletonOrThrow();
                double error = TestArrays.relativeError(y.toDoubleArray(), expected);
                assertTrue(
                        error < 1e-12,
                        "rows="
                                + rows
                                + " C="
                                + c
                                + " hidden="
                                + hidden
                                + ": relative error "
                                + error);
            }
        }
    }

    @Test
    void refusesMissingSizes() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> SwiGluFeedForward.builder().setOutputSize(4).build());
        assertTrue(e.getMessage().contains("hiddenSize"), e.getMessage());
    }
}
