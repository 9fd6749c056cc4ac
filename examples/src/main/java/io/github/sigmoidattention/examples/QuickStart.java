package io.github.sigmoidattention.examples;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import io.github.sigmoidattention.nn.attention.QkNorm;
import io.github.sigmoidattention.nn.attention.SigmoidBias;
import io.github.sigmoidattention.nn.attention.SigmoidMultiHeadAttention;

/** The README's first program: builds the block, runs it once and prints what it computed. */
public final class QuickStart {

    private QuickStart() {}

    /**
     * Runs the block on random input.
     *
     * @param args unused
     */
    public static void main(String[] args) {
        try (NDManager manager = NDManager.newBaseManager()) {
            SigmoidMultiHeadAttention attention =
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(512) // E
                            .setHeadCount(8) // H; head dim D = E / H
                            .optKvHeadCount(2) // G: grouped-query attention
                            .optBias(SigmoidBias.negLog(4096)) // b = -ln 4096
                            .optQkNorm(QkNorm.LAYER_NORM)
                            .optCausal(true)
                            .build();
            attention.initialize(manager, DataType.FLOAT32, new Shape(2, 128, 512));

            NDArray x = manager.randomNormal(new Shape(2, 128, 512)); // (B, T, E)
            ParameterStore parameters = new ParameterStore(manager, false);
            NDArray y = attention.forward(parameters, new NDList(x), false).singletonOrThrow();
            System.out.println("sigmoid attention: " + x.getShape() + " -> " + y.getShape());
        }
    }
}
