package io.github.sigmoidattention.nn;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;

import java.io.DataInputStream;
import java.io.IOException;
import java.util.List;

/** Checks shared by the blocks that read their own parameter format and one of DJL's. */
final class BlockFormat {

    private BlockFormat() {}

    /** The enum constant with the saved ordinal; ordinals are part of the saved format. */
    static <E extends Enum<E>> E enumValue(E[] values, byte ordinal) throws MalformedModelException {
        if (ordinal < 0 || ordinal >= values.length) {
            throw new MalformedModelException(
                    "Corrupt parameter file: "
                            + values.getClass().getComponentType().getSimpleName()
                            + " ordinal "
                            + ordinal);
        }
        return values[ordinal];
    }

    /** Fails when a structural option saved in the stream differs from the block's own. */
    static void requireSame(String block, String name, Object expected, Object saved)
            throws MalformedModelException {
        if (!expected.equals(saved)) {
            throw new MalformedModelException(
                    block
                            + ": parameters were saved with "
                            + name
                            + "="
                            + saved
                            + " but this block has "
                            + name
                            + "="
                            + expected);
        }
    }

    /** The exception for a format version the block cannot read. */
    static MalformedModelException unsupportedVersion(
            String block, byte loadVersion, byte djlVersion, byte ownVersion) {
        return new MalformedModelException(
                block
                        + ": unsupported parameter format version "
                        + loadVersion
                        + " (this build reads "
                        + djlVersion
                        + ", DJL's layout, and "
                        + ownVersion
                        + ")");
    }

    /** Loads the first {@code count} children, the ones a DJL stream has. */
    static void loadChildren(
            NDManager manager, DataInputStream is, List<Block> children, int count)
            throws IOException, MalformedModelException {
        for (int i = 0; i < count; i++) {
            children.get(i).loadParameters(manager, is);
        }
    }
}
