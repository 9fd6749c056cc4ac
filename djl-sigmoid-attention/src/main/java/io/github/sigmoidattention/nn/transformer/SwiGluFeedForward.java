package io.github.sigmoidattention.nn.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.sigmoidattention.nn.util.Arguments;

/**
 * The gated feed-forward of Shazeer (2020), {@code down(silu(gate(x)) ⊙ up(x))}, with bias-free
 * {@link Linear} children {@code gate}, {@code up} (hidden units each) and {@code down} (output
 * units).
 *
 * <p>Input: one array (..., C); output: (..., output size), the input's data type.
 */
public final class SwiGluFeedForward extends AbstractBlock {

    private static final byte VERSION = 1;

    private final int hiddenSize;
    private final int outputSize;
    private final Linear gate;
    private final Linear up;
    private final Linear down;

    private SwiGluFeedForward(Builder builder) {
        super(VERSION);
        hiddenSize = builder.hiddenSize;
        outputSize = builder.outputSize;
        gate = addChildBlock("gate", Linear.builder().setUnits(hiddenSize).optBias(false).build());
        up = addChildBlock("up", Linear.builder().setUnits(hiddenSize).optBias(false).build());
        down = addChildBlock("down", Linear.builder().setUnits(outputSize).optBias(false).build());
    }

    /**
     * Creates a builder for a {@code SwiGluFeedForward}.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the hidden width of the gate and up projections.
     *
     * @return the hidden size
     */
    public int getHiddenSize() {
        return hiddenSize;
    }

    /**
     * Returns the width of the output.
     *
     * @return the output size
     */
    public int getOutputSize() {
        return outputSize;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray g = gate.forward(parameterStore, inputs, training).singletonOrThrow();
        NDArray u = up.forward(parameterStore, inputs, training).singletonOrThrow();
        NDArray hidden = Activation.swish(g, 1f).mul(u);
        return down.forward(parameterStore, new NDList(hidden), training);
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape in = inputShapes[0];
        return new Shape[] {in.slice(0, in.dimension() - 1).add(outputSize)};
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape in = inputShapes[0];
        gate.initialize(manager, dataType, in);
        up.initialize(manager, dataType, in);
        down.initialize(manager, dataType, in.slice(0, in.dimension() - 1).add(hiddenSize));
    }

    /** The builder of a {@link SwiGluFeedForward}: {@code set*} required. */
    public static final class Builder {

        private int hiddenSize;
        private int outputSize;

        private Builder() {}

        /**
         * Sets the hidden width of the gate and up projections.
         *
         * @param hiddenSize a positive width
         * @return this builder
         */
        public Builder setHiddenSize(int hiddenSize) {
            this.hiddenSize = hiddenSize;
            return this;
        }

        /**
         * Sets the width of the output.
         *
         * @param outputSize a positive width
         * @return this builder
         */
        public Builder setOutputSize(int outputSize) {
            this.outputSize = outputSize;
            return this;
        }

        /**
         * Builds the block after checking the configuration.
         *
         * @return a new block
         */
        public SwiGluFeedForward build() {
            Arguments.requirePositive("hiddenSize", hiddenSize);
            Arguments.requirePositive("outputSize", outputSize);
            return new SwiGluFeedForward(this);
        }
    }
}
