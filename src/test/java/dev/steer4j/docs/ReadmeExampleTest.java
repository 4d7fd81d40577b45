package dev.steer4j.docs;

import dev.steer4j.Fixtures;
import dev.steer4j.generate.Generation;
import dev.steer4j.generate.Generator;
import dev.steer4j.generate.Sampling;
import dev.steer4j.hooks.HookHandle;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.hooks.Positions;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Tensors;
import dev.steer4j.steering.ActAdd;
import dev.steer4j.steering.Reduce;
import dev.steer4j.steering.io.VectorSet;
import java.util.List;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The README's Java example, as written there (on the reference model, at its h.1), does what it says. */
class ReadmeExampleTest {
    @Test
    void readmeJavaExample() {
        Gpt2Model model = Fixtures.converted();
        String block = "transformer.h.1";
        int[] plainIds = new Generator(model).generate(List.of("I think dogs are "), 12, Sampling.GREEDY, null).get(0).newIds();
        try (HookedModel hm = new HookedModel(model)) {
            VectorSet love = ActAdd.vector(hm, "Love", "Hate", List.of(block), Reduce.LAST, 220, true);
            float[] v = love.data(block);
            HookHandle h = hm.hookOutput(block, new HookOp.Add(
                    Tensors.floats(v, new long[]{v.length}, model.device(), model.dtype()), 10, Positions.ALL, false));
            List<Generation> out = hm.generator().generate(List.of("I think dogs are "), 12, Sampling.GREEDY, null);
            assertArrayEquals(Fixtures.ints(Fixtures.expected("greedy.json").get("steered_last_token_unit_every_position_c10")
                    .get("new_ids")), out.get(0).newIds());
            h.setCoefficient(-10);
            List<Generation> negative = hm.generator().generate(List.of("I think dogs are "), 12, Sampling.GREEDY, null);
            assertEquals(12, negative.get(0).newIds().length);
            h.remove();
            assertArrayEquals(plainIds, hm.generator().generate(List.of("I think dogs are "), 12, Sampling.GREEDY, null).get(0).newIds());
        }
    }
}
