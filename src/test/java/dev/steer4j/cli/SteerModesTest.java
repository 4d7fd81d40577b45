package dev.steer4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --steer-mode bias} with several vectors on one module adds them all, as hooks do. */
class SteerModesTest {
    @Test
    void twoBiasEditsOnOneModuleEqualTwoHooks(@TempDir Path dir) {
        Fixtures.writeVectors(dir);
        String a = dir.resolve("last.safetensors") + "*4";
        String b = dir.resolve("mean.safetensors") + "*4";
        JsonNode hooks = Cli.run(SteeringCommandsTest.logitsArgs("--steer", a, "--steer", b)).okJson().get("results");
        JsonNode bias = Cli.run(SteeringCommandsTest.logitsArgs("--steer", a, "--steer", b, "--steer-mode", "bias")).okJson()
                .get("results");
        JsonNode onlyB = Cli.run(SteeringCommandsTest.logitsArgs("--steer", b, "--steer-mode", "bias")).okJson().get("results");
        for (int i = 0; i < 3; i++) {
            float[] h = Fixtures.floats(hooks.get(i).get("logits"));
            Fixtures.assertClose(h, Fixtures.floats(bias.get(i).get("logits")), 1e-5, "bias = hooks, prompt " + i);
            assertTrue(Fixtures.maxAbsDiff(h, Fixtures.floats(onlyB.get(i).get("logits"))) > 1e-2, "not b alone");
        }
    }
}
