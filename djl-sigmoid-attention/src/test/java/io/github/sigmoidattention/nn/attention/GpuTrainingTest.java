package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.dataset.Batch;
import ai.djl.training.listener.TrainingListenerAdapter;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;
import io.github.sigmoidattention.testing.AttentionCase;
import io.github.sigmoidattention.testing.BlockGradients;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Training the block through the fused kernels (the differentiable op of libflash_sigmoid_autograd)
 * on the GPU machine: gradients of the input and of every parameter against the reference kernel's,
 * on CUDA (float32 parameters, the core in float16) and on CPU tensors (float32 against the float64
 * reference, whose gradients GradientTest checks against finite differences); and EasyTrain steps
 * that give the reference kernel's losses. Tagged {@code gpu}; skipped without a GPU and the
 * autograd library.
 */
@Tag("gpu")
class GpuTrainingTest {

    private static final int[] HEAD_DIMS = {64, 128};

    // Each test, not the class, so that Surefire reports them as skipped where they cannot run.
    @BeforeEach
    void requireGpuAndAutograd() {
        assumeTrue(
                Engine.getInstance().getGpuCount() > 0,
                "no GPU: these tests run on the GPU machine (cuda-ops/gpu-tests/run_java_tests.sh)");
        assumeTrue(
                FlashSigmoidLibrary.isAutogradAvailable(),
                "no autograd library: " + FlashSigmoidLibrary.getAutogradUnavailableReason());
    }

    /** A random case with a head dim the CUDA kernels take, small enough for the double loop. */
    private static AttentionCase trainingCase(long seed) {
        AttentionCase c = AttentionCase.random(seed);
        Random r = c.random;
        int d = HEAD_DIMS[r.nextInt(HEAD_DIMS.length)];
        int h = 1 + r.nextInt(4);
        c.options.headCount = h;
        c.options.kvHeadCount = h % 2 == 0 && r.nextBoolean() ? h / 2 : (r.nextBoolean() ? 1 : h);
        c.options.embeddingSize = h * d;
        c.queryLength = 1 + r.nextInt(40);
        c.keyLength = c.selfAttention ? c.queryLength : 1 + r.nextInt(40);
        return c;
    }

