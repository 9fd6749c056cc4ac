package io.github.sigmoidattention.nn;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;

import io.github.sigmoidattention.ops.FlashSigmoid;

/**
 * The attention core on the native FlashSigmoid op of cuda-ops: the same function as {@link
 * ReferenceSigmoidAttention}, tiled and fused, with no (T × F) matrix. It has no autograd, so the
 * block uses it only where no gradient is needed.
 */
final class FusedSigmoidAttention {

    private FusedSigmoidAttention() {}

    /**
     * Returns why the fused kernel cannot run this call, or null if it can.
     *
     * @param call the call
     * @return the reason, or null
     */
    static String unsupported(AttentionCall call) {
        NDArray q = call.query();
        if (!(q instanceof PtNDArray)) {
            return "it runs on DJL's PyTorch engine, not " + q.getManager().getEngine().getEngineName();
        }
        if (!Device.Type.CPU.equals(q.getDevice().getDeviceType())) {
            // The op has CUDA kernels too, but DJL's CUDA engine cannot be tested here, so the
            // block keeps GPU inputs on the reference kernel.
            return "the block runs the fused kernel on CPU inputs only, the inputs are on "
                    + q.getDevice();
        }
        if (!FlashSigmoid.isAvailable()) {
            return "the native library is unavailable: " + FlashSigmoid.getUnavailableReason();
        }
        DataType type = FlashSigmoid.dataType(q);
        if (type != DataType.FLOAT32 && type != DataType.FLOAT16 && type != DataType.BFLOAT16) {
            return "it computes float32, float16 and bfloat16 inputs, not " + type;
        }
        if (FlashSigmoid.isRecordingGradient(q, call.key(), call.value(), call.headBias())) {
            return "the inputs are part of the graph a GradientCollector records, and the fused op"
                    + " has no autograd in DJL";
        }
        return null;
    }

    /**
     * Returns whether a call should run on the fused kernel: never for REFERENCE, whenever it can
     * for AUTO; for FUSED always, and a call it cannot run throws rather than falling back.
     *
     * @param kernel the requested kernel
     * @param call the call
     * @return true to run the fused kernel, false to run the reference
     */
    static boolean selected(AttentionKernel kernel, AttentionCall call) {
        if (kernel == AttentionKernel.REFERENCE) {
            return false;
        }
        String unsupported = unsupported(call);
        if (unsupported != null && kernel == AttentionKernel.FUSED) {
            throw new UnsupportedOperationException(
                    "AttentionKernel.FUSED cannot run this call: " + unsupported);
        }
        return unsupported == null;
    }

    /**
     * Computes the attention core.
     *
     * @param call the inputs, (B, T, H, D) queries and (B, F, G, D) keys and values
     * @return the output, (B, T, H, D), in the data type of the query
     */
    static NDArray attend(AttentionCall call) {
        NDManager manager = call.query().getManager();
        NDArray headBias =
                call.headBias() == null ? null : call.headBias().toType(DataType.FLOAT32, false);
        NDArray slopes = null;
        if (call.alibiSlopes() != null) {
            double[] s = call.alibiSlopes();
            float[] f = new float[s.length];
            for (int i = 0; i < s.length; i++) {
                f[i] = (float) s[i];
            }
            slopes = manager.create(f);
        }
        NDArray keep = call.keep() == null ? null : call.keep().toType(DataType.BOOLEAN, false);
        // A right-padded key-padding mask becomes per-sequence key lengths: the kernel then
        // skips the padding instead of computing and discarding it.
        NDArray keyLengths = null;
        long batch = call.query().getShape().get(0);
        int[] lengths = keep == null ? null : rightPaddedLengths(keep, batch);
        if (lengths != null) {
            keyLengths = manager.create(lengths);
            keep = null;
        }
        return FlashSigmoid.forward(
                call.query(),
                call.key(),
                call.value(),
                (float) call.scale(),
                (float) call.bias(),
                call.causal(),
                headBias,
                slopes,
                keep,
                keyLengths);
    }

    /**
     * Returns the key length of every sequence when {@code keep} is a key-padding mask of the
     * right-padded form (shape (B, 1, 1, F), each row 1...1 0...0), else null.
     *
     * @param keep a boolean mask broadcastable to (B, H, T, F)
     * @param batch B; a mask of batch 1 gives its length to every sequence
     * @return the lengths (B), or null when the mask has another shape or form
     */
    static int[] rightPaddedLengths(NDArray keep, long batch) {
        Shape shape = keep.getShape();
        if (shape.dimension() != 4 || shape.get(1) != 1 || shape.get(2) != 1) {
            return null;
        }
        int maskBatch = Math.toIntExact(shape.get(0));
        int keys = Math.toIntExact(shape.get(3));
        boolean[] values = keep.toBooleanArray();
        int[] lengths = new int[maskBatch];
        for (int b = 0; b < maskBatch; b++) {
            int offset = b * keys;
            int length = 0;
            while (length < keys && values[offset + length]) {
                length++;
            }
            for (int j = length; j < keys; j++) {
                if (values[offset + j]) {
                    return null;
                }
            }
            lengths[b] = length;
        }
        if (batch > 1 && lengths.length == 1) {
            int[] broadcast = new int[Math.toIntExact(batch)];
            java.util.Arrays.fill(broadcast, lengths[0]);
            return broadcast;
        }
        return lengths;
    }
}
