package io.github.sigmoidattention.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Runs in a fresh JVM of its own (the loader-race surefire execution of cuda-ops/pom.xml), where
 * nothing has touched the library yet: 32 threads released together make their first call through
 * different entry points at once. The loader must run once, and every thread must see the same
 * outcome and get correct results.
 */
class LoaderRaceTest {

    private static final int THREADS = 32;

    @Test
    void manyThreadsTriggeringTheFirstLoadSeeOneOutcome() throws Exception {
        assertEquals(
                0,
                NativeLibrary.LOAD_ATTEMPTS.get(),
                "this test needs a JVM where the library is not loaded yet");
        CyclicBarrier start = new CyclicBarrier(THREADS);
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        List<Future<String>> outcomes = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            final int entry = t % 4;
            outcomes.add(
                    pool.submit(
                            () -> {
                                start.await();
                                switch (entry) {
                                    case 0:
                                        return FlashSigmoidLibrary.isAvailable()
                                                + " "
                                                + FlashSigmoidLibrary.getLibraryPath();
                                    case 1:
                                        return "cpu isa "
                                                + CpuKernels.getIsa().isEmpty()
                                                + " "
                                                + FlashSigmoidLibrary.getLibraryPath();
                                    case 2:
                                        return FlashSigmoidLibrary.getUnavailableReason()
                                                + " "
                                                + FlashSigmoidLibrary.getLibraryPath();
                                    default:
                                        try (NDManager m = NDManager.newBaseManager()) {
                                            NDArray q = m.ones(new Shape(1, 2, 1, 4));
                                            NDArray out =
                                                    FlashSigmoid.forward(q, q, q, 0f, 0f, false);
                                            // Every weight is sigmoid(0) = 1/2: out = 2 * 1/2 * 1.
                                            return "forward "
                                                    + (out.sub(1f).abs().max().getFloat() < 1e-6f)
                                                    + " "
                                                    + FlashSigmoidLibrary.getLibraryPath();
                                        }
                                }
                            }));
        }
        Set<String> distinct = new HashSet<>();
        for (Future<String> f : outcomes) {
            distinct.add(f.get().replaceFirst("^(true|cpu isa false|null|forward true) ", ""));
        }
        pool.shutdown();
        assertEquals(1, NativeLibrary.LOAD_ATTEMPTS.get(), "the loader ran more than once");
        assertTrue(FlashSigmoidLibrary.isAvailable(), FlashSigmoidLibrary.getUnavailableReason());
        assertEquals(
                Set.of(String.valueOf(FlashSigmoidLibrary.getLibraryPath())),
                distinct,
                "threads saw different outcomes");
    }
}
