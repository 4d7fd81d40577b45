package dev.steer4j.hooks;

import dev.steer4j.EngineRuns;
import dev.steer4j.request.Positions;
import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import dev.steer4j.InvalidInputException;
import dev.steer4j.generate.Generator;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Tensors;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import static dev.steer4j.Fixtures.TOL;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Hooks on the converted (steer4j program) and traced (foreign) models against the reference fixtures. */
class HookEngineTest {

    static Gpt2Model model(String which) {
        return which.equals("converted") ? Fixtures.converted() : Fixtures.traced();
    }

    static Tensor vec(float[] v, long... shape) {
        return Tensors.floats(v, shape, Fixtures.converted().device(), ScalarType.Float);
    }

    /** Builds the hook a steered_logits.json variant describes. */
    static HookOp variantOp(JsonNode variant) {
        JsonNode actadd = Fixtures.expected("actadd.json");
        double c = variant.get("coefficient").asDouble();
        return switch (variant.get("kind").asText()) {
            case "aligned" -> new HookOp.Add(vec(flat(Fixtures.matrix(actadd.get("steering_vector"))), 2, 32),
                    c, Positions.ALIGNED, false);
            case "mean" -> new HookOp.Add(vec(Fixtures.floats(actadd.get("mean_vector")), 32), c, Positions.ALL, false);
            case "last_token_unit" -> new HookOp.Add(
                    vec(Fixtures.floats(actadd.get("last_token").get("unit_vector")), 32), c, Positions.ALL, false);
            default -> throw new IllegalArgumentException(variant.get("kind").asText());
        };
    }

    static float[] flat(float[][] m) {
        float[] out = new float[m.length * m[0].length];
        for (int i = 0; i < m.length; i++) System.arraycopy(m[i], 0, out, i * m[0].length, m[i].length);
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"converted", "traced"})
    void steeredLogitsMatchEveryVariantAndPrompt(String which) {
        Gpt2Model model = model(which);
        for (JsonNode variant : Fixtures.expected("steered_logits.json").get("variants")) {
            try (HookedModel hm = new HookedModel(model)) {
                hm.hookOutput("transformer.h.1", variantOp(variant));
                Generator g = new Generator(hm.model(), hm);
                for (JsonNode p : variant.get("prompts")) {
                    float[] got = g.lastLogits(new int[][]{Fixtures.ints(p.get("ids"))})[0];
                    Fixtures.assertClose(Fixtures.floats(p.get("last_logits")), got, TOL,
                            which + " " + variant.get("name").asText() + " " + p.get("text"));
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"converted", "traced"})
    void captureMatchesResidualStreamAndSubmoduleOutputs(String which) {
        Gpt2Model model = model(which);
        JsonNode resid = Fixtures.expected("resid.json");
        JsonNode capture = Fixtures.expected("capture.json");
        try (HookedModel hm = new HookedModel(model)) {
            java.util.Map<String, HookHandle> handles = new java.util.LinkedHashMap<>();
            for (String m : List.of("transformer.h.0", "transformer.h.1", "transformer.h.2", "transformer.ln_f")) {
                handles.put(m, hm.hookOutput(m, new HookOp.Store()));
            }
            capture.get("captures").fieldNames().forEachRemaining(m -> handles.put(m, hm.hookOutput(m, new HookOp.Store())));
            new Generator(hm.model(), hm).lastLogits(new int[][]{Fixtures.ints(resid.get("ids"))});
            for (var e : handles.entrySet()) {
                JsonNode expected = e.getKey().equals("transformer.ln_f") ? resid.get("ln_f_output")
                        : resid.get("blocks").has(e.getKey()) ? resid.get("blocks").get(e.getKey())
                        : capture.get("captures").get(e.getKey());
                List<Activation> seen = e.getValue().captured();
                assertEquals(1, seen.size(), e.getKey() + " captured once");
                Fixtures.assertClose(flat(Fixtures.matrix(expected)), seen.get(0).values(), TOL, which + " " + e.getKey());
            }
        }
    }

    @Test
    void removalRestoresUnsteeredLogitsExactly() {
        Gpt2Model model = Fixtures.converted();
        int[][] ids = {model.tokenizer().encode("I think dogs are ")};
        float[] before = new Generator(model).lastLogits(ids)[0];
        try (HookedModel hm = new HookedModel(model)) {
            HookHandle h = hm.hookOutput("transformer.h.1",
                    new HookOp.Add(vec(Fixtures.floats(Fixtures.expected("actadd.json").get("mean_vector")), 32), 4, Positions.ALL, false));
            float[] steered = new Generator(hm.model(), hm).lastLogits(ids)[0];
            org.junit.jupiter.api.Assertions.assertTrue(Fixtures.maxAbsDiff(before, steered) > 0.1);
            h.remove();
            assertArrayEquals(before, new Generator(hm.model(), hm).lastLogits(ids)[0]);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"converted", "traced"})
    void steeredGreedyMatchesReference(String which) {
        JsonNode greedy = Fixtures.expected("greedy.json");
        JsonNode actadd = Fixtures.expected("actadd.json");
        try (HookedModel hm = new HookedModel(model(which))) {
            hm.hookOutput("transformer.h.1", new HookOp.Add(
                    vec(Fixtures.floats(actadd.get("last_token").get("added_vector")), 32), 1.0, Positions.ALL, false));
            int[][] out = EngineRuns.greedy(hm, new int[][]{Fixtures.ints(greedy.get("ids"))}, 12);
            assertArrayEquals(Fixtures.ints(greedy.get("steered_last_token_unit_every_position_c10").get("new_ids")), out[0]);
        }
    }

    @Test
    void badHooksAreClearErrors() {
        try (HookedModel hm = new HookedModel(Fixtures.converted())) {
            assertThrows(InvalidInputException.class, () -> hm.hookOutput("transformer.h.9", new HookOp.Store()));
            assertThrows(InvalidInputException.class, () -> hm.hookOutput("transformer.h.1",
                    new HookOp.Add(vec(new float[16], 16), 1, Positions.ALL, false)));
            assertThrows(InvalidInputException.class, () -> hm.hookOutput("transformer.h.1",
                    new HookOp.Add(vec(new float[32], 32), Double.NaN, Positions.ALL, false)));
        }
    }
}
