package io.github.sigmoidattention.nn.norm;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import io.github.sigmoidattention.nn.util.Casts;

/**
 * Root-mean-square normalisation over the last axis with a learned per-channel gain: {@code y = x /
 * sqrt(mean(x²) + eps) · gamma} (Zhang and Sennrich, 2019). DJL has {@link
 * ai.djl.nn.norm.LayerNorm} but no RMSNorm.
 *
 * <p>Input: one array of any rank ≥ 1; output: the same shape and data type. Float16 input is
 * normalised in float32 so that the mean of squares cannot overflow.
 */
public final class RmsNorm extends ChannelGainBlock {

    private final float epsilon;

    private RmsNorm(Builder builder) {
        super(null);
        epsilon = builder.epsilon;
    }

    /**
     * Creates a builder for an {@code RmsNorm}.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the epsilon added to the mean of squares.
     *
     * @return the epsilon
     */
    public float getEpsilon() {
        return epsilon;
    }

    /**
     * Normalises {@code x} over its last axis and multiplies by {@code gamma}.
     *
     * @param x the input
     * @param gamma the gain, shape (last dimension of x)
     * @param epsilon added to the mean of squares
     * @return the normalised array, same shape and data type as x
     */
    public static NDArray rmsNorm(NDArray x, NDArray gamma, float epsilon) {
        DataType dataType = x.getDataType();
        NDArray xs = dataType == DataType.FLOAT16 ? Casts.to(x, DataType.FLOAT32) : x;
        NDArray meanSquare = xs.square().mean(new int[] {-1}, true);
        NDArray normalised = Casts.to(xs.div(meanSquare.add(epsilon).sqrt()), dataType);
        return normalised.mul(gamma);
    }

    @Override
    NDArray apply(NDArray x, NDArray g) {
        return rmsNorm(x, g, epsilon);
    }

    /** The builder of an {@link RmsNorm}. */
    public static final class Builder {

        private float epsilon = 1e-6f;

        private Builder() {}

        /**
         * Sets the epsilon added to the mean of squares (default 1e-6).
         *
         * @param epsilon a positive number
         * @return this builder
         */
        public Builder optEpsilon(float epsilon) {
            this.epsilon = epsilon;
            return this;
        }

        /**
         * Builds the block.
         *
         * @return a new {@code RmsNorm}
         */
        public RmsNorm build() {
            if (!(epsilon > 0) || !Float.isFinite(epsilon)) {
                throw new IllegalArgumentException(
                        "RmsNorm: epsilon must be a positive finite number, got " + epsilon);
            }
            return new RmsNorm(this);
        }
    }
}
