package io.github.sigmoidattention.nn.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.ParameterList;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.transformer.BertBlock;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import ai.djl.nn.transformer.TransformerEncoderBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import io.github.sigmoidattention.nn.attention.AttentionOptions;
import io.github.sigmoidattention.nn.attention.SigmoidMultiHeadAttention;
import io.github.sigmoidattention.nn.util.Arguments;
import java.lang.reflect.Field;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns initialised DJL softmax-attention blocks into their sigmoid-attention twins: the same
 * structure and hyperparameters, every parameter array copied (projections, embeddings, norms with
 * their running statistics, feed-forward), DJL's mask conventions kept. Only the attention changes,
 * from {@code softmax} to {@code sigmoid(· + b)} as {@link AttentionOptions} says.
 *
 * <p>Parameters that the twin has and DJL's block has not (QK-norm gains) keep their initial
 * values. A source parameter without a counterpart of the same shape in the twin is an error.
 *
 * <p>The twin's parameters are created in the given manager, in the source's data type; the source
 * is left as it was. Keep that manager open while the twin is used: closing it frees the twin's
 * parameters (its forward then throws, naming the closed parameter).
 */
public final class SigmoidConversions {

    private SigmoidConversions() {}

    /**
     * Converts a DJL attention block, with default sigmoid options.
     *
     * @param source an initialised block
     * @param manager the manager of the new parameters
     * @return the sigmoid block, initialised with the source's weights
     */
    public static SigmoidMultiHeadAttention convert(
            ScaledDotProductAttentionBlock source, NDManager manager) {
        return convert(source, manager, AttentionOptions.defaults());
    }

    /**
     * Converts a DJL attention block.
     *
     * @param source an initialised block
     * @param manager the manager of the new parameters
     * @param options the sigmoid choices
     * @return the sigmoid block, initialised with the source's weights
     */
    public static SigmoidMultiHeadAttention convert(
            ScaledDotProductAttentionBlock source, NDManager manager, AttentionOptions options) {
        requireInitialized(source);
        requireConvertible(options);
        SigmoidMultiHeadAttention twin =
                SigmoidMultiHeadAttention.builder()
                        .optAttentionOptions(options)
                        .setEmbeddingSize(projectionWidth(source))
                        .setHeadCount(headCount(source))
                        .optAttentionProbsDropoutProb(
                                dropoutRate(child(source, "probabilityDropout")))
                        .build();
        return copyInto(source, twin, manager);
    }

    /**
     * Converts a DJL encoder block, with default sigmoid options.
     *
     * @param source an initialised block
     * @param manager the manager of the new parameters
     * @return the sigmoid encoder in the {@link NormPlacement#DJL_POST} layout
     */
    public static SigmoidTransformerEncoderBlock convert(
            TransformerEncoderBlock source, NDManager manager) {
        return convert(source, manager, AttentionOptions.defaults());
    }

    /**
     * Converts a DJL encoder block whose feed-forward activation is {@link Activation#gelu} or
     * {@link Activation#relu}.
     *
     * @param source an initialised block
     * @param manager the manager of the new parameters
     * @param options the sigmoid choices
     * @return the sigmoid encoder in the {@link NormPlacement#DJL_POST} layout
     */
    public static SigmoidTransformerEncoderBlock convert(
            TransformerEncoderBlock source, NDManager manager, AttentionOptions options) {
        requireInitialized(source);
        SigmoidTransformerEncoderBlock twin = encoderTwin(source, manager, options).build();
        return copyInto(source, twin, manager);
    }

    /**
     * Converts a DJL BERT block, with default sigmoid options.
     *
     * @param source an initialised block
     * @param manager the manager of the new parameters
     * @return the sigmoid BERT block
     */
    public static SigmoidBertBlock convert(BertBlock source, NDManager manager) {
        return convert(source, manager, AttentionOptions.defaults());
    }

