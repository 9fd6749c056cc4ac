package io.github.sigmoidattention.nn.util;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.List;

/**
 * The pieces of the saved-parameter format that the blocks of this module share: enums by name
 * (older streams by ordinal), structural options that must match, version errors, and streams
 * written by DJL's own blocks.
 */
public final class BlockFormat {

    private BlockFormat() {}

    /**
     * Writes an enum constant by name, so that reordering an enum never changes saved files.
     *
     * @param os the stream
     * @param value the constant, or null
     * @throws IOException when writing fails
     */
    public static void writeEnum(DataOutputStream os, Enum<?> value) throws IOException {
        os.writeUTF(value == null ? "" : value.name());
    }

    /**
     * Reads an enum constant written by {@link #writeEnum}.
     *
     * @param is the stream
     * @param type the enum class
     * @param <E> the enum
     * @return the constant, or null for an empty name
     * @throws IOException when reading fails
     * @throws MalformedModelException for a name the enum does not have
     */
    public static <E extends Enum<E>> E readEnum(DataInputStream is, Class<E> type)
            throws IOException, MalformedModelException {
        String name = is.readUTF();
        if (name.isEmpty()) {
            return null;
        }
        try {
            return Enum.valueOf(type, name);
        } catch (IllegalArgumentException e) {
            throw new MalformedModelException(
                    "Corrupt parameter file: no " + type.getSimpleName() + " named " + name, e);
        }
    }

    /**
     * Reads an enum constant saved by ordinal, as format versions before names did.
     *
     * @param values the enum's constants in declaration order at that time
     * @param ordinal the saved ordinal
     * @param <E> the enum
     * @return the constant
     * @throws MalformedModelException for an ordinal out of range
     */
    public static <E extends Enum<E>> E enumByOrdinal(E[] values, byte ordinal)
            throws MalformedModelException {
        if (ordinal < 0 || ordinal >= values.length) {
            throw new MalformedModelException(
                    "Corrupt parameter file: "
                            + values.getClass().getComponentType().getSimpleName()
                            + " ordinal "
                            + ordinal);
        }
        return values[ordinal];
    }

    /**
     * Fails when a structural option saved in the stream differs from the block's own.
     *
     * @param block the block's name, for the message
     * @param name the option
     * @param expected the block's value
     * @param saved the stream's value
     * @throws MalformedModelException when they differ
     */
    public static void requireSame(String block, String name, Object expected, Object saved)
            throws MalformedModelException {
        if (!String.valueOf(expected).equals(String.valueOf(saved))) {
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

    /**
     * Fails for a format version the block cannot read.
     *
     * @param block the block's name
     * @param loadVersion the version in the stream
     * @param versions the versions this build reads, the first one DJL's layout
     * @throws MalformedModelException for any other version
     */
    public static void requireVersion(String block, byte loadVersion, byte... versions)
            throws MalformedModelException {
        for (byte v : versions) {
            if (v == loadVersion) {
                return;
            }
        }
        throw unsupportedVersion(block, loadVersion, versions);
    }

    /**
     * The exception for a format version the block cannot read.
     *
     * @param block the block's name
     * @param loadVersion the version in the stream
     * @param versions the versions this build reads, the first one DJL's layout
     * @return the exception
     */
    public static MalformedModelException unsupportedVersion(
            String block, byte loadVersion, byte... versions) {
        StringBuilder readable = new StringBuilder();
        for (byte v : versions) {
            readable.append(readable.length() == 0 ? "" : ", ").append(v);
        }
        return new MalformedModelException(
                block
                        + ": unsupported parameter format version "
                        + loadVersion
                        + " (this build reads "
                        + readable
                        + "; "
                        + versions[0]
                        + " is DJL's layout)");
    }

    /**
     * Loads the first {@code count} children, the ones a DJL stream has.
     *
     * @param manager the manager of the loaded arrays
     * @param is the stream
     * @param children the block's children in order
     * @param count how many the stream holds
     * @throws IOException when reading fails
     * @throws MalformedModelException when a child does not fit
     */
    public static void loadChildren(
            NDManager manager, DataInputStream is, List<Block> children, int count)
            throws IOException, MalformedModelException {
        for (int i = 0; i < count; i++) {
            children.get(i).loadParameters(manager, is);
        }
    }
}
