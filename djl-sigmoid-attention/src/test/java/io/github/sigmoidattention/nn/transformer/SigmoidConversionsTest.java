package io.github.sigmoidattention.nn.transformer;

import static io.github.sigmoidattention.testing.EncoderCases.B;
import static io.github.sigmoidattention.testing.EncoderCases.E;
import static io.github.sigmoidattention.testing.EncoderCases.T;
import static io.github.sigmoidattention.testing.EncoderCases.apply;
import static io.github.sigmoidattention.testing.EncoderCases.child;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.transformer.BertBlock;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import ai.djl.nn.transformer.TransformerEncoderBlock;
import ai.djl.training.ParameterStore;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.util.Pair;
import io.github.sigmoidattention.nn.attention.AttentionKernel;
import io.github.sigmoidattention.nn.attention.AttentionOptions;
import io.github.sigmoidattention.nn.attention.SigmoidBias;
import io.github.sigmoidattention.nn.attention.SigmoidMultiHeadAttention;
import io.github.sigmoidattention.testing.AttentionCase;
import io.github.sigmoidattention.testing.EncoderCases;
import io.github.sigmoidattention.testing.TestArrays;
import io.github.sigmoidattention.testing.TrainingSupport;
import java.nio.file.Path;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** SigmoidConversions and SigmoidBertBlock: weights carried over, DJL's files load, training. */
class SigmoidConversionsTest {

    /** Every parameter of {@code source} is in {@code twin}, bit for bit. */
    private static void assertSameParameters(Block source, Block twin) {
        for (Pair<String, Parameter> p : source.getParameters()) {
            Parameter copy = twin.getParameters().get(p.getKey());
            assertTrue(copy != null, "missing " + p.getKey());
            assertArrayEquals(TestArrays.vector(p.getValue()), TestArrays.vector(copy), p.getKey());
        }
    }

    private static void assertSameOutputs(
            Block a, Block b, NDManager m, boolean training, NDArray x, String what) {
        assertArrayEquals(
                TestArrays.values(apply(a, m, training, x)),
                TestArrays.values(apply(b, m, training, x)),
                what + (training ? " (training)" : ""));
    }

    /** Converted attention equals the independent sigmoid reference with the DJL weights. */
    @Test
    void attentionMatchesTheSigmoidReferenceWithTheOriginalWeights() {
        AttentionOptions[] optionSets = {
            AttentionOptions.defaults(),
            AttentionOptions.builder()
                    .optBias(SigmoidBias.negLog(64))
                    .optKernel(AttentionKernel.REFERENCE)
                    .build()
        };
        for (AttentionOptions options : optionSets) {
            try (NDManager m = NDManager.newBaseManager()) {
                ScaledDotProductAttentionBlock softmax =
                        ScaledDotProductAttentionBlock.builder()
                                .setEmbeddingSize(12)
                                .setHeadCount(3)
                                .build();
                softmax.setInitializer((mm, s, t) -> mm.randomNormal(0, 0.4f, s, t), p -> true);
                softmax.initialize(m, DataType.FLOAT32, new Shape(2, 5, 12));
                SigmoidMultiHeadAttention sigmoid = SigmoidConversions.convert(softmax, m, options);
                assertEquals(3, sigmoid.getHeadCount());
                assertEquals(options.getBias(), sigmoid.getOptions().getBias());
                assertEquals(options.getKernel(), sigmoid.getOptions().getKernel());
                assertSameParameters(softmax, sigmoid);

                AttentionCase c = AttentionCase.plain(System.nanoTime(), 3, 3, 4, 2, 5);
                c.bias = options.getBias();
                c.maskKind = AttentionCase.MaskKind.DJL_OFFSET;
                c.drawInputs();
                NDArray out = c.run(sigmoid, m, DataType.FLOAT32, false);
                // Weights read from the DJL block, not from the converted one.
                double error =
                        TestArrays.relativeError(
                                TestArrays.values(out), TestArrays.flatten(c.reference(softmax)));
                assertTrue(error < 1e-5, c + " " + options + ": relative error " + error);
            }
        }
    }

