package io.github.sigmoidattention.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;

/**
 * Runs in a JVM of its own whose environment sets DJL's PYTORCH_EXTRA_LIBRARY_PATH to the built
 * library (see the surefire executions of cuda-ops/pom.xml): DJL loads it with libtorch, and the
 * loader then uses that same file, so one copy of the ops serves both.
 */
class ExtraLibraryPathTest {

    @Test
    void libraryNamedByPytorchExtraLibraryPathIsTheOneUsed() {
        String extra = System.getenv("PYTORCH_EXTRA_LIBRARY_PATH");
        assertNotNull(extra, "this test runs only in the extra-library-path surefire execution");
        assertTrue(FlashSigmoidLibrary.isAvailable(), FlashSigmoidLibrary.getUnavailableReason());
        assertEquals(Paths.get(extra).toAbsolutePath(), FlashSigmoidLibrary.getLibraryPath());
        assertEquals("", FlashSigmoidNative.registrationError());
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q = m.randomNormal(new Shape(1, 3, 2, 4));
            NDArray k = m.randomNormal(new Shape(1, 5, 1, 4));
            NDArray v = m.randomNormal(new Shape(1, 5, 1, 4));
            NDArray out = FlashSigmoid.forward(q, k, v, 0.5f, -1f, false);
            // One query head against the composite sigmoid(q k^T * 0.5 - 1) v.
            NDArray expected =
                    ai.djl.nn.Activation.sigmoid(
                                    q.get(":, :, 0, :")
                                            .matMul(k.get(":, :, 0, :").transpose(0, 2, 1))
                                            .mul(0.5f)
                                            .sub(1f))
                            .matMul(v.get(":, :, 0, :"));
            assertTrue(out.get(":, :, 0, :").sub(expected).abs().max().getFloat() < 1e-5f);
        }
    }
}
