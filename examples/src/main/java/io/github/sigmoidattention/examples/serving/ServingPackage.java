package io.github.sigmoidattention.examples.serving;

import io.github.sigmoidattention.examples.FineTuneComparison;
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
 * Turns a model saved by {@link FineTuneComparison} into a directory that DJL Serving loads: the
 * parameters, the vocabulary and a serving.properties naming the PyTorch engine, {@link
 * CharLmBlockFactory} and {@link CharLmTranslatorFactory}.
 *
 * <pre>
 * mvn -q exec:exec -Dexample.main=io.github.sigmoidattention.examples.serving.ServingPackage \
 *     -Dexample.args="target/finetune/models/sigmoid_qk_norm target/serving/char-lm"
 * </pre>
 */
public final class ServingPackage {

    private ServingPackage() {}

    /**
     * Writes the serving directory.
     *
     * @param args the saved model directory and the serving directory to write
     * @throws IOException if a file cannot be read or written
     */
    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            throw new IllegalArgumentException(
                    "usage: ServingPackage <saved model dir> <serving dir to write>");
        }
        Path out = write(Paths.get(args[0]), Paths.get(args[1]));
        System.out.println(
                "Wrote "
                        + out.toAbsolutePath()
                        + " (serve it with djl-serving -m, see the README)");
    }

    /**
     * Writes the serving directory.
     *
     * @param savedModel a directory written by FineTuneComparison (parameters, vocabulary.txt,
     *     model.properties)
     * @param servingDir the directory to (re)write
     * @return servingDir
     * @throws IOException if a file cannot be read or written
     */
    public static Path write(Path savedModel, Path servingDir) throws IOException {
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
        serving.put("translatorFactory", CharLmTranslatorFactory.class.getName());
        for (String name : model.stringPropertyNames()) {
            serving.put(name, model.getProperty(name));
        }
        try (Writer w = Files.newBufferedWriter(servingDir.resolve("serving.properties"))) {
            w.write(
                    "# A character-level language model with sigmoid attention (djl-sigmoid-attention).\n");
            w.write(
                    "# The classes named below must be on DJL Serving's class path: see the README.\n");
            for (Map.Entry<String, String> e : serving.entrySet()) {
                w.write(e.getKey() + "=" + e.getValue() + "\n");
            }
        }
        return servingDir;
    }
}
