package io.github.sigmoidattention.nn.attention;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import io.github.sigmoidattention.nn.util.BlockFormat;
import io.github.sigmoidattention.nn.util.FormattedBlock;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The saved format of {@link SigmoidMultiHeadAttention}, by version of the stream:
 *
 * <ul>
 *   <li>1: DJL's {@code ScaledDotProductAttentionBlock} (its four projections and dropout);
 *   <li>2: this block with its enums saved by ordinal;
 *   <li>3 (written now): the same with enums saved by name.
 * </ul>
 *
 * <p>Sizes and the options that decide which parameters exist (G, QK-norm, LayerScale, a learned
 * bias) must match the block's own; the others (bias value, causal, ALiBi, RoPE) may differ, and
 * the block keeps its own with a warning.
 */
final class AttentionFormat implements FormattedBlock.SavedFormat<SigmoidMultiHeadAttention> {

    static final AttentionFormat INSTANCE = new AttentionFormat();

    private static final byte VERSION = 3;

    private static final byte ORDINAL_VERSION = 2;
    private static final byte DJL_SOFTMAX_VERSION = 1;

    /** DJL's block has four projections and a dropout. */
    private static final int DJL_CHILD_COUNT = 5;

    private static final String NAME = "SigmoidMultiHeadAttention";

    /** The enums' declaration order when version 2 saved ordinals. */
    private static final QkNorm[] V2_QK_NORMS = {QkNorm.NONE, QkNorm.LAYER_NORM, QkNorm.RMS_NORM};

    private static final SigmoidBias.Kind[] V2_BIAS_KINDS = {
        SigmoidBias.Kind.CONSTANT,
        SigmoidBias.Kind.NEG_LOG,
        SigmoidBias.Kind.NEG_LOG_LENGTH,
        SigmoidBias.Kind.LEARNED
    };

    private static final Logger logger = LoggerFactory.getLogger(SigmoidMultiHeadAttention.class);

    private AttentionFormat() {}

    @Override
    public byte version() {
        return VERSION;
    }

    @Override
    public void writeOptions(SigmoidMultiHeadAttention block, DataOutputStream os)
            throws IOException {
        AttentionOptions o = block.getOptions();
        os.writeInt(block.getEmbeddingSize());
        os.writeInt(block.getHeadCount());
        os.writeInt(block.getKvHeadCount());
        BlockFormat.writeEnum(os, o.getQkNorm());
        os.writeBoolean(block.isLayerScale());
        BlockFormat.writeEnum(os, o.getBias().getKind());
        os.writeFloat(o.getBias().getValue());
        os.writeInt(o.getBias().getLength());
        os.writeBoolean(o.isCausal());
        os.writeBoolean(o.isAlibi());
        os.writeBoolean(o.isRope());
        os.writeFloat(o.getRopeBase());
    }

    @Override
    public void requireReadable(SigmoidMultiHeadAttention block, byte version)
            throws MalformedModelException {
        if (version == DJL_SOFTMAX_VERSION && block.getKvHeadCount() != block.getHeadCount()) {
            throw new MalformedModelException(
                    "Parameters of DJL's ScaledDotProductAttentionBlock have as many key/value"
                            + " heads as query heads, but this block has kvHeadCount="
                            + block.getKvHeadCount()
                            + " and headCount="
                            + block.getHeadCount());
        }
        BlockFormat.requireVersion(NAME, version, DJL_SOFTMAX_VERSION, ORDINAL_VERSION, VERSION);
    }

    /** Reads what {@link #writeOptions} wrote (after the input shapes); nothing for DJL's. */
    @Override
    public void readOptions(SigmoidMultiHeadAttention block, byte version, DataInputStream is)
            throws IOException, MalformedModelException {
        if (version == DJL_SOFTMAX_VERSION) {
            return;
        }
        AttentionOptions o = block.getOptions();
        requireSame("embeddingSize", block.getEmbeddingSize(), is.readInt());
        requireSame("headCount", block.getHeadCount(), is.readInt());
        requireSame("kvHeadCount", block.getKvHeadCount(), is.readInt());
        requireSame("qkNorm", o.getQkNorm(), readEnum(is, version, QkNorm.class, V2_QK_NORMS));
        requireSame("layerScale", block.isLayerScale(), is.readBoolean());
        SigmoidBias.Kind kind = readEnum(is, version, SigmoidBias.Kind.class, V2_BIAS_KINDS);
        float biasValue = is.readFloat();
        int biasLength = is.readInt();
        SigmoidBias bias = o.getBias();
        requireSame("learned bias", bias.isLearned(), kind == SigmoidBias.Kind.LEARNED);
        List<String> differences = new ArrayList<>();
        if (!bias.isLearned()) {
            noteDifference(differences, "bias", bias, SigmoidBias.of(kind, biasValue, biasLength));
        }
        noteDifference(differences, "causal", o.isCausal(), is.readBoolean());
        noteDifference(differences, "alibi", o.isAlibi(), is.readBoolean());
        noteDifference(differences, "rope", o.isRope(), is.readBoolean());
        noteDifference(differences, "ropeBase", o.getRopeBase(), is.readFloat());
        if (!differences.isEmpty()) {
            logger.warn(
                    "Loaded parameters were saved with other attention options; this block keeps"
                            + " its own: {}",
                    differences);
        }
    }

    /** Loads the children's parameters: DJL's five, or all of this block's. */
    @Override
    public void loadChildren(
            SigmoidMultiHeadAttention block, NDManager manager, byte version, DataInputStream is)
            throws IOException, MalformedModelException {
        List<Block> children = block.getChildren().values();
        boolean djl = version == DJL_SOFTMAX_VERSION;
        BlockFormat.loadChildren(manager, is, children, djl ? DJL_CHILD_COUNT : children.size());
        if (djl) {
            DataType type = block.getParameterDataType();
            block.initializeExtras(manager, type);
        }
    }

    private static <E extends Enum<E>> E readEnum(
            DataInputStream is, byte version, Class<E> type, E[] ordinalOrder)
            throws IOException, MalformedModelException {
        return version == ORDINAL_VERSION
                ? BlockFormat.enumByOrdinal(ordinalOrder, is.readByte())
                : BlockFormat.readEnum(is, type);
    }

    private static void requireSame(String name, Object expected, Object saved)
            throws MalformedModelException {
        BlockFormat.requireSame(NAME, name, expected, saved);
    }

    private static void noteDifference(
            List<String> differences, String name, Object mine, Object saved) {
        if (!mine.equals(saved)) {
            differences.add(name + ": saved " + saved + ", here " + mine);
        }
    }
}
