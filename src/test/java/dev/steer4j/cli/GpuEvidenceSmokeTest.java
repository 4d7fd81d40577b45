package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * scripts/device/gpu-evidence.sh --cpu-smoke: the device run's every step (kit, host build, host benches,
 * the Python way, the correctness check, the summary) at a tiny shape on this machine, so the script is
 * known to work before device time is spent. Needs Debian's python3-torch (.ci/run installs it).
 */
class GpuEvidenceSmokeTest {
    @Test
    void cpuSmokeRunsAndWritesItsJsonAndTable(@TempDir Path dir) throws Exception {
        Path host = NativeHost.binary();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder("scripts/device/gpu-evidence.sh", "--cpu-smoke")
                .redirectErrorStream(true).redirectOutput(dir.resolve("output.txt").toFile());
        pb.environment().put("OUT", dir.resolve("out").toString());
        pb.environment().put("KIT", dir.resolve("kit").toString());
        pb.environment().put("HOST_BUILD", host.getParent().toString());
        pb.environment().put("STEER4J", java + " -cp " + System.getProperty("java.class.path") + " " + Main.class.getName());
        Process p = pb.start();
        assertTrue(p.waitFor(600, TimeUnit.SECONDS), "smoke run finished");
        String output = Files.readString(dir.resolve("output.txt"), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), output);

        JsonNode e = new ObjectMapper().readTree(dir.resolve("out/gpu-evidence.json").toFile());
        assertEquals("cpu-smoke", e.get("mode").asText());
        assertTrue(e.get("correctness").get("equal").asBoolean(),
                "host and Python-way steered greedy tokens agree: " + e.get("correctness"));
        assertEquals(4, e.get("rows").size(), "2 batch sizes x (every block, distinct per row)");
        for (JsonNode r : e.get("rows")) {
            assertTrue(r.get("steered_tokens_per_s").asDouble() > 0, r.toString());
            assertTrue(r.get("unsteered_tokens_per_s").asDouble() > 0, r.toString());
        }
        assertEquals(2, e.get("python_way").size());
        String table = Files.readString(dir.resolve("out/gpu-evidence.md"), StandardCharsets.UTF_8);
        assertTrue(table.contains("| every block | float32 | 1 | no |"), table);
        assertTrue(table.contains("| distinct per row | float32 | 2 | no |"), table);
    }
}
