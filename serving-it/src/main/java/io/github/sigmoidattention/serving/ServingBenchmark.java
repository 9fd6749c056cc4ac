package io.github.sigmoidattention.serving;

import com.google.gson.JsonObject;
import io.github.sigmoidattention.examples.BenchmarkReport;
import io.github.sigmoidattention.examples.FineTuneComparison;
import io.github.sigmoidattention.examples.serving.ServingPackage;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Requests per second and latency of the serving package in a real DJL Serving on 127.0.0.1, with
 * dynamic batching off and on, for 1 and 8 concurrent clients, and the server's resident memory
 * before and after the requests. Writes section {@code serving} of BENCHMARKS.md.
 *
 * <pre>
 * ../shared/djl-serving/install.sh
 * mvn -q -Pdjl-serving -DskipTests install
 * mvn -q -Pdjl-serving -pl serving-it exec:exec -Dbenchmark=ServingBenchmark -Dbenchmark.args="--requests 1000"
 * </pre>
 *
 * <p>Flags: {@code --model DIR} (a model saved by FineTuneComparison; default: the main job's
 * {@code examples/target/finetune/models/sigmoid_qk_norm}, else a small one trained here), {@code
 * --warm-up N} requests (a quarter from 1 client, the rest from 8) before the RSS is first read
 * (default 1000), {@code --requests N} measured per server (default 1000: 30% from 1 client, then
 * 70% from 8), {@code --length L} characters per request (default 32), {@code --batch-size B}
 * (default 8), {@code --max-batch-delay MS} (default 20), {@code --server-heap SIZE} (the server's
 * fixed, pre-touched Java heap; default 512m).
 */
public final class ServingBenchmark {

    private static final String[] PROMPTS = {
        "ROMEO:\n",
        "JULIET:\nO Romeo",
        "First Citizen:\n",
        "KING HENRY",
        "O, ",
        "What say",
        "MENENIUS:\nI tell you, friends",
        "A"
    };

    private ServingBenchmark() {}

    /** One server configuration's results. */
    private record Result(
            String label, double[] rps, double[] p50, double[] p95, long rss0, long rss1) {}

