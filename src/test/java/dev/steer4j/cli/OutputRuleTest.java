package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.steer4j.Fixtures;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every command that writes a file refuses an output that is one of its inputs (through ./, .., symbolic and
 * hard links) and an existing output of another kind: exit 2, one line naming both flags, every file untouched.
 */
class OutputRuleTest {
    @TempDir
    Path dir;
    Path model;
    Path notes;
    Path vector;
    Path pairs;
    Path requests;
    Path hf;

    @BeforeEach
    void files() throws IOException {
        model = Files.copy(Cli.convertedModel(), dir.resolve("m.pt")); // a copy: a failing test must not break the shared one
        notes = Files.writeString(dir.resolve("notes.txt"), "my notes\nsecond line\n");
        Fixtures.writeVectors(dir);
        vector = dir.resolve("last.safetensors");
        pairs = Files.writeString(dir.resolve("pairs.jsonl"), "{\"positive\": \"Love\", \"negative\": \"Hate\"}\n"
                + "{\"positive\": \"good\", \"negative\": \"bad\"}\n");
        requests = Files.writeString(dir.resolve("requests.jsonl"), "{\"id\": \"a\", \"prompt\": \"Hello\", \"max_new_tokens\": 1}\n");
        hf = Files.createDirectory(dir.resolve("hf"));
        try (var files = Files.list(Fixtures.TINY)) {
            for (Path p : files.toList()) Files.copy(p, hf.resolve(p.getFileName().toString()));
        }
    }

    /** Every regular file under the temp folder, by path. */
    private Map<Path, byte[]> snapshot() throws IOException {
        Map<Path, byte[]> m = new LinkedHashMap<>();
        try (var files = Files.walk(dir)) {
            for (Path p : files.filter(Files::isRegularFile).toList()) m.put(p, Files.readAllBytes(p));
        }
        return m;
    }

    /** Runs {@code args}, expects a refusal naming {@code words}, and that no file was created, changed or removed. */
    private String refused(List<String> words, String... args) throws IOException {
        Map<Path, byte[]> before = snapshot();
        String err = Cli.run(args).badInput();
        for (String w : words) assertTrue(err.contains(w), () -> "'" + w + "' in: " + err);
        Map<Path, byte[]> after = snapshot();
        assertEquals(before.keySet(), after.keySet(), "no file created or removed: " + err);
        for (Path p : before.keySet()) assertArrayEquals(before.get(p), after.get(p), p + " untouched: " + err);
        return err;
    }

    /** The ways one file can be named: ./, .., a symbolic link and a hard link. */
    private List<Path> aliases(Path file) throws IOException {
        String name = file.getFileName().toString();
        List<Path> l = new ArrayList<>();
        l.add(Path.of(file.getParent() + "/./" + name));
        l.add(file.getParent().resolve("nosuch/../" + name));
        l.add(Files.createSymbolicLink(dir.resolve("sym-" + name), file));
        l.add(Files.createLink(dir.resolve("hard-" + name), file));
        return l;
    }

    private static final String[] ACTADD = {"--positive", "Love", "--negative", "Hate", "--module", "transformer.h.1"};

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void vectorOut() throws IOException {
        String[] base = concat(new String[]{"vector", "--model", model.toString()}, ACTADD);
        for (Path same : aliases(model)) {
            String err = refused(List.of("--out " + same, "is the same file as --model " + model), concat(base, "--out", same.toString()));
            assertEquals("steer4j: --out " + same + " is the same file as --model " + model
                    + ": writing it would destroy what is read; give a new path", err);
        }
        refused(List.of("--out " + dir + "/./pairs.jsonl is the same file as --pairs " + pairs), "vector", "--model", model.toString(), "--pairs", pairs.toString(),
                "--module", "transformer.h.1", "--out", dir + "/./pairs.jsonl");
        refused(List.of("--out " + notes + " exists and is not a steering vector file"), concat(base, "--out", notes.toString()));
        // a checkpoint's weights are safetensors too, but no vector file
        refused(List.of("is not a steering vector file"), concat(base, "--out", hf.resolve("model.safetensors").toString()));
        refused(List.of("--out " + dir + " is a directory"), concat(base, "--out", dir.toString()));
        // a vector file is replaced, as asked
        byte[] old = Files.readAllBytes(vector);
        assertEquals(0, Cli.run(concat(base, "--out", vector.toString())).code());
        assertFalse(java.util.Arrays.equals(old, Files.readAllBytes(vector)), "replaced");
    }

