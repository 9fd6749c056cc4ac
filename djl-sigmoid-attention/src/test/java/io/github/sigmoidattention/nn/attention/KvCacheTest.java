package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.sigmoidattention.testing.TestArrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Decoding with a {@link KvCache}: a prompt, then chunks of 1 to 3 positions (decode and
 * speculative steps), give the outputs of one forward pass over the whole sequence.
 */
class KvCacheTest {

    @Test
    void cachedStepsEqualOneFullPass() {
        long base = System.nanoTime();
        for (int n = 0; n < 16; n++) {
            Random r = new Random(base + n);
            int h = new int[] {1, 2, 4}[r.nextInt(3)];
            int g = h % 2 == 0 && r.nextBoolean() ? h / 2 : h;
            int d = 2 * (1 + r.nextInt(8));
            int b = 1 + r.nextInt(2);
            int total = 5 + r.nextInt(40);
            long offset = r.nextBoolean() ? r.nextInt(50) : 0;
            AttentionKernel kernel =
                    r.nextBoolean() ? AttentionKernel.FUSED : AttentionKernel.REFERENCE;
            // A bias independent of F: negLogLength's -ln F differs between a prefix and the
            // whole sequence by definition.
            SigmoidMultiHeadAttention block =
                    causalBlock(
                            r,
                            h,
                            g,
                            d,
                            kernel,
                            r.nextBoolean() ? SigmoidBias.constant(-1.5f) : SigmoidBias.negLog(64));
            String what =
                    String.format(
                            "seed=%d B=%d T=%d H=%d G=%d D=%d offset=%d %s",
                            base + n, b, total, h, g, d, offset, kernel);
            try (NDManager m = NDManager.newBaseManager()) {
                block.initialize(m, DataType.FLOAT32, new Shape(b, total, h * d));
                ParameterStore ps = new ParameterStore(m, false);
                NDArray x = m.randomNormal(new Shape(b, total, h * d));
                PairList<String, Object> fullParams = new PairList<>();
                fullParams.add(SigmoidMultiHeadAttention.POSITION_OFFSET, offset);
                NDArray full = block.forward(ps, new NDList(x), false, fullParams).head();

                KvCache cache = KvCache.create(block, m, b, total + r.nextInt(5), DataType.FLOAT32);
                int at = 0;
                while (at < total) {
                    int t = at == 0 ? 1 + r.nextInt(total) : Math.min(total - at, 1 + r.nextInt(3));
                    PairList<String, Object> params = new PairList<>();
                    params.add(SigmoidMultiHeadAttention.POSITION_OFFSET, offset);
                    params.add(SigmoidMultiHeadAttention.KV_CACHE, cache);
                    NDArray chunk = x.get(new NDIndex(":, {}:{}", at, at + t));
                    NDArray out = block.forward(ps, new NDList(chunk), false, params).head();
                    NDArray expected = full.get(new NDIndex(":, {}:{}", at, at + t));
                    double error =
                            TestArrays.relativeError(
                                    TestArrays.values(out), TestArrays.values(expected));
                    assertTrue(
                            error < 1e-5,
                            what + " at " + at + "+" + t + ": relative error " + error);
                    at += t;
                    assertEquals(at, cache.getLength());
                }
            }
        }
    }

