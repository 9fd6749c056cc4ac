package io.github.sigmoidattention.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.LibUtils;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Every aoti_torch_* function the library imports is exported by the libtorch_cpu.so that DJL runs,
 * read with {@code nm -D}: the header torch/stable_abi.h declares them by hand.
 */
class AbiSymbolsTest {

    private static Set<String> symbols(Path library, String... flags)
            throws IOException, InterruptedException {
        String[] command = new String[flags.length + 3];
        command[0] = "nm";
        command[1] = "-D";
        System.arraycopy(flags, 0, command, 2, flags.length);
        command[command.length - 1] = library.toString();
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), "nm failed: " + output);
        Set<String> names = new TreeSet<>();
        for (String line : output.split("\n")) {
            String[] parts = line.trim().split("\\s+");
            String name = parts[parts.length - 1];
            if (name.startsWith("aoti_torch_")) {
                names.add(name);
            }
        }
        return names;
    }

    @Test
    void importedShimFunctionsExistInDjlLibtorch() throws Exception {
        assertTrue(FlashSigmoidLibrary.isAvailable(), FlashSigmoidLibrary.getUnavailableReason());
        Engine.getEngine("PyTorch");
        Path libtorch = Paths.get(LibUtils.getLibtorchPath(), "libtorch_cpu.so");
        Set<String> imported = symbols(FlashSigmoidLibrary.getLibraryPath(), "--undefined-only");
        Set<String> exported = symbols(libtorch, "--defined-only");
        assertTrue(imported.size() >= 20, "expected the shim imports, got " + imported);
        Set<String> missing = new TreeSet<>(imported);
        missing.removeAll(exported);
        assertTrue(missing.isEmpty(), "not exported by " + libtorch + ": " + missing);
    }
}
