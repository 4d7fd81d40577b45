package dev.steer4j.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.steer4j.Fixtures;
import dev.steer4j.MemoryLimitException;
import dev.steer4j.model.GPT2Config;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.request.Request;
import dev.steer4j.runtime.Devices;
import dev.steer4j.runtime.MemoryBudget;
import dev.steer4j.session.SteeringSession;
import java.util.List;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** Slots are checked against the memory there is before anything is allocated, and a cache before it grows. */
class EngineMemoryTest {
    @Test
    void anEngineNoMachineCanHoldIsRefusedBeforeAllocating() {
        Gpt2Model model = Fixtures.converted();
        try (SteeringSession session = SteeringSession.open(model)) {
            for (int slots : new int[]{1_000_000, Integer.MAX_VALUE}) {
                MemoryLimitException e = assertThrows(MemoryLimitException.class, () -> session.engine(slots).close());
                assertEquals("an engine of " + slots + " slots", e.subject());
                assertTrue(e.needed() > e.available(), e.getMessage());
                // per slot at least its smallest cache and one step's logits
                assertTrue(e.needed() >= (long) slots * (model.kvCacheBytes(1, 64) + model.logitsBytes(1)), e.getMessage());
                assertTrue(e.getMessage().startsWith("an engine of " + slots + " slots needs "), e.getMessage());
                assertTrue(e.getMessage().contains("(" + e.needed() + " bytes) of host memory for its KV cache at the smallest"),
                        e.getMessage());
                assertTrue(e.getMessage().endsWith("(" + e.available() + " bytes) are available"), e.getMessage());
            }
            // a static batch words it as a batch of requests
            List<Request> many = java.util.Collections.nCopies(1_000_000, Request.of("x", "Hello", 1));
            MemoryLimitException e = assertThrows(MemoryLimitException.class, () -> session.run(many));
            assertTrue(e.getMessage().startsWith("a batch of 1000000 requests needs "), e.getMessage());
            // and the session still works
            assertEquals(1, session.run(List.of(Request.of("ok", "Hello", 2))).size());
        }
    }

    /** Where host memory would hold the slots' caches, the Java heap may still not hold their state: refused too. */
    @Test
    void slotsWhoseJavaStateOutgrowsTheHeapAreRefused() {
        Gpt2Model model = Fixtures.converted();
        // one sampled step's logits as floats alone outgrow -Xmx
        int slots = (int) Math.min(Integer.MAX_VALUE, Runtime.getRuntime().maxMemory() / (4L * model.vocabSize()) + 1);
        long nativeNeed = (long) slots * (model.kvCacheBytes(1, 64) + 64 + 40 + model.logitsBytes(1));
        MemoryBudget.Available host = MemoryBudget.host();
        assumeTrue(host != null && host.bytes() > nativeNeed + (1L << 30), "host memory would refuse first here");
        try (SteeringSession session = SteeringSession.open(model)) {
            MemoryLimitException e = assertThrows(MemoryLimitException.class, () -> session.engine(slots).close());
            assertTrue(e.getMessage().startsWith("an engine of " + slots + " slots needs "), e.getMessage());
            assertTrue(e.getMessage().contains(" of Java heap (-Xmx "), e.getMessage());
            assertTrue(e.needed() > e.available() && e.available() <= Runtime.getRuntime().maxMemory(), e.getMessage());
        }
    }

    /**
     * A model whose cache, not its logits, is what grows: with the memory capped, short requests run and one
     * whose span would grow the cache past it fails alone, naming the bytes, while the rest of the run goes on.
     */
    @Test
    void aCacheThatWouldOutgrowMemoryFailsItsRequestAloneAndTheRunGoesOn() {
        GPT2Config shape = new GPT2Config(4, 4, 256, 1024, 50257, 1024, 1e-5);
        try (Gpt2Model model = Gpt2Model.zeroWeights(shape, ScalarType.Float, Devices.parse("cpu"), false);
             SteeringSession session = SteeringSession.open(model)) {
            long smallest = model.kvCacheBytes(1, 64);        // 0.5 MB: fits
            long grown = model.kvCacheBytes(1, 2048);         // 16.8 MB: does not
            long limit = 4_000_000;
            assertTrue(smallest + model.logitsBytes(1) < limit && grown > limit);
            String longPrompt = "word ".repeat(600);
            List<Request> requests = List.of(Request.of("short1", "Hello there", 2), Request.of("long", longPrompt, 2),
                    Request.of("short2", "Today I feel", 2));
            for (int budget : new int[]{0, 8}) { // prefilled apart, then chunked (its cache needs no second half)
                BatchEngineTest.Collect sink = new BatchEngineTest.Collect();
                System.setProperty(MemoryBudget.LIMIT_PROPERTY, Long.toString(limit));
                try (BatchEngine engine = session.engine(1)) {
                    if (budget > 0) engine.tokenBudget(budget);
                    engine.run(requests.iterator(), sink);
                } finally {
                    System.clearProperty(MemoryBudget.LIMIT_PROPERTY);
                }
                assertEquals(List.of("short1", "short2"), List.copyOf(sink.done.keySet()));
                String message = sink.failed.get("long");
                assertTrue(message != null && message.matches("a request of 6\\d\\d positions \\(prompt and new tokens\\) needs .*"),
                        sink.failed.toString());
                assertTrue(message.contains("of host memory for the KV cache of 1 slot at " + (budget > 0 ? 1024 : 2048) + " columns (float32); "),
                        message);
                assertTrue(message.endsWith("(" + limit + " bytes) are available"), message);
            }
        }
    }
}
