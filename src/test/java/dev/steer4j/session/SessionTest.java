package dev.steer4j.session;

import dev.steer4j.request.Steer;
import dev.steer4j.request.Request;
import dev.steer4j.Fixtures;
import dev.steer4j.generate.Generator;
import dev.steer4j.request.Sampling;
import dev.steer4j.hooks.HookHandle;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.request.Positions;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Tensors;
import dev.steer4j.steering.BiasSteering;
import java.util.List;
import org.junit.jupiter.api.Test;

import static dev.steer4j.Fixtures.TOL;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Sessions own their state: nothing goes stale, nothing leaks, closing undoes everything. */
class SessionTest {
    static final String H1 = "transformer.h.1";
    static final List<String> PROMPT = List.of("I think dogs are ");
    static final float[] MEAN = PerRequestSteeringTest.MEAN;
    static final float[] UNIT = PerRequestSteeringTest.UNIT;

    static float[] steeredByMean4() {
        return Fixtures.floats(Fixtures.steeredVariant("mean_every_position_c4").get("prompts").get(0).get("last_logits"));
    }

    static float[] unsteered() {
        return Fixtures.floats(Fixtures.expected("logits.json").get("prompts").get(0).get("last_logits"));
    }

    @Test
    void aGeneratorAlwaysRunsTheCurrentHooks() {
        Gpt2Model model = Fixtures.converted();
        try (HookedModel hm = new HookedModel(model)) {
            Generator made = new Generator(hm.model(), hm); // before any hook
            int[][] ids = made.encode(PROMPT, 0);
            HookHandle h = hm.hookOutput(H1, new HookOp.Add(
                    Tensors.floats(MEAN, new long[]{32}, model.device(), model.dtype()), 4, Positions.ALL, false));
            Fixtures.assertClose(steeredByMean4(), made.lastLogits(ids)[0], TOL, "made before the hook");
            h.remove();
            Fixtures.assertClose(unsteered(), made.lastLogits(ids)[0], TOL, "made before remove()");
        }
    }

    @Test
    void closingAHookedModelUndoesItsBiasEdits() {
        Gpt2Model model = Fixtures.converted();
        HookedModel hm = new HookedModel(model);
        Generator g = new Generator(hm.model(), hm);
        int[][] ids = g.encode(PROMPT, 0);
        float[] plain = g.lastLogits(ids)[0];
        BiasSteering.apply(hm, H1, MEAN, 4, Positions.ALL);
        Fixtures.assertClose(steeredByMean4(), g.lastLogits(ids)[0], TOL, "bias edit");
        hm.close();
        assertArrayEquals(plain, g.lastLogits(ids)[0], "after close: exactly as loaded");
    }

    @Test
    void biasEditsOnOneModuleAddUpAndEachHandleTakesBackItsOwn() throws Exception {
        Gpt2Model model = Fixtures.converted();
        try (SteeringSession both = SteeringSession.open(model); SteeringSession hooks = SteeringSession.open(model);
             SteeringSession unitOnly = SteeringSession.open(model)) {
            Edit a = both.editBias(H1, MEAN, 4);
            Edit b = both.editBias(H1, UNIT, 4);
            hooks.add(H1, MEAN, 4);
            hooks.add(H1, UNIT, 4);
            unitOnly.add(H1, UNIT, 4);
            Fixtures.assertClose(hooks.logits(PROMPT)[0], both.logits(PROMPT)[0], 1e-5, "two bias edits = two hooks");
            a.remove();
            Fixtures.assertClose(unitOnly.logits(PROMPT)[0], both.logits(PROMPT)[0], 1e-5, "the other edit stays");
            b.setCoefficient(0);
            Fixtures.assertClose(unsteered(), both.logits(PROMPT)[0], TOL, "coefficient 0");
        }
    }

    @Test
    void capturesKeepABoundedHistory() {
        Gpt2Model model = Fixtures.converted();
        try (SteeringSession s = SteeringSession.open(model)) {
            Capture c = s.capture("transformer.h.2.mlp", 16);
            for (int i = 0; i < 20; i++) s.generate(PROMPT, 8, Sampling.GREEDY);
            assertEquals(16, c.history().size());
            c.clear();
            s.logits(List.of("Today I feel"));
            assertEquals(1, c.history().size());
            float[][] expected = Fixtures.matrix(Fixtures.expected("capture.json").get("captures").get("transformer.h.2.mlp"));
            for (int t = 0; t < 3; t++) Fixtures.assertClose(expected[t], c.last().at(0, t), TOL, "h.2.mlp at " + t);
        }
    }

    @Test
    void closingASessionUndoesEverythingAndLeavesOthersAlone() {
        Gpt2Model model = Fixtures.converted();
        float[] vector = MEAN.clone();
        try (SteeringSession other = SteeringSession.open(model)) {
            other.add(H1, UNIT, 10);
            float[] otherBefore = other.logits(PROMPT)[0];
            SteeringSession s = SteeringSession.open(model);
            s.add(H1, vector, 4);
            vector[0] = 1000; // the session copied the array
            s.editBias("transformer.h.0", UNIT, 3);
            s.capture(H1, 4);
            s.run(List.of(new Request("r", PROMPT.get(0), List.of(new Steer(H1, UNIT, 2)), 0, Sampling.GREEDY)));
            s.editBias("transformer.h.0", UNIT, -3);
            Fixtures.assertClose(steeredByMean4(), s.logits(PROMPT)[0], 1e-5, "add, with bias edits that cancel");
            s.close();
            assertThrows(IllegalStateException.class, () -> s.logits(PROMPT));
            assertArrayEquals(otherBefore, other.logits(PROMPT)[0], "the other session's steering is untouched");
            try (SteeringSession fresh = SteeringSession.open(model)) {
                Fixtures.assertClose(unsteered(), fresh.logits(PROMPT)[0], TOL, "a fresh session is unsteered");
            }
        }
    }

    @Test
    void closingTheModelClosesItsSessions() throws Exception {
        Gpt2Model model = Fixtures.freshConverted();
        SteeringSession s = SteeringSession.open(model);
        s.add(H1, MEAN, 4);
        Fixtures.assertClose(steeredByMean4(), s.logits(PROMPT)[0], TOL, "before close");
        model.close();
        assertThrows(IllegalStateException.class, () -> s.logits(PROMPT));
        assertThrows(IllegalStateException.class, () -> SteeringSession.open(model));
        assertThrows(IllegalStateException.class, model::module);
        model.close(); // twice is fine
    }

    @Test
    void editsAreCheckedAndRefusedEditsChangeNothing() {
        Gpt2Model model = Fixtures.converted();
        try (SteeringSession s = SteeringSession.open(model)) {
            Edit e = s.add(H1, MEAN, 4);
            assertThrows(dev.steer4j.InvalidInputException.class, () -> e.setCoefficient(1e50));
            assertThrows(dev.steer4j.InvalidInputException.class, () -> e.setVector(new float[3]));
            assertThrows(dev.steer4j.InvalidInputException.class, () -> s.add("transformer.h.9", MEAN, 1));
            Fixtures.assertClose(steeredByMean4(), s.logits(PROMPT)[0], TOL, "still steered by the first edit");
            assertTrue(e.coefficient() == 4);
        }
    }
}
