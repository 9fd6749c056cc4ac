package io.github.sigmoidattention.benchmarks;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import ai.djl.training.ParameterStore;
import io.github.sigmoidattention.examples.BenchmarkReport;
import io.github.sigmoidattention.nn.attention.SigmoidMultiHeadAttention;
import io.github.sigmoidattention.ops.FlashSigmoid;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The GPU benchmark from Java, float16, inference: the block's forward with {@code FUSED} (the CUDA
 * kernels) against the same block with {@code REFERENCE} (NDArray operations) and against DJL's
 * softmax {@link ScaledDotProductAttentionBlock}, self-attention, non-causal; then the op alone,
 * called from Java ({@link FlashSigmoid#forward}) against the same op called from Python on the
 * same shapes ({@code benchmarks/gpu/op_from_python.py}, run by this program): the cost of the JNI
 * path. Every time is the median over rounds of (calls, then one wait for the device) per call, the
 * three blocks interleaved round by round. Writes its section of BENCHMARKS.md.
 *
 * <p>Flags: {@code --shapes 4,4096,2048,16;8,2048,1024,16} (B,T,E,H) {@code --rounds 15 --calls 10
 * --python python3 --out <BENCHMARKS.md>}; {@code --python none} skips the Python side.
 */
public final class GpuBlockBenchmark {

    private GpuBlockBenchmark() {}

    /**
     * Runs the benchmark.
     *
     * @param args flags, see the class comment
     * @throws IOException if BENCHMARKS.md cannot be written or Python cannot be run
     * @throws InterruptedException if interrupted while Python runs
     */
    public static void main(String[] args) throws IOException, InterruptedException {
        String shapes = "4,4096,2048,16;8,2048,1024,16";
        int rounds = 15;
        int calls = 10;
        String python = "python3";
        Path out = BenchmarkReport.defaultFile();
        for (int i = 0; i + 1 < args.length; i += 2) {
            String value = args[i + 1];
            switch (args[i]) {
                case "--shapes":
                    shapes = value;
                    break;
                case "--rounds":
                    rounds = Integer.parseInt(value);
                    break;
                case "--calls":
                    calls = Integer.parseInt(value);
                    break;
                case "--python":
                    python = value;
                    break;
                case "--out":
                    out = Paths.get(value);
                    break;
                default:
                    throw new IllegalArgumentException("unknown flag " + args[i]);
            }
        }
        Engine engine = Engine.getEngine("PyTorch");
        if (engine.getGpuCount() == 0 || FlashSigmoidLibrary.getCudaHeadDims().length == 0) {
            throw new IllegalStateException(
                    "needs a GPU and the library's CUDA kernels: "
                            + engine.getGpuCount()
                            + " GPUs, "
                            + (FlashSigmoidLibrary.isAvailable()
                                    ? "no CUDA kernels"
                                    : FlashSigmoidLibrary.getUnavailableReason()));
        }
        List<long[]> sizes = new ArrayList<>();
        for (String s : shapes.split(";")) {
            String[] p = s.split(",");
            sizes.add(
                    new long[] {
                        Long.parseLong(p[0]),
                        Long.parseLong(p[1]),
                        Long.parseLong(p[2]),
                        Long.parseLong(p[3])
                    });
        }
        StringBuilder blocks = new StringBuilder();
        StringBuilder ops = new StringBuilder();
        Map<String, Double> javaOp = new HashMap<>();
        for (long[] s : sizes) {
            String row = blockRow(s[0], s[1], s[2], (int) s[3], rounds, calls);
            System.out.println(row);
            blocks.append(row).append('\n');
            long d = s[2] / s[3];
            javaOp.put(key(s[0], s[1], s[3], d), opMillis(s[0], s[1], s[3], d, rounds, calls));
        }
        Map<String, Double> pythonOp =
                "none".equals(python) ? Map.of() : pythonOpMillis(python, javaOp, rounds, calls);
        for (Map.Entry<String, Double> e : javaOp.entrySet()) {
            String[] p = e.getKey().split(",");
            double flops =
                    4.0
                            * Double.parseDouble(p[0])
                            * Double.parseDouble(p[2])
                            * Math.pow(Double.parseDouble(p[1]), 2)
                            * Double.parseDouble(p[3]);
            Double py = pythonOp.get(e.getKey());
            String row =
                    String.format(
                            Locale.ROOT,
                            "| %s | %.3f | %.0f | %s | %s |",
                            e.getKey(),
                            e.getValue(),
                            flops / e.getValue() / 1e9,
                            py == null ? "–" : String.format(Locale.ROOT, "%.3f", py),
                            py == null
                                    ? "–"
                                    : String.format(Locale.ROOT, "**%.3f**", e.getValue() / py));
            System.out.println(row);
            ops.append(row).append('\n');
        }
        List<String> measuring = new ArrayList<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!"--out".equals(args[i])) {
                measuring.add(args[i] + " " + args[i + 1]);
            }
        }
        String command =
                "cuda-ops/gpu-tests/run_java_tests.sh --bench"
                        + (measuring.isEmpty()
                                ? ""
                                : " --bench-args \"" + String.join(" ", measuring) + "\"");
        String md =
                String.format(
                        Locale.ROOT,
                        "## GPU block from Java, float16 (%s)%n%n"
                                + "On the GPU machine (%s, DJL %s on PyTorch %s with DJL's JNI rebuilt"
                                + " there), from the repository root, with the bundle that"
                                + " `cuda-ops/gpu-tests/make_java_bundle.sh` made on the CPU machine:%n%n"
                                + "```%n%s%n```%n%n"
                                + "The block's forward in inference, self-attention, non-causal, bias"
                                + " -ln T, parameters and inputs float16; median over %d rounds of %d"
                                + " calls each (then one wait for the device), the three blocks"
                                + " interleaved. DJL softmax: `ai.djl.nn.transformer.ScaledDotProductAttentionBlock`.%n%n"
                                + "| B, T, E, H | DJL softmax block ms | sigmoid REFERENCE ms |"
                                + " sigmoid FUSED ms | its 4 projections alone ms |"
                                + " **FUSED vs DJL softmax** | FUSED vs REFERENCE |%n"
                                + "|---|---|---|---|---|---|---|%n"
                                + "%s%n"
                                + "The op alone, (B, T, H, D) float16, non-causal: `FlashSigmoid.forward`"
                                + " on DJL arrays from Java against `torch.ops.flash_sigmoid.forward`"
                                + " from Python (`benchmarks/gpu/op_from_python.py`, the same library"
                                + " file, timed the same way, in the same run). TFLOP/s: 4·B·H·T²·D"
                                + " over the Java time.%n%n"
                                + "| B, T, H, D | from Java ms | TFLOP/s | from Python ms |"
                                + " **Java / Python** |%n"
                                + "|---|---|---|---|---|%n"
                                + "%s",
                        LocalDate.now(),
                        GpuTiming.gpuName(),
                        ai.djl.engine.Engine.getDjlVersion(),
                        engine.getVersion(),
                        command,
                        rounds,
                        calls,
                        blocks,
                        ops);
        System.out.println(md);
        BenchmarkReport.writeSection(out, "gpu-block", md);
        System.out.println("Wrote the gpu-block section of " + out);
    }

    private static String key(long b, long t, long h, long d) {
        return b + "," + t + "," + h + "," + d;
    }

    private static String blockRow(long b, long t, long e, int h, int rounds, int calls) {
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            Shape shape = new Shape(b, t, e);
            Block[] subjects = GpuTiming.threeBlocks(m, e, h, shape);
            NDArray x = m.randomNormal(shape).toType(DataType.FLOAT16, false);
            ParameterStore ps = new ParameterStore(m, false);
            SigmoidMultiHeadAttention sigmoid = (SigmoidMultiHeadAttention) subjects[2];
            Linear[] projections = {
                sigmoid.getQueryProjection(),
                sigmoid.getKeyProjection(),
                sigmoid.getValueProjection(),
                sigmoid.getResultProjection()
            };
            List<Supplier<Object>> subjectCalls = new ArrayList<>();
            for (Block block : subjects) {
                subjectCalls.add(() -> block.forward(ps, new NDList(x), false));
            }
            // The floor under the block: its four projections alone, on (B·T, E) as it runs them.
            subjectCalls.add(
                    () -> {
                        NDArray flat = x.reshape(b * t, e);
                        for (Linear projection : projections) {
                            projection.forward(ps, new NDList(flat), false);
                        }
                        return null;
                    });
            double[] ms = GpuTiming.interleavedMedians(x, rounds, calls, subjectCalls);
            double softmaxMs = ms[0];
            double referenceMs = ms[1];
            double fusedMs = ms[2];
            double projectionsMs = ms[3];
            return String.format(
                    Locale.ROOT,
                    "| %d, %d, %d, %d | %.3f | %.3f | %.3f | %.3f | **%.2f×** | %.2f× |",
                    b,
                    t,
                    e,
                    h,
                    softmaxMs,
                    referenceMs,
                    fusedMs,
                    projectionsMs,
                    softmaxMs / fusedMs,
                    referenceMs / fusedMs);
        }
    }

    private static double opMillis(long b, long t, long h, long d, int rounds, int calls) {
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            Shape shape = new Shape(b, t, h, d);
            NDArray q = m.randomNormal(shape).toType(DataType.FLOAT16, false);
            NDArray k = m.randomNormal(shape).toType(DataType.FLOAT16, false);
            NDArray v = m.randomNormal(shape).toType(DataType.FLOAT16, false);
            float scale = (float) (1 / Math.sqrt(d));
            float bias = (float) -Math.log(t);
            List<Double> times = new ArrayList<>();
            for (int round = -2; round < rounds; round++) {
                double ms =
                        GpuTiming.perCall(
                                q, calls, () -> FlashSigmoid.forward(q, k, v, scale, bias, false));
                if (round >= 0) {
                    times.add(ms);
                }
            }
            return BenchmarkReport.median(times);
        }
    }

    /** Runs op_from_python.py on the same shapes and reads its "B,T,H,D ms" lines. */
    private static Map<String, Double> pythonOpMillis(
            String python, Map<String, Double> javaOp, int rounds, int calls)
            throws IOException, InterruptedException {
        Path library = FlashSigmoidLibrary.getLibraryPath();
        List<String> command =
                new ArrayList<>(
                        List.of(
                                python,
                                "benchmarks/gpu/op_from_python.py",
                                library.toString(),
                                "--shapes",
                                String.join(";", javaOp.keySet()),
                                "--rounds",
                                Integer.toString(rounds),
                                "--calls",
                                Integer.toString(calls)));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        Map<String, Double> result = new HashMap<>();
        try (BufferedReader r =
                new BufferedReader(
                        new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                System.out.println("python: " + line);
                String[] parts = line.trim().split(" ");
                if (parts.length == 2 && javaOp.containsKey(parts[0])) {
                    result.put(parts[0], Double.parseDouble(parts[1]));
                }
            }
        }
        if (p.waitFor() != 0) {
            throw new IOException("op_from_python.py failed: exit " + p.exitValue());
        }
        return result;
    }
}
