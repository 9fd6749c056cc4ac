package io.github.sigmoidattention.nn.transformer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.transformer.IdEmbedding;
import ai.djl.training.dataset.ArrayDataset;
import io.github.sigmoidattention.nn.attention.SigmoidMultiHeadAttention;
import io.github.sigmoidattention.testing.TrainingSupport;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * EasyTrain through the attention block and the encoder on a task only attention can solve: predict
 * the previous token. A model that cannot look back scores ln V at best.
 */
class TrainingTest {

    private static final int V = 8;
    private static final int T = 6;
    private static final int E = 16;

    /** Random sequences; label t is token t - 1 (token 0 for position 0). */
    private static ArrayDataset previousToken(NDManager m, Random random, int count) {
        int[] data = new int[count * T];
        int[] labels = new int[count * T];
        for (int n = 0; n < count; n++) {
            for (int t = 0; t < T; t++) {
                data[n * T + t] = random.nextInt(V);
                labels[n * T + t] = t == 0 ? data[n * T] : data[n * T + t - 1];
            }
        }
        return new ArrayDataset.Builder()
                .setData(m.create(data, new Shape(count, T)))
                .optLabels(m.create(labels, new Shape(count, T, 1)))
                .setSampling(32, true)
                .build();
    }

    private static SequentialBlock model(Block body) {
        return new SequentialBlock()
                .add(new IdEmbedding.Builder().setDictionarySize(V).setEmbeddingSize(E).build())
                .add(body)
                .add(Linear.builder().setUnits(V).build());
    }

    private static void assertLearns(Block body, String what) throws Exception {
        long seed = System.nanoTime();
        try (NDManager m = NDManager.newBaseManager()) {
            Random random = new Random(seed);
            double[] loss =
                    TrainingSupport.fit(
                            model(body),
                            previousToken(m, random, 1024),
                            previousToken(m, random, 128),
                            2,
                            1e-2f,
                            new Shape(32, T));
            double uniform = Math.log(V);
            assertTrue(
                    Double.isFinite(loss[1]), what + ": loss " + loss[1] + " (seed " + seed + ")");
            assertTrue(
                    loss[1] < 0.5 * uniform && loss[1] < loss[0],
                    what
                            + ": validation loss "
                            + loss[0]
                            + " -> "
                            + loss[1]
                            + ", ln V = "
                            + uniform
                            + " (seed "
                            + seed
                            + ")");
        }
    }

    @Test
    void attentionBlockLearnsThePreviousToken() throws Exception {
        assertLearns(
                SigmoidMultiHeadAttention.builder()
                        .setEmbeddingSize(E)
                        .setHeadCount(2)
                        .optCausal(true)
                        .optRope(true)
                        .build(),
                "SigmoidMultiHeadAttention");
    }

    @Test
    void encoderLearnsThePreviousToken() throws Exception {
        for (NormPlacement placement :
                new NormPlacement[] {NormPlacement.PRE, NormPlacement.HYBRID}) {
            assertLearns(
                    SigmoidTransformerEncoderBlock.builder()
                            .setEmbeddingSize(E)
                            .setHeadCount(2)
                            .setHiddenSize(32)
                            .optNormPlacement(placement)
                            .optCausal(true)
                            .optRope(true)
                            .optLayerScale(0.1f)
                            .optFeedForward(FeedForward.SWIGLU)
                            .build(),
                    "SigmoidTransformerEncoderBlock " + placement);
        }
    }
}
