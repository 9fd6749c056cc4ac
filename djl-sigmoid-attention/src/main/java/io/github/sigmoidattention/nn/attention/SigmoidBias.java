package io.github.sigmoidattention.nn.attention;

import java.util.Objects;

/**
 * The scalar {@code b} added to every attention score before the sigmoid: {@code sigmoid(q·k/√d +
 * b)}.
 *
 * <p>With {@code b = -ln n} (n the sequence length) the initial attention norm matches softmax
 * attention, which is what makes sigmoid attention train as well as softmax (Ramapuram et al.,
 * 2024). Instances are immutable.
 */
public final class SigmoidBias {

    /** How the bias value is obtained. */
    public enum Kind {
        /** A fixed value. */
        CONSTANT,
        /** {@code -ln n} for a fixed n, such as the maximum training length. */
        NEG_LOG,
        /** {@code -ln F}, with F the key length of each call. */
        NEG_LOG_LENGTH,
        /** One trainable scalar per head. */
        LEARNED
    }

    private static final SigmoidBias NEG_LOG_LENGTH = new SigmoidBias(Kind.NEG_LOG_LENGTH, 0f, 0);

    private final Kind kind;
    private final float value;
    private final int length;

    private SigmoidBias(Kind kind, float value, int length) {
        this.kind = kind;
        this.value = value;
        this.length = length;
    }

    /**
     * Returns a fixed bias.
     *
     * @param b the bias, a finite number
     * @return the bias
     */
    public static SigmoidBias constant(float b) {
        requireFinite("b", b);
        return new SigmoidBias(Kind.CONSTANT, b, 0);
    }

    /**
     * Returns {@code b = -ln n} for a fixed n, the paper's default with n the maximum training
     * sequence length.
     *
     * @param n the length, at least 1
     * @return the bias
     */
    public static SigmoidBias negLog(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("SigmoidBias.negLog: n must be >= 1, got " + n);
        }
        return new SigmoidBias(Kind.NEG_LOG, (float) -Math.log(n), n);
    }

    /**
     * Returns {@code b = -ln F}, with F the key sequence length of each forward call.
     *
     * @return the bias
     */
    public static SigmoidBias negLogLength() {
        return NEG_LOG_LENGTH;
    }

    /**
     * Returns one trainable bias per head, each initialised to {@code init}.
     *
     * @param init the initial value, a finite number
     * @return the bias
     */
    public static SigmoidBias learned(float init) {
        requireFinite("init", init);
        return new SigmoidBias(Kind.LEARNED, init, 0);
    }

    /**
     * Returns how the bias value is obtained.
     *
     * @return the kind
     */
    public Kind getKind() {
        return kind;
    }

    /**
     * Returns whether the bias is a trainable parameter.
     *
     * @return true for {@link Kind#LEARNED}
     */
    public boolean isLearned() {
        return kind == Kind.LEARNED;
    }

    /**
     * Returns the fixed value, or the initial value of a learned bias; 0 for {@link
     * Kind#NEG_LOG_LENGTH}.
     *
     * @return the value
     */
    public float getValue() {
        return value;
    }

    /**
     * Returns the bias for a call with the given key length; not defined for learned biases.
     *
     * @param keyLength F, the key sequence length of the call
     * @return the bias value
     */
    public double valueFor(long keyLength) {
        switch (kind) {
            case CONSTANT:
                return value;
            case NEG_LOG:
                return -Math.log(length);
            case NEG_LOG_LENGTH:
                return -Math.log(keyLength);
            default:
                throw new IllegalStateException(
                        "A learned bias has a value per head, not one value");
        }
    }

    static SigmoidBias of(Kind kind, float value, int length) {
        switch (kind) {
            case CONSTANT:
                return constant(value);
            case NEG_LOG:
                return negLog(length);
            case NEG_LOG_LENGTH:
                return negLogLength();
            case LEARNED:
                return learned(value);
            default:
                throw new IllegalArgumentException("Unknown bias kind: " + kind);
        }
    }

    /**
     * Returns n of {@link #negLog(int)}, 0 for the other kinds.
     *
     * @return n, or 0
     */
    public int getLength() {
        return length;
    }

    private static void requireFinite(String name, float v) {
        if (!Float.isFinite(v)) {
            throw new IllegalArgumentException(
                    "SigmoidBias: " + name + " must be finite, got " + v);
        }
    }

    /** {@inheritDoc} */
    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof SigmoidBias)) {
            return false;
        }
        SigmoidBias other = (SigmoidBias) o;
        return kind == other.kind
                && Float.compare(value, other.value) == 0
                && length == other.length;
    }

    /** {@inheritDoc} */
    @Override
    public int hashCode() {
        return Objects.hash(kind, value, length);
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        switch (kind) {
            case CONSTANT:
                return "constant(" + value + ")";
            case NEG_LOG:
                return "negLog(" + length + ")";
            case NEG_LOG_LENGTH:
                return "negLogLength()";
            default:
                return "learned(" + value + ")";
        }
    }
}
