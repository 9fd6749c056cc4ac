package io.github.sigmoidattention.benchmarks;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import io.github.sigmoidattention.examples.BenchmarkReport;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;
import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * One training step of the block on the GPU from Java, float16: forward in training mode and
 * backward to every parameter and the input, with {@code FUSED} (the differentiable op of the
 * autograd library: fused forward and backward kernels) against {@code REFERENCE} and DJL's softmax
 * {@link ScaledDotProductAttentionBlock}; self-attention, non-causal. Times as in {@link
 * GpuBlockBenchmark}: medians over interleaved rounds. Writes its section of BENCHMARKS.md.
 *
 * <p>Flags: {@code --shapes 4,4096,2048,16} (B,T,E,H; several separated by ';') {@code --rounds 10
 * --calls 5 --out <BENCHMARKS.md>}.
 */
public final class GpuTrainingBenchmark {

    private GpuTrainingBenchmark() {}

    /**
     * Runs the benchmark.
     *
     * @param args flags, see the class comment
     * @throws IOException if BENCHMARKS.md cannot be written
     */
    public static void main(String[] args) throws IOException {
        String shapes = "4,4096,2048,16";
        int rounds = 10;
        int calls = 5;
        Path out = BenchmarkReport.defaultFile();
        for (int i = 0; i + 1 < args.length; i += 2) {
            String value = args[i + 1];
            switch (args[i]) {
                case "--shapes" -> shapes = value;
                case "--rounds" -> rounds = Integer.parseInt(value);
                case "--calls" -> calls = Integer.parseInt(value);
                case "--out" -> out = Paths.get(value);
                default -> throw new IllegalArgumentException("unknown flag " + args[i]);
            }
        }
        Engine engine = Engine.getEngine("PyTorch");
        if (engine.getGpuCount() == 0 || !FlashSigmoidLibrary.isAutogradAvailable()) {
            throw new IllegalStateException(
                    "needs a GPU and the autograd library: "
                            + engine.getGpuCount()
                            + " GPUs; "
                            + FlashSigmoidLibrary.getAutogradUnavailableReason());
        }
        StringBuilder rows = new StringBuilder();
        for (String s : shapes.split(";")) {
            String[] p = s.split(",");
            String row =
                    row(
                            Long.parseLong(p[0]),
                            Long.parseLong(p[1]),
                            Long.parseLong(p[2]),
                            Integer.parseInt(p[3]),
                            rounds,
                            calls);
            System.out.println(row);
            rows.append(row).append('\n');
        }
        String md =
                String.format(
                        Locale.ROOT,
                        "## GPU training step from Java, float16 (%s)%n%n"
                                + "On the GPU machine (%s, DJL %s on PyTorch %s, DJL's JNI and"
                                + " libflash_sigmoid_autograd built there):%n%n"
                                + "```%ncuda-ops/gpu-tests/run_java_tests.sh --bench%n```%n%n"
                                + "One training step of the block: forward with training = true"
                                + " inside a GradientCollector, backward of the output's sum to every"
                                + " parameter; self-attention, non-causal, bias -ln T, parameters and"
                                + " inputs float16; median over %d rounds of %d steps (then one wait"
                                + " for the device), the three blocks interleaved.%n%n"
                                + "| B, T, E, H | DJL softmax block ms | sigmoid REFERENCE ms |"
                                + " sigmoid FUSED ms | **FUSED vs REFERENCE** | FUSED vs DJL softmax |%n"
                                + "|---|---|---|---|---|---|%n%s",
                        LocalDate.now(),
                        GpuTiming.gpuName(),
                        Engine.getDjlVersion(),
                        engine.getVersion(),
                        rounds,
                        calls,
                        rows);
        System.out.println(md);
        BenchmarkReport.writeSection(out, "gpu-training", md);
        System.out.println("Wrote the gpu-training section of " + out);
    }

    private static String row(long b, long t, long e, int h, int rounds, int calls) {
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            Shape shape = new Shape(b, t, e);
            Block[] subjects = GpuTiming.threeBlocks(m, e, h, shape);
            NDArray x = m.randomNormal(shape).toType(DataType.FLOAT16, false);
            x.setRequiresGradient(true);
            ParameterStore ps = new ParameterStore(m, false);
            List<Supplier<Object>> steps = new ArrayList<>();
            for (Block block : subjects) {
                steps.add(
                        () -> {
                            try (GradientCollector gc =
                                    Engine.getInstance().newGradientCollector()) {
                                NDArray y = block.forward(ps, new NDList(x), true).head();
                                gc.backward(y.sum());
                            }
                            return null;
                        });
            }
            double[] ms = GpuTiming.interleavedMedians(x, rounds, calls, steps);
            double softmax = ms[0];
            double reference = ms[1];
            double fused = ms[2];
            return String.format(
                    Locale.ROOT,
                    "| %d, %d, %d, %d | %.3f | %.3f | %.3f | **%.2f×** | %.2f× |",
                    b,
                    t,
                    e,
                    h,
                    softmax,
                    reference,
                    fused,
                    reference / fused,
                    softmax / fused);
        }
    }
}
