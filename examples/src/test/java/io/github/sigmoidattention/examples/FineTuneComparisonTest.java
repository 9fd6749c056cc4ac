package io.github.sigmoidattention.examples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.sigmoidattention.examples.lm.AttentionVariant;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs the softmax-vs-sigmoid training comparison for a few steps on a tiny model: losses fall,
 * files appear.
 */
class FineTuneComparisonTest {

    @Test
    void shortRunTrainsEveryVariantAndWritesItsOutputs(@TempDir Path out) throws Exception {
        FineTuneComparison.Flags flags =
                FineTuneComparison.Flags.parse(
                        new String[] {
                            "--steps",
                            "30",
                            "--eval-every",
                            "10",
                            "--batch",
                            "8",
                            "--seq",
                            "24",
                            "--embed",
                            "32",
                            "--heads",
                            "2",
                            "--layers",
                            "1",
                            "--validation-batches",
                            "2",
                            "--sample-length",
                            "40",
                            "--lr",
                            "1e-2",
                            "--seed",
                            "7",
                            "--out",
                            out.toString()
                        });
        List<FineTuneComparison.Run> runs = FineTuneComparison.run(flags);

        assertEquals(AttentionVariant.values().length, runs.size());
        for (FineTuneComparison.Run run : runs) {
            String name = run.variant().label();
            assertEquals(30, run.trainLoss().size(), name);
            assertEquals(4, run.validationLoss().size(), name + ": steps 0, 10, 20, 30");
            assertTrue(
                    run.finalValidationLoss() < run.initialValidationLoss() - 0.3,
                    name
                            + ": validation loss "
                            + run.initialValidationLoss()
                            + " -> "
                            + run.finalValidationLoss());
            assertTrue(
                    run.sample().startsWith("ROMEO:\n") && run.sample().length() == 7 + 40, name);
            Path model = run.modelDir();
            try (var files = Files.list(model)) {
                assertTrue(
                        files.anyMatch(
                                f -> f.getFileName().toString().matches("char-lm-\\d{4}\\.params")),
                        "parameters in " + model);
            }
            assertTrue(Files.isRegularFile(model.resolve("vocabulary.txt")));
            assertTrue(Files.isRegularFile(model.resolve("model.properties")));
        }

        List<String> csv = Files.readAllLines(out.resolve("losses.csv"));
        assertEquals("variant,step,train_loss,validation_loss", csv.get(0));
        // Per variant: the step-0 evaluation and one row per step.
        assertEquals(1 + runs.size() * 31, csv.size());
        assertTrue(
                csv.contains(
                        "SOFTMAX,0,,"
                                + String.format(
                                        java.util.Locale.ROOT,
                                        "%.4f",
                                        runs.get(0).initialValidationLoss())));

        byte[] png = Files.readAllBytes(out.resolve("losses.png"));
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, Arrays.copyOf(png, 4));
        assertTrue(png.length > 10_000, "a chart, not an empty image: " + png.length + " bytes");

        String samples = Files.readString(out.resolve("samples.txt"));
        for (AttentionVariant v : AttentionVariant.values()) {
            assertTrue(samples.contains("=== " + v.label() + " ==="), v.label());
        }
        String summary = Files.readString(out.resolve("summary.md"));
        assertTrue(summary.contains("| sigmoid, b = -ln n, QK-norm |"), summary);
    }
}
