package dev.steer4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import dev.steer4j.steering.VectorFiles;
import dev.steer4j.steering.io.VectorSet;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static dev.steer4j.Fixtures.TOL;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code logits} and {@code generate} with {@code --requests}: per-line steering in one batch, bad lines refused. */
class RequestsCommandTest {
    static final String H1 = "transformer.h.1";

    static Path lines(Path dir, String... lines) throws IOException {
        Path f = dir.resolve("requests.jsonl");
        Files.writeString(f, String.join("\n", lines) + "\n", StandardCharsets.UTF_8);
        return f;
    }

    @Test
    void eachLineIsSteeredByItsOwnEntriesLikeTheReference(@TempDir Path dir) throws IOException {
        Fixtures.writeVectors(dir);
        String[] p = Fixtures.PROMPTS;
        Path requests = lines(dir,
                "{\"id\": \"a\", \"prompt\": \"" + p[0] + "\", \"steer\": [{\"file\": \"last.safetensors\", \"coef\": 10}]}",
                "{\"id\": \"b\", \"prompt\": \"" + p[1] + "\", \"steer\": [{\"file\": \"mean.safetensors\", \"coef\": -2, \"positions\": \"all\"}]}",
                "{\"id\": 7, \"prompt\": \"" + p[2] + "\", \"steer\": [{\"file\": \"aligned.safetensors\", \"coef\": 4, \"positions\": \"aligned\", \"module\": \"" + H1 + "\"}]}",
                "",
                "{\"prompt\": \"" + p[1] + "\"}",
                "{\"id\": \"plain\", \"prompt\": \"" + p[0] + "\", \"steer\": []}");
        // the line without "steer" gets the global --steer; "steer": [] means unsteered
        JsonNode out = Cli.run("logits", "--model", Cli.convertedModel().toString(), "--requests", requests.toString(),
                "--steer", dir.resolve("mean.safetensors") + "*4", "--json").okJson().get("results");
        assertEquals(5, out.size());
        assertEquals(List.of("a", "b", "7", "5", "plain"),
                List.of(out.get(0).get("id").asText(), out.get(1).get("id").asText(), out.get(2).get("id").asText(),
                        out.get(3).get("id").asText(), out.get(4).get("id").asText()));
        check(out.get(0), Fixtures.steeredVariant("last_token_unit_every_position_c10").get("prompts").get(0));
        check(out.get(1), Fixtures.steeredVariant("mean_every_position_c-2").get("prompts").get(1));
        check(out.get(2), Fixtures.steeredVariant("actadd_aligned_c4").get("prompts").get(2));
        check(out.get(3), Fixtures.steeredVariant("mean_every_position_c4").get("prompts").get(1));
        Fixtures.assertClose(Fixtures.floats(Fixtures.expected("logits.json").get("prompts").get(0).get("last_logits")),
                Fixtures.floats(out.get(4).get("logits")), TOL, "unsteered line");
    }

    private static void check(JsonNode result, JsonNode expected) {
        Fixtures.assertClose(Fixtures.floats(expected.get("last_logits")), Fixtures.floats(result.get("logits")), TOL,
                result.get("id").asText());
    }

    @Test
    void generateRunsEachLineWithItsOwnSteeringAndLimit(@TempDir Path dir) throws IOException {
        Fixtures.writeVectors(dir);
        JsonNode greedy = Fixtures.expected("greedy.json");
        Path requests = lines(dir,
                "{\"id\": \"u\", \"prompt\": \"I think dogs are \", \"max_new_tokens\": 12}",
                "{\"id\": \"s\", \"prompt\": \"I think dogs are \", \"steer\": [{\"file\": \"" + dir.resolve("last.safetensors")
                        + "\", \"coef\": 10}], \"max_new_tokens\": 12, \"greedy\": true}",
                "{\"id\": \"short\", \"prompt\": \"Today I feel\", \"max_new_tokens\": 2}");
        JsonNode out = Cli.run("generate", "--model", Cli.convertedModel().toString(), "--requests", requests.toString(),
                "--json").okJson().get("results");
        int[] unsteered = Fixtures.ints(greedy.get("unsteered").get("new_ids"));
        assertArrayEquals(java.util.Arrays.copyOf(unsteered, 12), Fixtures.ints(out.get(0).get("new_ids")));
        assertArrayEquals(Fixtures.ints(greedy.get("steered_last_token_unit_every_position_c10").get("new_ids")),
                Fixtures.ints(out.get(1).get("new_ids")));
        assertEquals(2, out.get(2).get("new_ids").size());
        assertEquals("length", out.get(2).get("finish_reason").asText());
        assertEquals("s", out.get(1).get("id").asText());
    }

