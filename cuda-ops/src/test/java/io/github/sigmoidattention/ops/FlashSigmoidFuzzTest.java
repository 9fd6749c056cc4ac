package io.github.sigmoidattention.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A seeded property test of the op: random calls, valid and hostile, each of which must end in a
 * correct result or an {@link IllegalArgumentException} whose message names the problem; anything
 * else (another exception, a wrong shape, owner or value, a crash of the JVM) fails the build.
 *
 * <p>Shapes include 0, 1, primes and odd head dims; layouts contiguous, transposed, stride-0
 * (broadcast) and strided slices; float32, float16, bfloat16 and refused dtypes; NaN and Inf
 * values; non-finite scale and bias; mismatched heads, head dims, batches and optional arguments;
 * extents of 2^31 and more (stride-0 views, no memory); closed arrays, arrays of a closed manager,
 * and arrays of another manager. Valid calls with finite inputs are checked against {@link
 * OpReference}.
 *
 * <p>{@code -Dfuzz.seed=N} replays a run, {@code -Dfuzz.cases=N} changes its length (CI: 400).
 */
class FlashSigmoidFuzzTest {

    static final int CASES = Integer.getInteger("fuzz.cases", 400);

    /** What a case expects: null for a result, else a fragment of the refusal's message. */
    private static final class Call {
        final StringBuilder description = new StringBuilder();
        String refusal;
        boolean finite = true;
        boolean backward;
        NDArray q;
        NDArray k;
        NDArray v;
        NDArray gradOut;
        NDArray headBias;
        NDArray slopes;
        NDArray keep;
        float scale;
        float bias;
        boolean causal;

        void refuse(String fragment, String what) {
            if (refusal == null) {
                refusal = fragment;
            }
            description.append(' ').append(what);
        }
    }

    static long seed(String test) {
        long seed = Long.getLong("fuzz.seed", System.nanoTime());
        System.out.println(test + ": seed " + seed + " (replay with -Dfuzz.seed=" + seed + ")");
        return seed;
    }

    @Test
    void randomCallsEndInACorrectResultOrAClearRefusal() {
        assertTrue(FlashSigmoidLibrary.isAvailable(), FlashSigmoidLibrary.getUnavailableReason());
        long seed = seed("FlashSigmoidFuzzTest");
        int ran = 0;
        int checked = 0;
        int refused = 0;
        for (int n = 0; n < CASES; n++) {
            Random r = new Random(seed + n);
            try (NDManager m = NDManager.newBaseManager();
                    NDManager other = NDManager.newBaseManager()) {
                Call c = draw(m, other, r);
                String where = "case " + n + " (seed " + seed + ")" + c.description;
                Boolean result = run(c, where);
                if (result == null) {
                    refused++;
                } else {
                    ran++;
                    checked += result ? 1 : 0;
                }
            }
        }
        System.out.printf(
                "FlashSigmoidFuzzTest: %d cases: %d ran (%d checked against the double loop), %d refused%n",
                CASES, ran, checked, refused);
        assertTrue(ran > CASES / 4 && refused > CASES / 10, ran + " ran, " + refused + " refused");
    }

