package io.github.sigmoidattention.nn.attention;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import io.github.sigmoidattention.ops.AttentionCall;
import io.github.sigmoidattention.ops.FlashSigmoid;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;
import io.github.sigmoidattention.ops.PtArrays;
import java.util.Arrays;

/**
 * The attention core on the native FlashSigmoid op of cuda-ops, on the CPU or a CUDA device: the
 * same function as {@link ReferenceSigmoidAttention}, tiled and fused, with no (T × F) matrix. It
 * has no autograd in DJL, so the block uses it only where no gradient is needed.
 */
final class FusedSigmoidAttention {

    private FusedSigmoidAttention() {}

    /**
     * Returns why the fused kernel cannot run this call, or null if it can.
     *
     * @param call the call
     * @param computeType the type to compute in, or null for the inputs' type
     * @return the reason, or null
     */
    static String unsupported(AttentionCall call, DataType computeType) {
        NDArray q = call.query();
        if (!(q instanceof PtNDArray)) {
            return "it runs on DJL's PyTorch engine, not "
                    + q.getManager().getEngine().getEngineName();
        }
        if (!FlashSigmoidLibrary.isAvailable()) {
            return "the native library is unavailable: "
                    + FlashSigmoidLibrary.getUnavailableReason();
        }
        DataType input = PtArrays.dataType(q);
        DataType compute = computeType == null ? input : computeType;
        Device device = q.getDevice();
        if (Device.Type.GPU.equals(device.getDeviceType())) {
            int[] dims = FlashSigmoidLibrary.getCudaHeadDims();
            if (dims.length == 0) {
                return "the inputs are on "
                        + device
                        + " but the native library has no CUDA kernels (built without nvcc)";
            }
            if (compute != DataType.FLOAT16 && compute != DataType.BFLOAT16) {
                return "the CUDA kernels compute float16 and bfloat16, the inputs are "
                        + input
                        + " (optComputeType(DataType.BFLOAT16) runs them on float32 inputs)";
            }
            long headDim = q.getShape().get(3);
            if (Arrays.stream(dims).noneMatch(d -> d == headDim)) {
                return "the CUDA kernels take head dims "
                        + Arrays.toString(dims)
                        + ", not "
                        + headDim;
            }
        } else if (!Device.Type.CPU.equals(device.getDeviceType())) {
            return "it runs on CPU and CUDA devices, not " + device;
        } else if (compute != DataType.FLOAT32
                && compute != DataType.FLOAT16
                && compute != DataType.BFLOAT16) {
            return "it computes float32, float16 and bfloat16 inputs, not " + compute;
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
     * @param computeType the type to compute in, or null for the inputs' type
     * @return true to run the fused kernel, false to run the reference
     */
    static boolean selected(AttentionKernel kernel, AttentionCall call, DataType computeType) {
        if (kernel == AttentionKernel.REFERENCE) {
            return false;
        }
        String unsupported = unsupported(call, computeType);
        if (unsupported != null && kernel == AttentionKernel.FUSED) {
            throw new UnsupportedOperationException(
                    "AttentionKernel.FUSED cannot run this call: " + unsupported);
        }
        return unsupported == null;
    }

    /**
     * Computes the attention core: the op with its side arguments in the types it takes (float32
     * head bias and slopes, boolean mask), converted on their device, and q, k, v in the compute
     * type (converted by PyTorch, the output back to the query's type).
     *
     * @param call the inputs, (B, T, H, D) queries and (B, F, G, D) keys and values
     * @param computeType the type to compute in, or null for the inputs' type
     * @return the output, (B, T, H, D), in the data type of the query
     */
    static NDArray attend(AttentionCall call, DataType computeType) {
        AttentionCall typed =
                call.withHeadBias(as(call.headBias(), DataType.FLOAT32))
                        .withAlibiSlopes(as(call.alibiSlopes(), DataType.FLOAT32))
                        .withKeep(as(call.keep(), DataType.BOOLEAN));
        DataType input = PtArrays.dataType(call.query());
        if (computeType == null || computeType == input) {
            return FlashSigmoid.forward(typed);
        }
        NDArray out =
                FlashSigmoid.forward(
                        typed.withInputs(
                                PtArrays.toDataType(call.query(), computeType),
                                PtArrays.toDataType(call.key(), computeType),
                                PtArrays.toDataType(call.value(), computeType)));
        return PtArrays.toDataType(out, input);
    }

    private static NDArray as(NDArray x, DataType type) {
        return x == null ? null : x.toType(type, false);
    }
}
