package dev.steer4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.steer4j.runtime.Tensors;
import dev.steer4j.runtime.Torch;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.QualifiedName;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

/**
 * {@link Gpt2Program#GREEDY_STEP} on a stand-in root whose forward returns fixed logits for position
 * {@code past}: the step must write each row's argmax into ids and advance positions and past, and
 * {@link Gpt2Program#ensureGreedyStep} must add the method to a root that lacks it (an older archive).
 */
class GreedyStepTest {
    // [B=2, L=3, V=4]: row 0 peaks at 1, 3, 0; row 1 at 2, 0, 3
    private static final float[] LOGITS = {
            0, 5, 1, 2, /**/ 0, 1, 2, 9, /**/ 7, 1, 2, 3,
            1, 2, 8, 0, /**/ 6, 0, 1, 2, /**/ 0, 1, 2, 4};

    @Test
    void writesTheArgmaxAndAdvancesInPlace() {
        Torch.load();
        JitModule root = new JitModule(new QualifiedName("__torch__.steer4j.test.FixedLogits"));
        root.register_buffer("logits", Tensor.create(LOGITS, new long[]{2, 3, 4}));
        root.define("""
                def forward(self, input_ids: Tensor, position_ids: Tensor, key_padding: Tensor, k_caches: List[Tensor], v_caches: List[Tensor], past: int, last_only: bool) -> Tensor:
                    return self.logits.narrow(1, past, 1)
                """);
        assertFalse(root.find_method(Gpt2Program.GREEDY_STEP).has_value());
        Gpt2Program.ensureGreedyStep(root);
        Gpt2Program.ensureGreedyStep(root); // present now: left as is
        assertTrue(root.find_method(Gpt2Program.GREEDY_STEP).has_value());

        Tensor ids = Tensor.create(new long[]{11, 12}, new long[]{2, 1});
        Tensor positions = Tensor.create(new long[]{4, 2}, new long[]{2, 1});
        Tensor past = Tensor.create(new long[]{0}, new long[]{});
        IValue keyPadding = new IValue(Tensor.create(new boolean[]{false, false}, new long[]{2, 1}));
        IValue caches = Tensors.tensorList(new Tensor[0]);
        IValueVector args = new IValueVector(new IValue(ids), new IValue(positions), keyPadding, caches, caches, new IValue(past));
        long[][] expected = {{1, 2}, {3, 0}, {0, 3}};
        for (int step = 0; step < 3; step++) {
            root.get_method(Gpt2Program.GREEDY_STEP).apply(args);
            assertArrayEquals(expected[step], longs(ids), "tokens after step " + step);
            assertArrayEquals(new long[]{5 + step, 3 + step}, longs(positions), "positions after step " + step);
            assertEquals(step + 1, past.item_long(), "past after step " + step);
        }
    }

    private static long[] longs(Tensor t) {
        long[] out = new long[(int) t.numel()];
        t.contiguous().data_ptr_long().get(out);
        return out;
    }
}
