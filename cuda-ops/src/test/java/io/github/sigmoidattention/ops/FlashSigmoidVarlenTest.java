package io.github.sigmoidattention.ops;

import static io.github.sigmoidattention.ops.FlashSigmoidOpTest.relativeError;
import static io.github.sigmoidattention.ops.FlashSigmoidOpTest.tolerance;
import static io.github.sigmoidattention.ops.FlashSigmoidOpTest.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Variable-length batches: the varlen op on a right-padded batch equals running each sequence alone
 * through the double-precision {@link OpReference} on its own keys, and the padding (filled with
 * NaN) is never read.
 */
class FlashSigmoidVarlenTest {

    @BeforeAll
    static void load() {
        assertTrue(FlashSigmoidLibrary.isAvailable(), FlashSigmoidLibrary.getUnavailableReason());
    }

    /**
     * One random padded batch. Self-attention cases (Tq = Tk, causal and ALiBi allowed) compare the
     * first L_b query rows of sequence b with a run on its first L_b queries and keys; the others
     * (Tq != Tk, no causal mask, no ALiBi, decode-like) compare every query row with a run on the
     * first L_b keys.
     */
    private static void check(long seed, DataType type, boolean int64Lengths) {
        Random r = new Random(seed);
        int[] heads = {1, 2, 4, 8};
        int h = heads[r.nextInt(heads.length)];
        int g;
        do {
            g = 1 + r.nextInt(h);
        } while (h % g != 0);
        int[] dims = {8, 16, 32, 64, 80, 128};
        int d = dims[r.nextInt(dims.length)];
        int b = 2 + r.nextInt(3);
        boolean self = r.nextBoolean();
        int tk = r.nextInt(4) == 0 ? 200 + r.nextInt(400) : 1 + r.nextInt(40);
        int tq = self ? tk : 1 + r.nextInt(r.nextBoolean() ? 4 : 40);
        boolean causal = self && r.nextBoolean();
        boolean alibi = self && r.nextBoolean();
        boolean headBias = r.nextBoolean();
        double scale = 1 / Math.sqrt(d);
        double bias = -Math.log(tk) + r.nextGaussian();
        int[] lengths = new int[b];
        for (int i = 0; i < b; i++) {
            int kind = r.nextInt(5);
            lengths[i] = kind == 0 ? 0 : kind == 1 ? tk : r.nextInt(tk + 1);
        }
        double[] hb = new double[h];
        double[] slopes = new double[h];
        for (int i = 0; i < h; i++) {
            hb[i] = r.nextGaussian();
            slopes[i] = Math.pow(2, -8.0 * (i + 1) / h);
        }
        String what =
                String.format(
                        "seed=%d %s B=%d Tq=%d Tk=%d H=%d G=%d D=%d causal=%b alibi=%b headBias=%b"
                                + " lengths=%s",
                        seed,
                        type,
                        b,
                        tq,
                        tk,
                        h,
                        g,
                        d,
                        causal,
                        alibi,
                        headBias,
                        Arrays.toString(lengths));

        try (NDManager m = NDManager.newBaseManager()) {
            float[] qv = gaussian(r, b * tq * h * d);
            float[] kv = gaussian(r, b * tk * g * d);
            float[] vv = gaussian(r, b * tk * g * d);
            float[] go = gaussian(r, b * tq * h * d);
            for (int bi = 0; bi < b; bi++) {
                // Padded keys and values hold NaN: reading them would poison the output.
                for (int j = lengths[bi]; j < tk; j++) {
                    int at = (bi * tk + j) * g * d;
                    Arrays.fill(kv, at, at + g * d, Float.NaN);
                    Arrays.fill(vv, at, at + g * d, Float.NaN);
                }
                // Padded query rows get no output gradient, so that they add nothing that a
                // per-sequence run would not see.
                if (self) {
                    for (int i = lengths[bi]; i < tq; i++) {
                        int at = (bi * tq + i) * h * d;
                        Arrays.fill(go, at, at + h * d, 0f);
                    }
                }
            }
            NDArray q = input(m, qv, new Shape(b, tq, h, d), type);
            NDArray k = input(m, kv, new Shape(b, tk, g, d), type);
            NDArray v = input(m, vv, new Shape(b, tk, g, d), type);
            NDArray gradOut = input(m, go, new Shape(b, tq, h, d), type);
            double[] qd = values(q);
            double[] kd = values(k);
            double[] vd = values(v);
            double[] god = values(gradOut);
            NDArray lens =
                    int64Lengths
                            ? m.create(Arrays.stream(lengths).asLongStream().toArray())
                            : m.create(lengths);
            NDArray headBiasArray = headBias ? m.create(toFloats(hb)) : null;
            NDArray slopeArray = alibi ? m.create(toFloats(slopes)) : null;

            NDArray out =
                    FlashSigmoid.forward(
                            AttentionCall.of(q, k, v, (float) scale, (float) bias, causal)
                                    .withHeadBias(headBiasArray)
                                    .withAlibiSlopes(slopeArray)
                                    .withKeyLengths(lens));
            NDList grads =
                    FlashSigmoid.backward(
                            gradOut,
                            AttentionCall.of(q, k, v, (float) scale, (float) bias, causal)
                                    .withHeadBias(headBiasArray)
                                    .withAlibiSlopes(slopeArray)
                                    .withKeyLengths(lens));
            double[] outd = values(out);
            double[] dq = values(grads.get(0));
            double[] dk = values(grads.get(1));
            double[] dv = values(grads.get(2));
            double[] dHeadBias = grads.get(3).toType(DataType.FLOAT64, false).toDoubleArray();

            double tol = tolerance(type);
            double[] expectedHeadBias = new double[h];
            for (int bi = 0; bi < b; bi++) {
                int len = lengths[bi];
                int rows = self ? len : tq;
                OpReference o = new OpReference();
                o.b = 1;
                o.tq = rows;
                o.tk = len;
                o.h = h;
                o.g = g;
                o.d = d;
                o.scale = scale;
                o.bias = bias;
                o.causal = causal;
                o.headBias = headBias ? hb : null;
                o.slopes = alibi ? slopes : null;
                o.q = slice(qd, bi, tq, h * d, rows);
                o.k = slice(kd, bi, tk, g * d, len);
                o.v = slice(vd, bi, tk, g * d, len);
                o.forward();
                o.backward(slice(god, bi, tq, h * d, rows));
                String at = what + " sequence " + bi;
                double e = relativeError(slice(outd, bi, tq, h * d, rows), o.out);
                assertTrue(e < tol, at + ": forward relative error " + e);
                e = relativeError(slice(dq, bi, tq, h * d, rows), o.dq);
                assertTrue(e < tol, at + ": dq relative error " + e);
                e = relativeError(slice(dk, bi, tk, g * d, len), o.dk);
                assertTrue(e < tol, at + ": dk relative error " + e);
                e = relativeError(slice(dv, bi, tk, g * d, len), o.dv);
                assertTrue(e < tol, at + ": dv relative error " + e);
                for (int j = len * g * d; j < tk * g * d; j++) {
                    int idx = bi * tk * g * d + j;
                    assertEquals(0.0, dk[idx], at + ": dk past the length");
                    assertEquals(0.0, dv[idx], at + ": dv past the length");
                }
                for (int i = 0; i < h; i++) {
                    expectedHeadBias[i] += o.dHeadBias[i];
                }
            }
            double e = relativeError(dHeadBias, expectedHeadBias);
            assertTrue(e < tol + 1e-4, what + ": head-bias gradient relative error " + e);
        }
    }

