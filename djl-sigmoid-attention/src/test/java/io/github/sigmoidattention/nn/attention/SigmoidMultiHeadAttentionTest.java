package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import io.github.sigmoidattention.testing.AttentionCase;
import io.github.sigmoidattention.testing.NaiveSigmoidAttention;
import io.github.sigmoidattention.testing.TestArrays;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The block's output against {@link NaiveSigmoidAttention} on fresh random inputs. */
class SigmoidMultiHeadAttentionTest {

    private static final double FLOAT32_TOLERANCE = 1e-5;

    private static double check(AttentionCase c, DataType type, double tolerance) {
        try (NDManager manager = NDManager.newBaseManager()) {
            SigmoidMultiHeadAttention block = c.block(manager, type);
            c.drawInputs();
            NDArray out = c.run(block, manager, type, false);
            assertEquals(type, out.getDataType(), c.toString());
            assertEquals(
                    new Shape(c.batch, c.queryLength, c.options.embeddingSize),
                    out.getShape(),
                    c.toString());
            double[] expected = TestArrays.flatten(c.reference(block));
            double error = TestArrays.relativeError(TestArrays.values(out), expected);
            assertTrue(error < tolerance, c + ": relative error " + error);
            return error;
        }
    }

    @Test
    void randomConfigurationsMatchDoublePrecisionLoop() {
        long base = System.nanoTime();
        double worst = 0;
        for (int i = 0; i < 80; i++) {
            worst =
                    Math.max(
                            worst,
                            check(
                                    AttentionCase.random(base + i),
                                    DataType.FLOAT32,
                                    FLOAT32_TOLERANCE));
        }
        assertTrue(worst > 0, "a float32 result identical to the double loop is suspicious");
    }

    private static void feature(Consumer<AttentionCase> setup) {
        long seed = System.nanoTime();
        AttentionCase c = AttentionCase.plain(seed, 4, 4, 8, 2, 7);
        setup.accept(c);
        check(c, DataType.FLOAT32, FLOAT32_TOLERANCE);
    }

    @Test
    void groupedQueryAttention() {
        feature(c -> c.options.kvHeadCount = 2);
    }

    @Test
    void multiQueryAttention() {
        feature(c -> c.options.kvHeadCount = 1);
    }

    @Test
    void causalWithMoreQueriesThanKeys() {
        feature(
                c -> {
                    c.options.causal = true;
                    c.selfAttention = false;
                    c.queryLength = 9;
                    c.keyLength = 4;
                });
    }

    @Test
    void causalWithFewerQueriesThanKeys() {
        feature(
                c -> {
                    c.options.causal = true;
                    c.selfAttention = false;
                    c.queryLength = 3;
                    c.keyLength = 11;
                });
    }

    @Test
    void singleQueryDecodeStep() {
        feature(
                c -> {
                    c.options.causal = true;
                    c.options.rope = true;
                    c.options.positionOffset = 17;
                    c.selfAttention = false;
                    c.queryLength = 1;
                    c.keyLength = 13;
                });
    }

    @ParameterizedTest
    @EnumSource(AttentionCase.MaskKind.class)
    void masks(AttentionCase.MaskKind kind) {
        feature(
                c -> {
                    c.maskKind = kind;
                    c.selfAttention = false;
                    c.keyLength = 5;
                });
    }

    @Test
    void alibiWithPowerOfTwoHeads() {
        feature(c -> c.options.alibi = true);
    }

    @Test
    void alibiWithOtherHeadCounts() {
        for (int h : new int[] {3, 5, 6, 12}) {
            AttentionCase c = AttentionCase.plain(System.nanoTime(), h, 1, 4, 1, 6);
            c.options.alibi = true;
            c.options.causal = true;
            check(c, DataType.FLOAT32, FLOAT32_TOLERANCE);
        }
    }

    @Test
    void alibiSlopesFollowThePaper() {
        for (int h = 1; h <= 40; h++) {
            double[] expected = NaiveSigmoidAttention.alibiSlopes(h);
            double[] slopes = Positions.alibiSlopes(h);
            for (int i = 0; i < h; i++) {
                assertEquals(expected[i], slopes[i], 1e-13 * expected[i], "H=" + h + " head " + i);
            }
        }
        assertEquals(0.5, Positions.alibiSlopes(8)[0], 1e-9);
        assertEquals(1.0 / 256, Positions.alibiSlopes(8)[7], 1e-12);
    }

