package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import io.github.sigmoidattention.nn.transformer.SigmoidTransformerEncoderBlock;
import io.github.sigmoidattention.ops.AttentionCall;
import io.github.sigmoidattention.ops.FlashSigmoid;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;
import io.github.sigmoidattention.ops.PtArrays;
import io.github.sigmoidattention.testing.TestArrays;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * bfloat16 through every public entry point. DJL 0.36's JNI aborts the JVM (SIGABRT, no Java
 * exception) when it creates or converts a bfloat16 array, so the calls run in a JVM of their own
 * ({@link #main}): a regression ends that JVM, not the suite, and shows here as its exit status and
 * output. Each entry point must either compute bfloat16 correctly (through PyTorch's conversions,
 * never DJL's) or refuse with an IllegalArgumentException that names bfloat16.
 */
class BFloat16EntryPointsTest {

    /** The scenarios {@link #main} runs; each prints "OK name" when it passes. */
    private static final String[] SCENARIOS = {
        "kvCacheCreate",
        "blockInitialize",
        "blockInput",
        "blockMask",
        "encoderInitialize",
        "attendAuto",
        "attendReference",
        "attendFused",
        "flashSigmoidForwardBackward",
    };

    @Test
    void everyEntryPointComputesOrRefusesBfloat16InAJvmOfItsOwn() throws Exception {
        String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command =
                new ArrayList<>(
                        List.of(
                                java,
                                "-cp",
                                System.getProperty("java.class.path"),
                                "-Dai.djl.offline=true",
                                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                                BFloat16EntryPointsTest.class.getName()));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output;
        try {
            assertTrue(process.waitFor(5, TimeUnit.MINUTES), "the child JVM did not finish");
        } finally {
            output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            process.destroyForcibly();
        }
        // 134 is SIGABRT: DJL's JNI aborted the JVM.
        assertEquals(
                0,
                process.exitValue(),
                "the child JVM failed (exit " + process.exitValue() + "):\n" + output);
        for (String scenario : SCENARIOS) {
            assertTrue(
                    output.contains("OK " + scenario + "\n"),
                    scenario + " did not pass:\n" + output);
        }
    }

    /**
     * Runs every scenario in this JVM; exits with status 1 when one fails with a Java exception.
     *
     * @param args unused
     * @throws IOException never
     */
    public static void main(String[] args) throws IOException {
        int failures = 0;
        for (String scenario : SCENARIOS) {
            try (NDManager m = NDManager.newBaseManager()) {
                run(scenario, m);
                System.out.println("OK " + scenario);
            } catch (Throwable e) {
                failures++;
                System.out.println("FAILED " + scenario + ": " + e);
                e.printStackTrace(System.out);
            }
            System.out.flush();
        }
        System.exit(failures == 0 ? 0 : 1);
    }

    private static void run(String scenario, NDManager m) {
        if (!FlashSigmoidLibrary.isAvailable()) {
            throw new AssertionError(FlashSigmoidLibrary.getUnavailableReason());
        }
        SigmoidMultiHeadAttention block =
                SigmoidMultiHeadAttention.builder().setEmbeddingSize(16).setHeadCount(2).build();
        ParameterStore ps = new ParameterStore(m, false);
        switch (scenario) {
            case "kvCacheCreate":
                refused(
                        () -> KvCache.create(block, m, 1, 8, DataType.BFLOAT16),
                        "dataType",
                        "bfloat16");
                block.initialize(m, DataType.FLOAT32, new Shape(1, 4, 16));
                refused(
                        () -> KvCache.create(block, m, 1, 8, DataType.BFLOAT16),
                        "dataType",
                        "bfloat16");
                refused(
                        () -> KvCache.create(block, m, 1, 8, DataType.FLOAT16),
                        "dataType",
                        "float32");
                break;
            case "blockInitialize":
                refused(
                        () -> block.initialize(m, DataType.BFLOAT16, new Shape(1, 4, 16)),
                        "bfloat16");
                break;
            case "blockInput":
                block.initialize(m, DataType.FLOAT32, new Shape(1, 4, 16));
                NDArray x = bf16(m.randomNormal(new Shape(1, 4, 16)));
                refused(() -> block.forward(ps, new NDList(x), false), "X", "bfloat16");
                refused(() -> block.forward(ps, new NDList(x, x, x), true), "K", "bfloat16");
                break;
            case "blockMask":
                block.initialize(m, DataType.FLOAT32, new Shape(1, 4, 16));
                NDArray input = m.randomNormal(new Shape(1, 4, 16));
                NDArray mask = bf16(m.ones(new Shape(1, 4)));
                refused(
                        () -> block.forward(ps, new NDList(input, mask), false),
                        "mask",
                        "bfloat16");
                break;
            case "encoderInitialize":
                refused(
                        () ->
                                SigmoidTransformerEncoderBlock.builder()
                                        .setEmbeddingSize(16)
                                        .setHeadCount(2)
                                        .setHiddenSize(32)
                                        .build()
                                        .initialize(m, DataType.BFLOAT16, new Shape(1, 4, 16)),
                        "bfloat16");
                break;
            case "attendAuto":
                attendMatchesFloat32(m, AttentionKernel.AUTO);
                break;
            case "attendReference":
                attendMatchesFloat32(m, AttentionKernel.REFERENCE);
                break;
            case "attendFused":
                attendMatchesFloat32(m, AttentionKernel.FUSED);
                break;
            case "flashSigmoidForwardBackward":
                NDArray q = bf16(m.randomNormal(new Shape(2, 5, 4, 8)));
                NDArray k = bf16(m.randomNormal(new Shape(2, 7, 2, 8)));
                check(
                        PtArrays.dataType(FlashSigmoid.forward(q, k, k, 0.35f, -2f, true))
                                == DataType.BFLOAT16,
                        "forward keeps bfloat16");
                NDList grads =
                        FlashSigmoid.backward(q, AttentionCall.of(q, k, k, 0.35f, -2f, true));
                check(PtArrays.dataType(grads.get(0)) == DataType.BFLOAT16, "dq is bfloat16");
                check(
                        grads.get(3).getDataType() == DataType.FLOAT32,
                        "the head-bias gradient is float32");
                break;
            default:
                throw new AssertionError("unknown scenario " + scenario);
        }
    }

    /** SigmoidAttention.attend on bfloat16 inputs against float32 on the same (rounded) values. */
    private static void attendMatchesFloat32(NDManager m, AttentionKernel kernel) {
        Random r = new Random();
        for (int n = 0; n < 8; n++) {
            int b = 1 + r.nextInt(2);
            int t = 1 + r.nextInt(9);
            int f = r.nextBoolean() ? t : 1 + r.nextInt(9);
            int h = new int[] {1, 2, 4}[r.nextInt(3)];
            int g = h % 2 == 0 && r.nextBoolean() ? h / 2 : h;
            int d = 1 + r.nextInt(16);
            boolean causal = r.nextBoolean();
            NDArray q = bf16(m.randomNormal(new Shape(b, t, h, d)));
            NDArray k = bf16(m.randomNormal(new Shape(b, f, g, d)));
            NDArray v = bf16(m.randomNormal(new Shape(b, f, g, d)));
            float scale = (float) (1 / Math.sqrt(d));
            float bias = (float) -Math.log(f);
            NDArray out = SigmoidAttention.attend(q, k, v, scale, bias, causal, kernel);
            check(PtArrays.dataType(out) == DataType.BFLOAT16, "the output is bfloat16");
            NDArray expected =
                    SigmoidAttention.attend(
                            PtArrays.toDataType(q, DataType.FLOAT32),
                            PtArrays.toDataType(k, DataType.FLOAT32),
                            PtArrays.toDataType(v, DataType.FLOAT32),
                            scale,
                            bias,
                            causal,
                            AttentionKernel.REFERENCE);
            double error =
                    TestArrays.relativeError(
                            TestArrays.values(PtArrays.toDataType(out, DataType.FLOAT32)),
                            TestArrays.values(expected));
            // The output is rounded to bfloat16 (8 bits of mantissa).
            check(
                    error < 1e-2,
                    kernel
                            + " B="
                            + b
                            + " T="
                            + t
                            + " F="
                            + f
                            + " H="
                            + h
                            + " G="
                            + g
                            + " D="
                            + d
                            + ": relative error "
                            + error);
        }
    }

    private static NDArray bf16(NDArray x) {
        return PtArrays.toDataType(x, DataType.BFLOAT16);
    }

    private static void refused(Runnable call, String... fragments) {
        try {
            call.run();
        } catch (IllegalArgumentException e) {
            for (String fragment : fragments) {
                check(
                        e.getMessage() != null && e.getMessage().contains(fragment),
                        "message '" + e.getMessage() + "' lacks '" + fragment + "'");
            }
            return;
        }
        throw new AssertionError("not refused");
    }

    private static void check(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }
}
