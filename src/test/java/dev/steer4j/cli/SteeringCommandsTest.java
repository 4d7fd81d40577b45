package dev.steer4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import dev.steer4j.steering.VectorFiles;
import dev.steer4j.steering.io.VectorSet;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static dev.steer4j.Fixtures.TOL;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** modules, activations, vector, --steer and demo, end to end through the CLI. */
class SteeringCommandsTest {
    static final String H1 = "transformer.h.1";

    static String model() {
        return Cli.convertedModel().toString();
    }

    static String[] logitsArgs(String... extra) {
        List<String> a = new ArrayList<>(List.of("logits", "--model", model(), "--json"));
        for (String p : Fixtures.PROMPTS) { a.add("--prompt"); a.add(p); }
        a.addAll(List.of(extra));
        return a.toArray(new String[0]);
    }

    static void assertSteered(JsonNode out, String variant) {
        JsonNode expected = Fixtures.steeredVariant(variant).get("prompts");
        for (int i = 0; i < 3; i++) {
            Fixtures.assertClose(Fixtures.floats(expected.get(i).get("last_logits")),
                    Fixtures.floats(out.get("results").get(i).get("logits")), TOL, variant + " prompt " + i);
        }
    }

    @Test
    void modulesListsTheHuggingFaceTree() {
        JsonNode out = Cli.run("modules", "--model", model(), "--json").okJson();
        List<String> names = new ArrayList<>();
        out.get("modules").forEach(m -> names.add(m.get("name").asText()));
        assertTrue(names.containsAll(List.of("transformer.h.0", "transformer.h.2.mlp", "transformer.h.1.ln_1",
                "transformer.h.1.attn.c_attn", "transformer.ln_f", "lm_head")), names.toString());
        JsonNode traced = Cli.run("modules", "--model", Fixtures.TRACED.toString(), "--tokenizer",
                Fixtures.TOKENIZER.toString(), "--json").okJson();
        assertEquals("foreign", traced.get("kind").asText());
        assertEquals(32, traced.get("width").asInt());
    }

    @Test
    void activationsOfEveryBlockAndOfTheMlp() {
        JsonNode resid = Fixtures.expected("resid.json");
        for (String m : List.of("transformer.h.0", "transformer.h.1", "transformer.h.2")) {
            JsonNode out = Cli.run("activations", "--model", model(), "--prompt", "Today I feel", "--module", m, "--json").okJson();
            assertEquals(m, out.get("module").asText());
            assertEquals(List.of(3, 32), List.of(out.get("shape").get(0).asInt(), out.get("shape").get(1).asInt()));
            Fixtures.assertClose(Fixtures.matrix(resid.get("blocks").get(m)), Fixtures.matrix(out.get("values")), TOL, m);
        }
        JsonNode mlp = Cli.run("activations", "--model", model(), "--prompt", "Today I feel", "--module",
                "transformer.h.2.mlp", "--json").okJson();
        Fixtures.assertClose(Fixtures.matrix(Fixtures.expected("capture.json").get("captures").get("transformer.h.2.mlp")),
                Fixtures.matrix(mlp.get("values")), TOL, "h.2.mlp");
    }

