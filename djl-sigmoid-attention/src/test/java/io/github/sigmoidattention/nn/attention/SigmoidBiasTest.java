package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
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

/**
 * {@link SigmoidBias}: the value each kind adds, its identity, its refusals, and the learned kind's
 * one trainable value per head in the block.
 */
class SigmoidBiasTest {

    @Test
    void eachKindGivesItsValue() {
        Random r = new Random();
        float b = (float) r.nextGaussian() * 3;
        int n = 1 + r.nextInt(100_000);
        long f = 1 + r.nextInt(100_000);
        assertEquals(b, SigmoidBias.constant(b).valueFor(f), 0);
        assertEquals(-Math.log(n), SigmoidBias.negLog(n).valueFor(f), 1e-12);
        assertEquals(n, SigmoidBias.negLog(n).getLength());
        assertEquals(-Math.log(f), SigmoidBias.negLogLength().valueFor(f), 1e-12);
        assertTrue(SigmoidBias.learned(b).isLearned());
        assertEquals(b, SigmoidBias.learned(b).getValue(), 0);
        IllegalStateException e =
                assertThrows(IllegalStateException.class, () -> SigmoidBias.learned(b).valueFor(f));
        assertTrue(e.getMessage().contains("per head"), e.getMessage());
    }

    @Test
    void equalityFollowsKindAndValue() {
        assertEquals(SigmoidBias.negLog(64), SigmoidBias.negLog(64));
        assertEquals(SigmoidBias.negLog(64).hashCode(), SigmoidBias.negLog(64).hashCode());
        assertNotEquals(SigmoidBias.negLog(64), SigmoidBias.negLog(65));
        assertNotEquals(SigmoidBias.constant(-1f), SigmoidBias.learned(-1f));
        assertEquals(SigmoidBias.negLogLength(), SigmoidBias.negLogLength());
        for (SigmoidBias bias :
                new SigmoidBias[] {
                    SigmoidBias.constant(0.5f),
                    SigmoidBias.negLog(7),
                    SigmoidBias.negLogLength(),
                    SigmoidBias.learned(-2f)
                }) {
            assertEquals(
                    bias,
                    SigmoidBias.of(bias.getKind(), bias.getValue(), bias.getLength()),
                    bias.toString());
        }
    }

    @Test
    void refusesWhatHasNoValue() {
        for (float bad :
                new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            assertThrows(IllegalArgumentException.class, () -> SigmoidBias.constant(bad));
            assertThrows(IllegalArgumentException.class, () -> SigmoidBias.learned(bad));
        }
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> SigmoidBias.negLog(0));
        assertTrue(
                e.getMessage().contains("n must be >= 1") && e.getMessage().contains("0"),
                e.getMessage());
    }

    /**
     * A learned bias is one parameter of H values, initialised to its value, shifting its head's
     * scores.
     */
    @Test
    void learnedBiasIsOneValuePerHead() {
        Random r = new Random();
        float init = (float) r.nextGaussian();
        try (NDManager m = NDManager.newBaseManager()) {
            SigmoidMultiHeadAttention block =
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(8)
                            .setHeadCount(4)
                            .optBias(SigmoidBias.learned(init))
                            .optKernel(AttentionKernel.REFERENCE)
                            .build();
            block.initialize(m, DataType.FLOAT64, new Shape(1, 3, 8));
            NDArray bias = TestArrays.param(block, "headBias_bias").getArray();
            assertEquals(new Shape(4), bias.getShape());
            for (double v : bias.toDoubleArray()) {
                assertEquals(init, v, 0);
            }
            // Raising one head's bias raises the weights of that head only: the output moves.
            NDArray x = m.randomNormal(0, 1, new Shape(1, 3, 8), DataType.FLOAT64);
            double[] before = out(block, m, x);
            bias.set(new ai.djl.ndarray.index.NDIndex("2"), init + 5);
            double[] after = out(block, m, x);
            assertNotEquals(java.util.Arrays.toString(before), java.util.Arrays.toString(after));
        }
    }

    private static double[] out(SigmoidMultiHeadAttention block, NDManager m, NDArray x) {
        return block.forward(new ParameterStore(m, false), new NDList(x), false)
                .singletonOrThrow()
                .toDoubleArray();
    }
}
