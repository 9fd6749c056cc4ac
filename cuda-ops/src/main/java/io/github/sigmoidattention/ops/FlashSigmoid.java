package io.github.sigmoidattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

/**
 * The fused FlashSigmoid op on DJL NDArrays of the PyTorch engine: sigmoid attention computed tile
 * by tile, without the (Tq × Tk) weight matrix, on the CPU (and on CUDA devices when the library
 * has its CUDA kernels). {@link AttentionCall} says what a call computes.
 *
 * <p>Layouts are FlashAttention's: q of shape (B, Tq, H, D), k and v of shape (B, Tk, G, D).
 * float32, float16 and bfloat16 are computed with float32 accumulation and returned in the input's
 * type; results belong to the NDManager of q. The same kernels are registered as the PyTorch ops
 * {@code flash_sigmoid::*} for TorchScript and Python (docs/native-op.md).
 *
 * <p>Bad arguments throw {@link IllegalArgumentException} naming the argument and the values seen;
 * other native failures throw {@link ai.djl.engine.EngineException}. {@link
 * #forward(AttentionCall)} is not recorded by autograd: inside a {@link
 * ai.djl.training.GradientCollector} it refuses inputs that are part of the recorded graph ({@link
 * IllegalStateException}) instead of returning an output whose gradient would silently be zero.
 * {@link #attention} is the differentiable form (with the autograd library), and {@link #backward}
 * computes gradients directly.
 */
public final class FlashSigmoid {

    private FlashSigmoid() {}

    /**
     * Computes sigmoid attention.
     *
     * @param call the inputs and options
     * @return the output (B, Tq, H, D) in the type of q
     */
    public static NDArray forward(AttentionCall call) {
        FlashSigmoidLibrary.requireAvailable();
        requireFinite(call);
        String[] names = {"q", "k", "v", "headBias"};
        NDArray[] inputs = {call.query(), call.key(), call.value(), call.headBias()};
        for (int i = 0; i < inputs.length; i++) {
            if (PtArrays.isRecordingGradient(inputs[i])) {
                throw new IllegalStateException(
                        "FlashSigmoid.forward is not recorded by autograd, but "
                                + names[i]
                                + " is part of the graph a GradientCollector records, so its"
                                + " gradient would silently be zero; use FlashSigmoid.attention"
                                + " (differentiable, with the autograd library), compute gradients"
                                + " with FlashSigmoid.backward, or train through"
                                + " SigmoidMultiHeadAttention");
            }
        }
        long out =
                FlashSigmoidNative.forward(
                        handles(call), (float) call.scale(), (float) call.bias(), call.causal());
        return PtArrays.wrap(call.query(), out);
    }

    /**
     * Computes sigmoid attention with no optional part: {@code forward(AttentionCall.of(...))}.
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
        return forward(AttentionCall.of(q, k, v, scale, bias, causal));
    }

    /**
     * Computes sigmoid attention as a differentiable operation: inside a {@link
     * ai.djl.training.GradientCollector}, autograd records the op, and its backward runs the fused
     * backward kernels, giving gradients to q, k, v and the per-head bias. Needs the autograd
     * library ({@link FlashSigmoidLibrary#isAutogradAvailable()}); masks go in {@code keep} (the
     * call takes no key lengths).
     *
     * @param call the inputs and options, without key lengths
     * @return the output (B, Tq, H, D) in the type of q
     * @throws IllegalStateException if the autograd library is not loaded
     */
    public static NDArray attention(AttentionCall call) {
        FlashSigmoidLibrary.requireAvailable();
        requireFinite(call);
        if (!FlashSigmoidLibrary.isAutogradAvailable()) {
            throw new IllegalStateException(
                    "FlashSigmoid.attention needs the autograd library: "
                            + FlashSigmoidLibrary.getAutogradUnavailableReason());
        }
        if (call.keyLengths() != null) {
            throw new IllegalArgumentException(
                    "keyLengths: FlashSigmoid.attention takes masks through keep, got key lengths "
                            + call.keyLengths().getShape());
        }
        long out =
                FlashSigmoidNative.attention(
                        handles(call), (float) call.scale(), (float) call.bias(), call.causal());
        return PtArrays.wrap(call.query(), out);
    }

    /**
     * Computes the gradients of sigmoid attention, recomputing the weights tile by tile; the
     * gradients of keys and values past a sequence's key length are zero.
     *
     * @param gradOut the gradient of the output (B, Tq, H, D)
     * @param call the inputs and options of the forward
     * @return dq, dk, dv (summed over the query heads of each group) and the float32 (H) gradient
     *     of the per-head bias, whose sum is the gradient of the scalar bias
     */
    public static NDList backward(NDArray gradOut, AttentionCall call) {
        FlashSigmoidLibrary.requireAvailable();
        requireFinite(call);
        long[] handles =
                FlashSigmoidNative.backward(
                        PtArrays.handle(gradOut, "gradOut"),
                        handles(call),
                        (float) call.scale(),
                        (float) call.bias(),
                        call.causal());
        NDList grads = new NDList(handles.length);
        for (long h : handles) {
            grads.add(PtArrays.wrap(call.query(), h));
        }
        return grads;
    }

    private static void requireFinite(AttentionCall call) {
        if (call == null) {
            throw new IllegalArgumentException("call must not be null");
        }
        if (!Float.isFinite((float) call.scale())) {
            throw new IllegalArgumentException(
                    "scale must be a finite number (as float32), got " + call.scale());
        }
        if (!Float.isFinite((float) call.bias())) {
            throw new IllegalArgumentException(
                    "bias must be a finite number (as float32), got " + call.bias());
        }
    }

    /** The handles in the order of the JNI bridge: q, k, v, then the optional ones (0: none). */
    private static long[] handles(AttentionCall call) {
        return new long[] {
            PtArrays.handle(call.query(), "q"),
            PtArrays.handle(call.key(), "k"),
            PtArrays.handle(call.value(), "v"),
            PtArrays.optionalHandle(call.headBias(), "headBias"),
            PtArrays.optionalHandle(call.alibiSlopes(), "alibiSlopes"),
            PtArrays.optionalHandle(call.keep(), "keep"),
            PtArrays.optionalHandle(call.keyLengths(), "keyLengths")
        };
    }
}
