package dev.steer4j;

import dev.steer4j.request.Request;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * An engine's idle slots step with the busy ones: over many runs (a server's requests one after another) their
 * positions once ran past the model's 64 and every step failed ("index out of range" in the position table).
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class EngineIdleSlotTest {
    @TempDir
    Path dir;

    @Test
    void idleSlotsNeverLeaveThePositionTableAcrossRuns() throws Exception {
        Path file = dir.resolve("tiny.pt");
        try (var internal = Fixtures.freshConverted()) {
            internal.save(file);
        }
        int[] plain = Fixtures.ints(Fixtures.expected("greedy.json").get("unsteered").get("new_ids"));
        try (Model model = Model.load(file); Session session = model.session(); Engine engine = session.engine(3, 8)) {
            // 10 runs of 12 steps, one request each: the two idle slots count 120 positions on a 64-position model
            for (int i = 0; i < 10; i++) {
                Request r = Request.prompt("I think dogs are ").maxNewTokens(12).build();
                assertArrayEquals(plain, engine.submit(r).result().get(1, TimeUnit.MINUTES).newIds(), "run " + i);
            }
        }
    }
}
