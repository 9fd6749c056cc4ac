package io.github.sigmoidattention.nn.transformer;

import static io.github.sigmoidattention.testing.EncoderCases.B;
import static io.github.sigmoidattention.testing.EncoderCases.E;
import static io.github.sigmoidattention.testing.EncoderCases.T;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import io.github.sigmoidattention.nn.attention.AttentionKernel;
import io.github.sigmoidattention.nn.attention.QkNorm;
import io.github.sigmoidattention.nn.attention.SigmoidBias;
import io.github.sigmoidattention.nn.norm.NormKind;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;
import io.github.sigmoidattention.testing.EncoderCases;
import io.github.sigmoidattention.testing.TestArrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Encoder gradients through DJL's autograd against central finite differences in float64, for every
 * layout family, with AUTO and REFERENCE; and the claim that AUTO trains on the reference kernel
 * where the fused one cannot train (float64, or no autograd library), where FUSED refuses.
 */
class EncoderGradientTest {

    private static final double STEP = 1e-6;

    private static NDArray trainingForward(
            SigmoidTransformerEncoderBlock block, NDManager m, NDArray x, NDArray mask) {
        // Training mode on both sides: BatchNorm then normalises with the batch statistics, a
        // function of the input; dropout is 0.
        return block.forward(new ParameterStore(m, false), new NDList(x, mask), true)
                .singletonOrThrow();
    }

    private static double loss(
            SigmoidTransformerEncoderBlock block, NDManager m, NDArray x, NDArray mask, NDArray r) {
        return trainingForward(block, m, x, mask).mul(r).sum().getDouble();
    }

