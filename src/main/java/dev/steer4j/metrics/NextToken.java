package dev.steer4j.metrics;

/**
 * The arithmetic of next-token distributions, in double from float32 logits: log-softmax, the probability mass
 * of a set of tokens, and KL divergence. Plain Java so that every metric is a formula a reader can check.
 */
public final class NextToken {
    private NextToken() {}

    /** log p = logits − logsumexp(logits), the maximum subtracted first so that no exp overflows. */
    public static double[] logSoftmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) max = Math.max(max, x);
        double sum = 0;
        for (float x : logits) sum += Math.exp(x - max);
        double lse = max + Math.log(sum);
        double[] out = new double[logits.length];
        for (int i = 0; i < out.length; i++) out[i] = logits[i] - lse;
        return out;
    }

    /** Σ p(i) over {@code ids}: how likely the next token is one of them. */
    public static double mass(double[] logp, int[] ids) {
        double s = 0;
        for (int id : ids) s += Math.exp(logp[id]);
        return s;
    }

    /** KL(p ‖ q) = Σ p (log p − log q), in nats; terms with p = 0 add nothing. */
    public static double kl(double[] logp, double[] logq) {
        double s = 0;
        for (int i = 0; i < logp.length; i++) {
            double p = Math.exp(logp[i]);
            if (p > 0) s += p * (logp[i] - logq[i]);
        }
        return Math.max(0, s); // rounding can leave -1e-17 for equal distributions
    }
}
