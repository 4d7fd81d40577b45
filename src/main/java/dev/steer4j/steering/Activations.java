package dev.steer4j.steering;

import dev.steer4j.generate.Generator;
import dev.steer4j.hooks.Activation;
import dev.steer4j.hooks.HookHandle;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Reads module outputs for prompts by running them with capture hooks (and whatever steering is set). */
public final class Activations {
    private Activations() {}

    /** Output of each module for one prompt (batch 1, positions 0..T-1): {@code [T][d]} per module. */
    public static Map<String, float[][]> of(HookedModel hm, int[] ids, List<String> modules) {
        Map<String, float[][]> out = new LinkedHashMap<>();
        captureOnce(hm, new int[][]{ids}, modules).forEach((m, a) -> {
            float[][] rows = new float[ids.length][];
            for (int t = 0; t < ids.length; t++) rows[t] = a.at(0, t);
            out.put(m, rows);
        });
        return out;
    }

    /**
     * Last-token output of each module for many prompts, run as left-padded batches (the last column is
     * every row's last real token): {@code [N][d]} per module.
     */
    public static Map<String, float[][]> lastTokens(HookedModel hm, List<int[]> prompts, List<String> modules,
                                                    int batchSize) {
        Map<String, List<float[]>> acc = new LinkedHashMap<>();
        for (String m : modules) acc.put(m, new ArrayList<>());
        for (int start = 0; start < prompts.size(); start += batchSize) {
            int[][] chunk = prompts.subList(start, Math.min(prompts.size(), start + batchSize)).toArray(new int[0][]);
            captureOnce(hm, chunk, modules).forEach((m, a) -> {
                int width = (int) a.shape()[1];
                for (int b = 0; b < chunk.length; b++) acc.get(m).add(a.at(b, width - 1));
            });
        }
        Map<String, float[][]> out = new LinkedHashMap<>();
        acc.forEach((m, rows) -> out.put(m, rows.toArray(new float[0][])));
        return out;
    }

    /** Runs one left-padded batch with a capture hook on each module, then takes the hooks out again. */
    private static Map<String, Activation> captureOnce(HookedModel hm, int[][] batch, List<String> modules) {
        Map<String, HookHandle> taps = new LinkedHashMap<>();
        try {
            for (String m : modules) taps.put(m, hm.hookOutput(m, new HookOp.Store()));
            new Generator(hm.model(), hm).lastLogits(batch);
            Map<String, Activation> out = new LinkedHashMap<>();
            taps.forEach((m, tap) -> out.put(m, tap.captured().get(0)));
            return out;
        } finally {
            taps.values().forEach(HookHandle::remove);
        }
    }
}
