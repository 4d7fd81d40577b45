package dev.steer4j.engine;

import dev.steer4j.EngineRuns;
import dev.steer4j.Fixtures;
import dev.steer4j.InvalidInputException;
import dev.steer4j.generate.Generator;
import dev.steer4j.hooks.Activation;
import dev.steer4j.hooks.HookHandle;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.request.Positions;
import dev.steer4j.request.Request;
import dev.steer4j.request.Result;
import dev.steer4j.request.Sampling;
import dev.steer4j.request.Steer;
import dev.steer4j.session.SteeringSession;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

import static dev.steer4j.engine.BatchEngineTest.H0;
import static dev.steer4j.engine.BatchEngineTest.H1;
import static dev.steer4j.engine.BatchEngineTest.MEAN;
import static dev.steer4j.engine.BatchEngineTest.UNIT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Chunked prefill ({@link BatchEngine#tokenBudget}): prompts longer than the budget go in over several steps,
 * packed with the decoding rows, and every request still gets exactly what it gets alone (the default engine's
 * single run is the oracle; its own tests hold it to the reference fixtures).
 */
class ChunkedPrefillTest {
    static final String LONG = "The people said, and then they all went home to their houses by the river";

    /** Prompts longer than the budget among short ones; greedy and seeded sampling; steering at every kind of position. */
    /** A {@code [positions, d]} vector for aligned steering: rows alternate between the fixtures' two vectors. */
    static float[] alignedVector(Gpt2Model model, int positions) {
        float[] aligned = new float[positions * model.width()];
        for (int i = 0; i < aligned.length; i++) aligned[i] = ((i / model.width()) % 2 == 0 ? MEAN : UNIT)[i % model.width()];
        return aligned;
    }

    static List<Request> requests(Gpt2Model model) {
        float[] aligned = alignedVector(model, 3);
        List<List<Steer>> configs = List.of(
                List.of(),
                List.of(new Steer(H1, MEAN, 4)),
                List.of(new Steer(H1, UNIT, -6, Positions.PROMPT)),
                List.of(new Steer(H0, UNIT, 5, Positions.GENERATED), new Steer(H1, MEAN, -2)),
                List.of(new Steer(H1, UNIT, 8, Positions.from(5))),
                List.of(new Steer(H1, aligned, 3, Positions.ALIGNED)),
                List.of(new Steer(H1, MEAN, 4), new Steer(H1, UNIT, 3)));
        String[] prompts = {LONG, "I think dogs are ", "Once upon a time there was a little dog who", "Hello", LONG + " again",
                "My brother is", "Today I feel"};
        List<Request> out = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            Sampling sampling = i % 3 == 2 ? Sampling.sample(0.8, 20, 0.9, 300 + i) : Sampling.GREEDY;
            out.add(new Request("c" + i, prompts[i % prompts.length], configs.get(i % configs.size()), 2 + (i * 5) % 11, sampling));
        }
        return out;
    }

    @Test
    void chunkedPrefillEqualsSingleRunsWithLongPromptsAmongDecodingRows() {
        Gpt2Model model = Fixtures.converted();
        List<Request> requests = requests(model);
        int budget = 7; // 3 decode rows + 4 prompt tokens: every prompt but "Hello" takes several steps
        BatchEngineTest.Collect sink = new BatchEngineTest.Collect();
        List<Integer> rows = new ArrayList<>();
        BatchEngine.Counters counted;
        try (SteeringSession s = SteeringSession.open(model); BatchEngine engine = s.engine(3).tokenBudget(budget)) {
            engine.onPackedStep(step -> rows.add(step.count()));
            engine.run(requests.iterator(), sink);
            counted = engine.counters();
        }
        assertEquals(Map.of(), sink.failed);
        assertEquals(requests.size(), sink.done.size());
        BatchEngine.Counters unchunked;
        try (SteeringSession alone = SteeringSession.open(model)) {
            for (Request r : requests) {
                Result single = alone.run(List.of(r)).get(0);
                Result got = sink.done.get(r.id());
                assertArrayEquals(single.newIds(), got.newIds(), r.id() + " (" + r.sampling() + ", " + r.steer() + ")");
                assertEquals(single.finishReason(), got.finishReason(), r.id());
            }
            BatchEngineTest.Collect apart = new BatchEngineTest.Collect();
            try (BatchEngine engine = alone.engine(3)) {
                engine.run(requests.iterator(), apart);
                unchunked = engine.counters();
            }
            for (Request r : requests) assertArrayEquals(apart.done.get(r.id()).newIds(), sink.done.get(r.id()).newIds(), r.id());
        }
        // the budget is honoured, and filled when prompts wait
        assertTrue(rows.stream().allMatch(n -> n >= 3 && n <= budget), rows.toString());
        assertEquals(budget, rows.get(0), "the first step fills the budget with prompt chunks");
        // each prompt once, the same useful work as the unchunked engine: real tokens only
        assertEquals(requests.size(), counted.prefills());
        assertEquals(unchunked.modelFlops(), counted.modelFlops(), 1e-9 * unchunked.modelFlops());
    }

    @Test
    void oneSlotAtATimeAndALongPromptGiveTheSameGreedyTokensAsAStaticBatch() {
        Gpt2Model model = Fixtures.converted();
        int[][] prompts = {model.tokenizer().encode(LONG), model.tokenizer().encode("Hello")};
        int[][] expected = EngineRuns.greedy(model, prompts, 6);
        for (int budget : new int[]{2, 3, 64}) {
            try (HookedModel hm = new HookedModel(model); RowSteering steering = new RowSteering(hm);
                 BatchEngine engine = new BatchEngine(hm, steering, 1, model::use).tokenBudget(budget)) {
                List<Request> rs = List.of(Request.of("a", LONG, 6), Request.of("b", "Hello", 6));
                BatchEngineTest.Collect sink = new BatchEngineTest.Collect();
                engine.run(rs.iterator(), sink);
                assertArrayEquals(expected[0], sink.done.get("a").newIds(), "budget " + budget);
                assertArrayEquals(expected[1], sink.done.get("b").newIds(), "budget " + budget);
            }
        }
    }

    @Test
    void capturesSeeEachTokensActivationAsAFullForwardDoes() {
        Gpt2Model model = Fixtures.converted();
        int[] prompt = model.tokenizer().encode(LONG);
        int newTokens = 4;
        int budget = 4; // 1 decode row + 3 prompt tokens per step
        List<Activation> steps;
        int[] generated;
        try (HookedModel hm = new HookedModel(model); RowSteering steering = new RowSteering(hm);
             BatchEngine engine = new BatchEngine(hm, steering, 1, model::use).tokenBudget(budget)) {
            HookHandle tap = hm.hookOutput(H1, new HookOp.Store());
            BatchEngineTest.Collect sink = new BatchEngineTest.Collect();
            engine.run(List.of(Request.of("a", LONG, newTokens)).iterator(), sink);
            generated = sink.done.get("a").newIds();
            steps = tap.captured();
        }
        int chunkSteps = (prompt.length + budget - 2) / (budget - 1);
        assertEquals(chunkSteps + newTokens - 1, steps.size(), "the prompt's steps, then one per new token but the last");
        int[] full = new int[prompt.length + newTokens - 1];
        System.arraycopy(prompt, 0, full, 0, prompt.length);
        System.arraycopy(generated, 0, full, prompt.length, newTokens - 1);
        Activation whole;
        try (HookedModel hm = new HookedModel(model)) {
            HookHandle tap = hm.hookOutput(H1, new HookOp.Store());
            new Generator(hm.model(), hm).lastLogits(new int[][]{full});
            whole = tap.captured().get(0);
        }
        int position = 0;
        for (int s = 0; s < chunkSteps; s++) {
            Activation a = steps.get(s);
            int chunk = Math.min(budget - 1, prompt.length - position);
            assertArrayEquals(new long[]{1 + chunk, 1, model.width()}, a.shape(), "step " + s + ": the slot's row, then the chunk");
            for (int j = 0; j < chunk; j++, position++) {
                Fixtures.assertClose(whole.at(0, position), a.at(1 + j, 0), 1e-5, "prompt position " + position);
            }
        }
        for (int s = chunkSteps; s < steps.size(); s++, position++) {
            Fixtures.assertClose(whole.at(0, position), steps.get(s).at(0, 0), 1e-5, "decoded position " + position);
        }
    }

    @Test
    void perRowSteeringActsAtTheSamePositionsAcrossChunkBoundaries() { // all, prompt, from, generated, aligned
        Gpt2Model model = Fixtures.converted();
        String tap = "transformer.ln_f"; // after every steered block: it sees what the steering did
        List<Request> rs = List.of(
                new Request("a", LONG, List.of(new Steer(H1, UNIT, 8, Positions.from(5)), new Steer(H0, MEAN, -3, Positions.PROMPT)),
                        5, Sampling.GREEDY),
                new Request("b", "Hello", List.of(new Steer(H1, MEAN, 4, Positions.GENERATED)), 9, Sampling.sample(0.8, 20, 0.9, 7)),
                new Request("c", "Once upon a time there was a little dog who", List.of(new Steer(H1, alignedVector(model, 5), 3,
                        Positions.ALIGNED)), 3, Sampling.GREEDY));
        Map<String, List<Activation>> alone = new java.util.HashMap<>();
        Map<String, Integer> promptLength = new java.util.HashMap<>();
        for (Request r : rs) {
            try (SteeringSession s = SteeringSession.open(model); var capture = s.capture(tap)) {
                Result result = s.run(List.of(r)).get(0);
                alone.put(r.id(), capture.history());
                promptLength.put(r.id(), result.ids().length);
            }
        }
        List<BatchEngine.PackedRows> layout = new ArrayList<>();
        List<Activation> steps;
        try (SteeringSession s = SteeringSession.open(model); var capture = s.capture(tap);
             BatchEngine engine = s.engine(3).tokenBudget(6)) { // 3 decode rows + 3 prompt tokens
            engine.onPackedStep(layout::add);
            engine.runAll(rs, new int[3], null);
            steps = capture.history();
        }
        assertEquals(layout.size(), steps.size());
        int compared = 0;
        for (int st = 0; st < steps.size(); st++) {
            BatchEngine.PackedRows rows = layout.get(st);
            for (int r = 0; r < rows.count(); r++) {
                if (!rows.real()[r]) continue;
                String id = rs.get((int) rows.slots()[r]).id(); // runAll puts request b in slot b
                int p = (int) rows.positions()[r];
                int length = promptLength.get(id);
                float[] expected = p < length ? alone.get(id).get(0).at(0, p) : alone.get(id).get(p - length + 1).at(0, 0);
                Fixtures.assertClose(expected, steps.get(st).at(r, 0), 1e-5, id + " position " + p + " (step " + st + ", row " + r + ")");
                compared++;
            }
        }
        assertEquals(promptLength.get("a") + 4 + promptLength.get("b") + 8 + promptLength.get("c") + 2, compared, "every fed token");
    }

    @Test
    void aBudgetThatLeavesNoRoomForPromptsIsRefused() {
        Gpt2Model model = Fixtures.converted();
        try (SteeringSession s = SteeringSession.open(model); BatchEngine engine = s.engine(4)) {
            InvalidInputException e = assertThrows(InvalidInputException.class, () -> engine.tokenBudget(4));
            assertTrue(e.getMessage().contains("must exceed the engine's 4 slots"), e.getMessage());
            assertEquals(0, engine.tokenBudget());
            assertEquals(256, engine.chunkedPrefill().tokenBudget());
        }
    }
}
