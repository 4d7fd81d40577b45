package dev.steer4j.steering;

import dev.steer4j.EngineRuns;
import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import dev.steer4j.InvalidInputException;
import dev.steer4j.generate.Generator;
import dev.steer4j.hooks.HookHandle;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.request.Positions;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Tensors;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

import static dev.steer4j.Fixtures.TOL;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The seed's five ways of steering — module wrapper, named hook points, Trace scopes, raw hooks, bias
 * editing — give the same logits and greedy tokens, and match the reference.
 */
class MechanismsTest {
    static final String H1 = "transformer.h.1";

    static float[] unit() {
        return Fixtures.floats(Fixtures.expected("actadd.json").get("last_token").get("unit_vector"));
    }

    static Tensor tensor(float[] v) {
        return Tensors.floats(v, new long[]{v.length}, Fixtures.converted().device(), Fixtures.converted().dtype());
    }

    record Outcome(float[][] logits, int[] greedy) {}

    /** Steers with {@code setup}, then reads the 3 prompts' logits and a greedy run. */
    static Outcome run(Gpt2Model model, Consumer<HookedModel> setup) {
        try (HookedModel hm = new HookedModel(model)) {
            setup.accept(hm);
            Generator g = new Generator(hm.model(), hm);
            float[][] logits = new float[3][];
            for (int i = 0; i < 3; i++) logits[i] = g.lastLogits(new int[][]{model.tokenizer().encode(Fixtures.PROMPTS[i])})[0];
            int[] greedy = EngineRuns.greedy(hm, new int[][]{model.tokenizer().encode(Fixtures.PROMPTS[0])}, 12)[0];
            return new Outcome(logits, greedy);
        }
    }

    @Test
    void allFiveMechanismsAgreeWithEachOtherAndTheReference() {
        Gpt2Model model = Fixtures.converted();
        List<AutoCloseable> keep = new ArrayList<>();
        List<Outcome> outcomes = List.of(
                run(model, hm -> { // 1. module wrapper
                    SteerableModule block = new SteerableModule(hm, H1);
                    block.setSteeringVector(unit(), 10);
                    keep.add(block);
                }),
                run(model, hm -> HookPoints.hook(hm, "blocks.1.hook_resid_post",  // 2. TransformerLens names
                        new HookOp.Add(tensor(unit()), 10, Positions.ALL, false))),
                run(model, hm -> keep.add(new Trace(hm, H1, true,  // 3. baukit Trace
                        new HookOp.Add(tensor(unit()), 10, Positions.ALL, false)))),
                run(model, hm -> hm.hookOutput(H1, new HookOp.Add(tensor(unit()), 10, Positions.ALL, false))), // 4. raw
                run(model, hm -> keep.add(BiasSteering.apply(hm, H1, unit(), 10, Positions.ALL))));  // 5. bias
        JsonNode ref = Fixtures.expected("steered_logits.json").get("variants");
        JsonNode lastToken = null;
        for (JsonNode v : ref) if (v.get("name").asText().equals("last_token_unit_every_position_c10")) lastToken = v;
        int[] refGreedy = Fixtures.ints(Fixtures.expected("greedy.json").get("steered_last_token_unit_every_position_c10").get("new_ids"));
        for (int k = 0; k < outcomes.size(); k++) {
            Outcome o = outcomes.get(k);
            for (int i = 0; i < 3; i++) {
                Fixtures.assertClose(Fixtures.floats(lastToken.get("prompts").get(i).get("last_logits")), o.logits()[i], TOL,
                        "mechanism " + (k + 1) + " prompt " + i);
                Fixtures.assertClose(outcomes.get(0).logits()[i], o.logits()[i], 5e-7, "mechanism " + (k + 1) + " vs 1");
            }
            assertArrayEquals(refGreedy, o.greedy(), "greedy of mechanism " + (k + 1));
        }
    }

