package io.github.sigmoidattention.testing;

import io.github.sigmoidattention.nn.attention.QkNorm;

/**
 * An independent double-precision sigmoid attention, written as plain loops from the definitions:
 * projections, per-head QK-norm, RoPE, scores with bias and ALiBi, sigmoid, masks, weighted sum,
 * output projection and LayerScale. It shares no code with the block.
 */
public final class NaiveSigmoidAttention {

    /** The options of one case, as the test chose them. */
    public static final class Options {
        public int embeddingSize;
        public int headCount;
        public int kvHeadCount;
        public boolean causal;
        public boolean alibi;
        public boolean rope;
        public double ropeBase = 10000;
        public long positionOffset;
        public QkNorm qkNorm = QkNorm.NONE;
        public double qkNormEpsilon = 1e-5f;
        public boolean layerScale;

        /** Used when {@link #headBias} is null. */
        public double bias;

        public double[] headBias;
    }

    /** The block's parameters, read out as doubles. */
    public static final class Weights {
        public double[][] wk;
        public double[] bk;
        public double[][] wq;
        public double[] bq;
        public double[][] wv;
        public double[] bv;
        public double[][] wo;
        public double[] bo;
        public double[] queryGamma;
        public double[] queryBeta;
        public double[] keyGamma;
        public double[] keyBeta;
        public double[] layerScale;
    }

    private NaiveSigmoidAttention() {}

    /**
     * Computes the block's output.
     *
     * @param keyIn (B, F, E)
     * @param queryIn (B, T, E)
     * @param valueIn (B, F, E)
     * @param keep (B, T, F), true where attention is allowed; or null
     * @return (B, T, E)
     */
    public static double[][][] forward(
            Options o,
            Weights w,
            double[][][] keyIn,
            double[][][] queryIn,
            double[][][] valueIn,
            boolean[][][] keep) {
        int b = queryIn.length;
        int t = queryIn[0].length;
        int f = keyIn[0].length;
        int e = o.embeddingSize;
        int h = o.headCount;
        int g = o.kvHeadCount;
        int d = e / h;
        double[][][][] q = heads(linear(queryIn, w.wq, w.bq), h, d);
        double[][][][] k = heads(linear(keyIn, w.wk, w.bk), g, d);
        double[][][][] v = heads(linear(valueIn, w.wv, w.bv), g, d);
        if (o.qkNorm != QkNorm.NONE) {
            norm(q, o, w.queryGamma, w.queryBeta);
            norm(k, o, w.keyGamma, w.keyBeta);
        }
        if (o.rope) {
            rope(q, o.positionOffset + f - t, o.ropeBase);
            rope(k, o.positionOffset, o.ropeBase);
        }
        double[] slopes = o.alibi ? alibiSlopes(h) : null;
        double scale = 1 / Math.sqrt(d);
        double[][][] merged = new double[b][t][e];
        for (int bi = 0; bi < b; bi++) {
            for (int hi = 0; hi < h; hi++) {
                int kvh = hi / (h / g);
                double bias = o.headBias != null ? o.headBias[hi] : o.bias;
                for (int i = 0; i < t; i++) {
                    for (int j = 0; j < f; j++) {
                        long rel = (long) i + f - t - j;
                        if (o.causal && rel < 0) {
                            continue;
                        }
                        if (keep != null && !keep[bi][i][j]) {
                            continue;
                        }
                        double s = 0;
                        for (int di = 0; di < d; di++) {
                            s += q[bi][i][hi][di] * k[bi][j][kvh][di];
                        }
                        s = s * scale + bias;
                        if (slopes != null) {
                            s -= slopes[hi] * Math.abs(rel);
                        }
                        double p = 1 / (1 + Math.exp(-s));
                        for (int di = 0; di < d; di++) {
                            merged[bi][i][hi * d + di] += p * v[bi][j][kvh][di];
                        }
                    }
                }
            }
        }
        double[][][] out = linear(merged, w.wo, w.bo);
        if (o.layerScale) {
            for (double[][] row : out) {
                for (double[] x : row) {
                    for (int c = 0; c < e; c++) {
                        x[c] *= w.layerScale[c];
                    }
                }
            }
        }
        return out;
    }