    /**
     * Converts a DJL BERT block.
     *
     * @param source an initialised block
     * @param manager the manager of the new parameters
     * @param options the sigmoid choices, for every layer
     * @return the sigmoid BERT block
     */
    public static SigmoidBertBlock convert(
            BertBlock source, NDManager manager, AttentionOptions options) {
        requireInitialized(source);
        requireConvertible(options);
        int layers = 0;
        for (Pair<String, Block> c : source.getChildren()) {
            if (localName(c.getKey()).startsWith("transformer_")) {
                // BertBlock builds every layer alike, with GELU; check that nothing else slipped
                // in.
                String name = localName(c.getKey());
                if (activation(child(c.getValue(), "outputBlock"), name, manager)
                        != FeedForward.GELU) {
                    throw new IllegalArgumentException(
                            "source: " + name + " has a feed-forward activation other than GELU");
                }
                layers++;
            }
        }
        if (layers == 0) {
            throw new IllegalArgumentException("source: the BertBlock has no transformer layers");
        }
        Block first = child(source, "transformer_0");
        ScaledDotProductAttentionBlock attention =
                (ScaledDotProductAttentionBlock) child(first, "selfAttention");
        Shape positions = source.getParameters().get("positionEmbedding").getArray().getShape();
        SigmoidBertBlock twin =
                SigmoidBertBlock.builder()
                        .setTokenDictionarySize(source.getTokenDictionarySize())
                        .optTypeDictionarySize(source.getTypeDictionarySize())
                        .optEmbeddingSize(source.getEmbeddingSize())
                        .optTransformerBlockCount(layers)
                        .optAttentionHeadCount(headCount(attention))
                        .optHiddenSize(hiddenSize(child(first, "outputBlock")))
                        .optHiddenDropoutProbability(dropoutRate(child(source, "embeddingDropout")))
                        .optMaxSequenceLength((int) positions.get(0))
                        .optAttentionOptions(options)
                        .build();
        return copyInto(source, twin, manager);
    }

    /** DJL's blocks have a key/value head per query head: a twin with fewer has no weights. */
    private static void requireConvertible(AttentionOptions options) {
        Arguments.requireNonNull("options", options);
        if (options.getKvHeadCount() != 0) {
            throw new IllegalArgumentException(
                    "options: kvHeadCount is "
                            + options.getKvHeadCount()
                            + ", but DJL's blocks have as many key/value heads as query heads;"
                            + " leave it unset to convert");
        }
    }

    private static SigmoidTransformerEncoderBlock.Builder encoderTwin(
            TransformerEncoderBlock source, NDManager manager, AttentionOptions options) {
        ScaledDotProductAttentionBlock attention =
                (ScaledDotProductAttentionBlock) child(source, "selfAttention");
        Block feedForward = child(source, "outputBlock");
        // DJL's TransformerEncoderBlock gives its one dropout rate to the attention weights and
        // to both branches.
        float dropout = dropoutRate(child(attention, "probabilityDropout"));
        requireConvertible(options);
        return SigmoidTransformerEncoderBlock.builder()
                .optAttentionOptions(options)
                .setEmbeddingSize(projectionWidth(attention))
                .setHeadCount(headCount(attention))
                .setHiddenSize(hiddenSize(feedForward))
                .optNormPlacement(NormPlacement.DJL_POST)
                .optFeedForward(activation(feedForward, "outputBlock", manager))
                .optDropout(dropout)
                .optAttentionDropout(dropout);
    }

    /** Initialises the twin like the source and copies every source parameter into it. */
    private static <T extends Block> T copyInto(Block source, T twin, NDManager manager) {
        ParameterList sourceParameters = source.getParameters();
        twin.initialize(manager, dataType(sourceParameters), source.getInputShapes());
        Map<String, Parameter> targets = new HashMap<>();
        for (Pair<String, Parameter> p : twin.getParameters()) {
            targets.put(p.getKey(), p.getValue());
        }
        for (Pair<String, Parameter> p : sourceParameters) {
            Parameter target = targets.get(p.getKey());
            if (target == null) {
                throw new IllegalStateException(
                        "parameter "
                                + p.getKey()
                                + " of the DJL block has no counterpart in the sigmoid block, whose"
                                + " parameters are "
                                + targets.keySet());
            }
            NDArray from = p.getValue().getArray();
            NDArray to = target.getArray();
            if (!from.getShape().equals(to.getShape())) {
                throw new IllegalStateException(
                        "parameter "
                                + p.getKey()
                                + ": shape "
                                + from.getShape()
                                + " in the DJL block but "
                                + to.getShape()
                                + " in the sigmoid block");
            }
            if (from.getDataType() == to.getDataType()) {
                from.copyTo(to);
            } else {
                try (NDArray converted = from.toType(to.getDataType(), true)) {
                    converted.copyTo(to);
                }
            }
        }
        return twin;
    }

