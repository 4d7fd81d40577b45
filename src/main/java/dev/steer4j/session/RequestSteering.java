package dev.steer4j.session;

import dev.steer4j.InvalidInputException;
import dev.steer4j.hooks.HookHandle;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.hooks.Positions;
import dev.steer4j.model.Gpt2Model;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Per-request steering in one batch. Entries are grouped as {@link SteerGroups} says; each group is one
 * per-row hook whose {@code [B, d]} delta
 * has row b = coefficient · vector of row b's entry (zeros for rows without one), gathered from the
 * {@link VectorTable} on the device. So K distinct configurations cost what one per-row hook costs, and
 * nothing crosses between host and device per step.
 */
final class RequestSteering implements AutoCloseable {
    private final HookedModel hooks;
    private final Gpt2Model model;
    private final VectorTable table;
    private final Map<SteerGroups.Key, HookHandle> active = new LinkedHashMap<>();

    RequestSteering(HookedModel hooks) {
        this.hooks = hooks;
        this.model = hooks.model();
        this.table = new VectorTable(model);
    }

    /** Checks one entry before any work: module, width, coefficient, and aligned length against the prompt. */
    void check(Steer s, int promptLength) {
        if (!HookedModel.isHookable(model, s.module())) {
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

    /**
     * Points the per-row hooks at each row's own entries for the next batch. Groups this batch does not use stay,
     * with zero rows: removing a hook rebuilds the program, and a session that varies its steering would
     * rebuild at every batch.
     */
    void prepare(List<List<Steer>> rows) {
        Map<SteerGroups.Key, Steer[]> groups = new LinkedHashMap<>();
        for (int b = 0; b < rows.size(); b++) {
            for (Map.Entry<SteerGroups.Key, Steer> e : SteerGroups.of(rows.get(b)).entrySet()) {
                groups.computeIfAbsent(e.getKey(), g -> new Steer[rows.size()])[b] = e.getValue();
            }
        }
        for (SteerGroups.Key g : active.keySet()) {
            if (!groups.containsKey(g)) zero(g, rows.size());
        }
        for (Map.Entry<SteerGroups.Key, Steer[]> e : groups.entrySet()) {
            SteerGroups.Key g = e.getKey();
            try (Tensor delta = g.positions().kind() == Positions.Kind.ALIGNED ? alignedDeltas(e.getValue()) : deltas(e.getValue())) {
                HookHandle h = active.get(g);
                if (h == null) {
                    active.put(g, hooks.hookOutput(g.module(), new HookOp.Add(delta, 1.0, g.positions(), true)));
                } else {
                    h.setVector(delta);
                }
            }
        }
    }

    private Tensor deltas(Steer[] perRow) {
        long[] index = new long[perRow.length];
        float[] coefficients = new float[perRow.length];
        for (int b = 0; b < perRow.length; b++) {
            if (perRow[b] == null) continue;
            index[b] = table.row(perRow[b].vector());
            coefficients[b] = (float) perRow[b].coefficient();
        }
        return table.scaledRows(index, coefficients);
    }

    /** {@code [B, T, d]}: row b's aligned vector times its coefficient, zeros past its length. */
    private Tensor alignedDeltas(Steer[] perRow) {
        int d = model.width();
        int longest = 1;
        for (Steer s : perRow) if (s != null) longest = Math.max(longest, s.vector().length / d);
        float[] flat = new float[perRow.length * longest * d];
        float[] coefficients = new float[perRow.length];
        for (int b = 0; b < perRow.length; b++) {
            if (perRow[b] == null) continue;
            System.arraycopy(perRow[b].vector(), 0, flat, b * longest * d, perRow[b].vector().length);
            coefficients[b] = (float) perRow[b].coefficient();
        }
        // rare enough to upload per batch: aligned vectors are per prompt anyway
        try (Tensor v = dev.steer4j.runtime.Tensors.floats(flat, new long[]{perRow.length, longest, d}, model.device(),
                     model.dtype());
             Tensor c = dev.steer4j.runtime.Tensors.floats(coefficients, new long[]{perRow.length, 1, 1}, model.device(),
                     torch.ScalarType.Float)) {
            return v.mul(c);
        }
    }

    /** Every per-row hook adds zeros to each of the next batch's {@code rows} rows (x + 0 is exactly x). */
    void idle(int rows) {
        for (SteerGroups.Key g : active.keySet()) zero(g, rows);
    }

    private void zero(SteerGroups.Key g, int rows) {
        long[] shape = g.positions().kind() == Positions.Kind.ALIGNED ? new long[]{rows, 1, model.width()}
                : new long[]{rows, model.width()};
        try (org.bytedeco.javacpp.PointerScope temporaries = new org.bytedeco.javacpp.PointerScope()) {
            active.get(g).setVector(torch.zeros(shape, new org.bytedeco.pytorch.TensorOptions(model.dtype())
                    .device(new org.bytedeco.pytorch.DeviceOptional(model.device()))));
        }
    }

    /** Takes every per-row hook out. */
    void clear() {
        for (HookHandle h : new ArrayList<>(active.values())) h.remove();
        active.clear();
    }

    @Override
    public void close() {
        clear();
        table.close();
    }
}
