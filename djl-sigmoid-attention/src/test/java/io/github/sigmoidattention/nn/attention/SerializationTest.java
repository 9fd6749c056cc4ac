package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import io.github.sigmoidattention.testing.AttentionCase;
import io.github.sigmoidattention.testing.TestArrays;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** saveParameters / loadParameters, including parameters saved by DJL's softmax block. */
class SerializationTest {

    private static byte[] save(ai.djl.nn.Block block) throws IOException {
        return TestArrays.save(block);
    }

    private static void load(ai.djl.nn.Block block, NDManager manager, byte[] bytes)
            throws IOException, MalformedModelException {
        TestArrays.load(block, manager, bytes);
    }

    @Test
    void roundTripGivesIdenticalOutputs() throws Exception {
        long base = System.nanoTime();
        for (int i = 0; i < 8; i++) {
            AttentionCase c = AttentionCase.random(base + i);
            try (NDManager manager = NDManager.newBaseManager()) {
                SigmoidMultiHeadAttention original = c.block(manager, DataType.FLOAT32);
                // Loaded arrays do not require gradients, and PyTorch picks other (equally
                // accurate) kernels for arrays that do; compare both in the inference state.
                original.freezeParameters(true);
                c.drawInputs();
                double[] expected =
                        TestArrays.values(c.run(original, manager, DataType.FLOAT32, false));
                byte[] bytes = save(original);

                // A fresh block, never initialised: loading alone must make it usable.
                SigmoidMultiHeadAttention loaded = c.builder().build();
                load(loaded, manager, bytes);
                double[] actual =
                        TestArrays.values(c.run(loaded, manager, DataType.FLOAT32, false));
                assertArrayEquals(expected, actual, c.toString());
                assertArrayEquals(bytes, save(loaded), c + ": saving again changes the bytes");
            }
        }
    }

    @Test
    void loadingIntoADifferentStructureFailsClearly() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            SigmoidMultiHeadAttention gqa =
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(16)
                            .setHeadCount(4)
                            .optKvHeadCount(2)
                            .build();
            gqa.initialize(manager, DataType.FLOAT32, new Shape(1, 3, 16));
            byte[] bytes = save(gqa);
            SigmoidMultiHeadAttention mha =
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(16)
                            .setHeadCount(4)
                            .build();
            MalformedModelException e =
                    assertThrows(MalformedModelException.class, () -> load(mha, manager, bytes));
            assertTrue(e.getMessage().contains("kvHeadCount=2"), e.getMessage());

            SigmoidMultiHeadAttention normed =
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(16)
                            .setHeadCount(4)
                            .optKvHeadCount(2)
                            .optQkNorm(QkNorm.RMS_NORM)
                            .build();
            e = assertThrows(MalformedModelException.class, () -> load(normed, manager, bytes));
            assertTrue(e.getMessage().contains("qkNorm"), e.getMessage());

            byte[] corrupt = bytes.clone();
            corrupt[0] = 9;
            e = assertThrows(MalformedModelException.class, () -> load(gqa, manager, corrupt));
            assertTrue(e.getMessage().contains("version 9"), e.getMessage());
        }
    }

    /** Parameters saved by DJL's ScaledDotProductAttentionBlock load as the projections. */
    @Test
    void loadsDjlSoftmaxBlockParameters() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            ScaledDotProductAttentionBlock softmax =
                    ScaledDotProductAttentionBlock.builder()
                            .setEmbeddingSize(12)
                            .setHeadCount(3)
                            .build();
            softmax.setInitializer(
                    (m, shape, type) -> m.randomNormal(0, 0.3f, shape, type), p -> true);
            softmax.initialize(manager, DataType.FLOAT32, new Shape(2, 5, 12));
            byte[] bytes = save(softmax);

            AttentionCase c = AttentionCase.plain(System.nanoTime(), 3, 3, 4, 2, 5);
            c.options.qkNorm = QkNorm.LAYER_NORM;
            c.options.layerScale = true;
            SigmoidMultiHeadAttention sigmoid = c.builder().build();
            load(sigmoid, manager, bytes);

            for (String name :
                    new String[] {
                        "keyProjection", "queryProjection", "valueProjection", "resultProjection"
                    }) {
                for (String kind : new String[] {"_weight", "_bias"}) {
                    assertArrayEquals(
                            TestArrays.vector(TestArrays.param(softmax, name + kind)),
                            TestArrays.vector(TestArrays.param(sigmoid, name + kind)),
                            name + kind);
                }
            }
            c.drawInputs();
            NDArray out = c.run(sigmoid, manager, DataType.FLOAT32, false);
            double error =
                    TestArrays.relativeError(
                            TestArrays.values(out), TestArrays.flatten(c.reference(sigmoid)));
            assertTrue(error < 1e-5, "relative error " + error);
        }
    }

    @Test
    void djlSoftmaxParametersNeedAsManyKvHeadsAsQueryHeads() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            ScaledDotProductAttentionBlock softmax =
                    ScaledDotProductAttentionBlock.builder()
                            .setEmbeddingSize(8)
                            .setHeadCount(2)
                            .build();
            softmax.initialize(manager, DataType.FLOAT32, new Shape(1, 3, 8));
            byte[] bytes = save(softmax);
            SigmoidMultiHeadAttention mqa =
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(8)
                            .setHeadCount(2)
                            .optKvHeadCount(1)
                            .build();
            MalformedModelException e =
                    assertThrows(MalformedModelException.class, () -> load(mqa, manager, bytes));
            assertTrue(e.getMessage().contains("kvHeadCount=1"), e.getMessage());
        }
    }
}
