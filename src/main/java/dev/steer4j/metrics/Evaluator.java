package dev.steer4j.metrics;

import dev.steer4j.hooks.Activation;
import dev.steer4j.request.Request;
import dev.steer4j.request.Result;
import dev.steer4j.session.Capture;
import dev.steer4j.session.SteeringSession;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Measures generated continuations by teacher forcing: each prompt + continuation runs forward once under its
 * request's steering (the next-token distributions it was sampled from) and once unsteered (the reference the
 * steering is measured against, and the activations of the heat map), in batches of {@link #CHUNK} rows.
 * Continuations with the same tokens share their unsteered pass; unsteered ones need no steered pass.
 */
public final class Evaluator {
    /** Rows per forward pass: their logits at every position (rows × tokens × vocabulary floats) are held at once. */
    static final int CHUNK = 8;

    /**
     * One continuation to measure: the request that produced it (its steering is re-applied), its result, and the
     * module and vector whose projection the heat map shows.
     */
    public record Generated(Request request, Result result, String module, float[] vector) {
        int[] tokens() {
            int[] all = Arrays.copyOf(result.ids(), result.ids().length + result.newIds().length);
            System.arraycopy(result.newIds(), 0, all, result.ids().length, result.newIds().length);
            return all;
        }

        String key() {
            return Arrays.toString(tokens());
        }
    }

    private Evaluator() {}

    /** The metrics of each continuation, in order. Every continuation must have at least one new token. */
    public static List<CellMetrics> evaluate(SteeringSession session, List<Generated> cells, ConceptWords concept,
                                             ConceptWords opposite) {
        for (Generated g : cells) {
            if (g.result().newIds().length == 0) {
                throw new dev.steer4j.InvalidInputException("request " + g.request().id() + " generated no tokens: nothing to measure");
            }
        }
        // equal token sequences next to each other, so that one chunk's unsteered pass serves them all
        Integer[] order = new Integer[cells.size()];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, Comparator.comparing(i -> cells.get(i).key()));
        Set<String> modules = new LinkedHashSet<>();
        for (Generated g : cells) modules.add(g.module());
        CellMetrics[] out = new CellMetrics[cells.size()];
        Map<String, Capture> captures = new LinkedHashMap<>();
        try {
            for (String m : modules) captures.put(m, session.capture(m, 1));
            for (int from = 0; from < order.length; from += CHUNK) {
                List<Integer> chunk = Arrays.asList(order).subList(from, Math.min(order.length, from + CHUNK));
                measure(session, cells, chunk, captures, concept, opposite, out);
            }
        } finally {
            for (Capture c : captures.values()) c.remove();
        }
        return List.of(out);
    }

    private static void measure(SteeringSession session, List<Generated> cells, List<Integer> chunk,
                                Map<String, Capture> captures, ConceptWords concept, ConceptWords opposite, CellMetrics[] out) {
        // the unsteered pass: one row per distinct token sequence
        Map<String, Integer> rowOf = new HashMap<>();
        List<Generated> plain = new ArrayList<>();
        for (int i : chunk) {
            Generated g = cells.get(i);
            if (rowOf.putIfAbsent(g.key(), plain.size()) == null) plain.add(g);
        }
        float[][][] unsteered = logits(session, plain, true);
        Map<String, Activation> acts = new HashMap<>();
        for (var e : captures.entrySet()) acts.put(e.getKey(), e.getValue().last());
        // the steered pass: one row per steered continuation
        List<Generated> steered = new ArrayList<>();
        for (int i : chunk) if (!cells.get(i).request().steer().isEmpty()) steered.add(cells.get(i));
        float[][][] steeredLogits = steered.isEmpty() ? new float[0][][] : logits(session, steered, false);
        Map<Integer, double[][]> unsteeredLogp = new HashMap<>();
        int s = 0;
        for (int i : chunk) {
            Generated g = cells.get(i);
            int row = rowOf.get(g.key());
            double[][] lu = unsteeredLogp.computeIfAbsent(row, r -> logSoftmax(unsteered[r]));
            double[][] ls = g.request().steer().isEmpty() ? lu : logSoftmax(steeredLogits[s++]);
            float[] proj = projections(acts.get(g.module()), row, g, plain);
            out[i] = metrics(g, lu, ls, proj, concept, opposite);
        }
    }

    /** Each row's logits at the positions that predict its new tokens: [rows][n][V]. */
    private static float[][][] logits(SteeringSession session, List<Generated> rows, boolean unsteered) {
        List<Request> requests = new ArrayList<>();
        int[][] ids = new int[rows.size()][];
        int[] from = new int[rows.size()];
        for (int b = 0; b < rows.size(); b++) {
            Generated g = rows.get(b);
            Request r = g.request();
            requests.add(unsteered ? new Request(r.id(), r.prompt(), List.of(), r.maxNewTokens(), r.sampling()) : r);
            int[] all = g.tokens();
            // the last new token's own prediction is not needed: drop it, predictions of tokens P..P+n-1 remain
            ids[b] = unsteered ? all : Arrays.copyOf(all, all.length - 1);
            from[b] = g.result().ids().length - 1;
        }
        float[][][] l = session.requestPositionLogits(requests, ids, from);
        if (unsteered) {
            for (int b = 0; b < l.length; b++) l[b] = Arrays.copyOf(l[b], l[b].length - 1);
        }
        return l;
    }

    private static double[][] logSoftmax(float[][] logits) {
        double[][] out = new double[logits.length][];
        for (int t = 0; t < logits.length; t++) out[t] = NextToken.logSoftmax(logits[t]);
        return out;
    }

    /** Each new token's activation (the unsteered pass's, left-padded row {@code row}) dotted with the unit vector. */
    private static float[] projections(Activation a, int row, Generated g, List<Generated> plain) {
        int promptLength = g.result().ids().length;
        int n = g.result().newIds().length;
        int width = (int) a.shape()[1];
        int length = plain.get(row).tokens().length;
        double norm = 0;
        for (float x : g.vector()) norm += (double) x * x;
        norm = Math.sqrt(norm);
        float[] out = new float[n];
        for (int t = 0; t < n; t++) {
            float[] h = a.at(row, width - length + promptLength + t);
            double dot = 0;
            for (int k = 0; k < h.length; k++) dot += (double) h[k] * g.vector()[k];
            out[t] = (float) (norm == 0 ? 0 : dot / norm);
        }
        return out;
    }

    private static CellMetrics metrics(Generated g, double[][] lu, double[][] ls, float[] proj, ConceptWords concept,
                                       ConceptWords opposite) {
        int[] fresh = g.result().newIds();
        int n = fresh.length;
        double c = 0, o = 0, kl = 0, nll = 0, p = 0;
        for (int t = 0; t < n; t++) {
            c += NextToken.mass(ls[t], concept.ids());
            o += NextToken.mass(ls[t], opposite.ids());
            kl += NextToken.kl(ls[t], lu[t]);
            nll -= lu[t][fresh[t]];
            p += proj[t];
        }
        return new CellMetrics(concept.isEmpty() ? Double.NaN : c / n, opposite.isEmpty() ? Double.NaN : o / n, p / n,
                kl / n, Math.exp(nll / n), Repetition.distinct2(fresh), proj);
    }
}