    @Test
    void varlenEqualsPerSequenceRuns() {
        long base = System.nanoTime();
        int n = 0;
        for (DataType type :
                new DataType[] {DataType.FLOAT32, DataType.FLOAT16, DataType.BFLOAT16}) {
            for (int i = 0; i < 10; i++, n++) {
                check(base + n, type, n % 2 == 0);
            }
        }
    }

    @Test
    void badKeyLengthsAreRejected() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q = m.randomNormal(new Shape(2, 5, 4, 8));
            NDArray k = m.randomNormal(new Shape(2, 7, 2, 8));
            NDArray v = m.randomNormal(new Shape(2, 7, 2, 8));
            expect(() -> run(q, k, v, m.create(new int[] {3, 8})), "k_lens[1] = 8", "[0, Tk = 7]");
            expect(() -> run(q, k, v, m.create(new int[] {-1, 2})), "k_lens[0] = -1");
            expect(
                    () -> run(q, k, v, m.create(new int[] {1, 2, 3})),
                    "k_lens must have shape [2]",
                    "[3]");
            expect(
                    () -> run(q, k, v, m.create(new float[] {1, 2})),
                    "k_lens must be int32 or int64",
                    "float32");
            expect(
                    () -> run(q, k, v, m.create(new int[] {1, 2, 3, 4}, new Shape(2, 2))),
                    "k_lens must have shape [2]",
                    "[2, 2]");
            expect(
                    () ->
                            FlashSigmoid.backward(
                                    q,
                                    AttentionCall.of(q, k, v, 0.3f, -1f, false)
                                            .withKeyLengths(m.create(new long[] {7, 9}))),
                    "k_lens[1] = 9");
        }
    }

    private static NDArray run(NDArray q, NDArray k, NDArray v, NDArray lens) {
        return FlashSigmoid.forward(
                AttentionCall.of(q, k, v, 0.3f, -1f, false).withKeyLengths(lens));
    }

    private static void expect(Runnable call, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "'" + e.getMessage() + "' lacks '" + f + "'");
        }
    }

    private static float[] gaussian(Random r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    private static float[] toFloats(double[] x) {
        float[] f = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            f[i] = (float) x[i];
        }
        return f;
    }

    private static NDArray input(NDManager m, float[] data, Shape shape, DataType type) {
        NDArray x = m.create(data, shape);
        return type == DataType.FLOAT32 ? x : PtArrays.toDataType(x, type);
    }

    /** Rows [0, rows) of batch entry bi of a flat (B, T, width) array. */
    private static double[] slice(double[] x, int bi, int t, int width, int rows) {
        return Arrays.copyOfRange(x, bi * t * width, bi * t * width + rows * width);
    }
}