    /** y = x Wᵀ + b, W of shape (units, in). */
    public static double[][][] linear(double[][][] x, double[][] weight, double[] bias) {
        int units = weight.length;
        double[][][] y = new double[x.length][x[0].length][units];
        for (int bi = 0; bi < x.length; bi++) {
            for (int s = 0; s < x[0].length; s++) {
                for (int u = 0; u < units; u++) {
                    double acc = bias[u];
                    for (int c = 0; c < weight[u].length; c++) {
                        acc += x[bi][s][c] * weight[u][c];
                    }
                    y[bi][s][u] = acc;
                }
            }
        }
        return y;
    }

    private static double[][][][] heads(double[][][] x, int n, int d) {
        double[][][][] out = new double[x.length][x[0].length][n][d];
        for (int bi = 0; bi < x.length; bi++) {
            for (int s = 0; s < x[0].length; s++) {
                for (int hi = 0; hi < n; hi++) {
                    System.arraycopy(x[bi][s], hi * d, out[bi][s][hi], 0, d);
                }
            }
        }
        return out;
    }

    private static void norm(double[][][][] x, Options o, double[] gamma, double[] beta) {
        for (double[][][] a : x) {
            for (double[][] b : a) {
                for (double[] vec : b) {
                    int d = vec.length;
                    double mean = 0;
                    double meanSquare = 0;
                    for (double val : vec) {
                        mean += val / d;
                        meanSquare += val * val / d;
                    }
                    for (int i = 0; i < d; i++) {
                        if (o.qkNorm == QkNorm.LAYER_NORM) {
                            double var = meanSquare - mean * mean;
                            vec[i] = (vec[i] - mean) / Math.sqrt(var + o.qkNormEpsilon);
                            vec[i] = vec[i] * gamma[i] + beta[i];
                        } else {
                            vec[i] = vec[i] / Math.sqrt(meanSquare + o.qkNormEpsilon) * gamma[i];
                        }
                    }
                }
            }
        }
    }

    /** Rotates (x[m], x[m + D/2]) by pos · base^(-2m/D), pos = first + s. */
    private static void rope(double[][][][] x, long first, double base) {
        for (double[][][] seq : x) {
            for (int s = 0; s < seq.length; s++) {
                for (double[] vec : seq[s]) {
                    int d = vec.length;
                    int half = d / 2;
                    for (int m = 0; m < half; m++) {
                        double theta = (first + s) / Math.pow(base, 2.0 * m / d);
                        double a = vec[m];
                        double c = vec[m + half];
                        vec[m] = a * Math.cos(theta) - c * Math.sin(theta);
                        vec[m + half] = c * Math.cos(theta) + a * Math.sin(theta);
                    }
                }
            }
        }
    }

    /** The slopes from the ALiBi paper's recipe, by recursion on the closest power of two. */
    public static double[] alibiSlopes(int n) {
        double log2 = Math.log(n) / Math.log(2);
        if (log2 == Math.floor(log2)) {
            double start = Math.pow(2, -Math.pow(2, -(log2 - 3)));
            double[] s = new double[n];
            for (int i = 0; i < n; i++) {
                s[i] = start * Math.pow(start, i);
            }
            return s;
        }
        int closest = 1 << (int) Math.floor(log2);
        double[] first = alibiSlopes(closest);
        double[] doubled = alibiSlopes(2 * closest);
        double[] s = new double[n];
        System.arraycopy(first, 0, s, 0, closest);
        for (int i = closest, j = 0; i < n; i++, j += 2) {
            s[i] = doubled[j];
        }
        return s;
    }
}
