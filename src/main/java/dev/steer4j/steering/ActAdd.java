package dev.steer4j.steering;

import dev.steer4j.InvalidInputException;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.steering.io.VectorSet;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Activation Addition (Turner et al.): a steering vector from one prompt pair, the difference of their
 * activations at a module.
 */
public final class ActAdd {
    /** GPT-2's " " token: the ActAdd paper pads the shorter prompt with it. */
    public static final int DEFAULT_PAD = 220;

    private ActAdd() {}

    public static VectorSet vector(HookedModel hm, String positive, String negative, List<String> modules,
                                   Reduce reduce, int padToken, boolean normalize) {
        int[] pos = hm.model().tokenizer().encode(positive);
        int[] neg = hm.model().tokenizer().encode(negative);
        if (pos.length == 0 || neg.length == 0) {
            throw new InvalidInputException("the positive and negative prompts must each encode to at least one token");
        }
        if (reduce != Reduce.LAST) {
            // position-wise: right-pad the shorter prompt so both have T tokens
            int t = Math.max(pos.length, neg.length);
            pos = padRight(pos, t, padToken);
            neg = padRight(neg, t, padToken);
        }
        Map<String, float[][]> a = Activations.of(hm, pos, modules);
        Map<String, float[][]> b = Activations.of(hm, neg, modules);
        VectorSet.Builder out = VectorSet.builder()
                .meta("method", "actadd")
                .meta("positive", positive)
                .meta("negative", negative)
                .meta("reduce", reduce.name().toLowerCase())
                .meta("normalized", Boolean.toString(normalize));
        if (reduce != Reduce.LAST) out.meta("pad_token", Integer.toString(padToken));
        for (String m : modules) {
            float[][] x = a.get(m);
            float[][] y = b.get(m);
            switch (reduce) {
                case LAST -> out.put(m, maybeUnit(VectorMath.sub(x[x.length - 1], y[y.length - 1]), normalize));
                case MEAN -> out.put(m, maybeUnit(VectorMath.mean(VectorMath.sub(x, y)), normalize));
                case NONE -> {
                    float[][] diff = VectorMath.sub(x, y);
                    if (normalize) for (int i = 0; i < diff.length; i++) diff[i] = VectorMath.unit(diff[i]);
                    out.put(m, new int[]{diff.length, diff[0].length}, VectorMath.flatten(diff));
                }
            }
        }
        return out.build();
    }

    private static float[] maybeUnit(float[] v, boolean normalize) {
        return normalize ? VectorMath.unit(v) : v;
    }

    private static int[] padRight(int[] ids, int length, int pad) {
        int[] out = Arrays.copyOf(ids, length);
        Arrays.fill(out, ids.length, length, pad);
        return out;
    }
}
