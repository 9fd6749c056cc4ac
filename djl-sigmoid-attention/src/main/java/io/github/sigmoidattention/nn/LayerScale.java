package io.github.sigmoidattention.nn;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.ConstantInitializer;
import ai.djl.util.PairList;

import java.io.DataInputStream;
import java.io.IOException;

/**
 * Multiplies each channel of the last axis by a learned gain initialised to a small value
 * (Touvron et al., 2021). On a residual branch it starts the branch near zero, which tames the
 * large early attention norms of sigmoid attention.
 *
 * <p>Input: one array of any rank ≥ 1; output: the same shape and data type.
 */
public final class LayerScale extends AbstractBlock {

    private static final byte VERSION = 1;

    private final float initValue;
    private final Parameter gamma;

    private LayerScale(Builder builder) {
        super(VERSION);
        initValue = builder.initValue;
        gamma =
                addParameter(
                        Parameter.builder()
                                .setName("gamma")
                                .setType(Parameter.Type.GAMMA)
                                .optInitializer(new ConstantInitializer(initValue))
                                .build());
    }

    /**
     * Creates a builder for a {@code LayerScale}.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the initial value of every gain.
     *
     * @return the initial value
     */
    public float getInitValue() {
        return initValue;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        return new NDList(x.mul(parameterStore.getValue(gamma, x.getDevice(), training)));
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /** {@inheritDoc} */
    @Override
    public void prepare(Shape[] inputShapes) {
        Shape shape = inputShapes[0];
        if (shape.dimension() < 1 || shape.get(shape.dimension() - 1) < 1) {
            throw new IllegalArgumentException(
                    "LayerScale: the input needs a known last dimension, got shape " + shape);
        }
        gamma.setShape(new Shape(shape.get(shape.dimension() - 1)));
    }

    /** {@inheritDoc} */
    @Override
    public void loadMetadata(byte loadVersion, DataInputStream is)
            throws IOException, MalformedModelException {
        if (loadVersion != version) {
            throw new MalformedModelException(
                    "LayerScale: unsupported parameter format version " + loadVersion);
        }
        readInputShapes(is);
    }

    /** The builder of a {@link LayerScale}. */
    public static final class Builder {

        private float initValue = 1e-4f;

        private Builder() {}

        /**
         * Sets the initial value of every gain (default 1e-4).
         *
         * @param initValue a finite number
         * @return this builder
         */
        public Builder optInitValue(float initValue) {
            this.initValue = initValue;
            return this;
        }

        /**
         * Builds the block.
         *
         * @return a new {@code LayerScale}
         */
        public LayerScale build() {
            if (!Float.isFinite(initValue)) {
                throw new IllegalArgumentException(
                        "LayerScale: initValue must be finite, got " + initValue);
            }
            return new LayerScale(this);
        }
    }
}
