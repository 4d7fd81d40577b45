package dev.steer4j.session;

import dev.steer4j.request.Result;
import dev.steer4j.request.Steer;
import dev.steer4j.request.Request;
import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import dev.steer4j.request.Sampling;
import dev.steer4j.hooks.Activation;
import dev.steer4j.request.Positions;
import dev.steer4j.model.Gpt2Model;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Each request of a batch carries its own steering; each row equals its request run alone. */
class PerRequestSteeringTest {
    static final String H1 = "transformer.h.1";
    static final String H0 = "transformer.h.0";
    static final double BATCH_TOL = 1e-5;

    static final JsonNode ACTADD = Fixtures.expected("actadd.json");
    static final float[] MEAN = Fixtures.floats(ACTADD.get("mean_vector"));
    static final float[] UNIT = Fixtures.floats(ACTADD.get("last_token").get("unit_vector"));
    static final float[] ALIGNED = flat(Fixtures.matrix(ACTADD.get("steering_vector")));

    static float[] flat(float[][] m) {
        float[] out = new float[m.length * m[0].length];
        for (int i = 0; i < m.length; i++) System.arraycopy(m[i], 0, out, i * m[0].length, m[i].length);
        return out;
    }

    /** The reference's steered logits, one variant per request, all in one left-padded batch. */
    @Test
    void aBatchOfReferenceVariantsMatchesTheReferencePerRow() {
        Gpt2Model model = Fixtures.converted();
        List<Request> requests = new ArrayList<>();
        List<float[]> expected = new ArrayList<>();
        JsonNode variants = Fixtures.expected("steered_logits.json").get("variants");
        int p = 0;
        for (JsonNode v : variants) {
            for (int i = 0; i < 3; i++, p++) {
                requests.add(new Request("r" + p, Fixtures.PROMPTS[i], List.of(steerFor(v)), 0, Sampling.GREEDY));
                expected.add(Fixtures.floats(v.get("prompts").get(i).get("last_logits")));
            }
        }
        try (SteeringSession s = SteeringSession.open(model)) {
            float[][] logits = s.requestLogits(requests);
            for (int b = 0; b < logits.length; b++) {
                Fixtures.assertClose(expected.get(b), logits[b], Fixtures.TOL, "request " + b);
            }
        }
    }

    static Steer steerFor(JsonNode variant) {
        double c = variant.get("coefficient").asDouble();
        return switch (variant.get("kind").asText()) {
            case "aligned" -> new Steer(H1, ALIGNED, c, Positions.ALIGNED);
            case "mean" -> new Steer(H1, MEAN, c);
            case "last_token_unit" -> new Steer(H1, UNIT, c);
            default -> throw new IllegalArgumentException(variant.get("kind").asText());
        };
    }

    /** Every position mode, K distinct configurations (some rows unsteered, one with two entries) in one batch. */
    @Test
    void mixedConfigurationsEqualSingleRunsForEveryPositionMode() {
        Gpt2Model model = Fixtures.converted();
        List<Request> requests = new ArrayList<>();
        String[] prompts = {"I think dogs are ", "Today I feel", "The capital of France is", "Hello", "A"};
        List<List<Steer>> configs = List.of(
                List.of(new Steer(H1, MEAN, 4)),
                List.of(new Steer(H1, UNIT, -3, Positions.PROMPT)),
                List.of(new Steer(H1, MEAN, 2, Positions.GENERATED)),
                List.of(),
                List.of(new Steer(H0, UNIT, 5, Positions.from(2)), new Steer(H1, MEAN, -1)),
                List.of(new Steer(H1, ALIGNED, 4, Positions.ALIGNED)),
                List.of(new Steer(H1, MEAN, 4), new Steer(H1, UNIT, 2)));
        for (int k = 0; k < configs.size(); k++) {
            String prompt = prompts[k % prompts.length];
            if (configs.get(k).stream().anyMatch(st -> st.positions().kind() == Positions.Kind.ALIGNED)) {
                prompt = "I think dogs are "; // at least as long as the aligned vector
            }
            requests.add(new Request("r" + k, prompt, configs.get(k), 6 + k % 3, Sampling.GREEDY));
        }
        try (SteeringSession batch = SteeringSession.open(model)) {
            float[][] logits = batch.requestLogits(requests);
            List<Result> results = batch.run(requests);
            for (int k = 0; k < requests.size(); k++) {
                Request r = requests.get(k);
                try (SteeringSession alone = SteeringSession.open(model)) {
                    for (Steer st : r.steer()) alone.add(st.module(), st.vector(), st.coefficient(), st.positions());
                    Fixtures.assertClose(alone.logits(List.of(r.prompt()))[0], logits[k], BATCH_TOL, "logits of request " + k);
                    int[] single = alone.generate(List.of(r.prompt()), r.maxNewTokens(), Sampling.GREEDY).get(0).newIds();
                    assertArrayEquals(single, results.get(k).newIds(), "tokens of request " + k);
                    assertEquals(r.id(), results.get(k).id());
                }
            }
        }
    }

