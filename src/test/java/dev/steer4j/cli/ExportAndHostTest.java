package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `steer4j export --portable` on the tiny reference model, run by steer4j-host built against Debian's
 * libtorch 1.13: the same greedy tokens as `steer4j generate` with the same steering, steering changed
 * through the archive's attributes, and the documented seeded fill of zero weights.
 */
class ExportAndHostTest {
    static final String[] PROMPTS = {"I think dogs are ", "Today I feel", "The capital of France is"};
    @TempDir
    static Path dir;
    static String model;
    static Path love;

    @BeforeAll
    static void vectors() {
        model = Cli.convertedModel().toString();
        love = dir.resolve("love.safetensors");
        assertEquals(0, Cli.run("vector", "--model", model, "--positive", "Love", "--negative", "Hate",
                "--module", "transformer.h.1", "--normalize", "--out", love.toString()).code());
    }

    @Test
    void hostGreedyEqualsGenerateForEachPositionMode() {
        for (String positions : new String[]{"all", "prompt", "generated", "from:3"}) {
            Path archive = dir.resolve("steered-" + positions.replace(':', '_') + ".pt");
            String spec = love + "*10@" + positions;
            assertEquals(0, Cli.run("export", "--model", model, "--steer", spec, "--portable",
                    "--out", archive.toString()).code());
            for (String prompt : PROMPTS) {
                assertArrayEquals(cliGreedy(prompt, spec), hostGreedy(archive, prompt), prompt + " @" + positions);
            }
        }
    }

    @Test
    void coefficientAttributeSteersLikeTheCliCoefficient() {
        Path archive = dir.resolve("steered.pt");
        assertEquals(0, Cli.run("export", "--model", model, "--steer", love + "*10", "--portable",
                "--out", archive.toString()).code());
        String prompt = PROMPTS[0];
        int[] plus = hostGreedy(archive, prompt);
        int[] minus = hostGreedy(archive, prompt, "--coefficient", "-10");
        assertArrayEquals(cliGreedy(prompt, love + "*-10"), minus);
        assertFalse(Arrays.equals(plus, minus), "-10 steers elsewhere than +10");
        assertArrayEquals(cliGreedy(prompt, null), hostGreedy(archive, prompt, "--unsteered"), "the unsteered program");
        assertArrayEquals(cliGreedy(prompt, null), hostGreedy(archive, prompt, "--coefficient", "0"));
    }

    @Test
    void perRowSteeringFollowsEachRow() throws Exception {
        // two rows of vectors: the host runs batch 1, so row 0 steers; row 0 = love, row 1 = -love
        Path rows = dir.resolve("rows.safetensors");
        float[] v = dev.steer4j.steering.VectorFiles.read(love).data("transformer.h.1");
        float[] two = new float[2 * v.length];
        for (int i = 0; i < v.length; i++) {
            two[i] = v[i];
            two[v.length + i] = -v[i];
        }
        dev.steer4j.steering.VectorFiles.write(rows, dev.steer4j.steering.io.VectorSet.builder()
                .put("transformer.h.1", new int[]{2, v.length}, two).build(), "gpt2");
        Path archive = dir.resolve("rows.pt");
        assertEquals(0, Cli.run("export", "--model", model, "--steer-rows", rows + "*10", "--portable",
                "--out", archive.toString()).code());
        assertArrayEquals(cliGreedy(PROMPTS[0], love + "*10"), hostGreedy(archive, PROMPTS[0]));
    }

    @Test
    void zeroWeightsFilledAreTheDocumentedSeededValues() {
        Path archive = dir.resolve("zeros.pt");
        assertEquals(0, Cli.run("export", "--shape", "2x64", "--portable", "--out", archive.toString()).code());
        assertTrue(archive.toFile().length() < 3_000_000, "zero weights take no room: " + archive.toFile().length());
        for (String name : new String[]{"transformer.wte.weight", "transformer.h.1.attn.c_attn.weight",
                "transformer.h.0.ln_1.weight", "transformer.h.0.mlp.c_fc.bias"}) {
            JsonNode r = NativeHost.host("weights", "--model", archive.toString(), "--fill-random", "7",
                    "--name", name, "--count", "16", "--json").json();
            double[] expected = SeededWeights.values(name, name.endsWith("ln_1.weight") ? 1 : 2, 7, 16);
            for (int i = 0; i < 16; i++) {
                assertEquals(expected[i], r.get("values").get(i).asDouble(), 1e-7, name + "[" + i + "]");
            }
        }
        NativeHost.Result r = NativeHost.host("generate", "--model", archive.toString(), "--ids", "1,2", "--json");
        assertEquals(2, r.code(), "zero weights without --fill-random is refused");
        assertTrue(r.err().contains("--fill-random"), r.err());
    }

