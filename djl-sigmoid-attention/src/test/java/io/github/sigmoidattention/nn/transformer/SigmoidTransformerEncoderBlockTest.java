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

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.nn.transformer.PointwiseFeedForwardBlock;
import ai.djl.nn.transformer.TransformerEncoderBlock;
import io.github.sigmoidattention.nn.attention.QkNorm;
import io.github.sigmoidattention.nn.attention.SigmoidBias;
import io.github.sigmoidattention.nn.norm.NormKind;
import io.github.sigmoidattention.nn.norm.RmsNorm;
import io.github.sigmoidattention.testing.EncoderCases;
import io.github.sigmoidattention.testing.TestArrays;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** SigmoidTransformerEncoderBlock: layouts, forward formulas, serialization, bad input. */
class SigmoidTransformerEncoderBlockTest {

    /** The children each layout must have, in order, from the placement's definition. */
    private static List<String> expectedChildren(EncoderCases.Layout l) {
        if (l.placement == NormPlacement.DJL_POST) {
            List<String> djl =
                    new ArrayList<>(
                            Arrays.asList(
                                    "selfAttention", "attentionNorm", "outputBlock", "outputNorm"));
            if (l.layerScale) {
                djl.addAll(Arrays.asList("attentionLayerScale", "feedForwardLayerScale"));
            }
            return djl;
        }
        List<String> names = new ArrayList<>();
        for (String[] branch :
                new String[][] {{"attention", "selfAttention"}, {"feedForward", "feedForward"}}) {
            if (l.placement != NormPlacement.POST) {
                names.add(branch[0] + "InputNorm");
            }
            names.add(branch[1]);
            if (l.placement == NormPlacement.HYBRID) {
                names.add(branch[0] + "OutputNorm");
            }
            if (l.layerScale) {
                names.add(branch[0] + "LayerScale");
            }
            if (l.placement == NormPlacement.POST) {
                names.add(branch[0] + "ResidualNorm");
            }
        }
        return names;
    }

    private static NDArray opt(Block block, NDManager m, NDArray x) {
        return block == null ? x : apply(block, m, false, x);
    }

    /**
     * The layer's output written out from the placements' formulas, calling the children one by one
     * (inference: dropout is the identity).
     */
    private static NDArray byFormula(
            SigmoidTransformerEncoderBlock block, NDManager m, NDArray x, NDArray mask) {
        boolean djl = block.getNormPlacement() == NormPlacement.DJL_POST;
        NDArray in = opt(child(block, "attentionInputNorm"), m, x);
        NDArray a =
                mask == null
                        ? apply(block.getSelfAttention(), m, false, in)
                        : apply(block.getSelfAttention(), m, false, in, mask);
        a = opt(child(block, "attentionOutputNorm"), m, a);
        a = opt(child(block, "attentionLayerScale"), m, a);
        NDArray h = a.add(x);
        h = opt(child(block, djl ? "attentionNorm" : "attentionResidualNorm"), m, h);
        NDArray f = opt(child(block, "feedForwardInputNorm"), m, h);
        f = apply(block.getFeedForward(), m, false, f);
        f = opt(child(block, "feedForwardOutputNorm"), m, f);
        f = opt(child(block, "feedForwardLayerScale"), m, f);
        // DJL_POST: DJL's second residual is the block input x.
        NDArray out = f.add(djl ? x : h);
        return opt(child(block, djl ? "outputNorm" : "feedForwardResidualNorm"), m, out);
    }

