package io.github.sigmoidattention.nn.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.Batchifier;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorContext;
import io.github.sigmoidattention.ops.FlashSigmoidLibrary;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Eight threads, one Predictor each, share one Model whose block runs the fused kernel in
 * inference; every call must give, bit for bit, what the same input gives on one thread.
 */
class ConcurrencyTest {

    private static final int THREADS = 8;
    private static final int CALLS_PER_THREAD = 60;
    private static final int INPUTS = 12;

    /** float[] (B, T, E) in, float[] out; arrays live in the predictor's context manager. */
    private static final class Floats implements Translator<float[], float[]> {
        private final Shape shape;

        Floats(Shape shape) {
            this.shape = shape;
        }

        @Override
        public NDList processInput(TranslatorContext ctx, float[] input) {
            return new NDList(ctx.getNDManager().create(input, shape));
        }

        @Override
        public float[] processOutput(TranslatorContext ctx, NDList list) {
            return list.head().toFloatArray();
        }

        @Override
        public Batchifier getBatchifier() {
            return null; // inputs are whole (B, T, E) batches already
        }
    }

    @Test
    void predictorsOnSharedModelMatchSingleThreadedResultsBitForBit() throws Exception {
        assertTrue(FlashSigmoidLibrary.isAvailable(), FlashSigmoidLibrary.getUnavailableReason());
        Shape shape = new Shape(2, 37, 64);
        Random r = new Random(7);
        float[][] inputs = new float[INPUTS][(int) shape.size()];
        for (float[] x : inputs) {
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
        }
        try (Model model = Model.newInstance("sigmoid-attention")) {
            SigmoidMultiHeadAttention block =
                    SigmoidMultiHeadAttention.builder()
                            .setEmbeddingSize(64)
                            .setHeadCount(8)
                            .optKvHeadCount(2)
                            .optCausal(true)
                            .optQkNorm(QkNorm.RMS_NORM)
                            .optKernel(AttentionKernel.FUSED)
                            .build();
            block.initialize(model.getNDManager(), DataType.FLOAT32, shape);
            model.setBlock(block);

            float[][] expected = new float[INPUTS][];
            try (Predictor<float[], float[]> single = model.newPredictor(new Floats(shape))) {
                for (int i = 0; i < INPUTS; i++) {
                    expected[i] = single.predict(inputs[i]);
                }
            }

            CyclicBarrier start = new CyclicBarrier(THREADS);
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            List<Future<Integer>> results = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                final int thread = t;
                results.add(
                        pool.submit(
                                () -> {
                                    try (Predictor<float[], float[]> predictor =
                                            model.newPredictor(new Floats(shape))) {
                                        start.await();
                                        for (int n = 0; n < CALLS_PER_THREAD; n++) {
                                            int i = (thread * 5 + n) % INPUTS;
                                            assertArrayEquals(
                                                    expected[i],
                                                    predictor.predict(inputs[i]),
                                                    "thread "
                                                            + thread
                                                            + ", call "
                                                            + n
                                                            + ", input "
                                                            + i);
                                        }
                                    }
                                    return CALLS_PER_THREAD;
                                }));
            }
            int calls = 0;
            for (Future<Integer> f : results) {
                calls += f.get();
            }
            pool.shutdown();
            System.out.printf(
                    "ConcurrencyTest: %d threads x %d calls on one model: all bit-identical to one thread%n",
                    THREADS, calls / THREADS);
        }
    }

    /** The same through SigmoidAttention.attend on the fused kernel, from 8 threads at once. */
    @Test
    void attendFromManyThreadsMatchesOneThread() throws Exception {
        assertTrue(FlashSigmoidLibrary.isAvailable(), FlashSigmoidLibrary.getUnavailableReason());
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager()) {
            NDArray q = m.randomNormal(new Shape(2, 70, 4, 32));
            NDArray k = m.randomNormal(new Shape(2, 90, 2, 32));
            NDArray v = m.randomNormal(new Shape(2, 90, 2, 32));
            float[] expected =
                    SigmoidAttention.attend(q, k, v, 0.18f, -4.5f, true, AttentionKernel.FUSED)
                            .toFloatArray();
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            CyclicBarrier start = new CyclicBarrier(THREADS);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                done.add(
                        pool.submit(
                                () -> {
                                    start.await();
                                    for (int n = 0; n < 100; n++) {
                                        try (ai.djl.ndarray.NDManager sub = m.newSubManager()) {
                                            NDArray out =
                                                    SigmoidAttention.attend(
                                                            q,
                                                            k,
                                                            v,
                                                            0.18f,
                                                            -4.5f,
                                                            true,
                                                            AttentionKernel.FUSED);
                                            out.attach(sub);
                                            assertArrayEquals(expected, out.toFloatArray());
                                        }
                                    }
                                    return null;
                                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
            pool.shutdown();
        }
    }
}
