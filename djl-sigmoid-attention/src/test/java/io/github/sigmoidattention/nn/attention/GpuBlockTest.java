package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;
import io.github.sigmoidattention.ops.PtArrays;
import io.github.sigmoidattention.testing.AttentionCase;
import io.github.sigmoidattention.testing.BlockGradients;
import io.github.sigmoidattention.testing.TestArrays;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The block on a CUDA device, running the CUDA kernels of cuda-ops from Java. Tagged {@code gpu}:
 * it runs on the GPU machine (cuda-ops/gpu-tests/run_java_tests.sh) and is skipped where DJL sees
 * no GPU. Errors are held to at most twice those of the same computation as a PyTorch composite in
 * the same precision (the block on its reference kernel), on fresh random inputs each run.
 */
@Tag("gpu")
class GpuBlockTest {

    private static final int[] HEAD_DIMS = {32, 64, 96, 128, 256};
    private static final int[] LENGTHS = {1, 7, 113, 1023};

    // Each test, not the class, so that Surefire reports them as skipped where there is no GPU.
    @BeforeEach
    void requireGpu() {
        assumeTrue(
                Engine.getInstance().getGpuCount() > 0,
                "no GPU: these tests run on the GPU machine (cuda-ops/gpu-tests/run_java_tests.sh)");
        assumeTrue(
                FlashSigmoidLibrary.getCudaHeadDims().length > 0,
                "the native library has no CUDA kernels");
    }

    private static NDManager gpuManager() {
        return NDManager.newBaseManager(Device.gpu());
    }

    /** A random case on the option grid, with a head dim and lengths the CUDA kernels take. */
    private static AttentionCase gridCase(long seed) {
        AttentionCase c = AttentionCase.random(seed);
        Random r = c.random;
        int d = HEAD_DIMS[r.nextInt(HEAD_DIMS.length)];
        int h = c.options.headCount;
        // Keep the double loop affordable: E at most 512, the longest sequences with small E.
        while (h * d > 512 && h > 1) {
            h /= 2;
        }
        c.options.headCount = h;
        c.options.kvHeadCount = h % 2 == 0 && r.nextBoolean() ? h / 2 : (r.nextBoolean() ? 1 : h);
        c.options.embeddingSize = h * d;
        c.queryLength = LENGTHS[r.nextInt(h * d > 128 ? 3 : 4)];
        c.keyLength = c.selfAttention ? c.queryLength : LENGTHS[r.nextInt(h * d > 128 ? 3 : 4)];
        c.batch = 1 + r.nextInt(2);
        return c;
    }

    private static double error(SigmoidMultiHeadAttention block, AttentionCase c, NDManager m) {
        NDArray out = c.run(block, m, block.getParameterDataType(), false);
        return TestArrays.relativeError(
                c.realRows(TestArrays.values(out)),
                c.realRows(TestArrays.flatten(c.reference(block))));
    }

    /** float16 on the fused CUDA kernels against the double loop, over the option grid. */
    @Test
    void float16BlockMatchesTheDoubleLoopOverTheOptionGrid() {
        long base = System.nanoTime();
        ErrorTally tally = new ErrorTally();
        for (int n = 0; n < 64; n++) {
            AttentionCase c = gridCase(base + n);
            try (NDManager m = gpuManager()) {
                c.kernel = AttentionKernel.FUSED;
                SigmoidMultiHeadAttention fused = c.block(m, DataType.FLOAT16);
                c.kernel = AttentionKernel.REFERENCE;
                SigmoidMultiHeadAttention composite = c.block(m, DataType.FLOAT16);
                c.drawInputs();
                tally.add(c.toString(), error(fused, c, m), error(composite, c, m));
            }
        }
        tally.check("float16 block");
    }