    @Test
    void convertingAnUninitialisedBlockFailsClearly() {
        try (NDManager m = NDManager.newBaseManager()) {
            ScaledDotProductAttentionBlock softmax =
                    ScaledDotProductAttentionBlock.builder()
                            .setEmbeddingSize(8)
                            .setHeadCount(2)
                            .build();
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> SigmoidConversions.convert(softmax, m));
            assertTrue(e.getMessage().contains("must be initialised"), e.getMessage());
            TransformerEncoderBlock custom =
                    new TransformerEncoderBlock(
                            E, 2, 12, 0f, list -> new NDList(list.head().tanh()));
            custom.initialize(m, DataType.FLOAT32, new Shape(B, T, E));
            e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> SigmoidConversions.convert(custom, m));
            assertTrue(
                    e.getMessage().contains("neither Activation::gelu nor Activation::relu"),
                    e.getMessage());
        }
    }

    /**
     * After conversion every sub-block but the attention is bit-identical; the attention is the
     * sigmoid reference with the DJL weights; and the layer wires them as DJL's block does.
     */
    @Test
    void encoderSubBlocksAreBitIdenticalAndWiredAsInDjl() {
        Function<NDList, NDList>[] activations =
                new Function[] {
                    (Function<NDList, NDList>) Activation::gelu,
                    (Function<NDList, NDList>) Activation::relu
                };
        FeedForward[] kinds = {FeedForward.GELU, FeedForward.RELU};
        for (int a = 0; a < 2; a++) {
            try (NDManager m = NDManager.newBaseManager()) {
                TransformerEncoderBlock djl =
                        new TransformerEncoderBlock(E, 2, 12, 0.1f, activations[a]);
                EncoderCases.randomize(djl);
                djl.initialize(m, DataType.FLOAT32, new Shape(B, T, E));
                EncoderCases.warmUp(djl, m, DataType.FLOAT32, new Shape(B, T, E));
                SigmoidTransformerEncoderBlock sigmoid = SigmoidConversions.convert(djl, m);
                assertEquals(NormPlacement.DJL_POST, sigmoid.getNormPlacement());
                assertEquals(kinds[a], sigmoid.getFeedForwardKind());
                assertEquals(0.1f, sigmoid.getDropout());
                assertSameParameters(djl, sigmoid);
                assertEquals(djl.getParameters().size(), sigmoid.getParameters().size());
                djl.freezeParameters(true);
                sigmoid.freezeParameters(true);

                NDArray x = EncoderCases.input(m, DataType.FLOAT32);
                for (String name : new String[] {"attentionNorm", "outputBlock", "outputNorm"}) {
                    for (boolean training : new boolean[] {false, true}) {
                        assertSameOutputs(
                                child(djl, name),
                                child(sigmoid, name),
                                m,
                                training,
                                x,
                                kinds[a] + " " + name);
                    }
                }

                AttentionCase c = AttentionCase.plain(System.nanoTime(), 2, 2, E / 2, B, T);
                c.drawInputs();
                double error =
                        TestArrays.relativeError(
                                TestArrays.values(
                                        c.run(
                                                sigmoid.getSelfAttention(),
                                                m,
                                                DataType.FLOAT32,
                                                false)),
                                TestArrays.flatten(c.reference(child(djl, "selfAttention"))));
                assertTrue(error < 1e-5, "attention relative error " + error);

                // DJL's forward, with the DJL sub-blocks around the sigmoid attention.
                NDArray attention = apply(sigmoid.getSelfAttention(), m, false, x);
                NDArray h = apply(child(djl, "attentionNorm"), m, false, attention.add(x));
                NDArray f = apply(child(djl, "outputBlock"), m, false, h);
                NDArray expected = apply(child(djl, "outputNorm"), m, false, f.add(x));
                assertArrayEquals(
                        TestArrays.values(expected),
                        TestArrays.values(apply(sigmoid, m, false, x)));
            }
        }
    }

    private static final int VOCABULARY = 24;
    private static final int LENGTH = 6;

    private static BertBlock.Builder smallBert() {
        return BertBlock.builder()
                .setTokenDictionarySize(VOCABULARY)
                .optTypeDictionarySize(2)
                .optEmbeddingSize(16)
                .optTransformerBlockCount(2)
                .optAttentionHeadCount(2)
                .optHiddenSize(32)
                .optMaxSequenceLength(LENGTH);
    }

    /** The configuration of {@link #smallBert()}, with sigmoid attention. */
    private static SigmoidBertBlock smallSigmoidBert(int maxSequenceLength) {
        return SigmoidBertBlock.builder()
                .setTokenDictionarySize(VOCABULARY)
                .optTypeDictionarySize(2)
                .optEmbeddingSize(16)
                .optTransformerBlockCount(2)
                .optAttentionHeadCount(2)
                .optHiddenSize(32)
                .optMaxSequenceLength(maxSequenceLength)
                .build();
    }

    private static NDList bertInputs(NDManager m, int batch) {
        Shape s = new Shape(batch, LENGTH);
        NDArray tokens = m.randomInteger(0, VOCABULARY, s, DataType.INT32);
        NDArray types = m.randomInteger(0, 2, s, DataType.INT32);
        // Padding at the end of each row, at least two real tokens.
        NDArray lengths = m.randomInteger(2, LENGTH + 1, new Shape(batch, 1), DataType.INT32);
        NDArray mask =
                m.arange(LENGTH).toType(DataType.INT32, false).reshape(1, LENGTH).lt(lengths);
        return new NDList(tokens, types, mask.toType(DataType.FLOAT32, false));
    }

    /**
     * A BertBlock model saved by DJL loads into a fresh BertBlock, converts (and also loads
     * straight into a SigmoidBertBlock), runs, and trains with EasyTrain.
     */
    @Test
    void djlBertModelLoadsConvertsRunsAndTrains(@TempDir Path dir) throws Exception {
        try (NDManager m = NDManager.newBaseManager();
                Model saved = Model.newInstance("bert");
                Model reloaded = Model.newInstance("bert");
                Model direct = Model.newInstance("bert")) {
            Shape[] shapes = {new Shape(4, LENGTH), new Shape(4, LENGTH), new Shape(4, LENGTH)};
            BertBlock bert = smallBert().build();
            EncoderCases.randomize(bert);
            bert.initialize(saved.getNDManager(), DataType.FLOAT32, shapes);
            ParameterStore ps = new ParameterStore(m, false);
            for (int i = 0; i < 3; i++) {
                bert.forward(ps, bertInputs(m, 4), true); // moves the BatchNorm statistics
            }
            saved.setBlock(bert);
            saved.save(dir, "bert");

            BertBlock fresh = smallBert().build();
            reloaded.setBlock(fresh);
            reloaded.load(dir, "bert");
            SigmoidBertBlock converted = SigmoidConversions.convert(fresh, m);
            assertSameParameters(bert, converted);

            SigmoidBertBlock loaded = smallSigmoidBert(LENGTH);
            direct.setBlock(loaded);
            direct.load(dir, "bert");
            assertSameParameters(bert, loaded);
            assertEquals(bert.getParameters().size(), loaded.getParameters().size());

            bert.freezeParameters(true);
            converted.freezeParameters(true);
            NDList inputs = bertInputs(m, 3);
            for (int i = 0; i < 2; i++) {
                String name = i == 0 ? "tokenEmbedding" : "typeEmbedding";
                assertSameOutputs(
                        child(bert, name), child(converted, name), m, false, inputs.get(i), name);
            }
            NDArray embedded = m.randomNormal(new Shape(3, LENGTH, 16));
            assertSameOutputs(
                    child(bert, "embeddingNorm"),
                    child(converted, "embeddingNorm"),
                    m,
                    false,
                    embedded,
                    "embeddingNorm");
            assertSameOutputs(
                    child(bert, "poolingProjection"),
                    child(converted, "poolingProjection"),
                    m,
                    false,
                    m.randomNormal(new Shape(3, 16)),
                    "pooling");
            for (int i = 0; i < 2; i++) {
                Block djlLayer = child(bert, "transformer_" + i);
                Block sigmoidLayer = child(converted, "transformer_" + i);
                for (String name : new String[] {"attentionNorm", "outputBlock", "outputNorm"}) {
                    assertSameOutputs(
                            child(djlLayer, name),
                            child(sigmoidLayer, name),
                            m,
                            false,
                            embedded,
                            "transformer_" + i + " " + name);
                }
            }

            NDList out = converted.forward(new ParameterStore(m, false), inputs, false);
            assertEquals(new Shape(3, LENGTH, 16), out.get(0).getShape());
            assertEquals(new Shape(3, 16), out.get(1).getShape());
            NDList outLoaded = loaded.forward(new ParameterStore(m, false), inputs, false);
            assertArrayEquals(TestArrays.values(out.get(0)), TestArrays.values(outLoaded.get(0)));
            assertArrayEquals(TestArrays.values(out.get(1)), TestArrays.values(outLoaded.get(1)));

            // A few training steps: copy the input tokens through the BERT body.
            // Not the BatchNorm running statistics, which PyTorch refuses to differentiate.
            converted.freezeParameters(
                    false,
                    p ->
                            p.getType() != Parameter.Type.RUNNING_MEAN
                                    && p.getType() != Parameter.Type.RUNNING_VAR);
            SequentialBlock net =
                    new SequentialBlock()
                            .add(converted)
                            .add(new LambdaBlock(list -> new NDList(list.head())))
                            .add(Linear.builder().setUnits(VOCABULARY).build());
            double[] loss =
                    TrainingSupport.fit(net, copyTask(m, 128), copyTask(m, 32), 6, 1e-2f, shapes);
            assertTrue(
                    Double.isFinite(loss[1]) && loss[1] < 0.8 * loss[0],
                    "loss " + loss[0] + " -> " + loss[1]);
        }
    }

    private static ArrayDataset copyTask(NDManager m, int count) {
        NDList data = bertInputs(m, count);
        return new ArrayDataset.Builder()
                .setData(data.get(0), data.get(1), data.get(2))
                .optLabels(data.get(0).reshape(count, LENGTH, 1))
                .setSampling(16, true)
                .build();
    }

    @Test
    void bertStreamOfAnotherConfigurationFailsClearly() throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            BertBlock bert = smallBert().build();
            bert.initialize(
                    m,
                    DataType.FLOAT32,
                    new Shape(1, LENGTH),
                    new Shape(1, LENGTH),
                    new Shape(1, LENGTH));
            byte[] bytes = TestArrays.save(bert);
            SigmoidBertBlock longer = smallSigmoidBert(LENGTH + 1);
            ai.djl.MalformedModelException e =
                    assertThrows(
                            ai.djl.MalformedModelException.class,
                            () -> TestArrays.load(longer, m, bytes));
            assertTrue(e.getMessage().contains("positionEmbedding"), e.getMessage());
            IllegalArgumentException bad =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> SigmoidBertBlock.builder().build());
            assertTrue(
                    bad.getMessage()
                            .contains("tokenDictionarySize must be set to a positive value, got 0"),
                    bad.getMessage());
        }
    }
}
