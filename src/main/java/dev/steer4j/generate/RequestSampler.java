package dev.steer4j.generate;

import dev.steer4j.request.Sampling;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * One request's token chooser: argmax when greedy, else temperature, then top-k, then top-p (nucleus)
 * filtering, the order Hugging Face applies them, drawing from a random stream of its own (seed and stream
 * index), so a request's text does not depend on what else shares its batch.
 *
 * <p>Only the candidates that survive filtering are sorted: top-k selects k with a partial sort, and with
 * no filter at all the full distribution is sampled without sorting.
 */
public final class RequestSampler {
    private final Sampling s;
    private final SplittableRandom rng;

    /** Stream 0 is what the request draws when it runs alone. */
    public RequestSampler(Sampling s, int stream) {
        this.s = s;
        this.rng = new SplittableRandom(s.seed() * 0x9E3779B97F4A7C15L + stream);
    }

    public boolean greedy() {
        return s.greedy();
    }

    /** The next token from {@code logits[offset, offset + vocab)}. */
    public int sample(float[] logits, int offset, int vocab) {
        if (s.greedy()) return argmax(logits, offset, vocab);
        int[] order = candidates(s, logits, offset, vocab);
        double max = Double.NEGATIVE_INFINITY;
        for (int id : order) max = Math.max(max, logits[offset + id] / s.temperature());
        double[] p = new double[order.length];
        double sum = 0;
        for (int i = 0; i < order.length; i++) {
            p[i] = Math.exp(logits[offset + order[i]] / s.temperature() - max);
            sum += p[i];
        }
        int keep = order.length;
        if (s.topP() < 1.0) {
            // the smallest prefix of the sorted candidates whose mass reaches topP (at least one token)
            double cumulative = 0;
            for (int i = 0; i < order.length; i++) {
                cumulative += p[i] / sum;
                if (cumulative >= s.topP()) {
                    keep = i + 1;
                    break;
                }
            }
        }
        double mass = 0;
        for (int i = 0; i < keep; i++) mass += p[i];
        double u = rng.nextDouble() * mass;
        double acc = 0;
        for (int i = 0; i < keep; i++) {
            acc += p[i];
            if (u < acc) return order[i];
        }
        return order[keep - 1];
    }

    /** Candidate ids: all (unsorted) when nothing filters, else the top-k or all, sorted by logit descending. */
    private static int argmax(float[] logits, int offset, int vocab) {
        int best = 0;
        for (int i = 1; i < vocab; i++) if (logits[offset + i] > logits[offset + best]) best = i;
        return best;
    }

    private static int[] candidates(Sampling s, float[] logits, int offset, int vocab) {
        boolean filter = s.topK() > 0 || s.topP() < 1.0;
        if (!filter) {
            int[] all = new int[vocab];
            for (int i = 0; i < vocab; i++) all[i] = i;
            return all;
        }
        int k = s.topK() > 0 ? Math.min(s.topK(), vocab) : vocab;
        // sort (logit, id) pairs packed in longs: primitive sort, ties broken by lower id first
        long[] keys = new long[vocab];
        for (int i = 0; i < vocab; i++) keys[i] = ((long) descendingKey(logits[offset + i]) << 32) | i;
        if (k < vocab) {
            keys = smallest(keys, k);
        } else {
            Arrays.sort(keys);
        }
        int[] out = new int[k];
        for (int i = 0; i < k; i++) out[i] = (int) (keys[i] & 0xffffffffL);
        return out;
    }

    /** An int that orders floats descending when compared as signed ints. */
    private static int descendingKey(float f) {
        int bits = Float.floatToIntBits(f);
        int ascending = bits >= 0 ? bits : bits ^ 0x7fffffff;
        return ~ascending;
    }

    /** The k smallest keys, sorted, via a bounded max-heap. */
    private static long[] smallest(long[] keys, int k) {
        java.util.PriorityQueue<Long> heap = new java.util.PriorityQueue<>(k, java.util.Comparator.reverseOrder());
        for (long key : keys) {
            if (heap.size() < k) heap.add(key);
            else if (key < heap.peek()) {
                heap.poll();
                heap.add(key);
            }
        }
        long[] out = new long[heap.size()];
        for (int i = 0; i < out.length; i++) out[i] = heap.poll();
        Arrays.sort(out);
        return out;
    }
}
