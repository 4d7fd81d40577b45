package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import org.junit.jupiter.api.Test;

class LogitsCommandTest {
    @Test
    void convertedModelBatchMatchesReference() {
        ConvertCommandTest.assertReferenceLogits(Cli.convertedModel(), Fixtures.TOL);
    }

    @Test
    void tracedModelBatchMatchesReference() {
        JsonNode expected = Fixtures.expected("logits.json").get("prompts");
        JsonNode results = Cli.run("logits", "--model", Fixtures.TRACED.toString(),
                "--tokenizer", Fixtures.TOKENIZER.toString(), "--json",
                "--prompt", Fixtures.PROMPTS[0], "--prompt", Fixtures.PROMPTS[1], "--prompt", Fixtures.PROMPTS[2])
                .okJson().get("results");
        for (int i = 0; i < 3; i++) {
            Fixtures.assertClose(Fixtures.floats(expected.get(i).get("last_logits")),
                    Fixtures.floats(results.get(i).get("logits")), Fixtures.TOL, "traced prompt " + i);
        }
    }

    @Test
    void humanOutputListsTopTenLikeReference() {
        JsonNode e = Fixtures.expected("logits.json").get("prompts").get(2);
        Cli.Result r = Cli.run("logits", "--model", Cli.convertedModel().toString(), "--prompt", Fixtures.PROMPTS[2]);
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().strip().split("\n");
        assertEquals(11, lines.length, r.out());
        int[] top = Fixtures.ints(e.get("top10_ids"));
        for (int k = 0; k < 10; k++) {
            assertTrue(lines[k + 1].trim().split("\\s+")[1].equals(String.valueOf(top[k])), lines[k + 1]);
        }
    }

    @Test
    void topIdsOrdersLargestFirst() {
        assertArrayEquals(new int[] {3, 1, 0}, LogitsCommand.topIds(new float[] {1, 5, -2, 7, 0.5f}, 3));
        assertArrayEquals(new int[] {1, 0}, LogitsCommand.topIds(new float[] {1, 2}, 10));
    }
}
