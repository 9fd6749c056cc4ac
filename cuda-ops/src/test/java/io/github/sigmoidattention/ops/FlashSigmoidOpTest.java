package io.github.sigmoidattention.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The fused op through the JNI bridge and PyTorch's dispatcher against {@link OpReference}, on
 * fresh random shapes, options, strides and data, for every dtype and every instruction set this
 * CPU has.
 */
class FlashSigmoidOpTest {

    @BeforeAll
    static void load() {
        assertTrue(FlashSigmoidLibrary.isAvailable(), FlashSigmoidLibrary.getUnavailableReason());
    }

    static double tolerance(DataType type) {
        switch (type) {
            case FLOAT32:
                return 2e-5;
            case FLOAT16:
                return 5e-3;
            default:
                return 3e-2;
        }
    }

    static double relativeError(double[] actual, double[] expected) {
        assertEquals(expected.length, actual.length);
        double diff = 0;
        double ref = 0;
        for (int i = 0; i < actual.length; i++) {
            if (!Double.isFinite(actual[i])) {
                return Double.POSITIVE_INFINITY;
            }
            diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
            ref = Math.max(ref, Math.abs(expected[i]));
        }
        return ref == 0 ? diff : diff / ref;
    }

    static double[] values(NDArray x) {
        return PtArrays.toDataType(x, DataType.FLOAT64).toDoubleArray();
    }

    /** A random case: its reference, its NDArrays, and a description for failures. */
    static final class Case {
        final OpReference ref = new OpReference();
        final DataType type;
        final String description;
        NDArray q;
        NDArray k;
        NDArray v;
        NDArray gradOut;
        double[] gradOutValues;
        NDArray headBias;
        NDArray slopes;
        NDArray keep;

        Case(NDManager m, long seed, DataType type) {
            this(m, seed, type, -1, -1);
        }

        /** Lengths of -1 are drawn at random. */
        Case(NDManager m, long seed, DataType type, int queryLength, int keyLength) {
            Random r = new Random(seed);
            this.type = type;
            OpReference o = ref;
            int[] heads = {1, 2, 3, 4, 8};
            o.h = heads[r.nextInt(heads.length)];
            do {
                o.g = 1 + r.nextInt(o.h);
            } while (o.h % o.g != 0);
            int[] dims = {1, 5, 16, 32, 48, 64, 80, 128};
            o.d = dims[r.nextInt(dims.length)];
            o.b = 1 + r.nextInt(2);
            boolean big = r.nextInt(4) == 0;
            o.tq = big ? 60 + r.nextInt(200) : 1 + r.nextInt(20);
            o.tk = r.nextInt(3) == 0 ? o.tq : (big ? 60 + r.nextInt(200) : 1 + r.nextInt(20));
            if (queryLength > 0) {
                o.tq = queryLength;
                o.tk = keyLength;
            }
            o.scale = 1 / Math.sqrt(o.d);
            o.bias = -Math.log(o.tk) + r.nextGaussian();
            o.causal = r.nextBoolean();
            int maskKind = r.nextInt(4);
            boolean transposedQ = r.nextBoolean();
            boolean expandedKv = o.b > 1 && r.nextInt(3) == 0;

            // Values are rounded to the dtype first, so the reference sees what the kernel sees.
            q =
                    input(
                            m,
                            r,
                            transposedQ
                                    ? new Shape(o.b, o.h, o.tq, o.d)
                                    : new Shape(o.b, o.tq, o.h, o.d));
            if (transposedQ) {
                q = q.transpose(0, 2, 1, 3);
            }
            Shape kvShape = new Shape(expandedKv ? 1 : o.b, o.tk, o.g, o.d);
            k = input(m, r, kvShape);
            v = input(m, r, kvShape);
            if (expandedKv) {
                k = k.broadcast(o.b, o.tk, o.g, o.d);
                v = v.broadcast(o.b, o.tk, o.g, o.d);
            }
            gradOut = input(m, r, new Shape(o.b, o.tq, o.h, o.d));
            o.q = values(q);
            o.k = values(k);
            o.v = values(v);
            gradOutValues = values(gradOut);

            if (r.nextInt(3) == 0) {
                o.headBias = new double[o.h];
                float[] f = new float[o.h];
                for (int i = 0; i < o.h; i++) {
                    f[i] = (float) r.nextGaussian();
                    o.headBias[i] = f[i];
                }
                headBias = m.create(f);
            }
            if (r.nextInt(3) == 0) {
                o.slopes = new double[o.h];
                float[] f = new float[o.h];
                for (int i = 0; i < o.h; i++) {
                    f[i] = (float) Math.pow(2, -8.0 * (i + 1) / o.h);
                    o.slopes[i] = f[i];
                }
                slopes = m.create(f);
            }
            if (maskKind > 0) {
                // 1: dense (B, H, Tq, Tk); 2: key padding (B, 1, 1, Tk); 3: shared (1, 1, Tq, Tk).
                Shape ms =
                        maskKind == 1
                                ? new Shape(o.b, o.h, o.tq, o.tk)
                                : maskKind == 2
                                        ? new Shape(o.b, 1, 1, o.tk)
                                        : new Shape(1, 1, o.tq, o.tk);
                boolean[] mask = new boolean[(int) ms.size()];
                for (int i = 0; i < mask.length; i++) {
                    mask[i] = r.nextInt(4) != 0;
                }
                keep = m.create(mask, ms);
                o.keep = new boolean[o.b * o.h * o.tq * o.tk];
                for (int bi = 0; bi < o.b; bi++) {
                    for (int hi = 0; hi < o.h; hi++) {
                        for (int i = 0; i < o.tq; i++) {
                            for (int j = 0; j < o.tk; j++) {
                                long at =
                                        ((ms.get(0) == 1 ? 0 : bi) * ms.get(1)
                                                                + (ms.get(1) == 1 ? 0 : hi))
                                                        * ms.get(2)
                                                        * ms.get(3)
                                                + (ms.get(2) == 1 ? 0 : i) * ms.get(3)
                                                + j;
                                o.keep[((bi * o.h + hi) * o.tq + i) * o.tk + j] = mask[(int) at];
                            }
                        }
                    }
                }
            }
            description =
                    String.format(
                            "seed=%d %s B=%d Tq=%d Tk=%d H=%d G=%d D=%d causal=%b mask=%d"
                                    + " headBias=%b alibi=%b transposedQ=%b expandedKv=%b",
                            seed,
                            type,
                            o.b,
                            o.tq,
                            o.tk,
                            o.h,
                            o.g,
                            o.d,
                            o.causal,
                            maskKind,
                            headBias != null,
                            slopes != null,
                            transposedQ,
                            expandedKv);
        }

