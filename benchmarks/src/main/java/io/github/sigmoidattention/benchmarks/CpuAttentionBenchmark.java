package io.github.sigmoidattention.benchmarks;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import io.github.sigmoidattention.examples.BenchmarkReport;
import io.github.sigmoidattention.nn.attention.AttentionKernel;
import io.github.sigmoidattention.nn.attention.SigmoidAttention;
import io.github.sigmoidattention.ops.AtenBaselines;
import io.github.sigmoidattention.ops.AttentionCall;
import io.github.sigmoidattention.ops.CpuKernels;
import io.github.sigmoidattention.ops.FlashSigmoid;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * The CPU benchmark of the attention core, float32, B=1: the fused sigmoid kernel against ATen's
 * fused CPU attention for softmax (aten::_scaled_dot_product_flash_attention_for_cpu, the best
 * softmax anchor on the CPU) and against the reference kernel (NDArray operations), forward and
 * backward; then the resident memory of the fused forward at a long length. Baseline and subject
 * run interleaved in one process; times are medians. Writes its section of BENCHMARKS.md.
 *
 * <p>Flags: {@code --lengths 512,2048,8192 --reps 7 --threads 2 --heads 8 --dim 64 --memory-length
 * 32768 --out <BENCHMARKS.md>}.
 */
public final class CpuAttentionBenchmark {

    private CpuAttentionBenchmark() {}

    /**
     * Runs the benchmark.
     *
     * @param args flags, see the class comment
     * @throws IOException if BENCHMARKS.md cannot be written
     */
    public static void main(String[] args) throws IOException {
        int[] lengths = {512, 2048, 8192};
        int reps = 7;
        int threads = 2;
        int heads = 8;
        int dim = 64;
        int memoryLength = 32768;
        Path out = BenchmarkReport.defaultFile();
        for (int i = 0; i + 1 < args.length; i += 2) {
            String value = args[i + 1];
            switch (args[i]) {
                case "--lengths":
                    lengths = Arrays.stream(value.split(",")).mapToInt(Integer::parseInt).toArray();
                    break;
                case "--reps":
                    reps = Integer.parseInt(value);
                    break;
                case "--threads":
                    threads = Integer.parseInt(value);
                    break;
                case "--heads":
                    heads = Integer.parseInt(value);
                    break;
                case "--dim":
                    dim = Integer.parseInt(value);
                    break;
                case "--memory-length":
                    memoryLength = Integer.parseInt(value);
                    break;
                case "--out":
                    out = Paths.get(value);
                    break;
                default:
                    throw new IllegalArgumentException("unknown flag " + args[i]);
            }
        }
        Engine.getEngine("PyTorch");
        if (!FlashSigmoidLibrary.isAvailable()) {
            throw new IllegalStateException(FlashSigmoidLibrary.getUnavailableReason());
        }
        JniUtils.setNumThreads(threads);
        CpuKernels.setNumThreads(threads);
        String command =
                "mvn -q -DskipTests package exec:exec"
                        + " -Dbenchmark=CpuAttentionBenchmark"
                        + (args.length > 0
                                ? " -Dbenchmark.args=\"" + String.join(" ", args) + "\""
                                : "");
        StringBuilder md = new StringBuilder();
        md.append(
                String.format(
                        Locale.ROOT,
                        "## CPU attention core, float32 (%s)%n%n"
                                + "`%s`%n%n"
                                + "B=1, H=%d, D=%d, T = F, non-causal, %d threads (ATen intra-op and"
                                + " FlashSigmoid), kernels: %s; median of %d interleaved runs (fewer for"
                                + " the slow reference, see n). Bias -ln T, scale 1/√D. † The reference ran"
                                + " one head at a time (times summed): for all heads at once its autograd"
                                + " needs more than this machine's 24 GB.%n%n"
                                + "| T | ATen flash softmax fwd | FlashSigmoid fwd | **speedup vs ATen**"
                                + " | GFLOP/s | reference fwd (n) | fused vs reference fwd |"
                                + " reference autograd bwd (n) | FlashSigmoid bwd | fused vs reference bwd |%n"
                                + "|---|---|---|---|---|---|---|---|---|---|%n",
                        LocalDate.now(),
                        command,
                        heads,
                        dim,
                        threads,
                        CpuKernels.getIsa(),
                        reps));
        // Memory first: later runs leave freed pages in the allocator, which would hide growth.
        String memory = memory(memoryLength, heads, dim);
        System.out.println(memory);
        for (int t : lengths) {
            String row = row(t, heads, dim, reps);
            System.out.println(row);
            md.append(row).append('\n');
        }
        md.append('\n').append(memory);
        System.out.println(md);
        BenchmarkReport.writeSection(out, "cpu-attention", md.toString());
        System.out.println("Wrote the cpu-attention section of " + out);
    }

    private static double millis(Runnable r) {
        long start = System.nanoTime();
        r.run();
        return (System.nanoTime() - start) / 1e6;
    }

