package io.github.sigmoidattention.testing;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.sigmoidattention.nn.attention.AttentionKernel;
import io.github.sigmoidattention.nn.attention.QkNorm;
import io.github.sigmoidattention.nn.attention.SigmoidBias;
import io.github.sigmoidattention.nn.attention.SigmoidMultiHeadAttention;
import java.util.Random;

/**
 * One randomly drawn test case: a block configuration, shapes, inputs and a mask, with the matching
 * options of {@link NaiveSigmoidAttention}. Everything derives from the seed, which failure
 * messages print.
 */
public final class AttentionCase {

    public enum MaskKind {
        NONE,
        FULL,
        KEY_PADDING,
        DJL_OFFSET,
        /** A key-padding mask of the right-padded form, 1...1 0...0 per sequence. */
        RIGHT_PADDING
    }

    public final long seed;
    public final Random random;
    public final NaiveSigmoidAttention.Options options = new NaiveSigmoidAttention.Options();
    public SigmoidBias bias = SigmoidBias.negLogLength();
    public AttentionKernel kernel = AttentionKernel.REFERENCE;
    public DataType computeType;
    public int batch;
    public int queryLength;
    public int keyLength;
    public boolean selfAttention;
    public MaskKind maskKind = MaskKind.NONE;

    /** One mask row for the whole batch: the mask's batch dimension is 1. */
    public boolean maskBatchOne;

    /**
     * NaN or ±Inf put into the inputs' rows of padded keys (key-padding masks only), or 0 for none.
     * The reference sees those rows as 0 (a padded key contributes nothing); in self-attention the
     * padded queries hold the poison, so only the rows of real queries compare ({@link #realRows}).
     */
    public double poison;

    public boolean[][][] keep;
    public boolean[][] keyPadding;
    public double[][][] keyIn;
    public double[][][] queryIn;
    public double[][][] valueIn;

    public AttentionCase(long seed) {
        this.seed = seed;
        this.random = new Random(seed);
    }

    /** A plain case: H query heads, G kv heads, head dim D, self-attention over T tokens. */
    public static AttentionCase plain(long seed, int h, int g, int d, int b, int t) {
        AttentionCase c = new AttentionCase(seed);
        c.options.headCount = h;
        c.options.kvHeadCount = g;
        c.options.embeddingSize = h * d;
        c.batch = b;
        c.queryLength = t;
        c.keyLength = t;
        c.selfAttention = true;
        return c;
    }

    /** A case with every option drawn at random. */
    public static AttentionCase random(long seed) {
        AttentionCase c = new AttentionCase(seed);
        Random r = c.random;
        int[] headCounts = {1, 2, 3, 4, 6, 8};
        int h = headCounts[r.nextInt(headCounts.length)];
        int g = h;
        while (true) {
            int candidate = 1 + r.nextInt(h);
            if (h % candidate == 0) {
                g = candidate;
                break;
            }
        }
        NaiveSigmoidAttention.Options o = c.options;
        o.rope = r.nextBoolean();
        int d = o.rope ? 2 * (1 + r.nextInt(6)) : 1 + r.nextInt(12);
        o.headCount = h;
        o.kvHeadCount = g;
        o.embeddingSize = h * d;
        o.causal = r.nextBoolean();
        o.alibi = r.nextInt(3) == 0;
        o.positionOffset = o.rope && r.nextBoolean() ? r.nextInt(100) : 0;
        o.qkNorm = QkNorm.values()[r.nextInt(3)];
        o.qkNormEpsilon = o.qkNorm == QkNorm.NONE ? 1e-5 : (float) Math.pow(10, -3 - r.nextInt(4));
        o.layerScale = r.nextBoolean();
        c.batch = 1 + r.nextInt(3);
        c.selfAttention = r.nextBoolean();
        c.queryLength = 1 + r.nextInt(9);
        c.keyLength = c.selfAttention ? c.queryLength : 1 + r.nextInt(9);
        c.maskKind = MaskKind.values()[r.nextInt(MaskKind.values().length)];
        c.maskBatchOne = c.maskKind != MaskKind.NONE && c.batch > 1 && r.nextInt(3) == 0;
        switch (r.nextInt(4)) {
            case 0:
                c.bias = SigmoidBias.constant((float) (r.nextGaussian() * 2));
                break;
            case 1:
                c.bias = SigmoidBias.negLog(1 + r.nextInt(4096));
                break;
            case 2:
                c.bias = SigmoidBias.negLogLength();
                break;
            default:
                c.bias = SigmoidBias.learned((float) r.nextGaussian());
                break;
        }
        return c;
    }

