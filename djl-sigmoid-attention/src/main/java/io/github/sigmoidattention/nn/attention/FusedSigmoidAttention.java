package io.github.sigmoidattention.nn.attention;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import io.github.sigmoidattention.ops.AttentionCall;
import io.github.sigmoidattention.ops.FlashSigmoid;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;
import io.github.sigmoidattention.ops.PtArrays;

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
            return "it runs on DJL's PyTorch engine, not "
                    + q.getManager().getEngine().getEngineName();
        }
        if (!Device.Type.CPU.equals(q.getDevice().getDeviceType())) {
            // The op has CUDA kernels too, but DJL's CUDA engine cannot be tested here, so the
            // block keeps GPU inputs on the reference kernel.
            return "the block runs the fused kernel on CPU inputs only, the inputs are on "
                    + q.getDevice();
        }
        if (!FlashSigmoidLibrary.isAvailable()) {
            return "the native library is unavailable: "
                    + FlashSigmoidLibrary.getUnavailableReason();
        }
        DataType type = PtArrays.dataType(q);
        if (type != DataType.FLOAT32 && type != DataType.FLOAT16 && type != DataType.BFLOAT16) {
            return "it computes float32, float16 and bfloat16 inputs, not " + type;
        }
        if (PtArrays.isRecordingGradient(q, call.key(), call.value(), call.headBias())) {
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
     * Computes the attention core: the op with its side arguments in the types it takes (float32
     * head bias and slopes, boolean mask), converted on their device.
     *
     * @param call the inputs, (B, T, H, D) queries and (B, F, G, D) keys and values
     * @return the output, (B, T, H, D), in the data type of the query
     */
    static NDArray attend(AttentionCall call) {
        return FlashSigmoid.forward(
                call.withHeadBias(as(call.headBias(), DataType.FLOAT32))
                        .withAlibiSlopes(as(call.alibiSlopes(), DataType.FLOAT32))
                        .withKeep(as(call.keep(), DataType.BOOLEAN)));
    }

    private static NDArray as(NDArray x, DataType type) {
        return x == null ? null : x.toType(type, false);
    }
}
