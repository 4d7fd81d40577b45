package dev.steer4j;

import dev.steer4j.request.Request;
import dev.steer4j.request.Result;
import dev.steer4j.request.Steer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import static dev.steer4j.EngineTest.BLOCK;
import static dev.steer4j.EngineTest.GREEDY;
import static dev.steer4j.EngineTest.PROMPT;
import static dev.steer4j.EngineTest.UNIT;
import static dev.steer4j.EngineTest.steered;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The API's engine with budgets small enough to split each prompt ({@link Session#engine(int, int, int)}), on a model loaded from an archive:
 * the reference's tokens, stops, cancels and NaN handled as without it, while prompts go in a few tokens a step.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ChunkedEngineTest {
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

    @Test
    void steeredAndPlainRequestsGiveTheReferenceTokens() throws Exception {
        int[] plus = Fixtures.ints(GREEDY.get("steered_last_token_unit_every_position_c10").get("new_ids"));
        int[] plain = Fixtures.ints(GREEDY.get("unsteered").get("new_ids"));
        try (Session session = model.session(); Engine engine = session.engine(3, 16, 5)) { // 3 decode rows, 2 prompt tokens a step
            List<Completion> all = new ArrayList<>();
            for (int i = 0; i < 7; i++) {
                all.add(engine.submit(i % 2 == 0 ? steered("plus", 10, 12) : Request.prompt(PROMPT).id("plain").maxNewTokens(12).build()));
            }
            for (Completion c : all) {
                Result r = c.result().get(1, TimeUnit.MINUTES);
                assertArrayEquals(r.id().equals("plus") ? plus : plain, r.newIds(), r.id());
            }
        }
    }

    @Test
    void aStopEndsTheRequestAndACancelFreesItsSlot() throws Exception {
        try (Session session = model.session(); Engine engine = session.engine(1, 8, 3)) {
            Result all = engine.submit(steered("s", 10, 12)).result().get(1, TimeUnit.MINUTES);
            int[] count = {0};
            Result stopped = engine.submit(steered("t", 10, 12), d -> ++count[0] < 3).result().get(1, TimeUnit.MINUTES);
            assertEquals(Result.FinishReason.STOP, stopped.finishReason());
            assertArrayEquals(java.util.Arrays.copyOf(all.newIds(), 3), stopped.newIds());

            EngineTest.aCancelledRequestFreesTheSlotOf(engine);
        }
    }

    @Test
    void nanLogitsFailThatRequestOnly() throws Exception {
        int[] plus = Fixtures.ints(GREEDY.get("steered_last_token_unit_every_position_c10").get("new_ids"));
        for (dev.steer4j.request.Positions where : List.of(dev.steer4j.request.Positions.GENERATED, dev.steer4j.request.Positions.ALL)) {
            Request poisoned = Request.prompt(PROMPT).maxNewTokens(12).steer(new Steer(BLOCK, UNIT, 3e38, where)).build();
            try (Session session = model.session(); Engine engine = session.engine(2, 8, 4)) {
                Completion bad = engine.submit(poisoned);
                Completion good = engine.submit(steered("plus", 10, 12));
                Completion after = engine.submit(steered("plus", 10, 12)); // takes the failed request's slot
                CompletionException e = assertThrows(CompletionException.class, () -> bad.result().join());
                assertTrue(e.getCause().getMessage().contains("NaN"), e.getCause().getMessage());
                assertArrayEquals(plus, good.result().get(1, TimeUnit.MINUTES).newIds(), where.toString());
                assertArrayEquals(plus, after.result().get(1, TimeUnit.MINUTES).newIds(), where.toString());
            }
        }
    }

    @Test
    void aBudgetNoLargerThanTheSlotsIsRefused() {
        try (Session session = model.session()) {
            InvalidInputException e = assertThrows(InvalidInputException.class, () -> session.engine(4, 8, 4));
            assertTrue(e.getMessage().contains("token budget"), e.getMessage());
            assertThrows(InvalidInputException.class, () -> session.engine(4, 8, -1));
        }
    }

    /** Chunked prefill is the default, with a budget of the larger of 256 and twice the slots; 0 turns it off. */
    @Test
    void enginesChunkByDefault() {
        try (Session session = model.session(); Engine few = session.engine(2, 8); Engine many = session.engine(200, 8);
             Engine apart = session.engine(2, 8, 0)) {
            assertEquals(256, few.tokenBudget());
            assertEquals(400, many.tokenBudget());
            assertEquals(0, apart.tokenBudget());
        }
    }
}
