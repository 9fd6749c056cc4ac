package io.github.sigmoidattention.examples;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;

/**
 * Writes a benchmark's result into its own section of BENCHMARKS.md, between {@code <!-- name:begin
 * -->} and {@code <!-- name:end -->}, replacing the previous run and leaving the rest alone.
 */
public final class BenchmarkReport {

    private BenchmarkReport() {}

    /**
     * The BENCHMARKS.md at the project root, found from the working directory.
     *
     * @return its path (which may not exist yet)
     */
    public static Path defaultFile() {
        Path dir = Paths.get("").toAbsolutePath();
        for (Path p = dir; p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("BENCHMARKS.md"))) {
                return p.resolve("BENCHMARKS.md");
            }
        }
        Path parent = dir.getParent();
        return dir.getFileName() != null
                        && "examples".equals(dir.getFileName().toString())
                        && parent != null
                ? parent.resolve("BENCHMARKS.md")
                : dir.resolve("BENCHMARKS.md");
    }

    /**
     * Replaces (or appends) the named section.
     *
     * @param file the markdown file
     * @param name the section's marker name
     * @param body the new content of the section
     * @throws IOException if the file cannot be written
     */
    public static void writeSection(Path file, String name, String body) throws IOException {
        String begin = "<!-- " + name + ":begin -->";
        String end = "<!-- " + name + ":end -->";
        String text =
                Files.exists(file)
                        ? new String(Files.readAllBytes(file), StandardCharsets.UTF_8)
                        : "# Benchmarks\n";
        String section = begin + "\n" + body.strip() + "\n" + end;
        int from = text.indexOf(begin);
        int to = text.indexOf(end);
        if (from >= 0 && to > from) {
            text = text.substring(0, from) + section + text.substring(to + end.length());
        } else {
            text = text.stripTrailing() + "\n\n" + section + "\n";
        }
        Files.write(file, text.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Returns the median of the timings of one benchmark row.
     *
     * @param xs the measurements (not empty)
     * @return the middle value, or the mean of the two middle values
     */
    public static double median(List<Double> xs) {
        double[] s = xs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
