package io.github.sigmoidattention.nn.attention;

import ai.djl.ndarray.types.DataType;
import io.github.sigmoidattention.nn.util.Arguments;

/**
 * The options of sigmoid attention, declared once and shared: by {@link
 * SigmoidMultiHeadAttention.Builder}, by the encoder and BERT blocks' builders (which pass them to
 * their attention), and by the conversions of DJL blocks. Immutable; {@link #builder()} makes one.
 *
 * <table>
 *   <caption>Options and defaults</caption>
 *   <tr><th>option</th><th>default</th></tr>
 *   <tr><td>kvHeadCount G (GQA; 1 is MQA)</td><td>H</td></tr>
 *   <tr><td>bias</td><td>{@link SigmoidBias#negLogLength()}</td></tr>
 *   <tr><td>causal (bottom-right aligned)</td><td>false</td></tr>
 *   <tr><td>kernel</td><td>{@link AttentionKernel#AUTO}</td></tr>
 *   <tr><td>qkNorm, qkNormEpsilon</td><td>{@link QkNorm#NONE}, 1e-5</td></tr>
 *   <tr><td>alibi</td><td>false</td></tr>
 *   <tr><td>rope, ropeBase</td><td>false, 10000</td></tr>
 *   <tr><td>attentionDropout (on the weights, in training)</td><td>0</td></tr>
 *   <tr><td>computeType (of the fused kernel)</td><td>the inputs' type</td></tr>
 * </table>
 */
public final class AttentionOptions {

    private static final AttentionOptions DEFAULTS = builder().build();

    private final int kvHeadCount;
    private final SigmoidBias bias;
    private final boolean causal;
    private final AttentionKernel kernel;
    private final QkNorm qkNorm;
    private final float qkNormEpsilon;
    private final boolean alibi;
    private final boolean rope;
    private final float ropeBase;
    private final float attentionDropout;
    private final DataType computeType;

    private AttentionOptions(Setters<?> s) {
        kvHeadCount = s.kvHeadCount;
        bias = s.bias;
        causal = s.causal;
        kernel = s.kernel;
        qkNorm = s.qkNorm;
        qkNormEpsilon = s.qkNormEpsilon;
        alibi = s.alibi;
        rope = s.rope;
        ropeBase = s.ropeBase;
        attentionDropout = s.attentionDropout;
        computeType = s.computeType;
    }

    /**
     * Returns the default options.
     *
     * @return the defaults
     */
    public static AttentionOptions defaults() {
        return DEFAULTS;
    }

    /**
     * Creates a builder of options.
     *
     * @return a new builder with the defaults
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns G, or 0 for as many key/value heads as query heads.
     *
     * @return G, or 0
     */
    public int getKvHeadCount() {
        return kvHeadCount;
    }

    /**
     * Returns the key/value heads for {@code headCount} query heads.
     *
     * @param headCount H
     * @return G
     */
    public int kvHeadsFor(int headCount) {
        return kvHeadCount > 0 ? kvHeadCount : headCount;
    }

    /**
     * Returns the bias added to every score.
     *
     * @return the bias
     */
    public SigmoidBias getBias() {
        return bias;
    }

    /**
     * Returns whether key j is hidden from query i when j &gt; i + F - T.
     *
     * @return true if causal
     */
    public boolean isCausal() {
        return causal;
    }

    /**
     * Returns the requested kernel.
     *
     * @return the kernel
     */
    public AttentionKernel getKernel() {
        return kernel;
    }

    /**
     * Returns the normalisation of queries and keys over the head dimension.
     *
     * @return the normalisation
     */
    public QkNorm getQkNorm() {
        return qkNorm;
    }

    /**
     * Returns the epsilon of the query/key normalisation.
     *
     * @return epsilon
     */
    public float getQkNormEpsilon() {
        return qkNormEpsilon;
    }

    /**
     * Returns whether ALiBi offsets are added to the scores.
     *
     * @return true with ALiBi
     */
    public boolean isAlibi() {
        return alibi;
    }

    /**
     * Returns whether queries and keys are rotated (RoPE).
     *
     * @return true with RoPE
     */
    public boolean isRope() {
        return rope;
    }

    /**
     * Returns the base of the RoPE frequencies.
     *
     * @return the base
     */
    public float getRopeBase() {
        return ropeBase;
    }

