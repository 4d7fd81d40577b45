package dev.steer4j.model;

import dev.steer4j.EngineRuns;
import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import dev.steer4j.generate.Generator;
import org.junit.jupiter.api.Test;

import static dev.steer4j.Fixtures.TOL;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** Unsteered outputs of the converted and the traced model against the reference fixtures. */
class ModelParityTest {

    @Test
    void convertedLogitsMatchReferenceForEveryPrompt() {
        checkLogits(Fixtures.converted(), "converted");
    }

    @Test
    void tracedLogitsMatchReferenceForEveryPrompt() {
        checkLogits(Fixtures.traced(), "traced");
    }

    private static void checkLogits(Gpt2Model model, String which) {
        Generator g = new Generator(model);
        for (JsonNode p : Fixtures.expected("logits.json").get("prompts")) {
            int[] ids = model.tokenizer().encode(p.get("text").asText());
            assertArrayEquals(Fixtures.ints(p.get("ids")), ids, "ids of " + p.get("text"));
            float[] logits = g.lastLogits(new int[][]{ids})[0];
            Fixtures.assertClose(Fixtures.floats(p.get("last_logits")), logits, TOL, which + " " + p.get("text"));
        }
    }

    @Test
    void leftPaddedBatchEqualsUnbatchedRuns() {
        for (Gpt2Model model : new Gpt2Model[]{Fixtures.converted(), Fixtures.traced()}) {
            Generator g = new Generator(model);
            JsonNode batch = Fixtures.expected("batch.json");
            int[][] ids = new int[3][];
            for (int i = 0; i < 3; i++) ids[i] = model.tokenizer().encode(Fixtures.PROMPTS[i]);
            float[][] batched = g.lastLogits(ids);
            Fixtures.assertClose(Fixtures.matrix(batch.get("last_logits")), batched, TOL, "batch vs reference");
            for (int i = 0; i < 3; i++) {
                float[] alone = g.lastLogits(new int[][]{ids[i]})[0];
                Fixtures.assertClose(alone, batched[i], 1e-5, "batched row " + i + " vs alone");
            }
        }
    }

    @Test
    void greedyTokensMatchReference() {
        JsonNode greedy = Fixtures.expected("greedy.json");
        for (Gpt2Model model : new Gpt2Model[]{Fixtures.converted(), Fixtures.traced()}) {
            int[] prompt = Fixtures.ints(greedy.get("ids"));
            int[][] out = EngineRuns.greedy(model, new int[][]{prompt}, 12);
            assertArrayEquals(Fixtures.ints(greedy.get("unsteered").get("new_ids")), out[0]);
        }
    }
}
