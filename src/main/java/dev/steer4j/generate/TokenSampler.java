package dev.steer4j.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Draws one token from a row of logits with temperature, top-k and top-p (nucleus) filtering, in the
 * order Hugging Face applies them. Each batch row has its own random stream derived from the seed, so a
 * row's text does not depend on which other prompts share its batch.
 */
final class TokenSampler {
    private final Sampling s;
    private final SplittableRandom[] rngs;

    TokenSampler(Sampling s, int rows) {
        this.s = s;
        rngs = new SplittableRandom[rows];
        for (int b = 0; b < rows; b++) {
            rngs[b] = new SplittableRandom(s.seed() * 0x9E3779B97F4A7C15L + b);
        }
    }

    int sample(float[] logits, int offset, int vocab, int row) {
        Integer[] order = new Integer[vocab];
        double[] scaled = new double[vocab];
        for (int i = 0; i < vocab; i++) {
            order[i] = i;
            scaled[i] = logits[offset + i] / s.temperature();
        }
        Arrays.sort(order, (a, b) -> Double.compare(scaled[b], scaled[a]));
        int keep = s.topK() > 0 ? Math.min(s.topK(), vocab) : vocab;
        double max = scaled[order[0]];
        double[] p = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            p[i] = Math.exp(scaled[order[i]] - max);
            sum += p[i];
        }
        // top-p: the smallest prefix of the sorted distribution whose mass reaches topP (at least one token)
        double cumulative = 0;
        int nucleus = keep;
        for (int i = 0; i < keep; i++) {
            cumulative += p[i] / sum;
            if (cumulative >= s.topP()) {
                nucleus = i + 1;
                break;
            }
        }
        double mass = 0;
        for (int i = 0; i < nucleus; i++) mass += p[i];
        double u = rngs[row].nextDouble() * mass;
        double acc = 0;
        for (int i = 0; i < nucleus; i++) {
            acc += p[i];
            if (u < acc) return order[i];
        }
        return order[nucleus - 1];
    }
}
