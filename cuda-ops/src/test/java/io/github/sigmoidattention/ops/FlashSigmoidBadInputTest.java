package io.github.sigmoidattention.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Bad arguments end in a Java exception that names the argument and the values, never a crash. */
class FlashSigmoidBadInputTest {

    private NDManager m;
    private NDArray q;
    private NDArray k;
    private NDArray v;

    @BeforeEach
    void setUp() {
        assertTrue(FlashSigmoidLibrary.isAvailable(), FlashSigmoidLibrary.getUnavailableReason());
        m = NDManager.newBaseManager();
        q = m.randomNormal(new Shape(2, 5, 4, 8));
        k = m.randomNormal(new Shape(2, 7, 2, 8));
        v = m.randomNormal(new Shape(2, 7, 2, 8));
    }

    @AfterEach
    void tearDown() {
        m.close();
    }

    private static void expect(Executable call, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "'" + e.getMessage() + "' lacks '" + f + "'");
        }
    }

    private NDArray forward(NDArray q, NDArray k, NDArray v) {
        return FlashSigmoid.forward(q, k, v, 0.3f, -1f, false);
    }

    @Test
    void nonFiniteScaleAndBias() {
        for (float bad :
                new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            expect(
                    () -> FlashSigmoid.forward(q, k, v, bad, -1f, false),
                    "scale must be a finite number",
                    String.valueOf(bad));
            expect(
                    () -> FlashSigmoid.forward(q, k, v, 0.3f, bad, true),
                    "bias must be a finite number",
                    String.valueOf(bad));
            expect(
                    () -> FlashSigmoid.backward(q, AttentionCall.of(q, k, v, bad, -1f, false)),
                    "scale");
            expect(
                    () -> FlashSigmoid.backward(q, AttentionCall.of(q, k, v, 0.3f, bad, false)),
                    "bias");
        }
    }

    /** Inside a GradientCollector the op would give a silently zero gradient: it refuses. */
    @Test
    @SuppressWarnings("try") // the collector only has to be open
    void forwardRefusesInputsThatAGradientCollectorRecords() {
        NDArray tracked = q.duplicate();
        tracked.setRequiresGradient(true);
        try (ai.djl.training.GradientCollector gc =
                ai.djl.engine.Engine.getInstance().newGradientCollector()) {
            IllegalStateException e =
                    assertThrows(IllegalStateException.class, () -> forward(tracked, k, v));
            assertTrue(e.getMessage().contains("q is part of the graph"), e.getMessage());
            // An intermediate result of recorded operations counts too.
            NDArray derived = tracked.mul(2).get(":, :, 0:2");
            e =
                    assertThrows(
                            IllegalStateException.class,
                            () -> forward(q, derived, v.get(":, 0:5")));
            assertTrue(e.getMessage().contains("k is part of the graph"), e.getMessage());
            // Inputs outside the graph are fine inside a collector.
            assertEquals(q.getShape(), forward(q, k, v).getShape());
            assertTrue(PtArrays.isRecordingGradient(derived));
        }
        // Outside the collector nothing is recorded.
        assertEquals(q.getShape(), forward(tracked, k, v).getShape());
        assertTrue(!PtArrays.isRecordingGradient(tracked));
    }

    @Test
    void dataTypeSeesBfloat16() {
        NDArray bf16 = PtArrays.toDataType(q, DataType.BFLOAT16);
        assertEquals(DataType.BFLOAT16, PtArrays.dataType(bf16));
        assertEquals(DataType.FLOAT32, PtArrays.dataType(q));
        assertEquals(DataType.FLOAT16, PtArrays.dataType(q.toType(DataType.FLOAT16, false)));
    }

    @Test
    void wrongRanks() {
        expect(() -> forward(q.reshape(2, 5, 32), k, v), "q must be 4-D", "[2, 5, 32]");
        expect(() -> forward(q, k.reshape(14, 2, 8), v), "k must be 4-D", "[14, 2, 8]");
        expect(() -> forward(q, k, v.reshape(1, 2, 7, 2, 8)), "v must be 4-D", "[1, 2, 7, 2, 8]");
    }

    @Test
    void mismatchedShapes() {
        expect(
                () ->
                        forward(
                                q,
                                m.randomNormal(new Shape(2, 7, 3, 8)),
                                m.randomNormal(new Shape(2, 7, 3, 8))),
                "k has 3 heads",
                "4 heads of q");
        expect(
                () ->
                        forward(
                                q,
                                m.randomNormal(new Shape(2, 7, 2, 6)),
                                m.randomNormal(new Shape(2, 7, 2, 6))),
                "head dim 6",
                "q has 8");
        expect(
                () ->
                        forward(
                                q,
                                m.randomNormal(new Shape(3, 7, 2, 8)),
                                m.randomNormal(new Shape(3, 7, 2, 8))),
                "batch 3",
                "q has 2");
        expect(
                () -> forward(q, k, m.randomNormal(new Shape(2, 6, 2, 8))),
                "v must have the shape of k",
                "[2, 7, 2, 8]",
                "[2, 6, 2, 8]");
        expect(
                () ->
                        FlashSigmoid.backward(
                                m.randomNormal(new Shape(2, 5, 4, 7)),
                                AttentionCall.of(q, k, v, 1f, 0f, false)),
                "grad_out must have the shape of q",
                "[2, 5, 4, 7]");
    }

    @Test
    void wrongDtypes() {
        expect(
                () -> forward(q.toType(DataType.FLOAT64, false), k, v),
                "q must be float32, float16 or bfloat16",
                "float64");
        expect(
                () -> forward(q, k.toType(DataType.FLOAT16, false), v),
                "k is float16 but q is float32");
        expect(() -> forward(q.toType(DataType.INT32, false), k, v), "q must be float32", "int32");
    }

    @Test
    void wrongOptionalArguments() {
        expect(
                () ->
                        FlashSigmoid.forward(
                                AttentionCall.of(q, k, v, 1f, 0f, false)
                                        .withHeadBias(m.ones(new Shape(3)))),
                "head_bias must have shape [4]",
                "[3]");
        expect(
                () ->
                        FlashSigmoid.forward(
                                AttentionCall.of(q, k, v, 1f, 0f, false)
                                        .withAlibiSlopes(m.ones(new Shape(4), DataType.FLOAT64))),
                "alibi_slopes must be float32",
                "float64");
        expect(
                () ->
                        FlashSigmoid.forward(
                                AttentionCall.of(q, k, v, 1f, 0f, false)
                                        .withKeep(m.ones(new Shape(2, 1, 5, 6), DataType.BOOLEAN))),
                "keep must be 4-D",
                "[2, 4, 5, 7]",
                "[2, 1, 5, 6]");
        expect(
                () ->
                        FlashSigmoid.forward(
                                AttentionCall.of(q, k, v, 1f, 0f, false)
                                        .withKeep(m.ones(new Shape(2, 1, 1, 7)))),
                "keep must be bool or uint8",
                "float32");
    }

    @Test
    void nullAndClosedArrays() {
        expect(() -> forward(null, k, v), "q must not be null");
        NDArray closed = m.randomNormal(new Shape(2, 5, 4, 8));
        closed.close();
        expect(() -> forward(closed, k, v), "q", "closed");
        expect(() -> CpuKernels.setNumThreads(0), "threads", "0");
        expect(() -> PtArrays.toDataType(q, DataType.INT8), "type", "int8");
    }

    /** A 2^31-long dimension (a stride-0 view, no memory) is refused, not indexed with int32. */
    @Test
    void dimensionsBeyondInt32AreRefused() {
        long huge = 1L << 31;
        NDArray wide = m.randomNormal(new Shape(1, 1, 1, 1)).broadcast(1, huge, 1, 1);
        NDArray kv = m.randomNormal(new Shape(1, 3, 1, 1));
        expect(() -> forward(wide, kv, kv), "q has a dimension of 2147483648", "2^31 - 1");
    }

    @Test
    void emptyLengthsGiveEmptyOrZeroOutputs() {
        NDArray none = forward(m.randomNormal(new Shape(2, 0, 4, 8)), k, v);
        assertEquals(new Shape(2, 0, 4, 8), none.getShape());
        NDArray zeros =
                forward(
                        q,
                        m.randomNormal(new Shape(2, 0, 2, 8)),
                        m.randomNormal(new Shape(2, 0, 2, 8)));
        assertEquals(0f, zeros.abs().max().getFloat());
        assertEquals(q.getShape(), zeros.getShape());
    }
}
