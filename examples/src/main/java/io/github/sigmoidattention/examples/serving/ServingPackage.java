package io.github.sigmoidattention.examples.serving;

import io.github.sigmoidattention.examples.FineTuneComparison;
import io.github.sigmoidattention.nn.attention.SigmoidMultiHeadAttention;
import io.github.sigmoidattention.ops.FlashSigmoid;
import java.io.IOException;
import java.io.Reader;
import java.io.Writer;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

/**
 * Turns a model saved by {@link FineTuneComparison} into a directory that a stock DJL Serving 0.36
 * loads with nothing copied elsewhere ({@code djl-serving -m char-lm=file:DIR}):
 *
 * <ul>
 *   <li>the parameters, {@code vocabulary.txt} and {@code serving.properties} (the PyTorch engine,
 *       the model's sizes, {@link CharLmBlockFactory}, {@link CharLmServingTranslator}, and with
 *       {@code --batch-size} DJL Serving's dynamic batching);
 *   <li>{@value #MODEL_JAR} at the top level: the project's classes (this module, the block and the
 *       op library with its native code), where DJL looks for a block factory;
 *   <li>{@code libs/}{@value #TRANSLATOR_JAR}: {@link CharLmServingTranslator} alone, where DJL
 *       Serving looks for a {@code translator=} class.
 * </ul>
 *
 * <pre>
 * mvn -q exec:exec -Dexample.main=io.github.sigmoidattention.examples.serving.ServingPackage \
 *     -Dexample.args="target/finetune/models/sigmoid_qk_norm target/serving/char-lm"
 * </pre>
 */
public final class ServingPackage {

    /** The jar of the project's classes, at the top of the package. */
    public static final String MODEL_JAR = "char-lm-model.jar";

    /** The jar of the translator class, in {@code libs/}. */
    public static final String TRANSLATOR_JAR = "char-lm-translator.jar";

    private ServingPackage() {}

    /**
     * Writes the serving directory.
     *
     * @param args the saved model directory, the serving directory to write, then optionally {@code
     *     --batch-size N} and {@code --max-batch-delay MILLISECONDS}
     * @throws IOException if a file cannot be read or written
     */
    public static void main(String[] args) throws IOException {
        if (args.length < 2 || args.length % 2 != 0) {
            throw new IllegalArgumentException(
                    "usage: ServingPackage SAVED_MODEL_DIR SERVING_DIR|ARCHIVE.zip [--batch-size N]"
                            + " [--max-batch-delay MILLISECONDS]");
        }
        Map<String, String> serving = new TreeMap<>();
        for (int i = 2; i < args.length; i += 2) {
            switch (args[i]) {
                case "--batch-size" -> serving.put("batch_size", positive(args[i], args[i + 1]));
                case "--max-batch-delay" ->
                        serving.put("max_batch_delay", positive(args[i], args[i + 1]));
                default ->
                        throw new IllegalArgumentException(
                                "unknown option "
                                        + args[i]
                                        + " (known: --batch-size, --max-batch-delay)");
            }
        }
        Path target = Paths.get(args[1]);
        Path out;
        if (target.getFileName().toString().endsWith(".zip")) {
            Path dir = Files.createTempDirectory("char-lm-package");
            try {
                write(Paths.get(args[0]), dir, serving);
                out = PackageJars.zipDirectory(dir, target);
            } finally {
                try (java.util.stream.Stream<Path> walk = Files.walk(dir)) {
                    for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                        Files.delete(p);
                    }
                }
            }
        } else {
            out = write(Paths.get(args[0]), target, serving);
        }
        System.out.println(
                "Wrote "
                        + out.toAbsolutePath()
                        + " (serve it with djl-serving -m char-lm=file:"
                        + out.toAbsolutePath()
                        + ")");
    }

    private static String positive(String name, String value) {
        int v;
        try {
            v = Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + ": expected an integer, got " + value, e);
        }
        if (v <= 0) {
            throw new IllegalArgumentException(name + ": must be positive, got " + v);
        }
        return Integer.toString(v);
    }

    /**
     * Writes the serving directory, without batching.
     *
     * @param savedModel a directory written by FineTuneComparison
     * @param servingDir the directory to (re)write
     * @return servingDir
     * @throws IOException if a file cannot be read or written
     */
    public static Path write(Path savedModel, Path servingDir) throws IOException {
        return write(savedModel, servingDir, Map.of());
    }

    /**
     * Writes the serving directory.
     *
     * @param savedModel a directory written by FineTuneComparison (parameters, vocabulary.txt,
     *     model.properties)
     * @param servingDir the directory to (re)write
     * @param servingOptions more serving.properties entries (batch_size, max_batch_delay, ...)
     * @return servingDir
     * @throws IOException if a file cannot be read or written
     */
    public static Path write(Path savedModel, Path servingDir, Map<String, String> servingOptions)
            throws IOException {
        Path config = savedModel.resolve("model.properties");
        if (!Files.isRegularFile(config)
                || !Files.isRegularFile(savedModel.resolve("vocabulary.txt"))) {
            throw new IllegalArgumentException(
                    "savedModel: "
                            + savedModel
                            + " has no model.properties and vocabulary.txt"
                            + " (expected a directory written by FineTuneComparison)");
        }
        Files.createDirectories(servingDir);
        int copied = 0;
        try (DirectoryStream<Path> files =
                Files.newDirectoryStream(savedModel, FineTuneComparison.MODEL_NAME + "*.params")) {
            for (Path file : files) {
                Files.copy(
                        file,
                        servingDir.resolve(file.getFileName()),
                        StandardCopyOption.REPLACE_EXISTING);
                copied++;
            }
        }
        if (copied == 0) {
            throw new IllegalArgumentException(
                    "savedModel: "
                            + savedModel
                            + " holds no "
                            + FineTuneComparison.MODEL_NAME
                            + "*.params");
        }
        Files.copy(
                savedModel.resolve("vocabulary.txt"),
                servingDir.resolve("vocabulary.txt"),
                StandardCopyOption.REPLACE_EXISTING);
        Properties model = new Properties();
        try (Reader r = Files.newBufferedReader(config)) {
            model.load(r);
        }
        Map<String, String> serving = new TreeMap<>();
        serving.put("engine", "PyTorch");
        serving.put("option.modelName", FineTuneComparison.MODEL_NAME);
        serving.put("blockFactory", CharLmBlockFactory.class.getName());
        serving.put("translator", CharLmServingTranslator.class.getName());
        for (String name : model.stringPropertyNames()) {
            serving.put(name, model.getProperty(name));
        }
        serving.putAll(servingOptions);
        try (Writer w = Files.newBufferedWriter(servingDir.resolve("serving.properties"))) {
            w.write(
                    "# A character-level language model with sigmoid attention (djl-sigmoid-attention).\n");
            w.write(
                    "# DJL Serving finds the block factory in "
                            + MODEL_JAR
                            + " and the translator in libs/"
                            + TRANSLATOR_JAR
                            + ".\n");
            for (Map.Entry<String, String> e : serving.entrySet()) {
                w.write(e.getKey() + "=" + e.getValue() + "\n");
            }
        }
        PackageJars.writeModelJar(
                servingDir.resolve(MODEL_JAR),
                CharLmBlockFactory.class,
                SigmoidMultiHeadAttention.class,
                FlashSigmoid.class);
        Files.createDirectories(servingDir.resolve("libs"));
        PackageJars.writeClassJar(
                servingDir.resolve("libs").resolve(TRANSLATOR_JAR), CharLmServingTranslator.class);
        return servingDir;
    }
}
