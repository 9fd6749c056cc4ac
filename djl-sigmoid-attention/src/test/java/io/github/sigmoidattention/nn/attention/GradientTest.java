package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import io.github.sigmoidattention.testing.AttentionCase;
import io.github.sigmoidattention.testing.BlockGradients;
import io.github.sigmoidattention.testing.TestArrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Gradients of the reference path through DJL's autograd against central finite differences, in
 * float64, for every parameter kind and for the inputs.
 */
class GradientTest {

    private static final double STEP = 1e-6;

    /** loss = Σ out ⊙ R for a fixed random R. */
    private static double loss(
            AttentionCase c, SigmoidMultiHeadAttention block, NDManager manager, NDArray r) {
        NDArray out = c.run(block, manager, DataType.FLOAT64, false);
        return out.mul(r).sum().getDouble();
    }

    private static void setElement(NDArray array, int index, double value) {
        TestArrays.setElement(array, index, value);
    }

    private static void checkCase(AttentionCase c, Set<String> kindsSeen) {
        try (NDManager manager = NDManager.newBaseManager()) {
            SigmoidMultiHeadAttention block = c.block(manager, DataType.FLOAT64);
            c.drawInputs();
            NDList inputs = c.inputs(manager, DataType.FLOAT64);
            NDArray r =
                    manager.randomNormal(
                            0,
                            1,
                            new ai.djl.ndarray.types.Shape(
                                    c.batch, c.queryLength, c.options.embeddingSize),
                            DataType.FLOAT64);
            NDArray query = inputs.get(c.selfAttention ? 0 : 1);
            query.setRequiresGradient(true);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray out =
                        block.forward(
                                        new ParameterStore(manager, false),
                                        inputs,
                                        true,
                                        c.forwardParams())
                                .singletonOrThrow();
                gc.backward(out.mul(r).sum());
            }
            Random pick = new Random(c.seed ^ 0x5DEECE66DL);
            for (Pair<String, Parameter> p : block.getParameters()) {
                NDArray array = p.getValue().getArray();
                double[] grad = array.getGradient().toDoubleArray();
                String name = p.getKey().replaceFirst("^\\d\\d", "");
                kindsSeen.add(
                        name.replaceFirst("^(key|query|value|result)Projection", "Projection"));
                for (int trial = 0; trial < 3; trial++) {
                    int i = pick.nextInt(grad.length);
                    double original = array.toDoubleArray()[i];
                    setElement(array, i, original + STEP);
                    double up = loss(c, block, manager, r);
                    setElement(array, i, original - STEP);
                    double down = loss(c, block, manager, r);
                    setElement(array, i, original);
                    double numeric = (up - down) / (2 * STEP);
                    double tol = 1e-6 * Math.max(1, Math.abs(numeric));
                    assertTrue(
                            Math.abs(numeric - grad[i]) < tol,
                            c
                                    + ": "
                                    + p.getKey()
                                    + "["
                                    + i
                                    + "] autograd "
                                    + grad[i]
                                    + " vs finite difference "
                                    + numeric);
                }
            }
            // The query input: perturb the double source and rebuild the inputs.
            double[] queryGrad = query.getGradient().toDoubleArray();
            for (int trial = 0; trial < 3; trial++) {
                int i = pick.nextInt(queryGrad.length);
                int e = c.options.embeddingSize;
                int t = c.queryLength;
                double[] row = c.queryIn[i / (t * e)][(i / e) % t];
                double original = row[i % e];
                row[i % e] = original + STEP;
                double up = loss(c, block, manager, r);
                row[i % e] = original - STEP;
                double down = loss(c, block, manager, r);
                row[i % e] = original;
                double numeric = (up - down) / (2 * STEP);
                if (c.selfAttention) {
                    // X feeds keys and values too; the input gradient sums all three paths.
                    kindsSeen.add("input X");
                } else {
                    kindsSeen.add("input Q");
                }
                assertTrue(
                        Math.abs(numeric - queryGrad[i]) < 1e-6 * Math.max(1, Math.abs(numeric)),
                        c + ": input[" + i + "] autograd " + queryGrad[i] + " vs " + numeric);
            }
        }
    }

    @Test
    void everyParameterKindMatchesFiniteDifferences() {
        Set<String> kinds = new HashSet<>();
        long seed = System.nanoTime();
        AttentionCase layerNorm = AttentionCase.plain(seed, 4, 2, 4, 2, 5);
        layerNorm.options.qkNorm = QkNorm.LAYER_NORM;
        layerNorm.options.layerScale = true;
        layerNorm.options.causal = true;
        layerNorm.options.alibi = true;
        layerNorm.bias = SigmoidBias.learned(-1f);
        checkCase(layerNorm, kinds);

        AttentionCase rms = AttentionCase.plain(seed + 1, 2, 1, 6, 1, 4);
        rms.options.qkNorm = QkNorm.RMS_NORM;
        rms.options.rope = true;
        rms.options.positionOffset = 3;
        rms.selfAttention = false;
        rms.keyLength = 7;
        rms.maskKind = AttentionCase.MaskKind.FULL;
        checkCase(rms, kinds);

        for (String kind :
                new String[] {
                    "Projection_weight",
                    "Projection_bias",
                    "queryNorm_gamma",
                    "queryNorm_beta",
                    "keyNorm_gamma",
                    "headBias_bias",
                    "layerScale_gamma",
                    "input X",
                    "input Q"
                }) {
            assertTrue(kinds.contains(kind), "not checked: " + kind + " in " + kinds);
        }
    }

    @Test
    void randomConfigurationsMatchFiniteDifferences() {
        long base = System.nanoTime();
        Set<String> kinds = new HashSet<>();
        for (int i = 0; i < 6; i++) {
            checkCase(AttentionCase.random(base + i), kinds);
        }
    }

    /**
     * float16 blocks compute attention and RMSNorm in float32 and convert back: the gradients flow
     * through those conversions (DJL's own toType would stop them), close to float32's.
     */
    @Test
    void float16TrainingGradientsFollowFloat32() {
        long base = System.nanoTime();
        long seed = base;
        for (int n = 0; n < 6; n++) {
            AttentionCase c = AttentionCase.random(seed++);
            // At head dim 1, RMS QK-norm maps q to ±gamma: its gradient is float16 rounding alone,
            // which says nothing about the conversions under test.
            while (c.options.embeddingSize / c.options.headCount < 2) {
                c = AttentionCase.random(seed++);
            }
            c.options.qkNorm = QkNorm.RMS_NORM;
            c.kernel = AttentionKernel.REFERENCE;
            try (NDManager m = NDManager.newBaseManager()) {
                c.drawInputs();
                List<double[]> exact = BlockGradients.of(c, m, DataType.FLOAT32);
                List<double[]> half = BlockGradients.of(c, m, DataType.FLOAT16);
                // Direction and length, not the worst element: cancellation in the input's
                // gradient turns float16 rounding into errors of 10% in single elements.
                BlockGradients.assertFollows(exact, half, 0.99, 0.05, c + " float16");
            }
        }
    }
}