    @Test
    void everyLayoutHasItsChildrenAndComputesItsFormula() {
        for (EncoderCases.Layout layout : EncoderCases.allLayouts()) {
            try (NDManager m = NDManager.newBaseManager()) {
                SigmoidTransformerEncoderBlock block =
                        EncoderCases.initialized(layout.builder(), m, DataType.FLOAT32);
                assertEquals(
                        expectedChildren(layout),
                        EncoderCases.childNames(block),
                        layout.toString());
                if (layout.placement == NormPlacement.DJL_POST) {
                    assertTrue(child(block, "outputNorm") instanceof BatchNorm, layout.toString());
                    assertTrue(block.getFeedForward() instanceof PointwiseFeedForwardBlock);
                } else {
                    Block first =
                            child(
                                    block,
                                    layout.placement == NormPlacement.POST
                                            ? "attentionResidualNorm"
                                            : "attentionInputNorm");
                    Class<?> expected =
                            layout.norm == NormKind.LAYER_NORM ? LayerNorm.class : RmsNorm.class;
                    assertEquals(expected, first.getClass(), layout.toString());
                    assertEquals(
                            layout.feedForward == FeedForward.SWIGLU
                                    ? SwiGluFeedForward.class
                                    : PointwiseFeedForwardBlock.class,
                            block.getFeedForward().getClass());
                }
                EncoderCases.warmUp(block, m, DataType.FLOAT32, new Shape(B, T, E));
                block.freezeParameters(true);
                NDArray x = EncoderCases.input(m, DataType.FLOAT32);
                NDArray mask = EncoderCases.keyPadding(m);
                for (NDArray maybeMask : new NDArray[] {null, mask}) {
                    NDArray out =
                            maybeMask == null
                                    ? apply(block, m, false, x)
                                    : apply(block, m, false, x, maybeMask);
                    assertEquals(new Shape(B, T, E), out.getShape(), layout.toString());
                    assertArrayEquals(
                            TestArrays.values(byFormula(block, m, x, maybeMask)),
                            TestArrays.values(out),
                            layout + (maybeMask == null ? "" : " with mask"));
                    NDArray trained =
                            maybeMask == null
                                    ? apply(block, m, true, x)
                                    : apply(block, m, true, x, maybeMask);
                    assertEquals(new Shape(B, T, E), trained.getShape());
                    assertTrue(
                            trained.isInfinite().logicalOr(trained.isNaN()).none().getBoolean(),
                            layout.toString());
                }
                assertArrayEquals(
                        new Shape[] {new Shape(B, T, E)},
                        block.getOutputShapes(new Shape[] {new Shape(B, T, E), new Shape(B, T)}));
            }
        }
    }