    /** float32 parameters with the core in bfloat16 (optComputeType), and attend on bfloat16. */
    @Test
    void bfloat16ComputeMatchesTheDoubleLoop() {
        long base = System.nanoTime();
        for (int n = 0; n < 24; n++) {
            AttentionCase c = gridCase(base + n);
            try (NDManager m = gpuManager()) {
                c.kernel = AttentionKernel.FUSED;
                SigmoidMultiHeadAttention fused =
                        c.builder().optComputeType(DataType.BFLOAT16).build();
                fused.setInitializer((mm, s, t) -> mm.randomNormal(0, 0.3f, s, t), p -> true);
                fused.initialize(m, DataType.FLOAT32, c.inputShapes());
                c.drawInputs();
                double fusedError = error(fused, c, m);
                // bfloat16 keeps 8 bits: the same core as a composite rounds q, k, v and the
                // output to bfloat16, a relative error near 2^-8.
                assertTrue(fusedError < 2 * 1.6e-2, c + ": bfloat16 compute error " + fusedError);
            }
        }
        ErrorTally tally = new ErrorTally();
        for (int n = 0; n < 16; n++) {
            Random r = new Random(base + 100 + n);
            int d = HEAD_DIMS[r.nextInt(HEAD_DIMS.length)];
            int t = LENGTHS[r.nextInt(4)];
            int f = LENGTHS[r.nextInt(4)];
            boolean causal = r.nextBoolean();
            try (NDManager m = gpuManager()) {
                NDArray q =
                        PtArrays.toDataType(
                                m.randomNormal(new Shape(2, t, 4, d)), DataType.BFLOAT16);
                NDArray k =
                        PtArrays.toDataType(
                                m.randomNormal(new Shape(2, f, 2, d)), DataType.BFLOAT16);
                NDArray v =
                        PtArrays.toDataType(
                                m.randomNormal(new Shape(2, f, 2, d)), DataType.BFLOAT16);
                float scale = (float) (1 / Math.sqrt(d));
                float bias = (float) -Math.log(f);
                double[] exact =
                        TestArrays.values(
                                SigmoidAttention.attend(
                                        PtArrays.toDataType(q, DataType.FLOAT64),
                                        PtArrays.toDataType(k, DataType.FLOAT64),
                                        PtArrays.toDataType(v, DataType.FLOAT64),
                                        scale,
                                        bias,
                                        causal,
                                        AttentionKernel.REFERENCE));
                NDArray fused =
                        SigmoidAttention.attend(
                                q, k, v, scale, bias, causal, AttentionKernel.FUSED);
                NDArray composite =
                        SigmoidAttention.attend(
                                q, k, v, scale, bias, causal, AttentionKernel.REFERENCE);
                String what = "attend bf16 D=" + d + " T=" + t + " F=" + f + " causal=" + causal;
                assertEquals(DataType.BFLOAT16, PtArrays.dataType(fused), what);
                // The composite (REFERENCE) computes bfloat16 inputs in float32 and rounds only its
                // output: a stricter bound than a composite computing in bfloat16.
                tally.add(
                        what,
                        TestArrays.relativeError(TestArrays.values(fused), exact),
                        TestArrays.relativeError(TestArrays.values(composite), exact));
            }
        }
        tally.check("bfloat16 attend");
    }

    /**
     * Errors of the fused kernels and of the composite, case by case: the sum over the cases at
     * most twice the composite's, each case at most four times its own (a maximum error over a few
     * hundred values is too noisy for a factor of two alone).
     */
    private static final class ErrorTally {
        private final StringBuilder cases = new StringBuilder();
        private double fused;
        private double composite;

        void add(String what, double fusedError, double compositeError) {
            String line = what + ": fused " + fusedError + ", composite " + compositeError;
            assertTrue(fusedError <= 4 * compositeError + 1e-4, line);
            cases.append(line).append('\n');
            fused += fusedError;
            composite += compositeError;
        }

        void check(String what) {
            assertTrue(
                    fused <= 2 * composite,
                    what + ": summed error " + fused + " vs composite " + composite + "\n" + cases);
        }
    }

