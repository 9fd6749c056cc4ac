package io.github.sigmoidattention.benchmarks;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import com.sun.jna.Library;
import com.sun.jna.Native;
import io.github.sigmoidattention.examples.BenchmarkReport;
import io.github.sigmoidattention.ops.AttentionCall;
import io.github.sigmoidattention.ops.CpuKernels;
import io.github.sigmoidattention.ops.FlashSigmoid;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The CPU op at very long key ranges, float32, one sequence and one head: (1) the forward's
 * relative error against a double-precision loop, with the key range split across threads and
 * unsplit, for identical keys with values of 1 (every term of the sum equal: the worst case of
 * float32 accumulation) and for random keys and values; (2) the backward's peak extra resident
 * memory and its time against the forward's. Writes its section of BENCHMARKS.md.
 *
 * <p>Flags: {@code --accuracy 65536,...,16777216 --memory 65536,...,4194304 --queries 1,128
 * --accuracy-dim 16 --dim 64 --reps 3 --name <section suffix> --out <BENCHMARKS.md>}; an empty list
 * ({@code --memory none}) skips a part. Peak memory is the process's high-water mark (VmHWM, reset
 * through /proc/self/clear_refs before the call) minus its resident size before the call, so it
 * includes the gradients the call returns; freed heap pages are handed back first (malloc_trim), so
 * that memory the allocator kept from earlier calls counts when reused.
 */
public final class LongKeyBenchmark {

    private static final int READ_ROWS = 1 << 20;

    private LongKeyBenchmark() {}

    /**
     * Runs the benchmark.
     *
     * @param args flags, see the class comment
     * @throws IOException if BENCHMARKS.md cannot be written
     */
    public static void main(String[] args) throws IOException {
        int[] accuracy = {1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24};
        int[] memory = {1 << 16, 1 << 18, 1 << 20, 1 << 22};
        int[] queries = {1, 128};
        int accuracyDim = 16;
        int dim = 64;
        int reps = 3;
        Path out = BenchmarkReport.defaultFile();
        String name = "long-keys";
        for (int i = 0; i + 1 < args.length; i += 2) {
            String value = args[i + 1];
            switch (args[i]) {
                case "--accuracy" -> accuracy = ints(value);
                case "--memory" -> memory = ints(value);
                case "--queries" -> queries = ints(value);
                case "--accuracy-dim" -> accuracyDim = Integer.parseInt(value);
                case "--dim" -> dim = Integer.parseInt(value);
                case "--reps" -> reps = Integer.parseInt(value);
                case "--out" -> out = Paths.get(value);
                case "--name" -> name = "long-keys-" + value;
                default -> throw new IllegalArgumentException("unknown flag " + args[i]);
            }
        }
        StringBuilder md = new StringBuilder();
        md.append(
                String.format(
                        Locale.ROOT,
                        "### CPU op at long key ranges, float32 (%s)%n%n"
                                + "```%nmvn -q -DskipTests package exec:exec -Dbenchmark=%s -Dbenchmark.args=\"%s\"%n```%n%n"
                                + "B=1, H=G=1, one query, %d threads, kernels: %s.%n",
                        java.time.LocalDate.now(),
                        LongKeyBenchmark.class.getSimpleName(),
                        String.join(" ", args),
                        CpuKernels.getNumThreads(),
                        CpuKernels.getIsa()));
        if (accuracy.length > 0) {
            md.append(
                    String.format(
                            Locale.ROOT,
                            "%nForward accuracy, D=%d, scale 1/√D, bias -ln n: max |out - ref| / max |ref| against"
                                    + " a double-precision loop. Identical keys: one random key row repeated"
                                    + " (a stride-0 view) and values of 1, so all n terms of each sum are"
                                    + " equal; random: normal keys and values.%n%n"
                                    + "| keys n | identical, split | identical, unsplit | random, split | random, unsplit |%n"
                                    + "|---|---|---|---|---|%n",
                            accuracyDim));
            for (int n : accuracy) {
                md.append(accuracyRow(n, accuracyDim)).append('\n');
                System.out.println(md);
            }
        }
        if (memory.length > 0) {
            md.append(
                    String.format(
                            Locale.ROOT,
                            "%nBackward against forward, D=%d: medians of %d runs after one warm-up; peak extra"
                                    + " memory of a backward call (gradients included) on the first call of the"
                                    + " size (buffers a thread keeps between calls grow there) and the median of the"
                                    + " later ones, against the size of the gradients it returns.%n%n"
                                    + "| keys n | queries | forward (s) | backward (s) | backward / forward |"
                                    + " gradients (MiB) | peak extra, first call (MiB) | peak extra, later (MiB) |"
                                    + " larger peak / gradients |%n"
                                    + "|---|---|---|---|---|---|---|---|---|%n",
                            dim,
                            reps));
            for (int n : memory) {
                for (int t : queries) {
                    md.append(memoryRow(n, t, dim, reps)).append('\n');
                    System.out.println(md);
                }
            }
        }
        System.out.println(md);
        BenchmarkReport.writeSection(out, name, md.toString());
        System.out.println("Wrote the " + name + " section of " + out);
    }

    private static int[] ints(String value) {
        if ("none".equals(value)) {
            return new int[0];
        }
        return Arrays.stream(value.split(",")).mapToInt(Integer::parseInt).toArray();
    }

