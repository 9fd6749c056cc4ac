package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.sigmoidattention.testing.AttentionCase;
import io.github.sigmoidattention.testing.TestArrays;
import org.junit.jupiter.api.Test;

/** Attention dropout: only in training, on the weights, unbiased in expectation. */
class DropoutTest {

    private static AttentionCase dropoutCase() {
        AttentionCase c = AttentionCase.plain(System.nanoTime(), 2, 2, 4, 1, 6);
        return c;
    }

    @Test
    void inferenceIgnoresDropout() {
        AttentionCase c = dropoutCase();
        try (NDManager manager = NDManager.newBaseManager()) {
            SigmoidMultiHeadAttention block =
                    c.builder().optAttentionProbsDropoutProb(0.5f).build();
            block.setInitializer((m, s, t) -> m.randomNormal(0, 0.4f, s, t), p -> true);
            block.initialize(manager, DataType.FLOAT32, c.inputShapes());
            c.drawInputs();
            double[] out = TestArrays.values(c.run(block, manager, DataType.FLOAT32, false));
            double error = TestArrays.relativeError(out, TestArrays.flatten(c.reference(block)));
            assertTrue(error < 1e-5, "relative error " + error);
        }
    }

    @Test
    void rateOneDropsEveryWeight() {
        AttentionCase c = dropoutCase();
        try (NDManager manager = NDManager.newBaseManager()) {
            SigmoidMultiHeadAttention block = c.builder().optAttentionProbsDropoutProb(1f).build();
            block.setInitializer((m, s, t) -> m.randomNormal(0, 0.4f, s, t), p -> true);
            block.initialize(manager, DataType.FLOAT32, c.inputShapes());
            c.drawInputs();
            double[] out = TestArrays.values(c.run(block, manager, DataType.FLOAT32, true));
            double[] bias = TestArrays.vector(TestArrays.param(block, "resultProjection_bias"));
            for (int i = 0; i < out.length; i++) {
                assertTrue(Math.abs(out[i] - bias[i % bias.length]) < 1e-6, "entry " + i);
            }
        }
    }

    /** The mean over many training passes approaches the inference output. */
    @Test
    void trainingDropoutIsUnbiased() {
        AttentionCase c = dropoutCase();
        try (NDManager manager = NDManager.newBaseManager()) {
            SigmoidMultiHeadAttention block =
                    c.builder().optAttentionProbsDropoutProb(0.3f).build();
            block.setInitializer((m, s, t) -> m.randomNormal(0, 0.4f, s, t), p -> true);
            block.initialize(manager, DataType.FLOAT32, c.inputShapes());
            c.drawInputs();
            double[] expected = TestArrays.values(c.run(block, manager, DataType.FLOAT32, false));
            int n = 2000;
            double[] sum = new double[expected.length];
            double[] sumSq = new double[expected.length];
            boolean differed = false;
            for (int r = 0; r < n; r++) {
                double[] sample = TestArrays.values(c.run(block, manager, DataType.FLOAT32, true));
                for (int i = 0; i < sample.length; i++) {
                    sum[i] += sample[i];
                    sumSq[i] += sample[i] * sample[i];
                    differed |= Math.abs(sample[i] - expected[i]) > 1e-4;
                }
            }
            assertTrue(differed, "training output never differed from inference");
            for (int i = 0; i < expected.length; i++) {
                double mean = sum[i] / n;
                double var = Math.max(sumSq[i] / n - mean * mean, 1e-12);
                double standardError = Math.sqrt(var / n);
                assertTrue(
                        Math.abs(mean - expected[i]) < 6 * standardError + 1e-6,
                        "entry "
                                + i
                                + ": mean "
                                + mean
                                + " vs "
                                + expected[i]
                                + " ± "
                                + standardError);
            }
            assertArrayEquals(
                    expected, TestArrays.values(c.run(block, manager, DataType.FLOAT32, false)));
        }
    }
}
