package io.github.sigmoidattention.examples;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;

/**
 * The README's Java program is {@link QuickStart}, word for word (from its imports to its end), and
 * it runs: the snippet a user pastes compiles, because this file is it.
 */
class QuickStartTest {

    @Test
    void readmeShowsTheProgramThatRuns() throws Exception {
        Path source =
                Paths.get("src/main/java/io/github/sigmoidattention/examples/QuickStart.java");
        String program = Files.readString(source);
        String shown = program.substring(program.indexOf("import "));
        String readme = Files.readString(Paths.get("../README.md"));
        assertTrue(
                readme.contains(shown.strip()),
                "README.md must show QuickStart.java from its imports to its end, unchanged");

        PrintStream original = System.out;
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
        try {
            QuickStart.main(new String[0]);
        } finally {
            System.setOut(original);
        }
        String out = printed.toString(StandardCharsets.UTF_8);
        assertTrue(out.contains("(2, 128, 512) -> (2, 128, 512)"), out);
    }
}
