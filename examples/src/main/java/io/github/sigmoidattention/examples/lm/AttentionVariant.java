package io.github.sigmoidattention.examples.lm;

import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import io.github.sigmoidattention.nn.attention.QkNorm;
import io.github.sigmoidattention.nn.attention.SigmoidBias;
import io.github.sigmoidattention.nn.attention.SigmoidMultiHeadAttention;

/**
 * The attention a {@link CharLanguageModel} uses in every layer: DJL's softmax block, or sigmoid
 * attention in the configurations the paper compares.
 */
public enum AttentionVariant {
    /** DJL's {@link ScaledDotProductAttentionBlock}: softmax, the baseline. */
    SOFTMAX("softmax (DJL)"),
    /** Sigmoid with b = -ln n and QK-norm (LayerNorm of queries and keys). */
    SIGMOID_QK_NORM("sigmoid, b = -ln n, QK-norm"),
    /** Sigmoid with b = -ln n and LayerScale on the attention output. */
    SIGMOID_LAYER_SCALE("sigmoid, b = -ln n, LayerScale"),
    /** Sigmoid with no bias: the paper's failing case. */
    SIGMOID_NO_BIAS("sigmoid, no bias");

    private final String label;

    AttentionVariant(String label) {
        this.label = label;
    }

    /**
     * Returns a short description for tables and plots.
     *
     * @return the label
     */
    public String label() {
        return label;
    }

    /**
     * Returns whether the attention block takes DJL's (B, T, T) causal mask as a second input; the
     * sigmoid block is causal by itself, which lets inference run the fused kernel.
     *
     * @return true for the softmax baseline
     */
    boolean needsCausalMask() {
        return this == SOFTMAX;
    }

    /**
     * Builds the attention block of one layer.
     *
     * @param embeddingSize E
     * @param headCount H
     * @param sequenceLength n
     * @param computeType the sigmoid core's type (optComputeType), or null for the inputs' own
     * @return a block taking (B, T, E) (and, for softmax, the mask) to (B, T, E)
     */
    Block attention(int embeddingSize, int headCount, int sequenceLength, DataType computeType) {
        if (this == SOFTMAX) {
            return ScaledDotProductAttentionBlock.builder()
                    .setEmbeddingSize(embeddingSize)
                    .setHeadCount(headCount)
                    .optAttentionProbsDropoutProb(0f)
                    .build();
        }
        SigmoidMultiHeadAttention.Builder builder =
                SigmoidMultiHeadAttention.builder()
                        .setEmbeddingSize(embeddingSize)
                        .setHeadCount(headCount)
                        .optCausal(true)
                        .optComputeType(computeType);
        switch (this) {
            case SIGMOID_QK_NORM:
                builder.optBias(SigmoidBias.negLog(sequenceLength)).optQkNorm(QkNorm.LAYER_NORM);
                break;
            case SIGMOID_LAYER_SCALE:
                builder.optBias(SigmoidBias.negLog(sequenceLength)).optLayerScale(true);
                break;
            default:
                builder.optBias(SigmoidBias.constant(0f));
                break;
        }
        return builder.build();
    }
}
