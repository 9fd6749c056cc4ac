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

    @Test
    void residentMemoryStaysFlatOverManyCalls() throws IOException {
        assertTrue(FlashSigmoid.isAvailable(), FlashSigmoid.getUnavailableReason());
        try (NDManager m = NDManager.newBaseManager()) {
            calls(m, 2000); // warm up: thread pools, scratch buffers, allocator caches
            System.gc();
            long before = residentKiB();
            calls(m, 20000);
            System.gc();
            long growth = residentKiB() - before;
            // A leaked 33x4x16 float32 output alone would be 8 KiB a call, 160 MiB in all.
            assertTrue(growth < 16 * 1024, "resident memory grew by " + growth + " KiB over 20000 calls");
        }
    }
}