    @Test
    void convertOut() throws IOException {
        for (Path same : aliases(hf.resolve("model.safetensors"))) {
            refused(List.of("--out " + same + " is the same file as --hf " + hf.resolve("model.safetensors")),
                    "convert", "--hf", hf.toString(), "--out", same.toString());
        }
        refused(List.of("is the same file as --hf " + hf.resolve("vocab.json")), "convert", "--hf", hf.toString(), "--out",
                hf.resolve("vocab.json").toString());
        refused(List.of("--out " + notes + " exists and is not a TorchScript .pt archive"),
                "convert", "--hf", hf.toString(), "--out", notes.toString());
        refused(List.of("is not a TorchScript .pt archive"), "convert", "--hf", hf.toString(), "--out", vector.toString());
        // a .pt archive is replaced (a model converted before)
        Path again = Files.copy(model, dir.resolve("again.pt"));
        assertEquals(0, Cli.run("convert", "--hf", hf.toString(), "--out", again.toString()).code());
    }

    @Test
    void exportOut() throws IOException {
        for (Path same : aliases(model)) {
            refused(List.of("--out " + same + " is the same file as --model " + model), "export", "--model", model.toString(),
                    "--out", same.toString());
        }
        refused(List.of("is the same file as --steer " + vector), "export", "--model", model.toString(), "--steer",
                vector + "*2", "--out", dir + "/./last.safetensors");
        refused(List.of("is the same file as --steer-rows " + vector), "export", "--model", model.toString(), "--steer-rows",
                vector + "*2", "--out", vector.toString());
        refused(List.of("--out " + notes + " exists and is not a TorchScript .pt archive"), "export", "--model",
                model.toString(), "--out", notes.toString());
    }

    @Test
    void generateAndBenchProfile() throws IOException {
        String[] gen = {"generate", "--model", model.toString(), "--prompt", "Hello", "--max-new-tokens", "1"};
        for (Path same : aliases(model)) {
            refused(List.of("--profile " + same + " is the same file as --model " + model), concat(gen, "--profile", same.toString()));
        }
        refused(List.of("is the same file as --steer " + vector), concat(gen, "--steer", vector.toString(), "--profile",
                vector.toString()));
        refused(List.of("is the same file as --requests " + requests), "generate", "--model", model.toString(), "--requests",
                requests.toString(), "--profile", dir + "/./requests.jsonl");
        refused(List.of("--profile " + notes + " exists and is not a JSON trace"), concat(gen, "--profile", notes.toString()));
        refused(List.of("--profile " + pairs + " exists and is not a JSON trace"), concat(gen, "--profile", pairs.toString()));
        refused(List.of("--profile " + notes + " exists and is not a JSON trace"), "bench", "--model", model.toString(),
                "--batch", "1", "--prompt-tokens", "2", "--new-tokens", "2", "--repeats", "1", "--warmup", "0",
                "--profile", notes.toString());
        refused(List.of("--profile " + model + " is the same file as --model " + model), "bench", "--model",
                model.toString(), "--profile", model.toString());
        // a trace is replaced by the new one
        Path trace = dir.resolve("trace.json");
        assertEquals(0, Cli.run(concat(gen, "--profile", trace.toString())).code());
        byte[] first = Files.readAllBytes(trace);
        assertEquals(0, Cli.run(concat(gen, "--profile", trace.toString())).code());
        assertFalse(java.util.Arrays.equals(first, Files.readAllBytes(trace)), "replaced");
    }

    @Test
    void batchOut() throws IOException {
        String[] base = {"batch", "--model", model.toString(), "--in", requests.toString()};
        for (Path same : aliases(requests)) {
            refused(List.of("--out " + same + " is the same file as --in " + requests), concat(base, "--out", same.toString()));
        }
        refused(List.of("--out " + model + " is the same file as --model " + model), concat(base, "--out", model.toString()));
        refused(List.of("is the same file as --steer " + vector), concat(base, "--steer", vector + "*3", "--out",
                dir + "/x/../last.safetensors"));
        String err = refused(List.of("--out " + notes + " exists and is not a steer4j results file"),
                concat(base, "--out", notes.toString()));
        assertTrue(err.contains("no result record"), err);
    }
}
