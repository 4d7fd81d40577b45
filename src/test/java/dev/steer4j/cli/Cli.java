package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.steer4j.Fixtures;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Runs the CLI in-process and captures what it prints. */
final class Cli {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Path converted;

    record Result(int code, String out, String err) {
        JsonNode json() {
            try {
                return JSON.readTree(out);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** Asserts success and exactly one JSON value on stdout. */
        JsonNode okJson() {
            assertEquals(0, code, () -> "exit code; stderr: " + err);
            assertEquals(1, out.strip().lines().count(), "stdout is one line of JSON");
            return json();
        }

        /** Asserts exit code 2 with a one-line message on stderr and nothing on stdout. */
        String badInput() {
            assertEquals(2, code, () -> "exit code; stdout: " + out + " stderr: " + err);
            assertEquals("", out, "stdout");
            assertEquals(1, err.strip().lines().count(), () -> "one line on stderr: " + err);
            assertTrue(err.startsWith("steer4j: "), err);
            assertFalse(err.contains("\tat "), "no stack trace");
            return err.strip();
        }
    }

    private Cli() {}

    static Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            code = Main.run(args, o, e);
        }
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** The reference checkpoint converted once by {@code convert} (float32), shared by the tests. */
    static synchronized Path convertedModel() {
        if (converted == null) {
            try {
                Path dir = Files.createTempDirectory("steer4j-cli-test");
                Path file = dir.resolve("tiny.pt");
                Result r = run("convert", "--hf", Fixtures.TINY.toString(), "--out", file.toString());
                assertEquals(0, r.code(), r.err());
                file.toFile().deleteOnExit();
                dir.toFile().deleteOnExit();
                converted = file;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return converted;
    }

    static float[] floats(JsonNode array) {
        return Fixtures.floats(array);
    }
}
