package io.github.sigmoidattention.nn.attention;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.norm.Dropout;
import ai.djl.training.ParameterStore;
import io.github.sigmoidattention.ops.AttentionCall;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The attention core of one {@link SigmoidMultiHeadAttention}: from projected heads to the attended
 * heads. It makes the op's {@link AttentionCall} (scale, bias, per-head bias, ALiBi, masks, key
 * lengths) and runs it on the kernel the options and the call allow.
 */
final class AttentionCore {

    private static final Logger logger = LoggerFactory.getLogger(SigmoidMultiHeadAttention.class);

    /** Each training path and its reason is logged once per process, not once per layer. */
    private static final Set<String> TRAINING_PATHS_LOGGED = ConcurrentHashMap.newKeySet();

    private final AttentionOptions options;
    private final int headDim;
    private final double[] alibiSlopes;
    private final HeadBias headBias;
    private final Dropout weightDropout;

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
            return training
                    ? FusedSigmoidAttention.attendDifferentiable(call, options.getComputeType())
                    : FusedSigmoidAttention.attend(call, options.getComputeType());
        }
        return ReferenceSigmoidAttention.attend(
                call, w -> dropWeights(parameterStore, w, training));
    }

    /**
     * AUTO runs the fused kernels whenever they can run the call: in inference the op, in training
     * the differentiable op of the autograd library (whose backward is the fused one); otherwise
     * the reference kernel. FUSED refuses a call they cannot run rather than silently running
     * something else. Which training path a process takes, and why, is logged once.
     */
    private boolean useFusedKernel(AttentionCall call, boolean training) {
        AttentionKernel kernel = options.getKernel();
        DataType computeType = options.getComputeType();
        if (!training) {
            return FusedSigmoidAttention.selected(kernel, call, computeType);
        }
        if (kernel == AttentionKernel.REFERENCE) {
            return false;
        }
        String unsupported =
                FusedSigmoidAttention.unsupportedInTraining(
                        call, computeType, options.getAttentionDropout());
        if (unsupported != null && kernel == AttentionKernel.FUSED) {
            throw new UnsupportedOperationException(
                    "AttentionKernel.FUSED cannot train this call: " + unsupported);
        }
        String path =
                unsupported == null
                        ? "training runs the fused kernels through "
                                + FlashSigmoidLibrary.getAutogradLibraryPath()
                        : "training runs the reference kernel: " + unsupported;
        if (TRAINING_PATHS_LOGGED.add(path)) {
            logger.info("{} on {}", path, call.query().getDevice());
        }
        return unsupported == null;
    }

    private NDArray dropWeights(ParameterStore parameterStore, NDArray weights, boolean training) {
        if (!training || options.getAttentionDropout() == 0f) {
            return weights;
        }
        return weightDropout.forward(parameterStore, new NDList(weights), true).singletonOrThrow();
    }
}
