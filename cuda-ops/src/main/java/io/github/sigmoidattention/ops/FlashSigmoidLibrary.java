package io.github.sigmoidattention.ops;

import java.nio.file.Path;

/**
 * Whether the native FlashSigmoid library (libflash_sigmoid.so, Linux x86-64) loaded into this JVM,
 * and from where. The first call of any method of this package loads it, after DJL's PyTorch
 * engine; see {@link NativeLibrary} for where it comes from.
 */
public final class FlashSigmoidLibrary {

    private FlashSigmoidLibrary() {}

    /**
     * Returns whether the native library is loaded; the first call loads it.
     *
     * @return true if the ops can run
     */
    public static boolean isAvailable() {
        return NativeLibrary.status().loaded();
    }

    /**
     * Returns why the native library could not be loaded.
     *
     * @return the reason, or null when it is available
     */
    public static String getUnavailableReason() {
        return NativeLibrary.status().problem;
    }

    /**
     * Returns the file the native library was loaded from.
     *
     * @return the path, or null when not loaded
     */
    public static Path getLibraryPath() {
        return NativeLibrary.status().path;
    }

    /**
     * Returns the head dims the library's CUDA kernels run, or none when it has no CUDA kernels
     * (built without nvcc) or the process sees no GPU. Calls with other head dims run on the CPU
     * only.
     *
     * @return the head dims, ascending; empty without CUDA
     */
    public static int[] getCudaHeadDims() {
        return CudaHeadDims.DIMS.clone();
    }

    /** Asked once: the build and the GPUs do not change while the process runs. */
    private static final class CudaHeadDims {
        static final int[] DIMS = isAvailable() ? FlashSigmoidNative.cudaHeadDims() : new int[0];
    }

    /**
     * Returns whether the differentiable op (libflash_sigmoid_autograd.so, built against the
     * libtorch of this process) is loaded, so that {@link FlashSigmoid#attention} records its fused
     * backward in autograd's graph; the first call loads it (see {@link AutogradLibrary}).
     *
     * @return true if the fused kernels can be trained through
     */
    public static boolean isAutogradAvailable() {
        return AutogradLibrary.status().loaded();
    }

    /**
     * Returns why the differentiable op is unavailable.
     *
     * @return the reason, or null when it is available
     */
    public static String getAutogradUnavailableReason() {
        return AutogradLibrary.status().problem;
    }

    /**
     * Returns the file the differentiable op was loaded from.
     *
     * @return the path, or null when it is not loaded
     */
    public static Path getAutogradLibraryPath() {
        NativeLibrary.Status status = AutogradLibrary.status();
        return status.loaded() ? status.path : null;
    }

    /** Throws {@link IllegalStateException} with the reason when the library is unavailable. */
    static void requireAvailable() {
        NativeLibrary.Status status = NativeLibrary.status();
        if (!status.loaded()) {
            throw new IllegalStateException(
                    "The FlashSigmoid native library is unavailable: " + status.problem);
        }
    }
}
