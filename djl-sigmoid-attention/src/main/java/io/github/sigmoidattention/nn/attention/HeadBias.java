package io.github.sigmoidattention.nn.attention;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.ConstantInitializer;
import ai.djl.util.PairList;
import java.io.DataInputStream;
import java.io.IOException;

/**
 * Holds the learned per-head bias of {@link SigmoidBias#learned(float)}: a child block, so that the
 * parameters of DJL's attention layout come first in the parameter list and in saved files. Its
 * forward ignores the inputs and returns the bias, shape (H).
 */
final class HeadBias extends AbstractBlock {

    private static final byte VERSION = 1;

    private final int headCount;
    private final Parameter bias;

    HeadBias(int headCount, float init) {
        super(VERSION);
        this.headCount = headCount;
        bias =
                addParameter(
                        Parameter.builder()
                                .setName("bias")
                                .setType(Parameter.Type.BIAS)
                                .optInitializer(new ConstantInitializer(init))
                                .optShape(new Shape(headCount))
                                .build());
    }

    Shape getShape() {
        return new Shape(headCount);
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        return new NDList(parameterStore.getValue(bias, inputs.head().getDevice(), training));
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {getShape()};
    }

    /** {@inheritDoc} */
    @Override
    public void loadMetadata(byte loadVersion, DataInputStream is)
            throws IOException, MalformedModelException {
        if (loadVersion != version) {
            throw new MalformedModelException(
                    "HeadBias: unsupported parameter format version " + loadVersion);
        }
        readInputShapes(is);
    }
}