    /**
     * Returns the dropout rate on the attention weights in training.
     *
     * @return the rate
     */
    public float getAttentionDropout() {
        return attentionDropout;
    }

    /**
     * Returns the data type the fused kernel computes in, or null for the inputs' own.
     *
     * @return the type, or null
     */
    public DataType getComputeType() {
        return computeType;
    }

    /**
     * Checks the options against a block's sizes.
     *
     * @param embeddingSize E
     * @param headCount H
     * @throws IllegalArgumentException naming the option and the values when they do not fit
     */
    public void requireFits(int embeddingSize, int headCount) {
        Arguments.requirePositive("embeddingSize", embeddingSize);
        Arguments.requirePositive("headCount", headCount);
        if (embeddingSize % headCount != 0) {
            throw new IllegalArgumentException(
                    "embeddingSize ("
                            + embeddingSize
                            + ") must be divisible by headCount ("
                            + headCount
                            + ")");
        }
        int g = kvHeadsFor(headCount);
        if (headCount % g != 0) {
            throw new IllegalArgumentException(
                    "headCount (" + headCount + ") must be divisible by kvHeadCount (" + g + ")");
        }
        int headDim = embeddingSize / headCount;
        if (rope && headDim % 2 != 0) {
            throw new IllegalArgumentException(
                    "RoPE needs an even head dimension, got D = "
                            + embeddingSize
                            + " / "
                            + headCount
                            + " = "
                            + headDim);
        }
    }

    @Override
    public String toString() {
        return "AttentionOptions(kvHeadCount="
                + (kvHeadCount > 0 ? String.valueOf(kvHeadCount) : "H")
                + ", bias="
                + bias
                + ", causal="
                + causal
                + ", kernel="
                + kernel
                + ", qkNorm="
                + qkNorm
                + (qkNorm == QkNorm.NONE ? "" : "(" + qkNormEpsilon + ")")
                + ", alibi="
                + alibi
                + ", rope="
                + (rope ? String.valueOf(ropeBase) : "false")
                + ", attentionDropout="
                + attentionDropout
                + (computeType == null ? "" : ", computeType=" + computeType)
                + ")";
    }

    /**
     * The setters of the attention options, shared by every builder that configures sigmoid
     * attention: {@code opt*} methods that check their argument at once.
     *
     * @param <B> the builder
     */
    public abstract static class Setters<B extends Setters<B>> {

        private int kvHeadCount;
        private SigmoidBias bias = SigmoidBias.negLogLength();
        private boolean causal;
        private AttentionKernel kernel = AttentionKernel.AUTO;
        private QkNorm qkNorm = QkNorm.NONE;
        private float qkNormEpsilon = 1e-5f;
        private boolean alibi;
        private boolean rope;
        private float ropeBase = 10000f;
        private float attentionDropout;
        private DataType computeType;

        /** Creates setters with the defaults. */
        protected Setters() {}

        /**
         * Returns this builder.
         *
         * @return this
         */
        protected abstract B self();

        /**
         * Returns the options set so far.
         *
         * @return the options
         */
        protected AttentionOptions attentionOptions() {
            return new AttentionOptions(this);
        }

        /**
         * Sets every attention option at once.
         *
         * @param options the options
         * @return this builder
         */
        public B optAttentionOptions(AttentionOptions options) {
            Arguments.requireNonNull("options", options);
            kvHeadCount = options.kvHeadCount;
            bias = options.bias;
            causal = options.causal;
            kernel = options.kernel;
            qkNorm = options.qkNorm;
            qkNormEpsilon = options.qkNormEpsilon;
            alibi = options.alibi;
            rope = options.rope;
            ropeBase = options.ropeBase;
            attentionDropout = options.attentionDropout;
            computeType = options.computeType;
            return self();
        }

        /**
         * Sets the number of key/value heads G for grouped-query (1 &lt; G &lt; H) or multi-query
         * (G = 1) attention; query head h reads key/value head h / (H / G). Default: H.
         *
         * @param kvHeadCount G, a divisor of H
         * @return this builder
         */
        public B optKvHeadCount(int kvHeadCount) {
            if (kvHeadCount < 1) {
                throw new IllegalArgumentException("kvHeadCount must be >= 1, got " + kvHeadCount);
            }
            this.kvHeadCount = kvHeadCount;
            return self();
        }