    @Test
    void traceRetainsTheEditedOutputAndTransformerLensNamesResolve() {
        Gpt2Model model = Fixtures.converted();
        int[] ids = Fixtures.ints(Fixtures.expected("resid.json").get("ids"));
        float[][] h1 = Fixtures.matrix(Fixtures.expected("resid.json").get("blocks").get(H1));
        float[][] h0 = Fixtures.matrix(Fixtures.expected("resid.json").get("blocks").get("transformer.h.0"));
        float[][] attn2 = Fixtures.matrix(Fixtures.expected("capture.json").get("captures").get("transformer.h.2.attn"));
        try (HookedModel hm = new HookedModel(model);
             TraceDict td = new TraceDict(hm, List.of("blocks.1.hook_resid_pre", "blocks.1.hook_resid_post",
                     "blocks.2.hook_resid_mid", "blocks.2.hook_attn_out"), true, null)) {
            new Generator(hm.model(), hm).lastLogits(new int[][]{ids});
            Fixtures.assertClose(VectorMath.flatten(h0), td.get("blocks.1.hook_resid_pre").output().values(), TOL, "resid_pre 1");
            Fixtures.assertClose(VectorMath.flatten(h1), td.get("blocks.1.hook_resid_post").output().values(), TOL, "resid_post 1");
            float[][] mid = new float[h1.length][];
            for (int t = 0; t < h1.length; t++) {
                mid[t] = new float[h1[t].length];
                for (int j = 0; j < mid[t].length; j++) mid[t][j] = h1[t][j] + attn2[t][j];
            }
            Fixtures.assertClose(VectorMath.flatten(mid), td.get("blocks.2.hook_resid_mid").output().values(), TOL, "resid_mid 2");
            Fixtures.assertClose(VectorMath.flatten(attn2), td.get("blocks.2.hook_attn_out").output().values(), TOL, "attn_out 2");
        }
    }

    @Test
    void biasEditsMatchTheirHookVariantsAndRestoreExactly() {
        Gpt2Model model = Fixtures.converted();
        JsonNode ref = Fixtures.expected("bias_edit.json");
        int[] ids = Fixtures.ints(ref.get("ids"));
        float[] mean = Fixtures.floats(Fixtures.expected("actadd.json").get("mean_vector"));
        float[] before = new Generator(model).lastLogits(new int[][]{ids})[0];
        try (HookedModel hm = new HookedModel(model)) {
            try (AutoCloseable edit = BiasSteering.apply(hm, H1, mean, 4, Positions.ALL)) {
                Fixtures.assertClose(Fixtures.floats(ref.get("last_logits")), new Generator(hm.model(), hm).lastLogits(new int[][]{ids})[0], TOL, "top-level bias edit");
            } catch (Exception e) {
                throw new AssertionError(e);
            }
            assertArrayEquals(before, new Generator(hm.model(), hm).lastLogits(new int[][]{ids})[0], "restored exactly");
            JsonNode ln1 = ref.get("ln_1_c_attn");
            float[] v = Fixtures.floats(ln1.get("unit_vector"));
            try (AutoCloseable edit = BiasSteering.apply(hm, "transformer.h.1.ln_1", v, 10, Positions.ALL)) {
                Fixtures.assertClose(Fixtures.floats(ln1.get("bias_edit_last_logits")), new Generator(hm.model(), hm).lastLogits(new int[][]{ids})[0], TOL, "ln_1 bias edit");
            } catch (Exception e) {
                throw new AssertionError(e);
            }
            try (HookHandle h = hm.hookOutput("transformer.h.1.ln_1", new HookOp.Add(tensor(v), 10, Positions.ALL, false))) {
                Fixtures.assertClose(Fixtures.floats(ln1.get("hook_last_logits")), new Generator(hm.model(), hm).lastLogits(new int[][]{ids})[0], TOL, "ln_1 hook");
            }
            // the loaded model itself was never edited
            assertArrayEquals(before, new Generator(model).lastLogits(new int[][]{ids})[0]);
            assertThrows(InvalidInputException.class, () -> BiasSteering.apply(hm, H1, mean, 4, Positions.PROMPT));
            assertThrows(InvalidInputException.class, () -> BiasSteering.apply(hm, "transformer.ln_f", mean, 4, Positions.ALL));
        }
    }
}