    /**
     * Runs the benchmark.
     *
     * @param args flags, see the class comment
     * @throws Exception if the server fails
     */
    public static void main(String[] args) throws Exception {
        Path model = null;
        int requests = 1000;
        int warmUp = 1000;
        int length = 32;
        int batchSize = 8;
        int delay = 20;
        String heap = "512m";
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--model" -> model = Paths.get(args[i + 1]);
                case "--requests" -> requests = Integer.parseInt(args[i + 1]);
                case "--warm-up" -> warmUp = Integer.parseInt(args[i + 1]);
                case "--length" -> length = Integer.parseInt(args[i + 1]);
                case "--batch-size" -> batchSize = Integer.parseInt(args[i + 1]);
                case "--max-batch-delay" -> delay = Integer.parseInt(args[i + 1]);
                case "--server-heap" -> heap = args[i + 1];
                default -> throw new IllegalArgumentException("unknown flag " + args[i]);
            }
        }
        if (requests < 100 || warmUp < 0) {
            throw new IllegalArgumentException(
                    "--requests: at least 100, --warm-up: 0 or more; got "
                            + requests
                            + " and "
                            + warmUp);
        }
        Path work = Files.createTempDirectory("serving-bench");
        if (model == null) {
            model =
                    BenchmarkReport.defaultFile()
                            .getParent()
                            .resolve("examples/target/finetune/models/sigmoid_qk_norm");
            if (!Files.isRegularFile(model.resolve("model.properties"))) {
                model = trainSmallModel(work);
            }
        }
        List<Result> results = new ArrayList<>();
        // A fixed heap, touched at start: the RSS then shows native memory, not the heap growing.
        List<String> jvm = List.of("-Xms" + heap, "-Xmx" + heap, "-XX:+AlwaysPreTouch");
        results.add(run(work, model, "batching off", Map.of(), warmUp, requests, length, jvm));
        results.add(
                run(
                        work,
                        model,
                        "batch_size " + batchSize + ", max_batch_delay " + delay + " ms",
                        Map.of(
                                "batch_size",
                                Integer.toString(batchSize),
                                "max_batch_delay",
                                Integer.toString(delay)),
                        warmUp,
                        requests,
                        length,
                        jvm));
        Path root = BenchmarkReport.defaultFile().toAbsolutePath().getParent();
        Path shown =
                model.toAbsolutePath().startsWith(root)
                        ? root.relativize(model.toAbsolutePath())
                        : model;
        String report = report(results, shown, warmUp, requests, length, args, jvm);
        System.out.println(report);
        BenchmarkReport.writeSection(BenchmarkReport.defaultFile(), "serving", report);
    }

    private static Path trainSmallModel(Path work) throws Exception {
        FineTuneComparison.Flags flags =
                FineTuneComparison.Flags.parse(
                        new String[] {
                            "--steps",
                            "100",
                            "--eval-every",
                            "100",
                            "--validation-batches",
                            "1",
                            "--sample-length",
                            "1",
                            "--variants",
                            "sigmoid_qk_norm",
                            "--out",
                            work.resolve("train").toString()
                        });
        return FineTuneComparison.run(flags).get(0).modelDir();
    }

    private static Result run(
            Path work,
            Path model,
            String label,
            Map<String, String> options,
            int warmUp,
            int requests,
            int length,
            List<String> jvm)
            throws Exception {
        Path dir = work.resolve("package-" + options.size());
        ServingPackage.write(model, dir, options);
        try (DjlServingProcess server =
                DjlServingProcess.start(
                        work.resolve("server-" + options.size()), Map.of("char-lm", dir), jvm)) {
            int single = requests * 3 / 10;
            int concurrent = requests - single;
            // Warm-up as the measurement: both client counts, so every batch shape has been seen.
            measure(server, 1, warmUp / 4, length);
            measure(server, 8, warmUp - warmUp / 4, length);
            long rss0 = rss(server.pid());
            double[] one = measure(server, 1, single, length);
            double[] eight = measure(server, 8, concurrent, length);
            long rss1 = rss(server.pid());
            System.out.printf(
                    Locale.ROOT,
                    "%s: 1 client %.1f req/s, 8 clients %.1f req/s; RSS %d -> %d MB%n",
                    label,
                    one[0],
                    eight[0],
                    rss0 >> 20,
                    rss1 >> 20);
            return new Result(
                    label,
                    new double[] {one[0], eight[0]},
                    new double[] {one[1], eight[1]},
                    new double[] {one[2], eight[2]},
                    rss0,
                    rss1);
        }
    }

    /** Sends {@code count} requests from {@code clients} threads: [requests/s, p50 ms, p95 ms]. */
    private static double[] measure(DjlServingProcess server, int clients, int count, int length)
            throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        List<Double> latencies = Collections.synchronizedList(new ArrayList<>());
        long start = System.nanoTime();
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                int client = c;
                futures.add(
                        pool.submit(
                                () -> {
                                    for (int i = client; i < count; i += clients) {
                                        JsonObject body = new JsonObject();
                                        body.addProperty("prompt", PROMPTS[i % PROMPTS.length]);
                                        body.addProperty("length", length);
                                        long t = System.nanoTime();
                                        HttpResponse<String> r =
                                                server.predict(
                                                        "char-lm",
                                                        "application/json",
                                                        body.toString());
                                        if (r.statusCode() != 200) {
                                            throw new IOException(r.statusCode() + ": " + r.body());
                                        }
                                        latencies.add((System.nanoTime() - t) / 1e6);
                                    }
                                    return null;
                                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        List<Double> sorted = new ArrayList<>(latencies);
        Collections.sort(sorted);
        return new double[] {count / seconds, percentile(sorted, 0.50), percentile(sorted, 0.95)};
    }

    private static double percentile(List<Double> sorted, double q) {
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.floor(q * sorted.size())));
    }

    private static long rss(long pid) throws IOException {
        for (String line : Files.readAllLines(Paths.get("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IOException("no VmRSS for process " + pid);
    }

    private static String report(
            List<Result> results,
            Path model,
            int warmUp,
            int requests,
            int length,
            String[] args,
            List<String> jvm) {
        StringBuilder s = new StringBuilder();
        s.append("## Serving in a real DJL Serving 0.36.0 (")
                .append(java.time.LocalDate.now())
                .append(
                        ")\n\n```\nmvn -q -Pdjl-serving -pl serving-it exec:exec -Dbenchmark=ServingBenchmark -Dbenchmark.args=\"")
                .append(String.join(" ", args))
                .append("\"\n```\n\n")
                .append(
                        String.format(
                                Locale.ROOT,
                                "Model `%s`; each request continues one of %d prompts by %d characters"
                                        + " (greedy, KV cache); per server %d requests to warm up (a quarter from 1 client, the rest from 8), then %d measured: %d from"
                                        + " 1 client, %d from 8 clients (each sends its next request when"
                                        + " answered). Server on 127.0.0.1, %d cores, JVM options"
                                        + " `%s`.%n%n",
                                model,
                                PROMPTS.length,
                                length,
                                warmUp,
                                requests,
                                requests * 3 / 10,
                                requests - requests * 3 / 10,
                                Runtime.getRuntime().availableProcessors(),
                                String.join(" ", jvm)))
                .append("| server | clients | requests/s | vs batching off | p50 ms | p95 ms |\n")
                .append("|---|---|---|---|---|---|\n");
        String[] clients = {"1", "8"};
        for (Result r : results) {
            for (int c = 0; c < 2; c++) {
                s.append(
                        String.format(
                                Locale.ROOT,
                                "| %s | %s | %.1f | %.2f× | %.1f | %.1f |%n",
                                r.label,
                                clients[c],
                                r.rps[c],
                                r.rps[c] / results.get(0).rps[c],
                                r.p50[c],
                                r.p95[c]));
            }
        }
        s.append(
                "\n| server | RSS after warm-up | RSS after the measured requests |\n|---|---|---|\n");
        for (Result r : results) {
            s.append(
                    String.format(
                            Locale.ROOT,
                            "| %s | %d MB | %d MB |%n",
                            r.label,
                            r.rss0 >> 20,
                            r.rss1 >> 20));
        }
        return s.toString();
    }
}
