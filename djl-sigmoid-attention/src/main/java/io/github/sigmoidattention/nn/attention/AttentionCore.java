package io.github.sigmoidattention.nn.attention;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.norm.Dropout;
import ai.djl.training.ParameterStore;
import io.github.sigmoidattention.ops.AttentionCall;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The attention core of one {@link SigmoidMultiHeadAttention}: from projected heads to the attended
 * heads. It makes the op's {@link AttentionCall} (scale, bias, per-head bias, ALiBi, masks, key
 * lengths) and runs it on the kernel the options and the call allow.
 */
final class AttentionCore {

    private static final Logger logger = LoggerFactory.getLogger(SigmoidMultiHeadAttention.class);

    /** GPU training on the reference kernel is said once per process, not once per layer. */
    private static final AtomicBoolean GPU_TRAINING_NOTICE = new AtomicBoolean();

    private final AttentionOptions options;
    private final int headDim;
    private final double[] alibiSlopes;
    private final HeadBias headBias;
    private final Dropout weightDropout;
    private boolean trainingNoticeLogged;

    AttentionCore(
            AttentionOptions options,
            int headCount,
            int headDim,
            HeadBias headBias,
            Dropout weightDropout) {
        this.options = options;
        this.headDim = headDim;
        this.alibiSlopes = options.isAlibi() ? Positions.alibiSlopes(headCount) : null;
        this.headBias = headBias;
        this.weightDropout = weightDropout;
    }

    /**
     * Attends.
     *
     * @param q (B, T, H, D)
     * @param k (B, F, G, D)
     * @param v (B, F, G, D)
     * @param keep broadcastable to (B, H, T, F), 0 where a key is hidden; or null
     * @param keyLengths int32 (B): keys past them are hidden too (and skipped); or null
     * @return (B, T, H, D)
     */
    NDArray attend(
            ParameterStore parameterStore,
            NDArray q,
            NDArray k,
            NDArray v,
            NDArray keep,
            NDArray keyLengths,
            boolean training) {
        long keyCount = k.getShape().get(1);
        NDArray perHeadBias =
                headBias == null
                        ? null
                        : headBias.forward(parameterStore, new NDList(q), training).head();
        double scalarBias = headBias == null ? options.getBias().valueFor(keyCount) : 0;
        NDArray slopes = alibiSlopes == null ? null : q.getManager().create(alibiSlopes);
        AttentionCall call =
                AttentionCall.of(q, k, v, 1.0 / Math.sqrt(headDim), scalarBias, options.isCausal())
                        .withHeadBias(perHeadBias)
                        .withAlibiSlopes(slopes)
                        .withKeep(keep)
                        .withKeyLengths(keyLengths);
        if (useFusedKernel(call, training)) {
            return FusedSigmoidAttention.attend(call, options.getComputeType());
        }
        return ReferenceSigmoidAttention.attend(
                call, w -> dropWeights(parameterStore, w, training));
    }

    /**
     * AUTO and FUSED run the fused kernel in inference. Training runs the reference kernel, because
     * DJL offers no way to attach the native backward to its autograd; FUSED refuses a call it
     * cannot run rather than silently running something else.
     */
    private boolean useFusedKernel(AttentionCall call, boolean training) {
        AttentionKernel kernel = options.getKernel();
        if (!training) {
            return FusedSigmoidAttention.selected(kernel, call, options.getComputeType());
        }
        boolean gpu = Device.Type.GPU.equals(call.query().getDevice().getDeviceType());
        boolean noticed =
                kernel == AttentionKernel.FUSED || (gpu && kernel == AttentionKernel.AUTO);
        if (noticed && (gpu ? !GPU_TRAINING_NOTICE.getAndSet(true) : !trainingNoticeLogged)) {
            trainingNoticeLogged = true;
            logger.info(
                    "{}: training runs the reference kernel (on {}), whose gradients DJL's autograd"
                            + " computes; inference runs the fused kernel",
                    kernel,
                    call.query().getDevice());
        }
        return false;
    }

    private NDArray dropWeights(ParameterStore parameterStore, NDArray weights, boolean training) {
        if (!training || options.getAttentionDropout() == 0f) {
            return weights;
        }
        return weightDropout.forward(parameterStore, new NDList(weights), true).singletonOrThrow();
    }
}