    public SigmoidMultiHeadAttention.Builder builder() {
        NaiveSigmoidAttention.Options o = options;
        SigmoidMultiHeadAttention.Builder b =
                SigmoidMultiHeadAttention.builder()
                        .setEmbeddingSize(o.embeddingSize)
                        .setHeadCount(o.headCount)
                        .optKvHeadCount(o.kvHeadCount)
                        .optBias(bias)
                        .optCausal(o.causal)
                        .optAlibi(o.alibi)
                        .optRope(o.rope)
                        .optQkNorm(o.qkNorm)
                        .optQkNormEpsilon((float) o.qkNormEpsilon)
                        .optLayerScale(o.layerScale)
                        .optKernel(kernel)
                        .optComputeType(computeType);
        return b;
    }

    /** Builds the block, initialises it in {@code type} and fills every parameter at random. */
    public SigmoidMultiHeadAttention block(NDManager manager, DataType type) {
        SigmoidMultiHeadAttention block = builder().build();
        Random paramRandom = new Random(seed * 31 + 7);
        block.setInitializer(
                (m, shape, dt) -> {
                    double[] values = new double[(int) shape.size()];
                    double sigma = shape.dimension() == 2 ? 1 / Math.sqrt(shape.get(1)) : 0.5;
                    for (int i = 0; i < values.length; i++) {
                        values[i] = paramRandom.nextGaussian() * sigma;
                    }
                    return m.create(values, shape).toType(dt, false);
                },
                p -> true);
        block.initialize(manager, type, inputShapes());
        return block;
    }

    public Shape[] inputShapes() {
        long e = options.embeddingSize;
        Shape k = new Shape(batch, keyLength, e);
        Shape q = new Shape(batch, queryLength, e);
        return selfAttention ? new Shape[] {q} : new Shape[] {k, q, k};
    }

    /** Draws fresh inputs and a mask of the case's kind. */
    public void drawInputs() {
        int e = options.embeddingSize;
        queryIn = gaussian(batch, queryLength, e);
        if (selfAttention) {
            keyIn = queryIn;
            valueIn = queryIn;
        } else {
            keyIn = gaussian(batch, keyLength, e);
            valueIn = gaussian(batch, keyLength, e);
        }
        keep = null;
        keyPadding = null;
        if (maskKind == MaskKind.KEY_PADDING || maskKind == MaskKind.RIGHT_PADDING) {
            keyPadding = new boolean[batch][keyLength];
            keep = new boolean[batch][queryLength][keyLength];
            for (int b = 0; b < batch; b++) {
                int length = random.nextInt(keyLength + 1);
                for (int j = 0; j < keyLength; j++) {
                    keyPadding[b][j] =
                            maskBatchOne && b > 0
                                    ? keyPadding[0][j]
                                    : maskKind == MaskKind.RIGHT_PADDING
                                            ? j < length
                                            : random.nextDouble() < 0.75;
                    for (int i = 0; i < queryLength; i++) {
                        keep[b][i][j] = keyPadding[b][j];
                    }
                    if (poison != 0 && !keyPadding[b][j]) {
                        java.util.Arrays.fill(keyIn[b][j], 0);
                        java.util.Arrays.fill(valueIn[b][j], 0);
                    }
                }
            }
        } else if (maskKind != MaskKind.NONE) {
            keep = new boolean[batch][queryLength][keyLength];
            for (int b = 0; b < batch; b++) {
                for (int i = 0; i < queryLength; i++) {
                    for (int j = 0; j < keyLength; j++) {
                        keep[b][i][j] =
                                maskBatchOne && b > 0 ? keep[0][i][j] : random.nextDouble() < 0.75;
                    }
                }
            }
        }
    }

    public double[][][] gaussian(int a, int b, int c) {
        double[][][] x = new double[a][b][c];
        for (double[][] p : x) {
            for (double[] row : p) {
                for (int i = 0; i < c; i++) {
                    row[i] = random.nextGaussian();
                }
            }
        }
        return x;
    }

    /** The block's input list in {@code type}. */
    public NDList inputs(NDManager manager, DataType type) {
        NDList list = new NDList();
        if (selfAttention) {
            list.add(poisoned(TestArrays.create(manager, queryIn, type)));
        } else {
            list.add(poisoned(TestArrays.create(manager, keyIn, type)));
            list.add(TestArrays.create(manager, queryIn, type));
            list.add(poisoned(TestArrays.create(manager, valueIn, type)));
        }
        int maskBatch = maskBatchOne ? 1 : batch;
        switch (maskKind) {
            case FULL:
                list.add(TestArrays.mask(manager, java.util.Arrays.copyOf(keep, maskBatch)));
                break;
            case KEY_PADDING:
            case RIGHT_PADDING:
                list.add(TestArrays.mask(manager, java.util.Arrays.copyOf(keyPadding, maskBatch)));
                break;
            case DJL_OFFSET:
                float[] offset = new float[maskBatch * queryLength * keyLength];
                int n = 0;
                for (boolean[][] m : java.util.Arrays.copyOf(keep, maskBatch)) {
                    for (boolean[] row : m) {
                        for (boolean k : row) {
                            offset[n++] = k ? 0f : -100000f;
                        }
                    }
                }
                list.add(manager.create(offset, new Shape(maskBatch, 1, queryLength, keyLength)));
                break;
            default:
                break;
        }
        return list;
    }