    /**
     * The source's data type. DJL's ScaledDotProductAttentionBlock creates its projections in
     * float32 whatever type it is asked for, so a float32 minority does not decide.
     */
    private static DataType dataType(ParameterList parameters) {
        Set<DataType> types = EnumSet.noneOf(DataType.class);
        for (Pair<String, Parameter> p : parameters) {
            types.add(p.getValue().getArray().getDataType());
        }
        if (types.size() > 1) {
            types.remove(DataType.FLOAT32);
        }
        if (types.size() != 1) {
            throw new IllegalArgumentException(
                    "source: parameters of several data types "
                            + types
                            + "; convert a model of one");
        }
        return types.iterator().next();
    }

    private static void requireInitialized(Block source) {
        if (!source.isInitialized()) {
            throw new IllegalArgumentException(
                    "source: the "
                            + source.getClass().getSimpleName()
                            + " must be initialised (or loaded): its parameters are what is"
                            + " converted");
        }
    }

    /** The child called {@code name}, without DJL's order prefix. */
    private static Block child(Block parent, String name) {
        for (Pair<String, Block> c : parent.getChildren()) {
            if (localName(c.getKey()).equals(name)) {
                return c.getValue();
            }
        }
        throw new IllegalArgumentException(
                "source: "
                        + parent.getClass().getSimpleName()
                        + " has no child "
                        + name
                        + ", its children are "
                        + parent.getChildren().keys());
    }

    private static String localName(String childKey) {
        return childKey.replaceFirst("^\\d+", "");
    }

    private static int projectionWidth(ScaledDotProductAttentionBlock attention) {
        return (int) weightRows(attention.getQueryProjection());
    }

    /** The hidden width of a PointwiseFeedForwardBlock: the rows of its first Linear. */
    private static int hiddenSize(Block feedForward) {
        return (int) weightRows(feedForward.getChildren().get(0).getValue());
    }

    private static long weightRows(Block linear) {
        return linear.getParameters().get("weight").getArray().getShape().get(0);
    }

    /** Which activation DJL's PointwiseFeedForwardBlock applies: its lambda, probed. */
    private static FeedForward activation(Block feedForward, String name, NDManager manager) {
        List<Block> layers = feedForward.getChildren().values();
        if (layers.size() != 3 || !(layers.get(1) instanceof LambdaBlock)) {
            throw new IllegalArgumentException(
                    "source: "
                            + name
                            + " has a feed-forward block of "
                            + layers.size()
                            + " layers; expected DJL's Linear, activation, Linear");
        }
        try (NDManager probeManager = manager.newSubManager()) {
            NDArray probe = probeManager.linspace(-4f, 4f, 33);
            NDArray out =
                    layers.get(1)
                            .forward(
                                    new ParameterStore(probeManager, false),
                                    new NDList(probe),
                                    false)
                            .singletonOrThrow();
            if (out.contentEquals(Activation.gelu(probe))) {
                return FeedForward.GELU;
            }
            if (out.contentEquals(Activation.relu(probe))) {
                return FeedForward.RELU;
            }
        }
        throw new IllegalArgumentException(
                "source: the feed-forward activation of "
                        + name
                        + " is neither Activation::gelu nor Activation::relu, the ones"
                        + " SigmoidTransformerEncoderBlock offers");
    }

    private static int headCount(ScaledDotProductAttentionBlock attention) {
        return (Integer) privateField(attention, ScaledDotProductAttentionBlock.class, "headCount");
    }

    private static float dropoutRate(Block dropout) {
        return (Float) privateField(dropout, Dropout.class, "rate");
    }

    /** DJL has no getters for the head count and dropout rates, which the twin must repeat. */
    private static Object privateField(Object owner, Class<?> type, String field) {
        try {
            Field f = type.getDeclaredField(field);
            f.setAccessible(true);
            return f.get(owner);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException(
                    "cannot read "
                            + type.getSimpleName()
                            + "."
                            + field
                            + " (DJL has no getter for it) in this DJL version; the converter was"
                            + " written for DJL 0.36",
                    e);
        }
    }
}
