package io.github.sigmoidattention.benchmarks;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import io.github.sigmoidattention.examples.BenchmarkReport;
import io.github.sigmoidattention.nn.attention.AttentionKernel;
import io.github.sigmoidattention.nn.attention.SigmoidMultiHeadAttention;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/** What the GPU benchmarks share: the three blocks they compare, and how they time from Java. */
final class GpuTiming {

    private GpuTiming() {}

    /**
     * DJL's softmax block, the sigmoid block on REFERENCE and on FUSED, initialised in float16 with
     * the same distribution.
     */
    static Block[] threeBlocks(NDManager m, long e, int h, Shape inputShape) {
        Block[] blocks = {
            ScaledDotProductAttentionBlock.builder()
                    .setEmbeddingSize((int) e)
                    .setHeadCount(h)
                    .optAttentionProbsDropoutProb(0)
                    .build(),
            sigmoid(e, h, AttentionKernel.REFERENCE),
            sigmoid(e, h, AttentionKernel.FUSED)
        };
        for (Block block : blocks) {
            // DJL's softmax block initialises its projections in float32 whatever it is asked.
            block.setInitializer(
                    (mm, s, type) ->
                            mm.randomNormal(0, (float) (1 / Math.sqrt(e)), s, DataType.FLOAT32)
                                    .toType(DataType.FLOAT16, false),
                    p -> true);
            block.initialize(m, DataType.FLOAT16, inputShape);
        }
        return blocks;
    }

    private static Block sigmoid(long e, int h, AttentionKernel kernel) {
        return SigmoidMultiHeadAttention.builder()
                .setEmbeddingSize((int) e)
                .setHeadCount(h)
                .optKernel(kernel)
                .build();
    }

    /**
     * The median milliseconds per call of each subject, over {@code rounds} rounds (after two
     * warm-up rounds) in which the subjects take turns.
     */
    static double[] interleavedMedians(
            NDArray anchor, int rounds, int calls, List<Supplier<Object>> subjects) {
        List<List<Double>> times = new ArrayList<>();
        for (int i = 0; i < subjects.size(); i++) {
            times.add(new ArrayList<>());
        }
        for (int round = -2; round < rounds; round++) {
            for (int i = 0; i < subjects.size(); i++) {
                double ms = perCall(anchor, calls, subjects.get(i));
                if (round >= 0) {
                    times.get(i).add(ms);
                }
            }
        }
        return times.stream().mapToDouble(BenchmarkReport::median).toArray();
    }

    /**
     * Milliseconds per call of {@code calls} calls, each call's arrays freed after it (as a server
     * would), then one read of an element of {@code anchor}, which waits for every launched kernel
     * (the copy is queued behind them on the same stream).
     */
    static double perCall(NDArray anchor, int calls, Supplier<Object> call) {
        long start = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            try (NDManager scope = anchor.getManager().newSubManager()) {
                anchor.tempAttach(scope);
                call.get();
            }
        }
        NDIndex first = new NDIndex();
        for (int i = 0; i < anchor.getShape().dimension(); i++) {
            first.addIndices(0);
        }
        anchor.get(first).toType(DataType.FLOAT32, false).getFloat();
        return (System.nanoTime() - start) / 1e6 / calls;
    }

    /** The GPU's name from nvidia-smi, or "a GPU". */
    static String gpuName() {
        try {
            Process p =
                    new ProcessBuilder("nvidia-smi", "--query-gpu=name", "--format=csv,noheader")
                            .start();
            try (BufferedReader r =
                    new BufferedReader(
                            new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String name = r.readLine();
                return name == null ? "a GPU" : name.trim();
            }
        } catch (IOException e) {
            return "a GPU";
        }
    }
}
