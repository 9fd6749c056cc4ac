package io.github.sigmoidattention.examples.testing;

import io.github.sigmoidattention.examples.FineTuneComparison;
import java.nio.file.Path;

/**
 * A one-layer sigmoid character model (QK-norm, E=32, two heads) trained for a few steps on the
 * embedded text and saved: the model that the serving tests package, load and serve. Shared with
 * module serving-it through this module's test jar.
 */
public final class TinyCharModel {

    private TinyCharModel() {}

    /**
     * Trains the model for {@code steps} steps (one validation at the end) under {@code out}.
     *
     * @return the saved model's directory
     */
    public static Path train(Path out, int steps) throws Exception {
        String n = Integer.toString(steps);
        FineTuneComparison.Flags flags =
                FineTuneComparison.Flags.parse(
                        new String[] {
                            "--steps", n,
                            "--eval-every", n,
                            "--batch", "8",
                            "--seq", "32",
                            "--embed", "32",
                            "--heads", "2",
                            "--layers", "1",
                            "--validation-batches", "1",
                            "--sample-length", "1",
                            "--lr", "1e-2",
                            "--variants", "sigmoid_qk_norm",
                            "--out", out.toString()
                        });
        return FineTuneComparison.run(flags).get(0).modelDir();
    }
}