    @Test
    void ropeWithOffset() {
        feature(
                c -> {
                    c.options.rope = true;
                    c.options.positionOffset = 1234;
                });
    }

    @ParameterizedTest
    @EnumSource(QkNorm.class)
    void qkNorm(QkNorm norm) {
        feature(c -> c.options.qkNorm = norm);
    }

    @Test
    void layerScale() {
        feature(c -> c.options.layerScale = true);
    }

    @ParameterizedTest
    @EnumSource(SigmoidBias.Kind.class)
    void biasModes(SigmoidBias.Kind kind) {
        SigmoidBias bias =
                kind == SigmoidBias.Kind.CONSTANT
                        ? SigmoidBias.constant(-1.75f)
                        : kind == SigmoidBias.Kind.NEG_LOG
                                ? SigmoidBias.negLog(4096)
                                : kind == SigmoidBias.Kind.NEG_LOG_LENGTH
                                        ? SigmoidBias.negLogLength()
                                        : SigmoidBias.learned(-2f);
        feature(c -> c.bias = bias);
    }

    @Test
    void everythingAtOnce() {
        feature(
                c -> {
                    c.options.kvHeadCount = 2;
                    c.options.causal = true;
                    c.options.alibi = true;
                    c.options.rope = true;
                    c.options.positionOffset = 5;
                    c.options.qkNorm = QkNorm.RMS_NORM;
                    c.options.layerScale = true;
                    c.bias = SigmoidBias.learned(-1f);
                    c.maskKind = AttentionCase.MaskKind.KEY_PADDING;
                    c.selfAttention = false;
                    c.keyLength = 10;
                    c.queryLength = 6;
                });
    }

    @Test
    void float64ParametersComputeInFloat64() {
        AttentionCase c = AttentionCase.random(System.nanoTime());
        check(c, DataType.FLOAT64, 1e-11);
    }

    @Test
    void float16InputsAndParameters() {
        long base = System.nanoTime();
        for (int i = 0; i < 10; i++) {
            AttentionCase c = AttentionCase.random(base + i);
            // float16 keeps ~3 decimal digits: the projections alone round to ~5e-4 relative.
            check(c, DataType.FLOAT16, 2e-2);
        }
    }

    @Test
    void initializationHonoursTheDataType() {
        for (DataType type :
                new DataType[] {DataType.FLOAT16, DataType.FLOAT32, DataType.FLOAT64}) {
            try (NDManager manager = NDManager.newBaseManager()) {
                SigmoidMultiHeadAttention block =
                        SigmoidMultiHeadAttention.builder()
                                .setEmbeddingSize(16)
                                .setHeadCount(4)
                                .optKvHeadCount(2)
                                .optQkNorm(QkNorm.LAYER_NORM)
                                .optLayerScale(true)
                                .optBias(SigmoidBias.learned(-3f))
                                .build();
                block.initialize(manager, type, new Shape(2, 5, 16));
                block.getParameters()
                        .forEach(
                                p ->
                                        assertEquals(
                                                type,
                                                p.getValue().getArray().getDataType(),
                                                p.getKey()));
                assertEquals(
                        new Shape(8, 16),
                        TestArrays.param(block, "keyProjection_weight").getArray().getShape());
                double[] gain = TestArrays.vector(TestArrays.param(block, "layerScale_gamma"));
                assertEquals(16, gain.length);
                for (double g : gain) {
                    assertEquals(1e-4, g, 1e-6);
                }
                assertArrayEquals(
                        new double[] {-3, -3, -3, -3},
                        TestArrays.vector(TestArrays.param(block, "headBias_bias")));
            }
        }
    }

    @Test
    void outputShapesFollowTheQuery() {
        SigmoidMultiHeadAttention block =
                SigmoidMultiHeadAttention.builder().setEmbeddingSize(8).setHeadCount(2).build();
        Shape k = new Shape(3, 11, 8);
        Shape q = new Shape(3, 4, 8);
        assertEquals(q, block.getOutputShapes(new Shape[] {k, q, k})[0]);
        assertEquals(q, block.getOutputShapes(new Shape[] {k, q, k, new Shape(3, 4, 11)})[0]);
        assertEquals(k, block.getOutputShapes(new Shape[] {k})[0]);
        assertEquals(k, block.getOutputShapes(new Shape[] {k, new Shape(3, 11, 11)})[0]);
    }

