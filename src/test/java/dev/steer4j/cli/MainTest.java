package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.steer4j.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Exit codes and one-line messages for bad input. */
class MainTest {
    @TempDir
    Path tmp;

    @Test
    void unknownOptionAndMissingPrompt() {
        String msg = Cli.run("logits", "--prompt", "x", "--frobnicate").badInput();
        assertTrue(msg.contains("--frobnicate"), msg);
        msg = Cli.run("generate", "--max-new-tokens", "3").badInput();
        assertTrue(msg.contains("--prompt"), msg);
        msg = Cli.run("frobnicate").badInput();
        Cli.run().badInput();
    }

    @Test
    void helpAndVersionSucceed() {
        Cli.Result r = Cli.run("generate", "--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("--max-new-tokens"), r.out());
        assertEquals(0, Cli.run("--version").code());
    }

    @Test
    void missingModelFile() {
        String msg = Cli.run("logits", "--model", tmp.resolve("absent.pt").toString(), "--prompt", "x").badInput();
        assertTrue(msg.contains("absent.pt"), msg);
    }

    @Test
    void garbageAndTruncatedModelFiles() throws IOException {
        Path garbage = tmp.resolve("garbage.pt");
        byte[] noise = new byte[4096];
        new Random(1).nextBytes(noise);
        Files.write(garbage, noise);
        String msg = Cli.run("logits", "--model", garbage.toString(), "--prompt", "x").badInput();
        assertTrue(msg.contains("garbage.pt"), msg);

        Path truncated = tmp.resolve("truncated.pt");
        byte[] whole = Files.readAllBytes(Cli.convertedModel());
        Files.write(truncated, Arrays.copyOf(whole, whole.length / 2));
        msg = Cli.run("generate", "--model", truncated.toString(), "--prompt", "x").badInput();
        assertTrue(msg.contains("truncated.pt"), msg);
    }

    @Test
    void foreignModelWithoutTokenizer() {
        String msg = Cli.run("logits", "--model", Fixtures.TRACED.toString(), "--prompt", "x").badInput();
        assertTrue(msg.contains("--tokenizer"), msg);
        msg = Cli.run("logits", "--model", Fixtures.TRACED.toString(), "--tokenizer", tmp.toString(),
                "--prompt", "x").badInput();
        assertTrue(msg.contains("--tokenizer"), msg);
    }

    @Test
    void cudaOnCpuOnlyMachineOrBadDevice() {
        String msg = Cli.run("generate", "--device", "tpu", "--prompt", "x").badInput();
        assertTrue(msg.contains("unknown device"), msg);
        Cli.Result r = Cli.run("logits", "--device", "cuda", "--prompt", "x", "--json");
        if (r.code() == 2) {
            assertTrue(r.badInput().contains("CUDA"), r.err());
        } else {
            assertEquals(0, r.code(), r.err()); // a machine with a GPU
        }
    }
}
