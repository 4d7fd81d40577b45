package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Flags that size allocations are checked against the memory there is before anything is allocated: exit 2
 * naming the flag, the bytes needed and the bytes available (it used to be exit 1 after an OutOfMemoryError,
 * or a JVM killed in libtorch's allocator), and nothing written.
 */
class MemoryBoundsTest {
    /** "FLAG needs 250.1 GB (250123456789 bytes) of host memory for …; 21.3 GB (21345678901 bytes) are available". */
    private static void assertNeedsMoreThanThereIs(String err, String flag) {
        Matcher m = Pattern.compile("steer4j: " + Pattern.quote(flag) + " needs (more than )?[0-9.]+ [kMGTPE]B \\((over )?(\\d+) bytes\\)"
                + " of host memory for .*KV cache.*; [0-9.]+ ([kMGTPE]B|bytes) \\((\\d+) bytes\\) are available").matcher(err);
        assertTrue(m.matches(), err);
        long needed = Long.parseLong(m.group(3));
        long available = Long.parseLong(m.group(5));
        assertTrue(needed > available, err);
    }

    @Test
    void batchMaxBatchBeyondMemoryIsRefusedBeforeAllocatingOrWriting(@TempDir Path dir) throws IOException {
        Path in = Files.writeString(dir.resolve("requests.jsonl"), "{\"id\": \"a\", \"prompt\": \"Hello\", \"max_new_tokens\": 2}\n");
        byte[] input = Files.readAllBytes(in);
        Path out = dir.resolve("results.jsonl");
        for (String slots : new String[]{"2147483647", "1000000"}) {
            for (String mode : new String[]{"--json", "--static-batches"}) {
                String err = Cli.run("batch", "--model", Cli.convertedModel().toString(), "--in", in.toString(), "--out",
                        out.toString(), "--max-batch", slots, mode).badInput();
                assertNeedsMoreThanThereIs(err, "--max-batch " + slots);
                assertFalse(Files.exists(out), "no output created");
                assertArrayEquals(input, Files.readAllBytes(in));
            }
        }
        // an existing results file is left as it was
        Files.writeString(out, "{\"id\": \"z\", \"error\": \"earlier\"}\n");
        byte[] results = Files.readAllBytes(out);
        assertNeedsMoreThanThereIs(Cli.run("batch", "--model", Cli.convertedModel().toString(), "--in", in.toString(), "--out",
                out.toString(), "--max-batch", "1000000").badInput(), "--max-batch 1000000");
        assertArrayEquals(results, Files.readAllBytes(out));
    }

    @Test
    void benchBatchBeyondMemoryIsRefused() {
        String err = Cli.run("bench", "--model", Cli.convertedModel().toString(), "--batch", "1000000", "--prompt-tokens", "8",
                "--new-tokens", "8", "--repeats", "1", "--warmup", "0", "--json").badInput();
        assertNeedsMoreThanThereIs(err, "--batch 1000000");
        err = Cli.run("bench", "--model", Cli.convertedModel().toString(), "--batch", "2147483647", "--distinct", "3",
                "--json").badInput();
        assertNeedsMoreThanThereIs(err, "--batch 2147483647");
    }

    /**
     * The check counts the KV cache the engine really allocates (its smallest is 64 columns), not prompt + new tokens
     * (16 here): with a limit between the two figures, bench is refused before it allocates.
     */
    @Test
    void benchCountsTheEnginesCacheNotJustItsTokens() {
        int batch = 1024;
        long logits = (long) batch * 50257 * Float.BYTES;
        long perColumn = 2L * 3 * 32 * Float.BYTES; // keys and values, 3 layers of width 32, per slot and column
        long limit = logits + batch * 16 * perColumn + (16L << 20); // room for 16 columns and some, not for 64
        String old = System.getProperty(dev.steer4j.runtime.MemoryBudget.LIMIT_PROPERTY);
        System.setProperty(dev.steer4j.runtime.MemoryBudget.LIMIT_PROPERTY, Long.toString(limit));
        try {
            String err = Cli.run("bench", "--model", Cli.convertedModel().toString(), "--batch", Integer.toString(batch),
                    "--prompt-tokens", "8", "--new-tokens", "8", "--repeats", "1", "--warmup", "0", "--json").badInput();
            assertNeedsMoreThanThereIs(err, "--batch " + batch);
        } finally {
            if (old == null) System.clearProperty(dev.steer4j.runtime.MemoryBudget.LIMIT_PROPERTY);
            else System.setProperty(dev.steer4j.runtime.MemoryBudget.LIMIT_PROPERTY, old);
        }
    }

    /** A shape far beyond any GPT-2 is refused at once, not left to build for hours. */
    @Test
    void exportShapeBeyondAnyGpt2IsRefused(@TempDir Path dir) {
        for (String shape : new String[]{"100000x1600", "48x1048576"}) {
            String err = Cli.run("export", "--shape", shape, "--out", dir.resolve("x.pt").toString()).badInput();
            assertTrue(err.contains("--shape " + shape + ": at most 256 layers and width 16384"), err);
            assertFalse(Files.exists(dir.resolve("x.pt")));
        }
    }
}
