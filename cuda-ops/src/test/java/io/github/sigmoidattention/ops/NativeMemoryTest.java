package io.github.sigmoidattention.ops;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;

/** Many calls leave the process's resident memory flat: every handle the ops return is freed. */
class NativeMemoryTest {

    static long residentKiB() throws IOException {
        for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IOException("no VmRSS in /proc/self/status");
    }

    private static void calls(NDManager parent, int n) {
        for (int i = 0; i < n; i++) {
            try (NDManager m = parent.newSubManager()) {
                NDArray q = m.randomNormal(new Shape(1, 33, 4, 16));
                NDArray k = m.randomNormal(new Shape(1, 45, 2, 16));
                NDArray v = m.randomNormal(new Shape(1, 45, 2, 16));
                NDArray keep = m.ones(new Shape(1, 1, 1, 45)).gt(0);
                NDArray bias = m.zeros(new Shape(4));
                NDArray out = FlashSigmoid.forward(q, k, v, 0.25f, -3f, true, bias, null, keep);
                NDList g = FlashSigmoid.backward(out, q, k, v, 0.25f, -3f, true, bias, null, keep);
                g.close();
                // Invalid calls must not leak either.
                try {
                    FlashSigmoid.forward(q, k.reshape(1, 45, 32), v, 1f, 0f, false);
                } catch (IllegalArgumentException expected) {
                    // the message is checked elsewhere
                }
            }
        }
    }

    /** Resident memory outside the Java heap: what native leaks would grow. */
    private static long nativeKiB() throws IOException {
        System.gc();
        return residentKiB() - Runtime.getRuntime().totalMemory() / 1024;
    }

    @Test
    void residentMemoryStaysFlatOverManyCalls() throws IOException {
        assertTrue(FlashSigmoid.isAvailable(), FlashSigmoid.getUnavailableReason());
        try (NDManager m = NDManager.newBaseManager()) {
            calls(m, 4000); // warm up: threads, scratch buffers, allocator caches, the JIT
            long[] samples = new long[8];
            for (int i = 0; i < samples.length; i++) {
                calls(m, 2500);
                samples[i] = nativeKiB();
            }
            // A leaked 33x4x16 float32 output alone would be 8 KiB a call, 78 MiB between the
            // halves. The allocator's free lists make single samples jump by tens of MiB and back,
            // so the halves are compared by their lowest samples, which a leak lifts and a jump
            // does not.
            long early = Arrays.stream(samples, 0, 4).min().getAsLong();
            long late = Arrays.stream(samples, 4, 8).min().getAsLong();
            assertTrue(
                    late - early < 24 * 1024,
                    "native memory grew by " + (late - early) + " KiB: " + Arrays.toString(samples));
        }
    }
}
