package io.github.sigmoidattention.ops;

import ai.djl.util.Utils;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads libflash_sigmoid_autograd.so once per JVM, after libflash_sigmoid.so: the differentiable op
 * {@code flash_sigmoid::attention_extended}. It is built against the full C++ headers of one
 * PyTorch version (the autograd API is not in the stable C ABI), so it is optional: it comes from
 * the system property or environment variable {@value #OVERRIDE}, or from the folder of the op
 * library; without it the op has no autograd and the block trains on its reference kernel.
 */
final class AutogradLibrary {

    /** System property or environment variable naming a libflash_sigmoid_autograd.so to load. */
    static final String OVERRIDE = "FLASH_SIGMOID_AUTOGRAD_LIBRARY";

    static final String FILE_NAME = "libflash_sigmoid_autograd.so";

    private static final Logger logger = LoggerFactory.getLogger(AutogradLibrary.class);

    private AutogradLibrary() {}

    private static final class Holder {
        static final NativeLibrary.Status STATUS = load();
    }

    static NativeLibrary.Status status() {
        return Holder.STATUS;
    }

    private static NativeLibrary.Status load() {
        NativeLibrary.Status op = NativeLibrary.status();
        if (!op.loaded()) {
            return new NativeLibrary.Status(null, "the op library is unavailable: " + op.problem);
        }
        String override = Utils.getEnvOrSystemProperty(OVERRIDE);
        Path path;
        if (override != null && !override.isEmpty()) {
            path = Paths.get(override).toAbsolutePath();
            if (!Files.isRegularFile(path)) {
                return new NativeLibrary.Status(null, OVERRIDE + " names a missing file: " + path);
            }
        } else {
            path = op.path.resolveSibling(FILE_NAME);
            if (!Files.isRegularFile(path)) {
                return new NativeLibrary.Status(
                        null,
                        "no "
                                + FILE_NAME
                                + " (set "
                                + OVERRIDE
                                + ", or put it next to "
                                + op.path
                                + "; it is built against the libtorch it runs in)");
            }
        }
        try {
            System.load(path.toString());
        } catch (UnsatisfiedLinkError e) {
            return new NativeLibrary.Status(path, "could not load " + path + ": " + e.getMessage());
        }
        logger.debug("Loaded {}", path);
        return new NativeLibrary.Status(path, null);
    }
}
