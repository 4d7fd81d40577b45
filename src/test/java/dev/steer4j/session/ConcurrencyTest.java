package dev.steer4j.session;

import dev.steer4j.request.Request;
import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import dev.steer4j.request.Sampling;
import dev.steer4j.model.Gpt2Model;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static dev.steer4j.Fixtures.TOL;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One loaded model used from several threads at once, as a server or a Spark executor uses it: sessions made,
 * steered, run and closed concurrently must each see exactly their own steering (the reference's logits),
 * never each other's, and never corrupt libtorch's shared state.
 */
class ConcurrencyTest {
    static final String H1 = "transformer.h.1";

    @ParameterizedTest(name = "{0} threads")
    @ValueSource(ints = {2, 4, 8})
    void manyThreadsMakingSessionsOnOneModelEachSeeTheirOwnSteering(int threads) throws Exception {
        Gpt2Model model = Fixtures.converted();
        JsonNode actadd = Fixtures.expected("actadd.json");
        float[][] vectors = {Fixtures.floats(actadd.get("mean_vector")), Fixtures.floats(actadd.get("last_token").get("unit_vector"))};
        double[] coefs = {4, 10};
        float[][] expected = {expectedLast("mean_every_position_c4"), expectedLast("last_token_unit_every_position_c10")};
        float[] unsteered = Fixtures.floats(Fixtures.expected("logits.json").get("prompts").get(0).get("last_logits"));
        List<String> prompt = List.of(Fixtures.PROMPTS[0]);
        int rounds = Math.max(25, 200 / threads); // at least 200 sessions per thread count
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        CountDownLatch start = new CountDownLatch(1);
        try {
            List<Future<Integer>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int k = t % 2;
                done.add(pool.submit(() -> {
                    start.await();
                    for (int r = 0; r < rounds; r++) {
                        try (SteeringSession s = SteeringSession.open(model)) {
                            Edit e = s.add(H1, vectors[k], coefs[k]);
                            Fixtures.assertClose(expected[k], s.logits(prompt)[0], TOL, "steered, round " + r);
                            // alternate per-request runs and generation: each switch rebuilds the program
                            s.run(List.of(Request.of("r", Fixtures.PROMPTS[0], 2)));
                            e.remove();
                            Fixtures.assertClose(unsteered, s.logits(prompt)[0], TOL, "unsteered again, round " + r);
                        }
                    }
                    return rounds;
                }));
            }
            start.countDown();
            int sessions = 0;
            for (Future<Integer> f : done) sessions += f.get(5, TimeUnit.MINUTES);
            assertTrue(sessions >= 200, sessions + " sessions");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aSessionUsedFromTwoThreadsAtOnceIsAClearError() throws Exception {
        Gpt2Model model = Fixtures.converted();
        try (SteeringSession s = SteeringSession.open(model)) {
            CountDownLatch inside = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            Thread holder = new Thread(() -> s.generate(List.of(Fixtures.PROMPTS[0]), 4, Sampling.GREEDY, step -> {
                inside.countDown();
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }));
            holder.start();
            assertTrue(inside.await(30, TimeUnit.SECONDS));
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> s.logits(List.of(Fixtures.PROMPTS[1])));
            assertTrue(e.getMessage().contains("in use by thread"), e.getMessage());
            release.countDown();
            holder.join(30_000);
            // handed over once the other thread is done: a pool's threads may take turns
            assertEquals(1, s.logits(List.of(Fixtures.PROMPTS[1])).length);
        }
    }

    @Test
    void closingTheModelWhileAnotherThreadGeneratesIsClean() throws Exception {
        Gpt2Model model = Fixtures.freshConverted();
        SteeringSession s = SteeringSession.open(model);
        s.add(H1, Fixtures.floats(Fixtures.expected("actadd.json").get("mean_vector")), 4);
        AtomicInteger calls = new AtomicInteger();
        CountDownLatch running = new CountDownLatch(1);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        Future<Throwable> worker = pool.submit(() -> {
            try {
                for (int i = 0; i < 100_000; i++) {
                    s.generate(List.of(Fixtures.PROMPTS[0], Fixtures.PROMPTS[1]), 8, Sampling.GREEDY, step -> running.countDown());
                    calls.incrementAndGet();
                }
                return null;
            } catch (Throwable t) {
                return t;
            }
        });
        assertTrue(running.await(30, TimeUnit.SECONDS));
        model.close();
        Throwable t = worker.get(60, TimeUnit.SECONDS);
        pool.shutdownNow();
        assertInstanceOf(IllegalStateException.class, t, String.valueOf(t));
        assertTrue(t.getMessage().contains("closed"), t.getMessage());
        assertThrows(IllegalStateException.class, () -> SteeringSession.open(model));
    }

    static float[] expectedLast(String variant) {
        for (JsonNode v : Fixtures.expected("steered_logits.json").get("variants")) {
            if (v.get("name").asText().equals(variant)) return Fixtures.floats(v.get("prompts").get(0).get("last_logits"));
        }
        throw new IllegalArgumentException(variant);
    }
}