    @Test
    void hostBenchReportsWhatSteer4jBenchReports() {
        Path archive = dir.resolve("bench.pt");
        assertEquals(0, Cli.run("export", "--model", model, "--steer", love + "*4", "--portable",
                "--out", archive.toString()).code());
        JsonNode b = NativeHost.host("bench", "--model", archive.toString(), "--batch", "2", "--prompt-tokens", "4",
                "--new-tokens", "4", "--repeats", "2", "--warmup", "1", "--bandwidth-gbps", "20", "--json").json();
        for (String field : new String[]{"unsteered", "steered", "steered_over_unsteered", "weight_bytes",
                "weight_read_gbps_per_decode_step", "roofline_fraction", "device_memory_mb"}) {
            assertTrue(b.has(field), field + " in " + b);
        }
        assertTrue(b.get("steered").get("tokens_per_s").get("median").asDouble() > 0);
        assertEquals(1, b.get("settings").get("hooks").asInt());
    }

    @Test
    void prefillAndEachStepAreNvtxRanges() throws Exception {
        Path archive = dir.resolve("nvtx.pt");
        assertEquals(0, Cli.run("export", "--model", model, "--portable", "--out", archive.toString()).code());
        Path ranges = dir.resolve("host-ranges.txt");
        NativeHost.Result r = NativeHost.hostWith(java.util.Map.of(
                "NVTX_INJECTION64_PATH", NvtxRangesTest.buildRecorder(dir).toString(), "NVTX_RECORD_FILE", ranges.toString()),
                "generate", "--model", archive.toString(), "--ids", "40,892,6844", "--max-new-tokens", "5", "--json");
        r.json();
        java.util.List<String> lines = Files.readAllLines(ranges);
        assertEquals(1, lines.stream().filter("push prefill"::equals).count(), lines.toString());
        assertEquals(4, lines.stream().filter("push decode_step"::equals).count(), lines.toString());
        assertEquals(lines.stream().filter(l -> l.startsWith("push ")).count(),
                lines.stream().filter("pop"::equals).count(), "every range closed");
    }

    @Test
    void badInputIsAOneLineErrorWithExitTwo() {
        NativeHost.Result missing = NativeHost.host("generate", "--model", dir.resolve("nope.pt").toString(), "--ids", "1");
        assertEquals(2, missing.code());
        assertEquals(1, missing.err().strip().lines().count(), missing.err());
        NativeHost.Result notExported = NativeHost.host("generate", "--model", model, "--ids", "1");
        assertEquals(2, notExported.code(), notExported.err());
        assertTrue(notExported.err().contains("steer4j export"), notExported.err());
        assertTrue(Cli.run("generate", "--model", dir.resolve("steered.pt").toString(), "--prompt", "x").code() != 0);
    }

    private static int[] cliGreedy(String prompt, String steer) {
        JsonNode g = (steer == null
                ? Cli.run("generate", "--model", model, "--prompt", prompt, "--max-new-tokens", "8", "--greedy", "--json")
                : Cli.run("generate", "--model", model, "--prompt", prompt, "--max-new-tokens", "8", "--greedy",
                        "--steer", steer, "--json")).okJson();
        return Fixtures.ints(g.get("results").get(0).get("new_ids"));
    }

    private static int[] hostGreedy(Path archive, String prompt, String... extra) {
        JsonNode ids = Cli.run("tokenize", "--model", model, "--text", prompt, "--json").okJson();
        String csv = Arrays.stream(Fixtures.ints(ids.get("results").get(0).get("ids"))).mapToObj(Integer::toString).collect(Collectors.joining(","));
        String[] args = new String[7 + extra.length];
        System.arraycopy(new String[]{"generate", "--model", archive.toString(), "--ids", csv, "--max-new-tokens", "8"},
                0, args, 0, 7);
        System.arraycopy(extra, 0, args, 7, extra.length);
        String[] withJson = Arrays.copyOf(args, args.length + 1);
        withJson[args.length] = "--json";
        return Fixtures.ints(NativeHost.host(withJson).json().get("new_ids"));
    }
}
