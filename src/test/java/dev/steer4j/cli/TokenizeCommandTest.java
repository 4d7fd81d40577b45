package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import org.junit.jupiter.api.Test;

class TokenizeCommandTest {
    @Test
    void referencePromptsAsJson() {
        JsonNode expected = Fixtures.expected("logits.json").get("prompts");
        JsonNode results = Cli.run("tokenize", "--model", Cli.convertedModel().toString(), "--json",
                "--text", Fixtures.PROMPTS[0], "--text", Fixtures.PROMPTS[1], "--text", Fixtures.PROMPTS[2])
                .okJson().get("results");
        assertEquals(3, results.size());
        for (int i = 0; i < 3; i++) {
            assertEquals(Fixtures.PROMPTS[i], results.get(i).get("text").asText());
            assertArrayEquals(Fixtures.ints(expected.get(i).get("ids")), Fixtures.ints(results.get(i).get("ids")));
        }
    }

    @Test
    void foreignModelWithTokenizerDirAndEmptyText() {
        JsonNode results = Cli.run("tokenize", "--model", Fixtures.TRACED.toString(),
                "--tokenizer", Fixtures.TOKENIZER.toString(), "--json", "--text", " Love", "--text", "")
                .okJson().get("results");
        assertArrayEquals(new int[] {5896}, Fixtures.ints(results.get(0).get("ids")));
        assertEquals(0, results.get(1).get("ids").size());
    }

    @Test
    void humanOutputAndBuiltInModel() {
        Cli.Result r = Cli.run("tokenize", "--text", "Love");
        assertEquals(0, r.code(), r.err());
        assertEquals("\"Love\" -> [18565]", r.out().strip());
    }
}
