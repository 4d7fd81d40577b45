package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** convert, then load the written .pt and compare its logits with the reference. */
class ConvertCommandTest {
    @TempDir
    Path tmp;

    @Test
    void float32RoundTripMatchesReferenceLogits() {
        Path out = tmp.resolve("tiny.pt");
        Cli.Result r = Cli.run("convert", "--hf", Fixtures.TINY.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("3 layers") && r.out().contains("float32"), r.out());
        assertReferenceLogits(out, Fixtures.TOL);
    }

    @Test
    void float16ModelIsCloseToReference() {
        Path out = tmp.resolve("tiny-fp16.pt");
        Cli.Result r = Cli.run("convert", "--hf", Fixtures.TINY.toString(), "--out", out.toString(),
                "--dtype", "float16");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("float16"), r.out());
        assertReferenceLogits(out, 2e-3);
    }

    @Test
    void hubNamedCheckpointConverts() throws IOException {
        Path hf = tmp.resolve("hub");
        Files.createDirectories(hf);
        for (String name : new String[] {"config.json", "vocab.json", "merges.txt"}) {
            Files.copy(Fixtures.TINY.resolve(name), hf.resolve(name));
        }
        Files.copy(Fixtures.REFERENCE.resolve("tiny-gpt2-hub-names.safetensors"), hf.resolve("model.safetensors"));
        Path out = tmp.resolve("hub.pt");
        assertEquals(0, Cli.run("convert", "--hf", hf.toString(), "--out", out.toString()).code());
        assertReferenceLogits(out, Fixtures.TOL);
    }

    @Test
    void missingTensorFailsWithoutWritingOrClobbering() throws IOException {
        Path hf = tmp.resolve("bad");
        Files.createDirectories(hf);
        // a 4th layer in the config that the weights do not have
        String config = Files.readString(Fixtures.TINY.resolve("config.json")).replace("\"n_layer\": 3", "\"n_layer\": 4");
        Files.writeString(hf.resolve("config.json"), config);
        Files.createSymbolicLink(hf.resolve("model.safetensors"), Fixtures.TINY.resolve("model.safetensors").toAbsolutePath());

        Path fresh = tmp.resolve("fresh.pt");
        String msg = Cli.run("convert", "--hf", hf.toString(), "--out", fresh.toString()).badInput();
        assertTrue(msg.contains("missing tensor h.3."), msg);
        assertFalse(Files.exists(fresh));

        Path existing = tmp.resolve("existing.pt");
        Files.writeString(existing, "keep me");
        Cli.run("convert", "--hf", hf.toString(), "--out", existing.toString()).badInput();
        assertEquals("keep me", Files.readString(existing));
        try (var files = Files.list(tmp)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temp files left");
        }
    }

    @Test
    void notACheckpointFolderAndBadDtype() {
        Path out = tmp.resolve("x.pt");
        String msg = Cli.run("convert", "--hf", tmp.resolve("nope").toString(), "--out", out.toString()).badInput();
        assertTrue(msg.contains("not a directory"), msg);
        msg = Cli.run("convert", "--hf", Fixtures.TINY.toString(), "--out", out.toString(), "--dtype", "int8").badInput();
        assertTrue(msg.contains("unknown dtype"), msg);
        assertFalse(Files.exists(out));
    }

    /** The 3 reference prompts as one batch through {@code logits --json}. */
    static void assertReferenceLogits(Path model, double tol) {
        JsonNode expected = Fixtures.expected("logits.json").get("prompts");
        JsonNode results = Cli.run("logits", "--model", model.toString(), "--json",
                "--prompt", Fixtures.PROMPTS[0], "--prompt", Fixtures.PROMPTS[1], "--prompt", Fixtures.PROMPTS[2])
                .okJson().get("results");
        assertEquals(3, results.size());
        for (int i = 0; i < 3; i++) {
            JsonNode e = expected.get(i);
            JsonNode a = results.get(i);
            assertEquals(e.get("text").asText(), a.get("prompt").asText());
            assertArrayEquals(Fixtures.ints(e.get("ids")), Fixtures.ints(a.get("ids")));
            Fixtures.assertClose(Fixtures.floats(e.get("last_logits")), Fixtures.floats(a.get("logits")), tol,
                    model.getFileName() + " prompt " + i);
        }
    }
}