    /** A prompt, then decode steps on the split-KV decode kernel, equal one full pass. */
    @Test
    void kvCacheDecodingEqualsOneFullPass() {
        Random r = new Random();
        for (int n = 0; n < 4; n++) {
            int h = 8;
            int g = n % 2 == 0 ? 2 : 8;
            int d = n < 2 ? 64 : 128;
            int prompt = 300 + r.nextInt(200);
            int steps = 4;
            SigmoidMultiHeadAttention block =
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(h * d)
                            .setHeadCount(h)
                            .optKvHeadCount(g)
                            .optCausal(true)
                            .optRope(true)
                            .optAlibi(n == 3)
                            .optQkNorm(QkNorm.RMS_NORM)
                            .optBias(SigmoidBias.negLog(4096))
                            .optKernel(AttentionKernel.FUSED)
                            .build();
            try (NDManager m = gpuManager()) {
                block.setInitializer((mm, s, t) -> mm.randomNormal(0, 0.05f, s, t), p -> true);
                block.initialize(m, DataType.FLOAT16, new Shape(1, prompt + steps, h * d));
                ParameterStore ps = new ParameterStore(m, false);
                NDArray x =
                        m.randomNormal(new Shape(2, prompt + steps, h * d))
                                .toType(DataType.FLOAT16, false);
                NDArray full = block.forward(ps, new NDList(x), false).head();
                KvCache cache = KvCache.create(block, m, 2, prompt + steps, DataType.FLOAT16);
                PairList<String, Object> params = new PairList<>();
                params.add(SigmoidMultiHeadAttention.KV_CACHE, cache);
                List<NDArray> outs = new ArrayList<>();
                outs.add(
                        block.forward(
                                        ps,
                                        new NDList(x.get(new NDIndex(":, 0:{}", prompt))),
                                        false,
                                        params)
                                .head());
                for (int s = 0; s < steps; s++) {
                    NDArray step = x.get(new NDIndex(":, {}:{}", prompt + s, prompt + s + 1));
                    outs.add(block.forward(ps, new NDList(step), false, params).head());
                }
                NDArray decoded = ai.djl.ndarray.NDArrays.concat(new NDList(outs), 1);
                double error =
                        TestArrays.relativeError(
                                TestArrays.values(decoded), TestArrays.values(full));
                assertTrue(
                        error < 5e-3,
                        "H=" + h + " G=" + g + " D=" + d + " prompt=" + prompt + ": " + error);
            }
        }
    }

    /** What the CUDA kernels cannot run: FUSED refuses naming why, AUTO runs the reference. */
    @Test
    void unsupportedCallsAreRefusedOrFallBack() {
        try (NDManager m = gpuManager()) {
            SigmoidMultiHeadAttention fused =
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(64)
                            .setHeadCount(2)
                            .optKernel(AttentionKernel.FUSED)
                            .build();
            fused.initialize(m, DataType.FLOAT32, new Shape(1, 5, 64));
            ParameterStore ps = new ParameterStore(m, false);
            NDArray x = m.randomNormal(new Shape(1, 5, 64));
            UnsupportedOperationException e =
                    assertThrows(
                            UnsupportedOperationException.class,
                            () -> fused.forward(ps, new NDList(x), false));
            assertTrue(e.getMessage().contains("float16 and bfloat16"), e.getMessage());

            SigmoidMultiHeadAttention odd =
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(48)
                            .setHeadCount(1)
                            .optKernel(AttentionKernel.FUSED)
                            .build();
            odd.initialize(m, DataType.FLOAT16, new Shape(1, 5, 48));
            NDArray x48 = m.randomNormal(new Shape(1, 5, 48)).toType(DataType.FLOAT16, false);
            e =
                    assertThrows(
                            UnsupportedOperationException.class,
                            () -> odd.forward(ps, new NDList(x48), false));
            assertTrue(
                    e.getMessage().contains("head dims") && e.getMessage().contains("48"),
                    e.getMessage());

            SigmoidMultiHeadAttention auto =
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(48)
                            .setHeadCount(1)
                            .build();
            auto.initialize(m, DataType.FLOAT16, new Shape(1, 5, 48));
            assertEquals(
                    new Shape(1, 5, 48),
                    auto.forward(ps, new NDList(x48), false).head().getShape());

            NDArray cpuMask;
            try (NDManager cpu = NDManager.newBaseManager(Device.cpu())) {
                cpuMask = cpu.ones(new Shape(1, 5));
                IllegalArgumentException bad =
                        assertThrows(
                                IllegalArgumentException.class,
                                () -> auto.forward(ps, new NDList(x48, cpuMask), false));
                assertTrue(bad.getMessage().contains("mask"), bad.getMessage());
            }
        }
    }

