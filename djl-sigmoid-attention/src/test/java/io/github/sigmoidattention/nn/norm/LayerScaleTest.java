package io.github.sigmoidattention.nn.norm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import io.github.sigmoidattention.testing.TestArrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@link LayerScale}: starts at its initial gain, scales each channel, learns its gain. */
class LayerScaleTest {

    @Test
    void scalesEachChannelAndLearnsItsGain() throws Exception {
        Random r = new Random();
        int rows = 1 + r.nextInt(5);
        int c = 1 + r.nextInt(30);
        float init = (float) r.nextGaussian();
        try (NDManager m = NDManager.newBaseManager()) {
            LayerScale scale = LayerScale.builder().optInitValue(init).build();
            scale.initialize(m, DataType.FLOAT64, new Shape(2, rows, c));
            NDArray gamma = scale.getParameters().get("gamma").getArray();
            assertEquals(new Shape(c), gamma.getShape());
            for (double g : gamma.toDoubleArray()) {
                assertEquals(init, g, 0);
            }
            NDArray x = m.randomNormal(0, 1, new Shape(2, rows, c), DataType.FLOAT64);
            NDArray weights = m.randomNormal(0, 1, new Shape(2, rows, c), DataType.FLOAT64);
            NDArray y;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                y =
                        scale.forward(new ParameterStore(m, false), new NDList(x), true)
                                .singletonOrThrow();
                gc.backward(y.mul(weights).sum());
            }
            double[] xs = x.toDoubleArray();
            double[] ws = weights.toDoubleArray();
            double[] ys = y.toDoubleArray();
            double[] expectedGrad = new double[c];
            for (int i = 0; i < xs.length; i++) {
                assertEquals(xs[i] * init, ys[i], 1e-12 * (1 + Math.abs(xs[i] * init)));
                expectedGrad[i % c] += xs[i] * ws[i];
            }
            double error =
                    TestArrays.relativeError(gamma.getGradient().toDoubleArray(), expectedGrad);
            assertTrue(error < 1e-12, "gain gradient: relative error " + error);
        }
    }

    @Test
    void refusesANonFiniteInitialGain() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> LayerScale.builder().optInitValue(Float.NaN).build());
        assertTrue(
                e.getMessage().contains("initValue") && e.getMessage().contains("NaN"),
                e.getMessage());
    }
}
