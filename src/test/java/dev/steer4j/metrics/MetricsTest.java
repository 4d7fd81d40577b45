package dev.steer4j.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import dev.steer4j.generate.Generator;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.session.Capture;
import dev.steer4j.session.Edit;
import dev.steer4j.session.SteeringSession;
import dev.steer4j.sweep.Sweep;
import dev.steer4j.sweep.SweepCell;
import dev.steer4j.sweep.SweepPlan;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The sweep's metrics against values computed here, in double, from logits reached another way: the reference
 * fixtures' last-position logits (float64 forward passes), and prefix by prefix through the last-position path with
 * the steering as a session edit (not per-request rows, not teacher forcing). Never against numbers the metrics
 * code printed.
 */
class MetricsTest {
    private static final String MODULE = "transformer.h.1";
    /** Relative tolerance: float32 logits (~2e-6 absolute) moved through softmax, sums and exp. */
    private static final double REL = 2e-5;

    private static float[] unitVector() {
        return Fixtures.floats(Fixtures.expected("actadd.json").get("last_token").get("unit_vector"));
    }

    /** Plain softmax in double: written again here so the test does not use the code it checks. */
    private static double[] probabilities(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) max = Math.max(max, x);
        double z = 0;
        double[] p = new double[logits.length];
        for (int i = 0; i < p.length; i++) z += (p[i] = Math.exp(logits[i] - max));
        for (int i = 0; i < p.length; i++) p[i] /= z;
        return p;
    }

    private static double mass(double[] p, int[] ids) {
        double s = 0;
        for (int id : ids) s += p[id];
        return s;
    }

    private static double kl(double[] p, double[] q) {
        double s = 0;
        for (int i = 0; i < p.length; i++) s += p[i] * Math.log(p[i] / q[i]);
        return s;
    }

    private static void assertRel(double expected, double actual, String what) {
        assertTrue(Math.abs(expected - actual) <= REL * Math.abs(expected) + 1e-12,
                what + ": expected " + expected + ", got " + actual);
    }

    private static SweepPlan plan(double[] coefficients, int newTokens, int samples, Long seed) {
        return new SweepPlan(List.of(MODULE), Map.of(MODULE, unitVector()), coefficients, Arrays.asList(Fixtures.PROMPTS),
                samples, seed, 1.0, newTokens);
    }

    @Test
    void oneTokenCellsMatchTheReferenceLogits() {
        JsonNode steered = Fixtures.steeredVariant("last_token_unit_every_position_c10").get("prompts");
        JsonNode plain = Fixtures.expected("logits.json").get("prompts");
        ConceptWords concept = new ConceptWords(List.of("top ten steered"), Fixtures.ints(steered.get(0).get("top10_ids")));
        ConceptWords opposite = new ConceptWords(List.of("top ten unsteered"), Fixtures.ints(plain.get(0).get("top10_ids")));
        Sweep.Outcome out;
        try (SteeringSession session = SteeringSession.open(Fixtures.converted())) {
            out = Sweep.run(session, plan(new double[]{10}, 1, 1, null), concept, opposite, 4, null);
        }
        assertEquals(6, out.cells().size(), "coefficients 0 and 10 × 3 prompts");
        for (SweepCell cell : out.cells()) {
            double[] u = probabilities(Fixtures.floats(plain.get(cell.prompt()).get("last_logits")));
            double[] p = cell.coefficient() == 0 ? u : probabilities(Fixtures.floats(steered.get(cell.prompt()).get("last_logits")));
            int token = cell.result().newIds()[0];
            String what = "c=" + cell.coefficient() + " prompt " + cell.prompt();
            assertRel(mass(p, concept.ids()), cell.metrics().concept(), what + " concept");
            assertRel(mass(p, opposite.ids()), cell.metrics().opposite(), what + " opposite");
            assertRel(1 / u[token], cell.metrics().perplexity(), what + " perplexity");
            if (cell.coefficient() == 0) assertEquals(0, cell.metrics().kl(), what + " kl");
            else assertRel(kl(p, u), cell.metrics().kl(), what + " kl");
            assertEquals(1, cell.metrics().distinct2(), "one token has no bigram");
        }
        assertTrue(out.of(MODULE, 10).get(0).metrics().kl() > 1e-4, "steering moved the distribution");
    }

    @Test
    void everyPositionMatchesPrefixRunsAndCapturedActivations() {
        Gpt2Model model = Fixtures.converted();
        JsonNode plain = Fixtures.expected("logits.json").get("prompts");
        int[] concept = Fixtures.ints(plain.get(1).get("top10_ids"));
        int[] opposite = {29, 12453, 220};
        float[] v = unitVector();
        int n = 4;
        Sweep.Outcome out;
        try (SteeringSession session = SteeringSession.open(model)) {
            out = Sweep.run(session, plan(new double[]{-10, 10}, n, 1, null), new ConceptWords(List.of("a"), concept),
                    new ConceptWords(List.of("b"), opposite), 3, null);
        }
        try (SteeringSession ref = SteeringSession.open(model)) {
            Generator lastPosition = new Generator(model, ref.hooks());
            for (SweepCell cell : out.cells()) {
                int[] prompt = cell.result().ids();
                int[] fresh = cell.result().newIds();
                assertEquals(n, fresh.length);
                int[] all = Arrays.copyOf(prompt, prompt.length + n);
                System.arraycopy(fresh, 0, all, prompt.length, n);
                double c = 0, o = 0, k = 0, nll = 0;
                for (int t = 0; t < n; t++) {
                    int[] prefix = Arrays.copyOf(all, prompt.length + t);
                    double[] u = probabilities(lastPosition.lastLogits(new int[][]{prefix})[0]);
                    double[] p = u;
                    if (cell.coefficient() != 0) {
                        Edit e = ref.add(MODULE, v, cell.coefficient());
                        p = probabilities(lastPosition.lastLogits(new int[][]{prefix})[0]);
                        e.remove();
                    }
                    c += mass(p, concept);
                    o += mass(p, opposite);
                    k += kl(p, u);
                    nll -= Math.log(u[fresh[t]]);
                }
                String what = "c=" + cell.coefficient() + " prompt " + cell.prompt();
                assertRel(c / n, cell.metrics().concept(), what + " concept");
                assertRel(o / n, cell.metrics().opposite(), what + " opposite");
                assertEquals(k / n, cell.metrics().kl(), 1e-6 + REL * k / n, what + " kl");
                assertRel(Math.exp(nll / n), cell.metrics().perplexity(), what + " perplexity");
                // projection: the unsteered activation of each new token at the module, dotted with the unit vector
                double norm = 0;
                for (float x : v) norm += (double) x * x;
                double sum = 0;
                try (Capture cap = ref.capture(MODULE, 1)) {
                    lastPosition.lastLogits(new int[][]{all});
                    for (int t = 0; t < n; t++) {
                        float[] h = cap.last().at(0, prompt.length + t);
                        double dot = 0;
                        for (int i = 0; i < h.length; i++) dot += (double) h[i] * v[i];
                        double expected = dot / Math.sqrt(norm);
                        assertEquals(expected, cell.metrics().tokenProjections()[t], 2e-5, what + " token " + t + " projection");
                        sum += expected;
                    }
                }
                assertEquals(sum / n, cell.metrics().projection(), 2e-5, what + " projection");
            }
        }
    }

    @Test
    void sweepCellsEqualTheSameRequestsRunOneByOne() {
        Sweep.Outcome out;
        try (SteeringSession session = SteeringSession.open(Fixtures.converted())) {
            SweepPlan plan = new SweepPlan(List.of("transformer.h.0", MODULE), Map.of("transformer.h.0", unitVector(),
                    MODULE, unitVector()), new double[]{-4, 4}, Arrays.asList(Fixtures.PROMPTS), 2, 7L, 1.0, 5);
            out = Sweep.run(session, plan, ConceptWords.NONE, ConceptWords.NONE, 5, null);
            assertEquals(2 * 3 * 3 * 2, out.cells().size(), "modules × coefficients (0 added) × prompts × samples");
            assertEquals(2 * 2 * 3 * 2 + 3 * 2, out.generations(), "both modules' unsteered cells share one generation");
            for (SweepCell cell : out.cells()) {
                var alone = session.run(List.of(cell.request())).get(0);
                assertEquals(Arrays.toString(alone.newIds()), Arrays.toString(cell.result().newIds()),
                        "c=" + cell.coefficient() + " prompt " + cell.prompt() + " sample " + cell.sample());
                assertEquals(7L + cell.sample(), cell.request().sampling().seed());
                assertTrue(Double.isNaN(cell.metrics().concept()), "no concept words: no concept score");
            }
        }
    }
}
