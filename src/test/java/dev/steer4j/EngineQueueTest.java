package dev.steer4j;

import dev.steer4j.request.Request;
import java.nio.file.Path;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A request cancelled while queued gives its place in the queue back at once, not when a slot frees. */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class EngineQueueTest {
    @TempDir
    Path dir;

    @Test
    void aCancelledQueuedRequestLeavesTheQueueAtOnce() throws Exception {
        Path file = dir.resolve("tiny.pt");
        try (var internal = Fixtures.freshConverted()) {
            internal.save(file);
        }
        try (Model model = Model.load(file); Session session = model.session(); Engine engine = session.engine(1, 1)) {
            CountDownLatch hold = new CountDownLatch(1);
            CountDownLatch running = new CountDownLatch(1);
            Completion first = engine.submit(Request.prompt("I think dogs are ").maxNewTokens(4).build(), d -> {
                running.countDown();
                try {
                    return hold.await(1, TimeUnit.MINUTES);
                } catch (InterruptedException e) {
                    return false;
                }
            });
            assertTrue(running.await(1, TimeUnit.MINUTES));
            Completion queued = engine.submit(Request.prompt("Today I feel").maxNewTokens(4).build());
            assertThrows(QueueFullException.class, () -> engine.submit(Request.prompt("x").maxNewTokens(1).build()));
            queued.cancel();
            assertEquals(0, engine.queued());
            Completion next = engine.submit(Request.prompt("Today I feel").maxNewTokens(4).build()); // its place is free
            hold.countDown();
            assertEquals(4, first.result().get(1, TimeUnit.MINUTES).newIds().length);
            assertEquals(4, next.result().get(1, TimeUnit.MINUTES).newIds().length);
            assertThrows(CancellationException.class, () -> queued.result().join());
        }
    }
}
