package dev.steer4j.sweep;

import dev.steer4j.InvalidInputException;
import dev.steer4j.engine.BatchEngine;
import dev.steer4j.metrics.Aggregate;
import dev.steer4j.metrics.CellMetrics;
import dev.steer4j.metrics.ConceptWords;
import dev.steer4j.metrics.Evaluator;
import dev.steer4j.request.Request;
import dev.steer4j.request.Result;
import dev.steer4j.request.Steer;
import dev.steer4j.session.SteeringSession;
import dev.steer4j.steering.VectorMath;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs a sweep: every cell's continuation in one continuous-batching engine job with per-request steering (so a
 * sweep costs about what as many unsteered generations cost), then every cell measured ({@link Evaluator}) and
 * the best setting chosen ({@link Aggregate}).
 */
public final class Sweep {
    private Sweep() {}

    /** The outcome: the cells in plan order (module, coefficient, prompt, sample), the choice and the timings. */
    public record Outcome(SweepPlan plan, List<SweepCell> cells, Aggregate.Choice choice, boolean conceptWords,
                          int generations, long newTokens, double generateSeconds, double measureSeconds,
                          Map<String, Object> engine) {
        /** The cells of one setting. */
        public List<SweepCell> of(String module, double coefficient) {
            return cells.stream().filter(c -> c.module().equals(module) && c.coefficient() == coefficient).toList();
        }
    }

    /** Told how many of the generations are done, then how many cells are measured. */
    public interface Progress {
        /** Every request has passed its check: nothing the caller gave will be refused now. */
        default void checked() {}

        void generated(int done, int total);

        default void measuring(int total) {}
    }

    public static Outcome run(SteeringSession session, SweepPlan plan, ConceptWords concept, ConceptWords opposite,
                              int slots, Progress progress) {
        // one request per steered cell; one per prompt and sample for all of coefficient 0
        List<Request> requests = new ArrayList<>();
        Map<String, Integer> requestOf = new LinkedHashMap<>();
        for (String m : plan.modules()) {
            for (double c : plan.coefficients()) {
                for (int p = 0; p < plan.prompts().size(); p++) {
                    for (int k = 0; k < plan.samples(); k++) {
                        String key = key(m, c, p, k);
                        String shared = c == 0 ? key("", 0, p, k) : key;
                        Integer index = requestOf.get(shared);
                        if (index == null) {
                            index = requests.size();
                            List<Steer> steer = c == 0 ? List.of()
                                    : List.of(new Steer(m, plan.vectors().get(m), c, plan.positions(m)));
                            requests.add(new Request(String.valueOf(index), plan.prompts().get(p), steer, plan.maxNewTokens(),
                                    plan.sampling(k)));
                            requestOf.put(shared, index);
                        }
                        requestOf.put(key, index);
                    }
                }
            }
        }
        check(session, requests);
        if (progress != null) progress.checked();
        long start = System.nanoTime();
        Result[] results = new Result[requests.size()];
        Map<String, Object> stats;
        int engineSlots = Math.max(1, Math.min(slots, requests.size()));
        // chunked prefill, as the API's engines
        try (BatchEngine engine = session.engine(engineSlots, session.defaultTokenBudget(engineSlots))) {
            int[] done = {0};
            String[] failure = {null};
            engine.run(requests.iterator(), new BatchEngine.Sink() {
                @Override public void completed(Result r) {
                    results[Integer.parseInt(r.id())] = r;
                    if (progress != null) progress.generated(++done[0], requests.size());
                }

                @Override public void failed(Request r, String message) {
                    if (failure[0] == null) failure[0] = message;
                }
            });
            if (failure[0] != null) throw new InvalidInputException(failure[0]);
            stats = engine.stats();
        }
        double generateSeconds = (System.nanoTime() - start) / 1e9;
        long newTokens = 0;
        for (Result r : results) newTokens += r.newIds().length;

        List<Request> cellRequests = new ArrayList<>();
        List<Result> cellResults = new ArrayList<>();
        for (String key : keysInOrder(plan)) {
            int index = requestOf.get(key);
            cellRequests.add(requests.get(index));
            cellResults.add(results[index]);
        }
        if (progress != null) progress.measuring(cellRequests.size());
        return measure(session, plan, cellRequests, cellResults, concept, opposite, requests.size(), newTokens, generateSeconds, stats);
    }

    /**
     * Every request checked before any generation. The unsteered ones come first (a prompt that does not fit says so
     * itself); a steering entry a prompt cannot take (an aligned vector longer than the prompt) names the prompt, as
     * the engine's message does not.
     */
    private static void check(SteeringSession session, List<Request> requests) {
        for (Request r : requests) if (r.steer().isEmpty()) session.check(r);
        for (Request r : requests) {
            if (r.steer().isEmpty()) continue;
            try {
                session.check(r);
            } catch (InvalidInputException e) {
                throw new InvalidInputException("prompt \"" + r.prompt() + "\": " + e.getMessage(), e);
            }
        }
    }

