package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Bad configurations and inputs give an exception whose message names the argument and value. */
class BadInputTest {

    private NDManager manager;
    private SigmoidMultiHeadAttention block;

    @BeforeEach
    void setUp() {
        manager = NDManager.newBaseManager();
        block = SigmoidMultiHeadAttention.builder().setEmbeddingSize(8).setHeadCount(2).build();
        block.initialize(manager, DataType.FLOAT32, new Shape(2, 3, 8));
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    private static <T extends Throwable> void assertMessage(
            Class<T> type, Executable call, String... fragments) {
        T e = assertThrows(type, call);
        for (String fragment : fragments) {
            assertTrue(
                    e.getMessage() != null && e.getMessage().contains(fragment),
                    "message '" + e.getMessage() + "' lacks '" + fragment + "'");
        }
    }

    private void forward(NDArray... inputs) {
        block.forward(new ParameterStore(manager, false), new NDList(inputs), false);
    }

    private NDArray x(long b, long s, long e) {
        return manager.randomNormal(new Shape(b, s, e));
    }

    @Test
    void builderRejectsBadConfigurations() {
        assertMessage(
                IllegalArgumentException.class,
                () -> SigmoidMultiHeadAttention.builder().setHeadCount(2).build(),
                "embeddingSize",
                "0");
        assertMessage(
                IllegalArgumentException.class,
                () -> SigmoidMultiHeadAttention.builder().setEmbeddingSize(8).build(),
                "headCount");
        assertMessage(
                IllegalArgumentException.class,
                () ->
                        SigmoidMultiHeadAttention.builder()
                                .setEmbeddingSize(10)
                                .setHeadCount(3)
                                .build(),
                "embeddingSize (10)",
                "headCount (3)");
        assertMessage(
                IllegalArgumentException.class,
                () ->
                        SigmoidMultiHeadAttention.builder()
                                .setEmbeddingSize(12)
                                .setHeadCount(6)
                                .optKvHeadCount(4)
                                .build(),
                "headCount (6)",
                "kvHeadCount (4)");
        assertMessage(
                IllegalArgumentException.class,
                () -> SigmoidMultiHeadAttention.builder().optKvHeadCount(0),
                "kvHeadCount",
                "0");
        assertMessage(
                IllegalArgumentException.class,
                () ->
                        SigmoidMultiHeadAttention.builder()
                                .setEmbeddingSize(6)
                                .setHeadCount(2)
                                .optRope(true)
                                .build(),
                "RoPE",
                "D = 6 / 2 = 3");
        assertMessage(
                IllegalArgumentException.class,
                () ->
                        SigmoidMultiHeadAttention.builder()
                                .setEmbeddingSize(8)
                                .setHeadCount(2)
                                .optAttentionProbsDropoutProb(1.5f)
                                .build(),
                "attentionDropout",
                "1.5");
        assertMessage(
                IllegalArgumentException.class,
                () ->
                        SigmoidMultiHeadAttention.builder()
                                .setEmbeddingSize(8)
                                .setHeadCount(2)
                                .optQkNormEpsilon(-1f)
                                .build(),
                "qkNormEpsilon",
                "-1.0");
        assertMessage(
                IllegalArgumentException.class,
                () ->
                        SigmoidMultiHeadAttention.builder()
                                .setEmbeddingSize(8)
                                .setHeadCount(2)
                                .optRopeBase(Float.NaN)
                                .build(),
                "ropeBase",
                "NaN");
        assertMessage(IllegalArgumentException.class, () -> SigmoidBias.negLog(0), "n", "0");
        assertMessage(
                IllegalArgumentException.class, () -> SigmoidBias.constant(Float.NaN), "b", "NaN");
        assertMessage(
                IllegalArgumentException.class,
                () -> SigmoidBias.learned(Float.POSITIVE_INFINITY),
                "init",
                "Infinity");
    }

    @Test
    void fusedKernelRefusesWhatItCannotRun() {
        SigmoidMultiHeadAttention fused =
                SigmoidMultiHeadAttention.builder()
                        .setEmbeddingSize(8)
                        .setHeadCount(2)
                        .optKernel(AttentionKernel.FUSED)
                        .build();
        fused.initialize(manager, DataType.FLOAT64, new Shape(1, 3, 8));
        assertMessage(
                UnsupportedOperationException.class,
                () ->
                        fused.forward(
                                new ParameterStore(manager, false),
                                new NDList(x(1, 3, 8).toType(DataType.FLOAT64, false)),
                                false),
                "FUSED",
                "float64");
    }

    @Test
    void wrongInputCountRankAndWidth() {
        assertMessage(IllegalArgumentException.class, () -> forward(), "inputs", "got 0");
        NDArray a = x(2, 3, 8);
        assertMessage(
                IllegalArgumentException.class, () -> forward(a, a, a, a, a), "inputs", "got 5");
        assertMessage(
                IllegalArgumentException.class,
                () -> forward(manager.randomNormal(new Shape(3, 8))),
                "X",
                "(3, 8)");
        assertMessage(IllegalArgumentException.class, () -> forward(x(2, 3, 7)), "X", "(2, 3, 7)");
        assertMessage(
                IllegalArgumentException.class,
                () -> forward(x(2, 3, 8), x(2, 4, 6), x(2, 3, 8)),
                "Q",
                "(2, 4, 6)");
    }

    @Test
    void zeroLengths() {
        assertMessage(IllegalArgumentException.class, () -> forward(x(2, 0, 8)), "X", "(2, 0, 8)");
        assertMessage(
                IllegalArgumentException.class,
                () -> forward(x(2, 0, 8), x(2, 3, 8), x(2, 0, 8)),
                "K",
                "(2, 0, 8)");
        assertMessage(
                IllegalArgumentException.class,
                () -> forward(x(2, 4, 8), x(2, 0, 8), x(2, 4, 8)),
                "Q",
                "(2, 0, 8)");
        assertMessage(IllegalArgumentException.class, () -> forward(x(0, 3, 8)), "X", "(0, 3, 8)");
    }

    @Test
    void mismatchedBatchesAndLengths() {
        assertMessage(
                IllegalArgumentException.class,
                () -> forward(x(2, 5, 8), x(3, 4, 8), x(2, 5, 8)),
                "batch sizes differ",
                "(3, 4, 8)");
        assertMessage(
                IllegalArgumentException.class,
                () -> forward(x(2, 5, 8), x(2, 4, 8), x(2, 6, 8)),
                "K and V lengths differ",
                "(2, 6, 8)");
    }

    @Test
    void badMasks() {
        NDArray a = x(2, 3, 8);
        assertMessage(
                IllegalArgumentException.class,
                () -> forward(a, manager.ones(new Shape(2, 3, 4))),
                "mask",
                "(2, 3, 3)",
                "(2, 3, 4)");
        assertMessage(
                IllegalArgumentException.class,
                () -> forward(a, manager.ones(new Shape(5, 3))),
                "mask",
                "(5, 3)");
        assertMessage(
                IllegalArgumentException.class,
                () -> forward(a, manager.ones(new Shape(3))),
                "mask",
                "(3)");
        assertMessage(
                IllegalArgumentException.class,
                () -> forward(x(2, 5, 8), x(2, 4, 8), x(2, 5, 8), manager.ones(new Shape(2, 5, 4))),
                "mask",
                "(2, 4, 5)",
                "(2, 5, 4)");
        assertMessage(
                IllegalArgumentException.class,
                () -> forward(a, manager.ones(new Shape(2, 1, 3, 3), DataType.INT32)),
                "mask",
                "int32");
    }

    @Test
    void mixedAndUnsupportedDataTypes() {
        NDArray k = x(2, 5, 8);
        assertMessage(
                IllegalArgumentException.class,
                () -> forward(k, x(2, 4, 8).toType(DataType.FLOAT64, false), k),
                "mixed data types",
                "float32",
                "float64");
        assertMessage(
                IllegalArgumentException.class,
                () -> forward(x(2, 3, 8).toType(DataType.FLOAT16, false)),
                "float16",
                "parameters are float32");
        assertMessage(
                IllegalArgumentException.class,
                () -> forward(manager.ones(new Shape(2, 3, 8), DataType.INT32)),
                "X",
                "floating-point",
                "int32");
    }

    @Test
    void bfloat16IsRefusedInsteadOfAbortingTheJvm() {
        SigmoidMultiHeadAttention fresh =
                SigmoidMultiHeadAttention.builder().setEmbeddingSize(8).setHeadCount(2).build();
        assertMessage(
                IllegalArgumentException.class,
                () -> fresh.initialize(manager, DataType.BFLOAT16, new Shape(1, 2, 8)),
                "bfloat16");
    }

    @Test
    void closedArraysAreNamed() {
        NDArray a = x(2, 3, 8);
        NDArray mask = manager.ones(new Shape(2, 3));
        mask.close();
        assertMessage(IllegalArgumentException.class, () -> forward(a, mask), "mask", "closed");
        NDArray closed = x(2, 3, 8);
        closed.close();
        assertMessage(IllegalArgumentException.class, () -> forward(closed), "X", "closed");
        assertMessage(IllegalArgumentException.class, () -> forward(a, closed, a), "Q", "closed");
        // Parameters freed with the manager that owns them.
        SigmoidMultiHeadAttention orphan =
                SigmoidMultiHeadAttention.builder().setEmbeddingSize(8).setHeadCount(2).build();
        NDManager owner = NDManager.newBaseManager();
        orphan.initialize(owner, DataType.FLOAT32, new Shape(2, 3, 8));
        owner.close();
        assertMessage(
                IllegalArgumentException.class,
                () -> orphan.forward(new ParameterStore(manager, false), new NDList(a), false),
                "parameter",
                "keyProjection_weight",
                "closed");
    }

    @Test
    void attendRefusesNonFiniteScaleAndBias() {
        NDArray q = manager.randomNormal(new Shape(1, 3, 2, 4));
        for (float bad :
                new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            for (AttentionKernel kernel : AttentionKernel.values()) {
                assertMessage(
                        IllegalArgumentException.class,
                        () -> SigmoidAttention.attend(q, q, q, bad, -1f, false, kernel),
                        "scale",
                        String.valueOf(bad));
                assertMessage(
                        IllegalArgumentException.class,
                        () -> SigmoidAttention.attend(q, q, q, 0.5f, bad, false, kernel),
                        "bias",
                        String.valueOf(bad));
            }
        }
        assertMessage(
                IllegalArgumentException.class,
                () -> SigmoidAttention.attend(q, q, q, 0.5f, 0f, false, null),
                "kernel");
    }

    @Test
    void badInitializationShapes() {
        SigmoidMultiHeadAttention fresh =
                SigmoidMultiHeadAttention.builder().setEmbeddingSize(8).setHeadCount(2).build();
        assertMessage(
                IllegalArgumentException.class,
                () -> fresh.initialize(manager, DataType.FLOAT32, new Shape(2, 3, 9)),
                "inputShapes[0]",
                "(2, 3, 9)");
        assertMessage(
                IllegalArgumentException.class,
                () -> fresh.getOutputShapes(new Shape[0]),
                "inputShapes",
                "got 0");
    }

    @Test
    void badPositionOffset() {
        SigmoidMultiHeadAttention rope =
                SigmoidMultiHeadAttention.builder()
                        .setEmbeddingSize(8)
                        .setHeadCount(2)
                        .optRope(true)
                        .build();
        rope.initialize(manager, DataType.FLOAT32, new Shape(1, 3, 8));
        PairList<String, Object> params = new PairList<>();
        params.add(SigmoidMultiHeadAttention.POSITION_OFFSET, -4);
        assertMessage(
                IllegalArgumentException.class,
                () ->
                        rope.forward(
                                new ParameterStore(manager, false),
                                new NDList(x(1, 3, 8)),
                                false,
                                params),
                SigmoidMultiHeadAttention.POSITION_OFFSET,
                "-4");
    }
}
