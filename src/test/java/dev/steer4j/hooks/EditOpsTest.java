package dev.steer4j.hooks;

import dev.steer4j.request.Positions;
import dev.steer4j.generate.Generator;
import dev.steer4j.Fixtures;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Tensors;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Directional ablation and norm-preserving addition, checked against their definitions. */
class EditOpsTest {
    static final String H1 = "transformer.h.1";

    @Test
    void ablationAndNormPreservingAddDoWhatTheirFormulasSay() {
        Gpt2Model model = Fixtures.converted();
        int[] ids = model.tokenizer().encode("I think dogs are ");
        float[] dir = Fixtures.floats(Fixtures.expected("actadd.json").get("mean_vector"));
        double n = 0;
        for (float x : dir) n += x * x;
        n = Math.sqrt(n);
        float[] unit = new float[dir.length];
        for (int i = 0; i < dir.length; i++) unit[i] = (float) (dir[i] / n);

        Activation plain;
        try (HookedModel hm = new HookedModel(model)) {
            HookHandle tap = hm.hookOutput(H1, new HookOp.Store());
            new Generator(hm.model(), hm).lastLogits(new int[][]{ids});
            plain = tap.captured().get(0);
        }
        Activation ablated;
        Activation rescaled;
        try (HookedModel hm = new HookedModel(model)) {
            hm.hookOutput(H1, new HookOp.Ablate(Tensors.floats(dir, new long[]{32}, model.device(), ScalarType.Float),
                    Positions.ALL, false));
            HookHandle tap = hm.hookOutput(H1, new HookOp.Store());
            new Generator(hm.model(), hm).lastLogits(new int[][]{ids});
            ablated = tap.captured().get(0);
        }
        try (HookedModel hm = new HookedModel(model)) {
            hm.hookOutput(H1, new HookOp.NormPreservingAdd(Tensors.floats(dir, new long[]{32}, model.device(), ScalarType.Float),
                    4, Positions.ALL, false));
            HookHandle tap = hm.hookOutput(H1, new HookOp.Store());
            new Generator(hm.model(), hm).lastLogits(new int[][]{ids});
            rescaled = tap.captured().get(0);
        }
        for (int t = 0; t < ids.length; t++) {
            float[] x = plain.at(0, t);
            double proj = 0;
            for (int j = 0; j < 32; j++) proj += (double) x[j] * unit[j];
            float[] a = ablated.at(0, t);
            double left = 0;
            double xx = 0;
            double yy = 0;
            double[] y = new double[32];
            for (int j = 0; j < 32; j++) {
                assertEquals(x[j] - proj * unit[j], a[j], 1e-6, "ablated t=" + t + " j=" + j);
                left += (double) a[j] * unit[j];
                y[j] = x[j] + 4.0 * dir[j];
                xx += (double) x[j] * x[j];
                yy += y[j] * y[j];
            }
            assertEquals(0.0, left, 1e-6, "no component left along the direction");
            float[] r = rescaled.at(0, t);
            for (int j = 0; j < 32; j++) {
                assertEquals(y[j] * Math.sqrt(xx / yy), r[j], 1e-6, "norm-preserving t=" + t + " j=" + j);
            }
        }
    }
}
