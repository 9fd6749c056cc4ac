package io.github.sigmoidattention.examples;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The files a {@link FineTuneComparison} writes: the loss CSV, the samples and the summary. */
final class FineTuneOutputs {

    private FineTuneOutputs() {}

    static void writeCsv(Path file, List<FineTuneComparison.Run> runs) throws IOException {
        try (Writer w = Files.newBufferedWriter(file)) {
            w.write("variant,step,train_loss,validation_loss\n");
            for (FineTuneComparison.Run r : runs) {
                Map<Integer, Double> validation = new LinkedHashMap<>();
                for (double[] v : r.validationLoss) {
                    validation.put((int) v[0], v[1]);
                }
                for (int step = 0; step <= r.trainLoss.size(); step++) {
                    String train = step == 0 ? "" : fmt(r.trainLoss.get(step - 1));
                    Double val = validation.get(step);
                    if (step > 0 || val != null) {
                        w.write(
                                r.variant.name()
                                        + ","
                                        + step
                                        + ","
                                        + train
                                        + ","
                                        + (val == null ? "" : fmt(val))
                                        + "\n");
                    }
                }
            }
        }
    }

    static void writeSamples(Path file, List<FineTuneComparison.Run> runs) throws IOException {
        StringBuilder text = new StringBuilder();
        for (FineTuneComparison.Run r : runs) {
            text.append("=== ")
                    .append(r.variant.label())
                    .append(" ===\n")
                    .append(r.sample)
                    .append("\n\n");
        }
        Files.writeString(file, text.toString(), StandardCharsets.UTF_8);
    }

    static String summary(FineTuneComparison.Flags flags, List<FineTuneComparison.Run> runs) {
        FineTuneComparison.Run baseline = runs.get(0);
        StringBuilder s = new StringBuilder();
        s.append("### Trained from scratch, softmax vs sigmoid: ")
                .append(flags.describe())
                .append('\n')
                .append('\n')
                .append(command(flags))
                .append("Tiny Shakespeare, character level; final validation cross-entropy over ")
                .append(flags.validationBatches * flags.batch)
                .append(" held-out windows (nats per character; ln V = ")
                .append(fmt(Math.log(baseline.vocabularySize)))
                .append(" is a uniform guess). Plot: `")
                .append(flags.out.resolve("losses.png"))
                .append("`.\n\n")
                .append("| attention | validation loss at step 0 | final validation loss | vs ")
                .append(baseline.variant.label())
                .append(" | training tokens/s | tokens/s vs ")
                .append(baseline.variant.label())
                .append(" |\n|---|---|---|---|---|---|\n");
        for (FineTuneComparison.Run r : runs) {
            s.append("| ")
                    .append(r.variant.label())
                    .append(" | ")
                    .append(fmt(r.initialValidationLoss()))
                    .append(" | ")
                    .append(fmt(r.finalValidationLoss()))
                    .append(" | ")
                    .append(
                            String.format(
                                    Locale.ROOT,
                                    "%+.2f%%",
                                    100
                                            * (r.finalValidationLoss()
                                                            / baseline.finalValidationLoss()
                                                    - 1)))
                    .append(" | ")
                    .append(String.format(Locale.ROOT, "%.0f", r.tokensPerSecond))
                    .append(" | ")
                    .append(
                            String.format(
                                    Locale.ROOT,
                                    "%.2f×",
                                    r.tokensPerSecond / baseline.tokensPerSecond))
                    .append(" |\n");
        }
        return s.toString();
    }

    /** The command that reproduces the run: Maven on the CPU, the GPU machine's script on a GPU. */
    private static String command(FineTuneComparison.Flags flags) {
        String args = String.join(" ", flags.commandLine);
        if (flags.device.startsWith("gpu")) {
            return "On the GPU machine, from the bundle of `cuda-ops/gpu-tests/make_java_bundle.sh`:\n\n"
                    + "```\ncuda-ops/gpu-tests/run_java_tests.sh --no-tests --run \""
                    + FineTuneComparison.class.getName()
                    + " "
                    + args
                    + "\"\n```\n\n";
        }
        return "```\nmvn -q -DskipTests package exec:exec -Dexample.args=\"" + args + "\"\n```\n\n";
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.4f", v);
    }
}