    /** The GELU and RELU feed-forwards apply the activation they are named after. */
    @Test
    void feedForwardKindsUseTheirActivation() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = EncoderCases.input(m, DataType.FLOAT32);
            for (FeedForward ff : new FeedForward[] {FeedForward.GELU, FeedForward.RELU}) {
                SigmoidTransformerEncoderBlock block =
                        EncoderCases.initialized(
                                new EncoderCases.Layout(
                                                NormPlacement.PRE, NormKind.RMS_NORM, ff, false)
                                        .builder(),
                                m,
                                DataType.FLOAT32);
                Block activation = block.getFeedForward().getChildren().get(1).getValue();
                NDArray expected = ff == FeedForward.GELU ? Activation.gelu(x) : Activation.relu(x);
                assertArrayEquals(
                        TestArrays.values(expected),
                        TestArrays.values(apply(activation, m, false, x)),
                        ff.toString());
            }
            SwiGluFeedForward swiglu =
                    SwiGluFeedForward.builder().setHiddenSize(6).setOutputSize(E).build();
            EncoderCases.randomize(swiglu);
            swiglu.initialize(m, DataType.FLOAT32, new Shape(B, T, E));
            NDArray gate = apply(child(swiglu, "gate"), m, false, x);
            NDArray up = apply(child(swiglu, "up"), m, false, x);
            NDArray hidden = gate.mul(gate.neg().exp().add(1).pow(-1)).mul(up);
            NDArray expected = apply(child(swiglu, "down"), m, false, hidden);
            double error =
                    TestArrays.relativeError(
                            TestArrays.values(apply(swiglu, m, false, x)),
                            TestArrays.values(expected));
            assertTrue(error < 1e-6, "SwiGLU relative error " + error);
        }
    }

    @Test
    void saveAndLoadRoundTripsEveryLayout() throws Exception {
        for (EncoderCases.Layout layout : EncoderCases.allLayouts()) {
            try (NDManager m = NDManager.newBaseManager()) {
                SigmoidTransformerEncoderBlock original =
                        EncoderCases.initialized(
                                layout.builder()
                                        .optBias(SigmoidBias.learned(-1.5f))
                                        .optQkNorm(QkNorm.RMS_NORM),
                                m,
                                DataType.FLOAT32);
                EncoderCases.warmUp(original, m, DataType.FLOAT32, new Shape(B, T, E));
                original.freezeParameters(true);
                NDArray x = EncoderCases.input(m, DataType.FLOAT32);
                byte[] bytes = TestArrays.save(original);
                SigmoidTransformerEncoderBlock loaded =
                        layout.builder()
                                .optBias(SigmoidBias.learned(-1.5f))
                                .optQkNorm(QkNorm.RMS_NORM)
                                .build();
                TestArrays.load(loaded, m, bytes);
                assertArrayEquals(
                        TestArrays.values(apply(original, m, false, x)),
                        TestArrays.values(apply(loaded, m, false, x)),
                        layout.toString());
                assertArrayEquals(
                        bytes,
                        TestArrays.save(loaded),
                        layout + ": saving again changes the bytes");
            }
        }
    }

    @Test
    void loadingIntoAnotherLayoutFailsClearly() throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            EncoderCases.Layout rms =
                    new EncoderCases.Layout(
                            NormPlacement.PRE, NormKind.RMS_NORM, FeedForward.GELU, false);
            byte[] bytes =
                    TestArrays.save(EncoderCases.initialized(rms.builder(), m, DataType.FLOAT32));
            MalformedModelException e =
                    assertThrows(
                            MalformedModelException.class,
                            () ->
                                    TestArrays.load(
                                            rms.builder().optNorm(NormKind.LAYER_NORM).build(),
                                            m,
                                            bytes));
            assertTrue(e.getMessage().contains("norm=RMS_NORM"), e.getMessage());
            e =
                    assertThrows(
                            MalformedModelException.class,
                            () ->
                                    TestArrays.load(
                                            rms.builder()
                                                    .optNormPlacement(NormPlacement.HYBRID)
                                                    .build(),
                                            m,
                                            bytes));
            assertTrue(e.getMessage().contains("normPlacement=PRE"), e.getMessage());
            bytes[0] = 7;
            e =
                    assertThrows(
                            MalformedModelException.class,
                            () -> TestArrays.load(rms.builder().build(), m, bytes));
            assertTrue(e.getMessage().contains("version 7"), e.getMessage());
        }
    }

    /** A parameter stream saved by DJL's TransformerEncoderBlock loads into the DJL_POST layout. */
    @Test
    void djlEncoderParametersLoadIntoTheDjlLayout() throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            TransformerEncoderBlock djl =
                    new TransformerEncoderBlock(E, 2, 12, 0.1f, Activation::gelu);
            EncoderCases.randomize(djl);
            djl.initialize(m, DataType.FLOAT32, new Shape(B, T, E));
            EncoderCases.warmUp(djl, m, DataType.FLOAT32, new Shape(B, T, E));
            byte[] bytes = TestArrays.save(djl);

            SigmoidTransformerEncoderBlock sigmoid =
                    SigmoidTransformerEncoderBlock.builder()
                            .setEmbeddingSize(E)
                            .setHeadCount(2)
                            .setHiddenSize(12)
                            .optNormPlacement(NormPlacement.DJL_POST)
                            .optLayerScale(1f)
                            .build();
            TestArrays.load(sigmoid, m, bytes);
            int compared = 0;
            for (ai.djl.util.Pair<String, ai.djl.nn.Parameter> p : djl.getParameters()) {
                assertArrayEquals(
                        TestArrays.vector(p.getValue()),
                        TestArrays.vector(sigmoid.getParameters().get(p.getKey())),
                        p.getKey());
                compared++;
            }
            assertEquals(djl.getParameters().size() + 2, sigmoid.getParameters().size());
            assertTrue(compared >= 16, "compared " + compared);
            NDArray out = apply(sigmoid, m, false, EncoderCases.input(m, DataType.FLOAT32));
            assertEquals(new Shape(B, T, E), out.getShape());

            SigmoidTransformerEncoderBlock pre =
                    SigmoidTransformerEncoderBlock.builder()
                            .setEmbeddingSize(E)
                            .setHeadCount(2)
                            .setHiddenSize(12)
                            .build();
            MalformedModelException e =
                    assertThrows(
                            MalformedModelException.class, () -> TestArrays.load(pre, m, bytes));
            assertTrue(e.getMessage().contains("DJL_POST"), e.getMessage());
        }
    }

    private static void assertRejected(String fragment, Supplier<?> build) {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, build::get, fragment);
        assertTrue(
                e.getMessage().contains(fragment),
                "message '" + e.getMessage() + "' lacks '" + fragment + "'");
    }

    private static SigmoidTransformerEncoderBlock.Builder valid() {
        return SigmoidTransformerEncoderBlock.builder()
                .setEmbeddingSize(E)
                .setHeadCount(2)
                .setHiddenSize(12);
    }

    @Test
    void badBuilderInputNamesTheArgumentAndValue() {
        assertRejected(
                "embeddingSize must be set to a positive value, got 0",
                () -> valid().setEmbeddingSize(0).build());
        assertRejected(
                "headCount must be set to a positive value, got -2",
                () -> valid().setHeadCount(-2).build());
        assertRejected(
                "hiddenSize must be set to a positive value, got 0",
                () -> valid().setHiddenSize(0).build());
        assertRejected(
                "embeddingSize (8) must be divisible by headCount (3)",
                () -> valid().setHeadCount(3).build());
        assertRejected("kvHeadCount (3)", () -> valid().setHeadCount(4).optKvHeadCount(3).build());
        assertRejected(
                "dropout must be in [0, 1], got 1.5", () -> valid().optDropout(1.5f).build());
        assertRejected(
                "attentionDropout must be in [0, 1], got -0.1",
                () -> valid().optAttentionDropout(-0.1f).build());
        assertRejected(
                "layerScale initial value must be finite, got NaN",
                () -> valid().optLayerScale(Float.NaN).build());
        assertRejected("normPlacement must not be null", () -> valid().optNormPlacement(null));
        assertRejected("feedForward must not be null", () -> valid().optFeedForward(null));
        assertRejected("norm must not be null", () -> valid().optNorm(null));
        assertRejected(
                "norm: NormPlacement.DJL_POST uses DJL's BatchNorm over axis 2, so it takes no norm, got RMS_NORM",
                () ->
                        valid().optNormPlacement(NormPlacement.DJL_POST)
                                .optNorm(NormKind.RMS_NORM)
                                .build());
        assertRejected(
                "feedForward: NormPlacement.DJL_POST uses DJL's PointwiseFeedForwardBlock (GELU or RELU), got SWIGLU",
                () ->
                        valid().optNormPlacement(NormPlacement.DJL_POST)
                                .optFeedForward(FeedForward.SWIGLU)
                                .build());
        assertRejected(
                "RoPE needs an even head dimension",
                () -> valid().setEmbeddingSize(6).optRope(true).build());
        assertRejected(
                "hiddenSize must be set to a positive value, got 0",
                () -> SwiGluFeedForward.builder().setOutputSize(4).build());
    }

    @Test
    void badForwardInputNamesTheArgument() {
        try (NDManager m = NDManager.newBaseManager()) {
            SigmoidTransformerEncoderBlock block =
                    EncoderCases.initialized(valid(), m, DataType.FLOAT32);
            NDArray x = EncoderCases.input(m, DataType.FLOAT32);
            assertRejected(
                    "inputs: expected [X] or [X, mask], got 3 arrays",
                    () -> apply(block, m, false, x, x, x));
            assertRejected(
                    "X: expected shape (B, T, 8), got (2, 5, 4)",
                    () -> apply(block, m, false, m.randomNormal(new Shape(B, T, 4))));
            assertRejected(
                    "mask: expected shape",
                    () -> apply(block, m, false, x, m.ones(new Shape(B, 3))));
            assertRejected(
                    "dataType: bfloat16 is not usable",
                    () -> {
                        valid().build().initialize(m, DataType.BFLOAT16, new Shape(B, T, E));
                        return null;
                    });
            assertRejected(
                    "inputShapes[0]: expected shape (B, T, 8), got (2, 8)",
                    () -> {
                        valid().build().initialize(m, DataType.FLOAT32, new Shape(B, E));
                        return null;
                    });
        }
    }
}
