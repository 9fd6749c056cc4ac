package io.github.sigmoidattention.nn.transformer;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import io.github.sigmoidattention.nn.norm.NormKind;
import io.github.sigmoidattention.nn.util.BlockFormat;
import io.github.sigmoidattention.nn.util.FormattedBlock;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.List;

/**
 * The saved format of {@link SigmoidTransformerEncoderBlock}, by version of the stream: 1 is DJL's
 * {@code TransformerEncoderBlock} (into {@link NormPlacement#DJL_POST} only), 2 this block with its
 * enums saved by ordinal, 3 (written now) the same with enums saved by name. Sizes, placement,
 * norm, feed-forward and LayerScale must match the block's own.
 */
final class EncoderFormat implements FormattedBlock.SavedFormat<SigmoidTransformerEncoderBlock> {

    static final EncoderFormat INSTANCE = new EncoderFormat();

    private static final byte VERSION = 3;
    private static final byte ORDINAL_VERSION = 2;

    /** DJL's TransformerEncoderBlock saves with AbstractBlock's default version. */
    private static final byte DJL_VERSION = 1;

    /** selfAttention, attentionNorm, outputBlock, outputNorm. */
    private static final int DJL_CHILD_COUNT = 4;

    private static final String NAME = "SigmoidTransformerEncoderBlock";

    /** The enums' declaration order when version 2 saved ordinals. */
    private static final NormPlacement[] V2_PLACEMENTS = {
        NormPlacement.PRE, NormPlacement.POST, NormPlacement.HYBRID, NormPlacement.DJL_POST
    };

    private static final NormKind[] V2_NORMS = {NormKind.LAYER_NORM, NormKind.RMS_NORM};
    private static final FeedForward[] V2_FEED_FORWARDS = {
        FeedForward.GELU, FeedForward.RELU, FeedForward.SWIGLU
    };

    private EncoderFormat() {}

    @Override
    public byte version() {
        return VERSION;
    }

    @Override
    public void writeOptions(SigmoidTransformerEncoderBlock block, DataOutputStream os)
            throws IOException {
        os.writeInt(block.getEmbeddingSize());
        os.writeInt(block.getHiddenSize());
        BlockFormat.writeEnum(os, block.getNormPlacement());
        BlockFormat.writeEnum(os, block.getNorm());
        BlockFormat.writeEnum(os, block.getFeedForwardKind());
        os.writeBoolean(block.isLayerScale());
    }

    @Override
    public void requireReadable(SigmoidTransformerEncoderBlock block, byte version)
            throws MalformedModelException {
        if (version == DJL_VERSION && block.getNormPlacement() != NormPlacement.DJL_POST) {
            throw new MalformedModelException(
                    NAME
                            + ": parameters saved by DJL's TransformerEncoderBlock load only"
                            + " with NormPlacement.DJL_POST, but this block has "
                            + block.getNormPlacement());
        }
        BlockFormat.requireVersion(NAME, version, DJL_VERSION, ORDINAL_VERSION, VERSION);
    }

    @Override
    public void readOptions(SigmoidTransformerEncoderBlock block, byte version, DataInputStream is)
            throws IOException, MalformedModelException {
        if (version == DJL_VERSION) {
            return;
        }
        BlockFormat.requireSame(NAME, "embeddingSize", block.getEmbeddingSize(), is.readInt());
        BlockFormat.requireSame(NAME, "hiddenSize", block.getHiddenSize(), is.readInt());
        NormPlacement placement;
        NormKind norm;
        FeedForward feedForward;
        if (version == ORDINAL_VERSION) {
            placement = BlockFormat.enumByOrdinal(V2_PLACEMENTS, is.readByte());
            byte savedNorm = is.readByte();
            norm = savedNorm < 0 ? null : BlockFormat.enumByOrdinal(V2_NORMS, savedNorm);
            feedForward = BlockFormat.enumByOrdinal(V2_FEED_FORWARDS, is.readByte());
        } else {
            placement = BlockFormat.readEnum(is, NormPlacement.class);
            norm = BlockFormat.readEnum(is, NormKind.class);
            feedForward = BlockFormat.readEnum(is, FeedForward.class);
        }
        BlockFormat.requireSame(NAME, "normPlacement", block.getNormPlacement(), placement);
        BlockFormat.requireSame(NAME, "norm", block.getNorm(), norm);
        BlockFormat.requireSame(NAME, "feedForward", block.getFeedForwardKind(), feedForward);
        BlockFormat.requireSame(NAME, "layerScale", block.isLayerScale(), is.readBoolean());
    }

    /** Loads the children's parameters: DJL's four, or all of this block's. */
    @Override
    public void loadChildren(
            SigmoidTransformerEncoderBlock block,
            NDManager manager,
            byte version,
            DataInputStream is)
            throws IOException, MalformedModelException {
        List<Block> children = block.getChildren().values();
        boolean djl = version == DJL_VERSION;
        BlockFormat.loadChildren(manager, is, children, djl ? DJL_CHILD_COUNT : children.size());
        if (djl) {
            DataType type =
                    block.getSelfAttention()
                            .getQueryProjection()
                            .getParameters()
                            .get("weight")
                            .getArray()
                            .getDataType();
            Shape x = new Shape(-1, -1, block.getEmbeddingSize());
            for (Block extra : children.subList(DJL_CHILD_COUNT, children.size())) {
                extra.initialize(manager, type, x);
            }
        }
    }
}
