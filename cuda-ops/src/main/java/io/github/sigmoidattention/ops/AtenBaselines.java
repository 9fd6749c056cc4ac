package io.github.sigmoidattention.ops;

import ai.djl.ndarray.NDArray;

/**
 * PyTorch's own fused attention for softmax, which DJL 0.36 does not expose: the baseline the
 * project's CPU benchmarks measure the sigmoid kernels against. Not part of the op.
 */
public final class AtenBaselines {

    private AtenBaselines() {}

    /**
     * Runs {@code aten::_scaled_dot_product_flash_attention_for_cpu}.
     *
     * @param q queries (B, H, T, D)
     * @param k keys (B, H, F, D)
     * @param v values (B, H, F, D)
     * @param causal whether to mask future keys
     * @return softmax(q kᵀ / √D) v, (B, H, T, D), owned by the manager of q
     */
    public static NDArray softmaxFlashAttentionCpu(
            NDArray q, NDArray k, NDArray v, boolean causal) {
        FlashSigmoidLibrary.requireAvailable();
        return PtArrays.wrap(
                q,
                FlashSigmoidNative.softmaxFlashAttentionCpu(
                        PtArrays.handle(q, "q"),
                        PtArrays.handle(k, "k"),
                        PtArrays.handle(v, "v"),
                        causal));
    }
}
