package dev.steer4j.generate;

import dev.steer4j.request.Sampling;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Sampling frequencies against the softmax they should follow, and the filters against their definitions. */
class TokenSamplerTest {
    static final float[] LOGITS = {-1.5f, 0.25f, 2.0f, -0.5f, 1.0f, -3.0f};

    static double[] softmax(float[] l, double temperature, boolean[] keep) {
        double[] p = new double[l.length];
        double sum = 0;
        for (int i = 0; i < l.length; i++) if (keep[i]) sum += p[i] = Math.exp(l[i] / temperature);
        for (int i = 0; i < l.length; i++) p[i] /= sum;
        return p;
    }

    static double[] frequencies(Sampling s, int draws) {
        TokenSampler sampler = new TokenSampler(s, 1);
        double[] f = new double[LOGITS.length];
        for (int i = 0; i < draws; i++) f[sampler.sample(LOGITS, 0, LOGITS.length, 0)]++;
        for (int i = 0; i < f.length; i++) f[i] /= draws;
        return f;
    }

    @Test
    void plainSamplingFollowsTheTemperedSoftmax() {
        boolean[] all = {true, true, true, true, true, true};
        for (double t : new double[]{0.7, 1.0, 2.0}) {
            double[] expected = softmax(LOGITS, t, all);
            double[] got = frequencies(Sampling.sample(t, 0, 1.0, 7), 200_000);
            for (int i = 0; i < expected.length; i++) assertEquals(expected[i], got[i], 0.005, "T=" + t + " token " + i);
        }
    }

    @Test
    void topKAndTopPKeepOnlyTheirCandidates() {
        // top-k 2: tokens 2 and 4, renormalised
        double[] k2 = softmax(LOGITS, 1.0, new boolean[]{false, false, true, false, true, false});
        double[] got = frequencies(Sampling.sample(1.0, 2, 1.0, 3), 100_000);
        for (int i = 0; i < k2.length; i++) assertEquals(k2[i], got[i], 0.006, "top-k token " + i);
        // top-p 0.9: sorted masses .602 (2), .222 (4) -> .824 < .9, so token 1 (.105) joins: 3 tokens
        double[] p = softmax(LOGITS, 1.0, new boolean[]{true, true, true, true, true, true});
        assertTrue(p[2] + p[4] < 0.9 && p[2] + p[4] + p[1] >= 0.9, "the fixture's nucleus is 3 tokens");
        double[] nucleus = softmax(LOGITS, 1.0, new boolean[]{false, true, true, false, true, false});
        got = frequencies(Sampling.sample(1.0, 0, 0.9, 5), 100_000);
        for (int i = 0; i < nucleus.length; i++) assertEquals(nucleus[i], got[i], 0.006, "top-p token " + i);
        // top-k 1 and a tiny top-p are greedy
        assertEquals(1.0, frequencies(Sampling.sample(1.0, 1, 1.0, 1), 1000)[2]);
        assertEquals(1.0, frequencies(Sampling.sample(1.0, 0, 1e-9, 1), 1000)[2]);
    }

    @Test
    void sameSeedSameDraws() {
        TokenSampler a = new TokenSampler(Sampling.sample(1.0, 0, 0.9, 42), 2);
        TokenSampler b = new TokenSampler(Sampling.sample(1.0, 0, 0.9, 42), 2);
        for (int i = 0; i < 100; i++) {
            assertEquals(a.sample(LOGITS, 0, 6, i % 2), b.sample(LOGITS, 0, 6, i % 2));
        }
    }
}
