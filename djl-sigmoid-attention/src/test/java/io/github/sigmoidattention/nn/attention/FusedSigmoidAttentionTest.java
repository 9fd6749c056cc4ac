package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
import io.github.sigmoidattention.ops.AttentionCall;
import io.github.sigmoidattention.ops.FlashSigmoid;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;
import io.github.sigmoidattention.testing.AttentionCase;
import io.github.sigmoidattention.testing.TestArrays;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The block on the native kernel: against the double loop, the reference kernel, and autograd. */
class FusedSigmoidAttentionTest {

    @BeforeAll
    static void available() {
        assertTrue(FlashSigmoidLibrary.isAvailable(), FlashSigmoidLibrary.getUnavailableReason());
    }

    private static double[] run(AttentionCase c, NDManager manager, DataType type, boolean train) {
        SigmoidMultiHeadAttention block = c.block(manager, type);
        return TestArrays.values(c.run(block, manager, type, train));
    }

    @Test
    void fusedBlockMatchesDoublePrecisionLoop() {
        long base = System.nanoTime();
        for (int i = 0; i < 60; i++) {
            AttentionCase c = AttentionCase.random(base + i);
            c.kernel = AttentionKernel.FUSED;
            try (NDManager manager = NDManager.newBaseManager()) {
                SigmoidMultiHeadAttention block = c.block(manager, DataType.FLOAT32);
                c.drawInputs();
                double[] out = TestArrays.values(c.run(block, manager, DataType.FLOAT32, false));
                double error =
                        TestArrays.relativeError(out, TestArrays.flatten(c.reference(block)));
                assertTrue(error < 1e-5, c + ": relative error " + error);
            }
        }
    }

    @Test
    void fusedBlockInFloat16() {
        long base = System.nanoTime();
        for (int i = 0; i < 10; i++) {
            AttentionCase c = AttentionCase.random(base + i);
            c.kernel = AttentionKernel.FUSED;
            try (NDManager manager = NDManager.newBaseManager()) {
                SigmoidMultiHeadAttention block = c.block(manager, DataType.FLOAT16);
                c.drawInputs();
                NDArray out = c.run(block, manager, DataType.FLOAT16, false);
                assertEquals(DataType.FLOAT16, out.getDataType());
                double error =
                        TestArrays.relativeError(
                                TestArrays.values(out), TestArrays.flatten(c.reference(block)));
                assertTrue(error < 2e-2, c + ": relative error " + error);
            }
        }
    }

    /**
     * optComputeType(BFLOAT16) on float32 blocks: the fused kernel computes bfloat16 (the output
     * moves off the float32 result by bfloat16's rounding) and returns float32.
     */
    @Test
    void computeTypeRunsTheFusedKernelInThatType() {
        long base = System.nanoTime();
        double largestShift = 0;
        for (int i = 0; i < 12; i++) {
            AttentionCase c = AttentionCase.random(base + i);
            c.kernel = AttentionKernel.FUSED;
            try (NDManager manager = NDManager.newBaseManager()) {
                SigmoidMultiHeadAttention plain = c.block(manager, DataType.FLOAT32);
                c.computeType = DataType.BFLOAT16;
                SigmoidMultiHeadAttention bf16 = c.block(manager, DataType.FLOAT32);
                assertEquals(DataType.BFLOAT16, bf16.getOptions().getComputeType());
                c.drawInputs();
                NDArray out = c.run(bf16, manager, DataType.FLOAT32, false);
                assertEquals(DataType.FLOAT32, out.getDataType());
                double[] expected = TestArrays.flatten(c.reference(bf16));
                double error = TestArrays.relativeError(TestArrays.values(out), expected);
                assertTrue(error < 4e-2, c + ": bfloat16 compute, relative error " + error);
                double[] exact = TestArrays.values(c.run(plain, manager, DataType.FLOAT32, false));
                largestShift =
                        Math.max(
                                largestShift,
                                TestArrays.relativeError(TestArrays.values(out), exact));
            }
        }
        assertTrue(largestShift > 1e-4, "bfloat16 compute left every output at float32's");
    }

