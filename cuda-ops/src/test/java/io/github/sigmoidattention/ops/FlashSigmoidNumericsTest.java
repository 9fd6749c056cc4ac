package io.github.sigmoidattention.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Extreme values, in every instruction set this CPU has: scores up to |s| = 1e4, biases of ±1e4,
 * float16 values near its largest finite value 65504, and what NaN and Inf inputs do. Finite input
 * never gives a NaN; a result beyond the largest finite value of the output's dtype becomes ±Inf
 * (the rounding PyTorch applies too). README "Reliability" states the Inf and NaN behaviour these
 * tests pin down.
 */
class FlashSigmoidNumericsTest {

    private static final long SEED = System.nanoTime();

    @BeforeAll
    static void load() {
        assertTrue(FlashSigmoidLibrary.isAvailable(), FlashSigmoidLibrary.getUnavailableReason());
    }

    /** A contiguous problem: the reference, its inputs, and the call. */
    private static final class Problem {
        final OpReference ref = new OpReference();
        final DataType type;
        float[] q;
        float[] k;
        float[] v;
        float[] gradOut;

        Problem(DataType type, int b, int tq, int tk, int h, int g, int d) {
            this.type = type;
            ref.b = b;
            ref.tq = tq;
            ref.tk = tk;
            ref.h = h;
            ref.g = g;
            ref.d = d;
            ref.scale = 1 / Math.sqrt(d);
            q = new float[b * tq * h * d];
            k = new float[b * tk * g * d];
            v = new float[b * tk * g * d];
            gradOut = new float[q.length];
        }

