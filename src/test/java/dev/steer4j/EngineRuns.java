package dev.steer4j;

import dev.steer4j.engine.BatchEngine;
import dev.steer4j.engine.RowSteering;
import dev.steer4j.generate.Generator;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.request.Request;
import dev.steer4j.request.Result;
import dev.steer4j.request.Sampling;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** Greedy generation under a hooked model's current hooks, the way steer4j runs it: on the engine (steer4j programs). */
public final class EngineRuns {
    private EngineRuns() {}

    /** Each prompt's greedy continuation, all as one static batch; prompts are token ids of text. */
    public static int[][] greedy(HookedModel hm, int[][] prompts, int newTokens) {
        Gpt2Model model = hm.model();
        if (model.kind() == Gpt2Model.Kind.FOREIGN) return new Generator(model, hm).generateIds(prompts, newTokens, Sampling.GREEDY, null);
        List<Request> requests = new ArrayList<>();
        for (int[] p : prompts) requests.add(Request.of(null, model.tokenizer().decode(p), newTokens));
        try (RowSteering rows = new RowSteering(hm); BatchEngine engine = new BatchEngine(hm, rows, prompts.length, model::use)) {
            List<Result> results = engine.runAll(requests, new int[prompts.length], null);
            int[][] out = new int[prompts.length][];
            for (int b = 0; b < out.length; b++) {
                assertArrayEquals(prompts[b], results.get(b).ids(), "prompt " + b + " round-trips through its text: " + Arrays.toString(prompts[b]));
                out[b] = results.get(b).newIds();
            }
            return out;
        }
    }

    /** The same without hooks. */
    public static int[][] greedy(Gpt2Model model, int[][] prompts, int newTokens) {
        try (HookedModel bare = new HookedModel(model)) {
            return greedy(bare, prompts, newTokens);
        }
    }
}
