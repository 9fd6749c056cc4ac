package io.github.sigmoidattention.testing;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;

/** Conversions between Java arrays and NDArrays, and error measures, for tests. */
public final class TestArrays {

    private TestArrays() {}

    public static byte[] save(ai.djl.nn.Block block) throws java.io.IOException {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.io.DataOutputStream os = new java.io.DataOutputStream(bytes)) {
            block.saveParameters(os);
        }
        return bytes.toByteArray();
    }

    public static void load(ai.djl.nn.Block block, NDManager manager, byte[] bytes)
            throws java.io.IOException, ai.djl.MalformedModelException {
        block.loadParameters(
                manager, new java.io.DataInputStream(new java.io.ByteArrayInputStream(bytes)));
    }

    /** Sets one element of a float64 array in place (also for arrays that require gradients). */
    public static void setElement(NDArray array, int index, double value) {
        double[] values = array.toDoubleArray();
        values[index] = value;
        java.nio.ByteBuffer buffer =
                java.nio.ByteBuffer.allocateDirect(values.length * 8)
                        .order(java.nio.ByteOrder.nativeOrder());
        buffer.asDoubleBuffer().put(values);
        array.set(buffer);
    }

    public static NDArray create(NDManager manager, double[][][] x, DataType type) {
        return manager.create(flatten(x), new Shape(x.length, x[0].length, x[0][0].length))
                .toType(type, false);
    }

    /** The parameter named {@code child_param}, ignoring DJL's two-digit child-order prefix. */
    public static Parameter param(ai.djl.nn.Block block, String name) {
        for (ai.djl.util.Pair<String, Parameter> p : block.getParameters()) {
            if (p.getKey().replaceFirst("^\\d\\d", "").equals(name)) {
                return p.getValue();
            }
        }
        throw new AssertionError("no parameter " + name + " in " + block.getParameters().keys());
    }

    public static NDArray mask(NDManager manager, boolean[][][] keep) {
        int a = keep.length;
        int b = keep[0].length;
        int c = keep[0][0].length;
        boolean[] flat = new boolean[a * b * c];
        int n = 0;
        for (boolean[][] m : keep) {
            for (boolean[] row : m) {
                for (boolean k : row) {
                    flat[n++] = k;
                }
            }
        }
        return manager.create(flat, new Shape(a, b, c));
    }

    public static NDArray mask(NDManager manager, boolean[][] keep) {
        int a = keep.length;
        int b = keep[0].length;
        float[] flat = new float[a * b];
        int n = 0;
        for (boolean[] row : keep) {
            for (boolean k : row) {
                flat[n++] = k ? 1f : 0f;
            }
        }
        return manager.create(flat, new Shape(a, b));
    }

    public static double[] flatten(double[][][] x) {
        double[] flat = new double[x.length * x[0].length * x[0][0].length];
        int n = 0;
        for (double[][] m : x) {
            for (double[] row : m) {
                for (double v : row) {
                    flat[n++] = v;
                }
            }
        }
        return flat;
    }

    public static double[] values(NDArray array) {
        return array.toType(DataType.FLOAT64, false).toDoubleArray();
    }

    public static double[] vector(Parameter p) {
        return values(p.getArray());
    }

    public static double[][] matrix(Parameter p) {
        Shape s = p.getArray().getShape();
        double[] flat = values(p.getArray());
        int rows = (int) s.get(0);
        int cols = (int) s.get(1);
        double[][] m = new double[rows][cols];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(flat, r * cols, m[r], 0, cols);
        }
        return m;
    }

    /** max |actual - expected| / max |expected|. */
    public static double relativeError(double[] actual, double[] expected) {
        if (actual.length != expected.length) {
            throw new AssertionError("length " + actual.length + " != expected " + expected.length);
        }
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < actual.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
            maxRef = Math.max(maxRef, Math.abs(expected[i]));
            if (Double.isNaN(actual[i])) {
                return Double.NaN;
            }
        }
        return maxRef == 0 ? maxDiff : maxDiff / maxRef;
    }
}
