package io.github.sigmoidattention.benchmarks;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.sigmoidattention.examples.BenchmarkReport;
import io.github.sigmoidattention.ops.AtenBaselines;
import io.github.sigmoidattention.ops.CpuKernels;
import io.github.sigmoidattention.ops.FlashSigmoid;
import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * The CPU benchmark of one decoding step, float32: one query per sequence against a cache of keys
 * (H query heads sharing G kv heads), the fused forward with the key range split across threads
 * (the default) against the same kernel unsplit, and against ATen's fused CPU softmax attention on
 * the same cache with the kv heads repeated to H (it takes no GQA). Interleaved in one process;
 * medians. Writes its section of BENCHMARKS.md.
 *
 * <p>Flags: {@code --lengths 1024,8192,32768 --batch 1 --heads 32 --kv-heads 8 --dim 128 --reps 15
 * --threads 2 --name <section suffix> --out <BENCHMARKS.md>}. The split applies only when the
 * (batch, head) items are fewer than twice the threads: with H=32 on 2 threads both columns run the
 * same path; {@code --heads 1 --kv-heads 1 --name one-head} shows the split.
 */
public final class CpuDecodeBenchmark {

    private CpuDecodeBenchmark() {}

    /**
     * Runs the benchmark.
     *
     * @param args flags, see the class comment
     * @throws IOException if BENCHMARKS.md cannot be written
     */
    public static void main(String[] args) throws IOException {
        int[] lengths = {1024, 8192, 32768};
        int batch = 1;
        int heads = 32;
        int kvHeads = 8;
        int dim = 128;
        int reps = 15;
        int threads = 2;
        Path out = BenchmarkReport.defaultFile();
        String name = "cpu-decode";
        for (int i = 0; i + 1 < args.length; i += 2) {
            String value = args[i + 1];
            switch (args[i]) {
                case "--lengths" ->
                        lengths =
                                Arrays.stream(value.split(","))
                                        .mapToInt(Integer::parseInt)
                                        .toArray();
                case "--batch" -> batch = Integer.parseInt(value);
                case "--heads" -> heads = Integer.parseInt(value);
                case "--kv-heads" -> kvHeads = Integer.parseInt(value);
                case "--dim" -> dim = Integer.parseInt(value);
                case "--reps" -> reps = Integer.parseInt(value);
                case "--threads" -> threads = Integer.parseInt(value);
                case "--out" -> out = Paths.get(value);
                case "--name" -> name = "cpu-decode-" + value;
                default -> throw new IllegalArgumentException("unknown flag " + args[i]);
            }
        }
        CpuKernels.setNumThreads(threads);
        StringBuilder md = new StringBuilder();
        md.append(
                String.format(
                        Locale.ROOT,
                        "### CPU decode step, float32 (%s)%n%n"
                                + "```%nmvn -q -DskipTests package exec:exec -Dbenchmark=%s -Dbenchmark.args=\"%s\"%n```%n%n"
                                + "One query per sequence, B=%d, H=%d query heads on G=%d kv heads, D=%d, %d threads,"
                                + " kernels: %s; median of %d interleaved runs. Split: the fused forward with the key"
                                + " range split across threads and the partial outputs summed (the default for at"
                                + " most 16 queries); unsplit: the same kernel with one range per (batch, head);"
                                + " ATen: its fused CPU softmax attention, kv heads repeated to H.%n%n"
                                + "| cache | split (ms) | unsplit (ms) | split speed-up | ATen softmax (ms) | split vs ATen | split GB/s (K and V read) |%n"
                                + "|---|---|---|---|---|---|---|%n",
                        java.time.LocalDate.now(),
                        CpuDecodeBenchmark.class.getSimpleName(),
                        String.join(" ", args),
                        batch,
                        heads,
                        kvHeads,
                        dim,
                        threads,
                        CpuKernels.getIsa(),
                        reps));
        for (int n : lengths) {
            md.append(row(n, batch, heads, kvHeads, dim, reps)).append('\n');
        }
        System.out.println(md);
        BenchmarkReport.writeSection(out, name, md.toString());
        System.out.println("Wrote the " + name + " section of " + out);
    }

    private static double millis(Supplier<NDArray> call) {
        long start = System.nanoTime();
        call.get().close();
        return (System.nanoTime() - start) / 1e6;
    }

    private static String row(int n, int batch, int heads, int kvHeads, int dim, int reps) {
        float scale = (float) (1 / Math.sqrt(dim));
        float bias = (float) -Math.log(n);
        List<Double> split = new ArrayList<>();
        List<Double> unsplit = new ArrayList<>();
        List<Double> aten = new ArrayList<>();
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q = m.randomNormal(new Shape(batch, 1, heads, dim));
            NDArray k = m.randomNormal(new Shape(batch, n, kvHeads, dim));
            NDArray v = m.randomNormal(new Shape(batch, n, kvHeads, dim));
            // ATen's layout (B, H, T, D), kv heads repeated to H.
            NDArray qa = q.transpose(0, 2, 1, 3).duplicate();
            NDArray ka = k.repeat(2, heads / kvHeads).transpose(0, 2, 1, 3).duplicate();
            NDArray va = v.repeat(2, heads / kvHeads).transpose(0, 2, 1, 3).duplicate();
            Supplier<NDArray> fused = () -> FlashSigmoid.forward(q, k, v, scale, bias, false);
            Supplier<NDArray> softmax =
                    () -> AtenBaselines.softmaxFlashAttentionCpu(qa, ka, va, false);
            try {
                for (int r = -2; r < reps; r++) { // two warm-up rounds
                    CpuKernels.setSplitKv(true);
                    double s = millis(fused);
                    CpuKernels.setSplitKv(false);
                    double u = millis(fused);
                    double a = millis(softmax);
                    if (r >= 0) {
                        split.add(s);
                        unsplit.add(u);
                        aten.add(a);
                    }
                }
            } finally {
                CpuKernels.setSplitKv(true);
            }
        }
        double s = BenchmarkReport.median(split);
        double u = BenchmarkReport.median(unsplit);
        double a = BenchmarkReport.median(aten);
        double bytes = 2.0 * batch * n * kvHeads * dim * 4;
        return String.format(
                Locale.ROOT,
                "| %d | %.3f | %.3f | %.2fx | %.3f | %.2fx | %.1f |",
                n,
                s,
                u,
                u / s,
                a,
                a / s,
                bytes / (s * 1e-3) / 1e9);
    }
}
