package io.github.sigmoidattention.nn;

/**
 * The sigmoid-specific choices for attention that replaces DJL's softmax attention, as {@link
 * SigmoidConversions} and {@link SigmoidBertBlock} take them: the bias b, the kernel and the
 * query/key normalisation. Everything structural comes from the DJL model.
 */
public final class SigmoidOptions {

    private static final SigmoidOptions DEFAULTS = builder().build();

    private final SigmoidBias bias;
    private final AttentionKernel kernel;
    private final QkNorm qkNorm;

    private SigmoidOptions(Builder builder) {
        bias = builder.bias;
        kernel = builder.kernel;
        qkNorm = builder.qkNorm;
    }

    /**
     * Returns the default options: b = -ln n per call (n the key length), {@link
     * AttentionKernel#AUTO}, no QK-norm.
     *
     * @return the defaults
     */
    public static SigmoidOptions defaults() {
        return DEFAULTS;
    }

    /**
     * Creates a builder, with the defaults of {@link #defaults()}.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the attention bias.
     *
     * @return the bias
     */
    public SigmoidBias getBias() {
        return bias;
    }

    /**
     * Returns the attention kernel.
     *
     * @return the kernel
     */
    public AttentionKernel getKernel() {
        return kernel;
    }

    /**
     * Returns the query/key normalisation.
     *
     * @return the normalisation
     */
    public QkNorm getQkNorm() {
        return qkNorm;
    }

    /** Applies these options to an attention builder. */
    SigmoidMultiHeadAttention.Builder applyTo(SigmoidMultiHeadAttention.Builder attention) {
        return attention.optBias(bias).optKernel(kernel).optQkNorm(qkNorm);
    }

    /** Applies these options to an encoder builder. */
    SigmoidTransformerEncoderBlock.Builder applyTo(SigmoidTransformerEncoderBlock.Builder encoder) {
        return encoder.optBias(bias).optKernel(kernel).optQkNorm(qkNorm);
    }

    @Override
    public String toString() {
        return "SigmoidOptions(bias=" + bias + ", kernel=" + kernel + ", qkNorm=" + qkNorm + ")";
    }

    /** The builder of {@link SigmoidOptions}; every option has a default. */
    public static final class Builder {

        private SigmoidBias bias = SigmoidBias.negLogLength();
        private AttentionKernel kernel = AttentionKernel.AUTO;
        private QkNorm qkNorm = QkNorm.NONE;

        private Builder() {}

        /**
         * Sets the attention bias (default {@link SigmoidBias#negLogLength()}, b = -ln n).
         *
         * @param bias the bias
         * @return this builder
         */
        public Builder optBias(SigmoidBias bias) {
            this.bias = Arguments.requireNonNull("bias", bias);
            return this;
        }

        /**
         * Sets the attention kernel (default {@link AttentionKernel#AUTO}).
         *
         * @param kernel the kernel
         * @return this builder
         */
        public Builder optKernel(AttentionKernel kernel) {
            this.kernel = Arguments.requireNonNull("kernel", kernel);
            return this;
        }

        /**
         * Sets the query/key normalisation (default none). Its gains are new parameters that a
         * DJL model does not have; they start at their initial values.
         *
         * @param qkNorm the normalisation
         * @return this builder
         */
        public Builder optQkNorm(QkNorm qkNorm) {
            this.qkNorm = Arguments.requireNonNull("qkNorm", qkNorm);
            return this;
        }

        /**
         * Builds the options.
         *
         * @return the options
         */
        public SigmoidOptions build() {
            return new SigmoidOptions(this);
        }
    }
}