    /**
     * Measures continuations generated elsewhere (the demo's), one per cell of {@code plan} in its order (module,
     * coefficient, prompt, sample), and chooses the best setting.
     */
    public static Outcome measure(SteeringSession session, SweepPlan plan, List<Request> cellRequests, List<Result> cellResults,
                                  ConceptWords concept, ConceptWords opposite, int generations, long newTokens,
                                  double generateSeconds, Map<String, Object> stats) {
        long start = System.nanoTime();
        List<Evaluator.Generated> toMeasure = new ArrayList<>();
        Map<String, float[]> directions = new LinkedHashMap<>();
        for (String m : plan.modules()) directions.put(m, direction(plan, m, session.model().width()));
        List<String> keys = keysInOrder(plan);
        for (int j = 0; j < keys.size(); j++) {
            String module = keys.get(j).substring(0, keys.get(j).indexOf('|'));
            toMeasure.add(new Evaluator.Generated(cellRequests.get(j), cellResults.get(j), module, directions.get(module)));
        }
        List<CellMetrics> metrics = Evaluator.evaluate(session, toMeasure, concept, opposite);
        double measureSeconds = (System.nanoTime() - start) / 1e9;

        List<SweepCell> cells = new ArrayList<>();
        int i = 0;
        for (String m : plan.modules()) {
            for (double c : plan.coefficients()) {
                for (int p = 0; p < plan.prompts().size(); p++) {
                    for (int k = 0; k < plan.samples(); k++, i++) {
                        cells.add(new SweepCell(m, c, p, k, toMeasure.get(i).request(), toMeasure.get(i).result(), metrics.get(i), 0));
                    }
                }
            }
        }
        boolean useConcept = !concept.isEmpty();
        List<Aggregate.Cell> scored = new ArrayList<>();
        for (SweepCell cell : cells) scored.add(aggregateCell(cells, cell, plan, useConcept));
        Aggregate.Choice choice = Aggregate.choose(scored, plan.prompts().size());
        List<SweepCell> withScores = new ArrayList<>();
        for (int j = 0; j < cells.size(); j++) withScores.add(cells.get(j).withScore(Aggregate.score(scored.get(j), choice.maxRise())));
        return new Outcome(plan, withScores, choice, useConcept, generations, newTokens, generateSeconds, measureSeconds, stats);
    }

    /**
     * The {@code [d]} direction a cell's projection is taken along: the module's vector, or an aligned vector's mean
     * over its rows, since the generated tokens lie past the positions its rows are added at.
     */
    static float[] direction(SweepPlan plan, String module, int width) {
        float[] v = plan.vectors().get(module);
        if (!plan.aligned().contains(module)) return v;
        float[][] rows = new float[v.length / width][];
        for (int p = 0; p < rows.length; p++) rows[p] = java.util.Arrays.copyOfRange(v, p * width, (p + 1) * width);
        return VectorMath.mean(rows);
    }

    /** The concept measure of the aggregate: the concept score when concept words are given, else the projection. */
    static double conceptMeasure(SweepCell c, boolean useConcept) {
        return useConcept ? c.metrics().concept() : c.metrics().projection();
    }

    private static Aggregate.Cell aggregateCell(List<SweepCell> cells, SweepCell cell, SweepPlan plan, boolean useConcept) {
        SweepCell base = baseline(cells, cell, plan);
        return new Aggregate.Cell(new Aggregate.Setting(cell.module(), cell.coefficient()), cell.prompt(),
                conceptMeasure(cell, useConcept), conceptMeasure(base, useConcept), cell.metrics().perplexity(),
                base.metrics().perplexity());
    }

    /** The unsteered cell of the same module, prompt and sample. */
    static SweepCell baseline(List<SweepCell> cells, SweepCell cell, SweepPlan plan) {
        int zero = java.util.Arrays.binarySearch(plan.coefficients(), 0.0);
        int module = plan.modules().indexOf(cell.module());
        int perModule = plan.coefficients().length * plan.prompts().size() * plan.samples();
        int perCoefficient = plan.prompts().size() * plan.samples();
        return cells.get(module * perModule + zero * perCoefficient + cell.prompt() * plan.samples() + cell.sample());
    }

    private static List<String> keysInOrder(SweepPlan plan) {
        List<String> keys = new ArrayList<>();
        for (String m : plan.modules()) {
            for (double c : plan.coefficients()) {
                for (int p = 0; p < plan.prompts().size(); p++) {
                    for (int k = 0; k < plan.samples(); k++) keys.add(key(m, c, p, k));
                }
            }
        }
        return keys;
    }

    private static String key(String module, double c, int p, int k) {
        return module + "|" + c + "|" + p + "|" + k;
    }
}