    /** A coefficient sweep as one batch equals one run per coefficient. */
    @Test
    void aSweepOfEightCoefficientsInOneBatchEqualsEightRuns() {
        Gpt2Model model = Fixtures.converted();
        double[] coefficients = {-8, -4, -2, -1, 1, 2, 4, 8};
        List<Request> sweep = new ArrayList<>();
        for (double c : coefficients) {
            sweep.add(new Request("c" + c, "I think dogs are ", List.of(new Steer(H1, UNIT, c)), 10, Sampling.GREEDY));
        }
        try (SteeringSession s = SteeringSession.open(model); SteeringSession alone = SteeringSession.open(model)) {
            float[][] logits = s.requestLogits(sweep);
            List<Result> results = s.run(sweep);
            Edit e = alone.add(H1, UNIT, 1);
            for (int k = 0; k < coefficients.length; k++) {
                e.setCoefficient(coefficients[k]);
                Fixtures.assertClose(alone.logits(List.of("I think dogs are "))[0], logits[k], BATCH_TOL, "c=" + coefficients[k]);
                assertArrayEquals(alone.generate(List.of("I think dogs are "), 10, Sampling.GREEDY).get(0).newIds(),
                        results.get(k).newIds(), "c=" + coefficients[k]);
            }
            assertNotEquals(List.of(results.get(0).newIds()), List.of(results.get(7).newIds())); // the sweep steers
        }
    }

    /** A capture during a mixed batch sees, in row b, what it sees when request b runs alone. */
    @Test
    void capturesInAMixedBatchEqualSingleRuns() {
        Gpt2Model model = Fixtures.converted();
        List<Request> requests = List.of(
                new Request("a", "I think dogs are ", List.of(new Steer(H0, MEAN, 3)), 0, Sampling.GREEDY),
                new Request("b", "Today", List.of(), 0, Sampling.GREEDY),
                new Request("c", "The capital of France is", List.of(new Steer(H0, UNIT, -5, Positions.PROMPT)), 0,
                        Sampling.GREEDY));
        try (SteeringSession s = SteeringSession.open(model)) {
            Capture tap = s.capture(H1, 1);
            s.requestLogits(requests);
            Activation batched = tap.last();
            int width = (int) batched.shape()[1];
            for (int b = 0; b < requests.size(); b++) {
                Request r = requests.get(b);
                try (SteeringSession alone = SteeringSession.open(model)) {
                    for (Steer st : r.steer()) alone.add(st.module(), st.vector(), st.coefficient(), st.positions());
                    Capture single = alone.capture(H1, 1);
                    alone.logits(List.of(r.prompt()));
                    Activation one = single.last();
                    int length = (int) one.shape()[1];
                    for (int t = 0; t < length; t++) {
                        Fixtures.assertClose(one.at(0, t), batched.at(b, width - length + t), BATCH_TOL,
                                "request " + b + " position " + t);
                    }
                }
            }
        }
    }

    /** Seeded sampling: a request draws the same tokens whatever shares its batch; limits are per request. */
    @Test
    void sampledRequestsAndLimitsAreIndependentOfTheBatch() {
        Gpt2Model model = Fixtures.converted();
        Request sampled = new Request("s", "Today I feel", List.of(new Steer(H1, MEAN, 2)), 9,
                Sampling.sample(0.9, 40, 0.95, 7));
        Request greedy = new Request("g", "I think dogs are ", List.of(), 3, Sampling.GREEDY);
        Request other = new Request("o", "Hello", List.of(new Steer(H1, UNIT, 6)), 12, Sampling.sample(1.2, 0, 1.0, 99));
        try (SteeringSession s = SteeringSession.open(model)) {
            List<Result> mixed = s.run(List.of(greedy, sampled, other));
            List<Result> alone = s.run(List.of(sampled));
            assertArrayEquals(alone.get(0).newIds(), mixed.get(1).newIds());
            assertEquals(3, mixed.get(0).newIds().length);
            assertEquals(Result.FinishReason.LENGTH, mixed.get(0).finishReason());
            assertArrayEquals(s.run(List.of(greedy)).get(0).newIds(), mixed.get(0).newIds());
        }
    }

    @Test
    void badEntriesAreRefusedBeforeAnyWork() {
        Gpt2Model model = Fixtures.converted();
        try (SteeringSession s = SteeringSession.open(model)) {
            assertThrows(dev.steer4j.InvalidInputException.class, () -> s.run(List.of(
                    new Request("x", "Hi", List.of(new Steer("transformer.h.9", MEAN, 1)), 2, Sampling.GREEDY))));
            assertThrows(dev.steer4j.InvalidInputException.class, () -> s.run(List.of(
                    new Request("x", "Hi", List.of(new Steer(H1, new float[5], 1)), 2, Sampling.GREEDY))));
            assertThrows(dev.steer4j.InvalidInputException.class, () -> s.run(List.of(
                    new Request("x", "Hi", List.of(new Steer(H1, ALIGNED, 1, Positions.ALIGNED)), 2, Sampling.GREEDY))));
            // after refusals the session runs unsteered as before
            float[] plain = s.logits(List.of("Hi"))[0];
            try (SteeringSession fresh = SteeringSession.open(model)) {
                assertArrayEquals(fresh.logits(List.of("Hi"))[0], plain);
            }
        }
    }
}
