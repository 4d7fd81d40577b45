package dev.steer4j.hooks;

import dev.steer4j.EngineRuns;
import dev.steer4j.request.Positions;
import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import dev.steer4j.InvalidInputException;
import dev.steer4j.generate.Generator;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Tensors;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

import static dev.steer4j.Fixtures.TOL;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Steering under left padding, one vector per batch row, and two threads on one loaded model. */
class BatchAndThreadsTest {
    static final String H1 = "transformer.h.1";

    static int[][] prompts(Gpt2Model m) {
        int[][] ids = new int[3][];
        for (int i = 0; i < 3; i++) ids[i] = m.tokenizer().encode(Fixtures.PROMPTS[i]);
        return ids;
    }

    @Test
    void steeredLeftPaddedBatchEqualsReferenceUnbatchedSteeredRuns() {
        Gpt2Model model = Fixtures.converted();
        for (JsonNode variant : Fixtures.expected("steered_logits.json").get("variants")) {
            try (HookedModel hm = new HookedModel(model)) {
                hm.hookOutput(H1, HookEngineTest.variantOp(variant));
                float[][] batched = new Generator(hm.model(), hm).lastLogits(prompts(model));
                for (int i = 0; i < 3; i++) {
                    Fixtures.assertClose(Fixtures.floats(variant.get("prompts").get(i).get("last_logits")), batched[i], TOL,
                            variant.get("name").asText() + " batched row " + i);
                }
            }
        }
    }

    @Test
    void perRowVectorsInOneBatchEqualSeparateRuns() {
        Gpt2Model model = Fixtures.converted();
        JsonNode actadd = Fixtures.expected("actadd.json");
        float[] mean = Fixtures.floats(actadd.get("mean_vector"));
        float[] unit = Fixtures.floats(actadd.get("last_token").get("unit_vector"));
        float[][] rows = {scaled(mean, 4), scaled(unit, 10), scaled(mean, -2)};
        int[][] ids = prompts(model);
        float[][] batched;
        int[][] batchedGreedy;
        try (HookedModel hm = new HookedModel(model)) {
            float[] flat = new float[3 * 32];
            for (int b = 0; b < 3; b++) System.arraycopy(rows[b], 0, flat, 32 * b, 32);
            hm.hookOutput(H1, new HookOp.Add(Tensors.floats(flat, new long[]{3, 32}, model.device(), ScalarType.Float),
                    1.0, Positions.ALL, true));
            batched = new Generator(hm.model(), hm).lastLogits(ids);
            batchedGreedy = EngineRuns.greedy(hm, ids, 6);
            assertThrows(InvalidInputException.class, () -> new Generator(hm.model(), hm).lastLogits(new int[][]{ids[0]}), "row count must match");
        }
        for (int b = 0; b < 3; b++) {
            try (HookedModel hm = new HookedModel(model)) {
                hm.hookOutput(H1, new HookOp.Add(Tensors.floats(rows[b], new long[]{32}, model.device(), ScalarType.Float),
                        1.0, Positions.ALL, false));
                Fixtures.assertClose(new Generator(hm.model(), hm).lastLogits(new int[][]{ids[b]})[0], batched[b], 1e-5, "row " + b);
                assertArrayEquals(EngineRuns.greedy(hm, new int[][]{ids[b]}, 6)[0], batchedGreedy[b]);
            }
        }
    }

