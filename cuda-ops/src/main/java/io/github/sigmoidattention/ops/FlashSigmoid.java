package io.github.sigmoidattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtGradientCollector;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.JniUtils;

import java.lang.reflect.Field;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The fused FlashSigmoid op on DJL NDArrays of the PyTorch engine: {@code out[b, i, h] = Σ_j
 * keep · sigmoid(scale · q_i·k_j + bias + headBias[h] - alibi[h] · |i + Tk - Tq - j|) · v_j},
 * computed tile by tile without the (Tq × Tk) weight matrix.
 *
 * <p>Layouts are FlashAttention's: q of shape (B, Tq, H, D), k and v of shape (B, Tk, G, D) with H
 * a multiple of G (query head h reads key/value head h / (H / G)). Inputs may have any strides;
 * float32, float16 and bfloat16 are computed in float32 and returned in the input's type. With
 * {@code causal}, key j is hidden from query i when j &gt; i + Tk - Tq. Variable-length
 * (right-padded) batches pass {@code keyLengths}: sequence b then attends to its first
 * keyLengths[b] keys only, and no work is spent on the padding. Results belong to the
 * NDManager of {@code q}. Calls go through PyTorch's dispatcher to the registered ops {@code
 * flash_sigmoid::forward}, {@code forward_extended}, {@code forward_varlen}, {@code
 * backward_extended} and {@code backward_varlen}, so the same kernels serve TorchScript models.
 *
 * <p>Bad arguments throw {@link IllegalArgumentException} naming the argument and the values seen
 * (scale and bias must be finite float32 values); other native failures throw {@link
 * ai.djl.engine.EngineException}. The op has no autograd in DJL: use {@link #backward} for
 * gradients. Inside a {@link ai.djl.training.GradientCollector}, {@link #forward} refuses inputs
 * that are part of the recorded graph ({@link IllegalStateException}) instead of returning an
 * output whose gradient would silently be zero.
 */
public final class FlashSigmoid {

    /**
     * DJL's flag of an open PtGradientCollector (one at a time per process), or null if a DJL
     * version renamed it; then grad mode alone decides.
     */
    private static final AtomicBoolean COLLECTING = collectingFlag();

    private FlashSigmoid() {}

    private static AtomicBoolean collectingFlag() {
        try {
            Field field = PtGradientCollector.class.getDeclaredField("isCollecting");
            field.setAccessible(true);
            return (AtomicBoolean) field.get(null);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

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
     * Computes sigmoid attention.
     *
     * @param q queries (B, Tq, H, D)
     * @param k keys (B, Tk, G, D)
     * @param v values (B, Tk, G, D)
     * @param scale the factor of q·k, usually 1/√D
     * @param bias added to every score, usually -ln Tk
     * @param causal whether key j is hidden from query i when j &gt; i + Tk - Tq
     * @return the output (B, Tq, H, D) in the type of q
     */
    public static NDArray forward(
            NDArray q, NDArray k, NDArray v, float scale, float bias, boolean causal) {
        return forward(q, k, v, scale, bias, causal, null, null, null);
    }

    /**
     * Computes sigmoid attention with per-head biases, ALiBi and a mask.
     *
     * @param q queries (B, Tq, H, D)
     * @param k keys (B, Tk, G, D)
     * @param v values (B, Tk, G, D)
     * @param scale the factor of q·k
     * @param bias added to every score
     * @param causal whether key j is hidden from query i when j &gt; i + Tk - Tq
     * @param headBias float32 (H) added per head, or null
     * @param alibiSlopes float32 (H): {@code -slope_h · |i + Tk - Tq - j|} is added, or null
     * @param keep bool or uint8 of 4 dimensions, each 1 or (B, H, Tq, Tk); 0 hides a key, or null
     * @return the output (B, Tq, H, D) in the type of q
     */
    public static NDArray forward(
            NDArray q,
            NDArray k,
            NDArray v,
            float scale,
            float bias,
            boolean causal,
            NDArray headBias,
            NDArray alibiSlopes,
            NDArray keep) {
        return forward(q, k, v, scale, bias, causal, headBias, alibiSlopes, keep, null);
    }

    /**
     * Computes sigmoid attention over a variable-length batch: sequence b attends to keys [0,
     * keyLengths[b]) only, as a right-padded key-padding mask would, and the kernels skip the
     * keys past it. Causal alignment and ALiBi distances count from the padded Tk.
     *
     * @param q queries (B, Tq, H, D)
     * @param k keys (B, Tk, G, D)
     * @param v values (B, Tk, G, D)
     * @param scale the factor of q·k
     * @param bias added to every score
     * @param causal whether key j is hidden from query i when j &gt; i + Tk - Tq
     * @param headBias float32 (H) added per head, or null
     * @param alibiSlopes float32 (H), or null
     * @param keep bool or uint8 of 4 dimensions, each 1 or (B, H, Tq, Tk), or null
     * @param keyLengths int32 or int64 (B), each in [0, Tk], on the CPU or the device of q; null
     *     for every key
     * @return the output (B, Tq, H, D) in the type of q
     */
    public static NDArray forward(
            NDArray q,
            NDArray k,
            NDArray v,
            float scale,
            float bias,
            boolean causal,
            NDArray headBias,
            NDArray alibiSlopes,
            NDArray keep,
            NDArray keyLengths) {
        requireAvailable();
        requireFinite(scale, bias);
        requireNotRecorded(q, k, v, headBias);
        long handle =
                FlashSigmoidNative.forward(
                        handle(q, "q"),
                        handle(k, "k"),
                        handle(v, "v"),
                        scale,
                        bias,
                        causal,
                        optionalHandle(headBias, "headBias"),
                        optionalHandle(alibiSlopes, "alibiSlopes"),
                        optionalHandle(keep, "keep"),
                        optionalHandle(keyLengths, "keyLengths"));
        return wrap(q, handle);
    }

    /**
     * Computes the gradients of sigmoid attention, recomputing the weights tile by tile.
     *
     * @param gradOut the gradient of the output (B, Tq, H, D)
     * @param q queries (B, Tq, H, D)
     * @param k keys (B, Tk, G, D)
     * @param v values (B, Tk, G, D)
     * @param scale the factor of q·k
     * @param bias added to every score
     * @param causal whether key j is hidden from query i when j &gt; i + Tk - Tq
     * @param headBias float32 (H), or null
     * @param alibiSlopes float32 (H), or null
     * @param keep the mask of {@link #forward(NDArray, NDArray, NDArray, float, float, boolean,
     *     NDArray, NDArray, NDArray)}, or null
     * @return dq, dk, dv (summed over the query heads of each group) and the float32 (H) gradient
     *     of the per-head bias, whose sum is the gradient of {@code bias}
     */
    public static NDList backward(
            NDArray gradOut,
            NDArray q,
            NDArray k,
            NDArray v,
            float scale,
            float bias,
            boolean causal,
            NDArray headBias,
            NDArray alibiSlopes,
            NDArray keep) {
        return backward(gradOut, q, k, v, scale, bias, causal, headBias, alibiSlopes, keep, null);
    }

    /**
     * Computes the gradients of sigmoid attention over a variable-length batch (see {@link
     * #forward(NDArray, NDArray, NDArray, float, float, boolean, NDArray, NDArray, NDArray,
     * NDArray)}); the gradients of keys and values past a sequence's length are zero.
     *
     * @param gradOut the gradient of the output (B, Tq, H, D)
     * @param q queries (B, Tq, H, D)
     * @param k keys (B, Tk, G, D)
     * @param v values (B, Tk, G, D)
     * @param scale the factor of q·k
     * @param bias added to every score
     * @param causal whether key j is hidden from query i when j &gt; i + Tk - Tq
     * @param headBias float32 (H), or null
     * @param alibiSlopes float32 (H), or null
     * @param keep the mask, or null
     * @param keyLengths int32 or int64 (B), each in [0, Tk]; null for every key
     * @return dq, dk, dv and the float32 (H) gradient of the per-head bias
     */
    public static NDList backward(
            NDArray gradOut,
            NDArray q,
            NDArray k,
            NDArray v,
            float scale,
            float bias,
            boolean causal,
            NDArray headBias,
            NDArray alibiSlopes,
            NDArray keep,
            NDArray keyLengths) {
        requireAvailable();
        requireFinite(scale, bias);
        long[] handles =
                FlashSigmoidNative.backward(
                        handle(gradOut, "gradOut"),
                        handle(q, "q"),
                        handle(k, "k"),
                        handle(v, "v"),
                        scale,
                        bias,
                        causal,
                        optionalHandle(headBias, "headBias"),
                        optionalHandle(alibiSlopes, "alibiSlopes"),
                        optionalHandle(keep, "keep"),
                        optionalHandle(keyLengths, "keyLengths"));
        NDList grads = new NDList(handles.length);
        for (long h : handles) {
            grads.add(wrap(q, h));
        }
        return grads;
    }

    /**
     * Returns a copy of {@code x} converted to {@code type} by PyTorch. Unlike {@link
     * NDArray#toType}, it can create bfloat16 arrays: DJL 0.36's PyTorch JNI aborts the JVM when
     * asked to.
     *
     * @param x the array
     * @param type float32, float16, bfloat16 or float64
     * @return the converted copy, owned by the manager of x
     */
    public static NDArray toDataType(NDArray x, DataType type) {
        requireAvailable();
        int code;
        switch (type) {
            case FLOAT32:
                code = 0;
                break;
            case FLOAT16:
                code = 1;
                break;
            case BFLOAT16:
                code = 2;
                break;
            case FLOAT64:
                code = 3;
                break;
            default:
                throw new IllegalArgumentException(
                        "type: expected float32, float16, bfloat16 or float64, got " + type);
        }
        return wrap(x, FlashSigmoidNative.convert(handle(x, "x"), code));
    }

    /**
     * Returns the data type of an array as PyTorch holds it. DJL 0.36 reports bfloat16 arrays as
     * {@link DataType#UNKNOWN}; this returns {@link DataType#BFLOAT16} for them.
     *
     * @param x an array of DJL's PyTorch engine
     * @return its data type
     */
    public static DataType dataType(NDArray x) {
        DataType type = x.getDataType();
        if (type != DataType.UNKNOWN || !(x instanceof PtNDArray) || !isAvailable()) {
            return type;
        }
        switch (FlashSigmoidNative.dtypeCode(handle(x, "x"))) {
            case 2:
                return DataType.BFLOAT16;
            default:
                return type;
        }
    }

    /**
     * Returns whether DJL's autograd is recording (a {@link ai.djl.training.GradientCollector} is
     * open and this thread's grad mode is on) and any of the arrays is part of the recorded graph:
     * a leaf that requires a gradient or the result of a recorded operation. Such inputs need a
     * differentiable computation, which {@link #forward} is not.
     *
     * @param arrays arrays of DJL's PyTorch engine; nulls are skipped
     * @return true if a gradient would flow to any of them
     */
    public static boolean isRecordingGradient(NDArray... arrays) {
        // PyTorch's grad mode is per thread and on by default in threads DJL did not set up (a
        // Predictor's worker, for one), so it alone does not mean a collector is recording.
        if (!JniUtils.isGradMode() || (COLLECTING != null && !COLLECTING.get())) {
            return false;
        }
        for (NDArray a : arrays) {
            if (a instanceof PtNDArray && !((PtNDArray) a).isReleased()) {
                // DJL's hasGradient sees leaves only; a recorded result is not a leaf. (DJL's
                // getGradientFunctionNames crashes the JVM on arrays without a gradient function.)
                if (a.hasGradient() || (isAvailable() && !FlashSigmoidNative.isLeaf(((PtNDArray) a).getHandle()))) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Runs ATen's own fused CPU attention for softmax, {@code
     * aten::_scaled_dot_product_flash_attention_for_cpu}: the baseline of this project's CPU
     * benchmarks.
     *
     * @param q queries (B, H, T, D)
     * @param k keys (B, H, F, D)
     * @param v values (B, H, F, D)
     * @param causal whether to mask future keys
     * @return softmax(q kᵀ / √D) v, (B, H, T, D)
     */
    public static NDArray softmaxFlashAttentionCpu(
            NDArray q, NDArray k, NDArray v, boolean causal) {
        requireAvailable();
        return wrap(
                q,
                FlashSigmoidNative.softmaxFlashAttentionCpu(
                        handle(q, "q"), handle(k, "k"), handle(v, "v"), causal));
    }

    /**
     * Returns the instruction set of the CPU kernels: avx512, avx2 or generic.
     *
     * @return the name
     */
    public static String getCpuIsa() {
        requireAvailable();
        return FlashSigmoidNative.cpuIsa();
    }

    /**
     * Selects the instruction set of the CPU kernels (for tests and comparisons).
     *
     * @param isa avx512, avx2 or generic
     * @return false if this CPU cannot run it (nothing changes then)
     */
    public static boolean setCpuIsa(String isa) {
        requireAvailable();
        return FlashSigmoidNative.setCpuIsa(isa);
    }

    /**
     * Returns the number of threads of the CPU kernels.
     *
     * @return the thread count
     */
    public static int getNumThreads() {
        requireAvailable();
        return FlashSigmoidNative.getNumThreads();
    }

    /**
     * Sets the number of threads of the CPU kernels (default: the CPUs this process may use, or
     * the environment variable FLASH_SIGMOID_NUM_THREADS).
     *
     * @param threads at least 1
     */
    public static void setNumThreads(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        requireAvailable();
        FlashSigmoidNative.setNumThreads(threads);
    }

    /**
     * Returns whether the CPU forward splits the key range of decoding problems (at most 16
     * queries, too few (batch, head) items to fill the threads) across threads.
     *
     * @return true unless turned off with {@link #setCpuSplitKv(boolean)}
     */
    public static boolean isCpuSplitKv() {
        requireAvailable();
        return FlashSigmoidNative.getCpuSplitKv();
    }

    /**
     * Turns the CPU forward's split of the key range on or off (for benchmarks and tests; the
     * results agree up to the order of float32 additions).
     *
     * @param enabled true to split (the default)
     */
    public static void setCpuSplitKv(boolean enabled) {
        requireAvailable();
        FlashSigmoidNative.setCpuSplitKv(enabled);
    }

    private static void requireAvailable() {
        NativeLibrary.Status status = NativeLibrary.status();
        if (!status.loaded()) {
            throw new IllegalStateException(
                    "The FlashSigmoid native library is unavailable: " + status.problem);
        }
    }

    private static void requireFinite(float scale, float bias) {
        if (!Float.isFinite(scale)) {
            throw new IllegalArgumentException("scale must be a finite number, got " + scale);
        }
        if (!Float.isFinite(bias)) {
            throw new IllegalArgumentException("bias must be a finite number, got " + bias);
        }
    }

    private static void requireNotRecorded(NDArray q, NDArray k, NDArray v, NDArray headBias) {
        String[] names = {"q", "k", "v", "headBias"};
        NDArray[] arrays = {q, k, v, headBias};
        for (int i = 0; i < arrays.length; i++) {
            if (isRecordingGradient(arrays[i])) {
                throw new IllegalStateException(
                        "FlashSigmoid.forward has no autograd in DJL, but "
                                + names[i]
                                + " is part of the graph a GradientCollector records, so its"
                                + " gradient would silently be zero; compute gradients with"
                                + " FlashSigmoid.backward, or train through SigmoidAttention or"
                                + " SigmoidMultiHeadAttention, which differentiate the reference"
                                + " kernel");
            }
        }
    }

    private static long handle(NDArray array, String name) {
        if (array == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        if (!(array instanceof PtNDArray)) {
            throw new IllegalArgumentException(
                    name
                            + ": expected an NDArray of DJL's PyTorch engine, got "
                            + array.getClass().getName());
        }
        if (((PtNDArray) array).isReleased()) {
            throw new IllegalArgumentException(name + ": the NDArray has been closed");
        }
        return ((PtNDArray) array).getHandle();
    }

    private static long optionalHandle(NDArray array, String name) {
        return array == null ? 0L : handle(array, name);
    }

    private static NDArray wrap(NDArray owner, long handle) {
        return new PtNDArray((PtNDManager) owner.getManager(), handle);
    }
}
