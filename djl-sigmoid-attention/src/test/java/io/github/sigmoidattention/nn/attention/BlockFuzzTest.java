package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;
import io.github.sigmoidattention.ops.PtArrays;
import io.github.sigmoidattention.testing.AttentionCase;
import io.github.sigmoidattention.testing.TestArrays;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * A seeded property test of the block, of {@link SigmoidAttention#attend} and of decoding with a
 * {@link KvCache}, on every kernel: random configurations and inputs, valid ones checked against
 * the double loop (every mask form, masks of batch 1 for the whole batch, NaN and Inf in the rows
 * of padded keys, inference and training), hostile ones (wrong widths, ranks, masks, heads, head
 * dims, dtypes, bfloat16, closed arrays, non-finite scale or bias, NaN and Inf values) ending in an
 * IllegalArgumentException, IllegalStateException or UnsupportedOperationException with a message,
 * or, for non-finite values, an output of the right shape. A refused call with a cache must leave
 * the cache as it was: the next valid calls still give the outputs of one full pass.
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
    private static Outcome attempt(
            String where, boolean mayRefuse, Supplier<NDArray> call, Shape expected) {
        NDArray out;
        try {
            out = call.get();
        } catch (IllegalArgumentException
                | IllegalStateException
                | UnsupportedOperationException e) {
            assertTrue(mayRefuse, where + ": refused a valid call: " + e);
            assertTrue(
                    e.getMessage() != null && e.getMessage().length() > 10,
                    where + ": unclear message: " + e);
            return Outcome.REFUSED;
        } catch (RuntimeException e) {
            throw new AssertionError(where + ": " + e, e);
        }
        assertEquals(expected, out.getShape(), where);
        return Outcome.RAN;
    }

    @Test
    void randomBlockAndAttendCalls() {
        assertTrue(FlashSigmoidLibrary.isAvailable(), FlashSigmoidLibrary.getUnavailableReason());
        long seed = Long.getLong("fuzz.seed", System.nanoTime());
        System.out.println(
                "BlockFuzzTest: seed " + seed + " (replay with -Dfuzz.seed=" + seed + ")");
        int[] counts = new int[Outcome.values().length];
        for (int n = 0; n < CASES; n++) {
            Random r = new Random(seed + n);
            String where = "case " + n + " (seed " + seed + ")";
            try (NDManager m = NDManager.newBaseManager()) {
                int kind = r.nextInt(5);
                Outcome o =
                        kind < 2
                                ? blockCase(m, r, seed + n, where)
                                : kind < 4 ? attendCase(m, r, where) : cacheCase(m, r, where);
                counts[o.ordinal()]++;
            }
        }
        System.out.printf(
                "BlockFuzzTest: %d cases: %d checked against the double loop, %d ran with odd input, %d refused%n",
                CASES, counts[0], counts[1], counts[2]);
        assertTrue(
                counts[0] > CASES / 5 && counts[2] > CASES / 10, java.util.Arrays.toString(counts));
    }

    private static Outcome blockCase(NDManager m, Random r, long seed, String where) {
        AttentionCase c = AttentionCase.random(seed);
        c.kernel = AttentionKernel.values()[r.nextInt(3)];
        boolean padding =
                c.maskKind == AttentionCase.MaskKind.KEY_PADDING
                        || c.maskKind == AttentionCase.MaskKind.RIGHT_PADDING;
        if (padding && r.nextBoolean()) {
            c.poison =
                    new double[] {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY}
                            [r.nextInt(3)];
        }
        DataType type = r.nextInt(4) == 0 ? DataType.FLOAT16 : DataType.FLOAT32;
        boolean training = r.nextInt(3) == 0;
        if (training
                && c.kernel == AttentionKernel.FUSED
                && !FlashSigmoidLibrary.isAutogradAvailable()) {
            // FUSED refuses training without the autograd library (FusedSigmoidAttentionTest).
            c.kernel = AttentionKernel.AUTO;
        }
        SigmoidMultiHeadAttention block = c.block(m, type);
        c.drawInputs();
        where += " " + c + " " + type + (training ? " training" : "");
        int hostile = r.nextInt(3) == 0 ? r.nextInt(8) : -1;
        if (hostile < 0) {
            NDArray out = c.run(block, m, type, training);
            double tol = type == DataType.FLOAT32 ? 1e-5 : 2e-2;
            double error =
                    TestArrays.relativeError(
                            c.realRows(TestArrays.values(out)),
                            c.realRows(TestArrays.flatten(c.reference(block))));
            assertTrue(error < tol, where + ": relative error " + error);
            return Outcome.CHECKED;
        }
        NDList inputs = c.inputs(m, type);
        NDArray x = inputs.get(0); // X, or K in cross-attention
        Shape expected = new Shape(c.batch, c.queryLength, c.options.embeddingSize);
        boolean mayRefuse = true;
        switch (hostile) {
            case 0: // one more channel than the block's width
                inputs.set(
                        0,
                        m.randomNormal(
                                        new Shape(
                                                x.getShape().get(0),
                                                x.getShape().get(1),
                                                x.getShape().get(2) + 1))
                                .toType(type, false));
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
            case 5: // bfloat16, which DJL's JNI cannot convert: refused before DJL sees it
                inputs.set(0, PtArrays.toDataType(x, DataType.BFLOAT16));
                where += " bfloat16 input";
                break;
            case 6: // a closed mask, or a closed parameter
                if (inputs.size() == 2 || inputs.size() == 4) {
                    inputs.get(inputs.size() - 1).close();
                    where += " closed mask";
                } else {
                    block.getValueProjection().getParameters().get("bias").getArray().close();
                    where += " closed parameter";
                }
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
                attempt(
                        at,
                        mayRefuse,
                        () ->
                                block.forward(
                                                new ParameterStore(m, false),
                                                inputs,
                                                false,
                                                c.forwardParams())
                                        .head(),
                        expected);
        if (hostile < 7) {
            assertEquals(Outcome.REFUSED, o, at + ": ran");
        }
        return o;
    }

    /**
     * A prompt and decode steps with a cache, with one hostile call in between; the refused call
     * must leave the cache as it was, so every valid output equals one full pass.
     */
    private static Outcome cacheCase(NDManager m, Random r, String where) {
        int h = new int[] {1, 2, 4}[r.nextInt(3)];
        int g = h % 2 == 0 && r.nextBoolean() ? h / 2 : h;
        int d = 2 * (1 + r.nextInt(6));
        int b = 1 + r.nextInt(2);
        int prompt = 1 + r.nextInt(8);
        int steps = 1 + r.nextInt(3);
        AttentionKernel kernel = AttentionKernel.values()[r.nextInt(3)];
        SigmoidMultiHeadAttention block =
                SigmoidMultiHeadAttention.builder()
                        .setEmbeddingSize(h * d)
                        .setHeadCount(h)
                        .optKvHeadCount(g)
                        .optCausal(true)
                        .optRope(r.nextBoolean())
                        .optAlibi(r.nextBoolean())
                        .optQkNorm(QkNorm.values()[r.nextInt(3)])
                        .optBias(SigmoidBias.constant(-1.5f))
                        .optKernel(kernel)
                        .build();
        int hostile = r.nextInt(10);
        where +=
                String.format(
                        " cache B=%d H=%d G=%d D=%d prompt=%d steps=%d %s hostile=%d",
                        b, h, g, d, prompt, steps, kernel, hostile);
        block.initialize(m, DataType.FLOAT32, new Shape(b, prompt, h * d));
        ParameterStore ps = new ParameterStore(m, false);
        NDArray x = m.randomNormal(new Shape(b, prompt + steps, h * d));
        NDArray full = block.forward(ps, new NDList(x), false).head();
        KvCache cache = KvCache.create(block, m, b, prompt + steps, DataType.FLOAT32);
        ai.djl.util.PairList<String, Object> params = new ai.djl.util.PairList<>();
        params.add(SigmoidMultiHeadAttention.KV_CACHE, cache);
        Outcome outcome = Outcome.CHECKED;
        for (int at = 0; at < prompt + steps; ) {
            int t = at == 0 ? prompt : 1;
            NDArray chunk = x.get(new ai.djl.ndarray.index.NDIndex(":, {}:{}", at, at + t));
            if (at == prompt) {
                int length = cache.getLength();
                boolean padding = cache.hasPadding();
                String at2 = where + " at " + at;
                outcome =
                        attempt(
                                at2,
                                true,
                                () -> hostileCacheCall(m, r, block, ps, cache, chunk, hostile),
                                chunk.getShape());
                assertEquals(Outcome.REFUSED, outcome, at2 + ": ran");
                assertEquals(
                        length,
                        cache.getLength(),
                        at2 + ": a refused call changed the cache's length");
                assertEquals(
                        padding,
                        cache.hasPadding(),
                        at2 + ": a refused call changed the cache's padding");
            }
            NDArray out = block.forward(ps, new NDList(chunk), false, params).head();
            NDArray expected = full.get(new ai.djl.ndarray.index.NDIndex(":, {}:{}", at, at + t));
            double error =
                    TestArrays.relativeError(TestArrays.values(out), TestArrays.values(expected));
            assertTrue(error < 1e-5, where + " at " + at + ": relative error " + error);
            at += t;
        }
        return outcome;
    }

    @SuppressWarnings("try") // the collector only has to be open
    private static NDArray hostileCacheCall(
            NDManager m,
            Random r,
            SigmoidMultiHeadAttention block,
            ParameterStore ps,
            KvCache cache,
            NDArray chunk,
            int hostile) {
        ai.djl.util.PairList<String, Object> params = new ai.djl.util.PairList<>();
        params.add(SigmoidMultiHeadAttention.KV_CACHE, cache);
        Shape s = chunk.getShape();
        switch (hostile) {
            case 0: // another batch size
                return block.forward(
                                ps,
                                new NDList(m.randomNormal(new Shape(s.get(0) + 1, 1, s.get(2)))),
                                false,
                                params)
                        .head();
            case 1: // more positions than the cache has room for
                return block.forward(
                                ps,
                                new NDList(
                                        m.randomNormal(
                                                new Shape(
                                                        s.get(0), cache.getMaxLength(), s.get(2)))),
                                false,
                                params)
                        .head();
            case 2: // a (B, T, F) mask, which the cache does not take
                return block.forward(
                                ps,
                                new NDList(chunk, m.ones(new Shape(s.get(0), 1, 1))),
                                false,
                                params)
                        .head();
            case 3: // cross-attention inputs
                return block.forward(ps, new NDList(chunk, chunk.duplicate(), chunk), false, params)
                        .head();
            case 4: // training
                return block.forward(ps, new NDList(chunk), true, params).head();
            case 5: // a closed cache, one of another data type (made for an uninitialised twin),
                // bfloat16
                ai.djl.util.PairList<String, Object> other = new ai.djl.util.PairList<>();
                KvCache wrong;
                int which = r.nextInt(3);
                if (which == 2) { // bfloat16, which DJL cannot allocate: refused by create
                    KvCache.create(block, m, s.get(0), 4, DataType.BFLOAT16);
                    throw new AssertionError("a bfloat16 cache was created");
                } else if (which == 1) {
                    wrong = KvCache.create(block, m, s.get(0), 4, DataType.FLOAT32);
                    wrong.close();
                } else {
                    SigmoidMultiHeadAttention twin =
                            SigmoidMultiHeadAttention.builder()
                                    .setEmbeddingSize(block.getEmbeddingSize())
                                    .setHeadCount(block.getHeadCount())
                                    .optKvHeadCount(block.getKvHeadCount())
                                    .build();
                    wrong = KvCache.create(twin, m, s.get(0), 4, DataType.FLOAT16);
                }
                other.add(SigmoidMultiHeadAttention.KV_CACHE, wrong);
                return block.forward(ps, new NDList(chunk), false, other).head();
            case 6: // a closed input
                NDArray closed = chunk.duplicate();
                closed.close();
                return block.forward(ps, new NDList(closed), false, params).head();
            case 7: // a wrong width
                return block.forward(
                                ps,
                                new NDList(m.randomNormal(new Shape(s.get(0), 1, s.get(2) + 2))),
                                false,
                                params)
                        .head();
            case 8: // a mask of the wrong length
                return block.forward(
                                ps,
                                new NDList(chunk, m.ones(new Shape(s.get(0), 3))),
                                false,
                                params)
                        .head();
            default: // the fused kernel asked for inside a GradientCollector: fails after the
                // append
                SigmoidMultiHeadAttention fused =
                        SigmoidMultiHeadAttention.builder()
                                .setEmbeddingSize(block.getEmbeddingSize())
                                .setHeadCount(block.getHeadCount())
                                .optKvHeadCount(block.getKvHeadCount())
                                .optCausal(true)
                                .optBias(SigmoidBias.constant(-1.5f))
                                .optKernel(AttentionKernel.FUSED)
                                .build();
                fused.initialize(m, DataType.FLOAT32, s);
                // The fused block's parameters differ, so it needs a cache of its own with the same
                // contents length; the hostile call must leave that one unchanged too.
                KvCache own =
                        KvCache.create(fused, m, s.get(0), cache.getMaxLength(), DataType.FLOAT32);
                ai.djl.util.PairList<String, Object> ownParams = new ai.djl.util.PairList<>();
                ownParams.add(SigmoidMultiHeadAttention.KV_CACHE, own);
                fused.forward(ps, new NDList(chunk), false, ownParams);
                int before = own.getLength();
                NDArray tracked = chunk.duplicate();
                tracked.setRequiresGradient(true);
                try (ai.djl.training.GradientCollector gc =
                        ai.djl.engine.Engine.getInstance().newGradientCollector()) {
                    return fused.forward(ps, new NDList(tracked), false, ownParams).head();
                } finally {
                    assertEquals(
                            before, own.getLength(), "the failed fused call changed its cache");
                }
        }
    }

    private static Outcome attendCase(NDManager m, Random r, String where) {
        int b = 1 + r.nextInt(2);
        int t = new int[] {1, 2, 7, 13, 64, 65}[r.nextInt(6)];
        int f = r.nextBoolean() ? t : new int[] {1, 3, 31, 129}[r.nextInt(4)];
        int h = new int[] {1, 2, 3, 4, 6}[r.nextInt(5)];
        int g = h % 2 == 0 && r.nextBoolean() ? h / 2 : h;
        int d = new int[] {1, 3, 8, 16, 64}[r.nextInt(5)];
        int kd = d;
        int hostile = r.nextInt(3) == 0 ? r.nextInt(6) : -1;
        if (hostile == 0) {
            g = h + 1;
        } else if (hostile == 1) {
            kd = d + 1;
        }
        boolean causal = r.nextBoolean();
        DataType type =
                new DataType[] {
                            DataType.FLOAT32, DataType.FLOAT32, DataType.FLOAT16, DataType.BFLOAT16
                        }
                        [r.nextInt(4)];
        AttentionKernel kernel = AttentionKernel.values()[r.nextInt(3)];
        NDArray q = as(m.randomNormal(new Shape(b, h, t, d)).transpose(0, 2, 1, 3), type);
        NDArray k = as(m.randomNormal(new Shape(b, f, g, kd)), type);
        NDArray v = as(m.randomNormal(new Shape(1, f, g, kd)).broadcast(b, f, g, kd), type);
        float scale = (float) (1 / Math.sqrt(d));
        float bias = (float) -Math.log(f);
        if (hostile == 2) {
            k = PtArrays.toDataType(k, DataType.FLOAT64);
        } else if (hostile == 3) {
            v.close();
        } else if (hostile == 4) {
            scale =
                    new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}
                            [r.nextInt(3)];
        } else if (hostile == 5) {
            bias =
                    new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}
                            [r.nextInt(3)];
        }
        where +=
                String.format(
                        " attend B=%d T=%d F=%d H=%d G=%d D=%d kD=%d %s %s causal=%b scale=%s bias=%s"
                                + " hostile=%d",
                        b, t, f, h, g, d, kd, type, kernel, causal, scale, bias, hostile);
        final NDArray qq = q;
        final NDArray kk = k;
        final float sc = scale;
        final float bi = bias;
        Outcome o =
                attempt(
                        where,
                        hostile >= 0,
                        () -> SigmoidAttention.attend(qq, kk, v, sc, bi, causal, kernel),
                        new Shape(b, t, h, d));
        if (hostile >= 0) {
            assertEquals(Outcome.REFUSED, o, where + ": ran");
            return o;
        }
        NDArray out = SigmoidAttention.attend(q, k, v, scale, bias, causal, kernel);
        assertEquals(type, PtArrays.dataType(out), where);
        // The reference in float32 on the same (rounded) values.
        NDArray reference =
                SigmoidAttention.attend(
                        as(q, DataType.FLOAT32),
                        as(k, DataType.FLOAT32),
                        as(v, DataType.FLOAT32),
                        scale,
                        bias,
                        causal,
                        AttentionKernel.REFERENCE);
        double error =
                TestArrays.relativeError(
                        TestArrays.values(as(out, DataType.FLOAT32)), TestArrays.values(reference));
        double tol = type == DataType.FLOAT32 ? 1e-5 : type == DataType.FLOAT16 ? 2e-2 : 1e-2;
        assertTrue(error < tol, where + ": against the float32 reference " + error);
        return Outcome.CHECKED;
    }

    /** A copy in {@code type}, converted by PyTorch (DJL cannot make bfloat16 arrays). */
    private static NDArray as(NDArray x, DataType type) {
        return PtArrays.dataType(x) == type ? x : PtArrays.toDataType(x, type);
    }
}