    /** Keys behind the mask, however large, change nothing: they contribute exactly zero. */
    @Test
    void maskedKeysContributeExactlyZero() {
        try (NDManager manager = NDManager.newBaseManager()) {
            AttentionCase c = AttentionCase.plain(System.nanoTime(), 2, 2, 4, 2, 6);
            c.selfAttention = false;
            c.keyLength = 8;
            c.maskKind = AttentionCase.MaskKind.KEY_PADDING;
            SigmoidMultiHeadAttention block = c.block(manager, DataType.FLOAT32);
            c.drawInputs();
            c.keyPadding[0][2] = false;
            c.keyPadding[1][7] = false;
            double[] before = TestArrays.values(c.run(block, manager, DataType.FLOAT32, false));
            c.keyIn[0][2] = c.gaussian(1, 1, 8)[0][0];
            c.valueIn[0][2][3] = 1e6;
            c.valueIn[1][7][0] = -1e6;
            double[] after = TestArrays.values(c.run(block, manager, DataType.FLOAT32, false));
            assertArrayEquals(before, after);
        }
    }

    /** A query with every key masked outputs the projection bias: zero attention, not NaN. */
    @Test
    void fullyMaskedRowGivesZeroAttention() {
        try (NDManager manager = NDManager.newBaseManager()) {
            AttentionCase c = AttentionCase.plain(System.nanoTime(), 2, 1, 4, 1, 5);
            c.maskKind = AttentionCase.MaskKind.FULL;
            SigmoidMultiHeadAttention block = c.block(manager, DataType.FLOAT32);
            c.drawInputs();
            java.util.Arrays.fill(c.keep[0][3], false);
            NDArray out = c.run(block, manager, DataType.FLOAT32, false);
            double[] row = TestArrays.values(out.get(0, 3));
            double[] bias = TestArrays.vector(TestArrays.param(block, "resultProjection_bias"));
            assertArrayEquals(bias, row, 1e-7);
        }
    }

    @Test
    void hugeLogitsStayFinite() {
        try (NDManager manager = NDManager.newBaseManager()) {
            AttentionCase c = AttentionCase.plain(System.nanoTime(), 2, 2, 8, 1, 16);
            c.kernel = AttentionKernel.AUTO; // the fused CPU kernel where the op library loads
            SigmoidMultiHeadAttention block = c.block(manager, DataType.FLOAT32);
            c.drawInputs();
            for (double[] row : c.queryIn[0]) {
                for (int i = 0; i < row.length; i++) {
                    row[i] *= 1e3;
                }
            }
            NDArray out = c.run(block, manager, DataType.FLOAT32, false);
            for (double v : TestArrays.values(out)) {
                assertTrue(Double.isFinite(v), "non-finite output " + v);
            }
            double[] exact = TestArrays.flatten(c.reference(block));
            double error = TestArrays.relativeError(TestArrays.values(out), exact);
            // Logits of size 1e3 carry float32 rounding of about 1e-4 each, which weights near
            // 0.5 pass on (up to 7e-4 of the output seen): no worse than the reference kernel
            // in float32, whose projections round the same way.
            c.kernel = AttentionKernel.REFERENCE;
            NDArray referenceOut =
                    c.run(c.block(manager, DataType.FLOAT32), manager, DataType.FLOAT32, false);
            double referenceError =
                    TestArrays.relativeError(TestArrays.values(referenceOut), exact);
            assertTrue(
                    error < Math.max(1e-4, 8 * referenceError),
                    "relative error " + error + ", the reference kernel's " + referenceError);
        }
    }

    @Test
    void worksInsideDjlCompositeBlocks() {
        try (NDManager manager = NDManager.newBaseManager()) {
            ai.djl.nn.SequentialBlock net = new ai.djl.nn.SequentialBlock();
            net.add(
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(12)
                            .setHeadCount(3)
                            .optCausal(true)
                            .build());
            net.add(ai.djl.nn.core.Linear.builder().setUnits(5).build());
            net.initialize(manager, DataType.FLOAT32, new Shape(2, 7, 12));
            NDArray x = manager.randomNormal(new Shape(2, 7, 12));
            NDList out = net.forward(new ParameterStore(manager, false), new NDList(x), false);
            assertEquals(new Shape(2, 7, 5), out.singletonOrThrow().getShape());
            assertEquals(
                    new Shape(2, 7, 5), net.getOutputShapes(new Shape[] {new Shape(2, 7, 12)})[0]);
        }
    }
}
