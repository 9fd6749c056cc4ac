package io.github.sigmoidattention.ops;

import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Many calls leave the process's resident memory flat: every handle the ops return is owned by the
 * caller's manager and freed with it.
 */
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
                NDArray out =
                        FlashSigmoid.forward(
                                AttentionCall.of(q, k, v, 0.25f, -3f, true)
                                        .withHeadBias(bias)
                                        .withKeep(keep));
                NDList g =
                        FlashSigmoid.backward(
                                out,
                                AttentionCall.of(q, k, v, 0.25f, -3f, true)
                                        .withHeadBias(bias)
                                        .withKeep(keep));
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

    /**
     * 100,000 forward and backward calls (plus as many refused calls) after 10,000 to warm up, in
     * 10 rounds; resident memory outside the Java heap is sampled after each round.
     */
    @Test
    void residentMemoryStaysFlatOverManyCalls() throws IOException {
        assertTrue(FlashSigmoidLibrary.isAvailable(), FlashSigmoidLibrary.getUnavailableReason());
        int rounds = 10;
        int perRound = Integer.getInteger("leak.calls", 100_000) / rounds;
        // One kernel thread: leaks do not depend on it, and it keeps the 100,000 calls cheap
        // (2 of them are 4 parallel regions a call, each a handoff to another thread) and
        // insensitive to other processes on a small CI machine.
        int threads = CpuKernels.getNumThreads();
        CpuKernels.setNumThreads(1);
        try (NDManager m = NDManager.newBaseManager()) {
            calls(m, 10_000); // warm up: threads, scratch buffers, allocator caches, the JIT
            long start = System.nanoTime();
            long[] samples = new long[rounds];
            for (int i = 0; i < samples.length; i++) {
                calls(m, perRound);
                samples[i] = nativeKiB();
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            // A leaked 33x4x16 float32 output alone would be 8 KiB a call, 390 MiB between the
            // halves; the bound allows 16 MiB, 330 bytes a call. The allocator's free lists make
            // single samples jump by tens of MiB and back, so the halves are compared by their
            // lowest samples, which a leak lifts and a jump does not.
            long early = Arrays.stream(samples, 0, rounds / 2).min().getAsLong();
            long late = Arrays.stream(samples, rounds / 2, rounds).min().getAsLong();
            System.out.printf(
                    "NativeMemoryTest: %d forward+backward calls in %.1f s; native RSS (KiB) per %d calls: %s;"
                            + " growth between the halves %d KiB%n",
                    rounds * perRound, seconds, perRound, Arrays.toString(samples), late - early);
            assertTrue(
                    late - early < 16 * 1024,
                    "native memory grew by "
                            + (late - early)
                            + " KiB: "
                            + Arrays.toString(samples));
        } finally {
            CpuKernels.setNumThreads(threads);
        }
    }

    /** What the ops return belongs to the manager of q, and closing that manager frees it. */
    @Test
    void resultsBelongToTheManagerOfQ() {
        assertTrue(FlashSigmoidLibrary.isAvailable(), FlashSigmoidLibrary.getUnavailableReason());
        try (NDManager base = NDManager.newBaseManager();
                NDManager other = base.newSubManager()) {
            NDManager caller = base.newSubManager();
            NDArray q = caller.randomNormal(new Shape(1, 6, 2, 8));
            NDArray k = other.randomNormal(new Shape(1, 9, 1, 8));
            NDArray v = other.randomNormal(new Shape(1, 9, 1, 8));
            NDArray out = FlashSigmoid.forward(q, k, v, 0.3f, -1f, false);
            NDList grads = FlashSigmoid.backward(out, AttentionCall.of(q, k, v, 0.3f, -1f, false));
            NDArray half = PtArrays.toDataType(k, ai.djl.ndarray.types.DataType.FLOAT16);
            List<NDArray> results = new ArrayList<>(grads);
            results.add(out);
            for (NDArray x : results) {
                assertSame(caller, x.getManager());
            }
            assertSame(other, half.getManager());
            caller.close();
            for (int i = 0; i < results.size(); i++) {
                assertTrue(
                        ((PtNDArray) results.get(i)).isReleased(),
                        "result " + i + " not freed with its manager");
            }
            assertTrue(!((PtNDArray) half).isReleased() && !((PtNDArray) k).isReleased());
        }
    }
}
