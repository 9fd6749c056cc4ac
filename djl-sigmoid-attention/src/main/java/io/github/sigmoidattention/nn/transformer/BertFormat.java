package io.github.sigmoidattention.nn.transformer;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import io.github.sigmoidattention.nn.util.BlockFormat;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

/**
 * The saved format of {@link SigmoidBertBlock}: version 1 is DJL's {@code BertBlock} (input shapes
 * only, so the loaded shapes are checked afterwards), version 2 this block with its sizes.
 */
final class BertFormat {

    static final byte VERSION = 2;

    /** The format version of DJL's BertBlock, which this block also reads. */
    private static final byte DJL_VERSION = 1;

    private static final String NAME = "SigmoidBertBlock";

    private BertFormat() {}

    /** The sizes of a {@link SigmoidBertBlock}, all of which its saved stream records. */
    record Sizes(
            int embedding,
            int tokens,
            int types,
            int maxLength,
            int layers,
            int heads,
            int hidden) {}

    static void writeSizes(Sizes sizes, DataOutputStream os) throws IOException {
        for (int value : values(sizes)) {
            os.writeInt(value);
        }
    }

    private static int[] values(Sizes s) {
        return new int[] {
            s.embedding(), s.tokens(), s.types(), s.maxLength(), s.layers(), s.heads(), s.hidden()
        };
    }

    static void requireReadable(byte version) throws MalformedModelException {
        BlockFormat.requireVersion(NAME, version, DJL_VERSION, VERSION);
    }

    /** Reads what {@link #writeSizes} wrote; nothing for DJL's stream. */
    static void readSizes(Sizes sizes, byte version, DataInputStream is)
            throws IOException, MalformedModelException {
        if (version == DJL_VERSION) {
            return;
        }
        String[] names = {
            "embeddingSize",
            "tokenDictionarySize",
            "typeDictionarySize",
            "maxSequenceLength",
            "transformerBlockCount",
            "attentionHeadCount",
            "hiddenSize"
        };
        int[] mine = values(sizes);
        for (int i = 0; i < names.length; i++) {
            requireSame(names[i], mine[i], is.readInt());
        }
    }

    /**
     * DJL's stream names no sizes: a BertBlock of another configuration would otherwise load arrays
     * of other shapes without complaint.
     */
    static void requireLoadedShapes(
            Sizes sizes,
            Parameter positions,
            Block tokenEmbedding,
            Block typeEmbedding,
            Block firstFeedForward)
            throws MalformedModelException {
        int e = sizes.embedding();
        requireShape("positionEmbedding", positions, sizes.maxLength(), e);
        requireShape("tokenEmbedding_embedding", firstParameter(tokenEmbedding), sizes.tokens(), e);
        requireShape("typeEmbedding_embedding", firstParameter(typeEmbedding), sizes.types(), e);
        requireShape(
                "transformer_0 feed-forward weight",
                firstParameter(firstFeedForward),
                sizes.hidden(),
                e);
    }

    private static Parameter firstParameter(Block block) {
        return block.getParameters().get(0).getValue();
    }

    private static void requireShape(String name, Parameter parameter, long rows, long columns)
            throws MalformedModelException {
        Shape shape = parameter.getArray().getShape();
        Shape expected = new Shape(rows, columns);
        if (!shape.equals(expected)) {
            throw new MalformedModelException(
                    NAME
                            + ": loaded "
                            + name
                            + " has shape "
                            + shape
                            + " but this block expects "
                            + expected);
        }
    }

    private static void requireSame(String name, Object expected, Object saved)
            throws MalformedModelException {
        BlockFormat.requireSame(NAME, name, expected, saved);
    }
}