    /**
     * A batch of left-padded prompts of different lengths (garbage in the padding), then decode
     * steps for the whole batch, gives each sequence the outputs it has when decoded alone.
     */
    @Test
    void paddedBatchDecodesLikeEachSequenceAlone() {
        long base = System.nanoTime();
        for (int n = 0; n < 8; n++) {
            Random r = new Random(base + n);
            int h = new int[] {2, 4}[r.nextInt(2)];
            int g = r.nextBoolean() ? h / 2 : h;
            int d = 2 * (2 + r.nextInt(6));
            int batch = 2 + r.nextInt(2);
            int steps = 1 + r.nextInt(4);
            int[] prompt = new int[batch];
            int longest = 0;
            for (int b = 0; b < batch; b++) {
                prompt[b] = 1 + r.nextInt(12);
                longest = Math.max(longest, prompt[b]);
            }
            AttentionKernel kernel =
                    r.nextBoolean() ? AttentionKernel.FUSED : AttentionKernel.REFERENCE;
            boolean learned = r.nextInt(3) == 0;
            SigmoidMultiHeadAttention block =
                    causalBlock(
                            r,
                            h,
                            g,
                            d,
                            kernel,
                            learned ? SigmoidBias.learned(-2f) : SigmoidBias.constant(-1.5f));
            String what =
                    String.format(
                            "seed=%d B=%d prompts=%s steps=%d H=%d G=%d D=%d %s%s",
                            base + n,
                            batch,
                            java.util.Arrays.toString(prompt),
                            steps,
                            h,
                            g,
                            d,
                            kernel,
                            learned ? " learned" : "");
            try (NDManager m = NDManager.newBaseManager()) {
                block.initialize(m, DataType.FLOAT32, new Shape(1, longest, h * d));
                ParameterStore ps = new ParameterStore(m, false);
                NDArray[] tokens = new NDArray[batch];
                NDArray[] alone = new NDArray[batch];
                for (int b = 0; b < batch; b++) {
                    tokens[b] = m.randomNormal(new Shape(1, prompt[b] + steps, h * d));
                    KvCache cache =
                            KvCache.create(block, m, 1, prompt[b] + steps, DataType.FLOAT32);
                    PairList<String, Object> params = new PairList<>();
                    params.add(SigmoidMultiHeadAttention.KV_CACHE, cache);
                    NDList outputs = new NDList();
                    outputs.add(
                            block.forward(
                                            ps,
                                            new NDList(
                                                    tokens[b].get(
                                                            new NDIndex(":, 0:{}", prompt[b]))),
                                            false,
                                            params)
                                    .head());
                    for (int s2 = 0; s2 < steps; s2++) {
                        NDArray step =
                                tokens[b].get(
                                        new NDIndex(
                                                ":, {}:{}", prompt[b] + s2, prompt[b] + s2 + 1));
                        outputs.add(block.forward(ps, new NDList(step), false, params).head());
                    }
                    alone[b] = NDArrays.concat(outputs, 1);
                }
                // The batch: prompts left-padded to the longest with random values, then the steps.
                NDArray padded = m.randomNormal(new Shape(batch, longest, h * d));
                NDArray mask = m.zeros(new Shape(batch, longest));
                for (int b = 0; b < batch; b++) {
                    NDIndex rows = new NDIndex("{}, {}:", b, longest - prompt[b]);
                    padded.set(rows, tokens[b].get(new NDIndex("0, 0:{}", prompt[b])));
                    mask.set(rows, 1f);
                }
                KvCache cache = KvCache.create(block, m, batch, longest + steps, DataType.FLOAT32);
                PairList<String, Object> params = new PairList<>();
                params.add(SigmoidMultiHeadAttention.KV_CACHE, cache);
                NDArray prefill = block.forward(ps, new NDList(padded, mask), false, params).head();
                assertEquals(
                        java.util.Arrays.stream(prompt).min().getAsInt() < longest,
                        cache.hasPadding(),
                        what);
                NDList stepOutputs = new NDList();
                for (int s2 = 0; s2 < steps; s2++) {
                    NDList rows = new NDList();
                    for (int b = 0; b < batch; b++) {
                        rows.add(
                                tokens[b].get(
                                        new NDIndex(
                                                ":, {}:{}", prompt[b] + s2, prompt[b] + s2 + 1)));
                    }
                    stepOutputs.add(
                            block.forward(ps, new NDList(NDArrays.concat(rows, 0)), false, params)
                                    .head());
                }
                NDArray steps2 = NDArrays.concat(stepOutputs, 1);
                for (int b = 0; b < batch; b++) {
                    NDArray got =
                            NDArrays.concat(
                                    new NDList(
                                            prefill.get(
                                                    new NDIndex(
                                                            "{}:{}, {}:",
                                                            b,
                                                            b + 1,
                                                            longest - prompt[b])),
                                            steps2.get(new NDIndex("{}:{}", b, b + 1))),
                                    1);
                    double error =
                            TestArrays.relativeError(
                                    TestArrays.values(got), TestArrays.values(alone[b]));
                    assertTrue(error < 1e-5, what + " sequence " + b + ": relative error " + error);
                }
            }
        }
    }

    /**
     * A causal block with H heads on G kv heads of size D, RoPE, ALiBi and QK-norm drawn from r.
     */
    private static SigmoidMultiHeadAttention causalBlock(
            Random r, int h, int g, int d, AttentionKernel kernel, SigmoidBias bias) {
        return SigmoidMultiHeadAttention.builder()
                .setEmbeddingSize(h * d)
                .setHeadCount(h)
                .optKvHeadCount(g)
                .optCausal(true)
                .optRope(r.nextBoolean())
                .optAlibi(r.nextBoolean())
                .optQkNorm(QkNorm.values()[r.nextInt(3)])
                .optBias(bias)
                .optKernel(kernel)
                .build();
    }

