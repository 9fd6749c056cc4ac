package io.github.sigmoidattention.nn.attention;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * The block's masks in the forms the kernels take, computed on the masks' device: no mask is copied
 * to the host.
 */
final class AttentionMasks {

    private AttentionMasks() {}

    /**
     * Turns the user's mask into a boolean array broadcastable to (B, H, T, F), or null.
     *
     * @param mask (B or 1, F) key padding, (B or 1, T, F), or DJL's additive (B or 1, 1, T, F)
     * @return (B or 1, 1, 1 or T, F)
     */
    static NDArray keep(NDArray mask, long t, long f) {
        if (mask == null) {
            return null;
        }
        long batch = mask.getShape().get(0);
        switch (mask.getShape().dimension()) {
            case 2:
                return mask.neq(0).reshape(batch, 1, 1, f);
            case 3:
                return mask.neq(0).reshape(batch, 1, t, f);
            default:
                // DJL's additive offset: 0 keeps, a large negative value masks.
                return mask.gte(0);
        }
    }

    /**
     * Returns x with the rows the key-padding mask pads set to 0.
     *
     * @param x (B, S, E)
     * @param mask (B or 1, S), 0 on padding
     * @return (B, S, E)
     */
    static NDArray zeroPaddedRows(NDArray x, NDArray mask) {
        Shape shape = mask.getShape();
        NDArray kept = mask.neq(0).reshape(shape.get(0), shape.get(1), 1).broadcast(x.getShape());
        return NDArrays.where(kept, x, x.getManager().zeros(new Shape(), x.getDataType()));
    }

    /**
     * Returns, per sequence, one past its last kept key: the keys the kernels need to visit. For a
     * right-padded mask (1...1 0...0) that is the sequence's length; the mask itself still hides
     * any key before it.
     *
     * @param mask (B or 1, F), 0 on padding
     * @param batch B
     * @return int32 (B), on the mask's device
     */
    static NDArray keyLengths(NDArray mask, long batch) {
        long f = mask.getShape().get(1);
        NDArray positions = mask.getManager().arange(1, (int) f + 1, 1, DataType.INT32);
        NDArray lengths =
                mask.neq(0).toType(DataType.INT32, false).mul(positions).max(new int[] {1});
        return lengths.getShape().get(0) == batch ? lengths : lengths.repeat(batch);
    }
}