    private static void check(EncoderCases.Layout layout, AttentionKernel kernel, long seed) {
        try (NDManager m = NDManager.newBaseManager()) {
            m.getEngine().setRandomSeed((int) seed);
            SigmoidTransformerEncoderBlock block =
                    EncoderCases.initialized(
                            layout.builder()
                                    .optKernel(kernel)
                                    .optBias(SigmoidBias.learned(-1f))
                                    .optQkNorm(QkNorm.LAYER_NORM),
                            m,
                            DataType.FLOAT64);
            NDArray x = EncoderCases.input(m, DataType.FLOAT64);
            NDArray mask = EncoderCases.keyPadding(m);
            NDArray r = m.randomNormal(0, 1, new Shape(B, T, E), DataType.FLOAT64);
            x.setRequiresGradient(true);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                gc.backward(trainingForward(block, m, x, mask).mul(r).sum());
            }
            String where = layout + " " + kernel + " seed " + seed;
            Random pick = new Random(seed);
            int checked = 0;
            for (Pair<String, Parameter> p : block.getParameters()) {
                if (!p.getValue().requiresGradient()) {
                    continue; // BatchNorm running statistics
                }
                NDArray array = p.getValue().getArray();
                double[] grad = array.getGradient().toDoubleArray();
                for (int trial = 0; trial < 2; trial++) {
                    int i = pick.nextInt(grad.length);
                    double numeric = difference(array, i, () -> loss(block, m, x, mask, r));
                    assertClose(numeric, grad[i], where + ": " + p.getKey() + "[" + i + "]");
                    checked++;
                }
            }
            double[] inputGrad = x.getGradient().toDoubleArray();
            for (int trial = 0; trial < 4; trial++) {
                int i = pick.nextInt(inputGrad.length);
                double numeric = difference(x, i, () -> loss(block, m, x, mask, r));
                assertClose(numeric, inputGrad[i], where + ": X[" + i + "]");
            }
            assertTrue(checked >= 20, where + ": only " + checked + " parameter entries checked");
        }
    }

    private static double difference(
            NDArray array, int i, java.util.function.DoubleSupplier lossAtCurrentValues) {
        double original = array.toDoubleArray()[i];
        TestArrays.setElement(array, i, original + STEP);
        double up = lossAtCurrentValues.getAsDouble();
        TestArrays.setElement(array, i, original - STEP);
        double down = lossAtCurrentValues.getAsDouble();
        TestArrays.setElement(array, i, original);
        return (up - down) / (2 * STEP);
    }

    private static void assertClose(double numeric, double autograd, String what) {
        assertTrue(
                Math.abs(numeric - autograd) < 1e-6 * Math.max(1, Math.abs(numeric)),
                what + ": autograd " + autograd + " vs finite difference " + numeric);
    }

    @Test
    void everyPlacementMatchesFiniteDifferencesInEveryKernelMode() {
        long seed = System.nanoTime() & 0x7fffffff;
        EncoderCases.Layout[] layouts = {
            new EncoderCases.Layout(NormPlacement.PRE, NormKind.LAYER_NORM, FeedForward.GELU, true),
            new EncoderCases.Layout(
                    NormPlacement.HYBRID, NormKind.RMS_NORM, FeedForward.SWIGLU, true),
            new EncoderCases.Layout(
                    NormPlacement.POST, NormKind.LAYER_NORM, FeedForward.RELU, false),
            new EncoderCases.Layout(NormPlacement.DJL_POST, null, FeedForward.GELU, true),
        };
        // float64 has no fused kernel: FUSED refuses it in training (checked below).
        AttentionKernel[] kernels = {AttentionKernel.AUTO, AttentionKernel.REFERENCE};
        for (int i = 0; i < layouts.length; i++) {
            check(layouts[i], kernels[i % kernels.length], seed + i);
        }
        // The DJL layout in every kernel mode.
        for (AttentionKernel kernel : kernels) {
            check(layouts[3], kernel, seed + 10 + kernel.ordinal());
        }
    }

    /**
     * Without the autograd library, AUTO trains through the reference kernel: identical outputs and
     * identical gradients for every parameter; FUSED refuses to train, naming the library.
     */
    @Test
    void withoutTheAutogradLibraryAutoTrainsOnTheReferenceKernel() throws Exception {
        assumeFalse(FlashSigmoidLibrary.isAutogradAvailable(), "the autograd library is loaded");
        EncoderCases.Layout layout =
                new EncoderCases.Layout(
                        NormPlacement.PRE, NormKind.LAYER_NORM, FeedForward.GELU, true);
        try (NDManager m = NDManager.newBaseManager()) {
            SigmoidTransformerEncoderBlock reference =
                    EncoderCases.initialized(
                            layout.builder().optKernel(AttentionKernel.REFERENCE),
                            m,
                            DataType.FLOAT32);
            byte[] bytes = TestArrays.save(reference);
            NDArray x = EncoderCases.input(m, DataType.FLOAT32);
            NDArray mask = EncoderCases.keyPadding(m);
            double[][] expected = null;
            SigmoidTransformerEncoderBlock fused =
                    layout.builder().optKernel(AttentionKernel.FUSED).build();
            TestArrays.load(fused, m, bytes);
            UnsupportedOperationException refusal =
                    assertThrows(
                            UnsupportedOperationException.class,
                            () -> trainingForward(fused, m, x, mask));
            assertTrue(refusal.getMessage().contains("autograd library"), refusal.getMessage());
            for (AttentionKernel kernel :
                    new AttentionKernel[] {AttentionKernel.REFERENCE, AttentionKernel.AUTO}) {
                SigmoidTransformerEncoderBlock block =
                        kernel == AttentionKernel.REFERENCE
                                ? reference
                                : layout.builder().optKernel(kernel).build();
                if (block != reference) {
                    TestArrays.load(block, m, bytes);
                    block.freezeParameters(false);
                }
                NDArray out;
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    out = trainingForward(block, m, x, mask);
                    gc.backward(out.sum());
                }
                double[][] got = new double[block.getParameters().size() + 1][];
                got[0] = TestArrays.values(out);
                int n = 1;
                for (Pair<String, Parameter> p : block.getParameters()) {
                    got[n++] = TestArrays.values(p.getValue().getArray().getGradient());
                }
                if (expected == null) {
                    expected = got;
                } else {
                    for (int i = 0; i < got.length; i++) {
                        assertArrayEquals(expected[i], got[i], kernel + ": entry " + i);
                    }
                }
            }
        }
    }
}