    private static String row(int t, int heads, int dim, int reps) {
        float scale = (float) (1 / Math.sqrt(dim));
        float bias = (float) -Math.log(t);
        List<Double> aten = new ArrayList<>();
        List<Double> fused = new ArrayList<>();
        List<Double> fusedBack = new ArrayList<>();
        List<Double> ref = new ArrayList<>();
        List<Double> refBack = new ArrayList<>();
        String refNote;
        // The reference materialises (H, T, T) weights: a few runs suffice at long lengths.
        int refReps = t >= 8192 ? 3 : t >= 4096 ? 3 : reps;
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray qa = m.randomNormal(new Shape(1, heads, t, dim));
            NDArray ka = m.randomNormal(new Shape(1, heads, t, dim));
            NDArray va = m.randomNormal(new Shape(1, heads, t, dim));
            NDArray q = m.randomNormal(new Shape(1, t, heads, dim));
            NDArray k = m.randomNormal(new Shape(1, t, heads, dim));
            NDArray v = m.randomNormal(new Shape(1, t, heads, dim));
            NDArray grad = m.randomNormal(new Shape(1, t, heads, dim));
            Supplier<NDArray> atenCall =
                    () -> AtenBaselines.softmaxFlashAttentionCpu(qa, ka, va, false);
            Supplier<NDArray> fusedCall = () -> FlashSigmoid.forward(q, k, v, scale, bias, false);
            atenCall.get().close(); // warm up
            fusedCall.get().close();
            for (int r = 0; r < reps; r++) {
                aten.add(millis(() -> atenCall.get().close()));
                fused.add(millis(() -> fusedCall.get().close()));
                fusedBack.add(
                        millis(
                                () ->
                                        FlashSigmoid.backward(
                                                        grad,
                                                        AttentionCall.of(
                                                                q, k, v, scale, bias, false))
                                                .close()));
            }
            // Past 4096 the reference's autograd needs more than this machine's 24 GB for all heads
            // at once, so it runs head by head (the same work) and the times are summed.
            int split = t > 4096 ? heads : 1;
            for (int r = 0; r < refReps; r++) {
                double forward = 0;
                double backward = 0;
                for (int part = 0; part < split; part++) {
                    String range = split == 1 ? ":" : part + ":" + (part + 1);
                    NDArray qh = q.get(":, :, " + range + ", :");
                    NDArray kh = k.get(":, :, " + range + ", :");
                    NDArray vh = v.get(":, :, " + range + ", :");
                    NDArray gh = grad.get(":, :, " + range + ", :");
                    try (NDManager s = m.newSubManager()) {
                        s.tempAttachAll(qh, kh, vh, gh);
                        forward +=
                                millis(
                                        () ->
                                                SigmoidAttention.attend(
                                                                qh,
                                                                kh,
                                                                vh,
                                                                scale,
                                                                bias,
                                                                false,
                                                                AttentionKernel.REFERENCE)
                                                        .close());
                    }
                    try (NDManager s = m.newSubManager()) {
                        NDArray qg = qh.duplicate();
                        NDArray kg = kh.duplicate();
                        NDArray vg = vh.duplicate();
                        s.tempAttachAll(qg, kg, vg);
                        for (NDArray x : new NDArray[] {qg, kg, vg}) {
                            x.setRequiresGradient(true);
                        }
                        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                            NDArray o =
                                    SigmoidAttention.attend(
                                            qg,
                                            kg,
                                            vg,
                                            scale,
                                            bias,
                                            false,
                                            AttentionKernel.REFERENCE);
                            NDArray loss = o.mul(gh).sum();
                            backward += millis(() -> gc.backward(loss));
                        }
                    }
                }
                ref.add(forward);
                refBack.add(backward);
            }
            refNote = split == 1 ? "" : "†";
        }
        double flop = 4.0 * heads * (double) t * t * dim;
        double a = BenchmarkReport.median(aten);
        double f = BenchmarkReport.median(fused);
        double fb = BenchmarkReport.median(fusedBack);
        double rf = BenchmarkReport.median(ref);
        double rb = BenchmarkReport.median(refBack);
        return String.format(
                Locale.ROOT,
                "| %d | %.2f ms | %.2f ms | **%.2fx** | %.0f | %.1f ms (%d)%s | %.1fx | %.1f ms (%d)%s |"
                        + " %.2f ms | %.1fx |",
                t,
                a,
                f,
                a / f,
                flop / f / 1e6,
                rf,
                ref.size(),
                refNote,
                rf / f,
                rb,
                refBack.size(),
                refNote,
                fb,
                rb / fb);
    }

    private static long statusKiB(String field) throws IOException {
        for (String line :
                Files.readAllLines(Paths.get("/proc/self/status"), StandardCharsets.UTF_8)) {
            if (line.startsWith(field + ":")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IOException("no " + field + " in /proc/self/status");
    }

    private static String memory(int t, int heads, int dim) throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q = m.randomNormal(new Shape(1, t, heads, dim));
            NDArray k = m.randomNormal(new Shape(1, t, heads, dim));
            NDArray v = m.randomNormal(new Shape(1, t, heads, dim));
            float scale = (float) (1 / Math.sqrt(dim));
            long before = statusKiB("VmRSS");
            // Resets the peak resident size (VmHWM) to the current one (Linux 4.0+).
            Files.write(
                    Paths.get("/proc/self/clear_refs"), "5".getBytes(StandardCharsets.US_ASCII));
            double ms;
            try (NDManager s = m.newSubManager()) {
                ms =
                        millis(
                                () ->
                                        FlashSigmoid.forward(
                                                        q, k, v, scale, (float) -Math.log(t), false)
                                                .close());
            }
            long peak = statusKiB("VmHWM");
            double extraMiB = (peak - before) / 1024.0;
            double outputMiB = (double) t * heads * dim * 4 / (1 << 20);
            double scoresGiB = (double) heads * t * t * 4 / (1L << 30);
            return String.format(
                    Locale.ROOT,
                    "Memory, FlashSigmoid forward at T = F = %d (H=%d, D=%d): peak resident memory"
                            + " grew by **%.0f MiB** (%.0f MiB of it is the output), in %.1f s. The"
                            + " reference kernel would need %.0f GiB for one (H, T, F) float32 weight"
                            + " matrix, and keeps several.%n",
                    t,
                    heads,
                    dim,
                    extraMiB,
                    outputMiB,
                    ms / 1000,
                    scoresGiB);
        }
    }
}
