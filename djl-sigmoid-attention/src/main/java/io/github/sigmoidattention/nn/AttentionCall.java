package io.github.sigmoidattention.nn;

import ai.djl.ndarray.NDArray;

/**
 * One call of the attention core, in FlashAttention's layout.
 *
 * @param query (B, T, H, D)
 * @param key (B, F, G, D), H a multiple of G; query head h reads key head h / (H / G)
 * @param value (B, F, G, D)
 * @param scale multiplies q·k, usually 1/√D
 * @param bias added to every score
 * @param headBias added to the scores of each head, shape (H), or null
 * @param causal whether key j is masked for query i when j > i + F - T
 * @param alibiSlopes per-head ALiBi slopes, or null
 * @param keep 1 where a query may attend to a key, 0 where not, broadcastable to (B, H, T, F) with
 *     shape (B, 1, T, F), (B, 1, 1, F) or (B, H, T, F); or null
 */
record AttentionCall(
        NDArray query,
        NDArray key,
        NDArray value,
        double scale,
        double bias,
        NDArray headBias,
        boolean causal,
        double[] alibiSlopes,
        NDArray keep) {}
