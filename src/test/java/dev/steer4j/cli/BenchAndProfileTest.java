package dev.steer4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.steer4j.Fixtures;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bench JSON schema, and --profile traces as valid Chrome trace JSON with the phase names. */
class BenchAndProfileTest {

    static void assertStats(JsonNode s, String what) {
        for (String k : List.of("median", "min", "max")) assertTrue(s.get(k).isNumber(), what + "." + k);
        assertTrue(s.get("min").asDouble() <= s.get("median").asDouble(), what + " min <= median");
        assertTrue(s.get("median").asDouble() <= s.get("max").asDouble(), what + " median <= max");
        assertTrue(s.get("min").asDouble() > 0, what + " positive");
    }

    static Set<String> phases(Path trace) throws Exception {
        JsonNode t = new ObjectMapper().readTree(trace.toFile());
        assertTrue(t.get("traceEvents").isArray(), "traceEvents");
        Set<String> names = new HashSet<>();
        for (JsonNode e : t.get("traceEvents")) {
            assertEquals("X", e.get("ph").asText());
            for (String k : List.of("ts", "dur", "pid", "tid")) assertTrue(e.get(k).isNumber(), k);
            assertTrue(e.get("dur").asDouble() >= 0);
            names.add(e.get("name").asText());
        }
        return names;
    }

    @Test
    void benchPrintsTheSchemaAndATrace(@TempDir Path dir) throws Exception {
        Path trace = dir.resolve("bench-trace.json");
        JsonNode out = Cli.run("bench", "--model", Cli.convertedModel().toString(), "--batch", "2", "--prompt-tokens", "4",
                "--new-tokens", "3", "--repeats", "3", "--warmup", "1", "--soak-calls", "5", "--bandwidth-gbps", "10",
                "--profile", trace.toString(), "--json").okJson();
        JsonNode settings = out.get("settings");
        assertEquals(2, settings.get("batch").asInt());
        assertEquals(4, settings.get("prompt_tokens").asInt());
        assertEquals(3, settings.get("new_tokens").asInt());
        assertEquals("float32", settings.get("dtype").asText());
        JsonNode parallel = settings.get("parallel");
        assertEquals(settings.get("threads").asInt(), parallel.get("intra_op_threads").asInt());
        assertTrue(parallel.get("policy").asText().startsWith("steer4j default"), parallel.toString());
        assertEquals("OpenBLAS", parallel.get("blas").asText());
        assertTrue(parallel.has("omp_wait_policy") && parallel.has("openblas_num_threads"), parallel.toString());
        assertEquals(1, settings.get("distinct").asInt());
        for (String side : List.of("unsteered", "steered")) {
            for (String m : List.of("prefill_ms", "decode_ms_per_token", "tokens_per_s")) assertStats(out.get(side).get(m), side + "." + m);
        }
        double ratio = out.get("steered").get("tokens_per_s").get("median").asDouble()
                / out.get("unsteered").get("tokens_per_s").get("median").asDouble();
        assertEquals(ratio, out.get("steered_over_unsteered").asDouble(), 1e-9);
        assertStats(out.get("steered_over_unsteered_paired"), "steered_over_unsteered_paired");
        assertTrue(out.get("peak_rss_mb").asDouble() > 0);
        assertTrue(out.get("device_memory_mb").isNull(), "a CPU run has no device memory to report");
        assertEquals(6593792, out.get("weight_bytes").asLong(), "tiny weights: 1,648,448 floats, wte stored once");
        assertEquals(out.get("weight_read_gbps_per_decode_step").asDouble() / 10, out.get("roofline_fraction").asDouble(), 1e-12);
        // roofline: the tiny model's FLOPs by hand (3 blocks of width 32, inner 128, vocabulary 50257) at the mean
        // context of a decode step (4 prompt tokens + 3/2 new = 5), and fractions that follow from the figures beside them
        JsonNode roof = out.get("roofline");
        double perBlock = 2.0 * (32 * 96 + 32 * 32 + 32 * 128 + 128 * 32) + 2.0 * 2 * 32 * 5;
        assertEquals(3 * perBlock + 2.0 * 32 * 50257, roof.get("flops_per_token").asDouble(), 1e-6);
        double stepS = roof.get("step_ms").asDouble() / 1e3;
        assertEquals(out.get("unsteered").get("decode_ms_per_token").get("median").asDouble(), roof.get("step_ms").asDouble(), 1e-9);
        assertEquals(2 * roof.get("flops_per_token").asDouble() / stepS / 1e9, roof.get("achieved_gflops").asDouble(), 1e-6);
        assertEquals(roof.get("achieved_gflops").asDouble() / roof.get("gemm_peak_gflops").asDouble(), roof.get("gemm_fraction").asDouble(), 1e-9);
        assertEquals(6593792 / stepS / 1e9 / roof.get("read_peak_gbps").asDouble(), roof.get("memory_fraction").asDouble(), 1e-9);
        assertTrue(roof.get("gemm_peak_gflops").asDouble() > 1 && roof.get("read_peak_gbps").asDouble() > 0.5, roof.toString());
        assertEquals(roof.get("step_ms").asDouble() / roof.get("gemms_alone_ms").asDouble(), roof.get("step_over_gemms_alone").asDouble(), 1e-9);
        assertTrue(roof.get("gemms_alone_ms").asDouble() > 0, roof.toString());
        assertEquals(5, out.get("soak").get("calls").asInt());
        assertTrue(phases(trace).containsAll(List.of("prefill", "decode_step", "sampling", "steering_build")), phases(trace).toString());
    }

    @Test
    void generateProfileHasEveryPhase(@TempDir Path dir) throws Exception {
        Path vec = dir.resolve("v.safetensors");
        assertEquals(0, Cli.run("vector", "--model", Cli.convertedModel().toString(), "--positive", "Love", "--negative", "Hate",
                "--module", "transformer.h.1", "--normalize", "--out", vec.toString()).code());
        Path trace = dir.resolve("gen-trace.json");
        Cli.run("generate", "--model", Cli.convertedModel().toString(), "--prompt", "I think dogs are ", "--max-new-tokens", "4",
                "--steer", vec + "*10", "--profile", trace.toString(), "--json").okJson();
        assertTrue(phases(trace).containsAll(List.of("load_model", "tokenize", "prefill", "decode_step", "sampling",
                "steering_build", "steering_update")), phases(trace).toString());
    }

    @Test
    void benchDistinctSteersRowsWithTheirOwnVectors() {
        JsonNode out = Cli.run("bench", "--model", Cli.convertedModel().toString(), "--batch", "4", "--distinct", "4",
                "--prompt-tokens", "4", "--new-tokens", "3", "--repeats", "1", "--warmup", "0", "--json").okJson();
        assertEquals(4, out.get("settings").get("distinct").asInt());
        assertTrue(out.get("settings").get("steer").asText().startsWith("4 distinct"));
        assertTrue(Cli.run("bench", "--model", Cli.convertedModel().toString(), "--batch", "2", "--distinct", "3", "--json")
                .badInput().contains("--distinct"));
    }

    @Test
    void benchRejectsBadSettings() {
        Cli.run("bench", "--model", Cli.convertedModel().toString(), "--prompt-tokens", "60", "--new-tokens", "10", "--json").badInput();
        Cli.run("bench", "--model", Cli.convertedModel().toString(), "--batch", "0", "--json").badInput();
        Fixtures.converted(); // keeps the shared fixture warm for other tests
    }
}