    /**
     * On CUDA, float32 parameters with the core in float16: FUSED's output and gradients against
     * the reference kernel's in float32, over GQA, causal, masks, ALiBi, learned biases, T ≠ F.
     */
    @Test
    void cudaGradientsThroughTheFusedKernelsMatchTheReference() {
        long base = System.nanoTime();
        for (int n = 0; n < 16; n++) {
            AttentionCase c = trainingCase(base + n);
            try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
                c.drawInputs();
                c.kernel = AttentionKernel.REFERENCE;
                List<double[]> reference = BlockGradients.of(c, m, DataType.FLOAT32);
                c.kernel = AttentionKernel.FUSED;
                c.computeType = DataType.FLOAT16;
                List<double[]> fused = BlockGradients.of(c, m, DataType.FLOAT32);
                BlockGradients.assertClose(reference, fused, 3e-2, c + " float16 core");
            }
        }
    }

    /**
     * On CPU tensors with the autograd library: FUSED in float32 against the reference kernel in
     * float64, and no less accurate than the reference kernel in float32.
     */
    @Test
    void cpuGradientsThroughTheFusedKernelsMatchTheFloat64Reference() {
        long base = System.nanoTime();
        for (int n = 0; n < 16; n++) {
            AttentionCase c = AttentionCase.random(base + n);
            try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
                c.drawInputs();
                c.kernel = AttentionKernel.REFERENCE;
                List<double[]> exact = BlockGradients.of(c, m, DataType.FLOAT64);
                List<double[]> reference = BlockGradients.of(c, m, DataType.FLOAT32);
                c.kernel = AttentionKernel.FUSED;
                List<double[]> fused = BlockGradients.of(c, m, DataType.FLOAT32);
                // float32 rounding against float64: within 1e-4 of the largest entry, or, where
                // cancellation in a summed gradient sets the error (D = 1 under RMS QK-norm, a
                // learned bias), no worse than the reference kernel in float32.
                BlockGradients.assertNoLessAccurate(
                        exact, reference, fused, 4, 1e-4, c + " CPU float32");
            }
        }
    }

    /** Five EasyTrain steps of a small model: the fused kernels give the reference's losses. */
    @Test
    void easyTrainStepsGiveTheReferenceLosses() throws Exception {
        long seed = System.nanoTime();
        double[][] losses = new double[2][];
        AttentionKernel[] kernels = {AttentionKernel.REFERENCE, AttentionKernel.FUSED};
        for (int k = 0; k < kernels.length; k++) {
            SigmoidMultiHeadAttention.Builder builder =
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(256)
                            .setHeadCount(4)
                            .optKvHeadCount(2)
                            .optCausal(true)
                            .optQkNorm(QkNorm.LAYER_NORM)
                            .optBias(SigmoidBias.learned(-4f))
                            .optKernel(kernels[k]);
            if (kernels[k] == AttentionKernel.FUSED) {
                builder.optComputeType(DataType.FLOAT16);
            }
            losses[k] = trainSteps(builder.build(), seed, 5);
        }
        for (int s = 0; s < losses[0].length; s++) {
            double relative = Math.abs(losses[1][s] - losses[0][s]) / Math.abs(losses[0][s]);
            assertTrue(
                    relative < 1e-2,
                    "step " + s + ": fused " + losses[1][s] + ", reference " + losses[0][s]);
        }
        assertTrue(losses[0][4] < losses[0][0], "the loss falls: " + losses[0][0]);
    }

    private static double[] trainSteps(SigmoidMultiHeadAttention attention, long seed, int steps)
            throws Exception {
        SequentialBlock net =
                new SequentialBlock().add(attention).add(Linear.builder().setUnits(8).build());
        double[] losses = new double[steps];
        try (Model model = Model.newInstance("gpu-training", Device.gpu());
                NDManager m = NDManager.newBaseManager(Device.gpu())) {
            model.setBlock(net);
            Random random = new Random(seed);
            int count = steps * 8;
            float[] data = new float[count * 64 * 256];
            float[] labels = new float[count * 64 * 8];
            for (int i = 0; i < data.length; i++) {
                data[i] = (float) random.nextGaussian();
            }
            for (int i = 0; i < labels.length; i++) {
                labels[i] = (float) random.nextGaussian();
            }
            ArrayDataset dataset =
                    new ArrayDataset.Builder()
                            .setData(m.create(data, new Shape(count, 64, 256)))
                            .optLabels(m.create(labels, new Shape(count, 64, 8)))
                            .setSampling(8, false)
                            .build();
            List<Double> recorded = new ArrayList<>();
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(Loss.l2Loss())
                            .optDevices(new Device[] {Device.gpu()})
                            .optOptimizer(
                                    Optimizer.adam()
                                            .optLearningRateTracker(Tracker.fixed(1e-3f))
                                            .build())
                            .addTrainingListeners(
                                    new TrainingListenerAdapter() {
                                        @Override
                                        public void onTrainingBatch(
                                                Trainer trainer, BatchData batchData) {
                                            NDList labels =
                                                    batchData
                                                            .getLabels()
                                                            .values()
                                                            .iterator()
                                                            .next();
                                            NDList predictions =
                                                    batchData
                                                            .getPredictions()
                                                            .values()
                                                            .iterator()
                                                            .next();
                                            try (NDArray loss =
                                                    trainer.getLoss()
                                                            .evaluate(labels, predictions)) {
                                                recorded.add((double) loss.getFloat());
                                            }
                                        }
                                    });
            Engine.getEngine("PyTorch").setRandomSeed((int) seed);
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(8, 64, 256));
                for (Batch batch : trainer.iterateDataset(dataset)) {
                    EasyTrain.trainBatch(trainer, batch);
                    trainer.step();
                    batch.close();
                }
            }
            for (int s = 0; s < steps; s++) {
                losses[s] = recorded.get(s);
            }
        }
        return losses;
    }
}
