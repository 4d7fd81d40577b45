package dev.steer4j.hooks;

import dev.steer4j.EngineRuns;
import dev.steer4j.generate.Generator;
import dev.steer4j.Fixtures;
import dev.steer4j.model.Gpt2Model;
import java.util.List;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Capture during generation: one activation for the prefill and one per decode step, and each decode step's
 * activation (read through the KV cache) equals the same position of a full forward over the whole sequence.
 */
class DecodeCaptureTest {
    @Test
    void decodeStepCapturesMatchAFullRecompute() {
        Gpt2Model model = Fixtures.converted();
        int[][] prompts = {model.tokenizer().encode("I think dogs are "), model.tokenizer().encode("Today I feel")};
        int[][] generated;
        List<Activation> steps;
        try (HookedModel hm = new HookedModel(model)) {
            HookHandle tap = hm.hookOutput("transformer.h.1", new HookOp.Store());
            generated = EngineRuns.greedy(hm, prompts, 4);
            steps = tap.captured();
        }
        assertEquals(4, steps.size(), "prefill + 3 decode steps (the 4th token needs no forward)");
        assertArrayEquals(new long[]{2, 5, 32}, steps.get(0).shape(), "prefill: left-padded batch [B, T, d]");
        for (int s = 1; s < 4; s++) assertArrayEquals(new long[]{2, 1, 32}, steps.get(s).shape(), "decode step " + s);
        for (int b = 0; b < 2; b++) {
            int[] full = new int[prompts[b].length + 3];
            System.arraycopy(prompts[b], 0, full, 0, prompts[b].length);
            System.arraycopy(generated[b], 0, full, prompts[b].length, 3);
            try (HookedModel hm = new HookedModel(model)) {
                HookHandle tap = hm.hookOutput("transformer.h.1", new HookOp.Store());
                new Generator(hm.model(), hm).lastLogits(new int[][]{full});
                Activation whole = tap.captured().get(0);
                for (int s = 1; s < 4; s++) {
                    int position = prompts[b].length + s - 1;
                    Fixtures.assertClose(whole.at(0, position), steps.get(s).at(b, 0), 1e-6,
                            "row " + b + " decode step " + s);
                }
            }
        }
    }
}
