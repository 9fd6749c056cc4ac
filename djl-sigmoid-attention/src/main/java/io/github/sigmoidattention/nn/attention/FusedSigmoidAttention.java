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
import java.util.function.Function;

/**
 * The attention core on the native FlashSigmoid op of cuda-ops, on the CPU or a CUDA device: the
 * same function as {@link ReferenceSigmoidAttention}, tiled and fused, with no (T × F) matrix. In
 * training it runs through the differentiable op of the autograd library when that is loaded.
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
        String kernelProblem = unsupportedByKernels(call, computeType);
        if (kernelProblem != null) {
            return kernelProblem;
        }
        if (PtArrays.isRecordingGradient(call.query(), call.key(), call.value(), call.headBias())) {
            return "the inputs are part of the graph a GradientCollector records (inference with"
                    + " training = false), and the block records the fused op only in training";
        }
        return null;
    }

    /**
     * Returns why the fused kernels cannot train this call, or null if they can: through the
     * differentiable op of the autograd library, without attention dropout.
     *
     * @param call the call
     * @param computeType the type to compute in, or null for the inputs' type
     * @param dropout the attention dropout rate
     * @return the reason, or null
     */
    static String unsupportedInTraining(AttentionCall call, DataType computeType, float dropout) {
        String kernelProblem = unsupportedByKernels(call, computeType);
        if (kernelProblem != null) {
            return kernelProblem;
        }
        if (!FlashSigmoidLibrary.isAutogradAvailable()) {
            return "the fused backward needs the autograd library: "
                    + FlashSigmoidLibrary.getAutogradUnavailableReason();
        }
        if (dropout > 0) {
            return "attention dropout ("
                    + dropout
                    + ") acts on the weights, which the fused kernels never hold";
        }
        return null;
    }

    private static String unsupportedByKernels(AttentionCall call, DataType computeType) {
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
        return run(call, computeType, FlashSigmoid::forward);
    }

    /**
     * Computes the attention core as {@link #attend} does, through the differentiable op: autograd
     * records it (and the casts to the compute type), and its backward runs the fused backward
     * kernels. The key lengths are dropped: the mask in {@code keep} hides the same keys.
     *
     * @param call the inputs
     * @param computeType the type to compute in, or null for the inputs' type
     * @return the output, (B, T, H, D), in the data type of the query
     */
    static NDArray attendDifferentiable(AttentionCall call, DataType computeType) {
        return run(call.withKeyLengths(null), computeType, FlashSigmoid::attention);
    }

    private static NDArray run(
            AttentionCall call, DataType computeType, Function<AttentionCall, NDArray> op) {
        AttentionCall typed =
                call.withHeadBias(as(call.headBias(), DataType.FLOAT32))
                        .withAlibiSlopes(as(call.alibiSlopes(), DataType.FLOAT32))
                        .withKeep(as(call.keep(), DataType.BOOLEAN));
        DataType input = PtArrays.dataType(call.query());
        if (computeType == null || computeType == input) {
            return op.apply(typed);
        }
        NDArray out =
                op.apply(
                        typed.withInputs(
                                cast(call.query(), computeType),
                                cast(call.key(), computeType),
                                cast(call.value(), computeType)));
        return cast(out, input);
    }

    /** PyTorch's conversion: autograd records it, and it takes bfloat16, which DJL aborts on. */
    private static NDArray cast(NDArray x, DataType type) {
        return PtArrays.dataType(x) == type ? x : PtArrays.toDataType(x, type);
    }

    private static NDArray as(NDArray x, DataType type) {
        if (x == null || x.getDataType() == type) {
            return x;
        }
        // The boolean mask carries no gradient: DJL's conversion; the rest: recorded.
        return type == DataType.BOOLEAN ? x.toType(type, false) : cast(x, type);
    }
}