    /**
     * AUTO runs the fused kernel in inference; in training the reference kernel, unless the
     * autograd library is loaded (then the differentiable fused op). FUSED in training without that
     * library refuses, naming it.
     */
    @Test
    void autoPicksFusedForInferenceAndTrainingFollowsTheAutogradLibrary() {
        long seed = System.nanoTime();
        boolean autograd = FlashSigmoidLibrary.isAutogradAvailable();
        double[] inferenceFused = null;
        double[] inferenceReference = null;
        for (boolean train : new boolean[] {false, true}) {
            double[][] results = new double[3][];
            AttentionKernel[] kernels = {
                AttentionKernel.AUTO, AttentionKernel.FUSED, AttentionKernel.REFERENCE
            };
            for (int i = 0; i < 3; i++) {
                // Long enough that the two kernels' float32 rounding cannot coincide everywhere.
                AttentionCase c = AttentionCase.plain(seed, 4, 2, 16, 2, 40);
                c.options.causal = true;
                c.maskKind = AttentionCase.MaskKind.KEY_PADDING;
                c.kernel = kernels[i];
                try (NDManager manager = NDManager.newBaseManager()) {
                    c.drawInputs();
                    if (train && !autograd && kernels[i] == AttentionKernel.FUSED) {
                        UnsupportedOperationException e =
                                assertThrows(
                                        UnsupportedOperationException.class,
                                        () -> run(c, manager, DataType.FLOAT32, true));
                        assertTrue(e.getMessage().contains("autograd library"), e.getMessage());
                        continue;
                    }
                    results[i] = run(c, manager, DataType.FLOAT32, train);
                }
            }
            if (!train) {
                assertArrayEquals(results[1], results[0], "AUTO in inference runs FUSED");
                inferenceFused = results[1];
                inferenceReference = results[2];
            } else if (!autograd) {
                assertArrayEquals(results[2], results[0], "AUTO in training runs REFERENCE");
            } else {
                assertArrayEquals(results[1], results[0], "AUTO in training runs FUSED");
                assertTrue(TestArrays.relativeError(results[0], results[2]) < 1e-5);
            }
        }
        // The two kernels round differently, so the comparisons above tell them apart.
        assertTrue(TestArrays.relativeError(inferenceFused, inferenceReference) > 0);
    }

    /**
     * A right-padded key-padding mask runs as per-sequence key lengths: the padded keys and values
     * are never read (NaN there leaves the output finite and equal to the double loop's).
     */
    @Test
    void rightPaddedMaskRunsAsKeyLengthsAndSkipsThePadding() {
        long base = System.nanoTime();
        for (int n = 0; n < 8; n++) {
            AttentionCase c = AttentionCase.plain(base + n, 4, 2, 8, 3, 40 + n * 30);
            c.selfAttention = false;
            c.queryLength = 1 + n;
            c.options.causal = n % 2 == 0;
            c.maskKind = AttentionCase.MaskKind.RIGHT_PADDING;
            c.kernel = AttentionKernel.FUSED;
            try (NDManager manager = NDManager.newBaseManager()) {
                SigmoidMultiHeadAttention block = c.block(manager, DataType.FLOAT32);
                c.drawInputs();
                double[] expected = TestArrays.flatten(c.reference(block));
                int[] lengths = new int[c.batch];
                for (int b = 0; b < c.batch; b++) {
                    while (lengths[b] < c.keyLength && c.keyPadding[b][lengths[b]]) {
                        lengths[b]++;
                    }
                    for (int j = lengths[b]; j < c.keyLength; j++) {
                        java.util.Arrays.fill(c.keyIn[b][j], Double.NaN);
                        java.util.Arrays.fill(c.valueIn[b][j], Double.NaN);
                    }
                }
                NDArray mask = TestArrays.mask(manager, c.keyPadding);
                assertArrayEquals(lengths, AttentionMasks.keyLengths(mask, c.batch).toIntArray());
                double[] out = run(c, manager, DataType.FLOAT32, false);
                double error = TestArrays.relativeError(out, expected);
                assertTrue(error < 1e-5, c + ": relative error " + error);
            }
        }
        try (NDManager manager = NDManager.newBaseManager()) {
            // One past the last kept key: the sequence's length for right padding; keys before it
            // stay to the mask.
            assertArrayEquals(
                    new int[] {3, 0},
                    AttentionMasks.keyLengths(
                                    manager.create(new float[] {1, 0, 1, 0, 0, 0}, new Shape(2, 3)),
                                    2)
                            .toIntArray());
            assertArrayEquals(
                    new int[] {0, 3},
                    AttentionMasks.keyLengths(
                                    manager.create(
                                            new boolean[] {false, false, false, true, true, true},
                                            new Shape(2, 3)),
                                    2)
                            .toIntArray());
            // A mask of batch 1 serves every sequence of the batch.
            assertArrayEquals(
                    new int[] {2, 2, 2},
                    AttentionMasks.keyLengths(
                                    manager.create(new float[] {1, 1, 0}, new Shape(1, 3)), 3)
                            .toIntArray());
        }
    }

