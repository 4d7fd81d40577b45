package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The phases of a run as NVTX ranges, seen by a tool attached the way Nsight Systems attaches: an
 * injection library named by {@code NVTX_INJECTION64_PATH} (src/test/native/nvtx_recorder.c, built here
 * with gcc). NVTX reads that variable once per process, so the run is a child JVM.
 */
class NvtxRangesTest {

    @Test
    void phasesAreNestedNvtxRangesMatchingTheTrace(@TempDir Path dir) throws Exception {
        Path recorder = buildRecorder(dir);
        Path vec = dir.resolve("v.safetensors");
        assertEquals(0, Cli.run("vector", "--model", Cli.convertedModel().toString(), "--positive", "Love", "--negative", "Hate",
                "--module", "transformer.h.1", "--normalize", "--out", vec.toString()).code());
        Path ranges = dir.resolve("ranges.txt");
        Path trace = dir.resolve("trace.json");
        Path stdout = dir.resolve("stdout.json");

        ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Main.class.getName(),
                "generate", "--model", Cli.convertedModel().toString(), "--prompt", "I think dogs are ", "--max-new-tokens", "4",
                "--steer", vec + "*10", "--profile", trace.toString(), "--json");
        pb.environment().put("NVTX_INJECTION64_PATH", recorder.toString());
        pb.environment().put("NVTX_RECORD_FILE", ranges.toString());
        pb.redirectOutput(stdout.toFile()).redirectError(ProcessBuilder.Redirect.INHERIT);
        Process p = pb.start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child run finished");
        assertEquals(0, p.exitValue());

        List<String> pushed = new ArrayList<>();
        Deque<String> open = new ArrayDeque<>();
        for (String line : Files.readAllLines(ranges, StandardCharsets.UTF_8)) {
            if (line.startsWith("push ")) {
                pushed.add(line.substring(5));
                open.push(line.substring(5));
            } else {
                assertEquals("pop", line);
                assertFalse(open.isEmpty(), "a pop without a push");
                open.pop();
            }
        }
        assertTrue(open.isEmpty(), "ranges left open: " + open);

        // One prefill and its sampling, then a decode step per further token (greedy steps choose in the graph).
        JsonNode out = new ObjectMapper().readTree(stdout.toFile());
        int generated = out.get("results").get(0).get("new_ids").size();
        assertTrue(generated >= 1, "generated tokens");
        assertEquals(1, count(pushed, "prefill"));
        assertEquals(generated - 1, count(pushed, "decode_step"));
        assertEquals(1, count(pushed, "sampling"));
        assertTrue(pushed.indexOf("tokenize") < pushed.indexOf("prefill"));
        assertTrue(pushed.indexOf("steering_build") < pushed.indexOf("prefill"));
        assertTrue(pushed.contains("steering_update"));

        // The same phases as the Chrome trace of the same run.
        List<String> traced = new ArrayList<>();
        for (JsonNode e : new ObjectMapper().readTree(trace.toFile()).get("traceEvents")) traced.add(e.get("name").asText());
        assertEquals(sorted(traced), sorted(pushed));
    }

    static Path buildRecorder(Path dir) throws Exception {
        Path root = Path.of(System.getProperty("basedir", System.getProperty("user.dir")));
        Path lib = dir.resolve("libnvtx_recorder.so");
        Process gcc = new ProcessBuilder("gcc", "-shared", "-fPIC", "-O1", "-I", root.resolve("native").toString(),
                "-o", lib.toString(), root.resolve("src/test/native/nvtx_recorder.c").toString())
                .redirectErrorStream(true).start();
        String log = new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(gcc.waitFor(60, TimeUnit.SECONDS), "gcc finished");
        assertEquals(0, gcc.exitValue(), "gcc: " + log);
        return lib;
    }

    private static long count(List<String> names, String name) {
        return names.stream().filter(name::equals).count();
    }

    private static List<String> sorted(List<String> names) {
        List<String> s = new ArrayList<>(names);
        s.sort(null);
        return s;
    }
}
