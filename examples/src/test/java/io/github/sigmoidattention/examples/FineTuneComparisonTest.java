package io.github.sigmoidattention.examples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.training.tracker.Tracker;
import io.github.sigmoidattention.examples.lm.AttentionVariant;
import io.github.sigmoidattention.examples.lm.CharLanguageModel;
import io.github.sigmoidattention.examples.lm.LanguageModelConfig;
import io.github.sigmoidattention.examples.lm.LossChart;
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

        // The CSV reads back as the runs' curves, and draws the same chart elsewhere.
        List<LossChart.Curve> curves = LossChart.readCsv(out.resolve("losses.csv"));
        assertEquals(runs.size(), curves.size());
        for (int r = 0; r < runs.size(); r++) {
            FineTuneComparison.Run run = runs.get(r);
            LossChart.Curve curve = curves.get(r);
            assertEquals(run.variant().label(), curve.label());
            assertEquals(run.trainLoss().size(), curve.trainLoss().size());
            for (int i = 0; i < run.trainLoss().size(); i++) {
                assertEquals(run.trainLoss().get(i), curve.trainLoss().get(i), 1e-4);
            }
            assertEquals(run.validationLoss().size(), curve.validationLoss().size());
            for (int i = 0; i < run.validationLoss().size(); i++) {
                assertArrayEquals(run.validationLoss().get(i), curve.validationLoss().get(i), 1e-4);
            }
        }
        Path redrawn = out.resolve("redrawn.png");
        LossChart.main(new String[] {out.resolve("losses.csv").toString(), redrawn.toString()});
        assertTrue(Files.size(redrawn) > 10_000, "a chart from the CSV");

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

    @Test
    void warmUpThenCosineSchedulesTheLearningRate() {
        FineTuneComparison.Flags flags =
                FineTuneComparison.Flags.parse(
                        new String[] {"--steps", "1000", "--lr", "1e-3", "--warmup", "100"});
        Tracker tracker = flags.learningRateTracker();
        assertEquals(1e-5, tracker.getNewValue(0), 1e-9);
        assertEquals(1e-3, tracker.getNewValue(100), 1e-9);
        assertEquals(0.55e-3, tracker.getNewValue(550), 1e-6, "half way down the cosine");
        assertEquals(1e-4, tracker.getNewValue(1000), 1e-9);
        Tracker fixed =
                FineTuneComparison.Flags.parse(new String[] {"--lr", "2e-3"}).learningRateTracker();
        assertEquals(2e-3, fixed.getNewValue(0), 1e-9);
        assertEquals(2e-3, fixed.getNewValue(5000), 1e-9);
    }

    @Test
    void badFlagsAreRefusedWithTheirValue() {
        String message =
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        FineTuneComparison.Flags.parse(
                                                new String[] {"--dropout", "1.0"}))
                        .getMessage();
        assertTrue(message.contains("--dropout") && message.contains("1.0"), message);
        message =
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        FineTuneComparison.Flags.parse(
                                                new String[] {"--warmup", "-1"}))
                        .getMessage();
        assertTrue(message.contains("--warmup") && message.contains("-1"), message);
        FineTuneComparison.Flags tooLong =
                FineTuneComparison.Flags.parse(new String[] {"--steps", "50", "--warmup", "50"});
        message =
                assertThrows(IllegalArgumentException.class, tooLong::learningRateTracker)
                        .getMessage();
        assertTrue(message.contains("--warmup") && message.contains("50"), message);
        LanguageModelConfig config =
                new LanguageModelConfig(AttentionVariant.SOFTMAX, 65, 32, 2, 1, 16);
        message =
                assertThrows(
                                IllegalArgumentException.class,
                                () -> new CharLanguageModel(config, null, -0.5f))
                        .getMessage();
        assertTrue(message.contains("dropout") && message.contains("-0.5"), message);
    }
}
