package io.github.sigmoidattention.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * PtArrays' conversions: exact values, and recorded by autograd (DJL's own toType runs without
 * gradient, so a conversion inside a trained computation must be this one).
 */
class PtArraysTest {

    @Test
    void conversionsPassGradientsBack() {
        Random random = new Random();
        try (NDManager m = NDManager.newBaseManager()) {
            float[] values = new float[24];
            float[] weights = new float[24];
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) random.nextGaussian();
                weights[i] = random.nextInt(7) - 3; // exact in every type
            }
            for (DataType type :
                    new DataType[] {DataType.FLOAT64, DataType.FLOAT16, DataType.BFLOAT16}) {
                NDArray x = m.create(values, new Shape(4, 6));
                x.setRequiresGradient(true);
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray converted = PtArrays.toDataType(x, type);
                    assertEquals(type, PtArrays.dataType(converted));
                    NDArray back = PtArrays.toDataType(converted, DataType.FLOAT32);
                    gc.backward(back.mul(m.create(weights, new Shape(4, 6))).sum());
                }
                assertArrayEquals(weights, x.getGradient().toFloatArray(), 0f, type.toString());
            }
        }
    }
}
