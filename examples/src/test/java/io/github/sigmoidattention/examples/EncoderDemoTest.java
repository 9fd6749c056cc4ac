package io.github.sigmoidattention.examples;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The demo trains through DJL's EasyTrain: a few dozen steps already beat a uniform guess. */
class EncoderDemoTest {

    @Test
    void shortRunLowersTheValidationLoss() throws Exception {
        EncoderDemo.Result r =
                EncoderDemo.run(
                        EncoderDemo.Flags.parse(
                                new String[] {
                                    "--steps", "60", "--batch", "8", "--seq", "32", "--embed", "32",
                                    "--layers", "1", "--seed", String.valueOf((int) System.nanoTime())
                                }));
        assertTrue(r.lossAfter < r.lossBefore, r.lossBefore + " -> " + r.lossAfter);
        assertTrue(
                r.lossAfter < r.uniformLoss,
                "after " + r.lossAfter + " is no better than uniform " + r.uniformLoss);
        assertTrue(r.sample.startsWith("ROMEO:\n") && r.sample.length() == 7 + 160, r.sample);
    }
}