    /** Runs a call; null when refused as expected, else whether it was checked against the loop. */
    private static Boolean run(Call c, String where) {
        NDArray out;
        NDList grads = null;
        try {
            out =
                    FlashSigmoid.forward(
                            AttentionCall.of(c.q, c.k, c.v, c.scale, c.bias, c.causal)
                                    .withHeadBias(c.headBias)
                                    .withAlibiSlopes(c.slopes)
                                    .withKeep(c.keep));
            if (c.backward) {
                grads =
                        FlashSigmoid.backward(
                                c.gradOut,
                                AttentionCall.of(c.q, c.k, c.v, c.scale, c.bias, c.causal)
                                        .withHeadBias(c.headBias)
                                        .withAlibiSlopes(c.slopes)
                                        .withKeep(c.keep));
            }
        } catch (IllegalArgumentException e) {
            if (c.refusal == null) {
                throw new AssertionError(where + ": refused a valid call: " + e.getMessage(), e);
            }
            assertTrue(
                    e.getMessage() != null && e.getMessage().contains(c.refusal),
                    where + ": message '" + e.getMessage() + "' lacks '" + c.refusal + "'");
            return null;
        } catch (RuntimeException e) {
            throw new AssertionError(where + ": " + e, e);
        }
        if (c.refusal != null) {
            fail(where + ": ran a call that should be refused for '" + c.refusal + "'");
        }
        Shape qs = c.q.getShape();
        assertEquals(qs, out.getShape(), where);
        assertSame(c.q.getManager(), out.getManager(), where + ": output not owned by q's manager");
        if (grads != null) {
            assertEquals(4, grads.size(), where);
            assertEquals(qs, grads.get(0).getShape(), where);
            assertEquals(c.k.getShape(), grads.get(1).getShape(), where);
            assertEquals(c.k.getShape(), grads.get(2).getShape(), where);
            assertEquals(new Shape(qs.get(2)), grads.get(3).getShape(), where);
            for (NDArray g : grads) {
                assertSame(
                        c.q.getManager(),
                        g.getManager(),
                        where + ": gradient not owned by q's manager");
            }
        }
        long work = qs.size() * c.k.getShape().get(1);
        if (!c.finite || work > 3_000_000) {
            return false;
        }
        OpReference ref = reference(c);
        ref.forward();
        DataType type =
                c.q.getDataType() == DataType.UNKNOWN ? DataType.BFLOAT16 : c.q.getDataType();
        double tol = FlashSigmoidOpTest.tolerance(type);
        double err = FlashSigmoidOpTest.relativeError(FlashSigmoidOpTest.values(out), ref.out);
        assertTrue(err < tol, where + ": forward relative error " + err);
        if (grads != null) {
            ref.backward(FlashSigmoidOpTest.values(c.gradOut));
            double[][] expected = {ref.dq, ref.dk, ref.dv};
            for (int i = 0; i < 3; i++) {
                double e =
                        FlashSigmoidOpTest.relativeError(
                                FlashSigmoidOpTest.values(grads.get(i)), expected[i]);
                assertTrue(e < tol, where + ": gradient " + i + " relative error " + e);
            }
        }
        return true;
    }

    private static OpReference reference(Call c) {
        OpReference o = new OpReference();
        Shape qs = c.q.getShape();
        Shape ks = c.k.getShape();
        o.b = (int) qs.get(0);
        o.tq = (int) qs.get(1);
        o.h = (int) qs.get(2);
        o.d = (int) qs.get(3);
        o.tk = (int) ks.get(1);
        o.g = (int) ks.get(2);
        o.scale = c.scale;
        o.bias = c.bias;
        o.causal = c.causal;
        o.q = FlashSigmoidOpTest.values(c.q);
        o.k = FlashSigmoidOpTest.values(c.k);
        o.v = FlashSigmoidOpTest.values(c.v);
        if (c.headBias != null && c.headBias.size() > 0) {
            o.headBias = c.headBias.toType(DataType.FLOAT64, false).toDoubleArray();
        }
        if (c.slopes != null && c.slopes.size() > 0) {
            o.slopes = c.slopes.toType(DataType.FLOAT64, false).toDoubleArray();
        }
        if (c.keep != null && c.keep.size() > 0) {
            o.keep =
                    c.keep.toType(DataType.BOOLEAN, false)
                            .broadcast(o.b, o.h, o.tq, o.tk)
                            .toBooleanArray();
        }
        return o;
    }

    private static int pick(Random r, int... values) {
        return values[r.nextInt(values.length)];
    }