    /**
     * Training float32 GPU inputs, which the CUDA kernels do not compute without a compute type:
     * AUTO runs the reference kernel (same output and input gradient as REFERENCE, whose output
     * matches the double loop), FUSED refuses naming why.
     */
    @Test
    void trainingFloat32GpuInputsRunsTheReferenceKernel() {
        long seed = System.nanoTime();
        AttentionCase c = AttentionCase.plain(seed, 2, 1, 32, 1, 9);
        c.options.causal = true;
        c.drawInputs();
        c.kernel = AttentionKernel.REFERENCE;
        List<double[]> reference;
        double[] expected;
        try (NDManager m = gpuManager()) {
            reference = BlockGradients.of(c, m, DataType.FLOAT32);
            expected = c.realRows(TestArrays.flatten(c.reference(c.block(m, DataType.FLOAT32))));
        }
        c.kernel = AttentionKernel.AUTO;
        try (NDManager m = gpuManager()) {
            BlockGradients.assertClose(
                    reference, BlockGradients.of(c, m, DataType.FLOAT32), 1e-7, "AUTO");
        }
        c.kernel = AttentionKernel.FUSED;
        try (NDManager m = gpuManager()) {
            UnsupportedOperationException e =
                    assertThrows(
                            UnsupportedOperationException.class,
                            () -> BlockGradients.of(c, m, DataType.FLOAT32));
            assertTrue(e.getMessage().contains("float16 and bfloat16"), e.getMessage());
        }
        double error = TestArrays.relativeError(reference.get(0), expected);
        assertTrue(error < 1e-4, "the reference on the GPU against the double loop: " + error);
    }

    /** Eight threads, each with its own manager, give what one thread gives, bit for bit. */
    @Test
    void threadsWithTheirOwnManagersMatchOneThread() throws Exception {
        try (NDManager m = gpuManager()) {
            SigmoidMultiHeadAttention block =
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(256)
                            .setHeadCount(4)
                            .optKvHeadCount(2)
                            .optCausal(true)
                            .optKernel(AttentionKernel.FUSED)
                            .build();
            block.initialize(m, DataType.FLOAT16, new Shape(2, 200, 256));
            float[][] inputs = new float[8][];
            for (int i = 0; i < inputs.length; i++) {
                inputs[i] = m.randomNormal(new Shape(2, 200, 256)).toFloatArray();
            }
            float[][] expected = new float[inputs.length][];
            for (int i = 0; i < inputs.length; i++) {
                expected[i] = run(block, inputs[i]);
            }
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try {
                List<Future<float[]>> results = new ArrayList<>();
                for (int round = 0; round < 5; round++) {
                    for (int i = 0; i < inputs.length; i++) {
                        float[] in = inputs[i];
                        results.add(pool.submit(() -> run(block, in)));
                    }
                }
                for (int j = 0; j < results.size(); j++) {
                    assertArrayEquals(
                            expected[j % inputs.length], results.get(j).get(), "call " + j);
                }
            } finally {
                pool.shutdown();
            }
        }
    }

    private static float[] run(SigmoidMultiHeadAttention block, float[] input) {
        try (NDManager own = gpuManager()) {
            NDArray x = own.create(input, new Shape(2, 200, 256)).toType(DataType.FLOAT16, false);
            return block.forward(new ParameterStore(own, false), new NDList(x), false)
                    .head()
                    .toType(DataType.FLOAT32, false)
                    .toFloatArray();
        }
    }
}