    @Test
    void positionsCountFromEachRowsFirstRealTokenThroughTheKvCache() {
        // "generated" steering changes nothing in the prompt logits and everything after; "prompt" the reverse
        Gpt2Model model = Fixtures.converted();
        float[] mean = Fixtures.floats(Fixtures.expected("actadd.json").get("mean_vector"));
        int[][] ids = prompts(model);
        float[][] plain = new Generator(model).lastLogits(ids);
        try (HookedModel hm = new HookedModel(model)) {
            hm.hookOutput(H1, new HookOp.Add(Tensors.floats(mean, new long[]{32}, model.device(), ScalarType.Float),
                    4, Positions.GENERATED, false));
            float[][] steered = new Generator(hm.model(), hm).lastLogits(ids);
            for (int i = 0; i < 3; i++) assertArrayEquals(plain[i], steered[i]);
        }
        // from:K with K = prompt length equals "generated" for every row of a left-padded batch
        int[][] a;
        int[][] b;
        try (HookedModel hm = new HookedModel(model)) {
            hm.hookOutput(H1, new HookOp.Add(Tensors.floats(mean, new long[]{32}, model.device(), ScalarType.Float),
                    40, Positions.GENERATED, false));
            a = EngineRuns.greedy(hm, ids, 8);
        }
        int[][] unsteered = EngineRuns.greedy(model, ids, 8);
        for (int r = 0; r < 3; r++) {
            try (HookedModel hm = new HookedModel(model)) {
                hm.hookOutput(H1, new HookOp.Add(Tensors.floats(mean, new long[]{32}, model.device(), ScalarType.Float),
                        40, Positions.from(ids[r].length), false));
                b = EngineRuns.greedy(hm, new int[][]{ids[r]}, 8);
            }
            assertArrayEquals(a[r], b[0], "row " + r);
            org.junit.jupiter.api.Assertions.assertFalse(java.util.Arrays.equals(a[r], unsteered[r]), "steering had an effect");
        }
    }

    @Test
    void alignedVectorLongerThanThePromptIsAClearError() {
        Gpt2Model model = Fixtures.converted();
        try (HookedModel hm = new HookedModel(model)) {
            hm.hookOutput(H1, new HookOp.Add(Tensors.floats(new float[4 * 32], new long[]{4, 32}, model.device(), ScalarType.Float),
                    1, Positions.ALIGNED, false));
            assertThrows(InvalidInputException.class, () -> new Generator(hm.model(), hm).lastLogits(new int[][]{{1, 2, 3}}));
        }
    }

    @Test
    void twoThreadsWithDifferentSteeringOnOneModelDoNotSeeEachOther() throws Exception {
        Gpt2Model model = Fixtures.converted();
        JsonNode actadd = Fixtures.expected("actadd.json");
        float[] mean = Fixtures.floats(actadd.get("mean_vector"));
        float[] unit = Fixtures.floats(actadd.get("last_token").get("unit_vector"));
        int[] prompt = model.tokenizer().encode(Fixtures.PROMPTS[0]);
        float[] expectMean = expectedLast("mean_every_position_c4");
        float[] expectUnit = expectedLast("last_token_unit_every_position_c10");
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<Void>> done = new ArrayList<>();
            for (int k = 0; k < 2; k++) {
                float[] v = k == 0 ? mean : unit;
                double c = k == 0 ? 4 : 10;
                float[] expected = k == 0 ? expectMean : expectUnit;
                done.add(pool.submit((Callable<Void>) () -> {
                    try (HookedModel hm = new HookedModel(model)) {
                        hm.hookOutput(H1, new HookOp.Add(Tensors.floats(v, new long[]{32}, model.device(), ScalarType.Float),
                                c, Positions.ALL, false));
                        Generator g = new Generator(hm.model(), hm);
                        for (int i = 0; i < 30; i++) {
                            Fixtures.assertClose(expected, g.lastLogits(new int[][]{prompt})[0], TOL, "thread " + c + " iter " + i);
                        }
                    }
                    return null;
                }));
            }
            for (Future<Void> f : done) f.get();
        } finally {
            pool.shutdownNow();
        }
    }

    static float[] expectedLast(String variant) {
        for (JsonNode v : Fixtures.expected("steered_logits.json").get("variants")) {
            if (v.get("name").asText().equals(variant)) return Fixtures.floats(v.get("prompts").get(0).get("last_logits"));
        }
        throw new IllegalArgumentException(variant);
    }

    static float[] scaled(float[] v, double c) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) out[i] = (float) (v[i] * c);
        return out;
    }
}
