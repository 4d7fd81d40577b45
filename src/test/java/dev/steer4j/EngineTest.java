package dev.steer4j;

import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.request.Request;
import dev.steer4j.request.Result;
import dev.steer4j.request.Steer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The API's engine: many threads submit, each request gets exactly its own result, streamed, stopped or cancelled. */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class EngineTest {
    static final String PROMPT = "I think dogs are ";
    static final JsonNode GREEDY = Fixtures.expected("greedy.json");
    static final float[] UNIT = Fixtures.floats(Fixtures.expected("actadd.json").get("last_token").get("unit_vector"));
    static final String BLOCK = "transformer.h.1";

    @TempDir
    static Path dir;
    static Model model;

    @BeforeAll
    static void load() {
        Path file = dir.resolve("tiny.pt");
        Fixtures.saveConverted(file);
        model = Model.load(file);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** Tells {@code running} at the first token, then keeps the engine's thread until {@code hold} opens: a full slot. */
    static TextListener heldUntil(CountDownLatch running, CountDownLatch hold) {
        return d -> {
            running.countDown();
            try {
                return hold.await(1, TimeUnit.MINUTES);
            } catch (InterruptedException e) {
                return false;
            }
        };
    }

    static Request steered(String id, double coef, int n) {
        return Request.prompt(PROMPT).id(id).maxNewTokens(n).steer(new Steer(BLOCK, UNIT, coef)).build();
    }

    /** Two threads, opposite steering, interleaved in one batch: the reference's runs, and each equal to its run alone. */
    @Test
    void concurrentClientsWithOppositeSteeringEachGetTheirOwnResult() throws Exception {
        int[] plus = Fixtures.ints(GREEDY.get("steered_last_token_unit_every_position_c10").get("new_ids"));
        int[] plain = Fixtures.ints(GREEDY.get("unsteered").get("new_ids"));
        int[] minus;
        try (Session alone = model.session()) {
            minus = alone.run(steered("alone", -10, 12)).newIds();
        }
        try (Session session = model.session(); Engine engine = session.engine(4, 64)) {
            ExecutorService clients = Executors.newFixedThreadPool(2);
            try {
                List<Future<List<Result>>> sides = new ArrayList<>();
                for (double coef : new double[]{10, -10}) {
                    sides.add(clients.submit(() -> {
                        List<Completion> mine = new ArrayList<>();
                        for (int i = 0; i < 6; i++) {
                            mine.add(engine.submit(i % 3 == 2 ? Request.prompt(PROMPT).id("plain").maxNewTokens(12).build()
                                    : steered(coef > 0 ? "plus" : "minus", coef, 12)));
                        }
                        List<Result> results = new ArrayList<>();
                        for (Completion c : mine) results.add(c.result().get(2, TimeUnit.MINUTES));
                        return results;
                    }));
                }
                for (Future<List<Result>> side : sides) {
                    for (Result r : side.get()) {
                        int[] expected = switch (r.id()) {
                            case "plus" -> plus;
                            case "minus" -> minus;
                            default -> plain;
                        };
                        assertArrayEquals(expected, r.newIds(), r.id());
                    }
                }
            } finally {
                clients.shutdownNow();
            }
        }
        assertTrue(!java.util.Arrays.equals(plus, minus), "opposite steering must differ on the reference model");
    }

    @Test
    void streamedTextAddsUpToTheResultAndAStopEndsTheRequest() throws Exception {
        try (Session session = model.session(); Engine engine = session.engine(2, 8)) {
            StringBuilder streamed = new StringBuilder();
            Result all = engine.submit(steered("s", 10, 12), d -> streamed.append(d) != null).result().get(1, TimeUnit.MINUTES);
            assertEquals(all.text(), streamed.toString());
            assertEquals(Result.FinishReason.LENGTH, all.finishReason());

            int[] count = {0};
            Result stopped = engine.submit(steered("t", 10, 12), d -> ++count[0] < 3).result().get(1, TimeUnit.MINUTES);
            assertEquals(Result.FinishReason.STOP, stopped.finishReason());
            assertEquals(3, stopped.newIds().length);
            assertArrayEquals(java.util.Arrays.copyOf(all.newIds(), 3), stopped.newIds());
        }
    }

    /** One slot: a cancelled request leaves it at the next step, so the one queued behind runs long before 55 steps. */
    @Test
    void aCancelledRequestFreesItsSlot() throws Exception {
        try (Session session = model.session(); Engine engine = session.engine(1, 8)) {
            aCancelledRequestFreesTheSlotOf(engine);
        }
    }

    /**
     * On an engine of one slot: a long request cancelled by its own listener at its second token leaves the slot at
     * the next step, and the request queued behind it runs alone, as the reference's steered run, long before 55 steps.
     */
    static void aCancelledRequestFreesTheSlotOf(Engine engine) throws Exception {
        AtomicReference<Completion> first = new AtomicReference<>();
        CountDownLatch submitted = new CountDownLatch(1); // the listener may run before submit returns
        int[] seen = {0};
        long before = engine.steps();
        first.set(engine.submit(Request.prompt(PROMPT).maxNewTokens(55).build(), d -> {
            if (++seen[0] == 2) {
                try {
                    submitted.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                first.get().cancel();
            }
            return true;
        }));
        Completion second = engine.submit(steered("after", 10, 12));
        submitted.countDown();
        int[] plus = Fixtures.ints(GREEDY.get("steered_last_token_unit_every_position_c10").get("new_ids"));
        assertArrayEquals(plus, second.result().get(1, TimeUnit.MINUTES).newIds());
        assertThrows(CancellationException.class, () -> first.get().result().join());
        long steps = engine.steps() - before;
        assertTrue(steps < 40, "the cancelled request kept its slot: " + steps + " steps");
    }

    /** A row whose logits turn NaN mid-generation fails alone; the rows beside it finish as they would alone. */
    @Test
    void nanLogitsInADecodeStepFailThatRequestOnly() throws Exception {
        int[] plus = Fixtures.ints(GREEDY.get("steered_last_token_unit_every_position_c10").get("new_ids"));
        Request poisoned = Request.prompt(PROMPT).maxNewTokens(12)
                .steer(new Steer(BLOCK, UNIT, 3e38, dev.steer4j.request.Positions.GENERATED)).build();
        for (boolean sampled : new boolean[]{false, true}) {
            Request other = sampled ? Request.prompt(PROMPT).maxNewTokens(12).sample(0.8, 7).build() : steered("plus", 10, 12);
            int[] expected;
            try (Session alone = model.session()) {
                expected = sampled ? alone.run(other).newIds() : plus;
            }
            try (Session session = model.session(); Engine engine = session.engine(4, 8)) {
                Completion bad = engine.submit(poisoned);
                Completion good = engine.submit(other);
                Completion after = engine.submit(other); // a later request on the engine still runs right
                CompletionException e = assertThrows(CompletionException.class, () -> bad.result().join());
                assertTrue(e.getCause().getMessage().contains("NaN"), e.getCause().getMessage());
                assertArrayEquals(expected, good.result().get(1, TimeUnit.MINUTES).newIds(), "sampled=" + sampled);
                assertArrayEquals(expected, after.result().get(1, TimeUnit.MINUTES).newIds(), "sampled=" + sampled);
            }
        }
    }

    @Test
    void aFullQueueRefusesABadRequestFailsAloneAndAClosedEngineRefuses() throws Exception {
        Session session = model.session();
        Engine engine = session.engine(1, 1);
        CountDownLatch hold = new CountDownLatch(1);
        CountDownLatch running = new CountDownLatch(1);
        Completion first = engine.submit(Request.prompt(PROMPT).maxNewTokens(4).build(), heldUntil(running, hold));
        assertTrue(running.await(1, TimeUnit.MINUTES));
        Completion bad = engine.submit(Request.prompt(PROMPT).maxNewTokens(4).steer(new Steer(BLOCK, new float[3], 1)).build());
        QueueFullException full = assertThrows(QueueFullException.class, () -> engine.submit(Request.prompt(PROMPT).maxNewTokens(4).build()));
        assertTrue(full.getMessage().contains("queue is full"), full.getMessage());
        hold.countDown();
        assertEquals(4, first.result().get(1, TimeUnit.MINUTES).newIds().length);
        CompletionException e = assertThrows(CompletionException.class, () -> bad.result().join());
        assertTrue(e.getCause() instanceof InvalidInputException && e.getCause().getMessage().contains("width"), e.getCause().getMessage());

        CountDownLatch never = new CountDownLatch(1);
        Completion longOne = engine.submit(Request.prompt(PROMPT).maxNewTokens(50).build(), d -> {
            never.countDown();
            return true;
        });
        assertTrue(never.await(1, TimeUnit.MINUTES));
        session.close(); // closes the engine: the running request is cancelled, its slot's memory freed
        assertTrue(longOne.result().isDone());
        assertThrows(IllegalStateException.class, () -> engine.submit(Request.prompt(PROMPT).maxNewTokens(4).build()));
        assertTrue(engine.shutdown(Duration.ZERO), "closing again finds nothing unfinished");
    }

    /** Closing the model stops its sessions' engines and continuous runs too; nothing is left to the GC. */
    @Test
    void closingTheModelClosesItsSessionsEnginesAndRuns() throws Exception {
        Path file = dir.resolve("own.pt");
        Fixtures.saveConverted(file);
        Model own = Model.load(file);
        // two sessions: while its engine is open, the engine's thread is its session's user (Session.engine)
        Engine engine = own.session().engine(2, 4);
        Session session = own.session();
        assertEquals(3, engine.submit(steered("x", 10, 3)).result().get(1, TimeUnit.MINUTES).newIds().length);
        List<Result> streamed = new ArrayList<>();
        session.run(List.of(steered("y", 10, 3)).iterator(), 2, new ResultSink() {
            @Override public void completed(Result r) { streamed.add(r); }

            @Override public void failed(Request r, String message) { throw new AssertionError(message); }
        });
        assertEquals(1, streamed.size());
        own.close();
        assertThrows(IllegalStateException.class, () -> engine.submit(steered("z", 10, 3)));
        assertThrows(IllegalStateException.class, () -> session.run(List.of(steered("w", 10, 3)).iterator(), 2, new ResultSink() {
            @Override public void completed(Result r) {}

            @Override public void failed(Request r, String message) {}
        }));
        session.close(); // again: harmless
    }

    /** A request cancelled while queued gives its place in the queue back at once, not when a slot frees. */
    @Test
    void aCancelledQueuedRequestLeavesTheQueueAtOnce() throws Exception {
        try (Session session = model.session(); Engine engine = session.engine(1, 1)) {
            CountDownLatch hold = new CountDownLatch(1);
            CountDownLatch running = new CountDownLatch(1);
            Completion first = engine.submit(Request.prompt(PROMPT).maxNewTokens(4).build(), heldUntil(running, hold));
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

    /**
     * An engine's idle slots step with the busy ones: over many runs (a server's requests one after another) their
     * positions once ran past the model's 64 and every step failed ("index out of range" in the position table).
     */
    @Test
    void idleSlotsNeverLeaveThePositionTableAcrossRuns() throws Exception {
        int[] plain = Fixtures.ints(GREEDY.get("unsteered").get("new_ids"));
        try (Session session = model.session(); Engine engine = session.engine(3, 8)) {
            // 10 runs of 12 steps, one request each: the two idle slots count 120 positions on a 64-position model
            for (int i = 0; i < 10; i++) {
                Request r = Request.prompt(PROMPT).maxNewTokens(12).build();
                assertArrayEquals(plain, engine.submit(r).result().get(1, TimeUnit.MINUTES).newIds(), "run " + i);
            }
        }
    }
}