    private static Call draw(NDManager m, NDManager other, Random r) {
        Call c = new Call();
        int b = r.nextInt(12) == 0 ? 0 : pick(r, 1, 1, 2, 3);
        int tq = pick(r, 0, 1, 1, 2, 3, 5, 7, 13, 31, 64, 65, 127);
        int tk = r.nextInt(3) == 0 ? tq : pick(r, 0, 1, 2, 3, 5, 11, 17, 64, 129);
        int h = pick(r, 1, 1, 2, 3, 4, 5, 6, 8);
        int g = h;
        if (r.nextBoolean()) {
            do {
                g = 1 + r.nextInt(h);
            } while (h % g != 0);
        }
        int d = pick(r, 0, 1, 2, 3, 7, 8, 16, 31, 64, 96, 128);
        int kd = d;
        DataType type =
                r.nextInt(10) < 6
                        ? DataType.FLOAT32
                        : r.nextBoolean() ? DataType.FLOAT16 : DataType.BFLOAT16;
        DataType kvType = type;
        c.description.append(
                String.format(" B=%d Tq=%d Tk=%d H=%d G=%d D=%d %s", b, tq, tk, h, g, d, type));

        // At most one hostile variation per case, so that the expected message is known: shapes
        // and types (0-4), optional arguments (5-7), arrays (8-13).
        int hostile = r.nextInt(40);
        if (hostile == 0) {
            g = h + 1;
            c.refuse("heads", "G=" + g);
        } else if (hostile == 1) {
            kd = d + 1;
            c.refuse("head dim", "kD=" + kd);
        } else if (hostile == 2) {
            d = 1025;
            kd = 1025;
            tq = Math.min(tq, 2);
            tk = Math.min(tk, 2);
            c.refuse("exceeds the supported 1024", "D=1025");
        } else if (hostile == 3) {
            kvType = type == DataType.FLOAT32 ? DataType.FLOAT16 : DataType.FLOAT32;
            c.refuse("need one dtype", "kv " + kvType);
        } else if (hostile == 4) {
            type = r.nextBoolean() ? DataType.FLOAT64 : DataType.INT32;
            kvType = type;
            c.refuse("must be float32, float16 or bfloat16", "dtype " + type);
        }

        boolean special = r.nextInt(8) == 0;
        c.finite = !special;
        c.q = operand(m, r, new Shape(b, tq, h, d), type, special, "q", c);
        NDManager kvManager = m;
        if (r.nextInt(15) == 0) {
            kvManager = other;
            c.description.append(" kv-of-another-manager");
        }
        c.k = operand(kvManager, r, new Shape(b, tk, g, kd), kvType, false, "k", c);
        c.v = operand(kvManager, r, new Shape(b, tk, g, kd), kvType, false, "v", c);
        c.scale = d > 0 ? (float) (1 / Math.sqrt(d)) : 1f;
        c.bias = (float) (-Math.log(Math.max(tk, 1)) + r.nextGaussian());
        c.causal = r.nextBoolean();

        if (r.nextInt(4) == 0 || hostile == 5) {
            boolean wrong = hostile == 5;
            c.headBias = wrong ? m.randomNormal(new Shape(h + 1)) : m.randomNormal(new Shape(h));
            if (wrong) {
                c.refuse("head_bias must have shape", "headBias (H+1)");
            }
        }
        if (r.nextInt(4) == 0 || hostile == 6) {
            boolean wrong = hostile == 6;
            float[] s = new float[h];
            for (int i = 0; i < h; i++) {
                s[i] = (float) Math.pow(2, -8.0 * (i + 1) / h);
            }
            c.slopes = m.create(s);
            if (wrong) {
                c.slopes = c.slopes.toType(DataType.FLOAT64, false);
                c.refuse("alibi_slopes must be float32", "slopes float64");
            }
        }
        if (r.nextInt(4) == 0 || (hostile == 7 && tk > 0)) {
            long[] full = {b, h, tq, tk};
            long[] ks = new long[4];
            for (int i = 0; i < 4; i++) {
                ks[i] = r.nextBoolean() ? full[i] : 1;
            }
            boolean wrong = hostile == 7 && tk > 0;
            if (wrong) {
                ks[3] = tk + 1;
                c.refuse("keep must be 4-D", "keep Tk+1");
            }
            c.keep = m.randomUniform(0, 1, new Shape(ks)).gt(0.25);
            if (r.nextBoolean()) {
                c.keep = c.keep.toType(DataType.UINT8, false);
            }
            c.description.append(" keep=").append(c.keep.getShape());
        }
        c.backward = r.nextBoolean() || hostile == 8;
        if (c.backward) {
            Shape gs = new Shape(b, tq, h, d);
            if (hostile == 8) {
                gs = new Shape(b, tq, h, d + 1);
                c.refuse("grad_out must have the shape of q", "gradOut D+1");
            }
            c.gradOut = operand(m, r, gs, type, false, "gradOut", c);
        }

        // Hostile arrays, made last so that the arrays above exist.
        if (hostile == 9) {
            c.q = c.q.reshape(b, tq, (long) h * d);
            c.refuse("q must be 4-D", "q 3-D");
        } else if (hostile == 10) {
            c.k.close();
            c.refuse("k: the NDArray has been closed", "k closed");
        } else if (hostile == 11) {
            NDManager dead = NDManager.newBaseManager();
            c.v = dead.randomNormal(c.v.getShape());
            dead.close();
            c.refuse("v: the NDArray has been closed", "v of a closed manager");
        } else if (hostile == 12) {
            c.q = null;
            c.refuse("q must not be null", "q null");
        } else if (hostile == 13 || hostile == 14) {
            // A dimension of 2^31 or more: a broadcast view of one element, refused untouched.
            long huge = hostile == 13 ? 1L << 31 : (1L << 40) + 7;
            long[] dims = {1, 1, 1, 1};
            int at = r.nextInt(4);
            dims[at] = huge;
            NDArray wide = m.randomNormal(new Shape(1, 1, 1, 1)).broadcast(dims);
            if (r.nextBoolean()) {
                c.q = wide;
            } else {
                c.k = wide;
                c.v = wide;
            }
            c.refuse("above the 2^31 - 1", "dim " + at + " = " + huge);
        } else if (hostile == 15 || hostile == 16) {
            // A NaN or infinite scale or bias would make every weight NaN (0 * inf).
            float value =
                    new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}
                            [r.nextInt(3)];
            String name = hostile == 15 ? "scale" : "bias";
            if (hostile == 15) {
                c.scale = value;
            } else {
                c.bias = value;
            }
            // Checked before anything else, so it is the refusal even where a shape is refused too.
            c.refusal = name + " must be a finite number";
            c.description.append(' ').append(name).append(" = ").append(value);
        }
        return c;
    }

    /** Random values in a random layout, in {@code type}; special puts a NaN or an Inf in it. */
    private static NDArray operand(
            NDManager m,
            Random r,
            Shape shape,
            DataType type,
            boolean special,
            String name,
            Call c) {
        int layout = r.nextInt(5);
        long b = shape.get(0);
        long t = shape.get(1);
        long heads = shape.get(2);
        long d = shape.get(3);
        Shape stored;
        switch (layout) {
            case 1: // (B, heads, T, D) transposed to (B, T, heads, D)
                stored = new Shape(b, heads, t, d);
                break;
            case 2: // one batch and one time step, broadcast: strides 0
                stored = new Shape(b > 0 ? 1 : 0, t > 0 ? 1 : 0, heads, d);
                break;
            case 3: // every other element of a twice-as-wide last dimension
                stored = new Shape(b, t, heads, 2 * d);
                break;
            default:
                stored = shape;
        }
        float[] data = new float[(int) stored.size()];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) r.nextGaussian();
        }
        if (special && data.length > 0) {
            float[] specials = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
            data[r.nextInt(data.length)] = specials[r.nextInt(3)];
            c.description.append(' ').append(name).append(" has NaN/Inf");
        }
        NDArray x = m.create(data, stored);
        if (type != DataType.FLOAT32) {
            x = type == DataType.INT32 ? x.toType(type, false) : PtArrays.toDataType(x, type);
        }
        switch (layout) {
            case 1:
                x = x.transpose(0, 2, 1, 3);
                break;
            case 2:
                x = x.broadcast(shape);
                break;
            case 3:
                x = x.get(new NDIndex(":, :, :, ::2"));
                break;
            default:
        }
        if (layout != 0) {
            c.description
                    .append(' ')
                    .append(name)
                    .append(new String[] {"", "T", "E", "S", ""}[layout]);
        }
        return x;
    }
}
