package io.github.sigmoidattention.ops;

/**
 * Sigmoid attention and its gradients as double-precision loops over (B, T, heads, D) arrays stored
 * flat, written from the definitions; independent of the kernels.
 */
final class OpReference {

    int b;
    int tq;
    int tk;
    int h;
    int g;
    int d;
    double scale;
    double bias;
    boolean causal;
    double[] headBias;
    double[] slopes;

    /** keep[((b * H + h) * Tq + i) * Tk + j], or null. */
    boolean[] keep;

    double[] q;
    double[] k;
    double[] v;

    double[] out;
    double[] dq;
    double[] dk;
    double[] dv;
    double[] dHeadBias;

    private int qIndex(int bi, int i, int hi) {
        return ((bi * tq + i) * h + hi) * d;
    }

    private int kIndex(int bi, int j, int gi) {
        return ((bi * tk + j) * g + gi) * d;
    }

    private boolean visible(int bi, int hi, int i, int j) {
        if (causal && j > i + tk - tq) {
            return false;
        }
        return keep == null || keep[((bi * h + hi) * tq + i) * tk + j];
    }

    private double weight(int bi, int hi, int i, int j) {
        int gi = hi / (h / g);
        double s = 0;
        for (int e = 0; e < d; e++) {
            s += q[qIndex(bi, i, hi) + e] * k[kIndex(bi, j, gi) + e];
        }
        s = s * scale + bias;
        if (headBias != null) {
            s += headBias[hi];
        }
        if (slopes != null) {
            s -= slopes[hi] * Math.abs(i + tk - tq - j);
        }
        return 1 / (1 + Math.exp(-s));
    }

    void forward() {
        out = new double[b * tq * h * d];
        for (int bi = 0; bi < b; bi++) {
            for (int hi = 0; hi < h; hi++) {
                int gi = hi / (h / g);
                for (int i = 0; i < tq; i++) {
                    for (int j = 0; j < tk; j++) {
                        if (!visible(bi, hi, i, j)) {
                            continue;
                        }
                        double p = weight(bi, hi, i, j);
                        for (int e = 0; e < d; e++) {
                            out[qIndex(bi, i, hi) + e] += p * v[kIndex(bi, j, gi) + e];
                        }
                    }
                }
            }
        }
    }

    void backward(double[] gradOut) {
        dq = new double[q.length];
        dk = new double[k.length];
        dv = new double[v.length];
        dHeadBias = new double[h];
        for (int bi = 0; bi < b; bi++) {
            for (int hi = 0; hi < h; hi++) {
                int gi = hi / (h / g);
                for (int i = 0; i < tq; i++) {
                    for (int j = 0; j < tk; j++) {
                        if (!visible(bi, hi, i, j)) {
                            continue;
                        }
                        double p = weight(bi, hi, i, j);
                        int qo = qIndex(bi, i, hi);
                        int ko = kIndex(bi, j, gi);
                        double dp = 0;
                        for (int e = 0; e < d; e++) {
                            dp += gradOut[qo + e] * v[ko + e];
                            dv[ko + e] += p * gradOut[qo + e];
                        }
                        double ds = dp * p * (1 - p);
                        dHeadBias[hi] += ds;
                        for (int e = 0; e < d; e++) {
                            dq[qo + e] += scale * ds * k[ko + e];
                            dk[ko + e] += scale * ds * q[qo + e];
                        }
                    }
                }
            }
        }
    }
}
