package dev.steer4j.engine;

import dev.steer4j.Fixtures;
import dev.steer4j.request.Sampling;
import dev.steer4j.request.Positions;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.request.Request;
import dev.steer4j.request.Result;
import dev.steer4j.request.Steer;
import dev.steer4j.session.SteeringSession;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The continuous-batching engine gives each request what it gets alone, whatever shares its slots. */
class BatchEngineTest {
    static final String H0 = "transformer.h.0";
    static final String H1 = "transformer.h.1";
    static final float[] MEAN = Fixtures.floats(Fixtures.expected("actadd.json").get("mean_vector"));
    static final float[] UNIT = Fixtures.floats(Fixtures.expected("actadd.json").get("last_token").get("unit_vector"));
    static final String[] PROMPTS = {"I think dogs are ", "Today I feel", "The capital of France is", "Hello",
            "Once upon a time there was a", "A", "My brother is", "The people said, and then they all went home"};

    /** Results by id, and the order they finished in. */
    static final class Collect implements BatchEngine.Sink {
        final Map<String, Result> done = new LinkedHashMap<>();
        final Map<String, String> failed = new LinkedHashMap<>();

        @Override public void completed(Result r) { done.put(r.id(), r); }

        @Override public void failed(Request r, String message) { failed.put(r.id(), message); }
    }

    static List<Request> mixed() {
        List<List<Steer>> configs = List.of(
                List.of(),
                List.of(new Steer(H1, MEAN, 4)),
                List.of(new Steer(H1, UNIT, -6, Positions.PROMPT)),
                List.of(new Steer(H0, UNIT, 5, Positions.GENERATED), new Steer(H1, MEAN, -2)),
                List.of(new Steer(H1, UNIT, 8, Positions.from(3))),
                List.of(new Steer(H1, MEAN, 4), new Steer(H1, UNIT, 3)));
        List<Request> out = new ArrayList<>();
        for (int i = 0; i < 14; i++) {
            Sampling sampling = i % 4 == 3 ? Sampling.sample(0.8, 20, 0.9, 100 + i) : Sampling.GREEDY;
            out.add(new Request("r" + i, PROMPTS[i % PROMPTS.length], configs.get(i % configs.size()), 3 + (i * 7) % 17,
                    sampling));
        }
        return out;
    }

    @Test
    void everyRequestEqualsItsSingleRunWithFewerSlotsThanRequests() {
        Gpt2Model model = Fixtures.converted();
        List<Request> requests = mixed();
        Collect sink = new Collect();
        try (SteeringSession s = SteeringSession.open(model); BatchEngine engine = s.engine(3)) {
            engine.run(requests.iterator(), sink);
        }
        assertEquals(Map.of(), sink.failed);
        assertEquals(requests.size(), sink.done.size());
        try (SteeringSession alone = SteeringSession.open(model)) {
            for (Request r : requests) {
                Result single = alone.run(List.of(r)).get(0);
                Result got = sink.done.get(r.id());
                assertArrayEquals(single.newIds(), got.newIds(), r.id() + " (" + r.sampling() + ", " + r.steer().size() + " entries)");
                assertEquals(single.finishReason(), got.finishReason(), r.id());
                assertEquals(single.text(), got.text());
            }
        }
        // requests left as they finished, not in input order: a short one overtook a long one
        List<String> order = new ArrayList<>(sink.done.keySet());
        assertTrue(!order.equals(requests.stream().map(Request::id).toList()), order.toString());
    }

    /** Many short requests through 2 slots: the clock wraps many times; a long one arriving later grows the cache. */
    @Test
    void theCacheShiftsAndGrowsWithoutChangingResults() {
        Gpt2Model model = Fixtures.converted();
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            requests.add(new Request("s" + i, PROMPTS[i % 4], i % 2 == 0 ? List.of(new Steer(H1, UNIT, 2 + i)) : List.of(),
                    4 + i % 5, Sampling.GREEDY));
        }
        requests.add(new Request("long", PROMPTS[7], List.of(new Steer(H1, MEAN, 3)), 64 - 12, Sampling.GREEDY));
        requests.add(Request.of("after", PROMPTS[0], 10));
        Collect sink = new Collect();
        try (SteeringSession s = SteeringSession.open(model); BatchEngine engine = s.engine(2)) {
            engine.run(requests.iterator(), sink);
            assertTrue(engine.cache().shifts() >= 2, "shifts: " + engine.cache().shifts());
            assertEquals(128, engine.cache().capacity(), "grown for the 64-token request");
        }
        assertEquals(Map.of(), sink.failed);
        try (SteeringSession alone = SteeringSession.open(model)) {
            for (Request r : requests) {
                assertArrayEquals(alone.run(List.of(r)).get(0).newIds(), sink.done.get(r.id()).newIds(), r.id());
            }
        }
    }

    /** Decode steps attend from the earliest column a live request owns, not from column 0. */
    @Test
    void theWindowStartsAtTheEarliestLiveRequest() {
        try (SlotCache cache = new SlotCache(Fixtures.converted(), 3, 10)) {
            int clock = cache.clock();
            assertEquals(clock, cache.window().first(), "no live request: nothing before the clock");
            cache.place(0, 5);
            cache.place(1, 3);
            SlotCache.Window w = cache.window();
            assertEquals(clock - 5, w.first());
            assertEquals(cache.capacity() - (clock - 5), w.keyPadding().size(1));
            assertTrue(w == cache.window(), "unchanged: the same views");
            cache.vacate(0);
            assertEquals(clock - 3, cache.window().first());
            cache.vacate(1);
            assertEquals(clock, cache.window().first());
        }
    }

    @Test
    void aBadRequestFailsAloneAndTheOthersRun() {
        Gpt2Model model = Fixtures.converted();
        List<Request> requests = List.of(
                Request.of("ok1", PROMPTS[0], 5),
                new Request("bad-module", PROMPTS[1], List.of(new Steer("transformer.h.9", MEAN, 1)), 5, Sampling.GREEDY),
                Request.of("too-long", PROMPTS[2], 1000),
                new Request("nan", PROMPTS[1], List.of(new Steer(H1, UNIT, 1e30)), 5, Sampling.GREEDY),
                new Request("overflow", PROMPTS[1], List.of(new Steer(H1, UNIT, 1e50)), 5, Sampling.GREEDY),
                Request.of("zero", PROMPTS[3], 0),
                Request.of("ok2", PROMPTS[3], 5));
        Collect sink = new Collect();
        try (SteeringSession s = SteeringSession.open(model); BatchEngine engine = s.engine(2)) {
            engine.run(requests.iterator(), sink);
        }
        assertEquals(List.of("bad-module", "too-long", "nan", "overflow"), new ArrayList<>(sink.failed.keySet()), sink.failed.toString());
        assertTrue(sink.failed.get("nan").contains("NaN"), sink.failed.get("nan"));
        assertEquals(0, sink.done.get("zero").newIds().length);
        try (SteeringSession alone = SteeringSession.open(model)) {
            for (String id : List.of("ok1", "ok2")) {
                Request r = requests.stream().filter(q -> q.id().equals(id)).findFirst().orElseThrow();
                assertArrayEquals(alone.run(List.of(r)).get(0).newIds(), sink.done.get(id).newIds(), id);
            }
        }
    }
}
