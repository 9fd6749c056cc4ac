package io.github.sigmoidattention.ops;

import ai.djl.engine.Engine;
import ai.djl.util.Utils;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads libflash_sigmoid.so once per JVM (once per class loader where several load this class, each
 * then with a copy of the file), after DJL's PyTorch engine has loaded libtorch.
 *
 * <p>The library comes, in order of preference, from the system property or environment variable
 * {@value #OVERRIDE}; from DJL's {@code PYTORCH_EXTRA_LIBRARY_PATH} when that names a
 * libflash_sigmoid.so (DJL has loaded it already, and loading the same file again keeps one copy of
 * the ops); or from this jar, extracted to DJL's cache directory under a name derived from the
 * library's SHA-256, so that concurrent JVMs and upgrades never see a half-written file.
 */
final class NativeLibrary {

    /** System property or environment variable naming a libflash_sigmoid.so to load. */
    static final String OVERRIDE = "FLASH_SIGMOID_LIBRARY";

    static final String FILE_NAME = "libflash_sigmoid.so";
    static final String RESOURCE = "/native/linux-x86_64/" + FILE_NAME;

    private static final Logger logger = LoggerFactory.getLogger(NativeLibrary.class);

    private NativeLibrary() {}

    /** The outcome of loading: either a path, or why the library is unavailable. */
    static final class Status {
        final Path path;
        final String problem;

        Status(Path path, String problem) {
            this.path = path;
            this.problem = problem;
        }

        boolean loaded() {
            return problem == null;
        }
    }

    /** How many times {@link #load} ran in this JVM: at most once (LoaderRaceTest checks). */
    static final AtomicInteger LOAD_ATTEMPTS = new AtomicInteger();

    // Class initialisation runs once and is thread-safe: the first caller loads, the rest wait.
    private static final class Holder {
        static final Status STATUS = load();
    }

    static Status status() {
        return Holder.STATUS;
    }

    private static Status load() {
        LOAD_ATTEMPTS.incrementAndGet();
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            return new Status(
                    null, "libflash_sigmoid.so is built for linux-x86_64, not " + os + "-" + arch);
        }
        try {
            Engine.getEngine("PyTorch");
        } catch (RuntimeException | LinkageError e) {
            return new Status(null, "DJL's PyTorch engine is not available: " + e);
        }
        Path path;
        try {
            path = locate();
        } catch (IOException | RuntimeException e) {
            return new Status(null, "could not extract " + RESOURCE + ": " + e);
        }
        boolean copy = false;
        try {
            System.load(path.toString());
        } catch (UnsatisfiedLinkError e) {
            if (e.getMessage() == null || !e.getMessage().contains("another classloader")) {
                return new Status(path, "could not load " + path + ": " + e.getMessage());
            }
            // The JVM binds a native library to one class loader, and this file is bound to
            // another one of this JVM (DJL Serving gives each model's jars a class loader of its
            // own): this class loader loads a copy.
            try {
                path = loadCopy(path);
            } catch (IOException | UnsatisfiedLinkError copyFailed) {
                return new Status(path, "could not load a copy of " + path + ": " + copyFailed);
            }
            copy = true;
        }
        String registration = FlashSigmoidNative.registrationError();
        if (!registration.isEmpty()) {
            // Another copy of the library registered the ops first (expected for a copy); the ops
            // then work, run by that copy.
            String first = registration.lines().findFirst().orElse("");
            if (copy) {
                logger.debug(
                        "flash_sigmoid ops of the copy {} are registered already: {}", path, first);
            } else {
                logger.warn("flash_sigmoid ops from {} did not register: {}", path, first);
            }
        }
        logger.debug("Loaded {} (CPU kernels: {})", path, FlashSigmoidNative.cpuIsa());
        return new Status(path, null);
    }

    private static Path loadCopy(Path library) throws IOException {
        Path copy = Files.createTempFile(library.getParent(), "libflash_sigmoid-", ".so");
        copy.toFile().deleteOnExit();
        Files.copy(library, copy, StandardCopyOption.REPLACE_EXISTING);
        System.load(copy.toString());
        logger.debug("{} was loaded by another class loader; this one loaded {}", library, copy);
        return copy;
    }

    private static Path locate() throws IOException {
        String override = Utils.getEnvOrSystemProperty(OVERRIDE);
        if (override != null && !override.isEmpty()) {
            Path p = Paths.get(override).toAbsolutePath();
            if (!Files.isRegularFile(p)) {
                throw new IOException(OVERRIDE + " names a missing file: " + p);
            }
            return p;
        }
        String extra = Utils.getEnvOrSystemProperty("PYTORCH_EXTRA_LIBRARY_PATH");
        if (extra != null) {
            for (String file : extra.split(",")) {
                Path p = Paths.get(file.trim());
                if (p.getFileName() != null && FILE_NAME.equals(p.getFileName().toString())) {
                    return p.toAbsolutePath();
                }
            }
        }
        return extract();
    }

    private static Path extract() throws IOException {
        byte[] bytes;
        try (InputStream in = NativeLibrary.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IOException(RESOURCE + " is not in the cuda-ops jar (was it built?)");
            }
            bytes = in.readAllBytes();
        }
        String digest;
        try {
            digest = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IOException(e);
        }
        Path dir = Utils.getCacheDir().resolve("flash-sigmoid").resolve(digest.substring(0, 16));
        Path target = dir.resolve(FILE_NAME);
        if (Files.isRegularFile(target) && Files.size(target) == bytes.length) {
            return target;
        }
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "lib", ".tmp");
        try {
            Files.write(tmp, bytes);
            Files.move(
                    tmp,
                    target,
                    StandardCopyOption.ATOMIC_MOVE,
                    StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
        return target;
    }
}
