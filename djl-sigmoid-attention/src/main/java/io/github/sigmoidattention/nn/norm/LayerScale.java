package io.github.sigmoidattention.nn.norm;

import ai.djl.ndarray.NDArray;
import ai.djl.training.initializer.ConstantInitializer;

/**
 * Multiplies each channel of the last axis by a learned gain initialised to a small value (Touvron
 * et al., 2021). On a residual branch it starts the branch near zero, which tames the large early
 * attention norms of sigmoid attention.
 *
 * <p>Input: one array of any rank ≥ 1; output: the same shape and data type.
 */
public final class LayerScale extends ChannelGainBlock {

    private final float initValue;

    private LayerScale(Builder builder) {
        super(new ConstantInitializer(builder.initValue));
        initValue = builder.initValue;
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

    @Override
    NDArray apply(NDArray x, NDArray g) {
        return x.mul(g);
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