        /**
         * Sets the bias added to every score (default {@link SigmoidBias#negLogLength()}).
         *
         * @param bias the bias
         * @return this builder
         */
        public B optBias(SigmoidBias bias) {
            this.bias = Arguments.requireNonNull("bias", bias);
            return self();
        }

        /**
         * Sets causal masking: key j is masked for query i when j &gt; i + F - T (aligned at the
         * bottom right, as FlashAttention does when T ≠ F). Default false.
         *
         * @param causal whether to mask future keys
         * @return this builder
         */
        public B optCausal(boolean causal) {
            this.causal = causal;
            return self();
        }

        /**
         * Sets the kernel (default {@link AttentionKernel#AUTO}).
         *
         * @param kernel the kernel
         * @return this builder
         */
        public B optKernel(AttentionKernel kernel) {
            this.kernel = Arguments.requireNonNull("kernel", kernel);
            return self();
        }

        /**
         * Sets the normalisation of queries and keys over the head dimension (default none).
         *
         * @param qkNorm the normalisation
         * @return this builder
         */
        public B optQkNorm(QkNorm qkNorm) {
            this.qkNorm = Arguments.requireNonNull("qkNorm", qkNorm);
            return self();
        }

        /**
         * Sets the epsilon of the query/key normalisation (default 1e-5).
         *
         * @param epsilon a positive finite number
         * @return this builder
         */
        public B optQkNormEpsilon(float epsilon) {
            if (!(epsilon > 0) || !Float.isFinite(epsilon)) {
                throw new IllegalArgumentException(
                        "qkNormEpsilon must be a positive finite number, got " + epsilon);
            }
            this.qkNormEpsilon = epsilon;
            return self();
        }

        /**
         * Enables ALiBi: {@code -slope_h · |i + F - T - j|} added to every score, with the
         * geometric slopes of Press et al. (2022).
         *
         * @param alibi whether to add ALiBi offsets
         * @return this builder
         */
        public B optAlibi(boolean alibi) {
            this.alibi = alibi;
            return self();
        }

        /**
         * Enables rotary position embeddings on queries and keys (the "rotate half" layout).
         *
         * @param rope whether to rotate queries and keys
         * @return this builder
         */
        public B optRope(boolean rope) {
            this.rope = rope;
            return self();
        }

        /**
         * Enables RoPE with the given base (default 10000).
         *
         * @param base the base of the rotation frequencies, &gt; 1
         * @return this builder
         */
        public B optRopeBase(float base) {
            if (!(base > 1) || !Float.isFinite(base)) {
                throw new IllegalArgumentException(
                        "ropeBase must be a finite number > 1, got " + base);
            }
            this.rope = true;
            this.ropeBase = base;
            return self();
        }

        /**
         * Sets the dropout rate on the attention weights in training (default 0); it runs on the
         * reference kernel.
         *
         * @param rate the rate, in [0, 1]
         * @return this builder
         */
        public B optAttentionDropout(float rate) {
            Arguments.requireRate("attentionDropout", rate);
            this.attentionDropout = rate;
            return self();
        }

        /**
         * Sets the data type the fused kernel computes in (default: the inputs' own). The CUDA
         * kernels compute float16 and bfloat16 only: with float32 parameters on a GPU, {@code
         * DataType.BFLOAT16} (or {@code FLOAT16}) runs them, casting q, k and v before the kernel
         * and its output back (PyTorch converts; the parameters stay float32); without it such
         * inputs run the reference kernel. The reference kernel ignores it.
         *
         * @param type {@code FLOAT32}, {@code FLOAT16} or {@code BFLOAT16}; null for the inputs'
         *     own
         * @return this builder
         */
        public B optComputeType(DataType type) {
            if (type != null
                    && type != DataType.FLOAT32
                    && type != DataType.FLOAT16
                    && type != DataType.BFLOAT16) {
                throw new IllegalArgumentException(
                        "computeType: expected FLOAT32, FLOAT16 or BFLOAT16, got " + type);
            }
            this.computeType = type;
            return self();
        }
    }

    /** The builder of {@link AttentionOptions}. */
    public static final class Builder extends Setters<Builder> {

        private Builder() {}

        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Builds the options.
         *
         * @return the options
         */
        public AttentionOptions build() {
            return attentionOptions();
        }
    }
}
