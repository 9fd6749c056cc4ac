package io.github.sigmoidattention.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;

import io.github.sigmoidattention.ops.FlashSigmoid;

import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.function.Supplier;

/**
 * A seeded property test of the block and of {@link SigmoidAttention#attend} on the fused kernel:
 * random configurations and inputs, valid ones checked against the double loop, hostile ones
 * (wrong widths, ranks, masks, heads, head dims, dtypes, closed arrays, NaN and Inf values) ending
 * in an IllegalArgumentException, IllegalStateException or UnsupportedOperationException with a
 * message, or, for non-finite values, an output of the right shape.
 *
 * <p>{@code -Dfuzz.seed=N} replays a run, {@code -Dfuzz.cases=N} changes its length (CI: 200).
 */
class BlockFuzzTest {

    static final int CASES = Integer.getInteger("fuzz.cases", 200);

    private enum Outcome {
        CHECKED,
        RAN,
        REFUSED
    }

    /** Runs a call that must either succeed or be refused with a clear message. */
    private static Outcome attempt(String where, boolean mayRefuse, Supplier<NDArray> call, Shape expected) {
        NDArray out;
        try {
            out = call.get();
        } catch (IllegalArgumentException | IllegalStateException | UnsupportedOperationException e) {
            assertTrue(mayRefuse, where + ": refused a valid call: " + e);
            assertTrue(e.getMessage() != null && e.getMessage().length() > 10, where + ": unclear message: " + e);
            return Outcome.REFUSED;
        } catch (RuntimeException e) {
            throw new AssertionError(where + ": " + e, e);
        }
        assertEquals(expected, out.getShape(), where);
        return Outcome.RAN;
    }

    @Test
    void randomBlockAndAttendCalls() {
        assertTrue(FlashSigmoid.isAvailable(), FlashSigmoid.getUnavailableReason());
        long seed = Long.getLong("fuzz.seed", System.nanoTime());
        System.out.println("BlockFuzzTest: seed " + seed + " (replay with -Dfuzz.seed=" + seed + ")");
        int[] counts = new int[Outcome.values().length];
        for (int n = 0; n < CASES; n++) {
            Random r = new Random(seed + n);
            String where = "case " + n + " (seed " + seed + ")";
            try (NDManager m = NDManager.newBaseManager()) {
                Outcome o = r.nextBoolean() ? blockCase(m, r, seed + n, where) : attendCase(m, r, where);
                counts[o.ordinal()]++;
            }
        }
        System.out.printf(
                "BlockFuzzTest: %d cases: %d checked against the double loop, %d ran with odd input, %d refused%n",
                CASES, counts[0], counts[1], counts[2]);
        assertTrue(counts[0] > CASES / 5 && counts[2] > CASES / 10, java.util.Arrays.toString(counts));
    }

