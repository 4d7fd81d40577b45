package dev.steer4j.engine;

import dev.steer4j.InvalidInputException;
import dev.steer4j.engine.SteerGroups.Key;
import dev.steer4j.hooks.HookHandle;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.request.Positions;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.request.Steer;
import dev.steer4j.runtime.Tensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Per-request steering, one batch row per request. Entries are grouped as {@link SteerGroups} says; each
 * group is one per-row hook with a {@code [rows, d]} vector. A request entering row b writes row b of every
 * group on the device (coefficient · its vector from the {@link VectorTable}, zeros where it has no entry), so
 * K distinct configurations cost what one per-row hook costs and nothing crosses between host and device per
 * step. Groups a batch does not use stay, with zero rows (x + 0 is exactly x): removing a hook rebuilds the
 * program, and a session that varies its steering would rebuild at every batch.
 */
public final class RowSteering implements AutoCloseable {
    private final HookedModel hooks;
    private final Gpt2Model model;
    private final VectorTable table;
    private final Map<Key, HookHandle> groups = new LinkedHashMap<>();
    private final List<Set<Key>> used = new ArrayList<>();
    private int rows;
    // aligned groups ([rows, T, d]) are kept on the host too: their length grows with the longest vector seen
    private final Map<Key, float[]> alignedRows = new HashMap<>();
    private final Map<Key, Integer> alignedLength = new HashMap<>();
    private final Map<String, Boolean> hookable = new HashMap<>();

    public RowSteering(HookedModel hooks) {
        this.hooks = hooks;
        this.model = hooks.model();
        this.table = new VectorTable(model);
    }

    /** Checks one entry before any work: module, width, coefficient, and aligned length against the prompt. */
    public void check(Steer s, int promptLength) {
        if (!hookable.computeIfAbsent(s.module(), m -> HookedModel.isHookable(model, m))) { // a graph walk: once per module
            throw new InvalidInputException("no hookable module '" + s.module() + "'");
        }
        if (!Double.isFinite(s.coefficient())) {
            throw new InvalidInputException("coefficient must be a finite number, got " + s.coefficient());
        }
        int d = model.width();
        boolean aligned = s.positions().kind() == Positions.Kind.ALIGNED;
        if (aligned ? s.vector().length == 0 || s.vector().length % d != 0 : s.vector().length != d) {
            throw new InvalidInputException("vector for " + s.module() + " has " + s.vector().length + " values; the model width is " + d
                    + (aligned ? " (an aligned vector is [T, d])" : ""));
        }
        if (aligned && s.vector().length / d > promptLength) {
            throw new InvalidInputException("@aligned vector for " + s.module() + " has " + s.vector().length / d
                    + " positions but the prompt has only " + promptLength + " tokens");
        }
    }

    /** Every group becomes {@code rows} rows of zeros: the next batch starts with no row steered. */
    public void reset(int rows) {
        this.rows = rows;
        used.clear();
        for (int b = 0; b < rows; b++) used.add(new HashSet<>());
        alignedRows.clear();
        alignedLength.clear();
        for (Map.Entry<Key, HookHandle> e : groups.entrySet()) {
            try (PointerScope temporaries = new PointerScope()) {
                e.getValue().setVector(zeros(e.getKey(), rows));
            }
        }
    }

    /** Points row {@code row} of every group at {@code entries} (the request now in that row). */
    public void admit(int row, List<Steer> entries) {
        Map<Key, Steer> mine = SteerGroups.of(entries);
        for (Key g : used.get(row)) {
            if (!mine.containsKey(g)) write(g, row, null);
        }
        for (Map.Entry<Key, Steer> e : mine.entrySet()) write(e.getKey(), row, e.getValue());
        used.set(row, mine.keySet());
    }

    private Tensor zeros(Key g, int rows) {
        long[] shape = g.positions().kind() == Positions.Kind.ALIGNED ? new long[]{rows, 1, model.width()}
                : new long[]{rows, model.width()};
        return torch.zeros(shape, new TensorOptions(model.dtype()).device(new DeviceOptional(model.device())));
    }

    private void write(Key g, int row, Steer s) {
        if (g.positions().kind() == Positions.Kind.ALIGNED) {
            writeAligned(g, row, s);
            return;
        }
        long[] index = {s == null ? 0 : table.row(s.vector())};
        float[] coefficient = {s == null ? 0f : (float) s.coefficient()};
        try (PointerScope temporaries = new PointerScope()) {
            Tensor one = table.scaledRows(index, coefficient).select(0, 0);
            HookHandle h = groups.get(g);
            if (h == null) {
                h = hooks.hookOutput(g.module(), new HookOp.Add(zeros(g, rows), 1.0, g.positions(), true));
                groups.put(g, h);
            }
            h.setVectorRow(row, one);
        }
    }

    /** {@code [rows, T, d]}, T the longest vector so far; rows past a vector's length are zeros (nothing is added). */
    private void writeAligned(Key g, int row, Steer s) {
        int d = model.width();
        int need = s == null ? 0 : s.vector().length / d;
        int length = Math.max(alignedLength.getOrDefault(g, 1), need);
        float[] old = alignedRows.get(g);
        int oldLength = alignedLength.getOrDefault(g, length);
        float[] values = new float[rows * length * d];
        if (old != null) {
            for (int b = 0; b < rows; b++) System.arraycopy(old, b * oldLength * d, values, b * length * d, oldLength * d);
        }
        Arrays.fill(values, row * length * d, (row + 1) * length * d, 0f);
        if (s != null) {
            for (int i = 0; i < s.vector().length; i++) values[row * length * d + i] = (float) s.coefficient() * s.vector()[i]; // float math, as a hook scales
        }
        alignedRows.put(g, values);
        alignedLength.put(g, length);
        try (Tensor t = Tensors.floats(values, new long[]{rows, length, d}, model.device(), model.dtype())) {
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
