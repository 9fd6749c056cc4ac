package io.github.sigmoidattention.testing;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import io.github.sigmoidattention.nn.attention.AttentionKernel;
import io.github.sigmoidattention.nn.norm.NormKind;
import io.github.sigmoidattention.nn.transformer.FeedForward;
import io.github.sigmoidattention.nn.transformer.NormPlacement;
import io.github.sigmoidattention.nn.transformer.SigmoidTransformerEncoderBlock;
import java.util.ArrayList;
import java.util.List;

/** Encoder layouts, random parameters and inputs for the encoder and conversion tests. */
public final class EncoderCases {

    public static final int E = 8;
    public static final int H = 2;
    public static final int HIDDEN = 12;
    public static final int B = 2;
    public static final int T = 5;

    private EncoderCases() {}

    /** One combination of the encoder's layout options. */
    public static final class Layout {
        public final NormPlacement placement;
        public final NormKind norm;
        public final FeedForward feedForward;
        public final boolean layerScale;

        public Layout(
                NormPlacement placement,
                NormKind norm,
                FeedForward feedForward,
                boolean layerScale) {
            this.placement = placement;
            this.norm = norm;
            this.feedForward = feedForward;
            this.layerScale = layerScale;
        }

        public SigmoidTransformerEncoderBlock.Builder builder() {
            SigmoidTransformerEncoderBlock.Builder b =
                    SigmoidTransformerEncoderBlock.builder()
                            .setEmbeddingSize(E)
                            .setHeadCount(H)
                            .setHiddenSize(HIDDEN)
                            .optNormPlacement(placement)
                            .optFeedForward(feedForward)
                            .optKernel(AttentionKernel.REFERENCE);
            if (norm != null) {
                b.optNorm(norm);
            }
            if (layerScale) {
                b.optLayerScale(0.5f);
            }
            return b;
        }

        @Override
        public String toString() {
            return placement + "/" + norm + "/" + feedForward + (layerScale ? "/layerScale" : "");
        }
    }

    /** Every placement, norm, feed-forward and LayerScale combination the builder accepts. */
    public static List<Layout> allLayouts() {
        List<Layout> layouts = new ArrayList<>();
        for (NormPlacement placement : NormPlacement.values()) {
            for (boolean layerScale : new boolean[] {false, true}) {
                for (FeedForward ff : FeedForward.values()) {
                    if (placement == NormPlacement.DJL_POST) {
                        if (ff != FeedForward.SWIGLU) {
                            layouts.add(new Layout(placement, null, ff, layerScale));
                        }
                        continue;
                    }
                    for (NormKind norm : NormKind.values()) {
                        layouts.add(new Layout(placement, norm, ff, layerScale));
                    }
                }
            }
        }
        return layouts;
    }

    /** Draws every learned parameter from N(0, 0.4²); running statistics keep their init. */
    public static void randomize(Block block) {
        block.setInitializer(
                (m, shape, type) -> m.randomNormal(0, 0.4f, shape, type),
                p ->
                        p.getType() != Parameter.Type.RUNNING_MEAN
                                && p.getType() != Parameter.Type.RUNNING_VAR);
    }

    public static SigmoidTransformerEncoderBlock initialized(
            SigmoidTransformerEncoderBlock.Builder builder, NDManager manager, DataType type) {
        SigmoidTransformerEncoderBlock block = builder.build();
        randomize(block);
        block.initialize(manager, type, new Shape(B, T, E));
        return block;
    }

    /** A few training passes, so that BatchNorm running statistics are no longer 0 and 1. */
    public static void warmUp(Block block, NDManager manager, DataType type, Shape... shapes) {
        ParameterStore ps = new ParameterStore(manager, false);
        for (int i = 0; i < 3; i++) {
            NDList inputs = new NDList();
            for (Shape s : shapes) {
                inputs.add(manager.randomNormal(0, 1, s, type));
            }
            block.forward(ps, inputs, true);
        }
    }

    public static NDArray input(NDManager manager, DataType type) {
        return manager.randomNormal(0, 1, new Shape(B, T, E), type);
    }

    /** A (B, T) key-padding mask that keeps at least the first key of every row. */
    public static NDArray keyPadding(NDManager manager) {
        NDArray keep = manager.randomUniform(0, 1, new Shape(B, T)).gt(0.3);
        return keep.logicalOr(manager.arange(T).eq(0).reshape(1, T))
                .toType(DataType.FLOAT32, false);
    }

    /** The child called {@code name}, without DJL's order prefix, or null. */
    public static Block child(Block parent, String name) {
        for (ai.djl.util.Pair<String, Block> c : parent.getChildren()) {
            if (c.getKey().replaceFirst("^\\d+", "").equals(name)) {
                return c.getValue();
            }
        }
        return null;
    }

    public static List<String> childNames(Block parent) {
        List<String> names = new ArrayList<>();
        for (String key : parent.getChildren().keys()) {
            names.add(key.replaceFirst("^\\d+", ""));
        }
        return names;
    }

    public static NDArray apply(
            Block block, NDManager manager, boolean training, NDArray... inputs) {
        return block.forward(new ParameterStore(manager, false), new NDList(inputs), training)
                .singletonOrThrow();
    }
}