    private static Outcome blockCase(NDManager m, Random r, long seed, String where) {
        AttentionCase c = AttentionCase.random(seed);
        c.kernel = r.nextBoolean() ? AttentionKernel.FUSED : AttentionKernel.AUTO;
        DataType type = r.nextInt(4) == 0 ? DataType.FLOAT16 : DataType.FLOAT32;
        SigmoidMultiHeadAttention block = c.block(m, type);
        c.drawInputs();
        where += " " + c + " " + type;
        int hostile = r.nextInt(3) == 0 ? r.nextInt(6) : -1;
        if (hostile < 0) {
            NDArray out = c.run(block, m, type, false);
            double tol = type == DataType.FLOAT32 ? 1e-5 : 2e-2;
            double error = TestArrays.relativeError(TestArrays.values(out), TestArrays.flatten(c.reference(block)));
            assertTrue(error < tol, where + ": relative error " + error);
            return Outcome.CHECKED;
        }
        NDList inputs = c.inputs(m, type);
        NDArray x = inputs.get(0); // X, or K in cross-attention
        Shape expected = new Shape(c.batch, c.queryLength, c.options.embeddingSize);
        boolean mayRefuse = true;
        switch (hostile) {
            case 0: // one more channel than the block's width
                inputs.set(0, m.randomNormal(new Shape(x.getShape().get(0), x.getShape().get(1), x.getShape().get(2) + 1)).toType(type, false));
                where += " width+1";
                break;
            case 1: // rank 2
                inputs.set(0, x.reshape(x.getShape().get(0), -1));
                where += " rank 2";
                break;
            case 2: // a mask of the wrong length
                inputs.add(m.ones(new Shape(x.getShape().get(0), x.getShape().get(1) + 2)));
                where += " mask of the wrong length";
                break;
            case 3: // a closed input
                x.close();
                where += " closed input";
                break;
            case 4: // float64 input to float32 parameters (or float16)
                inputs.set(0, x.toType(DataType.FLOAT64, false));
                where += " float64 input";
                break;
            default: // NaN and Inf: must run
                float[] data = x.toType(DataType.FLOAT32, false).toFloatArray();
                data[r.nextInt(data.length)] = Float.NaN;
                data[r.nextInt(data.length)] = Float.POSITIVE_INFINITY;
                inputs.set(0, m.create(data, x.getShape()).toType(type, false));
                mayRefuse = false;
                where += " NaN and Inf";
        }
        final String at = where;
        Outcome o =
                attempt(at, mayRefuse, () -> block.forward(new ParameterStore(m, false), inputs, false, c.forwardParams()).head(), expected);
        if (hostile < 5) {
            assertEquals(Outcome.REFUSED, o, at + ": ran");
        }
        return o;
    }

    private static Outcome attendCase(NDManager m, Random r, String where) {
        int b = 1 + r.nextInt(2);
        int t = new int[] {1, 2, 7, 13, 64, 65}[r.nextInt(6)];
        int f = r.nextBoolean() ? t : new int[] {1, 3, 31, 129}[r.nextInt(4)];
        int h = new int[] {1, 2, 3, 4, 6}[r.nextInt(5)];
        int g = h % 2 == 0 && r.nextBoolean() ? h / 2 : h;
        int d = new int[] {1, 3, 8, 16, 64}[r.nextInt(5)];
        int kd = d;
        int hostile = r.nextInt(3) == 0 ? r.nextInt(4) : -1;
        if (hostile == 0) {
            g = h + 1;
        } else if (hostile == 1) {
            kd = d + 1;
        }
        boolean causal = r.nextBoolean();
        DataType type = r.nextInt(4) == 0 ? DataType.FLOAT16 : DataType.FLOAT32;
        NDArray q = m.randomNormal(new Shape(b, h, t, d)).transpose(0, 2, 1, 3).toType(type, false);
        NDArray k = m.randomNormal(new Shape(b, f, g, kd)).toType(type, false);
        NDArray v = m.randomNormal(new Shape(1, f, g, kd)).broadcast(b, f, g, kd).toType(type, false);
        if (hostile == 2) {
            k = k.toType(DataType.FLOAT64, false);
        } else if (hostile == 3) {
            v.close();
        }
        where += String.format(" attend B=%d T=%d F=%d H=%d G=%d D=%d kD=%d %s causal=%b hostile=%d",
                b, t, f, h, g, d, kd, type, causal, hostile);
        float scale = (float) (1 / Math.sqrt(d));
        float bias = (float) -Math.log(f);
        final NDArray qq = q;
        final NDArray kk = k;
        Outcome o = attempt(where, hostile >= 0,
                () -> SigmoidAttention.attend(qq, kk, v, scale, bias, causal, AttentionKernel.FUSED), new Shape(b, t, h, d));
        if (hostile >= 0) {
            assertEquals(Outcome.REFUSED, o, where + ": ran");
            return o;
        }
        NDArray fused = SigmoidAttention.attend(q, k, v, scale, bias, causal, AttentionKernel.FUSED);
        NDArray reference = SigmoidAttention.attend(q, k, v, scale, bias, causal, AttentionKernel.REFERENCE);
        double error = TestArrays.relativeError(TestArrays.values(fused), TestArrays.values(reference));
        assertTrue(error < (type == DataType.FLOAT32 ? 1e-5 : 2e-2), where + ": fused vs reference " + error);
        return Outcome.CHECKED;
    }
}
