package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.util.Pair;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;
import io.github.sigmoidattention.testing.AttentionCase;
import io.github.sigmoidattention.testing.TestArrays;
import org.junit.jupiter.api.Test;

/**
 * A key the mask pads contributes nothing on every path: with NaN or ±Inf in the padded rows of the
 * inputs, every kernel, in inference and in training, with masks per sequence and one mask row for
 * the whole batch (which the fused kernel turns into key lengths), gives the outputs of the double
 * loop on inputs whose padded rows are 0 (in self-attention the padded queries hold the poison, so
 * only real queries' rows compare), and cross-attention trains with finite gradients for every
 * parameter.
 */
class MaskedKeysTest {

    private static final double[] POISONS = {
        Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY
    };

    @Test
    void nonFiniteValuesOfPaddedKeysReachNothing() {
        long base = System.nanoTime();
        int n = 0;
        for (AttentionKernel kernel : AttentionKernel.values()) {
            for (boolean training : new boolean[] {false, true}) {
                if (training
                        && kernel == AttentionKernel.FUSED
                        && !FlashSigmoidLibrary.isAutogradAvailable()) {
                    continue; // refused: FusedSigmoidAttentionTest checks the refusal
                }
                for (AttentionCase.MaskKind kind :
                        new AttentionCase.MaskKind[] {
                            AttentionCase.MaskKind.KEY_PADDING, AttentionCase.MaskKind.RIGHT_PADDING
                        }) {
                    for (int variant = 0; variant < 4; variant++) {
                        check(base + n++, kernel, training, kind, variant % 2 == 0, variant >= 2);
                    }
                }
            }
        }
    }

    private static double[] filled(long n) {
        double[] ones = new double[Math.toIntExact(n)];
        java.util.Arrays.fill(ones, 1);
        return ones;
    }

    private static void check(
            long seed,
            AttentionKernel kernel,
            boolean training,
            AttentionCase.MaskKind kind,
            boolean selfAttention,
            boolean batchOne) {
        AttentionCase c = AttentionCase.random(seed);
        c.kernel = kernel;
        c.selfAttention = selfAttention;
        c.batch = batchOne ? 2 + c.random.nextInt(2) : 1 + c.random.nextInt(3);
        c.queryLength = 1 + c.random.nextInt(9);
        c.keyLength = selfAttention ? c.queryLength : 2 + c.random.nextInt(70);
        c.maskKind = kind;
        c.maskBatchOne = batchOne;
        c.poison = POISONS[c.random.nextInt(POISONS.length)];
        String what = c + " " + kernel + (training ? " training" : " inference");
        try (NDManager m = NDManager.newBaseManager()) {
            SigmoidMultiHeadAttention block = c.block(m, DataType.FLOAT32);
            c.drawInputs();
            double[] expected = TestArrays.flatten(c.reference(block));
            NDArray out;
            if (training) {
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    out = c.run(block, m, DataType.FLOAT32, true);
                    // The loss of the real rows only (padded queries of self-attention hold the
                    // poison): where() passes no gradient to the other rows.
                    NDArray weights =
                            m.create(c.realRows(filled(out.getShape().size())), out.getShape());
                    gc.backward(
                            ai.djl.ndarray.NDArrays.where(
                                            weights.gt(0),
                                            out,
                                            m.zeros(new ai.djl.ndarray.types.Shape()))
                                    .sum());
                }
            } else {
                // Outside a GradientCollector, so that FUSED and AUTO run the fused kernel.
                out = c.run(block, m, DataType.FLOAT32, false);
            }
            double error =
                    TestArrays.relativeError(
                            c.realRows(TestArrays.values(out)), c.realRows(expected));
            assertTrue(error < 1e-5, what + ": relative error " + error);
            // In self-attention the padded queries hold the poison, and their weights reach every
            // gradient (0 * NaN); in cross-attention nothing may.
            if (training && !selfAttention) {
                for (Pair<String, Parameter> p : block.getParameters()) {
                    NDArray grad = p.getValue().getArray().getGradient();
                    assertTrue(
                            grad.isInfinite().logicalOr(grad.isNaN()).sum().getLong() == 0,
                            what + ": non-finite gradient of " + p.getKey());
                }
            }
        }
    }
}
