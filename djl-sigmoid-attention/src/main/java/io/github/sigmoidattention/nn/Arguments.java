package io.github.sigmoidattention.nn;

/** Builder argument checks whose messages name the argument and the value. */
final class Arguments {

    private Arguments() {}

    static void requirePositive(String name, int value) {
        if (value < 1) {
            throw new IllegalArgumentException(
                    name + " must be set to a positive value, got " + value);
        }
    }

    static void requireRate(String name, float value) {
        if (!(value >= 0 && value <= 1)) {
            throw new IllegalArgumentException(name + " must be in [0, 1], got " + value);
        }
    }

    static <T> T requireNonNull(String name, T value) {
        if (value == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        return value;
    }
}