    /**
     * Flattened (B, T, E) outputs with the rows of padded queries set to 0 when the inputs are
     * poisoned in self-attention: those queries hold the poison, and their outputs with it.
     */
    public double[] realRows(double[] flat) {
        if (poison == 0 || keyPadding == null || !selfAttention) {
            return flat;
        }
        double[] out = flat.clone();
        int e = options.embeddingSize;
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < queryLength; i++) {
                if (!keyPadding[b][i]) {
                    java.util.Arrays.fill(
                            out, (b * queryLength + i) * e, (b * queryLength + i + 1) * e, 0);
                }
            }
        }
        return out;
    }

    /** x (B, F, E) with the poison in the rows of padded keys. */
    private NDArray poisoned(NDArray x) {
        if (poison == 0 || keyPadding == null) {
            return x;
        }
        for (int b = 0; b < batch; b++) {
            for (int j = 0; j < keyLength; j++) {
                if (!keyPadding[b][j]) {
                    x.set(new ai.djl.ndarray.index.NDIndex("{}, {}", b, j), poison);
                }
            }
        }
        return x;
    }

    public PairList<String, Object> forwardParams() {
        PairList<String, Object> params = new PairList<>();
        if (options.positionOffset != 0) {
            params.add(SigmoidMultiHeadAttention.POSITION_OFFSET, options.positionOffset);
        }
        return params;
    }

    public NDArray run(
            SigmoidMultiHeadAttention block, NDManager manager, DataType type, boolean train) {
        ParameterStore ps = new ParameterStore(manager, false);
        return block.forward(ps, inputs(manager, type), train, forwardParams()).singletonOrThrow();
    }

    /**
     * The independent double-precision output for the current parameters of {@code block}: this
     * case's sigmoid block, or a DJL softmax block whose projections have the same names.
     */
    public double[][][] reference(ai.djl.nn.Block block) {
        NaiveSigmoidAttention.Weights w = new NaiveSigmoidAttention.Weights();
        w.wk = TestArrays.matrix(TestArrays.param(block, "keyProjection_weight"));
        w.bk = TestArrays.vector(TestArrays.param(block, "keyProjection_bias"));
        w.wq = TestArrays.matrix(TestArrays.param(block, "queryProjection_weight"));
        w.bq = TestArrays.vector(TestArrays.param(block, "queryProjection_bias"));
        w.wv = TestArrays.matrix(TestArrays.param(block, "valueProjection_weight"));
        w.bv = TestArrays.vector(TestArrays.param(block, "valueProjection_bias"));
        w.wo = TestArrays.matrix(TestArrays.param(block, "resultProjection_weight"));
        w.bo = TestArrays.vector(TestArrays.param(block, "resultProjection_bias"));
        if (options.qkNorm != QkNorm.NONE) {
            w.queryGamma = TestArrays.vector(TestArrays.param(block, "queryNorm_gamma"));
            w.keyGamma = TestArrays.vector(TestArrays.param(block, "keyNorm_gamma"));
            if (options.qkNorm == QkNorm.LAYER_NORM) {
                w.queryBeta = TestArrays.vector(TestArrays.param(block, "queryNorm_beta"));
                w.keyBeta = TestArrays.vector(TestArrays.param(block, "keyNorm_beta"));
            }
        }
        if (options.layerScale) {
            w.layerScale = TestArrays.vector(TestArrays.param(block, "layerScale_gamma"));
        }
        if (bias.isLearned()) {
            options.headBias = TestArrays.vector(TestArrays.param(block, "headBias_bias"));
        } else if (bias.getKind() == SigmoidBias.Kind.NEG_LOG_LENGTH) {
            options.bias = -Math.log(keyLength);
        } else if (bias.getKind() == SigmoidBias.Kind.NEG_LOG) {
            options.bias = -Math.log(bias.getLength());
        } else {
            options.bias = bias.getValue();
        }
        return NaiveSigmoidAttention.forward(options, w, keyIn, queryIn, valueIn, keep);
    }

    @Override
    public String toString() {
        NaiveSigmoidAttention.Options o = options;
        return String.format(
                "case(seed=%d, E=%d, H=%d, G=%d, B=%d, T=%d, F=%d, self=%b, causal=%b, mask=%s,"
                        + " alibi=%b, rope=%b, offset=%d, qkNorm=%s, layerScale=%b, bias=%s,"
                        + " maskBatchOne=%b, poison=%s)",
                seed,
                o.embeddingSize,
                o.headCount,
                o.kvHeadCount,
                batch,
                queryLength,
                keyLength,
                selfAttention,
                o.causal,
                maskKind,
                o.alibi,
                o.rope,
                o.positionOffset,
                o.qkNorm,
                o.layerScale,
                bias,
                maskBatchOne,
                poison);
    }
}
