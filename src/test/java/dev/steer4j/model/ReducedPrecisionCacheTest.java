package dev.steer4j.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.EngineRuns;
import dev.steer4j.Fixtures;
import dev.steer4j.generate.Generator;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A bfloat16 or float16 model on CPU keeps its KV cache in float32 and attends in float32 (Gpt2Model.cacheDtype):
 * its outputs stay those of the reference within the dtype's rounding, through prefill, cache and decode.
 */
class ReducedPrecisionCacheTest {
    // bfloat16 keeps 8 significant bits (relative rounding 2^-9), float16 11; the tiny model's logits are under
    // 0.6 in size. Values paired with the wrong keys in the cache move the bfloat16 logits past this bound and
    // change the greedy tokens.
    private static final double BF16_TOL = 1e-2;
    private static final double F16_TOL = 2e-3;

    @Test
    void reducedPrecisionOnCpuGetsAFloat32Cache() {
        Gpt2Model f32 = Fixtures.converted();
        assertEquals(ScalarType.Float, f32.cacheDtype());
        for (ScalarType t : new ScalarType[]{ScalarType.BFloat16, ScalarType.Half}) {
            try (Gpt2Model reduced = f32.withDtype(t)) {
                assertEquals(t, reduced.dtype());
                assertEquals(ScalarType.Float, reduced.cacheDtype());
                assertEquals(2L * reduced.kvCacheBytes(1, 8), f32.kvCacheBytes(2, 8), "bytes counted at float32");
            }
            try (Gpt2Model foreign = Fixtures.traced().withDtype(t)) {
                assertEquals(t, foreign.cacheDtype(), "a foreign program's cache stays in its dtype");
            }
        }
    }

    @Test
    void reducedPrecisionLogitsStayNearTheReference() {
        for (ScalarType t : new ScalarType[]{ScalarType.BFloat16, ScalarType.Half}) {
            double tol = t == ScalarType.Half ? F16_TOL : BF16_TOL;
            try (Gpt2Model reduced = Fixtures.converted().withDtype(t)) {
                Generator g = new Generator(reduced);
                for (JsonNode p : Fixtures.expected("logits.json").get("prompts")) {
                    int[] ids = reduced.tokenizer().encode(p.get("text").asText());
                    float[] logits = g.lastLogits(new int[][]{ids})[0];
                    Fixtures.assertClose(Fixtures.floats(p.get("last_logits")), logits, tol, t + " " + p.get("text"));
                }
            }
        }
    }

    @Test
    void reducedPrecisionGreedyDecodeMatchesTheReference() {
        JsonNode greedy = Fixtures.expected("greedy.json");
        int[] prompt = Fixtures.ints(greedy.get("ids"));
        for (ScalarType t : new ScalarType[]{ScalarType.BFloat16, ScalarType.Half}) {
            try (Gpt2Model reduced = Fixtures.converted().withDtype(t)) {
                int[][] out = EngineRuns.greedy(reduced, new int[][]{prompt, prompt}, 12);
                for (int[] row : out) assertArrayEquals(Fixtures.ints(greedy.get("unsteered").get("new_ids")), row, t.toString());
            }
        }
    }
}
