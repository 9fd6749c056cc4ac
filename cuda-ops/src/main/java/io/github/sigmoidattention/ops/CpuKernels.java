package io.github.sigmoidattention.ops;

/**
 * Settings of the CPU kernels, process-wide: their instruction set, threads and the split of the
 * key range in decoding. For tests, benchmarks and tuning; the defaults suit most uses.
 */
public final class CpuKernels {

    private CpuKernels() {}

    /**
     * Returns the instruction set of the CPU kernels: avx512, avx2 or generic (the best this CPU
     * has, or the one the environment variable FLASH_SIGMOID_CPU_ISA names).
     *
     * @return the name
     */
    public static String getIsa() {
        FlashSigmoidLibrary.requireAvailable();
        return FlashSigmoidNative.cpuIsa();
    }

    /**
     * Selects the instruction set of the CPU kernels.
     *
     * @param isa avx512, avx2 or generic
     * @return false if this CPU cannot run it (nothing changes then)
     */
    public static boolean setIsa(String isa) {
        FlashSigmoidLibrary.requireAvailable();
        return FlashSigmoidNative.setCpuIsa(isa);
    }

    /**
     * Returns the number of threads of the CPU kernels.
     *
     * @return the thread count
     */
    public static int getNumThreads() {
        FlashSigmoidLibrary.requireAvailable();
        return FlashSigmoidNative.getNumThreads();
    }

    /**
     * Sets the number of threads of the CPU kernels (default: the CPUs this process may use, or the
     * environment variable FLASH_SIGMOID_NUM_THREADS).
     *
     * @param threads at least 1
     */
    public static void setNumThreads(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        FlashSigmoidLibrary.requireAvailable();
        FlashSigmoidNative.setNumThreads(threads);
    }

    /**
     * Returns whether the CPU forward splits the key range of decoding problems (at most 16
     * queries, too few (batch, head) items to fill the threads) across threads.
     *
     * @return true unless turned off with {@link #setSplitKv(boolean)}
     */
    public static boolean isSplitKv() {
        FlashSigmoidLibrary.requireAvailable();
        return FlashSigmoidNative.getCpuSplitKv();
    }

    /**
     * Turns the CPU forward's split of the key range on or off (the results agree up to the order
     * of additions).
     *
     * @param enabled true to split (the default)
     */
    public static void setSplitKv(boolean enabled) {
        FlashSigmoidLibrary.requireAvailable();
        FlashSigmoidNative.setCpuSplitKv(enabled);
    }
}
