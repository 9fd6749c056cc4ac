package io.github.sigmoidattention.ops;

import ai.djl.ndarray.NDArray;

/**
 * One call of the FlashSigmoid op: what {@link FlashSigmoid#forward(AttentionCall)} and {@link
 * FlashSigmoid#backward(NDArray, AttentionCall)} compute, {@code out[b, i, h] = Σ_j keep ·
 * sigmoid(scale · q_i·k_j + bias + headBias[h] - alibiSlopes[h] · |i + Tk - Tq - j|) · v_j}.
 *
 * <p>Make one with {@link #of} and add the optional parts with the {@code with*} methods; a null
 * optional part means none.
 *
 * @param query q, (B, Tq, H, D): float32, float16 or bfloat16, any strides
 * @param key k, (B, Tk, G, D) with H a multiple of G; query head h reads key head h / (H / G)
 * @param value v, (B, Tk, G, D)
 * @param scale the factor of q·k, usually 1/√D; finite as a float32 value (the kernels compute in
 *     float32; the reference kernel of the block keeps float64 inputs in float64)
 * @param bias added to every score, usually -ln Tk; finite as a float32 value
 * @param causal whether key j is hidden from query i when j &gt; i + Tk - Tq (bottom right)
 * @param headBias float32 (H) added to the scores of each head, or null
 * @param alibiSlopes float32 (H), or null
 * @param keep bool or uint8 of 4 dimensions, each 1 or (B, H, Tq, Tk); 0 hides a key, or null
 * @param keyLengths int32 or int64 (B), each in [0, Tk], on the CPU or the device of q: sequence b
 *     attends to keys [0, keyLengths[b]) only and the kernels skip the rest; or null
 */
public record AttentionCall(
        NDArray query,
        NDArray key,
        NDArray value,
        double scale,
        double bias,
        boolean causal,
        NDArray headBias,
        NDArray alibiSlopes,
        NDArray keep,
        NDArray keyLengths) {

    /**
     * Creates a call with no optional part.
     *
     * @param query q (B, Tq, H, D)
     * @param key k (B, Tk, G, D)
     * @param value v (B, Tk, G, D)
     * @param scale the factor of q·k
     * @param bias added to every score
     * @param causal whether to hide key j from query i when j &gt; i + Tk - Tq
     * @return the call
     */
    public static AttentionCall of(
            NDArray query, NDArray key, NDArray value, double scale, double bias, boolean causal) {
        return new AttentionCall(query, key, value, scale, bias, causal, null, null, null, null);
    }

    /**
     * Returns this call with other queries, keys and values (the same options).
     *
     * @param q queries (B, Tq, H, D)
     * @param k keys (B, Tk, G, D)
     * @param v values (B, Tk, G, D)
     * @return a new call
     */
    public AttentionCall withInputs(NDArray q, NDArray k, NDArray v) {
        return new AttentionCall(
                q, k, v, scale, bias, causal, headBias, alibiSlopes, keep, keyLengths);
    }

    /**
     * Returns this call with a per-head bias.
     *
     * @param bias float32 (H), or null
     * @return a new call
     */
    public AttentionCall withHeadBias(NDArray bias) {
        return new AttentionCall(
                query, key, value, scale, this.bias, causal, bias, alibiSlopes, keep, keyLengths);
    }

    /**
     * Returns this call with ALiBi slopes.
     *
     * @param slopes float32 (H), or null
     * @return a new call
     */
    public AttentionCall withAlibiSlopes(NDArray slopes) {
        return new AttentionCall(
                query, key, value, scale, bias, causal, headBias, slopes, keep, keyLengths);
    }

    /**
     * Returns this call with a mask.
     *
     * @param mask bool or uint8, 4-D, each dimension 1 or (B, H, Tq, Tk), or null
     * @return a new call
     */
    public AttentionCall withKeep(NDArray mask) {
        return new AttentionCall(
                query, key, value, scale, bias, causal, headBias, alibiSlopes, mask, keyLengths);
    }

    /**
     * Returns this call with per-sequence key lengths (a right-padded batch).
     *
     * @param lengths int32 or int64 (B), or null
     * @return a new call
     */
    public AttentionCall withKeyLengths(NDArray lengths) {
        return new AttentionCall(
                query, key, value, scale, bias, causal, headBias, alibiSlopes, keep, lengths);
    }
}