        private NDArray input(NDManager m, Random r, Shape shape) {
            float[] data = new float[(int) shape.size()];
            for (int i = 0; i < data.length; i++) {
                data[i] = (float) r.nextGaussian();
            }
            NDArray x = m.create(data, shape);
            return type == DataType.FLOAT32 ? x : PtArrays.toDataType(x, type);
        }

        void check() {
            OpReference o = ref;
            NDArray out =
                    FlashSigmoid.forward(
                            AttentionCall.of(q, k, v, (float) o.scale, (float) o.bias, o.causal)
                                    .withHeadBias(headBias)
                                    .withAlibiSlopes(slopes)
                                    .withKeep(keep));
            assertEquals(new Shape(o.b, o.tq, o.h, o.d), out.getShape(), description);
            o.forward();
            double tol = tolerance(type);
            double err = relativeError(values(out), o.out);
            assertTrue(err < tol, description + ": forward relative error " + err);

            NDList grads =
                    FlashSigmoid.backward(
                            gradOut,
                            AttentionCall.of(q, k, v, (float) o.scale, (float) o.bias, o.causal)
                                    .withHeadBias(headBias)
                                    .withAlibiSlopes(slopes)
                                    .withKeep(keep));
            o.backward(gradOutValues);
            String[] names = {"dq", "dk", "dv"};
            double[][] expected = {o.dq, o.dk, o.dv};
            for (int i = 0; i < 3; i++) {
                double e = relativeError(values(grads.get(i)), expected[i]);
                assertTrue(e < tol, description + ": " + names[i] + " relative error " + e);
            }
            assertEquals(DataType.FLOAT32, grads.get(3).getDataType());
            double e =
                    relativeError(
                            grads.get(3).toType(DataType.FLOAT64, false).toDoubleArray(),
                            o.dHeadBias);
            assertTrue(e < tol + 1e-4, description + ": head-bias gradient relative error " + e);
        }
    }

    @Test
    void randomCasesMatchTheDoubleLoopInEveryDtypeAndInstructionSet() {
        long base = System.nanoTime();
        int[] n = {0};
        Isas.forEach(
                isa -> {
                    for (DataType type :
                            new DataType[] {
                                DataType.FLOAT32, DataType.FLOAT16, DataType.BFLOAT16
                            }) {
                        for (int i = 0; i < 12; i++, n[0]++) {
                            try (NDManager m = NDManager.newBaseManager()) {
                                new Case(m, base + n[0], type).check();
                            }
                        }
                    }
                });
    }

    /**
     * Decode shapes (few queries, long keys) with many threads: the forward splits the key range
     * across threads and sums the partial outputs (split-KV); 17 queries take the unsplit path.
     */
    @Test
    void decodeShapesWithSplitKeys() {
        long base = System.nanoTime();
        int threads = CpuKernels.getNumThreads();
        CpuKernels.setNumThreads(16);
        try {
            int[][] lengths = {{1, 2000}, {2, 1100}, {4, 3000}, {16, 700}, {17, 900}};
            // Split (the default) and unsplit: both against the double-precision reference.
            for (boolean split : new boolean[] {true, false}) {
                CpuKernels.setSplitKv(split);
                org.junit.jupiter.api.Assertions.assertEquals(split, CpuKernels.isSplitKv());
                for (int i = 0; i < lengths.length; i++) {
                    for (DataType type : new DataType[] {DataType.FLOAT32, DataType.BFLOAT16}) {
                        try (NDManager m = NDManager.newBaseManager()) {
                            new Case(
                                            m,
                                            base + 2 * i + (type == DataType.FLOAT32 ? 0 : 1),
                                            type,
                                            lengths[i][0],
                                            lengths[i][1])
                                    .check();
                        }
                    }
                }
            }
        } finally {
            CpuKernels.setSplitKv(true);
            CpuKernels.setNumThreads(threads);
        }
    }

    @Test
    void singleQueriesAndSingleKeys() {
        long base = System.nanoTime();
        int[][] lengths = {{1, 1}, {1, 37}, {29, 1}, {1, 300}, {130, 1}};
        for (int i = 0; i < lengths.length; i++) {
            try (NDManager m = NDManager.newBaseManager()) {
                new Case(m, base + i, DataType.FLOAT32, lengths[i][0], lengths[i][1]).check();
            }
        }
    }
}
