package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import io.github.sigmoidattention.nn.transformer.SigmoidTransformerEncoderBlock;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * {@link AttentionOptions}: the defaults, the checks of every setter, and one declaration shared by
 * the block's builder, the encoder's builder and the options' own builder.
 */
class AttentionOptionsTest {

    private static AttentionOptions sample() {
        return AttentionOptions.builder()
                .optKvHeadCount(2)
                .optBias(SigmoidBias.negLog(512))
                .optCausal(true)
                .optKernel(AttentionKernel.REFERENCE)
                .optQkNorm(QkNorm.RMS_NORM)
                .optQkNormEpsilon(1e-3f)
                .optAlibi(true)
                .optRopeBase(500f)
                .optAttentionDropout(0.25f)
                .build();
    }

    @Test
    void defaults() {
        AttentionOptions o = AttentionOptions.defaults();
        assertEquals(0, o.getKvHeadCount());
        assertEquals(8, o.kvHeadsFor(8));
        assertEquals(SigmoidBias.negLogLength(), o.getBias());
        assertEquals(AttentionKernel.AUTO, o.getKernel());
        assertEquals(QkNorm.NONE, o.getQkNorm());
        assertEquals(1e-5f, o.getQkNormEpsilon());
        assertEquals(10000f, o.getRopeBase());
        assertTrue(!o.isCausal() && !o.isAlibi() && !o.isRope() && o.getAttentionDropout() == 0f);
    }

    @Test
    void theBlockAndTheEncoderTakeTheSameOptions() {
        AttentionOptions options = sample();
        SigmoidMultiHeadAttention block =
                SigmoidMultiHeadAttention.builder()
                        .setEmbeddingSize(16)
                        .setHeadCount(4)
                        .optAttentionOptions(options)
                        .build();
        assertEquals(options.toString(), block.getOptions().toString());
        assertEquals(2, block.getKvHeadCount());
        SigmoidTransformerEncoderBlock encoder =
                SigmoidTransformerEncoderBlock.builder()
                        .setEmbeddingSize(16)
                        .setHeadCount(4)
                        .setHiddenSize(8)
                        .optAttentionOptions(options)
                        .build();
        assertEquals(options.toString(), encoder.getSelfAttention().getOptions().toString());
        // The same setters on the block's builder give the same options.
        SigmoidMultiHeadAttention direct =
                SigmoidMultiHeadAttention.builder()
                        .setEmbeddingSize(16)
                        .setHeadCount(4)
                        .optKvHeadCount(2)
                        .optBias(SigmoidBias.negLog(512))
                        .optCausal(true)
                        .optKernel(AttentionKernel.REFERENCE)
                        .optQkNorm(QkNorm.RMS_NORM)
                        .optQkNormEpsilon(1e-3f)
                        .optAlibi(true)
                        .optRopeBase(500f)
                        .optAttentionProbsDropoutProb(0.25f)
                        .build();
        assertEquals(options.toString(), direct.getOptions().toString());
    }

    @Test
    void settersRefuseBadValuesNamingThem() {
        expect(b -> b.optKvHeadCount(0), "kvHeadCount", "0");
        expect(b -> b.optQkNormEpsilon(0f), "qkNormEpsilon", "0.0");
        expect(b -> b.optQkNormEpsilon(Float.NaN), "qkNormEpsilon", "NaN");
        expect(b -> b.optRopeBase(1f), "ropeBase", "1.0");
        expect(b -> b.optAttentionDropout(1.5f), "attentionDropout", "1.5");
        expect(b -> b.optBias(null), "bias");
        expect(b -> b.optKernel(null), "kernel");
        expect(b -> b.optQkNorm(null), "qkNorm");
        expect(b -> b.optAttentionOptions(null), "options");
        expect(b -> b.optComputeType(DataType.FLOAT64), "computeType", "float64");
        expect(b -> b.optComputeType(DataType.INT32), "computeType", "int32");
    }

    @Test
    void sizesMustFit() {
        AttentionOptions gqa = AttentionOptions.builder().optKvHeadCount(3).build();
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> gqa.requireFits(16, 4));
        assertTrue(
                e.getMessage().contains("headCount (4)")
                        && e.getMessage().contains("kvHeadCount (3)"),
                e.getMessage());
        AttentionOptions rope = AttentionOptions.builder().optRope(true).build();
        e = assertThrows(IllegalArgumentException.class, () -> rope.requireFits(15, 5));
        assertTrue(e.getMessage().contains("RoPE") && e.getMessage().contains("3"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> AttentionOptions.defaults().requireFits(10, 4));
        assertTrue(e.getMessage().contains("embeddingSize (10)"), e.getMessage());
    }

    private static void expect(
            Function<AttentionOptions.Builder, AttentionOptions.Builder> set, String... fragments) {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> set.apply(AttentionOptions.builder()));
        for (String fragment : fragments) {
            assertTrue(
                    e.getMessage().contains(fragment),
                    "'" + e.getMessage() + "' lacks '" + fragment + "'");
        }
    }
}