        Problem normal(Random r, double qk, double values) {
            for (float[] x : new float[][] {q, k}) {
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) (qk * r.nextGaussian());
                }
            }
            for (float[] x : new float[][] {v, gradOut}) {
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) (values * r.nextGaussian());
                }
            }
            return this;
        }

        private NDArray array(NDManager m, float[] data, int t, int heads) {
            NDArray x = m.create(data, new Shape(ref.b, t, heads, ref.d));
            return type == DataType.FLOAT32 ? x : PtArrays.toDataType(x, type);
        }

        /** Runs forward and backward; the reference sees the inputs as rounded to the dtype. */
        NDList run(NDManager m) {
            NDArray qa = array(m, q, ref.tq, ref.h);
            NDArray ka = array(m, k, ref.tk, ref.g);
            NDArray va = array(m, v, ref.tk, ref.g);
            NDArray ga = array(m, gradOut, ref.tq, ref.h);
            ref.q = FlashSigmoidOpTest.values(qa);
            ref.k = FlashSigmoidOpTest.values(ka);
            ref.v = FlashSigmoidOpTest.values(va);
            ref.forward();
            ref.backward(FlashSigmoidOpTest.values(ga));
            float scale = (float) ref.scale;
            float bias = (float) ref.bias;
            NDArray headBias = ref.headBias == null ? null : m.create(toFloat(ref.headBias));
            NDArray slopes = ref.slopes == null ? null : m.create(toFloat(ref.slopes));
            NDArray out =
                    FlashSigmoid.forward(
                            AttentionCall.of(qa, ka, va, scale, bias, ref.causal)
                                    .withHeadBias(headBias)
                                    .withAlibiSlopes(slopes));
            NDList grads =
                    FlashSigmoid.backward(
                            ga,
                            AttentionCall.of(qa, ka, va, scale, bias, ref.causal)
                                    .withHeadBias(headBias)
                                    .withAlibiSlopes(slopes));
            NDList all = new NDList(out);
            all.addAll(grads);
            return all;
        }

        /**
         * Every output and gradient matches the reference: finite and within the dtype's tolerance
         * where the exact value is representable, ±Inf of the right sign where it is not.
         */
        void check(NDManager m, String what) {
            NDList all = run(m);
            double[][] expected = {ref.out, ref.dq, ref.dk, ref.dv};
            String[] names = {"out", "dq", "dk", "dv"};
            double max = type == DataType.FLOAT16 ? 65504 : Float.MAX_VALUE;
            // Scores, biases and ALiBi terms of magnitude 1e4 are rounded in float32 by up to
            // 5e-4 each (half an ulp of 1e4) before the sigmoid, which can move a weight near 1/2
            // by a few 1e-4; measured up to 2.1e-4 relative. Hence 1e-3 for float32 here.
            double tol = type == DataType.FLOAT32 ? 1e-3 : FlashSigmoidOpTest.tolerance(type);
            for (int i = 0; i < 4; i++) {
                compare(
                        FlashSigmoidOpTest.values(all.get(i)),
                        expected[i],
                        max,
                        tol,
                        what + " " + type + " " + names[i]);
            }
        }
    }

    static float[] toFloat(double[] x) {
        float[] f = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            f[i] = (float) x[i];
        }
        return f;
    }

    static void compare(double[] actual, double[] expected, double max, double tol, String what) {
        assertEquals(expected.length, actual.length, what);
        double scale = 0;
        for (double e : expected) {
            if (Math.abs(e) <= max) {
                scale = Math.max(scale, Math.abs(e));
            }
        }
        for (int i = 0; i < actual.length; i++) {
            double a = actual[i];
            double e = expected[i];
            assertTrue(
                    !Double.isNaN(a),
                    what + "[" + i + "] is NaN, expected " + e + " (seed " + SEED + ")");
            if (Math.abs(e) > max * (1 + 1e-3)) {
                assertEquals(
                        Math.copySign(Double.POSITIVE_INFINITY, e),
                        a,
                        what + "[" + i + "]: overflow");
            } else if (Math.abs(e) < max * (1 - 1e-3)) {
                assertTrue(Double.isFinite(a), what + "[" + i + "] = " + a + ", expected " + e);
                // Relative to the largest finite expected value; where that is 0 (every weight
                // saturated), absolute, with 1e-6 as the unit.
                double err = Math.abs(a - e) / Math.max(scale, 1e-6);
                assertTrue(
                        err <= tol,
                        what
                                + "["
                                + i
                                + "]: "
                                + a
                                + " vs "
                                + e
                                + ", relative error "
                                + err
                                + " (seed "
                                + SEED
                                + ")");
            }
        }
    }

    @Test
    void scoresUpToTenThousand() {
        Isas.forEach(
                isa -> {
                    for (DataType type : new DataType[] {DataType.FLOAT32, DataType.FLOAT16}) {
                        try (NDManager m = NDManager.newBaseManager()) {
                            Problem p =
                                    new Problem(type, 2, 37, 45, 4, 2, 16)
                                            .normal(new Random(SEED), 1, 1);
                            // Scale so that the largest |q·k| · scale is 1e4.
                            double largest = 0;
                            for (int i = 0; i < 37 * 4; i++) {
                                for (int j = 0; j < 45 * 2; j++) {
                                    double s = 0;
                                    for (int e = 0; e < 16; e++) {
                                        s += p.q[i * 16 + e] * p.k[j * 16 + e];
                                    }
                                    largest = Math.max(largest, Math.abs(s));
                                }
                            }
                            p.ref.scale = (float) (1e4 / largest);
                            p.ref.bias = -3;
                            p.check(m, "[" + isa + "] |s| <= 1e4");
                            p.ref.causal = true;
                            p.check(m, "[" + isa + "] |s| <= 1e4, causal");
                        }
                    }
                });
    }

    @Test
    void biasesOfTenThousand() {
        Isas.forEach(
                isa -> {
                    for (DataType type : new DataType[] {DataType.FLOAT32, DataType.FLOAT16}) {
                        for (double bias : new double[] {1e4, -1e4}) {
                            try (NDManager m = NDManager.newBaseManager()) {
                                Problem p =
                                        new Problem(type, 1, 29, 70, 3, 3, 24)
                                                .normal(new Random(SEED), 1, 1);
                                p.ref.bias = bias;
                                p.check(m, "[" + isa + "] bias " + bias);
                                // Per-head biases of ±1e4 around a moderate scalar bias, and steep
                                // ALiBi.
                                p.ref.bias = -1;
                                p.ref.headBias = new double[] {bias, -bias, 0};
                                p.ref.slopes = new double[] {1e3, 0.5, 1e4};
                                p.check(
                                        m,
                                        "["
                                                + isa
                                                + "] head bias ±"
                                                + bias
                                                + ", ALiBi slopes to 1e4");
                            }
                        }
                    }
                });
        // Saturation is exact where it matters: a bias of 1e4 makes every weight exactly 1.
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q = m.randomNormal(new Shape(1, 5, 1, 8));
            NDArray kv = m.randomNormal(new Shape(1, 9, 1, 8));
            NDArray out = FlashSigmoid.forward(q, kv, kv, 0.3f, 1e4f, false);
            NDArray sum = kv.sum(new int[] {1}, true).broadcast(1, 5, 1, 8);
            assertTrue(out.sub(sum).abs().max().getFloat() <= 1e-5f * sum.abs().max().getFloat());
            NDArray none = FlashSigmoid.forward(q, kv, kv, 0.3f, -1e4f, false);
            assertTrue(
                    none.abs().max().getFloat() < 1e-30f, "bias -1e4 leaves " + none.abs().max());
        }
    }

    @Test
    void float16NearItsLargestValue() {
        Isas.forEach(
                isa -> {
                    try (NDManager m = NDManager.newBaseManager()) {
                        Random r = new Random(SEED);
                        // q and k near ±65504: every score saturates; values and gradients near the
                        // top.
                        Problem p = new Problem(DataType.FLOAT16, 1, 7, 1, 2, 1, 8).normal(r, 1, 1);
                        for (float[] x : new float[][] {p.q, p.k, p.v}) {
                            for (int i = 0; i < x.length; i++) {
                                x[i] = (r.nextBoolean() ? 1 : -1) * (60000f + r.nextInt(5504));
                            }
                        }
                        p.ref.bias = 0;
                        p.check(m, "[" + isa + "] fp16 near 65504, one key");
                        // Three keys of 65504 with weight 1: the exact output, 196512, overflows
                        // float16.
                        p = new Problem(DataType.FLOAT16, 1, 4, 3, 1, 1, 8).normal(r, 1, 1);
                        java.util.Arrays.fill(p.v, 65504f);
                        p.ref.bias = 1e4;
                        p.check(m, "[" + isa + "] fp16 output overflow");
                        NDArray out = p.run(m).get(0);
                        assertTrue(FlashSigmoidOpTest.values(out)[0] == Double.POSITIVE_INFINITY);
                    }
                });
    }

    /**
     * A causal problem (T = F = 150, H = 2, G = 1, D = 16) with element {@code index} of q, k or v
     * set to a special value: the op's output and the double loop's.
     */
    private static double[][] withSpecial(
            NDManager m, String operand, int index, float value, boolean padKey) {
        Problem p =
                new Problem(DataType.FLOAT32, 1, 150, 150, 2, 1, 16).normal(new Random(SEED), 1, 1);
        float[] target = operand.equals("q") ? p.q : operand.equals("k") ? p.k : p.v;
        target[index] = value;
        OpReference o = p.ref;
        o.causal = true;
        o.bias = -2;
        o.scale = 0.25;
        NDArray q = m.create(p.q, new Shape(1, 150, 2, 16));
        NDArray k = m.create(p.k, new Shape(1, 150, 1, 16));
        NDArray v = m.create(p.v, new Shape(1, 150, 1, 16));
        NDArray keep = null;
        if (padKey) {
            boolean[] mask = new boolean[150];
            java.util.Arrays.fill(mask, true);
            mask[index / 16] = false;
            keep = m.create(mask, new Shape(1, 1, 1, 150));
            o.keep = new boolean[2 * 150 * 150];
            for (int n = 0; n < o.keep.length; n++) {
                o.keep[n] = mask[n % 150];
            }
        }
        double[] out =
                FlashSigmoid.forward(AttentionCall.of(q, k, v, 0.25f, -2f, true).withKeep(keep))
                        .toType(DataType.FLOAT64, false)
                        .toDoubleArray();
        o.q = FlashSigmoidOpTest.values(q);
        o.k = FlashSigmoidOpTest.values(k);
        o.v = FlashSigmoidOpTest.values(v);
        o.forward();
        return new double[][] {out, o.out};
    }

    /** The query rows (of 150, two heads, D = 16) with a NaN in their output. */
    private static List<String> nanRows(double[] out) {
        List<String> rows = new ArrayList<>();
        for (int i = 0; i < 150; i++) {
            for (int h = 0; h < 2; h++) {
                boolean nan = false;
                for (int e = 0; e < 16; e++) {
                    nan |= Double.isNaN(out[(i * 2 + h) * 16 + e]);
                }
                if (nan) {
                    rows.add(i + "/" + h);
                }
            }
        }
        return rows;
    }

    private static List<String> rows(int from, int to, int... heads) {
        List<String> rows = new ArrayList<>();
        for (int i = from; i < to; i++) {
            for (int h : heads) {
                rows.add(i + "/" + h);
            }
        }
        return rows;
    }

    /**
     * NaN stays where the definition puts it: a NaN in query row i of head h makes exactly that
     * output row NaN; a NaN in key j makes NaN the rows of every query that sees key j (causal: i
     * >= j), and none when a key-padding mask hides j. ±Inf scores are weights 1 and 0.
     */
    /**
     * Where a NaN or Inf input leads, on a causal problem (T = F = 150, H = 2, G = 1): the op's
     * output rows that are NaN, and its values elsewhere, against the double loop. Rows in {@code
     * leaked} may be NaN although the loop's are not (0 · NaN and 0 · Inf in P · V).
     */
    private static void expect(
            double[][] r, List<String> nanRows, List<String> leaked, String what) {
        assertEquals(nanRows, nanRows(r[0]), what + ": NaN rows");
        double[] out = r[0];
        double[] ref = r[1];
        for (int n = 0; n < out.length; n++) {
            String row = (n / 32) + "/" + (n / 16 % 2);
            if (Double.isNaN(ref[n]) || leaked.contains(row)) {
                continue;
            }
            if (Double.isInfinite(ref[n])) {
                assertEquals(ref[n], out[n], what + "[" + n + "]");
            } else {
                assertTrue(
                        Math.abs(out[n] - ref[n]) <= 1e-4 * Math.max(1, Math.abs(ref[n])),
                        what + "[" + n + "]: " + out[n] + " vs " + ref[n]);
            }
        }
    }

    /**
     * A NaN in query row i of head h makes exactly that output row NaN. A NaN in key j makes NaN
     * the rows that see key j (causal: i >= j), none when a key-padding mask hides it. ±Inf in q or
     * k gives scores of ±Inf, weights 1 and 0 (no NaN). A NaN or ±Inf in value j reaches the rows
     * that see j (±Inf stays ±Inf there), and also, as NaN (0 · Inf, 0 · NaN), the earlier rows of
     * the same 64-query block that the causal mask hides it from; a key-padding mask zeroes the
     * padded values first, so they reach nothing.
     */
    @Test
    void nanAndInfInputs() {
        int q71h1 = (71 * 2 + 1) * 16 + 3;
        int key100 = 100 * 16 + 3;
        List<String> none = List.of();
        Isas.forEach(
                isa -> {
                    try (NDManager m = NDManager.newBaseManager()) {
                        for (boolean pad : new boolean[] {false, true}) {
                            String p = "[" + isa + "]" + (pad ? " padded" : "");
                            expect(
                                    withSpecial(m, "q", q71h1, Float.NaN, pad),
                                    List.of("71/1"),
                                    none,
                                    p + " NaN in q");
                            expect(
                                    withSpecial(m, "k", key100, Float.NaN, pad),
                                    pad ? none : rows(100, 150, 0, 1),
                                    none,
                                    p + " NaN in k");
                            expect(
                                    withSpecial(m, "v", key100, Float.NaN, pad),
                                    pad ? none : rows(64, 150, 0, 1),
                                    rows(64, 100, 0, 1),
                                    p + " NaN in v");
                            for (float inf :
                                    new float[] {
                                        Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY
                                    }) {
                                expect(
                                        withSpecial(m, "q", q71h1, inf, pad),
                                        none,
                                        none,
                                        p + " " + inf + " in q");
                                expect(
                                        withSpecial(m, "k", key100, inf, pad),
                                        none,
                                        none,
                                        p + " " + inf + " in k");
                                expect(
                                        withSpecial(m, "v", key100, inf, pad),
                                        pad ? none : rows(64, 100, 0, 1),
                                        rows(64, 100, 0, 1),
                                        p + " " + inf + " in v");
                            }
                        }
                    }
                });
    }
}