    @Test
    void vectorsFromTheCliSteerLogitsLikeTheReference(@TempDir Path dir) {
        JsonNode actadd = Fixtures.expected("actadd.json");
        Path last = dir.resolve("last.safetensors");
        Path mean = dir.resolve("mean.safetensors");
        Path aligned = dir.resolve("aligned.safetensors");
        Cli.Result r = Cli.run("vector", "--model", model(), "--positive", "Love", "--negative", "Hate",
                "--module", H1, "--reduce", "last", "--normalize", "--out", last.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(0, Cli.run("vector", "--model", model(), "--positive", "Love", "--negative", "Hate",
                "--module", H1, "--reduce", "mean", "--out", mean.toString()).code());
        assertEquals(0, Cli.run("vector", "--model", model(), "--positive", "Love", "--negative", "Hate",
                "--module", H1, "--reduce", "none", "--out", aligned.toString()).code());
        VectorSet lastSet = VectorFiles.read(last);
        Fixtures.assertClose(Fixtures.floats(actadd.get("last_token").get("unit_vector")), lastSet.data(H1), TOL, "unit vector");
        assertEquals("last", lastSet.metadata().get("reduce"));
        assertEquals(64, lastSet.metadata().get("model_sha256").length());

        assertSteered(Cli.run(logitsArgs("--steer", last + "*10")).okJson(), "last_token_unit_every_position_c10");
        assertSteered(Cli.run(logitsArgs("--steer", mean + "*4")).okJson(), "mean_every_position_c4");
        assertSteered(Cli.run(logitsArgs("--steer", mean + "*-2@all")).okJson(), "mean_every_position_c-2");
        assertSteered(Cli.run(logitsArgs("--steer", aligned + "*4@aligned")).okJson(), "actadd_aligned_c4");
        assertSteered(Cli.run(logitsArgs("--steer", mean + "*4", "--steer-mode", "bias")).okJson(), "mean_every_position_c4");
        // the same vectors through a llama.cpp control-vector file
        Path gguf = dir.resolve("last.gguf");
        assertEquals(0, Cli.run("vector", "--model", model(), "--positive", "Love", "--negative", "Hate",
                "--module", H1, "--normalize", "--out", gguf.toString()).code());
        assertSteered(Cli.run(logitsArgs("--steer", gguf + "*10")).okJson(), "last_token_unit_every_position_c10");
    }

    @Test
    void vectorsFromAPairsDatasetForSeveralModules(@TempDir Path dir) throws Exception {
        Path pairs = dir.resolve("pairs.jsonl");
        java.nio.file.Files.writeString(pairs, String.join("\n",
                "{\"positive\": \"I love dogs\", \"negative\": \"I hate dogs\"}",
                "{\"positive\": \"What a wonderful day\", \"negative\": \"What a terrible day\"}",
                "",
                "{\"positive\": \"Peace\", \"negative\": \"War\"}") + "\n");
        for (String method : List.of("mean", "pca_diff", "pca_center")) {
            Path out = dir.resolve(method + ".safetensors");
            Cli.Result r = Cli.run("vector", "--model", model(), "--pairs", pairs.toString(), "--method", method,
                    "--module", "transformer.h.0", "--module", "transformer.h.2", "--out", out.toString());
            assertEquals(0, r.code(), r.err());
            VectorSet set = VectorFiles.read(out);
            assertEquals(List.of("transformer.h.0", "transformer.h.2"), set.names());
            assertEquals(method, set.metadata().get("method"));
            assertEquals("3", set.metadata().get("pairs"));
            if (!method.equals("mean")) {
                for (String m : set.names()) {
                    assertEquals(1.0, dev.steer4j.steering.VectorMath.norm(set.data(m)), 1e-5, method + " " + m + " is unit");
                }
            }
        }
        java.nio.file.Files.writeString(pairs, "{\"positive\": \"only one side\"}\n");
        assertTrue(Cli.run("vector", "--model", model(), "--pairs", pairs.toString(), "--module", H1, "--out",
                dir.resolve("bad.safetensors").toString()).badInput().contains("line 1"));
    }

    @Test
    void steeredGreedyAndDemo(@TempDir Path dir) {
        Path last = dir.resolve("last.safetensors");
        assertEquals(0, Cli.run("vector", "--model", model(), "--positive", "Love", "--negative", "Hate",
                "--module", H1, "--normalize", "--out", last.toString()).code());
        JsonNode out = Cli.run("generate", "--model", model(), "--prompt", "I think dogs are ", "--max-new-tokens", "12",
                "--greedy", "--steer", last + "*10", "--json").okJson();
        assertArrayEquals(Fixtures.ints(Fixtures.expected("greedy.json").get("steered_last_token_unit_every_position_c10").get("new_ids")),
                Fixtures.ints(out.get("results").get(0).get("new_ids")));

        JsonNode demo = Cli.run("demo", "--model", model(), "--json").okJson();
        assertEquals("transformer.h.2", demo.get("module").asText());
        assertEquals(3, demo.get("runs").size());
        int[] unsteered = Fixtures.ints(Fixtures.expected("greedy.json").get("unsteered").get("new_ids"));
        assertArrayEquals(java.util.Arrays.copyOf(unsteered, 10), Fixtures.ints(demo.get("runs").get(0).get("new_ids")));
        // +10 and -10 equal generate with the same vector made by `vector` at the demo's module
        Path h2 = dir.resolve("h2.safetensors");
        assertEquals(0, Cli.run("vector", "--model", model(), "--positive", "Love", "--negative", "Hate",
                "--module", "transformer.h.2", "--normalize", "--out", h2.toString()).code());
        for (int k = 1; k <= 2; k++) {
            String coeff = k == 1 ? "10" : "-10";
            JsonNode g = Cli.run("generate", "--model", model(), "--prompt", "I think dogs are ", "--max-new-tokens", "10",
                    "--steer", h2 + "*" + coeff, "--json").okJson();
            assertArrayEquals(Fixtures.ints(g.get("results").get(0).get("new_ids")), Fixtures.ints(demo.get("runs").get(k).get("new_ids")));
        }
        assertEquals(0, Cli.run("demo").code(), "demo runs on the built-in model");
    }

    @Test
    void badSteeringInputIsAOneLineError(@TempDir Path dir) {
        Path last = dir.resolve("last.safetensors");
        Path aligned = dir.resolve("aligned.safetensors");
        assertEquals(0, Cli.run("vector", "--model", model(), "--positive", "Love", "--negative", "Hate",
                "--module", H1, "--normalize", "--out", last.toString()).code());
        assertEquals(0, Cli.run("vector", "--model", model(), "--positive", "I love my dog", "--negative", "Hate",
                "--module", H1, "--reduce", "none", "--out", aligned.toString()).code());
        assertTrue(Cli.run("activations", "--model", model(), "--prompt", "x", "--module", "transformer.h.7", "--json")
                .badInput().contains("unknown module"));
        assertTrue(Cli.run("vector", "--model", model(), "--positive", "a", "--negative", "b", "--module", "nope",
                "--out", dir.resolve("x.safetensors").toString()).badInput().contains("unknown module"));
        assertTrue(Cli.run(logitsArgs("--steer", last + "*NaN")).badInput().contains("finite"));
        assertTrue(Cli.run(logitsArgs("--steer", last + "*ten")).badInput().contains("not a number"));
        // finite as a double, infinite in float32: refused after conversion to the model's dtype
        assertTrue(Cli.run(logitsArgs("--steer", last + "*1e39")).badInput().contains("overflows the model's float32"));
        // finite in float32 too, but the residual stream overflows: NaN logits are an error, never output
        assertTrue(Cli.run(logitsArgs("--steer", last + "*1e30")).badInput().contains("NaN"));
        assertTrue(Cli.run("generate", "--model", model(), "--prompt", "I think dogs are ", "--max-new-tokens", "3",
                "--steer", last + "*1e30").badInput().contains("NaN"));
        assertTrue(Cli.run(logitsArgs("--steer", aligned + "*4@aligned")).badInput().contains("aligned"));
        assertTrue(Cli.run(logitsArgs("--steer", last + "*4@prompt", "--steer-mode", "bias")).badInput().contains("bias"));
        assertTrue(Cli.run(logitsArgs("--steer", last + "@sometimes")).badInput().contains("positions"));
        assertTrue(Cli.run(logitsArgs("--steer", dir.resolve("missing.safetensors").toString())).badInput().contains("not found"));
        // a vector of the wrong width
        Path narrow = dir.resolve("narrow.safetensors");
        VectorFiles.write(narrow, VectorSet.builder().put(H1, new float[16]).build(), "gpt2");
        assertTrue(Cli.run(logitsArgs("--steer", narrow.toString())).badInput().contains("width"));
        assertTrue(Cli.run("vector", "--model", model(), "--positive", "a", "--module", H1, "--out",
                dir.resolve("y.safetensors").toString()).badInput().contains("--negative"));
    }
}
