package io.github.sigmoidattention.examples;

import ai.djl.ndarray.NDList;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.ParallelBlock;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.nn.transformer.IdEmbedding;

import io.github.sigmoidattention.nn.QkNorm;
import io.github.sigmoidattention.nn.SigmoidBias;
import io.github.sigmoidattention.nn.SigmoidMultiHeadAttention;

import java.util.Arrays;

/**
 * A small pre-norm causal language model built from DJL blocks and {@link
 * SigmoidMultiHeadAttention}: token ids (B, T) in, logits (B, T, V) out. Positions come from RoPE
 * inside the attention, so there is no position embedding.
 */
public final class TinyCausalTransformer {

    private TinyCausalTransformer() {}

    /**
     * Builds the model.
     *
     * @param vocabularySize V
     * @param embeddingSize E
     * @param headCount H
     * @param layers the number of attention + feed-forward layers
     * @param maxLength the training sequence length n, for the bias b = -ln n
     * @return the model
     */
    public static SequentialBlock build(
            int vocabularySize, int embeddingSize, int headCount, int layers, int maxLength) {
        SequentialBlock model = new SequentialBlock();
        model.add(
                new IdEmbedding.Builder()
                        .setDictionarySize(vocabularySize)
                        .setEmbeddingSize(embeddingSize)
                        .build());
        for (int i = 0; i < layers; i++) {
            SigmoidMultiHeadAttention attention =
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(embeddingSize)
                            .setHeadCount(headCount)
                            .optCausal(true)
                            .optBias(SigmoidBias.negLog(maxLength))
                            .optQkNorm(QkNorm.LAYER_NORM)
                            .optRope(true)
                            .build();
            model.add(residual(new SequentialBlock().add(LayerNorm.builder().axis(2).build()).add(attention)));
            model.add(
                    residual(
                            new SequentialBlock()
                                    .add(LayerNorm.builder().axis(2).build())
                                    .add(Linear.builder().setUnits(4L * embeddingSize).build())
                                    .add(Activation::gelu)
                                    .add(Linear.builder().setUnits(embeddingSize).build())));
        }
        model.add(LayerNorm.builder().axis(2).build());
        model.add(Linear.builder().setUnits(vocabularySize).build());
        return model;
    }

    private static Block residual(Block branch) {
        return new ParallelBlock(
                outputs -> new NDList(outputs.get(0).head().add(outputs.get(1).head())),
                Arrays.asList(branch, Blocks.identityBlock()));
    }
}