    private static String accuracyRow(int n, int d) {
        float scale = (float) (1 / Math.sqrt(d));
        float bias = (float) -Math.log(n);
        double[] errors = new double[4];
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q = m.randomNormal(new Shape(1, 1, 1, d));
            for (int kind = 0; kind < 2; kind++) {
                NDArray k;
                NDArray v;
                if (kind == 0) {
                    k = m.randomNormal(new Shape(1, 1, 1, d)).broadcast(new Shape(1, n, 1, d));
                    v = m.ones(new Shape(1, 1, 1, d)).broadcast(new Shape(1, n, 1, d));
                } else {
                    k = m.randomNormal(new Shape(1, n, 1, d));
                    v = m.randomNormal(new Shape(1, n, 1, d));
                }
                double[] ref = reference(q, k, v, scale, bias, kind == 0);
                for (int split = 0; split < 2; split++) {
                    CpuKernels.setSplitKv(split == 0);
                    float[] o = FlashSigmoid.forward(q, k, v, scale, bias, false).toFloatArray();
                    errors[kind * 2 + split] = relativeError(o, ref);
                }
                CpuKernels.setSplitKv(true);
            }
        }
        return String.format(
                Locale.ROOT,
                "| 2^%d | %.1e | %.1e | %.1e | %.1e |",
                Integer.numberOfTrailingZeros(n),
                errors[0],
                errors[1],
                errors[2],
                errors[3]);
    }

    /** The output row in double precision, reading the keys and values in slices. */
    private static double[] reference(
            NDArray q, NDArray k, NDArray v, float scale, float bias, boolean repeated) {
        int n = Math.toIntExact(k.getShape().get(1));
        int d = Math.toIntExact(k.getShape().get(3));
        float[] qf = q.toFloatArray();
        double[] out = new double[d];
        int step = repeated ? n : READ_ROWS;
        for (int j0 = 0; j0 < n; j0 += step) {
            int rows = repeated ? 1 : Math.min(step, n - j0);
            float[] kf = k.get(new NDIndex("0, {}:{}, 0", j0, j0 + rows)).toFloatArray();
            float[] vf = v.get(new NDIndex("0, {}:{}, 0", j0, j0 + rows)).toFloatArray();
            for (int r = 0; r < rows; r++) {
                double s = 0;
                for (int e = 0; e < d; e++) {
                    s += (double) qf[e] * kf[r * d + e];
                }
                double w = 1 / (1 + Math.exp(-(scale * s + bias)));
                // A repeated row stands for all n of them.
                double times = repeated ? n : 1;
                for (int e = 0; e < d; e++) {
                    out[e] += times * w * vf[r * d + e];
                }
            }
        }
        return out;
    }

    private static double relativeError(float[] o, double[] ref) {
        double err = 0;
        double scale = 0;
        for (int e = 0; e < ref.length; e++) {
            err = Math.max(err, Math.abs(o[e] - ref[e]));
            scale = Math.max(scale, Math.abs(ref[e]));
        }
        return err / scale;
    }

    private static String memoryRow(int n, int t, int d, int reps) {
        float scale = (float) (1 / Math.sqrt(d));
        float bias = (float) -Math.log(n);
        List<Double> forward = new ArrayList<>();
        List<Double> backward = new ArrayList<>();
        List<Double> peaks = new ArrayList<>();
        double firstPeak = 0;
        double gradientBytes = 4.0 * (t * d + 2.0 * n * d + 1);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q = m.randomNormal(new Shape(1, t, 1, d));
            NDArray k = m.randomNormal(new Shape(1, n, 1, d));
            NDArray v = m.randomNormal(new Shape(1, n, 1, d));
            NDArray gradOut = m.randomNormal(new Shape(1, t, 1, d));
            for (int r = -1; r < reps; r++) { // one warm-up round
                long start = System.nanoTime();
                FlashSigmoid.forward(q, k, v, scale, bias, false).close();
                double f = (System.nanoTime() - start) / 1e9;
                long before = resetPeak();
                start = System.nanoTime();
                NDList grads =
                        FlashSigmoid.backward(
                                gradOut, AttentionCall.of(q, k, v, scale, bias, false));
                double b = (System.nanoTime() - start) / 1e9;
                double peak = status("VmHWM:") - before;
                grads.close();
                if (r < 0) {
                    firstPeak = peak;
                } else {
                    forward.add(f);
                    backward.add(b);
                    peaks.add(peak);
                }
            }
        }
        double f = BenchmarkReport.median(forward);
        double b = BenchmarkReport.median(backward);
        double p = BenchmarkReport.median(peaks);
        double mib = 1024.0 * 1024.0;
        return String.format(
                Locale.ROOT,
                "| %d | %d | %.4f | %.4f | %.1fx | %.0f | %.0f | %.0f | %.2f |",
                n,
                t,
                f,
                b,
                b / f,
                gradientBytes / mib,
                firstPeak / mib,
                p / mib,
                Math.max(firstPeak, p) / gradientBytes);
    }

    /** The C library's malloc_trim, which hands freed heap pages back to the system. */
    private interface CLibrary extends Library {
        CLibrary INSTANCE = Native.load("c", CLibrary.class);

        int malloc_trim(long pad);
    }

    /**
     * Returns freed heap pages to the system (so that reusing them counts again), resets the
     * high-water mark of the resident set and returns the resident bytes now.
     */
    private static long resetPeak() {
        CLibrary.INSTANCE.malloc_trim(0);
        try {
            Files.write(
                    Paths.get("/proc/self/clear_refs"), "5".getBytes(StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw new IllegalStateException(
                    "cannot reset the peak resident size: " + e.getMessage(), e);
        }
        return status("VmRSS:");
    }

    /** A size line of /proc/self/status, in bytes. */
    private static long status(String key) {
        try {
            for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
                if (line.startsWith(key)) {
                    return 1024L
                            * Long.parseLong(line.substring(key.length()).replace("kB", "").trim());
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read /proc/self/status: " + e.getMessage(), e);
        }
        throw new IllegalStateException("no " + key + " in /proc/self/status");
    }
}