    /** The op's backward against the gradients DJL's autograd computes through the reference. */
    @Test
    void nativeBackwardMatchesAutogradOfTheReference() {
        long base = System.nanoTime();
        for (int n = 0; n < 12; n++) {
            java.util.Random r = new java.util.Random(base + n);
            int h = new int[] {1, 2, 4, 6}[r.nextInt(4)];
            int g = h % 2 == 0 && r.nextBoolean() ? h / 2 : h;
            int d = 1 + r.nextInt(40);
            int b = 1 + r.nextInt(2);
            int t = 1 + r.nextInt(70);
            int f = r.nextBoolean() ? t : 1 + r.nextInt(70);
            boolean causal = r.nextBoolean();
            try (NDManager m = NDManager.newBaseManager()) {
                NDArray q = m.randomNormal(new Shape(b, t, h, d));
                NDArray k = m.randomNormal(new Shape(b, f, g, d));
                NDArray v = m.randomNormal(new Shape(b, f, g, d));
                NDArray headBias = m.randomNormal(new Shape(h));
                NDArray keep = m.randomUniform(0, 1, new Shape(b, 1, 1, f)).gt(0.2);
                double[] slopes = Positions.alibiSlopes(h);
                NDArray gradOut = m.randomNormal(new Shape(b, t, h, d));
                float scale = (float) (1 / Math.sqrt(d));
                for (NDArray x : new NDArray[] {q, k, v, headBias}) {
                    x.setRequiresGradient(true);
                }
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    AttentionCall call =
                            AttentionCall.of(q, k, v, scale, -1.5f, causal)
                                    .withHeadBias(headBias)
                                    .withAlibiSlopes(m.create(slopes))
                                    .withKeep(keep);
                    NDArray out = ReferenceSigmoidAttention.attend(call, UnaryOperator.identity());
                    gc.backward(out.mul(gradOut).sum());
                }
                float[] f32Slopes = new float[h];
                for (int i = 0; i < h; i++) {
                    f32Slopes[i] = (float) slopes[i];
                }
                NDList grads =
                        FlashSigmoid.backward(
                                gradOut,
                                AttentionCall.of(q, k, v, scale, -1.5f, causal)
                                        .withHeadBias(headBias)
                                        .withAlibiSlopes(m.create(f32Slopes))
                                        .withKeep(keep));
                NDArray[] expected = {
                    q.getGradient(), k.getGradient(), v.getGradient(), headBias.getGradient()
                };
                String[] names = {"dq", "dk", "dv", "dHeadBias"};
                for (int i = 0; i < 4; i++) {
                    double error =
                            TestArrays.relativeError(
                                    TestArrays.values(grads.get(i)),
                                    TestArrays.values(expected[i]));
                    assertTrue(
                            error < 1e-4,
                            String.format(
                                    "%s: relative error %g (B=%d T=%d F=%d H=%d G=%d D=%d causal=%b)",
                                    names[i], error, b, t, f, h, g, d, causal));
                }
            }
        }
    }
}
