package io.github.sigmoidattention.ops;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.Consumer;

/** Runs test code once in each instruction set of the CPU kernels that this CPU has. */
final class Isas {

    private Isas() {}

    /**
     * Calls {@code body} with each supported ISA selected, then restores the one selected before.
     */
    static void forEach(Consumer<String> body) {
        String before = CpuKernels.getIsa();
        try {
            for (String isa : new String[] {"avx512", "avx2", "generic"}) {
                if (CpuKernels.setIsa(isa)) {
                    try {
                        body.accept(isa);
                    } catch (AssertionError e) {
                        throw new AssertionError("[" + isa + "] " + e.getMessage(), e);
                    }
                }
            }
        } finally {
            assertTrue(CpuKernels.setIsa(before));
        }
    }
}