    @Test
    void aBadLineIsAnErrorNamingItsLineBeforeAnyWork(@TempDir Path dir) throws IOException {
        Fixtures.writeVectors(dir);
        VectorFiles.write(dir.resolve("narrow.safetensors"), VectorSet.builder().put(H1, new float[16]).build(), "tiny");
        String ok = "{\"prompt\": \"Hi\"}";
        String[][] cases = {
                {"{\"prompt\": \"Hi\"", "not valid JSON"},
                {"{\"id\": \"x\"}", "\"prompt\""},
                {"{\"prompt\": \"Hi\", \"steer\": [{\"file\": \"last.safetensors\", \"module\": \"transformer.h.7\"}]}", "no vector for module"},
                {"{\"prompt\": \"Hi\", \"steer\": [{\"file\": \"narrow.safetensors\"}]}", "width"},
                {"{\"prompt\": \"Hi\", \"steer\": [{\"file\": \"missing.safetensors\"}]}", "missing.safetensors"},
                {"{\"prompt\": \"Hi\", \"max_new_tokens\": 100000}", "positions"},
                {"{\"prompt\": \"Hi\", \"coef\": 3}", "unknown request field \"coef\""},
                {"{\"prompt\": \"Hi\", \"steer\": [{\"file\": \"last.safetensors\", \"coef\": \"ten\"}]}", "\"coef\" must be a number"},
                {"{\"prompt\": \"Hi\", \"steer\": [{\"file\": \"aligned.safetensors\", \"positions\": \"aligned\"}]}", "aligned"},
                {"{\"prompt\": \"Hi\", \"steer\": [{\"file\": \"last.safetensors\", \"positions\": \"sometimes\"}]}", "positions"},
                {"{\"prompt\": \"Hi\", \"greedy\": true, \"temperature\": 0.7}", "greedy"},
                {"{\"prompt\": \"Hi\", \"temperature\": -1}", "temperature"},
                {"{\"prompt\": \"\"}", "no tokens"},
        };
        for (String[] c : cases) {
            Path f = lines(dir, ok, c[0]);
            String err = Cli.run("generate", "--model", Cli.convertedModel().toString(), "--requests", f.toString(), "--json")
                    .badInput();
            assertTrue(err.contains("line 2") && err.contains(c[1]), c[0] + " -> " + err);
        }
        Path dup = lines(dir, "{\"id\": \"a\", \"prompt\": \"Hi\"}", "{\"id\": \"a\", \"prompt\": \"Ho\"}");
        assertTrue(Cli.run("logits", "--model", Cli.convertedModel().toString(), "--requests", dup.toString()).badInput()
                .contains("line 2: duplicate id"));
        assertTrue(Cli.run("logits", "--model", Cli.convertedModel().toString(), "--requests", dup.toString(), "--prompt", "x")
                .badInput().contains("not both"));
        assertTrue(Cli.run("logits", "--model", Cli.convertedModel().toString(), "--requests", dir.toString())
                .badInput().contains("directory"));
        assertTrue(Cli.run("logits", "--model", Cli.convertedModel().toString(), "--requests", dup.toString(),
                "--steer", dir.resolve("last.safetensors").toString(), "--steer-mode", "bias").badInput().contains("bias"));
    }
}