    /**
     * A refused or failed call leaves the cache as it was: refused before anything is appended
     * (wrong data type, device, capacity, masks), or failing after the append (the fused kernel
     * asked for inside a GradientCollector); the next calls then give the outputs of one pass.
     */
    @Test
    @SuppressWarnings("try") // the collector only has to be open
    void refusedCallsLeaveTheCacheUnchanged() {
        SigmoidMultiHeadAttention block =
                SigmoidMultiHeadAttention.builder()
                        .setEmbeddingSize(8)
                        .setHeadCount(2)
                        .optCausal(true)
                        .optBias(SigmoidBias.constant(-1f))
                        .optKernel(AttentionKernel.FUSED)
                        .build();
        try (NDManager m = NDManager.newBaseManager()) {
            // Made before the block is initialised, so create cannot compare the data types.
            KvCache half = KvCache.create(block, m, 1, 8, DataType.FLOAT16);
            block.initialize(m, DataType.FLOAT32, new Shape(1, 6, 8));
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> KvCache.create(block, m, 1, 8, DataType.FLOAT16));
            assertTrue(
                    e.getMessage().contains("dataType") && e.getMessage().contains("float32"),
                    e.getMessage());
            ParameterStore ps = new ParameterStore(m, false);
            NDArray x = m.randomNormal(new Shape(1, 6, 8));
            NDArray full = block.forward(ps, new NDList(x), false).head();
            PairList<String, Object> halfParams = new PairList<>();
            halfParams.add(SigmoidMultiHeadAttention.KV_CACHE, half);
            for (int attempt = 0; attempt < 2; attempt++) {
                e =
                        assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        block.forward(
                                                ps,
                                                new NDList(x.get(":, 0:3")),
                                                false,
                                                halfParams));
                assertTrue(
                        e.getMessage().startsWith(SigmoidMultiHeadAttention.KV_CACHE)
                                && e.getMessage().contains("float16"),
                        e.getMessage());
                assertEquals(0, half.getLength(), "a refused call appended");
            }

            KvCache cache = KvCache.create(block, m, 1, 6, DataType.FLOAT32);
            PairList<String, Object> params = new PairList<>();
            params.add(SigmoidMultiHeadAttention.KV_CACHE, cache);
            block.forward(ps, new NDList(x.get(":, 0:3")), false, params);
            // Fails after the append: FUSED cannot run inputs a GradientCollector records.
            NDArray tracked = x.get(":, 3:4").duplicate();
            tracked.setRequiresGradient(true);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                assertThrows(
                        UnsupportedOperationException.class,
                        () -> block.forward(ps, new NDList(tracked), false, params));
            }
            assertEquals(3, cache.getLength(), "a failed call left its positions in the cache");
            assertThrows(
                    IllegalArgumentException.class,
                    () -> block.forward(ps, new NDList(x.get(":, 0:4")), false, params));
            assertEquals(3, cache.getLength(), "a call over capacity appended");
            NDArray rest = block.forward(ps, new NDList(x.get(":, 3:6")), false, params).head();
            double error =
                    TestArrays.relativeError(
                            TestArrays.values(rest), TestArrays.values(full.get(":, 3:6")));
            assertTrue(error < 1e-5, "after the refused calls: relative error " + error);
        }
    }

    @Test
    void misuseIsRejected() {
        SigmoidMultiHeadAttention block =
                SigmoidMultiHeadAttention.builder()
                        .setEmbeddingSize(8)
                        .setHeadCount(2)
                        .optCausal(true)
                        .build();
        try (NDManager m = NDManager.newBaseManager()) {
            block.initialize(m, DataType.FLOAT32, new Shape(1, 4, 8));
            ParameterStore ps = new ParameterStore(m, false);
            KvCache cache = KvCache.create(block, m, 1, 4, DataType.FLOAT32);
            PairList<String, Object> params = new PairList<>();
            params.add(SigmoidMultiHeadAttention.KV_CACHE, cache);
            NDArray x = m.randomNormal(new Shape(1, 3, 8));
            block.forward(ps, new NDList(x), false, params);
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> block.forward(ps, new NDList(x), false, params));
            assertTrue(e.getMessage().contains("exceeds the capacity 4"), e.getMessage());
            e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    block.forward(
                                            ps,
                                            new NDList(m.randomNormal(new Shape(2, 1, 8))),
                                            false,
                                            params));
            assertTrue(e.getMessage().contains("holds 1 sequences"), e.getMessage());
            cache.reset();
            e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    block.forward(
                                            ps,
                                            new NDList(x, m.ones(new Shape(1, 3, 3))),
                                            false,
                                            params));
            assertTrue(e.getMessage().contains("key-padding mask (B, T)"), e.getMessage());
            SigmoidMultiHeadAttention lengthBias =
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(8)
                            .setHeadCount(2)
                            .optBias(SigmoidBias.negLogLength())
                            .build();
            lengthBias.initialize(m, DataType.FLOAT32, new Shape(1, 3, 8));
            KvCache other = KvCache.create(lengthBias, m, 1, 4, DataType.FLOAT32);
            PairList<String, Object> otherParams = new PairList<>();
            otherParams.add(SigmoidMultiHeadAttention.KV_CACHE, other);
            NDArray padding = m.create(new float[] {0, 1, 1}, new Shape(1, 3));
            e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    lengthBias.forward(
                                            ps, new NDList(x, padding), false, otherParams));
            assertTrue(e.getMessage().contains("would count the padding"), e.getMessage());
            assertEquals(0, other.getLength(), "a refused call appends nothing");
            assertThrows(
                    IllegalArgumentException.class,
                    () -> KvCache.create(block, m, 0, 4, DataType.FLOAT32));
            assertThrows(
                    IllegalArgumentException.class,
                    () -> KvCache.create(block, m, 1, 0, DataType.FLOAT32));
        }
    }
}
