package io.github.sigmoidattention.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import io.github.sigmoidattention.nn.attention.SigmoidMultiHeadAttention;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * One training step of a case's block: its output, the input's gradient and every parameter's
 * gradient, for comparing kernels, data types and devices on the same parameters and inputs.
 */
public final class BlockGradients {

    private BlockGradients() {}

    /**
     * Runs the case's block (built in {@code type} on {@code m}'s device) in training mode and
     * back-propagates a weighted sum of its output (weights from the case's seed).
     *
     * @return the output (real rows), the input's gradient, then each parameter's gradient
     */
    public static List<double[]> of(AttentionCase c, NDManager m, DataType type) {
        SigmoidMultiHeadAttention block = c.block(m, type);
        NDList inputs = c.inputs(m, type);
        NDArray x = inputs.head();
        x.setRequiresGradient(true);
        List<double[]> result = new ArrayList<>();
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray out =
                    block.forward(new ParameterStore(m, false), inputs, true, c.forwardParams())
                            .head();
            Random random = new Random(c.seed);
            double[] w = new double[Math.toIntExact(out.getShape().size())];
            for (int i = 0; i < w.length; i++) {
                w[i] = random.nextDouble() * 2 - 1;
            }
            gc.backward(out.mul(m.create(w, out.getShape()).toType(type, false)).sum());
            result.add(c.realRows(TestArrays.values(out)));
        }
        result.add(TestArrays.values(x.getGradient()));
        for (Pair<String, Parameter> p : block.getParameters()) {
            result.add(TestArrays.values(p.getValue().getArray().getGradient()));
        }
        return result;
    }

    /** Asserts every entry of {@link #of} within a relative (max-norm) tolerance. */
    public static void assertClose(
            List<double[]> expected, List<double[]> actual, double tolerance, String what) {
        assertEquals(expected.size(), actual.size(), what);
        for (int i = 0; i < expected.size(); i++) {
            double error = TestArrays.relativeError(actual.get(i), expected.get(i));
            assertTrue(
                    error < tolerance,
                    what + (i == 0 ? ": output" : ": gradient " + i) + " relative error " + error);
        }
    }

    /**
     * Asserts that {@code actual} is, entry by entry of {@link #of}, no less accurate against
     * {@code exact} than {@code baseline} (the same computation in the same precision by another
     * kernel): within {@code factor} times the baseline's relative error, or within {@code floor}.
     * For comparisons in which the problem's own conditioning (cancellation in a summed gradient)
     * sets the error, not the kernel.
     */
    public static void assertNoLessAccurate(
            List<double[]> exact,
            List<double[]> baseline,
            List<double[]> actual,
            double factor,
            double floor,
            String what) {
        assertEquals(exact.size(), actual.size(), what);
        for (int i = 0; i < exact.size(); i++) {
            double error = TestArrays.relativeError(actual.get(i), exact.get(i));
            double baselineError = TestArrays.relativeError(baseline.get(i), exact.get(i));
            assertTrue(
                    error < Math.max(floor, factor * baselineError),
                    what
                            + (i == 0 ? ": output" : ": gradient " + i)
                            + " relative error "
                            + error
                            + ", the baseline's "
                            + baselineError);
        }
    }

    /**
     * Asserts that every entry of {@link #of} points the same way as the expected one (cosine
     * similarity at least {@code minCosine}) with a length within {@code lengthTolerance}: for
     * comparing precisions, where a single element may round far off through cancellation but a
     * gradient cut or scrambled fails at once.
     */
    public static void assertFollows(
            List<double[]> expected,
            List<double[]> actual,
            double minCosine,
            double lengthTolerance,
            String what) {
        assertEquals(expected.size(), actual.size(), what);
        for (int i = 0; i < expected.size(); i++) {
            double[] e = expected.get(i);
            double[] a = actual.get(i);
            assertEquals(e.length, a.length, what);
            double dot = 0;
            double ee = 0;
            double aa = 0;
            for (int j = 0; j < e.length; j++) {
                dot += e[j] * a[j];
                ee += e[j] * e[j];
                aa += a[j] * a[j];
            }
            if (ee == 0) {
                assertEquals(0, aa, what + ": entry " + i + " should be zero");
                continue;
            }
            double cosine = dot / Math.sqrt(ee * aa);
            double length = Math.sqrt(aa / ee);
            String name = i == 0 ? ": output" : ": gradient " + i;
            assertTrue(
                    cosine >= minCosine && Math.abs(length - 1) <= lengthTolerance,
                    what + name + " cosine " + cosine + ", length ratio " + length);
        }
    }
}
