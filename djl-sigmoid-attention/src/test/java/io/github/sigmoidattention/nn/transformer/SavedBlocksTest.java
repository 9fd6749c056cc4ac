package io.github.sigmoidattention.nn.transformer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import io.github.sigmoidattention.nn.attention.AttentionKernel;
import io.github.sigmoidattention.nn.attention.QkNorm;
import io.github.sigmoidattention.nn.attention.SigmoidBias;
import io.github.sigmoidattention.nn.attention.SigmoidMultiHeadAttention;
import io.github.sigmoidattention.nn.norm.NormKind;
import io.github.sigmoidattention.testing.TestArrays;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Blocks saved by format version 2 (commit c57c9aa, enums by ordinal, before the package split;
 * src/test/resources/saved-blocks-0.1/README.md) load into today's blocks and give the same
 * outputs, and today's blocks round-trip through version 3 (enums by name).
 */
class SavedBlocksTest {

    private static Block block(String name) {
        switch (name) {
            case "attention-gqa-learned":
                return SigmoidMultiHeadAttention.builder()
                        .setEmbeddingSize(16)
                        .setHeadCount(4)
                        .optKvHeadCount(2)
                        .optBias(SigmoidBias.learned(-1.5f))
                        .optQkNorm(QkNorm.LAYER_NORM)
                        .optLayerScale(0.5f)
                        .optAlibi(true)
                        .optRope(true)
                        .optCausal(true)
                        .optKernel(AttentionKernel.REFERENCE)
                        .build();
            case "attention-neglog-rms":
                return SigmoidMultiHeadAttention.builder()
                        .setEmbeddingSize(12)
                        .setHeadCount(3)
                        .optBias(SigmoidBias.negLog(64))
                        .optQkNorm(QkNorm.RMS_NORM)
                        .optKernel(AttentionKernel.REFERENCE)
                        .build();
            case "encoder-hybrid-rms-swiglu":
                return SigmoidTransformerEncoderBlock.builder()
                        .setEmbeddingSize(16)
                        .setHeadCount(2)
                        .setHiddenSize(24)
                        .optNormPlacement(NormPlacement.HYBRID)
                        .optNorm(NormKind.RMS_NORM)
                        .optFeedForward(FeedForward.SWIGLU)
                        .optLayerScale(0.25f)
                        .optQkNorm(QkNorm.LAYER_NORM)
                        .optCausal(true)
                        .optKernel(AttentionKernel.REFERENCE)
                        .build();
            default:
                return SigmoidTransformerEncoderBlock.builder()
                        .setEmbeddingSize(16)
                        .setHeadCount(4)
                        .setHiddenSize(32)
                        .optNormPlacement(NormPlacement.DJL_POST)
                        .optFeedForward(FeedForward.GELU)
                        .optKernel(AttentionKernel.REFERENCE)
                        .build();
        }
    }

    private static byte[] resource(String file) throws IOException {
        try (InputStream in =
                SavedBlocksTest.class.getResourceAsStream("/saved-blocks-0.1/" + file)) {
            assertTrue(in != null, "missing test resource " + file);
            return in.readAllBytes();
        }
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "attention-gqa-learned",
                "attention-neglog-rms",
                "encoder-hybrid-rms-swiglu",
                "encoder-djl-post"
            })
    void version2FilesLoadAndGiveTheSavedOutputs(String name) throws Exception {
        byte[] params = resource(name + ".params");
        assertEquals(2, params[0], name + ": the fixture is a version-2 stream");
        try (NDManager m = NDManager.newBaseManager()) {
            NDList io = NDList.decode(m, resource(name + ".io"));
            NDArray x = io.get(0);
            Block block = block(name);
            block.initialize(m, DataType.FLOAT32, x.getShape());
            block.loadParameters(m, new DataInputStream(new ByteArrayInputStream(params)));
            NDArray y =
                    block.forward(new ParameterStore(m, false), new NDList(x), false)
                            .singletonOrThrow();
            double error =
                    TestArrays.relativeError(TestArrays.values(y), TestArrays.values(io.get(1)));
            assertTrue(
                    error < 1e-6, name + ": relative error " + error + " against the saved output");

            // Saved again, today's format: version 3, and the same outputs after loading.
            byte[] saved = TestArrays.save(block);
            assertEquals(3, saved[0], name + ": today's format version");
            Block again = block(name);
            again.initialize(
                    m,
                    DataType.FLOAT32,
                    new Shape(x.getShape().get(0), x.getShape().get(1), x.getShape().get(2)));
            TestArrays.load(again, m, saved);
            NDArray z =
                    again.forward(new ParameterStore(m, false), new NDList(x), false)
                            .singletonOrThrow();
            assertEquals(
                    0, TestArrays.relativeError(TestArrays.values(z), TestArrays.values(y)), name);
        }
    }
}
