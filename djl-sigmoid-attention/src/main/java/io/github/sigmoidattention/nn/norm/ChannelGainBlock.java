package io.github.sigmoidattention.nn.norm;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.Initializer;
import ai.djl.util.PairList;
import java.io.DataInputStream;
import java.io.IOException;

/**
 * A one-input block with a learned gain per channel of the last axis, {@code gamma}, whose output
 * has the input's shape: the common part of {@link RmsNorm} and {@link LayerScale}.
 */
abstract class ChannelGainBlock extends AbstractBlock {

    private static final byte VERSION = 1;

    private final Parameter gamma;

    ChannelGainBlock(Initializer initializer) {
        super(VERSION);
        Parameter.Builder p = Parameter.builder().setName("gamma").setType(Parameter.Type.GAMMA);
        if (initializer != null) {
            p.optInitializer(initializer);
        }
        gamma = addParameter(p.build());
    }

    /** Applies the block to {@code x} with the gain {@code g}. */
    abstract NDArray apply(NDArray x, NDArray g);

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        return new NDList(apply(x, parameterStore.getValue(gamma, x.getDevice(), training)));
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /** {@inheritDoc} */
    @Override
    public void prepare(Shape[] inputShapes) {
        Shape shape = inputShapes[0];
        if (shape.dimension() < 1 || shape.get(shape.dimension() - 1) < 1) {
            throw new IllegalArgumentException(
                    getClass().getSimpleName()
                            + ": the input needs a known last dimension, got shape "
                            + shape);
        }
        gamma.setShape(new Shape(shape.get(shape.dimension() - 1)));
    }

    /** {@inheritDoc} */
    @Override
    public void loadMetadata(byte loadVersion, DataInputStream is)
            throws IOException, MalformedModelException {
        if (loadVersion != version) {
            throw new MalformedModelException(
                    getClass().getSimpleName()
                            + ": unsupported parameter format version "
                            + loadVersion);
        }
        readInputShapes(is);
    }
}
