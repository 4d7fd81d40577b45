package dev.steer4j.hooks;

import dev.steer4j.request.Positions;
import dev.steer4j.generate.Generator;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.steer4j.Fixtures;
import dev.steer4j.InvalidInputException;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

/** A hook owns copies of what it is given, and a refused change leaves its steering as it was. */
class HookOwnershipTest {
    static final String H1 = "transformer.h.1";

    @Test
    void theCallersVectorIsNeverWrittenInto() {
        Gpt2Model model = Fixtures.converted();
        float[] given = new float[model.width()];
        given[0] = 1;
        Tensor mine = Tensors.floats(given, new long[]{given.length}, model.device(), model.dtype());
        try (HookedModel hm = new HookedModel(model)) {
            HookHandle h = hm.hookOutput(H1, new HookOp.Add(mine, 4, Positions.ALL, false));
            float[] other = new float[model.width()];
            other[1] = 2;
            h.setVector(other, other.length);
            h.setCoefficient(-3);
        }
        assertArrayEquals(given, Tensors.toFloats(mine), "the tensor the caller passed in is unchanged");
    }

    @Test
    void aCoefficientThatOverflowsIsRefusedAndTheOldOneStays() {
        Gpt2Model model = Fixtures.converted();
        int[] ids = model.tokenizer().encode("I think dogs are ");
        float[] v = new float[model.width()];
        v[3] = 1;
        try (HookedModel hm = new HookedModel(model)) {
            HookHandle h = hm.hookOutput(H1, new HookOp.Add(
                    Tensors.floats(v, new long[]{v.length}, model.device(), model.dtype()), 4, Positions.ALL, false));
            float[] before = new Generator(hm.model(), hm).lastLogits(new int[][]{ids})[0];
            assertThrows(InvalidInputException.class, () -> h.setCoefficient(1e39)); // infinite in float32
            assertArrayEquals(before, new Generator(hm.model(), hm).lastLogits(new int[][]{ids})[0], "still steering by 4");
        }
    }
}
