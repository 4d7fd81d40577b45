package dev.steer4j.docs;

import dev.steer4j.Fixtures;
import dev.steer4j.generate.Sampling;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.session.Edit;
import dev.steer4j.request.Request;
import dev.steer4j.request.Result;
import dev.steer4j.request.Steer;
import dev.steer4j.session.SteeringSession;
import dev.steer4j.steering.ActAdd;
import dev.steer4j.steering.Reduce;
import dev.steer4j.steering.io.VectorSet;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's Java example, as written there (on the reference model, at its h.1), does what it says. */
class ReadmeExampleTest {
    @Test
    void readmeJavaExample() throws Exception {
        String readme = Files.readString(Path.of("README.md"));
        assertTrue(readme.contains("SteeringSession session = SteeringSession.open(model)"), "README shows the session API");
        assertTrue(!readme.substring(readme.indexOf("## From Java"), readme.indexOf("The same engine is offered"))
                .contains("Tensor"), "the common path shows no JavaCPP type");
        String block = "transformer.h.1";
        int[] steeredIds = Fixtures.ints(Fixtures.expected("greedy.json").get("steered_last_token_unit_every_position_c10")
                .get("new_ids"));
        int[] plainIds = Fixtures.ints(Fixtures.expected("greedy.json").get("unsteered").get("new_ids"));
        Gpt2Model model = Fixtures.converted();
        try (SteeringSession session = SteeringSession.open(model)) {
            VectorSet love = ActAdd.vector(session.hooks(), "Love", "Hate", List.of(block), Reduce.LAST, 220, true);
            float[] v = love.data(block);
            Edit edit = session.add(block, v, 10);
            List<Result> out = session.generate(List.of("I think dogs are "), 12, Sampling.GREEDY);
            assertArrayEquals(steeredIds, out.get(0).newIds());
            edit.setCoefficient(-10);
            List<Result> negative = session.generate(List.of("I think dogs are "), 12, Sampling.GREEDY);
            assertEquals(12, negative.get(0).newIds().length);
            edit.remove();
            assertArrayEquals(java.util.Arrays.copyOf(plainIds, 12),
                    session.generate(List.of("I think dogs are "), 12, Sampling.GREEDY).get(0).newIds());

            List<Result> sweep = session.run(List.of(
                    new Request("plus", "I think dogs are ", List.of(new Steer(block, v, 10)), 12, Sampling.GREEDY),
                    new Request("minus", "I think dogs are ", List.of(new Steer(block, v, -10)), 12, Sampling.GREEDY),
                    Request.of("plain", "I think dogs are ", 12)));
            assertArrayEquals(steeredIds, sweep.get(0).newIds());
            assertArrayEquals(negative.get(0).newIds(), sweep.get(1).newIds());
            assertArrayEquals(java.util.Arrays.copyOf(plainIds, 12), sweep.get(2).newIds());
        }
    }
}
