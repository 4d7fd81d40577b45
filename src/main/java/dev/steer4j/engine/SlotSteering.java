package dev.steer4j.engine;

import dev.steer4j.hooks.HookHandle;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.hooks.Positions;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Tensors;
import dev.steer4j.session.Steer;
import dev.steer4j.session.SteerGroups;
import dev.steer4j.session.SteerGroups.Key;
import dev.steer4j.session.VectorTable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Per-request steering over the engine's slots. Entries are grouped as {@link SteerGroups} says; each group
 * is one per-row hook with a {@code [S, d]} vector. A request entering slot b writes row b of every group,
 * on the device (coefficient · its vector from the {@link VectorTable}, zeros where it has no entry), so the
 * hook set only grows when a new group first appears, and admitting a request never copies per step.
 */
final class SlotSteering implements AutoCloseable {
    private final HookedModel hooks;
    private final Gpt2Model model;
    private final VectorTable table;
    private final int slots;
    private final Map<Key, HookHandle> groups = new LinkedHashMap<>();
    private final List<Set<Key>> used = new ArrayList<>();
    // aligned groups ([S, T, d]) are kept on the host too: their length grows with the longest vector seen
    private final Map<Key, float[]> alignedRows = new HashMap<>();
    private final Map<Key, Integer> alignedLength = new HashMap<>();

    SlotSteering(HookedModel hooks, int slots) {
        this.hooks = hooks;
        this.model = hooks.model();
        this.table = new VectorTable(model);
        this.slots = slots;
        for (int b = 0; b < slots; b++) used.add(new HashSet<>());
    }

    /** Points slot {@code row}'s rows of every group at {@code entries} (the request now in that slot). */
    void admit(int row, List<Steer> entries) {
        Map<Key, Steer> mine = SteerGroups.of(entries);
        for (Key g : used.get(row)) {
            if (!mine.containsKey(g)) write(g, row, null);
        }
        for (Map.Entry<Key, Steer> e : mine.entrySet()) write(e.getKey(), row, e.getValue());
        used.set(row, mine.keySet());
    }

    private void write(Key g, int row, Steer s) {
        if (g.positions().kind() == Positions.Kind.ALIGNED) {
            writeAligned(g, row, s);
            return;
        }
        long[] index = {s == null ? 0 : table.row(s.vector())};
        float[] coefficient = {s == null ? 0f : (float) s.coefficient()};
        try (Tensor scaled = table.scaledRows(index, coefficient); Tensor one = scaled.select(0, 0)) {
            HookHandle h = groups.get(g);
            if (h == null) {
                try (Tensor zeros = torch.zeros(new long[]{slots, model.width()}, new org.bytedeco.pytorch.TensorOptions(
                        model.dtype()).device(new org.bytedeco.pytorch.DeviceOptional(model.device())))) {
                    h = hooks.hookOutput(g.module(), new HookOp.Add(zeros, 1.0, g.positions(), true));
                }
                groups.put(g, h);
            }
            h.setVectorRow(row, one);
        }
    }

    /** {@code [S, T, d]}, T the longest vector so far; rows past a vector's length are zeros (nothing is added). */
    private void writeAligned(Key g, int row, Steer s) {
        int d = model.width();
        int need = s == null ? 0 : s.vector().length / d;
        int length = Math.max(alignedLength.getOrDefault(g, 1), need);
        float[] old = alignedRows.get(g);
        int oldLength = alignedLength.getOrDefault(g, length);
        float[] rows = new float[slots * length * d];
        if (old != null) {
            for (int b = 0; b < slots; b++) System.arraycopy(old, b * oldLength * d, rows, b * length * d, oldLength * d);
        }
        java.util.Arrays.fill(rows, row * length * d, (row + 1) * length * d, 0f);
        if (s != null) {
            for (int i = 0; i < s.vector().length; i++) rows[row * length * d + i] = (float) s.coefficient() * s.vector()[i]; // float math, as a hook scales
        }
        alignedRows.put(g, rows);
        alignedLength.put(g, length);
        try (Tensor t = Tensors.floats(rows, new long[]{slots, length, d}, model.device(), model.dtype())) {
            HookHandle h = groups.get(g);
            if (h == null) groups.put(g, hooks.hookOutput(g.module(), new HookOp.Add(t, 1.0, g.positions(), true)));
            else h.setVector(t);
        }
    }

    @Override
    public void close() {
        for (HookHandle h : groups.values()) h.remove();
        groups.clear();
        table.close();
    }
}
