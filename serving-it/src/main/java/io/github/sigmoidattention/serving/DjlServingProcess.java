package io.github.sigmoidattention.serving;

import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A stock DJL Serving 0.36.0 ({@code ai.djl.serving.ModelServer}) in a process of its own, on
 * 127.0.0.1 at free ports, serving model directories as {@code djl-serving -m NAME=file:DIR} does.
 * The server's class path is DJL Serving's alone (the file {@code serving.classpath.file} names,
 * written by the build): a model directory brings its own classes. {@link #close} stops it, and a
 * shutdown hook does if the JVM exits first.
 */
public final class DjlServingProcess implements AutoCloseable {

    private static final Duration STARTUP = Duration.ofSeconds(180);

    private final Process process;
    private final Path log;
    private final int port;
    private final Thread hook;
    private final HttpClient http = HttpClient.newHttpClient();

    private DjlServingProcess(Process process, Path log, int port) {
        this.process = process;
        this.log = log;
        this.port = port;
        this.hook = new Thread(process::destroyForcibly, "stop-djl-serving");
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /**
     * Starts the server and waits until every model answers the health check.
     *
     * @param work a directory for the server's configuration and log (created)
     * @param models model name to model directory
     * @return the running server
     * @throws IOException if it does not start, with the end of its log
     */
    public static DjlServingProcess start(Path work, Map<String, Path> models) throws IOException {
        return start(work, models, List.of());
    }

    /**
     * Starts the server with options for its JVM and waits until every model answers the health
     * check.
     *
     * @param work a directory for the server's configuration and log (created)
     * @param models model name to model directory
     * @param jvmOptions options for the server's JVM (for example {@code -Xmx512m})
     * @return the running server
     * @throws IOException if it does not start, with the end of its log
     */
    public static DjlServingProcess start(
            Path work, Map<String, Path> models, List<String> jvmOptions) throws IOException {
        Files.createDirectories(work);
        int inference = freePort();
        int management = freePort();
        // The configuration file only moves the server to free ports; the models are named
        // with -m, as the README starts it.
        Path config = work.resolve("config.properties");
        Files.writeString(
                config,
                "inference_address=http://127.0.0.1:"
                        + inference
                        + "\nmanagement_address=http://127.0.0.1:"
                        + management
                        + "\n");
        Path log4j = work.resolve("log4j2.xml");
        try (InputStream in = DjlServingProcess.class.getResourceAsStream("/server-log4j2.xml")) {
            Files.copy(in, log4j, StandardCopyOption.REPLACE_EXISTING);
        }
        List<String> command = new ArrayList<>();
        command.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmOptions);
        command.add("-Dai.djl.offline=true");
        command.add("-Dlog4j.configurationFile=" + log4j.toAbsolutePath());
        command.add("-cp");
        command.add(serverClasspath());
        command.add("ai.djl.serving.ModelServer");
        command.add("-f");
        command.add(config.toAbsolutePath().toString());
        for (Map.Entry<String, Path> model : models.entrySet()) {
            command.add("-m");
            command.add(model.getKey() + "=file:" + model.getValue().toAbsolutePath());
        }
        Path log = work.resolve("server.log");
        Process process =
                new ProcessBuilder(command)
                        .directory(work.toFile())
                        .redirectErrorStream(true)
                        .redirectOutput(log.toFile())
                        .start();
        DjlServingProcess server = new DjlServingProcess(process, log, inference);
        try {
            server.awaitHealthy(models.keySet());
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
        return server;
    }

    /**
     * The class path of DJL Serving, from the file the build wrote (system property {@code
     * serving.classpath.file}).
     */
    static String serverClasspath() throws IOException {
        String file = System.getProperty("serving.classpath.file");
        if (file == null || !Files.isRegularFile(Paths.get(file))) {
            throw new IOException(
                    "serving.classpath.file: expected the class path file the build writes"
                            + " (mvn -Pdjl-serving), got "
                            + file);
        }
        return Files.readString(Paths.get(file)).trim();
    }

    private void awaitHealthy(Iterable<String> models) throws IOException {
        long deadline = System.nanoTime() + STARTUP.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IOException(
                        "DJL Serving exited with status "
                                + process.exitValue()
                                + ":\n"
                                + logTail());
            }
            try {
                HttpResponse<String> ping = get("/ping");
                boolean all = ping.statusCode() == 200;
                for (String model : models) {
                    all &= ping.body().contains("\"" + model + "\"");
                }
                if (all) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            }
            try {
                Thread.sleep(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while DJL Serving started", e);
            }
        }
        throw new IOException("DJL Serving was not healthy after " + STARTUP + ":\n" + logTail());
    }

    /**
     * Returns the inference port.
     *
     * @return the port on 127.0.0.1
     */
    public int port() {
        return port;
    }

    /**
     * Returns the server's process id, for reading its memory.
     *
     * @return the pid
     */
    public long pid() {
        return process.pid();
    }

    /**
     * Sends a GET to the inference address.
     *
     * @param path for example {@code /ping}
     * @return the response
     * @throws IOException if it cannot be sent
     */
    public HttpResponse<String> get(String path) throws IOException {
        return send(HttpRequest.newBuilder(uri(path)).GET().build());
    }

    /**
     * Posts a body to {@code /predictions/MODEL}.
     *
     * @param model the model's name
     * @param contentType the body's content type
     * @param body the body
     * @return the response
     * @throws IOException if it cannot be sent
     */
    public HttpResponse<String> predict(String model, String contentType, String body)
            throws IOException {
        return send(
                HttpRequest.newBuilder(uri("/predictions/" + model))
                        .header("Content-Type", contentType)
                        .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
                        .build());
    }

    private URI uri(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    private HttpResponse<String> send(HttpRequest request) throws IOException {
        try {
            return http.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    /**
     * Returns the server's log so far.
     *
     * @return its text
     * @throws IOException if it cannot be read
     */
    public String log() throws IOException {
        return Files.readString(log);
    }

    /**
     * Returns the last lines of the server's log.
     *
     * @return up to 60 lines
     */
    public String logTail() {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket =
                new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    /** Stops the server (and waits for it). */
    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(20, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, java.util.concurrent.TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // already shutting down: the hook runs anyway
        }
    }
}
