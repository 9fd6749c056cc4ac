package io.github.sigmoidattention.nn.util;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.AbstractBlock;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

/**
 * A block whose saved format (its metadata after the input shapes, which format versions it reads,
 * how its children load) is one {@link SavedFormat} object, kept out of the block class.
 *
 * @param <B> the block
 */
public abstract class FormattedBlock<B extends FormattedBlock<B>> extends AbstractBlock {

    private final SavedFormat<B> format;

    /**
     * Creates a block that saves in the given format.
     *
     * @param format the format, whose version the block writes
     */
    protected FormattedBlock(SavedFormat<B> format) {
        super(format.version());
        this.format = format;
    }

    @SuppressWarnings("unchecked")
    private B self() {
        return (B) this;
    }

    /** {@inheritDoc} */
    @Override
    protected final void saveMetadata(DataOutputStream os) throws IOException {
        saveInputShapes(os);
        format.writeOptions(self(), os);
    }

    /** {@inheritDoc} */
    @Override
    public final void loadMetadata(byte loadVersion, DataInputStream is)
            throws IOException, MalformedModelException {
        format.requireReadable(self(), loadVersion);
        readInputShapes(is);
        format.readOptions(self(), loadVersion, is);
    }

    /**
     * Loads parameters saved in any format version this block reads, including DJL's own block's.
     *
     * @param manager the manager of the loaded arrays
     * @param is the stream
     * @throws IOException when reading fails
     * @throws MalformedModelException when the stream does not fit this block
     */
    @Override
    public final void loadParameters(NDManager manager, DataInputStream is)
            throws IOException, MalformedModelException {
        byte loadVersion = is.readByte();
        loadMetadata(loadVersion, is);
        format.loadChildren(self(), manager, loadVersion, is);
    }

    /**
     * The saved format of one kind of block.
     *
     * @param <B> the block
     */
    public interface SavedFormat<B> {

        /**
         * Returns the format version this build writes.
         *
         * @return the version
         */
        byte version();

        /**
         * Fails for a version this build cannot read into this block.
         *
         * @param block the block
         * @param version the stream's version
         * @throws MalformedModelException when it cannot
         */
        void requireReadable(B block, byte version) throws MalformedModelException;

        /**
         * Writes the block's options after its input shapes.
         *
         * @param block the block
         * @param os the stream
         * @throws IOException when writing fails
         */
        void writeOptions(B block, DataOutputStream os) throws IOException;

        /**
         * Reads what {@link #writeOptions} wrote, in the given version, and checks it against the
         * block.
         *
         * @param block the block
         * @param version the stream's version
         * @param is the stream
         * @throws IOException when reading fails
         * @throws MalformedModelException when the stream does not fit the block
         */
        void readOptions(B block, byte version, DataInputStream is)
                throws IOException, MalformedModelException;

        /**
         * Loads the children's parameters.
         *
         * @param block the block
         * @param manager the manager of the loaded arrays
         * @param version the stream's version
         * @param is the stream
         * @throws IOException when reading fails
         * @throws MalformedModelException when the stream does not fit the block
         */
        void loadChildren(B block, NDManager manager, byte version, DataInputStream is)
                throws IOException, MalformedModelException;
    }
}
