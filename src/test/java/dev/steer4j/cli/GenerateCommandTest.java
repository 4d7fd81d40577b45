package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import org.junit.jupiter.api.Test;

class GenerateCommandTest {
    private static final String PROMPT = "I think dogs are ";

    @Test
    void greedyMatchesReference() {
        JsonNode greedy = Fixtures.expected("greedy.json");
        for (String[] model : new String[][] {
                {"--model", Cli.convertedModel().toString()},
                {"--model", Fixtures.TRACED.toString(), "--tokenizer", Fixtures.TOKENIZER.toString()}}) {
            JsonNode r = run(model, "--greedy", "--max-new-tokens", "12", "--prompt", PROMPT, "--json")
                    .okJson().get("results").get(0);
            assertEquals(PROMPT, r.get("prompt").asText());
            assertArrayEquals(Fixtures.ints(greedy.get("ids")), Fixtures.ints(r.get("ids")));
            assertArrayEquals(Fixtures.ints(greedy.get("unsteered").get("new_ids")), Fixtures.ints(r.get("new_ids")));
            assertEquals(greedy.get("unsteered").get("text").asText(), r.get("text").asText());
        }
    }

    @Test
    void greedyIsTheDefault() {
        JsonNode greedy = Fixtures.expected("greedy.json");
        JsonNode r = Cli.run("generate", "--model", Cli.convertedModel().toString(), "--max-new-tokens", "12",
                "--prompt", PROMPT, "--json").okJson().get("results").get(0);
        assertArrayEquals(Fixtures.ints(greedy.get("unsteered").get("new_ids")), Fixtures.ints(r.get("new_ids")));
    }

    @Test
    void seededSamplingRepeatsAndSeedsDiffer() {
        String a = sample("7");
        assertEquals(a, sample("7"));
        int differing = 0;
        for (String seed : new String[] {"8", "9", "10"}) {
            if (!sample(seed).equals(a)) differing++;
        }
        assertTrue(differing >= 2, "different seeds should usually give different tokens");
    }

    @Test
    void batchOfPromptsAndHumanOutputWithProgress() {
        Cli.Result r = Cli.run("generate", "--model", Cli.convertedModel().toString(), "--max-new-tokens", "40",
                "--prompt", Fixtures.PROMPTS[1], "--prompt", Fixtures.PROMPTS[2]);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith(Fixtures.PROMPTS[1]), r.out());
        assertTrue(r.out().contains("\n\n" + Fixtures.PROMPTS[2]), r.out());
        assertTrue(r.err().contains("generating"), "progress bar on stderr: " + r.err());
    }

    @Test
    void greedyWithSamplingFlagsIsBadInput() {
        String msg = Cli.run("generate", "--prompt", PROMPT, "--greedy", "--temperature", "0.7").badInput();
        assertTrue(msg.contains("--greedy"), msg);
    }

    @Test
    void badSamplingValuesAreBadInput() {
        Cli.run("generate", "--prompt", PROMPT, "--temperature", "0").badInput();
        Cli.run("generate", "--prompt", PROMPT, "--top-p", "1.5").badInput();
        Cli.run("generate", "--prompt", PROMPT, "--max-new-tokens", "many").badInput();
    }

    @Test
    void promptTooLongForPositionsIsBadInput() {
        String msg = Cli.run("generate", "--model", Cli.convertedModel().toString(), "--prompt", PROMPT,
                "--max-new-tokens", "60").badInput();
        assertTrue(msg.contains("64 positions"), msg);
        msg = Cli.run("logits", "--model", Cli.convertedModel().toString(), "--prompt", "word ".repeat(70)).badInput();
        assertTrue(msg.contains("64 positions"), msg);
    }

    @Test
    void emptyPromptIsBadInput() {
        String msg = Cli.run("generate", "--model", Cli.convertedModel().toString(), "--prompt", "").badInput();
        assertTrue(msg.contains("no tokens"), msg);
    }

    private static String sample(String seed) {
        return run(new String[] {"--model", Cli.convertedModel().toString()}, "--max-new-tokens", "8",
                "--temperature", "1.5", "--top-k", "50", "--top-p", "0.95", "--seed", seed,
                "--prompt", PROMPT, "--prompt", "Today I feel", "--json").okJson().get("results").toString();
    }

    private static Cli.Result run(String[] model, String... rest) {
        String[] args = new String[1 + model.length + rest.length];
        args[0] = "generate";
        System.arraycopy(model, 0, args, 1, model.length);
        System.arraycopy(rest, 0, args, 1 + model.length, rest.length);
        return Cli.run(args);
    }
}
